/**
 * What the toy's microcontroller computes, per handshake and per second of voice in each
 * direction, counted on the reference toy (bench/op-counter.ts: X25519 operations, SHA-512
 * blocks, ChaCha20 and Poly1305 blocks), and what that costs on a Cortex-M4 at 64 MHz (a common
 * BLE SoC clock, e.g. nRF52840), from published cycle counts of a common embedded library.
 *
 * Cycle counts: wolfSSL 5.6.4's benchmark on an STM32L4A6Z (Cortex-M4 at 80 MHz, GCC -Os, the
 * Thumb-2 assembly speed-ups on, no hardware crypto for these primitives), published in
 * wolfSSL's IDE/STM32Cube/STM32_Benchmarks.md (docs/BENCHMARK.md cites the figures). Throughputs
 * and times there are at 80 MHz; cycles = seconds × 80 MHz, then ms at 64 MHz = cycles / 64 000.
 */
import { encodePcm } from '../src/audio/opus-codec.js';
import { FRAG_START } from '../src/protocol/fragment.js';
import { MemoryRadio } from '../src/transport/memory/index.js';
import { measurePlay } from './overhead.js';
import { OpCounter, type OpCounts } from './op-counter.js';
import { makeCompanion, makeToy, pairQr, readSpeech } from './rig.js';
import { row, type Row } from './report.js';

/** Clock of the budget the figures are given in. */
export const M4_MHZ = 64;
/** Clock of the published measurements. */
const SOURCE_MHZ = 80;

/**
 * Cycles per operation on a Cortex-M4, from wolfSSL 5.6.4 on STM32L4A6Z at 80 MHz:
 * CURVE 25519 agree 31.625 ms, key gen 31.969 ms; SHA-512 337.838 KiB/s; CHACHA 2.894 MiB/s;
 * POLY1305 7.227 MiB/s (1 KiB blocks); CHA-POLY 1.775 MiB/s (the AEAD as a whole, for the
 * cross-check in docs/BENCHMARK.md).
 */
export const M4_CYCLES = {
  x25519: Math.round(0.031625 * SOURCE_MHZ * 1e6),
  x25519Keygen: Math.round(0.031969 * SOURCE_MHZ * 1e6),
  sha512Block: Math.round((128 / (337.838 * 1024)) * SOURCE_MHZ * 1e6),
  chachaBlock: Math.round((64 / (2.894 * 1024 * 1024)) * SOURCE_MHZ * 1e6),
  polyBlock: Math.round((16 / (7.227 * 1024 * 1024)) * SOURCE_MHZ * 1e6),
  aeadPerByte: (1 / (1.775 * 1024 * 1024)) * SOURCE_MHZ * 1e6,
} as const;

export function m4Cycles(c: OpCounts): number {
  return c.x25519 * M4_CYCLES.x25519 + c.x25519Base * M4_CYCLES.x25519Keygen + c.sha512Blocks * M4_CYCLES.sha512Block + c.chachaBlocks * M4_CYCLES.chachaBlock + c.polyBlocks * M4_CYCLES.polyBlock;
}

const ms = (cycles: number): number => cycles / (M4_MHZ * 1000);

const SOURCE = 'wolfSSL 5.6.4 on STM32L4A6Z (Cortex-M4, 80 MHz), IDE/STM32Cube/STM32_Benchmarks.md';

function countsExtra(c: OpCounts, per = 1): Record<string, number> {
  return {
    x25519: c.x25519 / per,
    x25519Keygen: c.x25519Base / per,
    sha512Blocks: c.sha512Blocks / per,
    aeadCalls: c.aeadCalls / per,
    aeadBytes: c.aeadBytes / per,
    aeadAdBytes: c.aeadAdBytes / per,
    chachaBlocks: c.chachaBlocks / per,
    polyBlocks: c.polyBlocks / per,
    m4Cycles: m4Cycles(c) / per,
    m4MsX25519: ms((c.x25519 * M4_CYCLES.x25519 + c.x25519Base * M4_CYCLES.x25519Keygen) / per),
    m4MsSha512: ms((c.sha512Blocks * M4_CYCLES.sha512Block) / per),
    m4MsAead: ms((c.chachaBlocks * M4_CYCLES.chachaBlock + c.polyBlocks * M4_CYCLES.polyBlock) / per),
  };
}

/** A toy-side handshake cost row from the counts of one handshake on the radio. */
export function handshakeCostRow(variant: string, c: OpCounts): Row {
  return row({
    key: 'toyCostM4Ms',
    variant,
    value: ms(m4Cycles(c)),
    unit: `ms on a Cortex-M4 @ ${M4_MHZ} MHz`,
    baselines: { 'X25519 alone': ms(c.x25519 * M4_CYCLES.x25519 + c.x25519Base * M4_CYCLES.x25519Keygen) },
    how: `what the reference toy computes (bench/op-counter.ts wraps the crypto back end and attributes calls by call stack: X25519 with a peer key and key generation, SHA-512 blocks including HMAC/HKDF, ChaCha20 64-byte and Poly1305 16-byte blocks per RFC 8439) in one handshake on the radio, or per second of 16 kbps voice, × Cortex-M4 cycles per operation (${SOURCE}: X25519 ${M4_CYCLES.x25519.toLocaleString('en-US')}, key generation ${M4_CYCLES.x25519Keygen.toLocaleString('en-US')}, SHA-512 block ${M4_CYCLES.sha512Block.toLocaleString('en-US')}, ChaCha20 block ${M4_CYCLES.chachaBlock}, Poly1305 block ${M4_CYCLES.polyBlock}), ÷ ${M4_MHZ} MHz; per second: ms of CPU per second of voice (÷ 10 = % of the core)`,
    extra: countsExtra(c),
  });
}

