/**
 * Record-layer throughput on one core, on each crypto back end: audio records sealed by one
 * {@link SecureChannel} and opened by its peer (the peer reads format 2, as every plushlink party
 * now announces), for 20/60/120 ms batches (1/3/6 frames of 16 kbps speech). Baselines, on the
 * same plaintext bytes, without record framing, counters or payload encoding: ChaCha20-Poly1305
 * seal + open straight on `node:crypto` (createCipheriv/createDecipheriv, the reference)
 * and straight on @noble/ciphers (the portable back end's library).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { encodePcm } from '../src/audio/opus-codec.js';
import { AUDIO_FORMATS_SUPPORTED, encodeAudioPayload } from '../src/protocol/audio-record.js';
import { SecureChannel } from '../src/protocol/channel.js';
import { randomBytes, useCryptoBackend, type CryptoBackend } from '../src/protocol/crypto.js';
import { chachaNonce } from '../src/protocol/noise/cipher-state.js';
import { BENCH_BACKENDS, withBackend } from './backends.js';
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
  /** Seal + open through the record layer, per back end. */
  plushlink: Map<string, () => void>;
  rawNode: () => void;
  rawNoble: () => void;
  avgPayload: number;
}

function makeCase(packets: Uint8Array[], frames: number): Case {
  // Consecutive frames of real speech, cycling through the clip.
  const batches: Uint8Array[][] = [];
  for (let i = 0; i + frames <= packets.length; i += frames) batches.push(packets.slice(i, i + frames));
  const payloads = batches.map((b) => encodeAudioPayload(b, AUDIO_FORMATS_SUPPORTED));
  const plushlink = new Map<string, () => void>();
  for (const b of BENCH_BACKENDS) {
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    const hh = randomBytes(64);
    const sender = new SecureChannel({ sendKey: k1, receiveKey: k2, handshakeHash: hh }, { peerAudioFormats: AUDIO_FORMATS_SUPPORTED });
    const receiver = new SecureChannel({ sendKey: k2, receiveKey: k1, handshakeHash: hh }, { peerAudioFormats: AUDIO_FORMATS_SUPPORTED });
    let i = 0;
    plushlink.set(b.name, () => {
      const { record } = sender.sealAudio(batches[i++ % batches.length]!);
      const opened = receiver.openAudio(record);
      if (opened.frames.length !== frames) throw new Error('frame count mismatch');
    });
  }
  const key = randomBytes(32);
  const ad = new Uint8Array(4);
  const options = { authTagLength: 16 } as const;
  let nonce = 0;
  let j = 0;
  const rawNode = (): void => {
    const n = chachaNonce(nonce++);
    const pt = payloads[j++ % payloads.length]!;
    const c = createCipheriv('chacha20-poly1305', key, n, options);
    c.setAAD(ad, { plaintextLength: pt.length });
    const ct = c.update(pt);
    c.final();
    const tag = c.getAuthTag();
    const d = createDecipheriv('chacha20-poly1305', key, n, options);
    d.setAuthTag(tag);
    d.setAAD(ad, { plaintextLength: ct.length });
    d.update(ct);
    d.final();
  };
  let m = 0;
  const rawNoble = (): void => {
    const n = chachaNonce(nonce++);
    const ct = chacha20poly1305(key, n, ad).encrypt(payloads[m++ % payloads.length]!);
    chacha20poly1305(key, n, ad).decrypt(ct);
  };
  return { frames, plushlink, rawNode, rawNoble, avgPayload: payloads.reduce((a, p) => a + p.length, 0) / payloads.length };
}

