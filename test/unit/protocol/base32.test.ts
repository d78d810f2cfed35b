/**
 * Crockford base32 as setup codes use it (src/protocol/base32.ts, PROTOCOL.md §5): every byte
 * string has one encoding, typed look-alikes fold (O→0, I/L→1, any case), and anything outside
 * the alphabet — U included — is BAD_SETUP_CODE at the decoder itself, not only in the setup-code
 * parser above it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { base32Decode, base32Encode, CROCKFORD_ALPHABET } from '../../../src/protocol/base32.js';
import { codeOf } from '../../helpers/errors.js';


describe('Crockford base32', () => {
  it('round-trips any bytes, with exactly ceil(8n/5) characters of the alphabet', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
        const s = base32Encode(b);
        expect(s.length).toBe(Math.ceil((b.length * 8) / 5));
        expect([...s].every((c) => CROCKFORD_ALPHABET.includes(c))).toBe(true);
        expect(base32Decode(s, b.length)).toEqual(b);
        expect(base32Decode(s.toLowerCase(), b.length)).toEqual(b);
      }),
      { seed: 5151, numRuns: 300 },
    );
  });

  it('folds O→0 and I/L→1; refuses U and every character outside the alphabet with BAD_SETUP_CODE, wherever it stands', () => {
    const bytes = Uint8Array.of(0x08, 0x42, 0x10, 0x84, 0x21); // "11111111"
    expect(base32Encode(bytes)).toBe('11111111');
    expect(base32Decode('IiLl1111', 5)).toEqual(bytes);
    expect(base32Decode('0000000O'.replace(/0/g, 'o'), 5)).toEqual(new Uint8Array(5));
    for (const bad of ['U', 'u', '*', '!', '~', '-', ' ', '=', 'é']) {
      for (const at of [0, 3, 7]) {
        const t = '11111111'.slice(0, at) + bad + '11111111'.slice(at + 1);
        expect(codeOf(() => base32Decode(t, 5)), `${JSON.stringify(t)}`).toBe('BAD_SETUP_CODE');
      }
    }
  });

  it('a wrong length is BAD_LENGTH; non-zero padding bits are BAD_SETUP_CODE (one encoding per value)', () => {
    expect(codeOf(() => base32Decode('1111111', 5))).toBe('BAD_LENGTH');
    expect(codeOf(() => base32Decode('111111111', 5))).toBe('BAD_LENGTH');
    // 2 bytes = 16 bits → 4 characters, the last one carrying 4 padding bits
    expect(base32Decode('0000', 2)).toEqual(new Uint8Array(2));
    expect(codeOf(() => base32Decode('0001', 2))).toBe('BAD_SETUP_CODE');
    expect(base32Decode('000G', 2)).toEqual(Uint8Array.of(0, 1));
  });
});
