/**
 * Opus packet framing (RFC 6716 §3): TOC byte, frame count and duration, and the packet validity
 * rules R1–R7. Pure, no I/O. Used to validate packets before they reach the wasm decoder, to compute
 * packet durations for Ogg granule positions, and to build the 1-byte loss-concealment packet.
 */
import { PlushlinkError } from '../protocol/errors.js';

/** Opus operating mode of a packet, from its TOC configuration number. */
export type OpusMode = 'silk' | 'hybrid' | 'celt';
/** Audio bandwidth of a packet: narrow-, medium-, wide-, super-wide- or full-band. */
export type OpusBandwidth = 'nb' | 'mb' | 'wb' | 'swb' | 'fb';

/** What the framing of one Opus packet says. */
export interface OpusPacketInfo {
  /** TOC configuration number 0..31. */
  config: number;
  mode: OpusMode;
  bandwidth: OpusBandwidth;
  stereo: boolean;
  /** Number of Opus frames in the packet (1..48). */
  frameCount: number;
  /** Duration of one frame in samples at 48 kHz (120..2880). */
  frameSamples48k: number;
  /** Duration of the whole packet in samples at 48 kHz (≤ 5760, i.e. 120 ms). */
  samples48k: number;
}

/** Largest Opus frame in bytes (RFC 6716 R2). */
export const OPUS_MAX_FRAME_BYTES = 1275;
/** Longest Opus packet in samples at 48 kHz (120 ms, RFC 6716 R5). */
export const OPUS_MAX_PACKET_SAMPLES_48K = 5760;

const SILK_DUR = [480, 960, 1920, 2880] as const;
const CELT_DUR = [120, 240, 480, 960] as const;

/** Duration in 48 kHz samples of one frame of TOC configuration `config` (0..31). */
export function opusConfigFrameSamples48k(config: number): number {
  if (config < 12) return SILK_DUR[config & 3]!;
  if (config < 16) return (config & 1) === 0 ? 480 : 960;
  return CELT_DUR[config & 3]!;
}

function modeAndBandwidth(config: number): [OpusMode, OpusBandwidth] {
  if (config < 12) return ['silk', (['nb', 'mb', 'wb'] as const)[config >> 2]!];
  if (config < 16) return ['hybrid', config < 14 ? 'swb' : 'fb'];
  return ['celt', (['nb', 'wb', 'swb', 'fb'] as const)[(config - 16) >> 2]!];
}

function bad(reason: string, detail?: Record<string, unknown>): PlushlinkError {
  return new PlushlinkError('CODEC_ERROR', `invalid Opus packet: ${reason}`, detail);
}

/**
 * Parses and validates the framing of an Opus packet (RFC 6716 §3.2–3.4, rules R1–R7).
 * Does not look inside the compressed frames (Opus has no integrity check of its own).
 * @throws PlushlinkError `CODEC_ERROR` when the framing is invalid.
 */
export function parseOpusPacket(packet: Uint8Array): OpusPacketInfo {
  const len = packet.length;
  if (len < 1) throw bad('empty packet (R1)');
  const toc = packet[0]!;
  const config = toc >> 3;
  const stereo = (toc & 0x04) !== 0;
  const code = toc & 0x03;
  const frameSamples48k = opusConfigFrameSamples48k(config);
  const [mode, bandwidth] = modeAndBandwidth(config);
  let frameCount: number;
  switch (code) {
    case 0:
      if (len - 1 > OPUS_MAX_FRAME_BYTES) throw bad('frame longer than 1275 bytes (R2)');
      frameCount = 1;
      break;
    case 1:
      if ((len - 1) % 2 !== 0) throw bad('code 1 packet with odd payload length (R3)');
      if ((len - 1) / 2 > OPUS_MAX_FRAME_BYTES) throw bad('frame longer than 1275 bytes (R2)');
      frameCount = 2;
      break;
    case 2: {
      if (len < 2) throw bad('code 2 packet without frame length (R4)');
      let off = 1;
      let n1 = packet[off++]!;
      if (n1 >= 252) {
        if (len < 3) throw bad('code 2 packet with truncated frame length (R4)');
        n1 += 4 * packet[off++]!;
      }
      if (n1 > len - off) throw bad('code 2 first frame overruns packet (R4)');
      if (n1 > OPUS_MAX_FRAME_BYTES || len - off - n1 > OPUS_MAX_FRAME_BYTES) throw bad('frame longer than 1275 bytes (R2)');
      frameCount = 2;
      break;
    }
    default: {
      if (len < 2) throw bad('code 3 packet without frame count (R6)');
      const fc = packet[1]!;
      const vbr = (fc & 0x80) !== 0;
      const padded = (fc & 0x40) !== 0;
      const m = fc & 0x3f;
      if (m === 0) throw bad('code 3 packet with zero frames (R5)');
      if (m * frameSamples48k > OPUS_MAX_PACKET_SAMPLES_48K) throw bad('packet longer than 120 ms (R5)');
      let off = 2;
      let padding = 0;
      if (padded) {
        for (;;) {
          if (off >= len) throw bad('truncated padding length (R6/R7)');
          const p = packet[off++]!;
          padding += p === 255 ? 254 : p;
          if (p !== 255) break;
        }
      }
      const end = len - padding; // frame data lives in [off, end)
      if (end < off) throw bad('padding overruns packet (R6/R7)');
      if (vbr) {
        let sized = 0;
        for (let i = 0; i < m - 1; i++) {
          if (off >= end) throw bad('truncated frame length (R7)');
          let n = packet[off++]!;
          if (n >= 252) {
            if (off >= end) throw bad('truncated frame length (R7)');
            n += 4 * packet[off++]!;
          }
          if (n > OPUS_MAX_FRAME_BYTES) throw bad('frame longer than 1275 bytes (R2)');
          sized += n;
        }
        const last = end - off - sized;
        if (last < 0) throw bad('frames overrun packet (R7)');
        if (last > OPUS_MAX_FRAME_BYTES) throw bad('frame longer than 1275 bytes (R2)');
      } else {
        const payload = end - off;
        if (payload % m !== 0) throw bad('CBR payload not a multiple of the frame count (R6)');
        if (payload / m > OPUS_MAX_FRAME_BYTES) throw bad('frame longer than 1275 bytes (R2)');
      }
      frameCount = m;
      break;
    }
  }
  return {
    config,
    mode,
    bandwidth,
    stereo,
    frameCount,
    frameSamples48k,
    samples48k: frameCount * frameSamples48k,
  };
}

/**
 * The 1-byte packet that makes a decoder conceal exactly one 20 ms frame: the TOC of the previous
 * packet's mode, bandwidth and channel count, with the configuration moved to its 20 ms variant and
 * the frame-count code cleared, and no frame data. libopus treats a zero-length frame as lost and
 * runs its packet-loss concealment for the frame's duration.
 * @param prevToc TOC byte of the last packet decoded, or undefined before the first one
 *   (then a SILK wide-band mono TOC, 0x48, is used).
 */
export function concealmentPacket(prevToc?: number): Uint8Array {
  if (prevToc === undefined) return Uint8Array.of(0x48);
  const config = prevToc >> 3;
  let c20: number;
  if (config < 12) c20 = (config & ~3) | 1;
  else if (config < 16) c20 = (config & ~1) | 1;
  else c20 = (config & ~3) | 3;
  return Uint8Array.of((c20 << 3) | (prevToc & 0x04));
}
