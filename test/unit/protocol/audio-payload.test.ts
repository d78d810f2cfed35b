/**
 * Audio payload encoding at its edges (src/protocol/audio-record.ts, PROTOCOL.md §9): a record
 * holds 1..64 frames of 1..255 bytes in either format, and the scratch-buffer encoder used by the
 * record layer gives exactly the bytes of the plain encoder — into the scratch when it is long
 * enough (equality included), never truncated into one that is too short.
 */
import { describe, expect, it } from 'vitest';
import { AUDIO_FORMATS_SUPPORTED, MAX_FRAME_BYTES, decodeAudioPayload, encodeAudioPayload, encodeAudioPayloadInto } from '../../../src/protocol/audio-record.js';
import { codeOf } from '../../helpers/errors.js';

const frame = (len: number, v: number): Uint8Array => new Uint8Array(len).fill(v);

describe('audio payload edges', () => {
  it('a record holds 1..64 frames: none and 65 are BAD_AUDIO in both formats', () => {
    for (const formats of [undefined, AUDIO_FORMATS_SUPPORTED]) {
      expect(codeOf(() => encodeAudioPayload([], formats))).toBe('BAD_AUDIO');
      expect(codeOf(() => encodeAudioPayloadInto(new Uint8Array(64), [], formats))).toBe('BAD_AUDIO');
      expect(codeOf(() => encodeAudioPayload(Array.from({ length: 65 }, () => frame(1, 1)), formats))).toBe('BAD_AUDIO');
      expect(decodeAudioPayload(encodeAudioPayload(Array.from({ length: 64 }, () => frame(1, 1)), formats))).toHaveLength(64);
    }
  });

  it('format 2 carries frames of exactly 255 bytes; the decoder refuses what does not divide into 1..255', () => {
    const big = [frame(MAX_FRAME_BYTES, 1), frame(MAX_FRAME_BYTES, 2)];
    const p = encodeAudioPayload(big, AUDIO_FORMATS_SUPPORTED);
    expect(p.length).toBe(1 + 2 * MAX_FRAME_BYTES); // format 2: one header byte
    expect(decodeAudioPayload(p)).toEqual(big);
    const tooBig = Uint8Array.of(0x80 | 2, ...new Uint8Array(2 * (MAX_FRAME_BYTES + 1)));
    expect(codeOf(() => decodeAudioPayload(tooBig))).toBe('BAD_AUDIO');
    expect(codeOf(() => decodeAudioPayload(Uint8Array.of(0x80 | 2, 1, 2, 3)))).toBe('BAD_AUDIO'); // 3 bytes for 2 frames
  });

  it('encodeAudioPayloadInto: the same bytes as encodeAudioPayload, in the scratch when it is long enough, never in a short one', () => {
    const frames = [frame(30, 7), frame(31, 8), frame(29, 9)];
    const want = encodeAudioPayload(frames);
    // exactly long enough: the output is a view of the scratch
    const exact = new Uint8Array(want.length);
    const a = encodeAudioPayloadInto(exact, frames);
    expect(a).toEqual(want);
    expect(a.buffer).toBe(exact.buffer);
    // longer: still the scratch, cut to the payload's length
    const long = new Uint8Array(want.length + 50).fill(0xee);
    const b = encodeAudioPayloadInto(long, frames);
    expect(b).toEqual(want);
    expect(b.buffer).toBe(long.buffer);
    // one byte short: a new array with every byte, and the scratch left alone
    const short = new Uint8Array(want.length - 1).fill(0xee);
    const c = encodeAudioPayloadInto(short, frames);
    expect(c).toEqual(want);
    expect(c.buffer).not.toBe(short.buffer);
    expect(short.every((x) => x === 0xee)).toBe(true);
    // no scratch
    expect(encodeAudioPayloadInto(undefined, frames)).toEqual(want);
    // format 2 the same way
    const eq = [frame(40, 1), frame(40, 2)];
    expect(encodeAudioPayloadInto(new Uint8Array(10), eq, AUDIO_FORMATS_SUPPORTED)).toEqual(encodeAudioPayload(eq, AUDIO_FORMATS_SUPPORTED));
  });
});
