/**
 * src/protocol/bytes.ts: the byte helpers every layer relies on. Base64 and base64url carry
 * family keys and relay signatures (docs/MESSAGES.md, docs/RELAY.md), so each byte string must
 * have exactly one accepted encoding; hex carries stored keys; bytesEqual compares MACs and keys.
 * Checked against Node's own encoders (an independent implementation) and on hand-picked edges.
 */
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesEqual, concatBytes, fromBase64, fromBase64Url, fromHex, fromUtf8, toBase64, toBase64Url, toHex, utf8, wipe } from '../../../src/protocol/bytes.js';

const SEED = 20_261_202;
const u8 = (...b: number[]): Uint8Array => Uint8Array.from(b);

describe('base64 (RFC 4648 §4, padded, strict)', () => {
  it('encodes like Node for every length 0..40 and random bytes, and decodes back', () => {
    for (let n = 0; n <= 40; n++) {
      const b = Uint8Array.from({ length: n }, (_, i) => (i * 73 + n * 11 + 0xa5) & 0xff);
      const s = toBase64(b);
      expect(s).toBe(Buffer.from(b).toString('base64'));
      expect(fromBase64(s)).toEqual(b);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        const s = toBase64(b);
        expect(s).toBe(Buffer.from(b).toString('base64'));
        expect(fromBase64(s)).toEqual(b);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('the three tails: no padding, one = and two =', () => {
    expect(toBase64(u8())).toBe('');
    expect(toBase64(u8(0xff))).toBe('/w==');
    expect(toBase64(u8(0xff, 0xfe))).toBe('//4=');
    expect(toBase64(u8(0xfb, 0xff, 0xbf))).toBe('+/+/');
    expect(fromBase64('')).toEqual(u8());
    expect(fromBase64('/w==')).toEqual(u8(0xff));
    expect(fromBase64('//4=')).toEqual(u8(0xff, 0xfe));
    expect(fromBase64('+/+/')).toEqual(u8(0xfb, 0xff, 0xbf));
  });

  it('refuses every non-canonical or foreign form with a TypeError', () => {
    for (const bad of [
      'QQ', // no padding
      'QQ=', // length not a multiple of 4
      'Q===', // three pads
      'QR==', // non-zero trailing bits (the canonical form of 0x41 is QQ==)
      'QUF=', // non-zero trailing bits with one pad (QUE= is canonical)
      'QQ==QQ==', // padding in the middle
      'QQ-_', // base64url alphabet
      'QU E', // space
      'QUE\n',
      '====',
    ]) {
      expect(() => fromBase64(bad), bad).toThrow(TypeError);
    }
    expect(() => fromBase64(undefined as unknown as string)).toThrow(TypeError);
    expect(fromBase64('QQ==')).toEqual(u8(0x41));
    expect(fromBase64('QUE=')).toEqual(u8(0x41, 0x41));
  });
});

describe('base64url (RFC 4648 §5, unpadded, strict)', () => {
  it('encodes like Node for random bytes and decodes back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        const s = toBase64Url(b);
        expect(s).toBe(Buffer.from(b).toString('base64url'));
        expect(fromBase64Url(s)).toEqual(b);
      }),
      { seed: SEED, numRuns: 300 },
    );
    expect(toBase64Url(u8(0xfb, 0xff, 0xbf))).toBe('-_-_');
    expect(toBase64Url(u8(0xff))).toBe('_w');
    expect(fromBase64Url('_w')).toEqual(u8(0xff));
    expect(fromBase64Url('__4')).toEqual(u8(0xff, 0xfe));
  });

  it('refuses padding, the standard alphabet, a length of 4n+1 and non-canonical tails', () => {
    for (const bad of ['_w==', '_w=', '+/+/', 'QUFBQ', 'Q', 'QR', 'QUF', 'a b']) {
      expect(() => fromBase64Url(bad), bad).toThrow(TypeError);
    }
    expect(() => fromBase64Url(7 as unknown as string)).toThrow(TypeError);
  });
});

describe('hex, UTF-8, comparison and the rest', () => {
  it('hex round-trips in lower case, reads upper case, refuses odd lengths and non-hex', () => {
    expect(toHex(u8(0, 1, 0xab, 0xff))).toBe('0001abff');
    expect(fromHex('0001ABff')).toEqual(u8(0, 1, 0xab, 0xff));
    expect(fromHex('')).toEqual(u8());
    for (const bad of ['0', 'abc', '0g', 'zz', ' 00', '0x00']) expect(() => fromHex(bad), bad).toThrow(TypeError);
  });

  it('bytesEqual: equal content only, length first', () => {
    expect(bytesEqual(u8(1, 2, 3), u8(1, 2, 3))).toBe(true);
    expect(bytesEqual(u8(), u8())).toBe(true);
    expect(bytesEqual(u8(1, 2, 3), u8(1, 2))).toBe(false);
    expect(bytesEqual(u8(1, 2), u8(1, 2, 0))).toBe(false);
    expect(bytesEqual(u8(1, 2, 3), u8(1, 2, 4))).toBe(false);
    expect(bytesEqual(u8(0, 2, 3), u8(1, 2, 3))).toBe(false);
  });

  it('concatBytes, strict UTF-8 and wipe', () => {
    expect(concatBytes(u8(1), u8(), u8(2, 3))).toEqual(u8(1, 2, 3));
    expect(concatBytes()).toEqual(u8());
    expect(fromUtf8(utf8('Mia 🧸'))).toBe('Mia 🧸');
    expect(() => fromUtf8(u8(0xc3))).toThrow(TypeError);
    const secret = u8(9, 9, 9);
    wipe(secret);
    expect(secret).toEqual(u8(0, 0, 0));
    expect(() => wipe(undefined)).not.toThrow();
  });
});
