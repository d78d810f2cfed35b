/**
 * The only place plushlink touches cryptographic primitives. Every primitive comes from a
 * well-kept library; nothing here is hand-written crypto:
 *
 * - X25519, SHA-512, Ed25519, randomness: `tweetnacl`
 * - ChaCha20-Poly1305 (IETF, 96-bit nonce): `@noble/ciphers`
 * - HMAC-SHA-512 and HKDF-SHA-512: `@noble/hashes`
 *
 * Pure: no I/O, no `node:` imports.
 */
import nacl from 'tweetnacl';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hmac } from '@noble/hashes/hmac.js';
import { hkdf, extract, expand } from '@noble/hashes/hkdf.js';
import { sha512 as nobleSha512 } from '@noble/hashes/sha2.js';
import { PlushlinkError } from './errors.js';

export const DH_LEN = 32;
export const HASH_LEN = 64;
export const KEY_LEN = 32;
export const TAG_LEN = 16;
export const AEAD_NONCE_LEN = 12;

/** An X25519 key pair. `secretKey` is the 32-byte scalar (clamped by X25519 itself). */
export interface X25519KeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

/** Source of randomness; injectable so tests and vector generation are deterministic. */
export type RandomSource = (n: number) => Uint8Array;

/** Cryptographically secure randomness from tweetnacl (WebCrypto or node's crypto underneath). */
export const randomBytes: RandomSource = (n) => nacl.randomBytes(n);

/** X25519 public key of a 32-byte secret scalar. */
export function x25519PublicKey(secretKey: Uint8Array): Uint8Array {
  if (secretKey.length !== DH_LEN) throw new PlushlinkError('INVALID_KEY', `X25519 secret key must be ${DH_LEN} bytes`);
  return nacl.scalarMult.base(secretKey);
}

/** Builds a key pair from a 32-byte secret. */
export function x25519KeyPairFromSecret(secretKey: Uint8Array): X25519KeyPair {
  return { secretKey: Uint8Array.from(secretKey), publicKey: x25519PublicKey(secretKey) };
}

/** Generates a fresh X25519 key pair. */
export function generateX25519KeyPair(random: RandomSource = randomBytes): X25519KeyPair {
  return x25519KeyPairFromSecret(random(DH_LEN));
}

/**
 * X25519(secret, public). Throws `LOW_ORDER_POINT` when the result is all zeros (the peer sent
 * a low-order point), as RFC 7748 §6.1 allows and plushlink requires.
 */
export function x25519(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  if (secretKey.length !== DH_LEN) throw new PlushlinkError('INVALID_KEY', `X25519 secret key must be ${DH_LEN} bytes`);
  if (publicKey.length !== DH_LEN) throw new PlushlinkError('INVALID_KEY', `X25519 public key must be ${DH_LEN} bytes`);
  const out = nacl.scalarMult(secretKey, publicKey);
  let acc = 0;
  for (let i = 0; i < out.length; i++) acc |= out[i]!;
  if (acc === 0) throw new PlushlinkError('LOW_ORDER_POINT', 'X25519 produced the all-zero shared secret (low-order public key)');
  return out;
}

/** SHA-512 (tweetnacl). */
export function sha512(data: Uint8Array): Uint8Array {
  return nacl.hash(data);
}

/** HMAC-SHA-512 (@noble/hashes). */
export function hmacSha512(key: Uint8Array, data: Uint8Array): Uint8Array {
  return hmac(nobleSha512, key, data);
}

/** Largest HKDF-SHA-512 output, 255 · HashLen bytes (RFC 5869 §2.3). */
export const HKDF_MAX_LEN = 255 * HASH_LEN;

/**
 * HKDF-SHA-512 (RFC 5869) extract-and-expand (@noble/hashes). Throws `INVALID_KEY` when
 * `length` is not an integer in 0..{@link HKDF_MAX_LEN}.
 */
