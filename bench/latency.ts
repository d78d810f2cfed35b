/**
 * Added latency on the speaker path for a live source. Frame k of a live 16 kbps stream
 * (20 ms of speech) is complete — *available* — at a_k = t0 + 20·(k+1) ms, t0 being the moment
 * `Speaker.play` first asks the source for a frame; the source yields it then (a timer, so a_k is
 * the actual yield time). Frame k is *handed to the radio* at h_k, the call of
 * `CentralLink.write('speaker', …)` with the first fragment of the record that carries it.
 * added_k = h_k − a_k = batching wait (a_last − a_k, waiting for the batch's last frame) +
 * pacing/sealing (h_k − a_last). All wall-clock ms on one process (performance.now()).
 */
import { performance } from 'node:perf_hooks';
import { encodePcm } from '../src/audio/opus-codec.js';
import { MemoryRadio } from '../src/transport/memory/index.js';
import { FRAG_START } from '../src/protocol/fragment.js';
import { FRAME_MS } from '../src/protocol/audio-record.js';
import { recordBatches } from './overhead.js';
import { makeCompanion, makeToy, memoryLinkOf, pairQr, readSpeech, statsOf } from './rig.js';
import type { PlayOptions } from '../src/companion/speaker.js';
import { BENCH_BACKENDS, onBackend, withBackend } from './backends.js';
import { NAIVE } from './overhead.js';
import { mean, percentile, row, type Row } from './report.js';

const INTERVAL_MS = 30;

export interface LatencyMeasure {
  added: number[];
  batching: number[];
  pacing: number[];
  /** Simulated ms from handing a record's first fragment to the radio to the delivery of its last fragment. */
  air: number[];
  framesPlayed: number;
  frames: number;
  underruns: number;
  records: number;
  /** ATT payload bytes on the speaker characteristic ÷ Opus bytes. */
  overhead: number;
}

async function* liveSource(packets: Uint8Array[], avail: number[]): AsyncGenerator<Uint8Array> {
  let t0: number | undefined;
  for (let k = 0; k < packets.length; k++) {
    t0 ??= performance.now();
    const due = t0 + FRAME_MS * (k + 1);
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    avail[k] = performance.now();
    yield packets[k]!;
  }
}

export async function measureLatency(packets: Uint8Array[], play: PlayOptions | undefined): Promise<LatencyMeasure> {
  const radio = new MemoryRadio({ connectionIntervalMs: INTERVAL_MS, timeScale: 1, seed: 5, advertisingIntervalMs: 0 });
  const toy = await makeToy(radio, { mtu: 247 });
  try {
    const c = await makeCompanion(radio, { mtu: 247 });
    const s = await pairQr(toy, c);
    const link = memoryLinkOf(s);
    // Record i's hand-off: the i-th speaker write carrying a first fragment.
    const handoff: { wall: number; sim: number }[] = [];
    const origWrite = link.write.bind(link);
    link.write = (ch, v) => {
      if (ch === 'speaker' && (v[0]! & FRAG_START) !== 0) handoff.push({ wall: performance.now(), sim: radio.now() });
      return origWrite(ch, v);
    };
    const delivered: number[] = [];
    radio.on('pdu', (t) => {
      if (t.link === link.serial && t.characteristic === 'speaker' && (t.value[0]! & 0x40) !== 0) delivered.push(t.time);
    });
    const batches: number[][] = [];
    recordBatches(s, batches);
    const avail: number[] = [];
    const before = statsOf(s).bytesToPeripheral.speaker;
    const res = await s.speaker.play({ packets: liveSource(packets, avail) }, play ?? {});
    await radio.settle();
    const attBytes = statsOf(s).bytesToPeripheral.speaker - before;
    await s.close();
    const opusBytes = packets.reduce((a, p) => a + p.length, 0);
    const out: LatencyMeasure = { added: [], batching: [], pacing: [], air: [], framesPlayed: res.framesPlayed, frames: res.framesSent, underruns: res.underruns, records: res.records, overhead: attBytes / opusBytes };
    let k = 0;
    batches.forEach((b, i) => {
      const h = handoff[i]!.wall;
      const last = avail[k + b.length - 1]!;
      for (let j = 0; j < b.length; j++, k++) {
        out.added.push(h - avail[k]!);
        out.batching.push(last - avail[k]!);
        out.pacing.push(h - last);
      }
      if (delivered[i] !== undefined) out.air.push(delivered[i]! - handoff[i]!.sim);
    });
    if (k !== packets.length) throw new Error(`accounted ${k} of ${packets.length} frames`);
    return out;
  } finally {
    await toy.toy.stop();
    await radio.close();
  }
}

