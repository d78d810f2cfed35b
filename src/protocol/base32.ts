/**
 * Crockford base32 (alphabet `0123456789ABCDEFGHJKMNPQRSTVWXYZ`: no I, L, O, U), used for
 * setup codes and QR payloads. Every character is in the QR alphanumeric set.
 */
import { PlushlinkError } from './errors.js';

export const CROCKFORD_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * Maps one typed character to its 5-bit value, folding the confusable characters
 * (O→0, I/L→1, lower case). Returns -1 for anything else.
 */
export function crockfordValue(ch: string): number {
  let c = ch.toUpperCase();
  if (c === 'O') c = '0';
  else if (c === 'I' || c === 'L') c = '1';
  return CROCKFORD_ALPHABET.indexOf(c);
}

/**
 * Encodes bytes as base32, most significant bit first, padding the last group with zero bits.
 * The alphabet is Crockford's unless another 32-character alphabet is given (the family key
 * codes use RFC 4648's).
 */
export function base32Encode(bytes: Uint8Array, alphabet: string = CROCKFORD_ALPHABET): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += alphabet[(acc << (5 - bits)) & 31];
  return out;
}

/**
 * Decodes Crockford base32 into exactly `byteLength` bytes. Throws `BAD_LENGTH` when the
 * character count does not fit and `BAD_SETUP_CODE` for a character outside the alphabet
 * or non-zero padding bits.
 */
export function base32Decode(text: string, byteLength: number): Uint8Array {
  const need = Math.ceil((byteLength * 8) / 5);
  if (text.length !== need) throw new PlushlinkError('BAD_LENGTH', `expected ${need} base32 characters, got ${text.length}`);
  const out = new Uint8Array(byteLength);
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (const ch of text) {
    const v = crockfordValue(ch);
    if (v < 0) throw new PlushlinkError('BAD_SETUP_CODE', `character "${ch}" is not allowed`);
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out[o++] = (acc >>> (bits - 8)) & 0xff;
      bits -= 8;
      acc &= (1 << bits) - 1;
    }
  }
  if (acc !== 0) throw new PlushlinkError('BAD_SETUP_CODE', 'non-zero padding bits');
  return out;
}
