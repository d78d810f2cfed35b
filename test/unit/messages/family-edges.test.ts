/**
 * Family key codes and identity files at their edges (src/messages/family.ts, docs/MESSAGES.md):
 * the canonical-base32 rule (no leftover group of five bits, no set padding bit), characters
 * outside the alphabet, the version byte with its detail, an over-long payload refused as a bad
 * length rather than a bad checksum, keys of the wrong size, key equality needing both keys, and
 * identity files that are not objects. Written for survivors of the src/messages mutation run.
 */
import { describe, expect, it } from 'vitest';
import { concatBytes, toHex, utf8 } from '../../../src/protocol/bytes.js';
import { sha512 } from '../../../src/protocol/crypto.js';
import { PlushlinkError } from '../../../src/protocol/errors.js';
import {
  familyKeyCode,
  familyKeyFingerprint,
  familyPublicKey,
  generateFamilyIdentity,
  keyIdOf,
  parseFamilyIdentity,
  parseFamilyKeyCode,
  sameFamilyKey,
} from '../../../src/messages/index.js';
import { codeOf } from '../../helpers/errors.js';
import { errorOf } from '../../helpers/errors.js';

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** RFC 4648 base32 without padding (an independent encoder, for payloads the library would not make). */
function b32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}
function unb32(s: string): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of s) {
    value = (value << 5) | B32.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
    value &= (1 << bits) - 1;
  }
  return Uint8Array.from(out);
}

describe('family key codes: canonical base32 and the payload', () => {
  it('our encoder agrees with familyKeyCode', () => {
    const key = familyPublicKey(generateFamilyIdentity('Nonna'));
    const code = familyKeyCode(key);
    expect('PLFK:' + b32(unb32(code.slice(5)))).toBe(code);
  });

  it('a payload of 5n bytes ends on a symbol boundary: one more symbol (five zero bits) is refused, not ignored', () => {
    // 1 + 32 + 32 + 1 + 5 (name) + 4 = 75 bytes = 600 bits = 120 symbols exactly.
    const key = familyPublicKey(generateFamilyIdentity('Nonna'));
    const code = familyKeyCode(key);
    expect(code.length - 5).toBe(120);
    expect(sameFamilyKey(parseFamilyKeyCode(code), key)).toBe(true);
    expect(codeOf(() => parseFamilyKeyCode(code + 'A'))).toBe('BAD_QR_PAYLOAD');
  });

  it('a set padding bit in the last symbol is refused (one encoding per key)', () => {
    // 71 bytes = 568 bits → 114 symbols, the last carrying 3 data bits and 2 zero padding bits.
    const key = familyPublicKey(generateFamilyIdentity('M'));
    const code = familyKeyCode(key);
    expect(code.length - 5).toBe(114);
    const last = B32.indexOf(code.at(-1)!);
    expect(last & 3).toBe(0);
    for (const pad of [1, 2, 3]) expect(codeOf(() => parseFamilyKeyCode(code.slice(0, -1) + B32[last | pad]))).toBe('BAD_QR_PAYLOAD');
  });

  it('a character outside the base32 alphabet is BAD_QR_PAYLOAD wherever it is, never a checksum error', () => {
    const code = familyKeyCode(familyPublicKey(generateFamilyIdentity('Opa')));
    for (const ch of ['1', '0', '8', '9', '=', '-']) {
      for (const at of [5, 40, code.length - 1]) expect(codeOf(() => parseFamilyKeyCode(code.slice(0, at) + ch + code.slice(at + 1))), `${ch} at ${at}`).toBe('BAD_QR_PAYLOAD');
    }
  });

  it('a non-string is BAD_QR_PAYLOAD; an unknown version byte is UNKNOWN_VERSION with the version as detail, even alone', () => {
    expect(codeOf(() => parseFamilyKeyCode(42 as unknown as string))).toBe('BAD_QR_PAYLOAD');
    expect(codeOf(() => parseFamilyKeyCode(undefined as unknown as string))).toBe('BAD_QR_PAYLOAD');
    const e = errorOf(() => parseFamilyKeyCode('PLFK:' + b32(Uint8Array.of(2))));
    expect(e.code).toBe('UNKNOWN_VERSION');
    expect(e.detail).toEqual({ version: 2 });
    expect(codeOf(() => parseFamilyKeyCode('PLFK:' + b32(Uint8Array.of(1))))).toBe('BAD_QR_PAYLOAD');
  });

  it('bytes after the checksum are a wrong length (BAD_QR_PAYLOAD), not a checksum mismatch', () => {
    const code = familyKeyCode(familyPublicKey(generateFamilyIdentity('Nonna')));
    const raw = unb32(code.slice(5));
    for (const extra of [1, 5, 10]) {
      expect(codeOf(() => parseFamilyKeyCode('PLFK:' + b32(concatBytes(raw, new Uint8Array(extra))))), `${extra} extra`).toBe('BAD_QR_PAYLOAD');
    }
  });

  it('keys of the wrong size are INVALID_KEY for the code and the fingerprint, each key on its own', () => {
    const key = familyPublicKey(generateFamilyIdentity('Opa'));
    for (const bad of [
      { ...key, signPublicKey: key.signPublicKey.subarray(0, 31) },
      { ...key, boxPublicKey: key.boxPublicKey.subarray(0, 31) },
      { ...key, boxPublicKey: concatBytes(key.boxPublicKey, Uint8Array.of(0)) },
    ]) {
      expect(codeOf(() => familyKeyCode(bad))).toBe('INVALID_KEY');
      expect(codeOf(() => familyKeyFingerprint(bad))).toBe('INVALID_KEY');
    }
  });

  it('sameFamilyKey needs both keys equal', () => {
    const a = familyPublicKey(generateFamilyIdentity('A'));
    const b = familyPublicKey(generateFamilyIdentity('B'));
    expect(sameFamilyKey(a, { signPublicKey: Uint8Array.from(a.signPublicKey), boxPublicKey: Uint8Array.from(a.boxPublicKey) })).toBe(true);
    expect(sameFamilyKey(a, { signPublicKey: a.signPublicKey, boxPublicKey: b.boxPublicKey })).toBe(false);
    expect(sameFamilyKey(a, { signPublicKey: b.signPublicKey, boxPublicKey: a.boxPublicKey })).toBe(false);
    expect(sameFamilyKey(a, b)).toBe(false);
  });
});

