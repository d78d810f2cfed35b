/**
 * The conformance run checks itself (docs/CONFORMANCE.md): on the in-memory radio with a fake
 * clock and a radio that settles (no verdict depends on machine speed), the reference toy passes
 * every check, and each deliberately broken toy (test/helpers/broken-toys.ts) fails exactly the
 * checks of the rule it breaks — and passes every other.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHECKS, memoryConformanceTarget, renderConformanceJson, renderConformanceText, runConformance, type ConformanceReport, type MemoryTargetOptions } from '../../src/conformance/index.js';
import { goodbyeWithoutWaiting, infoRequestAlwaysAnswered, noBackoff, noStatusAfterSpeakerStart, staleTagAfterRotation, twelveByteSpeakerStatus } from '../helpers/broken-toys.js';

async function run(target: MemoryTargetOptions = {}): Promise<{ report: ConformanceReport; toyState: { pairings: number; advertisingKey: boolean } }> {
  const t = await memoryConformanceTarget(target);
  try {
    // the time limits only stop a hung run; the radio settles, so they decide nothing
    const report = await runConformance({ ...t.options, operationTimeoutMs: 20_000, scanTimeoutMs: 5_000 });
    await t.toy.flush();
    const s = t.toy.persistentState;
    return { report, toyState: { pairings: s.pairings.length, advertisingKey: s.advertisingKey !== undefined } };
  } finally {
    await t.close();
  }
}

const failed = (r: ConformanceReport): string[] => r.results.filter((x) => x.verdict === 'failed').map((x) => x.name).sort();
const failures = (r: ConformanceReport): string => renderConformanceText(r);

describe('toy conformance run', () => {
  it('the reference toy passes every check, and the run leaves it unowned', async () => {
    const { report, toyState } = await run();
    expect(failures(report)).not.toContain('FAIL');
    expect(report.summary).toEqual({ passed: CHECKS.length, failed: 0, notRun: 0 });
    expect(report.leftUnowned).toBe(true);
    expect(toyState).toEqual({ pairings: 0, advertisingKey: false });
    const text = renderConformanceText(report);
    for (const c of CHECKS) expect(text).toContain(c.name);
    expect(JSON.parse(renderConformanceJson(report))).toEqual(report);
  });

  it('without a button, a reset or an MTU choice, those checks are not-run with a reason, never passed', async () => {
    const t = await memoryConformanceTarget();
    try {
      const { pressButton: _p, resetToy: _r, centralWithMtu: _c, ...rest } = t.options;
      const report = await runConformance({ ...rest, operationTimeoutMs: 20_000, scanTimeoutMs: 5_000 });
      expect(report.summary.passed).toBe(0);
      expect(report.summary.failed).toBe(0);
      for (const r of report.results) expect(r.reason, r.name).toBeTruthy();
      expect(report.results.find((r) => r.name === 'pairing.qr.mtu23')?.reason).toMatch(/MTU/);
      expect(report.results.find((r) => r.name === 'pairing.qr')?.reason).toMatch(/button/);
    } finally {
      await t.close();
    }
  });

  it('an aborted run rejects with the abort reason (and asks for no reset: the person stopped it)', async () => {
    const t = await memoryConformanceTarget();
    try {
      const ctl = new AbortController();
      const reason = new Error('stop');
      const p = runConformance({ ...t.options, signal: ctl.signal, onResult: (r) => r.name === 'pairing.qr' && ctl.abort(reason) });
      await expect(p).rejects.toBe(reason);
      await t.toy.flush();
      expect(t.toy.persistentState.pairings.length).toBe(1); // the owner of pairing.qr: no reset step ran
    } finally {
      await t.close();
    }
  });

  it('docs/CONFORMANCE.md lists every check with its sections', () => {
    const doc = readFileSync(resolve(__dirname, '../../docs/CONFORMANCE.md'), 'utf8');
    for (const c of CHECKS) expect(doc, c.name).toContain(`| \`${c.name}\` | ${c.section} |`);
  });

  it('without a button but with the toy\'s transport id, the five checks that need no button run and pass', async () => {
    const t = await memoryConformanceTarget();
    try {
      const { pressButton: _p, resetToy: _r, centralWithMtu: _c, ...rest } = t.options;
      const report = await runConformance({ ...rest, toyId: t.toyId(), operationTimeoutMs: 20_000, scanTimeoutMs: 5_000 });
      const passed = report.results.filter((r) => r.verdict === 'passed').map((r) => r.name).sort();
      expect(passed, renderConformanceText(report)).toEqual([
        'handshake.deadline',
        'refusal.info-request-outside-window',
        'refusal.pairing-outside-window',
        'refusal.stranger-control-before-session',
        'refusal.stranger-speaker-before-session',
      ]);
      expect(report.summary.failed).toBe(0);
      expect(t.toy.persistentState.pairings).toEqual([]);
    } finally {
      await t.close();
    }
  });

  const broken: [string, MemoryTargetOptions, string[]][] = [
    ['a 12-byte SPEAKER_STATUS', twelveByteSpeakerStatus, ['speaker.status-body']],
    ['no SPEAKER_STATUS after SPEAKER_START', noStatusAfterSpeakerStart, ['speaker.status-after-start']],
    ['INFO_REQUEST answered outside the window', infoRequestAlwaysAnswered, ['refusal.info-request-outside-window']],
    ['no backoff', noBackoff, ['backoff.rate-limited']],
    ['a stale tag after the slot changes', staleTagAfterRotation, ['advertising.address-moves-with-data', 'advertising.tag-rotates-per-slot']],
    ['a GOODBYE without waiting for its confirmations', goodbyeWithoutWaiting, ['factory-reset', 'goodbye.before-disconnect', 'removal.guest-removes-itself', 'removal.owner-removes-guest']],
  ];
  for (const [what, target, expected] of broken) {
    it(`a toy with ${what} fails exactly ${expected.join(', ')}`, async () => {
      const { report } = await run(target);
      expect(failed(report), failures(report)).toEqual(expected);
      expect(report.summary.notRun).toBe(0);
      for (const r of report.results.filter((x) => x.verdict === 'failed')) expect(r.evidence).toBeTruthy();
    });
  }
});

describe('plushlink conformance', () => {
  /** Runs the bin; the time limit only stops a hung child, it decides nothing. */
  const cli = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((res) => {
      const home = mkdtempSync(join(tmpdir(), 'plushlink-conformance-'));
      execFile(process.execPath, [resolve(__dirname, '../../bin/plushlink.js'), ...args], { env: { ...process.env, PLUSHLINK_HOME: home, DEBUG: '' }, timeout: 300_000 }, (err, stdout, stderr) =>
        res({ code: err ? Number((err as { code?: unknown }).code) : 0, stdout, stderr }),
      );
    });

  it('--transport memory --json: the in-process reference toy passes every check', async () => {
    const r = await cli(['conformance', '--transport', 'memory', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as ConformanceReport;
    expect(report.summary).toEqual({ passed: CHECKS.length, failed: 0, notRun: 0 });
  });

  it('--no-prompt: the steps that need a person are not-run with their reason; only the five that need no button pass', async () => {
    const r = await cli(['conformance', '--transport', 'memory', '--no-prompt']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('NOT RUN  pairing.qr ');
    expect(r.stdout).toMatch(/needs the pairing button held/);
    expect(r.stdout).toMatch(/5 passed, 0 failed, 37 not run/);
  });
});
