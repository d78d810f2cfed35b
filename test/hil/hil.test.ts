/**
 * Hardware in the loop (opt-in: `PLUSHLINK_HIL=1 npm test`; set-up in docs/HARDWARE.md).
 *
 * The main scenario is the toy conformance run (docs/CONFORMANCE.md): every check of
 * `runConformance` over the real radio, the person (or stdin of the simulated toy) holding the
 * button and factory-resetting the toy when asked; no check may fail, and only those the radio
 * cannot run (the MTU matrix: noble does not let the run choose the MTU; the slot rotation unless
 * `PLUSHLINK_HIL_SLOT_WAIT=1`) may be not-run. Then the end-to-end scenario (./scenario.ts).
 *
 * The companion side is the real {@link NobleCentral} on this machine's adapter
 * (`NOBLE_HCI_DEVICE_ID`, default 0). The toy is either
 * - a real toy, or `plushlink simulate-toy` on another machine: set `PLUSHLINK_HIL_CODE` (its setup
 *   code or QR payload) and optionally `PLUSHLINK_HIL_TOY` (its transport id; default: the first
 *   unowned toy in pairing mode). The test asks you to hold the toy's button and waits
 *   `PLUSHLINK_HIL_WAIT_MS` (default 60 000) for it to advertise pairing mode. The toy must be
 *   unowned (factory reset) before the run; the run leaves it unowned again.
 * - otherwise `plushlink simulate-toy`, started by this test on a second adapter of this machine
 *   (`PLUSHLINK_HIL_TOY_HCI`, default 1, passed to bleno as `BLENO_HCI_DEVICE_ID`) with a fresh
 *   state file; the test presses its button through stdin.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { NobleCentral } from '../../src/index.js';
import { CHECKS, renderConformanceText, runConformance, type ConformanceOptions } from '../../src/conformance/index.js';
import { runHilScenario, type HilTarget } from './scenario.js';

const ROOT = resolve(__dirname, '../..');
const enabled = process.env.PLUSHLINK_HIL === '1';
const WAIT_MS = Number(process.env.PLUSHLINK_HIL_WAIT_MS ?? 60_000);
/** A real toy: how long a person has for the factory reset the run asks for at its end. */
const RESET_MS = Number(process.env.PLUSHLINK_HIL_RESET_MS ?? 20_000);
const SLOT_WAIT = process.env.PLUSHLINK_HIL_SLOT_WAIT === '1';

/** The checks a run over one real dongle may leave not-run: the radio, not the toy, decides them. */
const RADIO_NOT_RUN = new Set([
  ...CHECKS.filter((c) => /^pairing\.(qr|code)\.mtu/.test(c.name)).map((c) => c.name),
  'goodbye.before-disconnect',
  ...(SLOT_WAIT ? [] : ['advertising.tag-rotates-per-slot', 'advertising.address-moves-with-data']),
]);

/** A `plushlink simulate-toy --json` child on the second adapter. */
interface SimulatedToyProcess {
  qr: string;
  pressButton(): Promise<void>;
  reset(): Promise<void>;
  events: Record<string, unknown>[];
  stop(): Promise<void>;
}

