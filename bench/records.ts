/**
 * Record-layer throughput on one core, on each crypto back end: audio records sealed by one
 * {@link SecureChannel} and opened by its peer (the peer reads format 2, as every plushlink party
 * now announces), for 20/60/120 ms batches (1/3/6 frames of 16 kbps speech). Baselines, on the
 * same plaintext bytes, without record framing, counters or payload encoding: ChaCha20-Poly1305
 * seal + open straight on `node:crypto` (createCipheriv/createDecipheriv, the reference)
 * and straight on @noble/ciphers (the portable back end's library).
 *
 * Each back end runs in its own child process (bench/records-child.ts), as an app runs one back
 * end: with both in one process the seam's call sites see two back ends and the JIT serves both,
 * which no deployment does. Inside a child the figure and both raw baselines are interleaved
 * round by round, so every ratio compares rates measured side by side.
 */
import { spawn } from 'node:child_process';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { encodePcm } from '../src/audio/opus-codec.js';
import { AUDIO_FORMATS_SUPPORTED, encodeAudioPayload } from '../src/protocol/audio-record.js';
import { SecureChannel } from '../src/protocol/channel.js';
import { randomBytes } from '../src/protocol/crypto.js';
import { chachaNonce } from '../src/protocol/noise/cipher-state.js';
import { BENCH_BACKENDS, withBackend } from './backends.js';
import { ROOT, readSpeech } from './rig.js';
import { median, row, type Row } from './report.js';

const ROUNDS = 9;
const FRAMES = [1, 3, 6] as const;

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

/** What one child measures: per case, the rates of each round. */
export interface RecordsChildResult {
  backend: string;
  cases: { frames: number; avgPayload: number; plushlink: Rate[]; rawNode: Rate[]; rawNoble: Rate[] }[];
}

function makeCase(packets: Uint8Array[], frames: number): { plushlink: () => void; rawNode: () => void; rawNoble: () => void; avgPayload: number } {
  // Consecutive frames of real speech, cycling through the clip.
  const batches: Uint8Array[][] = [];
  for (let i = 0; i + frames <= packets.length; i += frames) batches.push(packets.slice(i, i + frames));
  const payloads = batches.map((b) => encodeAudioPayload(b, AUDIO_FORMATS_SUPPORTED));
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  const hh = randomBytes(64);
  const sender = new SecureChannel({ sendKey: k1, receiveKey: k2, handshakeHash: hh }, { peerAudioFormats: AUDIO_FORMATS_SUPPORTED });
  const receiver = new SecureChannel({ sendKey: k2, receiveKey: k1, handshakeHash: hh }, { peerAudioFormats: AUDIO_FORMATS_SUPPORTED });
  let i = 0;
  const plushlink = (): void => {
    const { record } = sender.sealAudio(batches[i++ % batches.length]!);
    const opened = receiver.openAudio(record);
    if (opened.frames.length !== frames) throw new Error('frame count mismatch');
  };
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
  return { plushlink, rawNode, rawNoble, avgPayload: payloads.reduce((a, p) => a + p.length, 0) / payloads.length };
}

/**
 * Runs in the child, with the back end under test installed for the whole process. Each round
 * alternates short chunks (64 calls) of the figure and the two baselines many times and sums each
 * one's CPU time and calls, so all three see the same moments of a busy machine; the order turns
 * around at every step, so garbage one leaves for the collector is not always billed to the same
 * neighbour.
 */
export function measureRecords(backend: string, quick: boolean): RecordsChildResult {
  const totalMs = quick ? 150 : 1800; // per case and function
  const { packets } = encodePcm(readSpeech('toy-hello'), { bitrate: 16000 });
  const cases = FRAMES.map((f) => ({ frames: f, ...makeCase(packets, f) }));
  type Name = 'plushlink' | 'rawNode' | 'rawNoble';
  const names: Name[] = ['plushlink', 'rawNode', 'rawNoble'];
  for (const c of cases) for (const n of names) rate(c[n], totalMs / 4);
  const out: RecordsChildResult = { backend, cases: cases.map((c) => ({ frames: c.frames, avgPayload: c.avgPayload, plushlink: [], rawNode: [], rawNoble: [] })) };
  const CHUNK = 64;
  for (let round = 0; round < ROUNDS; round++) {
    cases.forEach((c, k) => {
      const cpu: Record<Name, number> = { plushlink: 0, rawNode: 0, rawNoble: 0 };
      const wall: Record<Name, number> = { plushlink: 0, rawNode: 0, rawNoble: 0 };
      let calls = 0;
      const t0 = performance.now();
      for (let step = 0; performance.now() - t0 < (totalMs * names.length) / ROUNDS; step++) {
        const order = step % 2 ? [...names].reverse() : names;
        for (const n of order) {
          const fn = c[n];
          const c0 = process.cpuUsage();
          const w0 = performance.now();
          for (let j = 0; j < CHUNK; j++) fn();
          const w1 = performance.now();
          const d = process.cpuUsage(c0);
          cpu[n] += d.user + d.system;
          wall[n] += w1 - w0;
        }
        calls += CHUNK;
      }
      for (const n of names) out.cases[k]![n].push({ cpu: (calls / cpu[n]) * 1e6, wall: (calls / wall[n]) * 1000 });
    });
  }
  return out;
}

