/**
 * The relay's Ed25519 verifier on node:crypto (docs/RELAY.md §3.3 step 5): it agrees with the
 * library's signer, refuses a non-canonical S (S ≥ L) whatever its bytes, and answers false,
 * without throwing, for anything malformed.
 */
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { nativeEd25519Verify } from '@plushlink/relay';
import { cachedNativeKeys, NATIVE_KEY_CACHE_MAX } from '../../../relay/src/native-ed25519.js';
import { generateFamilyIdentity } from '../../../src/messages/index.js';
import { ed25519Sign } from '../../../src/protocol/crypto.js';
import { ED25519_ORDER, scalarBytes } from '../../helpers/ed25519-torsion.js';

describe('nativeEd25519Verify', () => {
  const id = generateFamilyIdentity('signer');
  const message = new TextEncoder().encode('"@method": GET');
  const sig = ed25519Sign(id.signSecretKey, message);

  it('verifies a signature and refuses another message, key or signature', () => {
    expect(nativeEd25519Verify(id.signPublicKey, message, sig)).toBe(true);
    expect(nativeEd25519Verify(id.signPublicKey, new TextEncoder().encode('"@method": PUT'), sig)).toBe(false);
    expect(nativeEd25519Verify(generateFamilyIdentity('other').signPublicKey, message, sig)).toBe(false);
    const flipped = Uint8Array.from(sig);
    flipped[10]! ^= 1;
    expect(nativeEd25519Verify(id.signPublicKey, message, flipped)).toBe(false);
  });

  it('refuses S = L and S just above L (their high bytes equal L’s), and answers at once', () => {
    for (const k of [0, 1, 2]) {
      const s = scalarBytes(ED25519_ORDER + BigInt(k));
      const forged = new Uint8Array(64);
      forged.set(sig.subarray(0, 32));
      forged.set(s, 32);
      expect(nativeEd25519Verify(id.signPublicKey, message, forged), `S = L + ${k}`).toBe(false);
    }
  });

  it('answers false for a key or signature of the wrong length', () => {
    expect(nativeEd25519Verify(id.signPublicKey.subarray(0, 31), message, sig)).toBe(false);
    expect(nativeEd25519Verify(new Uint8Array([...id.signPublicKey, 0]), message, sig)).toBe(false);
    expect(nativeEd25519Verify(id.signPublicKey, message, sig.subarray(0, 63))).toBe(false);
    expect(nativeEd25519Verify(id.signPublicKey, message, new Uint8Array([...sig, 0]))).toBe(false);
  });

  it('keeps at most NATIVE_KEY_CACHE_MAX keys, dropping the oldest, and reuses a cached key without dropping another', () => {
    // Random keyids (OpenSSL loads any 32 bytes as a key; the verdict comes later), each with a
    // signature that fails: the cache is filled whatever the verdict, as by a flood of requests.
    const keys = Array.from({ length: NATIVE_KEY_CACHE_MAX + 10 }, () => new Uint8Array(randomBytes(32)));
    const hex = keys.map((k) => Buffer.from(k).toString('hex'));
    const noSignature = new Uint8Array(64);
    for (const k of keys) expect(nativeEd25519Verify(k, message, noSignature)).toBe(false);
    expect(cachedNativeKeys()).toEqual(hex.slice(10));
    // Verifying with a key already cached changes nothing (not even the oldest one's place).
    expect(nativeEd25519Verify(keys[10]!, message, noSignature)).toBe(false);
    expect(cachedNativeKeys()).toEqual(hex.slice(10));
    // A dropped key is loaded again and still verifies.
    const again = generateFamilyIdentity('late');
    expect(nativeEd25519Verify(again.signPublicKey, message, ed25519Sign(again.signSecretKey, message))).toBe(true);
    expect(cachedNativeKeys()).toEqual([...hex.slice(11), Buffer.from(again.signPublicKey).toString('hex')]);
    expect(nativeEd25519Verify(keys[0]!, message, noSignature)).toBe(false);
    expect(cachedNativeKeys()).toHaveLength(NATIVE_KEY_CACHE_MAX);
    expect(cachedNativeKeys().at(-1)).toBe(hex[0]);
  });
});