async function startSimulatedToy(dir: string): Promise<SimulatedToyProcess> {
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    [join(ROOT, 'bin/plushlink.js'), 'simulate-toy', '--state', join(dir, 'toy.json'), '--json'],
    { env: { ...process.env, BLENO_HCI_DEVICE_ID: process.env.PLUSHLINK_HIL_TOY_HCI ?? '1' }, stdio: 'pipe' },
  );
  const events: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const ready = new Promise<string>((resolveReady, reject) => {
    let qr = '';
    const timer = setTimeout(() => reject(new Error(`simulate-toy was not ready within 30 s: ${stderr}`)), 30_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      events.push(e);
      if (e.event === 'label') qr = String(e.qr);
      if (e.event === 'ready') {
        clearTimeout(timer);
        resolveReady(qr);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`simulate-toy exited with ${code}: ${stderr.trim()}`));
    });
  });
  const qr = await ready;
  return {
    qr,
    events,
    pressButton: async () => {
      child.stdin.write('b\n');
    },
    reset: async () => {
      child.stdin.write('r\n');
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      child.stdin.write('q\n');
      const t = setTimeout(() => child.kill('SIGTERM'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

describe.skipIf(!enabled)('hardware in the loop (PLUSHLINK_HIL=1)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it(
    'conformance: the toy passes every check of the conformance run over real BLE and is left unowned',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'plushlink-hil-conformance-'));
      const central = new NobleCentral();
      cleanups.push(() => central.close());
      const log = (l: string): void => console.log(`[hil] ${l}`);
      let options: Pick<ConformanceOptions, 'pressButton' | 'resetToy'> & { code?: string; qr?: string };
      let sim: SimulatedToyProcess | undefined;
      if (process.env.PLUSHLINK_HIL_CODE) {
        const setup = process.env.PLUSHLINK_HIL_CODE;
        options = {
          ...(setup.toUpperCase().startsWith('PL1:') ? { qr: setup } : { code: setup }),
          pressButton: async () => log(`hold the toy's button now (the run scans up to ${WAIT_MS / 1000} s for pairing mode)`),
          resetToy: async (signal) => {
            log(`factory-reset the toy now (≈ 10 s press; the run goes on in ${RESET_MS / 1000} s)`);
            await new Promise<void>((r, j) => {
              const t = setTimeout(r, RESET_MS);
              signal.addEventListener('abort', () => (clearTimeout(t), j(signal.reason)), { once: true });
            });
          },
        };
      } else {
        sim = await startSimulatedToy(dir);
        cleanups.push(() => sim!.stop());
        options = { qr: sim.qr, pressButton: () => sim!.pressButton(), resetToy: () => sim!.reset() };
      }
      const report = await runConformance({
        central,
        ...options,
        scanTimeoutMs: WAIT_MS,
        waitForSlot: SLOT_WAIT,
        target: sim ? 'plushlink simulate-toy over real BLE (HIL)' : 'toy over real BLE (HIL)',
        onResult: (r) => log(`${r.verdict.toUpperCase().padEnd(7)} ${r.name}${r.verdict === 'passed' ? '' : `: ${r.evidence ?? r.reason}`}`),
      });
      const text = renderConformanceText(report);
      expect(report.summary.failed, text).toBe(0);
      const notRun = report.results.filter((r) => r.verdict === 'not-run' && !RADIO_NOT_RUN.has(r.name)).map((r) => `${r.name}: ${r.reason}`);
      expect(notRun, text).toEqual([]);
      expect(report.leftUnowned, text).toBe(true);
      if (sim) await sim.stop();
    },
    30 * 60_000,
  );

  it(
    'pairs over real BLE, reconnects in one round trip, plays, records and refuses an unpaired central',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'plushlink-hil-'));
      const central = new NobleCentral();
      cleanups.push(() => central.close());
      let target: HilTarget;
      const common = { central, strangerCentral: central, play: join(ROOT, 'fixtures/audio/toy-hello.opus'), recordSeconds: 3, outDir: dir, findTimeoutMs: WAIT_MS, log: (l: string) => console.log(`[hil] ${l}`) };
      let sim: SimulatedToyProcess | undefined;
      if (process.env.PLUSHLINK_HIL_CODE) {
        const id = process.env.PLUSHLINK_HIL_TOY;
        target = {
          ...common,
          setup: process.env.PLUSHLINK_HIL_CODE,
          ...(id && id !== 'any' ? { transportId: id } : {}),
          pressButton: async () => console.log(`[hil] hold the toy's button now (waiting up to ${WAIT_MS / 1000} s for pairing mode)`),
        };
      } else {
        sim = await startSimulatedToy(dir);
        cleanups.push(() => sim!.stop());
        target = { ...common, setup: sim.qr, pressButton: () => sim!.pressButton() };
      }
      const report = await runHilScenario(target);
      expect(report.pairingRoundTrips).toBe(target.setup.toUpperCase().startsWith('PL1:') ? 1 : 2);
      expect(report.reconnectRoundTrips).toBe(1);
      expect(report.mtu).toBeGreaterThanOrEqual(23);
      expect(report.ownerPairings).toBe(1);
      expect(report.volumeReadBack).toBe(42);
      expect(report.speaker.framesPlayed).toBe(report.speaker.framesSent);
      expect(report.speaker.framesSent).toBeGreaterThan(200);
      expect(report.microphone.oggHeader).toBe('OggS');
      expect(report.microphone.frames).toBeGreaterThan(100);
      expect(report.stranger.reconnect).toBe('NOT_PAIRED');
      expect(report.stranger.pairOutsideWindow).toBe('NOT_IN_PAIRING_MODE');
      for (const f of report.stranger.forged) expect(f.outcome).toMatch(/^(refused|connection closed by the toy)/);
      expect(report.ownerPairingsAfter).toBe(1);
      expect(report.forgotten).toBe(true);
      if (sim) {
        const refused = sim.events.filter((e) => e.event === 'toy' && e.kind === 'refused');
        expect(refused.length).toBeGreaterThanOrEqual(2);
      }
    },
    10 * 60_000,
  );
});