describe('family key codes: the display name, behind a valid checksum', () => {
  /** A code with a correct checksum around `name` (raw bytes), as a careless or hostile encoder could make. */
  const codeWithName = (name: Uint8Array): string => {
    const key = familyPublicKey(generateFamilyIdentity('x'));
    const body = concatBytes(Uint8Array.of(1), key.signPublicKey, key.boxPublicKey, Uint8Array.of(name.length), name);
    const sum = sha512(concatBytes(utf8('plushlink/family-key-code/checksum'), body)).slice(0, 4);
    return 'PLFK:' + b32(concatBytes(body, sum));
  };
  it('our checksum matches: a plain name parses', () => {
    expect(parseFamilyKeyCode(codeWithName(utf8('Nonna'))).name).toBe('Nonna');
  });
  it('a name that is not UTF-8, or has control characters, is BAD_QR_PAYLOAD (the checksum does not make it valid)', () => {
    expect(codeOf(() => parseFamilyKeyCode(codeWithName(Uint8Array.of(0x4e, 0xff, 0x61))))).toBe('BAD_QR_PAYLOAD');
    expect(codeOf(() => parseFamilyKeyCode(codeWithName(Uint8Array.of(0xc3))))).toBe('BAD_QR_PAYLOAD');
    const ctl = errorOf(() => parseFamilyKeyCode(codeWithName(utf8('Nonna\u0007'))));
    expect(ctl.code).toBe('BAD_QR_PAYLOAD');
    // the name check's own error is kept as the cause
    expect((ctl as { cause?: unknown }).cause).toBeInstanceOf(PlushlinkError);
  });
  it('keyIdOf refuses a box key that is not 32 bytes', () => {
    expect(codeOf(() => keyIdOf(new Uint8Array(31)))).toBe('INVALID_KEY');
    expect(codeOf(() => keyIdOf(Array.from(new Uint8Array(32)) as unknown as Uint8Array))).toBe('INVALID_KEY');
    expect(keyIdOf(new Uint8Array(32)).length).toBe(16);
  });
});

describe('display names', () => {
  it('1..64 UTF-8 bytes: 64 is accepted, 65 and a non-string are BAD_PAYLOAD', () => {
    expect(generateFamilyIdentity('x'.repeat(64)).name).toBe('x'.repeat(64));
    expect(generateFamilyIdentity('é'.repeat(32)).name).toBe('é'.repeat(32));
    expect(codeOf(() => generateFamilyIdentity('x'.repeat(65)))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => generateFamilyIdentity(7 as unknown as string))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => generateFamilyIdentity(undefined as unknown as string))).toBe('BAD_PAYLOAD');
  });
});

describe('family identity files', () => {
  it('a missing or non-string field is KEYSTORE_CORRUPT', () => {
    const ok = { format: 'plushlink-family-identity', version: 1, name: 'Nonna', signSeed: toHex(new Uint8Array(32).fill(1)), boxSecret: toHex(new Uint8Array(32).fill(2)) };
    for (const k of ['name', 'signSeed', 'boxSecret'] as const) {
      expect(codeOf(() => parseFamilyIdentity(JSON.stringify({ ...ok, [k]: undefined }))), k).toBe('KEYSTORE_CORRUPT');
      expect(codeOf(() => parseFamilyIdentity(JSON.stringify({ ...ok, [k]: 5 }))), k).toBe('KEYSTORE_CORRUPT');
    }
  });

  it('JSON that is not an object, or null, is KEYSTORE_CORRUPT (never an untyped error)', () => {
    for (const json of ['null', '5', '"plushlink-family-identity"', '[]', 'true']) expect(codeOf(() => parseFamilyIdentity(json)), json).toBe('KEYSTORE_CORRUPT');
  });

  it('keys of the wrong length are KEYSTORE_CORRUPT', () => {
    const ok = { format: 'plushlink-family-identity', version: 1, name: 'Nonna', signSeed: toHex(new Uint8Array(32).fill(1)), boxSecret: toHex(new Uint8Array(32).fill(2)) };
    expect(parseFamilyIdentity(JSON.stringify(ok)).name).toBe('Nonna');
    for (const change of [{ signSeed: toHex(new Uint8Array(64).fill(1)) }, { boxSecret: toHex(new Uint8Array(64).fill(2)) }, { signSeed: toHex(new Uint8Array(31)) }, { boxSecret: toHex(new Uint8Array(33)) }]) {
      expect(codeOf(() => parseFamilyIdentity(JSON.stringify({ ...ok, ...change }))), JSON.stringify(change)).toBe('KEYSTORE_CORRUPT');
    }
  });
});
