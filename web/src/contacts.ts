/**
 * Family members added by key code (docs/MESSAGES.md §2.3): their pinned public keys, the name
 * the relative chose to show, and whether our mailbox's allow-list on the relay names them.
 */
import { db, type ContactRecord } from './db.js';
import { familyKeyFingerprint, fromHex, mailboxIdOf, toHex, type FamilyPublicKey } from './lib.js';

export async function listContacts(): Promise<ContactRecord[]> {
  const all = await (await db()).getAll('contacts');
  return all.sort((a, b) => a.name.localeCompare(b.name) || a.addedAt - b.addedAt);
}

/** Adds (or renames) a member. The display name is the relative's choice (names are self-asserted). */
export async function addContact(key: FamilyPublicKey, displayName: string): Promise<ContactRecord> {
  const d = await db();
  const id = toHex(key.signPublicKey);
  const existing = await d.get('contacts', id);
  const rec: ContactRecord = {
    id,
    name: displayName.trim() || key.name,
    signPublicKey: id,
    boxPublicKey: toHex(key.boxPublicKey),
    fingerprint: familyKeyFingerprint(key),
    addedAt: existing?.addedAt ?? Date.now(),
    allowed: existing !== undefined && existing.boxPublicKey === toHex(key.boxPublicKey) ? existing.allowed : false,
  };
  await d.put('contacts', rec);
  return rec;
}

export async function removeContact(id: string): Promise<void> {
  await (await db()).delete('contacts', id);
}

export async function markAllowed(id: string, allowed: boolean): Promise<void> {
  const d = await db();
  const rec = await d.get('contacts', id);
  if (rec) await d.put('contacts', { ...rec, allowed });
}

/** The library's view of a contact. */
export function contactKey(c: ContactRecord): FamilyPublicKey {
  return { name: c.name, signPublicKey: fromHex(c.signPublicKey), boxPublicKey: fromHex(c.boxPublicKey) };
}

export function contactMailbox(c: ContactRecord): string {
  return mailboxIdOf(contactKey(c));
}
