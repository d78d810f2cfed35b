/**
 * The audio batching rule at its exact edges (audioFrameJoinsBatch, PROTOCOL.md §9 and §13.7):
 * a record of exactly DEFAULT_MAX_MESSAGE bytes is allowed and one byte more is not; where one
 * frame fits one ATT value (single-fragment header + record ≤ MTU − 3, equality included), the
 * batch grows only while the whole record still fits one value, equality included. Sizes come
 * from the real encoder (encodeAudioPayload), not from the function under test.
 */
import { describe, expect, it } from 'vitest';
import { AUDIO_FORMATS_SUPPORTED, audioFrameJoinsBatch, encodeAudioPayload } from '../../../src/protocol/audio-record.js';
import { DEFAULT_MAX_MESSAGE } from '../../../src/protocol/fragment.js';
import { RECORD_OVERHEAD } from '../../../src/protocol/record.js';

const frames = (lengths: number[]): Uint8Array[] => lengths.map((l) => new Uint8Array(l).fill(0x11));
/** Bytes of the sealed record holding these frames (format 1, what a v1 peer reads). */
const recordBytes = (lengths: number[], formats?: number): number => RECORD_OVERHEAD + encodeAudioPayload(frames(lengths), formats).length;
/** One fragment carries a 1-byte header before the record (PROTOCOL.md §3). */
const ONE_FRAGMENT = 1;

describe('audioFrameJoinsBatch at its exact limits', () => {
  it('a record of exactly the message limit is allowed, one byte more is not (records may span fragments)', () => {
    const att = 20; // MTU 23: not even one frame fits a value, so only the message limit applies
    expect(recordBytes([255, 255, 255, 235])).toBe(DEFAULT_MAX_MESSAGE);
    expect(audioFrameJoinsBatch([255, 255, 255], 235, att)).toBe(true);
    expect(recordBytes([255, 255, 255, 236])).toBe(DEFAULT_MAX_MESSAGE + 1);
    expect(audioFrameJoinsBatch([255, 255, 255], 236, att)).toBe(false);
  });

  it('"one frame fits one value" is decided on the next frame alone, equality included', () => {
    const one = ONE_FRAGMENT + recordBytes([40]); // 62
    // exactly fits: the batch must then stay within one value, and [40, 40] does not
    expect(audioFrameJoinsBatch([40], 40, one)).toBe(false);
    // one byte short: a frame cannot fit a value anyway, so records span fragments and it joins
    expect(audioFrameJoinsBatch([40], 40, one - 1)).toBe(true);
    // far too small for the frame (though a record with no frame data would fit): it joins
    expect(ONE_FRAGMENT + RECORD_OVERHEAD + 1).toBeLessThanOrEqual(40);
    expect(audioFrameJoinsBatch([40], 40, 40)).toBe(true);
  });

  it('the batch grows while the whole record fits one value, equality included', () => {
    const both = ONE_FRAGMENT + recordBytes([40, 40]); // 103
    expect(audioFrameJoinsBatch([40], 40, both)).toBe(true);
    expect(audioFrameJoinsBatch([40], 40, both - 1)).toBe(false);
  });

  it('with format 2 (equal frames) the sizes are those of format 2', () => {
    const both = ONE_FRAGMENT + recordBytes([40, 40, 40], AUDIO_FORMATS_SUPPORTED);
    expect(both).toBeLessThan(ONE_FRAGMENT + recordBytes([40, 40, 40]));
    expect(audioFrameJoinsBatch([40, 40], 40, both, AUDIO_FORMATS_SUPPORTED)).toBe(true);
    expect(audioFrameJoinsBatch([40, 40], 40, both - 1, AUDIO_FORMATS_SUPPORTED)).toBe(false);
  });
});