function voiceRow(variant: string, c: OpCounts, seconds: number, records: number): Row {
  return row({
    key: 'toyCostM4Ms',
    variant,
    value: ms(m4Cycles(c)) / seconds,
    unit: `ms per s of voice, Cortex-M4 @ ${M4_MHZ} MHz`,
    baselines: { 'AEAD at the published whole-AEAD rate (1 KiB calls)': ms((c.aeadBytes + c.aeadAdBytes) * M4_CYCLES.aeadPerByte) / seconds },
    how: '',
    extra: { ...countsExtra(c, seconds), records: records / seconds },
  });
}

/**
 * Per second of 16 kbps voice: the speaker (the toy opens records) for a recording (5-frame
 * records at MTU 247) and for a live source (3-frame records), and the microphone (the toy seals
 * its 4-frame records, PROTOCOL §13.7).
 */
export async function benchToyVoiceCost(opts: { quick: boolean }): Promise<Row[]> {
  const { packets: all } = encodePcm(readSpeech('toy-goodnight'), { bitrate: 16000 });
  const packets = opts.quick ? all.slice(0, 60) : all.slice(0, 200);
  const counter = new OpCounter();
  const rows: Row[] = [];

  // Speaker, recorded source.
  counter.install();
  let rec;
  try {
    rec = await measurePlay(packets, 247, undefined, () => counter.reset()); // from the first audio on: not the handshake
  } finally {
    counter.uninstall();
  }
  rows.push(voiceRow('speaker, recorded 16 kbps (toy opens)', counter.counts.toy, rec.frames / 50, rec.records));

  // Speaker, live source at real time (a shorter clip: it plays in real time).
  const liveFrames = packets.slice(0, opts.quick ? 30 : 100);
  counter.install();
  let live;
  try {
    live = await measureLivePlay(liveFrames, () => counter.reset());
  } finally {
    counter.uninstall();
  }
  rows.push(voiceRow('speaker, live 16 kbps (toy opens)', counter.counts.toy, live.frames / 50, live.records));

  // Microphone: the toy seals what its microphone source yields, in real time.
  counter.install();
  let mic;
  try {
    mic = await measureMic(liveFrames, () => counter.reset());
  } finally {
    counter.uninstall();
  }
  rows.push(voiceRow('microphone, 16 kbps (toy seals)', counter.counts.toy, mic.frames / 50, mic.records));
  return rows;
}

/** A live play (frames released every 20 ms) on a fresh radio; counts frames and records. */
async function measureLivePlay(packets: Uint8Array[], onPaired: () => void): Promise<{ frames: number; records: number }> {
  const radio = new MemoryRadio({ timeScale: 1, seed: 13, advertisingIntervalMs: 0 });
  const toy = await makeToy(radio, { mtu: 247 });
  try {
    const c = await makeCompanion(radio, { mtu: 247 });
    const s = await pairQr(toy, c);
    await radio.settle();
    onPaired();
    async function* source(): AsyncGenerator<Uint8Array> {
      const t0 = performance.now();
      for (let k = 0; k < packets.length; k++) {
        const wait = t0 + 20 * (k + 1) - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        yield packets[k]!;
      }
    }
    const res = await s.speaker.play({ packets: source() });
    await s.close();
    return { frames: res.framesSent, records: res.records };
  } finally {
    await toy.toy.stop();
    await radio.close();
  }
}

/** The toy's microphone streaming `packets` (its source yields them; the toy paces them at 20 ms). */
async function measureMic(packets: Uint8Array[], onPaired: () => void): Promise<{ frames: number; records: number }> {
  const radio = new MemoryRadio({ timeScale: 1, seed: 17, advertisingIntervalMs: 0 });
  const toy = await makeToy(radio, { mtu: 247, microphone: () => packets });
  let records = 0;
  const onPdu = (t: { characteristic: string; direction: string; value: Uint8Array }): void => {
    if (t.characteristic === 'microphone' && t.direction === 'toCentral' && (t.value[0]! & FRAG_START) !== 0) records++;
  };
  radio.on('pdu', onPdu);
  try {
    const c = await makeCompanion(radio, { mtu: 247 });
    const s = await pairQr(toy, c);
    await radio.settle();
    onPaired();
    records = 0;
    const stream = await s.microphone.start();
    for await (const f of stream.frames()) void f; // until the toy's source ends (MIC_STATUS inactive)
    await s.close();
    return { frames: packets.length, records };
  } finally {
    radio.off('pdu', onPdu);
    await toy.toy.stop();
    await radio.close();
  }
}
