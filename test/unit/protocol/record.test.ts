/** Record layer: epochs, rekey, counter exhaustion, refusal codes (PROTOCOL.md "Records"). */
import { describe, expect, it } from 'vitest';
import { EPOCH_SIZE, MAX_COUNTER, RECORD_OVERHEAD, RecordReceiver, RecordSender, channelKey, nextEpochKey } from '../../../src/protocol/record.js';
import { bytesEqual } from '../../../src/protocol/bytes.js';
import { audioFrameJoinsBatch, audioPayloadSize } from '../../../src/protocol/audio-record.js';
import { DEFAULT_MAX_MESSAGE } from '../../../src/protocol/fragment.js';
import { codeOf } from '../../helpers/errors.js';

const K = new Uint8Array(32).map((_, i) => i + 1);
const ctr = (r: Uint8Array): number => ((r[0]! << 24) >>> 0) + (r[1]! << 16) + (r[2]! << 8) + r[3]!;

describe('record layer', () => {
  it('a record is counter (u32 BE) || AEAD and adds RECORD_OVERHEAD bytes', () => {
    const s = new RecordSender(K);
    const r = s.seal(new Uint8Array([1, 2, 3]));
    expect(r.length).toBe(3 + RECORD_OVERHEAD);
    expect(ctr(r)).toBe(0);
    expect(ctr(s.seal(new Uint8Array(0), 5))).toBe(1);
    expect(s.counter).toBe(6);
  });

  it('channel keys differ per channel and the epoch chain is deterministic', () => {
    expect(bytesEqual(channelKey(K, 'control'), channelKey(K, 'audio'))).toBe(false);
    expect(bytesEqual(nextEpochKey(K), nextEpochKey(K))).toBe(true);
    expect(bytesEqual(nextEpochKey(K), K)).toBe(false);
  });

  it('a record that would straddle an epoch boundary moves to the next epoch; the receiver follows', () => {
    const s = new RecordSender(K);
    const r = new RecordReceiver(K);
    s.seal(new Uint8Array([0]), EPOCH_SIZE - 1); // counter now EPOCH_SIZE - 1
    const last0 = s.seal(new Uint8Array([1])); // uses EPOCH_SIZE - 1 (epoch 0)
    expect(ctr(last0)).toBe(EPOCH_SIZE - 1);
    const straddle = s.seal(new Uint8Array([2]), 3);
    expect(ctr(straddle)).toBe(EPOCH_SIZE);
    expect(s.epoch).toBe(1);
    expect(r.open(last0).plaintext).toEqual(new Uint8Array([1]));
    expect(r.open(straddle, 3).plaintext).toEqual(new Uint8Array([2]));
    expect(r.lastCounter).toBe(EPOCH_SIZE + 2);
  });

  it('rekey() jumps to the next epoch; records after it open, also with epochs skipped', () => {
    const s = new RecordSender(K);
    const r = new RecordReceiver(K);
    expect(r.open(s.seal(new Uint8Array([1]))).counter).toBe(0);
    s.rekey();
    s.rekey();
    s.rekey();
    const x = s.seal(new Uint8Array([9]));
    expect(ctr(x)).toBe(3 * EPOCH_SIZE);
    expect(r.open(x).plaintext).toEqual(new Uint8Array([9]));
    // epoch-1 records now count as replays
    expect(codeOf(() => r.open(new RecordSender(K).seal(new Uint8Array([1]), 1)))).toBe('REPLAYED_RECORD');
  });

  it('the counter space ends at MAX_COUNTER: NONCE_EXHAUSTED, never a repeat, and a failed call changes nothing', () => {
    const s = new RecordSender(K);
    const r = new RecordReceiver(K);
    for (let e = 1; e <= 255; e++) s.rekey();
    expect(s.epoch).toBe(255);
    const at = s.counter;
    expect(codeOf(() => s.rekey())).toBe('NONCE_EXHAUSTED');
    expect(s.counter).toBe(at);
    s.seal(new Uint8Array(0), MAX_COUNTER - at); // counter now MAX_COUNTER
    const last = s.seal(new Uint8Array([42]));
    expect(ctr(last)).toBe(MAX_COUNTER);
    expect(codeOf(() => s.seal(new Uint8Array([43])))).toBe('NONCE_EXHAUSTED');
    expect(s.counter).toBe(MAX_COUNTER + 1);
    expect(r.open(last).plaintext).toEqual(new Uint8Array([42]));
    // counter 2^32 − 1 is never valid
    const forged = Uint8Array.from(last);
    forged.set([0xff, 0xff, 0xff, 0xff], 0);
    expect(codeOf(() => new RecordReceiver(K).open(forged))).toBe('RECORD_AUTH_FAILED');
  });

  it('a span larger than an epoch is refused without touching the counter (regression)', () => {
    const s = new RecordSender(K);
    expect(() => s.seal(new Uint8Array(1), EPOCH_SIZE + 1)).toThrow(RangeError);
    expect(() => s.seal(new Uint8Array(1), 0)).toThrow(RangeError);
    expect(() => s.seal(new Uint8Array(1), 1.5)).toThrow(RangeError);
    expect(s.counter).toBe(0);
    expect(s.epoch).toBe(0);
  });

  it('refusal codes: BAD_RECORD (short), REPLAYED_RECORD (no state change), RECORD_AUTH_FAILED', () => {
    const s = new RecordSender(K);
    const r = new RecordReceiver(K);
    const a = s.seal(new Uint8Array([1]));
    const b = s.seal(new Uint8Array([2]));
    expect(codeOf(() => r.open(a.slice(0, RECORD_OVERHEAD - 1)))).toBe('BAD_RECORD');
    r.open(b);
    expect(codeOf(() => r.open(a))).toBe('REPLAYED_RECORD');
    expect(codeOf(() => r.open(b))).toBe('REPLAYED_RECORD');
    expect(r.lastCounter).toBe(1);
    const c = s.seal(new Uint8Array([3]));
    c[c.length - 1] = c[c.length - 1]! ^ 1;
    expect(codeOf(() => r.open(c))).toBe('RECORD_AUTH_FAILED');
    expect(r.lastCounter).toBe(1);
  });
});

describe('audio batching rule (audioFrameJoinsBatch)', () => {
  it('keeps a record in one ATT value where a frame fits one', () => {
    // MTU 247: 244 bytes per value; 1 + 20 + payload
    expect(audioFrameJoinsBatch([], 200, 244)).toBe(true);
    expect(audioFrameJoinsBatch([40, 40, 40], 40, 244)).toBe(true); // 1 + 20 + 164 = 185
    expect(audioFrameJoinsBatch([100, 100], 30, 244)).toBe(false); // 1 + 20 + 233 = 254 > 244
  });
  it('lets records span fragments where even one frame does not fit a value, up to 1024 bytes', () => {
    expect(audioFrameJoinsBatch([60], 60, 20)).toBe(true);
    expect(audioFrameJoinsBatch([255, 255], 255, 20)).toBe(true); // 20 + 768 = 788
    expect(audioFrameJoinsBatch([255, 255, 255], 255, 20)).toBe(false); // 20 + 1024 = 1044 > 1024
    expect(RECORD_OVERHEAD + audioPayloadSize([255, 255, 255, 255])).toBeGreaterThan(DEFAULT_MAX_MESSAGE);
  });
  it('never exceeds 64 frames', () => {
    expect(audioFrameJoinsBatch(new Array(63).fill(1), 1, 20)).toBe(true);
    expect(audioFrameJoinsBatch(new Array(64).fill(1), 1, 20)).toBe(false);
  });
});