export async function benchRecords(opts: { quick: boolean }): Promise<Row[]> {
  const totalMs = opts.quick ? 150 : 1400; // per case and function
  const { packets } = encodePcm(readSpeech('toy-hello'), { bitrate: 16000 });
  const cases = [1, 3, 6].map((f) => makeCase(packets, f));
  // Each measured function runs with its back end installed for the whole timed chunk.
  const measured = (c: Case): [string, () => void, CryptoBackend | undefined][] => [
    ...BENCH_BACKENDS.map((b) => [b.name, c.plushlink.get(b.name)!, b] as [string, () => void, CryptoBackend]),
    ['rawNode', c.rawNode, undefined],
    ['rawNoble', c.rawNoble, undefined],
  ];
  const timed = (fn: () => void, b: CryptoBackend | undefined, ms: number): Rate => (b ? onRate(b, fn, ms) : rate(fn, ms));
  const onRate = (b: CryptoBackend, fn: () => void, ms: number): Rate => {
    const prev = useCryptoBackend(b);
    try {
      return rate(fn, ms);
    } finally {
      useCryptoBackend(prev);
    }
  };
  for (const c of cases) for (const [, fn, b] of measured(c)) timed(fn, b, totalMs / 4);
  const res = cases.map(() => new Map<string, Rate[]>());
  for (let round = 0; round < ROUNDS; round++) {
    cases.forEach((c, k) => {
      // Reverse the order every other round, so that garbage one function leaves for the
      // collector is not always billed to the same neighbour.
      const order = measured(c);
      if (round % 2 === 1) order.reverse();
      for (const [name, fn, b] of order) {
        const l = res[k]!.get(name) ?? [];
        l.push(timed(fn, b, totalMs / ROUNDS));
        res[k]!.set(name, l);
      }
    });
  }
  const how = `main thread: SecureChannel.sealAudio + openAudio on its peer (payload encode/decode in format 2, counter checks, per-record key lookup) per record, on each crypto back end; rate per second of process CPU time (process.cpuUsage, GC helper threads included), median of ${ROUNDS} rounds interleaved over all cases and back ends (the order reversed every other round) after a warm-up, ${totalMs} ms per case and function; 16 kbps frames of fixtures/audio/toy-hello.wav; baselines on the same payload bytes: ChaCha20-Poly1305 seal + open straight on node:crypto (createCipheriv/createDecipheriv) and on @noble/ciphers`;
  const rows: Row[] = [];
  cases.forEach((c, k) => {
    const r = res[k]!;
    const med = (name: string, f: (x: Rate) => number = (x) => x.cpu): number => median(r.get(name)!.map(f));
    const rawNode = med('rawNode');
    const rawNoble = med('rawNoble');
    const label = `${c.frames * 20} ms (${c.frames} frame${c.frames > 1 ? 's' : ''})`;
    for (const b of BENCH_BACKENDS) {
      const value = med(b.name);
      const ownRaw = b.name === 'node' ? rawNode : rawNoble;
      rows.push(
        row({
          key: 'recordsPerSecond',
          variant: withBackend(label, b),
          backend: b.name,
          value,
          unit: 'records/s (seal+open)',
          baselines: { 'raw node:crypto ChaCha20-Poly1305 seal+open': rawNode, 'raw @noble/ciphers seal+open': rawNoble },
          ...(b.name === 'node' && c.frames === 3 ? { goal: { op: '>=' as const, target: 40_000 } } : {}),
          how,
          extra: { plaintextBytes: c.avgPayload, wallClockRate: med(b.name, (x) => x.wall), rawNodeWallClockRate: med('rawNode', (x) => x.wall), ratioToRawNode: value / rawNode, ratioToOwnRaw: value / ownRaw },
        }),
        row({
          key: 'recordsToRawAead',
          variant: withBackend(label, b),
          backend: b.name,
          value: value / ownRaw,
          unit: `× raw ${b.name === 'node' ? 'node:crypto' : '@noble/ciphers'} AEAD rate`,
          baselines: { 'raw AEAD (= 1)': 1, [`records/s of the raw ${b.name === 'node' ? 'node:crypto' : '@noble/ciphers'} AEAD`]: ownRaw },
          ...(b.name === 'node' ? { goal: { op: '>=' as const, target: 0.8 } } : {}),
          how: 'recordsPerSecond ÷ the raw AEAD seal+open rate of the same back end’s library on the same payload bytes, measured interleaved in the same rounds',
        }),
      );
    }
  });
  return rows;
}
