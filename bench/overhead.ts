/**
 * Speaker-path overhead: ATT payload bytes the companion sends on the speaker characteristic
 * (counted by the radio, `LinkStats.bytesToPeripheral.speaker`) ÷ the Opus bytes of the clip,
 * for plushlink's default batching, one frame per record, and a computed no-encryption floor.
 */
import { encodePcm } from '../src/audio/opus-codec.js';
import type { ToySession } from '../src/companion/session.js';
import type { PlayOptions } from '../src/companion/speaker.js';
import { Fragmenter } from '../src/protocol/fragment.js';
import { MemoryRadio } from '../src/transport/memory/index.js';
import { makeCompanion, makeToy, pairQr, readSpeech, statsOf } from './rig.js';
import { row, type Row } from './report.js';

export interface PlayMeasure {
  opusBytes: number;
  attBytes: number;
  records: number;
  frames: number;
  /** Frame lengths of each record as the speaker batched them. */
  batches: number[][];
  framesPlayed: number;
  overruns: number;
  underruns: number;
}

/** Wraps `session.sendAudio` (what `Speaker.play` calls per record) to log each batch's frame lengths. */
export function recordBatches(s: ToySession, batches: number[][], onSend?: (frames: readonly Uint8Array[]) => void): void {
  const orig = s.sendAudio.bind(s);
  s.sendAudio = (frames: readonly Uint8Array[]): Promise<number> => {
    batches.push(frames.map((f) => f.length));
    onSend?.(frames);
    return orig(frames);
  };
}

/** One frame per record: the naive baseline. */
export const NAIVE: PlayOptions = { latencyBudgetMs: 0, maxRecordMs: 20 };

/** Plays `packets` on a fresh toy over a fresh radio at `mtu` and counts the speaker bytes on the air. */
export async function measurePlay(packets: Uint8Array[], mtu: number, play: PlayOptions | undefined, onPaired?: () => void): Promise<PlayMeasure> {
  const radio = new MemoryRadio({ timeScale: 0, seed: 11, advertisingIntervalMs: 0 });
  const toy = await makeToy(radio, { mtu: 247 });
  try {
    const c = await makeCompanion(radio, { mtu });
    const s = await pairQr(toy, c);
    if (s.mtu !== mtu) throw new Error(`negotiated MTU ${s.mtu}, wanted ${mtu}`);
    const before = statsOf(s).bytesToPeripheral.speaker;
    onPaired?.();
    const batches: number[][] = [];
    recordBatches(s, batches);
    const res = await s.speaker.play({ packets }, play ?? {});
    await radio.settle();
    const attBytes = statsOf(s).bytesToPeripheral.speaker - before;
    await s.close();
    return {
      opusBytes: packets.reduce((a, p) => a + p.length, 0),
      attBytes,
      records: res.records,
      frames: res.framesSent,
      batches,
      framesPlayed: res.framesPlayed,
      overruns: res.overruns,
      underruns: res.underruns,
    };
  } finally {
    await toy.toy.stop();
    await radio.close();
  }
}

/**
 * The floor: the same frames, grouped as plushlink's default batches, each group sent as one
 * fragmented message carrying only the Opus bytes (no record counter, no tag, no frame-length
 * table): Opus bytes + fragment headers, computed with the real {@link Fragmenter}.
 */
export function floorBytes(batches: number[][], mtu: number): number {
  const f = new Fragmenter(65535);
  let total = 0;
  for (const b of batches) {
    const len = b.reduce((a, x) => a + x, 0);
    for (const v of f.fragment(new Uint8Array(len), mtu - 3)) total += v.length;
  }
  return total;
}

export async function benchOverhead(opts: { quick: boolean; log: (s: string) => void }): Promise<Row[]> {
  const bitrates = opts.quick ? [16000] : [12000, 16000, 24000];
  const mtus = opts.quick ? [247] : [23, 185, 247];
  const clip = 'toy-goodnight';
  const pcm = readSpeech(clip);
  const clipPackets = new Map<number, Uint8Array[]>();
  for (const b of bitrates) {
    const { packets } = encodePcm(pcm, { bitrate: b });
    clipPackets.set(b, opts.quick ? packets.slice(0, 60) : packets);
  }
  // All plays run concurrently (each on its own radio and toy): the toy plays in real time, and
  // the byte counts do not depend on timing (a batch is always full when frames are at hand).
  // At the goal's point (16 kbps, MTU 247) also a larger batch (latencyBudgetMs 100: 6 frames), for docs/BENCHMARK.md.
  const jobs: Promise<{ b: number; mtu: number; def: PlayMeasure; naive: PlayMeasure; wide?: PlayMeasure }>[] = [];
  for (const b of bitrates) {
    for (const mtu of mtus) {
      const packets = clipPackets.get(b)!;
      // The v1 default for comparison: 4 frames per record (80 ms), format 1 sizing is what a v1 toy gets.
      const wide = b === 16000 && mtu === 247 ? measurePlay(packets, mtu, { maxRecordMs: 80 }) : Promise.resolve(undefined);
      jobs.push(Promise.all([measurePlay(packets, mtu, undefined), measurePlay(packets, mtu, NAIVE), wide]).then(([def, naive, w]) => ({ b, mtu, def, naive, ...(w ? { wide: w } : {}) })));
    }
  }
  const results = await Promise.all(jobs);
  const rows: Row[] = [];
  for (const { b, mtu, def, naive, wide } of results) {
    for (const m of [def, naive]) {
      if (m.framesPlayed !== m.frames || m.overruns !== 0) opts.log(`  note: ${b / 1000} kbps MTU ${mtu}: played ${m.framesPlayed}/${m.frames}, ${m.overruns} overruns`);
    }
    const floor = floorBytes(def.batches, mtu);
    const kbps = b / 1000;
    const isGoal = b === 16000 && mtu === 247;
    rows.push(
      row({
        key: 'overhead',
        variant: `${kbps}kbps/mtu${mtu}`,
        value: def.attBytes / def.opusBytes,
        unit: '× Opus bytes',
        baselines: { 'naive: 1 frame/record': naive.attBytes / naive.opusBytes, 'floor: no encryption': floor / def.opusBytes },
        ...(isGoal ? { goal: { op: '<=' as const, target: 1.12 } } : {}),
        how: `LinkStats.bytesToPeripheral.speaker (ATT payload bytes on the speaker characteristic) ÷ Opus bytes, Speaker.play of fixtures/audio/${clip}.wav encoded at the bitrate (${def.frames} frames; a recording: every frame at hand), toy MTU 247, companion MTU as given, both announcing audio format 2; default = PlayOptions defaults (latencyBudgetMs 60, maxRecordMs 100: up to 5 frames in one ATT value), naive = one frame per record (maxRecordMs 20); floor = the default batches sent with fragment headers only (computed); extra.records4Overhead = at most 4 frames per record (maxRecordMs 80). The live-source figure is in the addedLatencyMs run (variant "16kbps/mtu247, live source")`,
        extra: {
          opusBytes: def.opusBytes,
          attBytes: def.attBytes,
          records: def.records,
          framesPerRecord: def.frames / def.records,
          naiveAttBytes: naive.attBytes,
          naiveRecords: naive.records,
          floorBytes: floor,
          ...(wide ? { records4Overhead: wide.attBytes / wide.opusBytes, records4FramesPerRecord: wide.frames / wide.records } : {}),
        },
      }),
    );
  }
  return rows;
}
