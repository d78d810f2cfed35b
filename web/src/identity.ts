/**
 * The relative's family identity in the browser: created here with the library's
 * `generateFamilyIdentity`, kept in IndexedDB as the library's identity JSON, backed up as a file
 * (that JSON) or as a backup code (the same JSON, base32 in groups, docs/RELAY.md "The web app"),
 * and restored from either.
 */
import { db } from './db.js';
import {
  base32Decode,
  base32Encode,
  bytesEqual,
  concatBytes,
  familyKeyCode,
  generateFamilyIdentity,
  parseFamilyKeyCode,
  parseFamilyIdentity,
  PlushlinkError,
  serializeFamilyIdentity,
  sha512,
  type FamilyIdentity,
  type FamilyPublicKey,
} from './lib.js';

/** Prefix of a backup code. */
export const BACKUP_CODE_PREFIX = 'PLFB1-';

export async function loadIdentity(): Promise<FamilyIdentity | undefined> {
  const rec = await (await db()).get('identity', 'self');
  return rec ? parseFamilyIdentity(rec.json) : undefined;
}

export async function saveIdentity(identity: FamilyIdentity): Promise<void> {
  await (await db()).put('identity', { id: 'self', json: serializeFamilyIdentity(identity), createdAt: Date.now() });
}

/** Creates a new identity with the given display name and stores it. */
export async function createIdentity(name: string): Promise<FamilyIdentity> {
  const identity = generateFamilyIdentity(name.trim());
  await saveIdentity(identity);
  return identity;
}

/**
 * The backup file's text (secret!): the library's identity JSON, plus a `familyKeyCodes` field
 * with the key code of each family member added on this device, so that a restore brings the
 * family back too (the library's identity parser ignores the extra field).
 */
export function backupFileText(identity: FamilyIdentity, family: readonly FamilyPublicKey[] = []): string {
  const base = JSON.parse(serializeFamilyIdentity(identity)) as Record<string, unknown>;
  return JSON.stringify({ ...base, familyKeyCodes: family.map((m) => familyKeyCode(m)) }, null, 1);
}

/** A parsed backup: the identity and, from a backup file, the family members it lists. */
export interface Backup {
  identity: FamilyIdentity;
  family: FamilyPublicKey[];
}

const CHECKSUM_LEN = 4;

/**
 * The backup code: `PLFB1-` and Crockford base32 (the library's setup-code alphabet, which folds
 * O/0 and I/L/1) of the identity JSON followed by the first 4 bytes of its SHA-512, in groups of
 * five characters separated by hyphens, so it can be written down or kept in a password manager.
 * The checksum makes a mistyped code fail instead of restoring a different key.
 */
export function backupCode(identity: FamilyIdentity): string {
  const json = new TextEncoder().encode(serializeFamilyIdentity(identity));
  const b32 = base32Encode(concatBytes(json, sha512(json).subarray(0, CHECKSUM_LEN)));
  return BACKUP_CODE_PREFIX + (b32.match(/.{1,5}/g) ?? []).join('-');
}

/**
 * Parses a backup: the file's JSON text (with its family members), or a backup code (the
 * identity only) (case, spaces, hyphens and line breaks
 * ignored). Throws a PlushlinkError (`KEYSTORE_CORRUPT`, `UNKNOWN_VERSION`) when it is neither.
 */
export function parseBackup(text: string): Backup {
  const t = text.trim();
  if (t.startsWith('{')) {
    const identity = parseFamilyIdentity(t);
    const codes = (JSON.parse(t) as { familyKeyCodes?: unknown }).familyKeyCodes;
    const family = Array.isArray(codes) ? codes.filter((c): c is string => typeof c === 'string').map((c) => parseFamilyKeyCode(c)) : [];
    return { identity, family };
  }
  const compact = t.replace(/[\s-]+/g, '').toUpperCase();
  const prefix = BACKUP_CODE_PREFIX.replace('-', '');
  if (!compact.startsWith(prefix)) throw new PlushlinkError('KEYSTORE_CORRUPT', 'not a plushlink backup file or backup code');
  const chars = compact.slice(prefix.length);
  let json: string;
  try {
    const raw = base32Decode(chars, Math.floor((chars.length * 5) / 8));
    const body = raw.subarray(0, raw.length - CHECKSUM_LEN);
    if (raw.length <= CHECKSUM_LEN || !bytesEqual(raw.subarray(raw.length - CHECKSUM_LEN), sha512(body).subarray(0, CHECKSUM_LEN))) {
      throw new Error('checksum');
    }
    json = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new PlushlinkError('KEYSTORE_CORRUPT', 'the backup code is mistyped or damaged (check every character)');
  }
  return { identity: parseFamilyIdentity(json), family: [] };
}
