/**
 * Audio record payloads (docs/PROTOCOL.md §9): several 20 ms Opus frames batched into one
 * record. Two formats, told apart by the top bit of the first byte:
 *
 * - format 1: `n (u8, 1..64) || len_1 .. len_(n−1) (u8 each, 1..255) || frame_1 .. frame_n`;
 *   the last frame takes the remaining bytes (1..255);
 * - format 2 (frames of equal size, constant-bitrate voice): `0x80 | n || frame_1 .. frame_n`,
 *   every frame `(length − 1) / n` bytes (1..255, an exact division): no length table.
 *
 * A receiver that announced format 2 in its hello (§7) reads both; a sender writes format 2 only
 * to a peer that announced it. The record counter is the sequence number of the first frame and
 * the record spans `n` counters, so a receiver knows exactly how many frames a lost record held.
 */
import { PlushlinkError } from './errors.js';
import { DEFAULT_MAX_MESSAGE } from './fragment.js';
import { RECORD_OVERHEAD } from './record.js';

export const MAX_FRAMES_PER_RECORD = 64;
export const MAX_FRAME_BYTES = 255;

/** The duration of one Opus frame, in ms: plushlink voice is 20 ms frames (PROTOCOL.md §9). */
export const FRAME_MS = 20;

/**
 * The most frames the toy puts in one microphone record for a latency budget of `latencyBudgetMs`:
 * `floor(budget / 20 ms) + 1` (the first frame waits at most the budget for the later ones;
 * 60 ms → 4 frames; PROTOCOL.md §13.7).
 */
export function framesPerRecord(latencyBudgetMs: number): number {
  return Math.floor(latencyBudgetMs / FRAME_MS) + 1;
}

/**
 * Whole frames in `ms` of audio, at least one: the companion's cap on a speaker record of at most
 * `maxRecordMs` of audio (100 ms → 5 frames; PROTOCOL.md §9).
 */
export function framesIn(ms: number): number {
  return Math.max(1, Math.floor(ms / FRAME_MS));
}

/** Audio record formats as a bit field (the "audio formats" hello items, PROTOCOL §7 and §9). */
export const AudioFormats = {
  /** Format 1 (length table): every plushlink party reads it. */
  TABLE: 0x01,
  /** Format 2 (frames of equal size, no length table). */
  EQUAL_FRAMES: 0x02,
} as const;

/** The formats a party that says nothing about them reads: format 1 only. */
export const AUDIO_FORMATS_V1 = AudioFormats.TABLE;
/** The formats this implementation reads (and announces). */
export const AUDIO_FORMATS_SUPPORTED = AudioFormats.TABLE | AudioFormats.EQUAL_FRAMES;

const EQUAL_FLAG = 0x80;

function allEqual(lengths: readonly number[]): boolean {
  for (let i = 1; i < lengths.length; i++) if (lengths[i] !== lengths[0]) return false;
  return true;
}

/**
 * Whether a batch of frames goes out as format 2: the peer reads it (`peerFormats` bit 1), the
 * batch has 2 or more frames (for one frame both formats have the same size; format 1 keeps the
 * bytes a v1 peer reads) and all are the same size.
 */
export function usesEqualFrames(frameLengths: readonly number[], peerFormats: number): boolean {
  return (peerFormats & AudioFormats.EQUAL_FRAMES) !== 0 && frameLengths.length >= 2 && allEqual(frameLengths);
}

/** Plaintext size of an audio payload holding frames of these lengths, in the format the peer's formats select. */
export function audioPayloadSize(frameLengths: readonly number[], peerFormats: number = AUDIO_FORMATS_V1): number {
  let n = usesEqualFrames(frameLengths, peerFormats) ? 1 : frameLengths.length;
  for (const l of frameLengths) n += l;
  return n; // format 1: count + (n−1) lengths + data; format 2: header + data
}

/**
 * The batching limits both senders follow (PROTOCOL.md §9, §13.7): may a frame of `nextLength`
 * bytes join a batch of `batchLengths` in one audio record, given `attPayloadMax` (MTU − 3) bytes
 * per ATT value and the formats the peer reads? Never when the record would exceed
 * {@link DEFAULT_MAX_MESSAGE} bytes or {@link MAX_FRAMES_PER_RECORD} frames; and where one frame
 * fits one ATT value (single-fragment header + record), only while the record still fits one. At
 * MTUs too small for that, records span fragments and only the first two limits (and the
 * sender's time and size budget) apply.
 */
export function audioFrameJoinsBatch(batchLengths: readonly number[], nextLength: number, attPayloadMax: number, peerFormats: number = AUDIO_FORMATS_V1): boolean {
  if (batchLengths.length === 0) return true;
  if (batchLengths.length >= MAX_FRAMES_PER_RECORD) return false;
  const record = RECORD_OVERHEAD + audioPayloadSize([...batchLengths, nextLength], peerFormats);
  if (record > DEFAULT_MAX_MESSAGE) return false;
  const fitsOne = 1 + RECORD_OVERHEAD + audioPayloadSize([nextLength], peerFormats) <= attPayloadMax;
  return !fitsOne || 1 + record <= attPayloadMax;
}

