/**
 * Smoke test of `npm run bench`: runs it in quick mode in a child process and checks that the
 * JSON has every figure of docs/BENCHMARK.md with finite numbers. Not a timing test: no figure is judged.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REQUIRED_KEYS, type BenchReport } from '../../../bench/report.js';
import { RELAY_KEYS, RELAY_QUICK_LEVELS } from '../../../bench/relay.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'plushlink-bench-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function finiteNumbers(o: Record<string, number>): boolean {
  return Object.values(o).every((v) => typeof v === 'number' && Number.isFinite(v));
}

describe('npm run bench -- --quick --json FILE', () => {
  it('writes every figure with finite numbers, and prints the same table', () => {
    const file = join(dir, 'bench.json');
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/index.ts'), '--quick', '--json', file], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(file, 'utf8')) as BenchReport;
    expect(report.quick).toBe(true);
    expect(report.machine.nproc).toBeGreaterThan(0);
    expect(report.machine.node).toBe(process.version);

    const keys = new Set(report.rows.map((row) => row.key));
    for (const k of REQUIRED_KEYS) expect(keys, `missing ${k}`).toContain(k);
    expect([...keys].sort()).toEqual([...REQUIRED_KEYS].sort());
    for (const row of report.rows) {
      const where = `${row.key}/${row.variant}`;
      expect(Number.isFinite(row.value), where).toBe(true);
      expect(Object.keys(row.baselines).length, `${where} has no baseline`).toBeGreaterThan(0);
      expect(finiteNumbers(row.baselines), where).toBe(true);
      if (row.extra) expect(finiteNumbers(row.extra), where).toBe(true);
      if (row.goal) expect(typeof row.met, where).toBe('boolean');
      // the index carries the same figures
      expect(report.figures[row.key]?.[row.variant || 'value']?.value).toBe(row.value);
    }
    // Goals are attached to the figures the issue names, whatever their outcome.
    const goalKeys = new Set(report.rows.filter((row) => row.goal).map((row) => row.key));
    for (const k of ['pairingRoundTrips', 'reconnectRoundTrips', 'overhead', 'addedLatencyMs', 'recordsPerSecond', 'recordsToRawAead', 'handshakeCpuMs', 'sessionMemoryKiB']) expect(goalKeys).toContain(k);
    // Crypto-bound figures are measured on both crypto back ends, side by side (docs/BENCHMARK.md).
    for (const k of ['handshakeCpuMs', 'recordsPerSecond', 'recordsToRawAead', 'addedLatencyMs']) {
      const backends = new Set(report.rows.filter((row) => row.key === k).map((row) => row.backend));
      expect([...backends].sort(), k).toEqual(['node', 'pure-js']);
    }
    // Quick mode: one bitrate/MTU for the overhead (a recording), and the live source of the latency run.
    expect(Object.keys(report.figures.overhead ?? {})).toEqual(['16kbps/mtu247', '16kbps/mtu247, live source']);
    // The printed table shows every row.
    for (const row of report.rows) expect(r.stdout).toContain(`| ${row.key}`);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| figure')).length).toBe(report.rows.length);
  }, 150_000);
});

describe('npm run bench -- --relay-quick --json FILE', () => {
  it('writes every relay figure with finite numbers, for SQLite and (unless skipped) PostgreSQL', () => {
    const file = join(dir, 'bench-relay.json');
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/index.ts'), '--relay-quick', '--json', file], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 240_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(file, 'utf8')) as BenchReport & { relaySkipped?: Record<string, string> };
    expect(report.quick).toBe(true);
    const stores = ['sqlite', 'postgres'].filter((s) => !report.relaySkipped?.[s]);
    expect(stores).toContain('sqlite');
    if (process.env.PLUSHLINK_REQUIRE_PG === '1') expect(stores).toContain('postgres');
    expect([...new Set(report.rows.map((row) => row.key))].sort()).toEqual([...RELAY_KEYS].sort());
    for (const row of report.rows) {
      const where = `${row.key}/${row.variant}`;
      expect(Number.isFinite(row.value), where).toBe(true);
      expect(Object.keys(row.baselines).length, `${where} has no baseline`).toBeGreaterThan(0);
      expect(finiteNumbers(row.baselines), where).toBe(true);
      if (row.extra) expect(finiteNumbers(row.extra), where).toBe(true);
      if (row.goal) expect(typeof row.met, where).toBe('boolean');
    }
    for (const store of stores) {
      for (const c of RELAY_QUICK_LEVELS) {
        expect(report.figures.relayUploadsPerSecond?.[`${store}/${c}`], `${store}/${c}`).toBeDefined();
        expect(report.figures.relayFetchAcksPerSecond?.[`${store}/${c}`], `${store}/${c}`).toBeDefined();
        for (const q of ['p50', 'p99']) {
          expect(report.figures.relayUploadLatencyMs?.[`${store}/${c}/${q}`]).toBeDefined();
          expect(report.figures.relayFetchAckLatencyMs?.[`${store}/${c}/${q}`]).toBeDefined();
        }
      }
      // Every upload answered must be fetchable: a bug, not a speed, if not (judged here).
      expect(report.figures.relayLost?.[store]?.value, `${store} lost`).toBe(0);
    }
    for (const row of report.rows) expect(r.stdout).toContain(`| ${row.key}`);
  }, 300_000);
});
