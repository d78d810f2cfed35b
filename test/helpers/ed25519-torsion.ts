/**
 * The Ed25519 points of small order (order 1, 2, 4 or 8), computed here from the curve equation
 * with plain BigInt arithmetic, independently of the list in src/protocol/crypto.ts, and
 * signatures forged under them (docs/PROTOCOL.md §18: why plushlink refuses such keys).
 *
 * Curve: −x² + y² = 1 + d·x²·y² over p = 2^255 − 19 (RFC 8032 §5.1). Slow and not constant
 * time: for tests only.
 */
import { signatureBase } from '../../src/messages/http-signature.js';

const P = 2n ** 255n - 19n;
const mod = (a: bigint): bigint => ((a % P) + P) % P;
function pow(b: bigint, e: bigint): bigint {
  let r = 1n;
  b = mod(b);
  while (e > 0n) {
    if (e & 1n) r = (r * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return r;
}
const inv = (a: bigint): bigint => pow(a, P - 2n);
const D = mod(-121665n * inv(121666n));
const SQRT_M1 = pow(2n, (P - 1n) / 4n);
/** The prime order of the base point's group (RFC 8032 §5.1). */
export const ED25519_ORDER = 2n ** 252n + 27742317777372353535851937790883648493n;

/** A scalar (0 ≤ s < 2^256) as 32 little-endian bytes: the encoding of a signature's S (RFC 8032 §5.1.2). */
export function scalarBytes(s: bigint): Uint8Array {
  if (s < 0n || s >= 2n ** 256n) throw new RangeError('scalar out of range');
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((s >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** The scalar 32 little-endian bytes encode (a signature's S is `scalarOf(signature.subarray(32))`). */
export function scalarOf(bytes: Uint8Array): bigint {
  let s = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) s = (s << 8n) | BigInt(bytes[i]!);
  return s;
}

/** `signature` with S replaced by S + L: the same equation holds, so only a canonical-S check refuses it. */
export function malleate(signature: Uint8Array): Uint8Array {
  const out = Uint8Array.from(signature);
  out.set(scalarBytes(scalarOf(signature.subarray(32, 64)) + ED25519_ORDER), 32);
  return out;
}

/** An affine point. */
export interface EdPoint {
  x: bigint;
  y: bigint;
}
const IDENTITY: EdPoint = { x: 0n, y: 1n };

export function edAdd(a: EdPoint, b: EdPoint): EdPoint {
  const t = mod(D * a.x * b.x * a.y * b.y);
  return { x: mod((a.x * b.y + a.y * b.x) * inv(1n + t)), y: mod((a.y * b.y + a.x * b.x) * inv(1n - t)) };
}

export function edMul(n: bigint, a: EdPoint): EdPoint {
  let r = IDENTITY;
  let q = a;
  while (n > 0n) {
    if (n & 1n) r = edAdd(r, q);
    q = edAdd(q, q);
    n >>= 1n;
  }
  return r;
}

export const edEqual = (a: EdPoint, b: EdPoint): boolean => a.x === b.x && a.y === b.y;
export const isIdentity = (a: EdPoint): boolean => edEqual(a, IDENTITY);

function le(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

function leBytes(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

/**
 * Decodes a 32-byte encoding leniently, as a permissive verifier might: y is taken mod p (so
 * y ≥ p is accepted) and a sign bit on x = 0 is ignored. `undefined` when no x exists.
 */
export function edDecode(bytes: Uint8Array): EdPoint | undefined {
  const sign = bytes[31]! >> 7;
  const y = mod(le(bytes) & (2n ** 255n - 1n));
  const u = mod(y * y - 1n);
  const v = mod(D * y * y + 1n);
  const x2 = mod(u * inv(v));
  let x = pow(x2, (P + 3n) / 8n);
  if (mod(x * x) !== x2) x = mod(x * SQRT_M1);
  if (mod(x * x) !== x2) return undefined;
  if (x !== 0n && Number(x & 1n) !== sign) x = P - x;
  return { x, y };
}

/** The canonical encoding (RFC 8032 §5.1.2). */
export function edEncode(a: EdPoint): Uint8Array {
  const out = leBytes(a.y);
  out[31]! |= Number(a.x & 1n) << 7;
  return out;
}

/**
 * Every 32-byte string that decodes (leniently, {@link edDecode}) to a point of order dividing 8:
 * for each such point its y and, when below 2^255, y + p, each with either sign bit.
 */
export function smallOrderEncodings(points: readonly EdPoint[]): Uint8Array[] {
  const seen = new Map<string, Uint8Array>();
  for (const t of points) {
    for (const y of [t.y, t.y + P]) {
      if (y >= 2n ** 255n) continue;
      for (const sign of [0, 1]) {
        const e = leBytes(y);
        e[31]! |= sign << 7;
        seen.set(Buffer.from(e).toString('hex'), e);
      }
    }
  }
  return [...seen.values()];
}

/**
 * The eight points of order dividing 8: a point T = [L]·Q of a point Q off the prime-order group
 * has order 8 when [4]T is not the identity, and then T generates them all. `seed` picks the y
 * of the candidate points deterministically.
 */
export function torsionPoints(seed = 1n): EdPoint[] {
  for (let y = seed + 2n; y < seed + 200n; y++) {
    const q = edDecode(leBytes(y));
    if (!q) continue;
    const t = edMul(ED25519_ORDER, q);
    if (isIdentity(edMul(4n, t))) continue;
    const all: EdPoint[] = [];
    let acc = IDENTITY;
    for (let i = 0; i < 8; i++) {
      all.push(acc);
      acc = edAdd(acc, t);
    }
    return all;
  }
  throw new Error('no point of order 8 found');
}

/**
 * A signature R ‖ S with S = 0 that `rawVerify` accepts for `message` under the small-order key
 * `publicKey`, or undefined: with [S]B = O the equation asks R = −[k]A, a small-order point, so
 * some R among the eight works for a good share of messages. Anyone can do this; no secret key
 * is involved.
 */
export function forgeUnderSmallOrderKey(
  publicKey: Uint8Array,
  message: Uint8Array,
  rawVerify: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean,
  points: readonly EdPoint[] = torsionPoints(),
): Uint8Array | undefined {
  for (const r of points) {
    const signature = new Uint8Array(64);
    signature.set(edEncode(r), 0);
    let ok = false;
    try {
      ok = rawVerify(publicKey, message, signature);
    } catch {
      ok = false;
    }
    if (ok) return signature;
  }
  return undefined;
}

/**
 * A signed request's headers with its signature replaced by one forged under the small-order key
 * its `keyid` names (docs/RELAY.md §3.2: the signature covers the signature base), or undefined
 * when no R works for this base (the caller varies the nonce and tries again). Returns the base
 * and the forged signature as well, so a test can show that `rawVerify` accepts them.
 */
export function forgeRequestSignature<H extends { 'content-digest'?: string; 'signature-input'?: string; signature?: string }>(
  key: Uint8Array,
  request: { method: string; target: string; body?: Uint8Array },
  headers: H,
  rawVerify: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean,
  points: readonly EdPoint[] = torsionPoints(),
): { headers: H; base: Uint8Array; signature: Uint8Array } | undefined {
  const input = headers['signature-input'];
  const digest = headers['content-digest'];
  if (input === undefined || digest === undefined || !input.startsWith('sig1=')) throw new Error('not a signed request');
  const base = signatureBase({ method: request.method, target: request.target, body: request.body ?? new Uint8Array(0) }, digest, input.slice('sig1='.length));
  const signature = forgeUnderSmallOrderKey(key, base, rawVerify, points);
  if (signature === undefined) return undefined;
  return { headers: { ...headers, signature: `sig1=:${Buffer.from(signature).toString('base64')}:` }, base, signature };
}

/**
 * X25519 public keys of low order (RFC 7748 §6.1 sets them apart): u = 0, u = 1, the two points
 * of order 8, p − 1, and the non-canonical p and p + 1 (docs/PROTOCOL.md §18).
 */
export const LOW_ORDER_X25519_HEX: readonly string[] = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];
