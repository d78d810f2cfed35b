/**
 * The Node crypto back end: the raw primitives of docs/PROTOCOL.md §1 from Node's own
 * `node:crypto` (OpenSSL), several times faster than the pure-JS libraries. It lives outside
 * `src/protocol/` (which stays free of `node:` imports) and is plugged into the seam
 * (`src/protocol/crypto.ts`) by {@link installNodeCrypto} or by the package's `node` export
 * condition. The seam keeps every check of PROTOCOL §18 for both back ends; this file only
 * computes.
 *
 * - X25519: `diffieHellman` on key objects imported as raw JWK (the DER importers of OpenSSL 3
 *   are ten times slower). OpenSSL refuses an all-zero result itself; that is reported as
 *   `undefined`, which the seam refuses as LOW_ORDER_POINT like the zeros tweetnacl returns.
 * - SHA-512, HMAC-SHA-512: `createHash`, `createHmac`.
 * - HKDF-SHA-512: `hkdfSync`. Node limits `info` to 1024 bytes; a longer info (plushlink
 *   never uses one) goes to @noble/hashes, so the back end accepts every input the seam does.
 * - ChaCha20-Poly1305: `createCipheriv` / `createDecipheriv` (`chacha20-poly1305`, 16-byte tag).
 * - Ed25519: `sign` / `verify` with key objects imported as raw JWK.
 *
 * Key objects of secret keys are kept per key array (a WeakMap: gone with the array) while the
 * array still holds the same bytes, so a handshake imports each secret once; a changed or wiped
 * array is imported again; X25519 public keys the same way. Ed25519 public keys are cached by
 * value (a few family signers recur). Outputs are plain `Uint8Array`s of their own (never views of Node's
 * shared buffer pool).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  getCiphers,
  hkdfSync,
  sign,
  timingSafeEqual,
  verify,
  type KeyObject,
} from 'node:crypto';
import { hkdf as nobleHkdf } from '@noble/hashes/hkdf.js';
import { sha512 as nobleSha512 } from '@noble/hashes/sha2.js';
import type { CryptoBackend } from '../protocol/crypto.js';

const TAG = 16;
const AEAD_OPTIONS = { authTagLength: TAG } as const;
/** Node's limit on HKDF `info` (lib/internal/crypto/hkdf.js). */
const NODE_HKDF_MAX_INFO = 1024;

/**
 * A plain `Uint8Array` that owns its memory: a Node output that already has an ArrayBuffer of its
 * own (what the crypto bindings return) is re-viewed without a copy; anything that could be a
 * slice of Node's shared buffer pool is copied.
 */
function own(b: Uint8Array): Uint8Array {
  if (b.byteOffset === 0 && b.buffer.byteLength === b.length && !(b.buffer instanceof SharedArrayBuffer)) return new Uint8Array(b.buffer, 0, b.length);
  return new Uint8Array(b);
}

function b64url(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64url');
}

function fromB64url(s: string | undefined): Uint8Array {
  if (s === undefined) throw new Error('key export without a public key');
  return own(Buffer.from(s, 'base64url'));
}

type Curve = 'X25519' | 'Ed25519';

/** Imported secret keys, by the array that holds them, with a copy to notice a change. */
const secretKeys: Record<Curve, WeakMap<Uint8Array, { bytes: Uint8Array; key: KeyObject }>> = {
  X25519: new WeakMap(),
  Ed25519: new WeakMap(),
};

function privateKey(curve: Curve, secret: Uint8Array): KeyObject {
  const seed = secret.length === 32 ? secret : secret.subarray(0, 32);
  const cache = secretKeys[curve];
  const hit = cache.get(secret);
  if (hit && timingSafeEqual(hit.bytes, seed)) return hit.key;
  // Node reads only `d` of a private OKP key (`x` must be a string, and is recomputed).
  const key = createPrivateKey({ key: { kty: 'OKP', crv: curve, d: b64url(seed), x: '' }, format: 'jwk' });
  cache.set(secret, { bytes: Uint8Array.from(seed), key });
  return key;
}

