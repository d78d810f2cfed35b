/**
 * Family keys: the long-term identity of a family member's app (a parent's phone, a relative's
 * phone, the child's companion) for end-to-end sealed voice messages, and the exchange format
 * used to move the *public* half between devices (a QR code or a pasted string).
 *
 * Pure: no I/O, no `node:` imports (runs in React Native and browsers).
 *
 * Byte layouts are specified in `docs/MESSAGES.md`.
 */
import {
  ed25519KeyPairFromSeed,
  isLowOrderX25519Key,
  isSmallOrderEd25519Key,
  randomBytes,
  sha512,
  x25519KeyPairFromSecret,
  type RandomSource,
} from '../protocol/crypto.js';
import { bytesEqual, concatBytes, fromHex, fromUtf8, toHex, utf8 } from '../protocol/bytes.js';
import { PlushlinkError } from '../protocol/errors.js';
import { base32Encode } from '../protocol/base32.js';

/** Length in bytes of a recipient key id (truncated SHA-512 of a box public key). */
export const KEY_ID_LEN = 16;
/** Maximum length of a display name, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 64;
/** Prefix of a family key code. Upper case so the whole code fits QR alphanumeric mode. */
export const FAMILY_KEY_CODE_PREFIX = 'PLFK:';
/** Version byte of the family key code payload. */
export const FAMILY_KEY_CODE_VERSION = 1;

const CODE_CHECKSUM_CONTEXT = utf8('plushlink/family-key-code/checksum');
const FINGERPRINT_CONTEXT = utf8('plushlink/family-key/fingerprint');
const CODE_CHECKSUM_LEN = 4;

/** The public half of a family member's keys: what is exchanged and pinned. */
export interface FamilyPublicKey {
  /** Display name chosen by the owner (self-asserted, shown to humans, not authenticated). */
  name: string;
  /** Ed25519 public key (32 bytes): verifies the signature on every message this member sends. */
  signPublicKey: Uint8Array;
  /** X25519 public key (32 bytes): messages to this member wrap their content key to it. */
  boxPublicKey: Uint8Array;
}

/** A family member's full identity (keep secret; the public part is {@link familyPublicKey}). */
export interface FamilyIdentity extends FamilyPublicKey {
  /** Ed25519 secret key, 64 bytes (tweetnacl layout: seed || public key). */
  signSecretKey: Uint8Array;
  /** X25519 secret key, 32 bytes. */
  boxSecretKey: Uint8Array;
}

function checkName(name: string): string {
  if (typeof name !== 'string') throw new PlushlinkError('BAD_PAYLOAD', 'display name must be a string');
  const n = name.normalize('NFC');
  const len = utf8(n).length;
  if (len < 1 || len > MAX_NAME_BYTES) {
    throw new PlushlinkError('BAD_PAYLOAD', `display name must be 1..${MAX_NAME_BYTES} UTF-8 bytes`, { length: len });
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(n)) throw new PlushlinkError('BAD_PAYLOAD', 'display name contains control characters');
  return n;
}

/** Builds an identity from a 32-byte Ed25519 seed and a 32-byte X25519 secret (deterministic). */
export function familyIdentityFromSecrets(name: string, signSeed: Uint8Array, boxSecret: Uint8Array): FamilyIdentity {
  const n = checkName(name);
  const sign = ed25519KeyPairFromSeed(signSeed);
  const box = x25519KeyPairFromSecret(boxSecret);
  return {
    name: n,
    signPublicKey: sign.publicKey,
    signSecretKey: sign.secretKey,
    boxPublicKey: box.publicKey,
    boxSecretKey: box.secretKey,
  };
}

/**
 * Generates a fresh family identity. Randomness is drawn as: 32 bytes Ed25519 seed, then
 * 32 bytes X25519 secret.
 */
export function generateFamilyIdentity(name: string, random: RandomSource = randomBytes): FamilyIdentity {
  const signSeed = random(32);
  const boxSecret = random(32);
  return familyIdentityFromSecrets(name, signSeed, boxSecret);
}

/** The public part of an identity (safe to share). */
export function familyPublicKey(key: FamilyPublicKey): FamilyPublicKey {
  return {
    name: key.name,
    signPublicKey: Uint8Array.from(key.signPublicKey),
    boxPublicKey: Uint8Array.from(key.boxPublicKey),
  };
}

/** Recipient key id: the first 16 bytes of SHA-512(box public key). */
export function keyIdOf(boxPublicKey: Uint8Array): Uint8Array {
  if (!(boxPublicKey instanceof Uint8Array) || boxPublicKey.length !== 32) {
    throw new PlushlinkError('INVALID_KEY', 'box public key must be 32 bytes');
  }
  return sha512(boxPublicKey).slice(0, KEY_ID_LEN);
}