function runChild(backend: string, quick: boolean): Promise<RecordsChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/records-child.ts'), backend, quick ? 'quick' : 'full'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`records child (${backend}) exited ${code}: ${err}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as RecordsChildResult);
      } catch {
        reject(new Error(`records child (${backend}) printed no JSON: ${out} ${err}`));
      }
    });
  });
}

export async function benchRecords(opts: { quick: boolean }): Promise<Row[]> {
  const how = `SecureChannel.sealAudio + openAudio on its peer (payload encode/decode in format 2, counter checks, per-record key lookup) per record, each crypto back end in its own child process (bench/records-child.ts: one back end per process, as in an app); rate per second of process CPU time (process.cpuUsage, GC helper threads included), median of ${ROUNDS} rounds; in each round the figure and both baselines alternate in chunks of 64 calls (the order turning around at every step) and each one's CPU time is summed, so all three see the same moments of the machine; after a warm-up, ${opts.quick ? 150 : 1800} ms per case and function; 16 kbps frames of fixtures/audio/toy-hello.wav; baselines in the same child on the same payload bytes: ChaCha20-Poly1305 seal + open straight on node:crypto (createCipheriv/createDecipheriv) and on @noble/ciphers`;
  const rows: Row[] = [];
  const results: RecordsChildResult[] = [];
  for (const b of BENCH_BACKENDS) results.push(await runChild(b.name, opts.quick));
  FRAMES.forEach((frames, k) => {
    const label = `${frames * 20} ms (${frames} frame${frames > 1 ? 's' : ''})`;
    for (const b of BENCH_BACKENDS) {
      const r = results.find((x) => x.backend === b.name)!.cases[k]!;
      const med = (l: Rate[], f: (x: Rate) => number = (x) => x.cpu): number => median(l.map(f));
      const value = med(r.plushlink);
      const rawNode = med(r.rawNode);
      const rawNoble = med(r.rawNoble);
      const ownRaw = b.name === 'node' ? rawNode : rawNoble;
      const lib = b.name === 'node' ? 'node:crypto' : '@noble/ciphers';
      rows.push(
        row({
          key: 'recordsPerSecond',
          variant: withBackend(label, b),
          backend: b.name,
          value,
          unit: 'records/s (seal+open)',
          baselines: { 'raw node:crypto ChaCha20-Poly1305 seal+open': rawNode, 'raw @noble/ciphers seal+open': rawNoble },
          ...(b.name === 'node' && frames === 3 ? { goal: { op: '>=' as const, target: 40_000 } } : {}),
          how,
          extra: {
            plaintextBytes: r.avgPayload,
            wallClockRate: med(r.plushlink, (x) => x.wall),
            rawNodeWallClockRate: med(r.rawNode, (x) => x.wall),
            ratioToRawNode: value / rawNode,
            ratioToOwnRaw: value / ownRaw,
            // the spread of the per-round ratios (same round, side by side)
            ratioMin: Math.min(...r.plushlink.map((x, i) => x.cpu / (b.name === 'node' ? r.rawNode : r.rawNoble)[i]!.cpu)),
            ratioMax: Math.max(...r.plushlink.map((x, i) => x.cpu / (b.name === 'node' ? r.rawNode : r.rawNoble)[i]!.cpu)),
          },
        }),
        row({
          key: 'recordsToRawAead',
          variant: withBackend(label, b),
          backend: b.name,
          value: value / ownRaw,
          unit: `× raw ${lib} AEAD rate`,
          baselines: { 'raw AEAD (= 1)': 1, [`records/s of the raw ${lib} AEAD`]: ownRaw },
          ...(b.name === 'node' ? { goal: { op: '>=' as const, target: 0.8 } } : {}),
          how: 'recordsPerSecond ÷ the raw AEAD seal+open rate of the same back end’s library on the same payload bytes, measured interleaved in the same child process and rounds (medians); extra of recordsPerSecond: the min and max of the per-round ratios',
        }),
      );
    }
  });
  return rows;
}
