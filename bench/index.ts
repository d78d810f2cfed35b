/**
 * `npm run bench` — the performance table, every figure measured in one run on this machine,
 * side by side with its baseline and judged against its goal (docs/BENCHMARK.md). Crypto-bound
 * figures are measured on both crypto back ends (node:crypto and pure JS; bench/backends.ts);
 * everything else runs on node:crypto, as `plushlink` does on Node.
 *
 *   npm run bench                      print the table
 *   npm run bench -- --json FILE       also write the figures as JSON
 *   npm run bench -- --quick           fewer iterations, one bitrate/MTU, short clips (smoke test)
 *   npm run bench -- --relay           the relay section instead (bench/relay.ts; with --json too)
 *   npm run bench -- --relay-quick     the relay section with fewer operations (smoke test)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchHandshakes } from './handshake.js';
import { benchLatency } from './latency.js';
import { benchMemory } from './memory.js';
import { benchOpus } from './opus.js';
import { benchOverhead } from './overhead.js';
import { benchRecords } from './records.js';
import { benchRelay } from './relay.js';
import { benchToyVoiceCost } from './toy-cost.js';
import { installNodeCrypto } from '../src/crypto-node/index.js';
import { cryptoBackend } from '../src/protocol/crypto.js';
import { formatNotes, formatTable, indexRows, type BenchReport, type Machine, type Row } from './report.js';

export function machine(): Machine {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1]!.trim();
  } catch {
    // not Linux: keep os.cpus()
  }
  return { nproc: availableParallelism(), cpu, node: process.version, platform: `${process.platform}-${process.arch}`, totalMemGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10 };
}

export async function runBench(opts: { quick: boolean; relay?: boolean; log: (s: string) => void }): Promise<BenchReport & { relaySkipped?: Record<string, string> }> {
  const started = Date.now();
  // The bench is a Node program: node:crypto is the default back end, as for `plushlink` on Node.
  installNodeCrypto();
  opts.log(`crypto back end by default: ${cryptoBackend().description}`);
  const rows: Row[] = [];
  let relaySkipped: Record<string, string> | undefined;
  // `--relay` runs the relay section alone; a plain run, everything else.
  const step = async (name: string, fn: () => Promise<Row[]>, section: 'main' | 'relay' = 'main'): Promise<void> => {
    if ((section === 'relay') !== Boolean(opts.relay)) return;
    const t = Date.now();
    opts.log(`… ${name}`);
    rows.push(...(await fn()));
    opts.log(`  ${name}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  };
  // CPU-timed parts first, alone; then the memory child; then the real-time radio runs.
  await step('handshakes (round trips, simulated time, CPU, operation counts)', () => benchHandshakes(opts));
  await step('record layer throughput', () => benchRecords(opts));
  await step('Opus encode/decode speed', () => benchOpus(opts));
  await step('session memory (child process)', () => benchMemory(opts));
  await step('speaker overhead (concurrent real-time plays)', () => benchOverhead(opts));
  await step('speaker added latency (live source, real time)', () => benchLatency(opts));
  await step('toy-side cost per second of voice (counted plays and microphone, real time)', () => benchToyVoiceCost(opts));
  const relay = async (): Promise<Row[]> => {
    const r = await benchRelay(opts);
    relaySkipped = r.skipped;
    return r.rows;
  };
  await step('relay over HTTP vs raw storage and an empty route (SQLite, PostgreSQL)', relay, 'relay');
  const nonFinite = rows.filter((r) => !Number.isFinite(r.value) || Object.values(r.baselines).some((v) => !Number.isFinite(v)));
  if (nonFinite.length) throw new Error(`non-finite figures: ${nonFinite.map((r) => `${r.key}/${r.variant}`).join(', ')}`);
  return {
    machine: machine(),
    quick: opts.quick,
    startedAt: new Date(started).toISOString(),
    durationS: (Date.now() - started) / 1000,
    rows,
    figures: indexRows(rows),
    ...(relaySkipped ? { relaySkipped } : {}),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'string' },
      quick: { type: 'boolean', default: false },
      relay: { type: 'boolean', default: false },
      'relay-quick': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('usage: npm run bench -- [--json FILE] [--quick] [--relay | --relay-quick]');
    return;
  }
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  const load = loadavg()[0]!;
  const relay = values.relay || values['relay-quick'];
  const report = await runBench({ quick: values.quick || values['relay-quick'], relay, log });
  const m = report.machine;
  console.log(`plushlink benchmark${report.quick ? ' (quick mode: not for the README)' : ''} — ${report.startedAt}`);
  console.log(`machine: ${m.cpu}, ${m.nproc} CPUs, ${m.totalMemGiB} GiB, ${m.platform}, Node ${m.node}; load average at start ${load.toFixed(2)}; ${report.durationS.toFixed(0)} s`);
  console.log('');
  console.log(formatTable(report.rows));
  console.log('');
  console.log('How each figure was measured:');
  console.log(formatNotes(report.rows));
  const missed = report.rows.filter((r) => r.met === false);
  console.log('');
  console.log(missed.length ? `Goals missed: ${missed.map((r) => `${r.key} ${r.variant}`.trim()).join('; ')} — see docs/BENCHMARK.md.` : 'Every goal met.');
  if (values.json) {
    writeFileSync(resolve(values.json), JSON.stringify({ ...report, loadAverageAtStart: load }, null, 2) + '\n');
    console.log(`JSON written to ${values.json}`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
