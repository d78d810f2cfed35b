/**
 * Audio record format 2 (docs/PROTOCOL.md §9): equal-size frames without a length table, written
 * only to a peer that announced it in its hello; a party that announced it reads both formats.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AUDIO_FORMATS_SUPPORTED,
  AUDIO_FORMATS_V1,
  AudioFormats,
  audioFrameJoinsBatch,
  audioPayloadFrameCount,
  audioPayloadSize,
  decodeAudioPayload,
  encodeAudioPayload,
  usesEqualFrames,
} from '../../../src/protocol/audio-record.js';
import { SecureChannel } from '../../../src/protocol/channel.js';
import { randomBytes } from '../../../src/protocol/crypto.js';
import { decodeCompanionHello, encodeCompanionHello } from '../../../src/protocol/handshake.js';
import { isPlushlinkError } from '../../../src/protocol/errors.js';
import { RECORD_OVERHEAD } from '../../../src/protocol/record.js';

const FC = { seed: 917, numRuns: 200 };
const frameArb = (len: fc.Arbitrary<number>) => len.chain((l) => fc.uint8Array({ minLength: l, maxLength: l }));
const code = (fn: () => unknown): string => {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return isPlushlinkError(e) ? e.code : String(e);
  }
};

function pair(peerAudioFormats?: number): [SecureChannel, SecureChannel] {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  const hh = randomBytes(64);
  return [new SecureChannel({ sendKey: k1, receiveKey: k2, handshakeHash: hh }, peerAudioFormats === undefined ? {} : { peerAudioFormats }), new SecureChannel({ sendKey: k2, receiveKey: k1, handshakeHash: hh })];
}

describe('audio record formats', () => {
  it('round trip in both formats for any frames; format 2 exactly when the peer reads it and 2+ frames share one size', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: 1, max: 255 }).chain((l) => fc.array(frameArb(fc.constant(l)), { minLength: 1, maxLength: 64 })),
          fc.array(frameArb(fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 64 }),
        ),
        fc.constantFrom(AUDIO_FORMATS_V1, AUDIO_FORMATS_SUPPORTED),
        (frames, formats) => {
          const p = encodeAudioPayload(frames, formats);
          const lengths = frames.map((f) => f.length);
          const equal = usesEqualFrames(lengths, formats);
          expect(equal).toBe(formats === AUDIO_FORMATS_SUPPORTED && frames.length >= 2 && lengths.every((l) => l === lengths[0]));
          expect((p[0]! & 0x80) !== 0).toBe(equal);
          expect(p.length).toBe(audioPayloadSize(lengths, formats));
          expect(p.length).toBe(lengths.reduce((a, l) => a + l, 0) + (equal ? 1 : frames.length));
          expect(audioPayloadFrameCount(p)).toBe(frames.length);
          expect(decodeAudioPayload(p)).toEqual(frames);
        },
      ),
      FC,
    );
  });

  it('refuses malformed format-2 payloads with BAD_AUDIO, whatever the bytes (never another error)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 400 }), (p) => {
        const r = code(() => decodeAudioPayload(p));
        if (r === 'ok') {
          const frames = decodeAudioPayload(p);
          expect(frames.length).toBe(audioPayloadFrameCount(p));
          for (const f of frames) expect(f.length >= 1 && f.length <= 255).toBe(true);
        } else expect(r).toBe('BAD_AUDIO');
      }),
      FC,
    );
    expect(code(() => decodeAudioPayload(new Uint8Array([0x80])))).toBe('BAD_AUDIO');
    expect(code(() => decodeAudioPayload(new Uint8Array([0x82, 1, 2, 3])))).toBe('BAD_AUDIO');
    expect(code(() => decodeAudioPayload(new Uint8Array([0x82])))).toBe('BAD_AUDIO');
    expect(code(() => decodeAudioPayload(new Uint8Array(257).fill(1, 1).map((x, i) => (i === 0 ? 0x81 : x))))).toBe('BAD_AUDIO');
  });

  it('the batching limit counts the record in the format it will be sent in', () => {
    // 16 kbps frames of 40 bytes at MTU 247 (244 bytes per ATT value): 4 in format 1, 5 in format 2.
    const five = [40, 40, 40, 40];
    expect(audioFrameJoinsBatch(five.slice(0, 3), 40, 244)).toBe(true); // 1 + 20 + 4 + 160 = 185
    expect(audioFrameJoinsBatch(five, 40, 244)).toBe(true); // format 1: 1 + 20 + 5 + 200 = 226
    expect(audioFrameJoinsBatch(five, 40, 244, AUDIO_FORMATS_SUPPORTED)).toBe(true); // format 2: 1 + 20 + 1 + 200 = 222
    expect(audioFrameJoinsBatch([...five, 40], 40, 244, AUDIO_FORMATS_SUPPORTED)).toBe(false); // 262
    // MTU 185 (182 per value): 4 frames fit exactly in format 2, not in format 1.
    expect(1 + RECORD_OVERHEAD + audioPayloadSize([40, 40, 40, 40], AUDIO_FORMATS_SUPPORTED)).toBe(182);
    expect(audioFrameJoinsBatch([40, 40, 40], 40, 182, AUDIO_FORMATS_SUPPORTED)).toBe(true);
    expect(audioFrameJoinsBatch([40, 40, 40], 40, 182)).toBe(false);
  });

  it('a channel writes format 2 only to a peer that announced it; its peer opens either', () => {
    const frames = [new Uint8Array(40).fill(1), new Uint8Array(40).fill(2), new Uint8Array(40).fill(3)];
    for (const [formats, size] of [
      [undefined, 4 + 1 + 2 + 120 + 16],
      [AUDIO_FORMATS_V1, 4 + 1 + 2 + 120 + 16],
      [AUDIO_FORMATS_SUPPORTED, 4 + 1 + 120 + 16],
    ] as const) {
      const [a, b] = pair(formats);
      const { record, firstFrame } = a.sealAudio(frames);
      expect(record.length).toBe(size);
      const batch = b.openAudio(record);
      expect(batch.firstFrame).toBe(firstFrame);
      expect(batch.frames).toEqual(frames);
    }
  });

  it('the hello item: absent means format 1 only; readers keep format 1 and ignore bits they do not know', () => {
    expect(decodeCompanionHello(encodeCompanionHello({ displayName: 'x' })).audioFormats).toBeUndefined();
    const with3 = encodeCompanionHello({ displayName: 'x', audioFormats: AUDIO_FORMATS_SUPPORTED });
    expect(Buffer.from(with3).toString('hex')).toBe('01010178020103');
    expect(decodeCompanionHello(with3).audioFormats).toBe(3);
    // A later party announcing a format 3 (bit 2) and, wrongly, not format 1: this reader sees 1 | 2 | 4.
    const later = Uint8Array.from([...with3.subarray(0, -1), 0x06]);
    expect(decodeCompanionHello(later).audioFormats! & (AudioFormats.TABLE | AudioFormats.EQUAL_FRAMES)).toBe(3);
    expect(code(() => decodeCompanionHello(Uint8Array.from([...with3.subarray(0, -2), 2, 3, 3])))).toBe('BAD_PAYLOAD');
  });
});