export async function benchLatency(opts: { quick: boolean; log: (s: string) => void }): Promise<Row[]> {
  const clip = 'toy-goodnight';
  const { packets: all } = encodePcm(readSpeech(clip), { bitrate: 16000 });
  const packets = opts.quick ? all.slice(0, 50) : all;
  // One after the other, so that the timer-driven runs do not disturb each other: the default on
  // each crypto back end, then the naive baseline (one frame per record) on node:crypto.
  const runs: { b: (typeof BENCH_BACKENDS)[number]; m: LatencyMeasure }[] = [];
  for (const b of BENCH_BACKENDS) runs.push({ b, m: await onBackend(b, () => measureLatency(packets, undefined)) });
  const node = BENCH_BACKENDS.find((b) => b.name === 'node')!;
  const naive = await onBackend(node, () => measureLatency(packets, NAIVE));
  for (const [n, m] of [...runs.map((r) => [`default, ${r.b.name}`, r.m] as const), ['naive', naive] as const]) {
    if (m.framesPlayed !== m.frames) opts.log(`  note: latency run (${n}) played ${m.framesPlayed}/${m.frames}`);
  }
  const how = `live source: frame k of fixtures/audio/${clip}.wav at 16 kbps is available at t0 + 20·(k+1) ms (t0 = first frame request by Speaker.play; a timer releases it, so its jitter is in a_k); added = time its record's first fragment is handed to CentralLink.write minus availability = batching wait + pacing/sealing; ${packets.length} frames, MTU 247, radio interval ${INTERVAL_MS} ms at real time, PlayOptions defaults (latencyBudgetMs 60: the batch deadline keeps the timers' observed lateness); one run per crypto back end; baseline: one frame per record (NAIVE, node)`;
  const extra = (m: LatencyMeasure) => ({
    batchingMean: mean(m.batching),
    batchingP95: percentile(m.batching, 95),
    pacingMean: mean(m.pacing),
    pacingP95: percentile(m.pacing, 95),
    max: Math.max(...m.added),
    airMeanSimMs: m.air.length ? mean(m.air) : 0,
    underruns: m.underruns,
    framesPerRecord: m.frames / m.records,
  });
  const rows: Row[] = [];
  for (const { b, m } of runs) {
    rows.push(
      row({
        key: 'addedLatencyMs',
        variant: withBackend('mean', b),
        backend: b.name,
        value: mean(m.added),
        unit: 'ms',
        baselines: { 'naive: 1 frame/record': mean(naive.added) },
        goal: { op: '<=', target: 60 },
        how,
        extra: extra(m),
      }),
      row({
        key: 'addedLatencyMs',
        variant: withBackend('p95', b),
        backend: b.name,
        value: percentile(m.added, 95),
        unit: 'ms',
        baselines: { 'naive: 1 frame/record': percentile(naive.added, 95) },
        goal: { op: '<=', target: 60 },
        how: '',
        extra: Object.fromEntries(Object.entries(extra(naive)).map(([k, v]) => [`naive${k[0]!.toUpperCase()}${k.slice(1)}`, v])),
      }),
    );
  }
  const live = runs.find((r) => r.b.name === 'node')!.m;
  rows.push(
    row({
      key: 'overhead',
      variant: '16kbps/mtu247, live source',
      value: live.overhead,
      unit: '× Opus bytes',
      baselines: { 'naive: 1 frame/record': naive.overhead },
      how: '',
      extra: { framesPerRecord: live.frames / live.records, records: live.records },
    }),
  );
  return rows;
}
