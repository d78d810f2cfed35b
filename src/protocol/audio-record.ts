/**
 * Audio record payloads (PROTOCOL.md "Audio records"): several Opus frames batched into one
 * record. Plaintext = `n (u8, 1..64) || len_1 .. len_(n−1) (u8 each, 1..255) || frame_1 .. frame_n`;
 * the last frame takes the remaining bytes (1..255). The record counter is the sequence
 * number of the first frame and the record spans `n` counters, so a receiver knows exactly
 * how many frames a lost record held.
 */
import { PlushlinkError } from './errors.js';
import { DEFAULT_MAX_MESSAGE } from './fragment.js';
import { RECORD_OVERHEAD } from './record.js';

export const MAX_FRAMES_PER_RECORD = 64;
export const MAX_FRAME_BYTES = 255;

/** Plaintext size of an audio payload holding `frames`. */
export function audioPayloadSize(frameLengths: readonly number[]): number {
  let n = frameLengths.length;
  for (const l of frameLengths) n += l;
  return n; // 1 count byte + (n−1) length bytes + data
}

/**
 * The batching rule both senders follow (PROTOCOL.md §9): may a frame of `nextLength` bytes join
 * a batch of `batchLengths` in one audio record, given `attPayloadMax` (MTU − 3) bytes per ATT
 * value? Never when the record would exceed {@link DEFAULT_MAX_MESSAGE} bytes or
 * {@link MAX_FRAMES_PER_RECORD} frames; and where one frame fits one ATT value (single-fragment
 * header + record), only while the record still fits one. At MTUs too small for that, records
 * span fragments and only the first two limits (and the sender's latency budget) apply.
 */
export function audioFrameJoinsBatch(batchLengths: readonly number[], nextLength: number, attPayloadMax: number): boolean {
  if (batchLengths.length === 0) return true;
  if (batchLengths.length >= MAX_FRAMES_PER_RECORD) return false;
  const record = RECORD_OVERHEAD + audioPayloadSize([...batchLengths, nextLength]);
  if (record > DEFAULT_MAX_MESSAGE) return false;
  const fitsOne = 1 + RECORD_OVERHEAD + audioPayloadSize([nextLength]) <= attPayloadMax;
  return !fitsOne || 1 + record <= attPayloadMax;
}

export function encodeAudioPayload(frames: readonly Uint8Array[]): Uint8Array {
  const n = frames.length;
  if (n < 1 || n > MAX_FRAMES_PER_RECORD) throw new PlushlinkError('BAD_AUDIO', `an audio record holds 1..${MAX_FRAMES_PER_RECORD} frames, got ${n}`);
  const out = new Uint8Array(audioPayloadSize(frames.map((f) => f.length)));
  out[0] = n;
  let o = 1;
  for (let i = 0; i < n - 1; i++) out[o++] = frames[i]!.length;
  for (const f of frames) {
    if (f.length < 1 || f.length > MAX_FRAME_BYTES) throw new PlushlinkError('BAD_AUDIO', `an Opus frame must be 1..${MAX_FRAME_BYTES} bytes, got ${f.length}`);
    out.set(f, o);
    o += f.length;
  }
  return out;
}

/** Frame count of a payload (for the record counter span); throws BAD_AUDIO when malformed. */
export function audioPayloadFrameCount(p: Uint8Array): number {
  const n = p[0];
  if (n === undefined || n < 1 || n > MAX_FRAMES_PER_RECORD) throw new PlushlinkError('BAD_AUDIO', 'bad frame count');
  return n;
}

export function decodeAudioPayload(p: Uint8Array): Uint8Array[] {
  const n = audioPayloadFrameCount(p);
  if (p.length < n) throw new PlushlinkError('BAD_AUDIO', 'audio payload truncated in its length table');
  const lens: number[] = [];
  let sum = 0;
  for (let i = 0; i < n - 1; i++) {
    const l = p[1 + i]!;
    if (l < 1) throw new PlushlinkError('BAD_AUDIO', 'zero-length frame');
    lens.push(l);
    sum += l;
  }
  const last = p.length - n - sum;
  if (last < 1 || last > MAX_FRAME_BYTES) throw new PlushlinkError('BAD_AUDIO', 'audio payload length does not match its length table');
  lens.push(last);
  const frames: Uint8Array[] = [];
  let o = n;
  for (const l of lens) {
    frames.push(p.slice(o, o + l));
    o += l;
  }
  return frames;
}
