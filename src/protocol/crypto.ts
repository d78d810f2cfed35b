/**
 * The crypto seam: the only place plushlink touches cryptographic primitives, and the only
 * place their policy lives (docs/PROTOCOL.md §1 and §18). Every primitive comes from a
 * well-kept library through a {@link CryptoBackend}; nothing here is hand-written crypto:
 *
 * - the portable back end, {@link pureCryptoBackend} (`crypto-pure.ts`: tweetnacl,
 *   @noble/ciphers, @noble/hashes), the default everywhere;
 * - on Node, `node:crypto` (OpenSSL), in `src/crypto-node/`, outside this pure folder. The
 *   package's `node` export condition installs it (`plushlink`, `plushlink/protocol`,
 *   `plushlink/messages` on Node); anyone may install a back end with {@link useCryptoBackend}.
 *
 * A back end computes raw primitives. Everything PROTOCOL §18 decides is decided here, once, for
 * every back end: key, nonce and signature sizes, the all-zero X25519 result (LOW_ORDER_POINT),
 * the HKDF length range, a failed tag (DECRYPT_FAILED), a non-canonical Ed25519 S, a small-order
 * Ed25519 key. So both back ends keep the same policy by construction, and every vector runs against both
 * (test/unit/protocol/crypto-backends.test.ts, the Wycheproof, Noise and own-vector tests).
 *
 * Pure: no I/O, no `node:` imports.
 */
import nacl from 'tweetnacl';
import { PlushlinkError } from './errors.js';
import { pureCryptoBackend } from './crypto-pure.js';

export { pureCryptoBackend };

/**
 * Raw primitives of one crypto library. Callers never use a back end directly: they call the
 * functions of this module, which check sizes and apply PROTOCOL §18 before and after.
 * Inputs reach a back end already checked (sizes right, HKDF length in range, salt present).
 */
