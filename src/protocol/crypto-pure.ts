/**
 * The portable crypto back end: the pure-JavaScript libraries of ../../docs/PROTOCOL.md §1,
 * which run everywhere (browsers, React Native, Node). It is the default of the seam in
 * `crypto.ts`; on Node the `node:crypto` back end (src/crypto-node/) is installed over it.
 *
 * - X25519, Ed25519: `tweetnacl`
 * - SHA-512: `tweetnacl`; HMAC-SHA-512, HKDF-SHA-512: `@noble/hashes`
 * - ChaCha20-Poly1305 (IETF, 96-bit nonce): `@noble/ciphers`
 *
 * Raw primitives only: every check of PROTOCOL §18 (sizes, the all-zero X25519 result, a
 * non-canonical Ed25519 S, error codes) is made once, in the seam, for every back end.
 * Pure: no I/O, no `node:` imports.
 */
import nacl from 'tweetnacl';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hmac } from '@noble/hashes/hmac.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha512 as nobleSha512 } from '@noble/hashes/sha2.js';
import { concatBytes } from './bytes.js';
import type { CryptoBackend } from './crypto.js';

export const pureCryptoBackend: CryptoBackend = {
  name: 'pure-js',
  description: 'pure JavaScript (tweetnacl, @noble/ciphers, @noble/hashes)',
  x25519: (secretKey, publicKey) => nacl.scalarMult(secretKey, publicKey),
  x25519Base: (secretKey) => nacl.scalarMult.base(secretKey),
  sha512: (data, more) => nacl.hash(more === undefined ? data : concatBytes(data, more)),
  hmacSha512: (key, data) => hmac(nobleSha512, key, data),
  hkdfSha512: (ikm, salt, info, length) => hkdf(nobleSha512, ikm, salt, info, length),
  aeadSeal: (key, nonce, ad, plaintext, headroom = 0) => {
    if (headroom === 0) return chacha20poly1305(key, nonce, ad).encrypt(plaintext);
    const out = new Uint8Array(headroom + plaintext.length + 16);
    chacha20poly1305(key, nonce, ad).encrypt(plaintext, out.subarray(headroom));
    return out;
  },
  aeadOpen: (key, nonce, ad, sealed) => {
    try {
      return chacha20poly1305(key, nonce, ad).decrypt(sealed);
    } catch {
      return undefined;
    }
  },
  ed25519PublicKey: (seed) => nacl.sign.keyPair.fromSeed(seed).publicKey,
  ed25519Sign: (secretKey, message) => nacl.sign.detached(message, secretKey),
  ed25519Verify: (publicKey, message, signature) => nacl.sign.detached.verify(message, signature, publicKey),
};
