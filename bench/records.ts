/**
 * Record-layer throughput on one core: audio records sealed by one {@link SecureChannel} and
 * opened by its peer, for 20/60/120 ms batches (1/3/6 frames of 16 kbps speech). Baseline:
 * ChaCha20-Poly1305 alone (crypto.ts aeadSeal + aeadOpen, i.e. @noble/ciphers) on the same
 * plaintext bytes, without record framing, counters or payload encoding.
 */
import { performance } from 'node:perf_hooks';
import { encodePcm } from '../src/audio/opus-codec.js';
import { encodeAudioPayload } from '../src/protocol/audio-record.js';
import { SecureChannel } from '../src/protocol/channel.js';
import { aeadOpen, aeadSeal, randomBytes } from '../src/protocol/crypto.js';
import { chachaNonce } from '../src/protocol/noise/cipher-state.js';
import { readSpeech } from './rig.js';
import { median, row, type Row } from './report.js';

const ROUNDS = 7;

interface Rate {
  /** Calls per second of process CPU time (user + system, all threads: GC helpers included). */
  cpu: number;
  /** Calls per second of wall-clock time. */
  wall: number;
}

/** Runs `fn` in chunks of `chunk` calls for about `ms` wall-clock ms. */
function rate(fn: () => void, ms: number, chunk = 64): Rate {
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let j = 0; j < chunk; j++) fn();
    n += chunk;
    t = performance.now();
  }
  const c = process.cpuUsage(c0);
  return { cpu: (n / (c.user + c.system)) * 1e6, wall: (n / (t - t0)) * 1000 };
}

interface Case {
  frames: number;
  plushlink: () => void;
  raw: () => void;
  avgPayload: number;
}

function makeCase(packets: Uint8Array[], frames: number): Case {
  // Consecutive frames of real speech, cycling through the clip.
  const batches: Uint8Array[][] = [];
  for (let i = 0; i + frames <= packets.length; i += frames) batches.push(packets.slice(i, i + frames));
  const payloads = batches.map((b) => encodeAudioPayload(b));
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  const hh = randomBytes(64);
  const sender = new SecureChannel({ sendKey: k1, receiveKey: k2, handshakeHash: hh });
  const receiver = new SecureChannel({ sendKey: k2, receiveKey: k1, handshakeHash: hh });
  let i = 0;
  const plushlink = (): void => {
    const { record } = sender.sealAudio(batches[i++ % batches.length]!);
    const b = receiver.openAudio(record);
    if (b.frames.length !== frames) throw new Error('frame count mismatch');
  };
  const key = randomBytes(32);
  const ad = new Uint8Array(4);
  let nonce = 0;
  let j = 0;
  const raw = (): void => {
    const n = chachaNonce(nonce++);
    const ct = aeadSeal(key, n, ad, payloads[j++ % payloads.length]!);
    aeadOpen(key, n, ad, ct);
  };
  return { frames, plushlink, raw, avgPayload: payloads.reduce((a, p) => a + p.length, 0) / payloads.length };
}

export async function benchRecords(opts: { quick: boolean }): Promise<Row[]> {
  const totalMs = opts.quick ? 150 : 1400; // per case and function
  const { packets } = encodePcm(readSpeech('toy-hello'), { bitrate: 16000 });
  const cases = [1, 3, 6].map((f) => makeCase(packets, f));
  for (const c of cases) {
    rate(c.plushlink, totalMs / 4);
    rate(c.raw, totalMs / 4);
  }
  const res = cases.map(() => ({ pl: [] as Rate[], raw: [] as Rate[] }));
  for (let round = 0; round < ROUNDS; round++) {
    cases.forEach((c, k) => {
      res[k]!.pl.push(rate(c.plushlink, totalMs / ROUNDS));
      res[k]!.raw.push(rate(c.raw, totalMs / ROUNDS));
    });
  }
  return cases.map((c, k) => {
    const r = res[k]!;
    const value = median(r.pl.map((x) => x.cpu));
    const base = median(r.raw.map((x) => x.cpu));
    return row({
      key: 'recordsPerSecond',
      variant: `${c.frames * 20} ms (${c.frames} frame${c.frames > 1 ? 's' : ''})`,
      value,
      unit: 'records/s (seal+open)',
      baselines: { 'raw ChaCha20-Poly1305 seal+open': base },
      goal: { op: '>=', target: 40_000 },
      how: `main thread: SecureChannel.sealAudio + openAudio on its peer (payload encode/decode, counter checks, per-record key lookup) per record; rate per second of process CPU time (process.cpuUsage, GC helper threads included), median of ${ROUNDS} rounds interleaved over all cases after a warm-up, ${totalMs} ms per case; 16 kbps frames of fixtures/audio/toy-hello.wav; baseline: crypto.ts aeadSeal + aeadOpen (@noble/ciphers) on the same payload bytes`,
      extra: {
        plaintextBytes: c.avgPayload,
        wallClockRate: median(r.pl.map((x) => x.wall)),
        rawWallClockRate: median(r.raw.map((x) => x.wall)),
        ratioToRaw: value / base,
      },
    });
  });
}