export function hkdfSha512(ikm: Uint8Array, salt: Uint8Array | undefined, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0 || length > HKDF_MAX_LEN) {
    throw new PlushlinkError('INVALID_KEY', `HKDF-SHA-512 output length must be an integer in 0..${HKDF_MAX_LEN}`);
  }
  return hkdf(nobleSha512, ikm, salt, info, length);
}

/**
 * The Noise HKDF(chaining_key, ikm, n): returns n (2 or 3) outputs of HASHLEN bytes. It is
 * exactly RFC 5869 HKDF with salt = chaining key and empty info, so it is computed with the
 * library's extract/expand.
 */
export function noiseHkdf(chainingKey: Uint8Array, ikm: Uint8Array, n: 2 | 3): Uint8Array[] {
  const prk = extract(nobleSha512, ikm, chainingKey);
  const okm = expand(nobleSha512, prk, new Uint8Array(0), n * HASH_LEN);
  const outs: Uint8Array[] = [];
  for (let i = 0; i < n; i++) outs.push(okm.slice(i * HASH_LEN, (i + 1) * HASH_LEN));
  return outs;
}

/** ChaCha20-Poly1305 (RFC 8439) seal: returns ciphertext || 16-byte tag. */
export function aeadSeal(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  if (key.length !== KEY_LEN) throw new PlushlinkError('INVALID_KEY', 'AEAD key must be 32 bytes');
  if (nonce.length !== AEAD_NONCE_LEN) throw new PlushlinkError('INVALID_KEY', 'AEAD nonce must be 12 bytes');
  return chacha20poly1305(key, nonce, ad).encrypt(plaintext);
}

/** ChaCha20-Poly1305 open. Throws `DECRYPT_FAILED` on any authentication failure. */
export function aeadOpen(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  if (key.length !== KEY_LEN) throw new PlushlinkError('INVALID_KEY', 'AEAD key must be 32 bytes');
  if (nonce.length !== AEAD_NONCE_LEN) throw new PlushlinkError('INVALID_KEY', 'AEAD nonce must be 12 bytes');
  if (ciphertext.length < TAG_LEN) throw new PlushlinkError('DECRYPT_FAILED', 'ciphertext shorter than the authentication tag');
  try {
    return chacha20poly1305(key, nonce, ad).decrypt(ciphertext);
  } catch (e) {
    throw new PlushlinkError('DECRYPT_FAILED', 'authentication failed', undefined, { cause: e });
  }
}

/** Ed25519 key pair (tweetnacl): 32-byte public key, 64-byte secret key (seed || public). */
export interface Ed25519KeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export function ed25519KeyPairFromSeed(seed: Uint8Array): Ed25519KeyPair {
  if (seed.length !== 32) throw new PlushlinkError('INVALID_KEY', 'Ed25519 seed must be 32 bytes');
  const kp = nacl.sign.keyPair.fromSeed(seed);
  return { publicKey: kp.publicKey, secretKey: kp.secretKey };
}

export function generateEd25519KeyPair(random: RandomSource = randomBytes): Ed25519KeyPair {
  return ed25519KeyPairFromSeed(random(32));
}

/** Ed25519 detached signature (64 bytes). */
export function ed25519Sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  if (secretKey.length !== 64) throw new PlushlinkError('INVALID_KEY', 'Ed25519 secret key must be 64 bytes');
  return nacl.sign.detached(message, secretKey);
}

/** Ed25519 group order L, little-endian (RFC 8032 §5.1). */
const ED25519_L = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
]);

/** True when the 32-byte little-endian scalar S = signature[32..64) satisfies S < L. */
function ed25519CanonicalS(signature: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = signature[32 + i]!;
    const l = ED25519_L[i]!;
    if (s !== l) return s < l;
  }
  return false; // S == L
}

/**
 * Ed25519 verification; false for any malformed input (never throws on attacker input).
 * Rejects a non-canonical S ≥ L (RFC 8032 §5.1.7, signature malleability), which tweetnacl
 * alone accepts.
 */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  if (!ed25519CanonicalS(signature)) return false;
  try {
    return nacl.sign.detached.verify(message, signature, publicKey);
  } catch {
    return false;
  }
}