/** Imported X25519 public keys, by array, like the secret ones (a handshake uses each peer key twice). */
const x25519PublicKeys = new WeakMap<Uint8Array, { bytes: Uint8Array; key: KeyObject }>();

function x25519PublicKey(raw: Uint8Array): KeyObject {
  const hit = x25519PublicKeys.get(raw);
  if (hit && hit.bytes.length === raw.length && timingSafeEqual(hit.bytes, raw)) return hit.key;
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(raw) }, format: 'jwk' });
  x25519PublicKeys.set(raw, { bytes: Uint8Array.from(raw), key });
  return key;
}

/** Ed25519 public keys recur (a family's few signers): a small bounded cache by value. */
const ed25519PublicKeys = new Map<string, KeyObject>();
const ED25519_CACHE_MAX = 256;

function ed25519PublicKeyObject(raw: Uint8Array): KeyObject {
  const x = b64url(raw);
  let k = ed25519PublicKeys.get(x);
  if (k) return k;
  k = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
  if (ed25519PublicKeys.size >= ED25519_CACHE_MAX) ed25519PublicKeys.delete(ed25519PublicKeys.keys().next().value!);
  ed25519PublicKeys.set(x, k);
  return k;
}

function publicOf(key: KeyObject): Uint8Array {
  return fromB64url(key.export({ format: 'jwk' }).x);
}

function opensslVersion(): string {
  return typeof process !== 'undefined' && process.versions?.openssl ? `OpenSSL ${process.versions.openssl}` : 'OpenSSL';
}

export const nodeCryptoBackend: CryptoBackend = {
  name: 'node',
  description: `node:crypto (${opensslVersion()})`,

  x25519(secret, pub) {
    try {
      return own(diffieHellman({ privateKey: privateKey('X25519', secret), publicKey: x25519PublicKey(pub) }));
    } catch (e) {
      // OpenSSL's X25519 fails exactly when the shared secret is all zeros (RFC 7748 §6.1).
      if ((e as { code?: string }).code === 'ERR_OSSL_FAILED_DURING_DERIVATION') return undefined;
      throw e;
    }
  },

  x25519Base: (secret) => publicOf(privateKey('X25519', secret)),

  sha512(data, more) {
    const h = createHash('sha512').update(data);
    if (more !== undefined) h.update(more);
    return own(h.digest());
  },

  hmacSha512: (key, data) => own(createHmac('sha512', key).update(data).digest()),

  hkdfSha512(ikm, salt, info, length) {
    if (info.length > NODE_HKDF_MAX_INFO) return nobleHkdf(nobleSha512, ikm, salt, info, length);
    return new Uint8Array(hkdfSync('sha512', ikm, salt, info, length));
  },

  aeadSeal(key, nonce, ad, plaintext, headroom = 0) {
    const c = createCipheriv('chacha20-poly1305', key, nonce, AEAD_OPTIONS);
    c.setAAD(ad, { plaintextLength: plaintext.length });
    const out = new Uint8Array(headroom + plaintext.length + TAG);
    out.set(c.update(plaintext), headroom);
    c.final();
    out.set(c.getAuthTag(), headroom + plaintext.length);
    return out;
  },

  aeadOpen(key, nonce, ad, sealed) {
    const n = sealed.length - TAG;
    const d = createDecipheriv('chacha20-poly1305', key, nonce, AEAD_OPTIONS);
    d.setAuthTag(sealed.subarray(n));
    d.setAAD(ad, { plaintextLength: n });
    const plaintext = d.update(sealed.subarray(0, n));
    try {
      d.final();
    } catch {
      return undefined;
    }
    return own(plaintext);
  },

  ed25519PublicKey: (seed) => publicOf(privateKey('Ed25519', seed)),

  ed25519Sign: (secretKey, message) => own(sign(null, message, privateKey('Ed25519', secretKey))),

  ed25519Verify: (pub, message, signature) => verify(null, message, ed25519PublicKeyObject(pub), signature),
};

/** True when this Node's OpenSSL has every primitive the back end needs. */
export function nodeCryptoAvailable(): boolean {
  try {
    return getCiphers().includes('chacha20-poly1305');
  } catch {
    return false;
  }
}