// ---------------------------------------------------------------------------------------------
// RFC 4648 base32 (upper case, no padding). Not cryptography; just an alphabet that fits the
// QR alphanumeric mode and survives being read aloud or retyped.
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Decodes an RFC 4648 base32 family key code (canonical form only; any length). */
function base32Decode(s: string): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of s) {
    const v = B32.indexOf(ch);
    if (v < 0) throw new PlushlinkError('BAD_QR_PAYLOAD', 'family key code contains a character outside base32');
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
    value &= (1 << bits) - 1;
  }
  // Canonical encoding only: leftover bits must be fewer than 5 and all zero.
  if (bits >= 5 || value !== 0) throw new PlushlinkError('BAD_QR_PAYLOAD', 'family key code is not canonical base32');
  return Uint8Array.from(out);
}

/**
 * Encodes the public part of a family identity as a versioned, checksummed string for a QR code
 * (only upper-case letters, digits and `:`, so QR alphanumeric mode applies):
 * `PLFK:` + base32(version=1 ‖ signPub[32] ‖ boxPub[32] ‖ nameLen[1] ‖ name ‖ checksum[4]),
 * checksum = SHA-512("plushlink/family-key-code/checksum" ‖ preceding bytes)[0..4].
 *
 * The checksum catches transcription errors; it is not authentication. Trust comes from scanning
 * in person, or from comparing {@link familyKeyFingerprint} on both screens.
 */
export function familyKeyCode(key: FamilyPublicKey): string {
  if (key.signPublicKey.length !== 32 || key.boxPublicKey.length !== 32) {
    throw new PlushlinkError('INVALID_KEY', 'family public keys must be 32 bytes each');
  }
  const name = utf8(checkName(key.name));
  const body = concatBytes(
    Uint8Array.of(FAMILY_KEY_CODE_VERSION),
    key.signPublicKey,
    key.boxPublicKey,
    Uint8Array.of(name.length),
    name,
  );
  const checksum = sha512(concatBytes(CODE_CHECKSUM_CONTEXT, body)).slice(0, CODE_CHECKSUM_LEN);
  return FAMILY_KEY_CODE_PREFIX + base32Encode(concatBytes(body, checksum), B32);
}

/**
 * Parses a family key code. Whitespace and case are ignored. Checks, in order: prefix and
 * base32 (`BAD_QR_PAYLOAD`), version byte (`UNKNOWN_VERSION`), length (`BAD_QR_PAYLOAD`),
 * checksum (`BAD_CHECKSUM`), name (`BAD_QR_PAYLOAD`), keys (`INVALID_KEY`: a small-order
 * signing key or a low-order box key names no one, docs/MESSAGES.md §2.1).
 */
export function parseFamilyKeyCode(code: string): FamilyPublicKey {
  if (typeof code !== 'string') throw new PlushlinkError('BAD_QR_PAYLOAD', 'family key code must be a string');
  const s = code.replace(/\s+/g, '').toUpperCase();
  if (!s.startsWith(FAMILY_KEY_CODE_PREFIX)) throw new PlushlinkError('BAD_QR_PAYLOAD', 'not a plushlink family key code');
  const raw = base32Decode(s.slice(FAMILY_KEY_CODE_PREFIX.length));
  if (raw.length < 1) throw new PlushlinkError('BAD_QR_PAYLOAD', 'family key code is empty');
  if (raw[0] !== FAMILY_KEY_CODE_VERSION) {
    throw new PlushlinkError('UNKNOWN_VERSION', `unknown family key code version ${raw[0]}`, { version: raw[0] });
  }
  const fixed = 1 + 32 + 32 + 1;
  if (raw.length < fixed + 1 + CODE_CHECKSUM_LEN) throw new PlushlinkError('BAD_QR_PAYLOAD', 'family key code too short');
  const nameLen = raw[fixed - 1]!;
  if (raw.length !== fixed + nameLen + CODE_CHECKSUM_LEN) throw new PlushlinkError('BAD_QR_PAYLOAD', 'family key code has the wrong length');
  const body = raw.subarray(0, fixed + nameLen);
  const checksum = raw.subarray(fixed + nameLen);
  const expected = sha512(concatBytes(CODE_CHECKSUM_CONTEXT, body)).slice(0, CODE_CHECKSUM_LEN);
  if (!bytesEqual(checksum, expected)) throw new PlushlinkError('BAD_CHECKSUM', 'family key code checksum mismatch (mistyped or damaged)');
  let name: string;
  try {
    name = fromUtf8(body.subarray(fixed, fixed + nameLen));
  } catch {
    throw new PlushlinkError('BAD_QR_PAYLOAD', 'display name is not valid UTF-8');
  }
  try {
    name = checkName(name);
  } catch (e) {
    throw new PlushlinkError('BAD_QR_PAYLOAD', 'invalid display name', undefined, { cause: e });
  }
  const signPublicKey = body.slice(1, 33);
  const boxPublicKey = body.slice(33, 65);
  if (isSmallOrderEd25519Key(signPublicKey)) {
    throw new PlushlinkError('INVALID_KEY', 'the signing key is a small-order point: anyone could sign as it');
  }
  if (isLowOrderX25519Key(boxPublicKey)) {
    throw new PlushlinkError('INVALID_KEY', 'the box key is a low-order point: nothing can be sealed to it');
  }
  return { name, signPublicKey, boxPublicKey };
}

