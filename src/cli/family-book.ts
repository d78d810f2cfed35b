/**
 * The CLI's family list: the family members this device trusts (their key codes), in
 * `$PLUSHLINK_HOME/family.json`, written atomically and parsed with a schema (it is a file a user
 * may edit). Senders are trusted and recipients addressed only through this list.
 */
import * as v from 'valibot';
import { PlushlinkError } from '../index.js';
import { familyKeyCode, familyKeyFingerprint, mailboxIdOf, parseFamilyKeyCode, type FamilyPublicKey } from '../messages/index.js';
import { readTextFileIfExists, writeFileAtomicPath } from '../util/durable-fs.js';

const FileSchema = v.strictObject({
  version: v.literal(1),
  members: v.array(v.strictObject({ code: v.pipe(v.string(), v.startsWith('PLFK:')), addedAt: v.pipe(v.number(), v.integer()) })),
});

/** One trusted family member. */
export interface FamilyMember {
  key: FamilyPublicKey;
  code: string;
  fingerprint: string;
  mailboxId: string;
  addedAt: number;
}

function member(code: string, addedAt: number): FamilyMember {
  const key = parseFamilyKeyCode(code);
  return { key, code: familyKeyCode(key), fingerprint: familyKeyFingerprint(key), mailboxId: mailboxIdOf(key), addedAt };
}

/** Loads the list (empty when the file does not exist); `KEYSTORE_CORRUPT` when it does not parse. */
export async function loadFamily(path: string): Promise<FamilyMember[]> {
  const text = await readTextFileIfExists(path);
  if (text === undefined) return [];
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new PlushlinkError('KEYSTORE_CORRUPT', `${path} is not JSON`);
  }
  const parsed = v.safeParse(FileSchema, json);
  if (!parsed.success) throw new PlushlinkError('KEYSTORE_CORRUPT', `${path} is not a family list: ${parsed.issues[0]?.message ?? ''}`);
  return parsed.output.members.map((m) => member(m.code, m.addedAt));
}

async function save(path: string, members: FamilyMember[]): Promise<void> {
  const body = { version: 1, members: members.map((m) => ({ code: m.code, addedAt: m.addedAt })) };
  await writeFileAtomicPath(path, JSON.stringify(body, null, 2) + '\n');
}

/** Adds a member by key code; `added: false` when the same keys are already there. */
export async function addFamilyMember(path: string, code: string, now = Date.now()): Promise<{ member: FamilyMember; added: boolean }> {
  const m = member(code.trim(), now);
  const members = await loadFamily(path);
  const same = members.find((x) => x.mailboxId === m.mailboxId);
  if (same) return { member: same, added: false };
  await save(path, [...members, m]);
  return { member: m, added: true };
}

/** Finds members by name, fingerprint (spaces ignored) or key code. */
export function findFamilyMembers(members: readonly FamilyMember[], query: string): FamilyMember[] {
  const q = query.trim();
  const fp = q.replace(/\s+/g, '').toLowerCase();
  return members.filter((m) => m.key.name === q || m.code === q || m.fingerprint.replace(/\s+/g, '').toLowerCase() === fp);
}

/** Removes the one member `query` names; `NOT_FOUND` for none, `BAD_PAYLOAD` when ambiguous. */
export async function removeFamilyMember(path: string, query: string): Promise<FamilyMember> {
  const members = await loadFamily(path);
  const found = findFamilyMembers(members, query);
  if (found.length === 0) throw new PlushlinkError('NOT_FOUND', `no family member "${query}" (see: plushlink family list)`);
  if (found.length > 1) throw new PlushlinkError('BAD_PAYLOAD', `"${query}" names ${found.length} members: use the fingerprint`);
  await save(path, members.filter((m) => m !== found[0]));
  return found[0]!;
}
