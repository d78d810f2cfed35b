/**
 * ChaCha20-Poly1305 through `aeadSeal()`/`aeadOpen()` of src/protocol/crypto.ts over Wycheproof
 * `chacha20_poly1305_test.json`.
 *
 * Policy (docs/PROTOCOL.md, "Wycheproof policy"):
 * - `valid`: `aeadSeal` returns exactly `ct || tag`, `aeadOpen` returns exactly `msg`.
 * - `invalid`: `aeadOpen` throws. Key or nonce of a size plushlink never uses (anything but a
 *   32-byte key and a 12-byte nonce) → `INVALID_KEY`, and `aeadSeal` refuses it too; otherwise
 *   (modified tag, ...) → `DECRYPT_FAILED`.
 * - `acceptable`: none in the file; any such case fails the test until a policy is stated.
 */
import { expect } from 'vitest';
import { AEAD_NONCE_LEN, KEY_LEN, TAG_LEN, aeadOpen, aeadSeal } from '../../../src/protocol/crypto.js';
import { concatBytes, toHex } from '../../../src/protocol/bytes.js';
import { hex, thrownCode, wycheproofSuite, type AeadGroup, type AeadTest } from '../../helpers/wycheproof.js';

const MIN_VECTORS = 325;

wycheproofSuite<AeadGroup, AeadTest>({
  title: 'Wycheproof ChaCha20-Poly1305 via crypto.aeadSeal/aeadOpen [$name back end]',
  file: 'chacha20_poly1305_test.json',
  algorithm: 'CHACHA20-POLY1305',
  minVectors: MIN_VECTORS,
  check(group, t) {
    const key = hex(t.key);
    const iv = hex(t.iv);
    const aad = hex(t.aad);
    const msg = hex(t.msg);
    const sealed = concatBytes(hex(t.ct), hex(t.tag));
    // The group header agrees with the bytes (so the size-based expectations below are sound).
    expect(key.length * 8).toBe(group.keySize);
    expect(iv.length * 8).toBe(group.ivSize);
    const sizesUsedByPlushlink = key.length === KEY_LEN && iv.length === AEAD_NONCE_LEN;

    if (t.result === 'valid') {
      expect(group.tagSize).toBe(TAG_LEN * 8);
      expect(sizesUsedByPlushlink).toBe(true);
      expect(toHex(aeadSeal(key, iv, aad, msg))).toBe(toHex(sealed));
      expect(toHex(aeadOpen(key, iv, aad, sealed))).toBe(t.msg);
    } else if (t.result === 'invalid') {
      if (sizesUsedByPlushlink) {
        expect(thrownCode(() => aeadOpen(key, iv, aad, sealed))).toBe('DECRYPT_FAILED');
        // The vector really is a forgery with respect to our own seal of the same inputs.
        expect(toHex(aeadSeal(key, iv, aad, msg))).not.toBe(toHex(sealed));
      } else {
        expect(thrownCode(() => aeadOpen(key, iv, aad, sealed))).toBe('INVALID_KEY');
        expect(thrownCode(() => aeadSeal(key, iv, aad, msg))).toBe('INVALID_KEY');
      }
    } else {
      throw new Error(`tcId ${t.tcId}: no stated policy for an acceptable AEAD case [${t.flags.join(',')}]`);
    }
  },
  coverage(cases) {
    // Both kinds of invalid case are exercised: wrong nonce size and forged tag.
    const badNonce = cases.filter((c) => c.test.result === 'invalid' && c.group.ivSize !== AEAD_NONCE_LEN * 8);
    const badTag = cases.filter((c) => c.test.result === 'invalid' && c.group.ivSize === AEAD_NONCE_LEN * 8);
    expect(badNonce.length).toBeGreaterThanOrEqual(9);
    expect(badTag.length).toBeGreaterThanOrEqual(60);
  },
});