/**
 * Human-comparable fingerprint of a family member's two public keys: six groups of five digits,
 * e.g. `"04813 99120 55321 00017 42090 71234"`. Group i is the big-endian 40-bit integer in bytes
 * [5i, 5i+5) of SHA-512("plushlink/family-key/fingerprint" ‖ signPub ‖ boxPub), modulo 100000.
 * Independent of the display name. Show it on both screens; the humans compare.
 */
export function familyKeyFingerprint(key: Pick<FamilyPublicKey, 'signPublicKey' | 'boxPublicKey'>): string {
  if (key.signPublicKey.length !== 32 || key.boxPublicKey.length !== 32) {
    throw new PlushlinkError('INVALID_KEY', 'family public keys must be 32 bytes each');
  }
  const d = sha512(concatBytes(FINGERPRINT_CONTEXT, key.signPublicKey, key.boxPublicKey));
  const groups: string[] = [];
  for (let i = 0; i < 6; i++) {
    let v = 0;
    for (let j = 0; j < 5; j++) v = v * 256 + d[5 * i + j]!;
    groups.push(String(v % 100000).padStart(5, '0'));
  }
  return groups.join(' ');
}

/** True when both values describe the same keys (names are ignored). */
export function sameFamilyKey(
  a: Pick<FamilyPublicKey, 'signPublicKey' | 'boxPublicKey'>,
  b: Pick<FamilyPublicKey, 'signPublicKey' | 'boxPublicKey'>,
): boolean {
  return bytesEqual(a.signPublicKey, b.signPublicKey) && bytesEqual(a.boxPublicKey, b.boxPublicKey);
}

/**
 * Serialises a full identity (secret!) to JSON for a keystore file:
 * `{"format":"plushlink-family-identity","version":1,"name":…,"signSeed":hex,"boxSecret":hex}`.
 */
export function serializeFamilyIdentity(identity: FamilyIdentity): string {
  return JSON.stringify({
    format: 'plushlink-family-identity',
    version: 1,
    name: identity.name,
    signSeed: toHex(identity.signSecretKey.subarray(0, 32)),
    boxSecret: toHex(identity.boxSecretKey),
  });
}

/** Parses {@link serializeFamilyIdentity} output. Throws `KEYSTORE_CORRUPT` or `UNKNOWN_VERSION`. */
export function parseFamilyIdentity(json: string): FamilyIdentity {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (e) {
    throw new PlushlinkError('KEYSTORE_CORRUPT', 'family identity file is not JSON', undefined, { cause: e });
  }
  const o = v as Record<string, unknown>;
  if (!o || typeof o !== 'object' || o.format !== 'plushlink-family-identity') {
    throw new PlushlinkError('KEYSTORE_CORRUPT', 'not a plushlink family identity');
  }
  if (o.version !== 1) throw new PlushlinkError('UNKNOWN_VERSION', `unknown family identity version ${String(o.version)}`);
  if (typeof o.name !== 'string' || typeof o.signSeed !== 'string' || typeof o.boxSecret !== 'string') {
    throw new PlushlinkError('KEYSTORE_CORRUPT', 'family identity fields missing');
  }
  try {
    const seed = fromHex(o.signSeed);
    const box = fromHex(o.boxSecret);
    if (seed.length !== 32 || box.length !== 32) throw new Error('bad key length');
    return familyIdentityFromSecrets(o.name, seed, box);
  } catch (e) {
    throw new PlushlinkError('KEYSTORE_CORRUPT', 'family identity keys are malformed', undefined, { cause: e });
  }
}