function checkFrame(f: Uint8Array): void {
  if (f.length < 1 || f.length > MAX_FRAME_BYTES) throw new PlushlinkError('BAD_AUDIO', `an Opus frame must be 1..${MAX_FRAME_BYTES} bytes, got ${f.length}`);
}

/**
 * Encodes a batch of frames: format 2 when {@link usesEqualFrames} says so for `peerFormats`,
 * else format 1 (the default, `peerFormats` = format 1 only). Throws `BAD_AUDIO` for 0 or more
 * than 64 frames, or a frame outside 1..255 bytes.
 */
export function encodeAudioPayload(frames: readonly Uint8Array[], peerFormats: number = AUDIO_FORMATS_V1): Uint8Array {
  return encodeAudioPayloadInto(undefined, frames, peerFormats);
}

/**
 * {@link encodeAudioPayload} into `scratch` when it is large enough (the result is then a view of
 * it, valid until the next call with the same scratch), else into a new array. The record layer
 * seals the payload at once, so it reuses one scratch per channel.
 */
export function encodeAudioPayloadInto(scratch: Uint8Array | undefined, frames: readonly Uint8Array[], peerFormats: number = AUDIO_FORMATS_V1): Uint8Array {
  const n = frames.length;
  if (n < 1 || n > MAX_FRAMES_PER_RECORD) throw new PlushlinkError('BAD_AUDIO', `an audio record holds 1..${MAX_FRAMES_PER_RECORD} frames, got ${n}`);
  let data = 0;
  let equal = (peerFormats & AudioFormats.EQUAL_FRAMES) !== 0 && n >= 2;
  for (const f of frames) {
    checkFrame(f);
    data += f.length;
    if (f.length !== frames[0]!.length) equal = false;
  }
  const size = (equal ? 1 : n) + data;
  const out = scratch && scratch.length >= size ? scratch.subarray(0, size) : new Uint8Array(size);
  let o: number;
  if (equal) {
    out[0] = EQUAL_FLAG | n;
    o = 1;
  } else {
    out[0] = n;
    o = 1;
    for (let i = 0; i < n - 1; i++) out[o++] = frames[i]!.length;
  }
  for (const f of frames) {
    out.set(f, o);
    o += f.length;
  }
  return out;
}

/** Frame count of a payload of either format (for the record counter span); throws BAD_AUDIO when its first byte is not a count. */
export function audioPayloadFrameCount(p: Uint8Array): number {
  const h = p[0];
  const n = h === undefined ? 0 : h & ~EQUAL_FLAG;
  if (n < 1 || n > MAX_FRAMES_PER_RECORD) throw new PlushlinkError('BAD_AUDIO', 'bad frame count');
  return n;
}

/**
 * Decodes a payload of either format into its frames (views of `p`, no copies). Throws
 * `BAD_AUDIO` when malformed: a count outside 1..64 (first byte 0x00, 0x41–0x80, 0xC1–0xFF), a
 * zero length, lengths that do not add up, or (format 2) a length that `n` does not divide into
 * frames of 1..255 bytes.
 */
export function decodeAudioPayload(p: Uint8Array): Uint8Array[] {
  const n = audioPayloadFrameCount(p);
  const frames: Uint8Array[] = new Array<Uint8Array>(n);
  if ((p[0]! & EQUAL_FLAG) !== 0) {
    const data = p.length - 1;
    const size = data / n;
    if (!Number.isInteger(size) || size < 1 || size > MAX_FRAME_BYTES) throw new PlushlinkError('BAD_AUDIO', 'equal-size audio payload does not divide into frames of 1..255 bytes');
    for (let i = 0, o = 1; i < n; i++, o += size) frames[i] = p.subarray(o, o + size);
    return frames;
  }
  if (p.length < n) throw new PlushlinkError('BAD_AUDIO', 'audio payload truncated in its length table');
  let sum = 0;
  for (let i = 0; i < n - 1; i++) {
    const l = p[1 + i]!;
    if (l < 1) throw new PlushlinkError('BAD_AUDIO', 'zero-length frame');
    sum += l;
  }
  const last = p.length - n - sum;
  if (last < 1 || last > MAX_FRAME_BYTES) throw new PlushlinkError('BAD_AUDIO', 'audio payload length does not match its length table');
  let o = n;
  for (let i = 0; i < n; i++) {
    const l = i < n - 1 ? p[1 + i]! : last;
    frames[i] = p.subarray(o, o + l);
    o += l;
  }
  return frames;
}