export interface CryptoBackend {
  /** Short stable name: `pure-js`, `node`. */
  readonly name: string;
  /** What it is built on, for humans (`plushlink doctor`). */
  readonly description: string;
  /** X25519 (RFC 7748). May return `undefined` when the library itself refuses an all-zero result. */
  x25519(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined;
  /** X25519 with the base point (the public key of a secret scalar). */
  x25519Base(secretKey: Uint8Array): Uint8Array;
  /** SHA-512 of `data`, or of `data || more` when `more` is given (the Noise MixHash, without a copy). */
  sha512(data: Uint8Array, more?: Uint8Array): Uint8Array;
  hmacSha512(key: Uint8Array, data: Uint8Array): Uint8Array;
  /** RFC 5869 extract-and-expand; `salt` may be empty (= HashLen zero bytes). */
  hkdfSha512(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /**
   * ChaCha20-Poly1305 (RFC 8439): ciphertext || 16-byte tag, after `headroom` (default 0) zero
   * bytes the caller fills (a record's header: one allocation per record).
   */
  aeadSeal(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array, headroom?: number): Uint8Array;
  /** The plaintext, or `undefined` when the tag does not authenticate. */
  aeadOpen(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined;
  /** The Ed25519 public key of a 32-byte seed (RFC 8032 §5.1.5). */
  ed25519PublicKey(seed: Uint8Array): Uint8Array;
  /** Ed25519 signature with a 64-byte secret key seed || public key. */
  ed25519Sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array;
  /** Ed25519 verification; may throw on malformed input (the seam turns that into false). */
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

/** Which back end is in use: {@link cryptoBackend}. */
export interface CryptoBackendInfo {
  name: string;
  description: string;
}

const BACKEND_METHODS = [
  'x25519',
  'x25519Base',
  'sha512',
  'hmacSha512',
  'hkdfSha512',
  'aeadSeal',
  'aeadOpen',
  'ed25519PublicKey',
  'ed25519Sign',
  'ed25519Verify',
] as const satisfies readonly (keyof CryptoBackend)[];

let backend: CryptoBackend = pureCryptoBackend;

/**
 * Makes `b` the back end of every primitive from now on and returns the one it replaces.
 * Throws `INVALID_KEY` when `b` lacks a primitive. Meant to be called once, at start-up (the
 * package's Node entry points do it); tests switch back ends between suites.
 */
export function useCryptoBackend(b: CryptoBackend): CryptoBackend {
  for (const m of BACKEND_METHODS) {
    if (typeof b?.[m] !== 'function') throw new PlushlinkError('INVALID_KEY', `crypto back end lacks ${m}()`);
  }
  if (typeof b.name !== 'string' || b.name.length === 0) throw new PlushlinkError('INVALID_KEY', 'crypto back end has no name');
  const prev = backend;
  backend = b;
  return prev;
}

/** The back end in use: its name (`node` or `pure-js`) and what it is built on. */
export function cryptoBackend(): CryptoBackendInfo {
  return { name: backend.name, description: backend.description };
}

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

const EMPTY = new Uint8Array(0);

function allZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i]!;
  return acc === 0;
}

/** X25519 public key of a 32-byte secret scalar. */
export function x25519PublicKey(secretKey: Uint8Array): Uint8Array {
  if (secretKey.length !== DH_LEN) throw new PlushlinkError('INVALID_KEY', `X25519 secret key must be ${DH_LEN} bytes`);
  return backend.x25519Base(secretKey);
}

/** Builds a key pair from a 32-byte secret (a copy of it: the caller may wipe its own). */
export function x25519KeyPairFromSecret(secretKey: Uint8Array): X25519KeyPair {
  const sk = Uint8Array.from(secretKey);
  return { secretKey: sk, publicKey: x25519PublicKey(sk) };
}

/** Generates a fresh X25519 key pair. */
export function generateX25519KeyPair(random: RandomSource = randomBytes): X25519KeyPair {
  return x25519KeyPairFromSecret(random(DH_LEN));
}

/**
 * X25519(secret, public). Throws `LOW_ORDER_POINT` when the result is all zeros (the peer sent
 * a low-order point), as RFC 7748 §6.1 allows and plushlink requires (PROTOCOL §18): whether
 * the back end returns the zeros (tweetnacl) or refuses them itself (OpenSSL).
 */
export function x25519(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  if (secretKey.length !== DH_LEN) throw new PlushlinkError('INVALID_KEY', `X25519 secret key must be ${DH_LEN} bytes`);
  if (publicKey.length !== DH_LEN) throw new PlushlinkError('INVALID_KEY', `X25519 public key must be ${DH_LEN} bytes`);
  const out = backend.x25519(secretKey, publicKey);
  if (out === undefined || allZero(out)) throw new PlushlinkError('LOW_ORDER_POINT', 'X25519 produced the all-zero shared secret (low-order public key)');
  return out;
}

/** Any scalar does: X25519 clamps it to a multiple of the cofactor 8 (RFC 7748 §5). */
const LOW_ORDER_PROBE = new Uint8Array(DH_LEN).fill(0x5a);

/**
 * True when the 32-byte X25519 `publicKey` is a low-order point: every shared secret with it is
 * all zeros, so {@link x25519} refuses it (`LOW_ORDER_POINT`) whatever the secret (PROTOCOL §18).
 * False for any other 32-byte value; `INVALID_KEY` for another length.
 */
export function isLowOrderX25519Key(publicKey: Uint8Array): boolean {
  if (publicKey.length !== DH_LEN) throw new PlushlinkError('INVALID_KEY', `X25519 public key must be ${DH_LEN} bytes`);
  const out = backend.x25519(LOW_ORDER_PROBE, publicKey);
  return out === undefined || allZero(out);
}

/** SHA-512 (FIPS 180-4) of `data`, or of `data || more`. */
export function sha512(data: Uint8Array, more?: Uint8Array): Uint8Array {
  return more === undefined ? backend.sha512(data) : backend.sha512(data, more);
}

/** HMAC-SHA-512 (RFC 2104), the full 64-byte output. */
export function hmacSha512(key: Uint8Array, data: Uint8Array): Uint8Array {
  return backend.hmacSha512(key, data);
}

/** Largest HKDF-SHA-512 output, 255 · HashLen bytes (RFC 5869 §2.3). */
export const HKDF_MAX_LEN = 255 * HASH_LEN;

/**
 * HKDF-SHA-512 (RFC 5869) extract-and-expand. An absent salt is the empty salt (both are
 * HashLen zero bytes to HMAC). Throws `INVALID_KEY` when `length` is not an integer in
 * 0..{@link HKDF_MAX_LEN}.
 */
export function hkdfSha512(ikm: Uint8Array, salt: Uint8Array | undefined, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0 || length > HKDF_MAX_LEN) {
    throw new PlushlinkError('INVALID_KEY', `HKDF-SHA-512 output length must be an integer in 0..${HKDF_MAX_LEN}`);
  }
  return backend.hkdfSha512(ikm, salt ?? EMPTY, info, length);
}

/**
 * The Noise HKDF(chaining_key, ikm, n): returns n (2 or 3) outputs of HASHLEN bytes. It is
 * exactly RFC 5869 HKDF with salt = chaining key and empty info (PROTOCOL §1), so it is the
 * back end's HKDF cut into 64-byte outputs.
 */
export function noiseHkdf(chainingKey: Uint8Array, ikm: Uint8Array, n: 2 | 3): Uint8Array[] {
  const okm = backend.hkdfSha512(ikm, chainingKey, EMPTY, n * HASH_LEN);
  const outs: Uint8Array[] = [];
  // views of the back end's fresh output, which nobody else holds
  for (let i = 0; i < n; i++) outs.push(okm.subarray(i * HASH_LEN, (i + 1) * HASH_LEN));
  return outs;
}

/** ChaCha20-Poly1305 (RFC 8439) seal: returns ciphertext || 16-byte tag. */
export function aeadSeal(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  if (key.length !== KEY_LEN) throw new PlushlinkError('INVALID_KEY', 'AEAD key must be 32 bytes');
  if (nonce.length !== AEAD_NONCE_LEN) throw new PlushlinkError('INVALID_KEY', 'AEAD nonce must be 12 bytes');
  return backend.aeadSeal(key, nonce, ad, plaintext);
}

/**
 * ChaCha20-Poly1305 seal with the associated data sent in front: returns
 * `header || ciphertext || tag` with `ad = header` (the record layout of PROTOCOL §8.2), in one
 * allocation. Same checks as {@link aeadSeal}.
 */
export function aeadSealWithHeader(key: Uint8Array, nonce: Uint8Array, header: Uint8Array, plaintext: Uint8Array): Uint8Array {
  if (key.length !== KEY_LEN) throw new PlushlinkError('INVALID_KEY', 'AEAD key must be 32 bytes');
  if (nonce.length !== AEAD_NONCE_LEN) throw new PlushlinkError('INVALID_KEY', 'AEAD nonce must be 12 bytes');
  const out = backend.aeadSeal(key, nonce, header, plaintext, header.length);
  if (out.length !== header.length + plaintext.length + TAG_LEN) throw new PlushlinkError('INTERNAL', `crypto back end ${backend.name} ignored the header room of aeadSeal`);
  out.set(header, 0);
  return out;
}

/** ChaCha20-Poly1305 open. Throws `DECRYPT_FAILED` on any authentication failure. */
export function aeadOpen(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  if (key.length !== KEY_LEN) throw new PlushlinkError('INVALID_KEY', 'AEAD key must be 32 bytes');
  if (nonce.length !== AEAD_NONCE_LEN) throw new PlushlinkError('INVALID_KEY', 'AEAD nonce must be 12 bytes');
  if (ciphertext.length < TAG_LEN) throw new PlushlinkError('DECRYPT_FAILED', 'ciphertext shorter than the authentication tag');
  const out = backend.aeadOpen(key, nonce, ad, ciphertext);
  if (out === undefined) throw new PlushlinkError('DECRYPT_FAILED', 'authentication failed');
  return out;
}

/** Ed25519 key pair: 32-byte public key, 64-byte secret key (seed || public). */
export interface Ed25519KeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export function ed25519KeyPairFromSeed(seed: Uint8Array): Ed25519KeyPair {
  if (seed.length !== 32) throw new PlushlinkError('INVALID_KEY', 'Ed25519 seed must be 32 bytes');
  const publicKey = backend.ed25519PublicKey(seed);
  const secretKey = new Uint8Array(64);
  secretKey.set(seed);
  secretKey.set(publicKey, 32);
  return { publicKey, secretKey };
}

export function generateEd25519KeyPair(random: RandomSource = randomBytes): Ed25519KeyPair {
  return ed25519KeyPairFromSeed(random(32));
}

/**
 * Ed25519 detached signature (64 bytes). The secret key is seed || public key, as
 * {@link ed25519KeyPairFromSeed} makes it.
 */
export function ed25519Sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  if (secretKey.length !== 64) throw new PlushlinkError('INVALID_KEY', 'Ed25519 secret key must be 64 bytes');
  return backend.ed25519Sign(secretKey, message);
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
 * The y-coordinates (little-endian, sign bit clear) of the eight Ed25519 points of order dividing
 * 8, and the two non-canonical encodings y + p that are below 2^255 (p ≡ 0, p + 1 ≡ 1). A point
 * is known by its y up to the sign of x, so these seven values, with either sign bit, are every
 * encoding of a small-order point (PROTOCOL §18).
 */
const ED25519_SMALL_ORDER_Y: readonly Uint8Array[] = [
  // 0: the two points of order 4, (±√−1, 0)
  new Uint8Array(32),
  // 1: the neutral point (order 1)
  Uint8Array.from([1, ...new Array<number>(31).fill(0)]),
  // the four points of order 8 share two y-values
  Uint8Array.from([
    0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
    0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05,
  ]),
  Uint8Array.from([
    0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
    0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a,
  ]),
  // p − 1 = −1: the point (0, −1) of order 2
  Uint8Array.from([0xec, ...new Array<number>(30).fill(0xff), 0x7f]),
  // p ≡ 0 and p + 1 ≡ 1, not canonical
  Uint8Array.from([0xed, ...new Array<number>(30).fill(0xff), 0x7f]),
  Uint8Array.from([0xee, ...new Array<number>(30).fill(0xff), 0x7f]),
];

/**
 * True when `publicKey` encodes an Ed25519 point of small order (order 1, 2, 4 or 8), in any
 * encoding a verifier might accept. Anyone can make signatures that verify under such a key
 * (with S = 0, about one message in eight), so it names no one: {@link ed25519Verify} refuses
 * every signature under it, and the relay refuses it as a `keyid` (PROTOCOL §18, RELAY §3.3).
 */
export function isSmallOrderEd25519Key(publicKey: Uint8Array): boolean {
  if (publicKey.length !== 32) return false;
  return ED25519_SMALL_ORDER_Y.some((y) => {
    let diff = (publicKey[31]! & 0x7f) ^ y[31]!;
    for (let i = 0; i < 31; i++) diff |= publicKey[i]! ^ y[i]!;
    return diff === 0;
  });
}

/** An Ed25519 verifier: true when `signature` is valid for `message` under `publicKey`. */
export type Ed25519Verifier = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

/**
 * `verify` (default: the installed back end's) under plushlink's Ed25519 policy (PROTOCOL §18):
 * false, before `verify` sees them, for wrong sizes, a non-canonical S ≥ L (RFC 8032 §5.1.7,
 * signature malleability; tweetnacl alone accepts S + L) and a small-order public key
 * ({@link isSmallOrderEd25519Key}; tweetnacl and OpenSSL both accept signatures under one);
 * false when `verify` throws. Every verifier plushlink is given (a server's native one) passes
 * through this, so the policy does not depend on the verifier. A verifier this returned (and
 * {@link ed25519Verify}) comes back as it is, so the policy is not applied twice.
 */
export function withEd25519Policy(verify?: Ed25519Verifier): Ed25519Verifier {
  if (verify === undefined) return ed25519Verify;
  if (underPolicy.has(verify)) return verify;
  return policed(verify);
}

/** Verifiers that already apply the policy: {@link withEd25519Policy} returns such a one as it is. */
const underPolicy = new WeakSet<Ed25519Verifier>();

/** `verify` (the installed back end's when undefined, looked up at each call) under the policy. */
function policed(verify: Ed25519Verifier | undefined): Ed25519Verifier {
  const checked: Ed25519Verifier = (publicKey, message, signature) => {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    if (!ed25519CanonicalS(signature) || isSmallOrderEd25519Key(publicKey)) return false;
    try {
      return (verify ?? backend.ed25519Verify)(publicKey, message, signature) === true;
    } catch {
      return false;
    }
  };
  underPolicy.add(checked);
  return checked;
}

/**
 * Ed25519 verification with the installed back end, under the policy of
 * {@link withEd25519Policy}; false for any malformed input (never throws on attacker input).
 */
export const ed25519Verify: Ed25519Verifier = policed(undefined);
