import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { concatBytes, utf8 } from '../../../src/protocol/bytes.js';
import { sha512 } from '../../../src/protocol/crypto.js';
import { PlushlinkError } from '../../../src/protocol/errors.js';
import {
  familyIdentityFromSecrets,
  familyKeyCode,
  familyKeyFingerprint,
  familyPublicKey,
  generateFamilyIdentity,
  loadFamilyIdentity,
  parseFamilyIdentity,
  parseFamilyKeyCode,
  sameFamilyKey,
  saveFamilyIdentity,
  serializeFamilyIdentity,
} from '../../../src/messages/index.js';

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return e instanceof PlushlinkError ? e.code : `other: ${String(e)}`;
  }
  return 'no error';
}

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
function b32(data: Uint8Array): string {
  let out = '';
  let bits = 0;
  let v = 0;
  for (const x of data) {
    v = (v << 8) | x;
    bits += 8;
    while (bits >= 5) {
      out += B32[(v >>> (bits - 5)) & 31];
      bits -= 5;
    }
    v &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32[(v << (5 - bits)) & 31];
  return out;
}

describe('family keys', () => {
  const id = generateFamilyIdentity('Grandma Ute');

  it('key code round-trips and fits QR alphanumeric mode', () => {
    const code = familyKeyCode(id);
    expect(code).toMatch(/^PLFK:[A-Z2-7]+$/);
    const back = parseFamilyKeyCode(code);
    expect(back.name).toBe('Grandma Ute');
    expect(sameFamilyKey(back, id)).toBe(true);
    // tolerant of case and whitespace (typed or read aloud)
    expect(sameFamilyKey(parseFamilyKeyCode(`  ${code.toLowerCase().replace(/(.{8})/g, '$1 ')}\n`), id)).toBe(true);
    // the public part carries no secret
    expect(Object.keys(familyPublicKey(id)).sort()).toEqual(['boxPublicKey', 'name', 'signPublicKey']);
  });

  it('any single changed character is caught', () => {
    const code = familyKeyCode(id);
    const seen = new Set<string>();
    for (let i = 5; i < code.length; i++) {
      const c = code[i] === 'A' ? 'B' : 'A';
      const r = codeOf(() => parseFamilyKeyCode(code.slice(0, i) + c + code.slice(i + 1)));
      expect(['BAD_CHECKSUM', 'BAD_QR_PAYLOAD', 'UNKNOWN_VERSION']).toContain(r);
      seen.add(r);
    }
    expect(seen.has('BAD_CHECKSUM')).toBe(true);
  });

  it('structural errors: prefix, alphabet, length, version', () => {
    const code = familyKeyCode(id);
    expect(codeOf(() => parseFamilyKeyCode(code.replace('PLFK:', 'PLXX:')))).toBe('BAD_QR_PAYLOAD');
    expect(codeOf(() => parseFamilyKeyCode(code + '1'))).toBe('BAD_QR_PAYLOAD');
    expect(codeOf(() => parseFamilyKeyCode(code.slice(0, 40)))).toBe('BAD_QR_PAYLOAD');
    expect(codeOf(() => parseFamilyKeyCode('PLFK:'))).toBe('BAD_QR_PAYLOAD');
    // a well-formed version-2 code with a valid checksum
    const name = utf8('X');
    const body = concatBytes(Uint8Array.of(2), id.signPublicKey, id.boxPublicKey, Uint8Array.of(1), name);
    const sum = sha512(concatBytes(utf8('plushlink/family-key-code/checksum'), body)).slice(0, 4);
    expect(codeOf(() => parseFamilyKeyCode('PLFK:' + b32(concatBytes(body, sum))))).toBe('UNKNOWN_VERSION');
    expect(codeOf(() => familyKeyCode({ ...id, name: '' }))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => familyKeyCode({ ...id, name: 'x'.repeat(65) }))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => familyKeyCode({ ...id, name: 'a\nb' }))).toBe('BAD_PAYLOAD');
  });

  it('round-trips any valid display name (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 16 }), (name) => {
        let ident;
        try {
          ident = familyIdentityFromSecrets(name, new Uint8Array(32).fill(7), new Uint8Array(32).fill(9));
        } catch (e) {
          expect((e as PlushlinkError).code).toBe('BAD_PAYLOAD');
          return;
        }
        const back = parseFamilyKeyCode(familyKeyCode(ident));
        expect(back.name).toBe(name.normalize('NFC'));
        expect(sameFamilyKey(back, ident)).toBe(true);
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  it('fingerprint: six groups of five digits, name-independent, key-dependent', () => {
    const fp = familyKeyFingerprint(id);
    expect(fp).toMatch(/^\d{5}( \d{5}){5}$/);
    expect(familyKeyFingerprint({ ...id, name: 'Other' } as never)).toBe(fp);
    expect(familyKeyFingerprint(generateFamilyIdentity('Grandma Ute'))).not.toBe(fp);
    // either key changes it
    const other = generateFamilyIdentity('o');
    expect(familyKeyFingerprint({ signPublicKey: other.signPublicKey, boxPublicKey: id.boxPublicKey })).not.toBe(fp);
    expect(familyKeyFingerprint({ signPublicKey: id.signPublicKey, boxPublicKey: other.boxPublicKey })).not.toBe(fp);
  });

  it('identity serialisation round-trips and rejects damage', async () => {
    const back = parseFamilyIdentity(serializeFamilyIdentity(id));
    expect(back.signSecretKey).toEqual(id.signSecretKey);
    expect(back.boxSecretKey).toEqual(id.boxSecretKey);
    expect(back.name).toBe(id.name);
    expect(codeOf(() => parseFamilyIdentity('{'))).toBe('KEYSTORE_CORRUPT');
    expect(codeOf(() => parseFamilyIdentity(serializeFamilyIdentity(id).replace('"version":1', '"version":9')))).toBe('UNKNOWN_VERSION');
    expect(codeOf(() => parseFamilyIdentity(serializeFamilyIdentity(id).replace(/"boxSecret":"../, '"boxSecret":"'))))
      .toBe('KEYSTORE_CORRUPT');

    const dir = mkdtempSync(join(tmpdir(), 'plushlink-family-'));
    const p = join(dir, 'me.json');
    await saveFamilyIdentity(p, id);
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect((await loadFamilyIdentity(p)).boxSecretKey).toEqual(id.boxSecretKey);
    await expect(saveFamilyIdentity(p, id)).rejects.toThrow(/already exists/);
    expect(JSON.parse(readFileSync(p, 'utf8')).format).toBe('plushlink-family-identity');
    await expect(loadFamilyIdentity(join(dir, 'none.json'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
