/**
 * HKDF-SHA-512 through `hkdfSha512()` of src/protocol/crypto.ts over Wycheproof
 * `hkdf_sha512_test.json`, and the Noise HKDF `noiseHkdf()` checked against it.
 *
 * Policy (docs/PROTOCOL.md, "Wycheproof policy"):
 * - `valid`: the output equals `okm` byte for byte (an empty salt given as empty bytes or as
 *   `undefined` gives the same output: RFC 5869 zero-salt).
 * - `invalid` (output longer than 255·64 bytes): `hkdfSha512` throws `INVALID_KEY`.
 * - `acceptable`: none in the file; any such case fails the test until a policy is stated.
 * - `noiseHkdf(ck, ikm, n)` equals `hkdfSha512(ikm, ck, empty info, n·64)` split in 64-byte
 *   outputs, and reproduces `okm` for every vector with empty info.
 */
import { describe, expect, it } from 'vitest';
import { HASH_LEN, hkdfSha512, noiseHkdf } from '../../../src/protocol/crypto.js';
import { concatBytes, toHex } from '../../../src/protocol/bytes.js';
import { WYCHEPROOF_AVAILABLE, hex, thrownCode, wycheproofSuite, wycheproofSuiteTitle, type HkdfGroup, type HkdfTest } from '../../helpers/wycheproof.js';
import { CRYPTO_BACKENDS, useCryptoBackendInSuite } from '../../helpers/backends.js';

const MIN_VECTORS = 83;
const MAX_OKM = 255 * HASH_LEN;

const cases = wycheproofSuite<HkdfGroup, HkdfTest>({
  title: 'Wycheproof HKDF-SHA-512 via crypto.hkdfSha512 [$name back end]',
  file: 'hkdf_sha512_test.json',
  algorithm: 'HKDF-SHA-512',
  minVectors: MIN_VECTORS,
  check(group, t) {
    const ikm = hex(t.ikm);
    const salt = hex(t.salt);
    const info = hex(t.info);
    expect(ikm.length * 8).toBe(group.keySize);
    if (t.result === 'valid') {
      const okm = hkdfSha512(ikm, salt, info, t.size);
      expect(okm.length).toBe(t.size);
      expect(toHex(okm)).toBe(t.okm);
      if (salt.length === 0) expect(toHex(hkdfSha512(ikm, undefined, info, t.size))).toBe(t.okm);
    } else if (t.result === 'invalid') {
      expect(t.size).toBeGreaterThan(MAX_OKM);
      expect(thrownCode(() => hkdfSha512(ikm, salt, info, t.size))).toBe('INVALID_KEY');
    } else {
      throw new Error(`tcId ${t.tcId}: no stated policy for an acceptable HKDF case [${t.flags.join(',')}]`);
    }
  },
});

describe.skipIf(!WYCHEPROOF_AVAILABLE).each(CRYPTO_BACKENDS)(
  wycheproofSuiteTitle('Wycheproof HKDF-SHA-512 vs the Noise HKDF (crypto.noiseHkdf) [$name back end]'),
  (backend) => {
    useCryptoBackendInSuite(backend);
    const valid = cases.filter((c) => c.test.result === 'valid');
    const emptyInfo = valid.filter((c) => c.test.info === '');
    let consistent = 0;
    let knownAnswers = 0;

    it('noiseHkdf(ck, ikm, n) is HKDF-SHA-512 with salt = ck, empty info, n·64 bytes (every valid vector)', () => {
      for (const { test: t } of valid) {
        const ck = hex(t.salt);
        const ikm = hex(t.ikm);
        for (const n of [2, 3] as const) {
          const outs = noiseHkdf(ck, ikm, n);
          expect(outs.length).toBe(n);
          for (const o of outs) expect(o.length).toBe(HASH_LEN);
          expect(toHex(concatBytes(...outs)), `tcId ${t.tcId} n=${n}`).toBe(
            toHex(hkdfSha512(ikm, ck, new Uint8Array(0), n * HASH_LEN)),
          );
        }
        consistent++;
      }
      expect(consistent).toBe(valid.length);
      expect(consistent).toBeGreaterThanOrEqual(80);
    });

    it('noiseHkdf reproduces okm of every empty-info vector (HKDF output is prefix-stable)', () => {
      for (const { test: t } of emptyInfo) {
        expect(t.size).toBeLessThanOrEqual(3 * HASH_LEN);
        const n = t.size <= 2 * HASH_LEN ? 2 : 3;
        const all = concatBytes(...noiseHkdf(hex(t.salt), hex(t.ikm), n));
        expect(toHex(all.subarray(0, t.size)), `tcId ${t.tcId}`).toBe(t.okm);
        knownAnswers++;
      }
      expect(knownAnswers).toBe(emptyInfo.length);
      expect(knownAnswers).toBeGreaterThanOrEqual(30);
    });
  },
);
