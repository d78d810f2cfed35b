/**
 * What the app keeps in the browser, in one IndexedDB database `plushlink` (docs/RELAY.md, "The
 * web app: what it stores in the browser"):
 *
 * - `identity`: the relative's family identity (secret), as the library's identity JSON
 *   (docs/MESSAGES.md §2) under the key `self`;
 * - `contacts`: the family members added by key code (public keys, name, when added);
 * - `inbox`: received envelopes, still sealed, with what the app learnt opening them;
 * - `outbox`: sealed envelopes waiting for every recipient's delivery receipt;
 * - `settings`: small values (e.g. whether the allow-list on the relay is up to date).
 *
 * Envelopes are stored sealed: the audio is opened again each time it is played.
 */
import { deleteDB, openDB, type DBSchema, type IDBPDatabase } from 'idb';

export const DB_NAME = 'plushlink';
export const DB_VERSION = 1;

/** The stored identity: the library's identity JSON (secret). */
export interface IdentityRecord {
  id: 'self';
  json: string;
  createdAt: number;
}

/** A family member added by key code. Keys as 64 lower-case hex characters. */
export interface ContactRecord {
  /** The member's Ed25519 public key (hex): the contact's id. */
  id: string;
  name: string;
  signPublicKey: string;
  boxPublicKey: string;
  fingerprint: string;
  addedAt: number;
  /** True once the relay's allow-list of our mailbox names this member. */
  allowed: boolean;
}

/** A received envelope. */
export interface InboxRecord {
  messageId: string;
  /** The envelope bytes, sealed, exactly as received. */
  envelope: Uint8Array;
  /** Sender's Ed25519 public key (hex), as signed in the envelope. */
  sender: string;
  /** When the sender says it made the message (signed), ms. */
  createdAt: number;
  /** When this app stored it, ms. */
  receivedAt: number;
  /** Audio bytes (Ogg Opus) length. */
  audioLength: number;
  /** Set once played. */
  playedAt?: number;
}

/** A sealed message of ours waiting for its recipients' receipts. */
export interface OutboxRecord {
  messageId: string;
  envelope: Uint8Array;
  createdAt: number;
  /** Recipients: contact ids (sign key hex) and their mailbox ids. */
  recipients: { contactId: string; mailboxId: string; name: string }[];
  /** Mailbox ids whose verified receipt we hold. */
  delivered: string[];
  /** Last upload attempt's error, for the list (cleared on success). */
  lastError?: string;
  /** Audio length, seconds. */
  seconds: number;
}

interface Schema extends DBSchema {
  identity: { key: string; value: IdentityRecord };
  contacts: { key: string; value: ContactRecord };
  inbox: { key: string; value: InboxRecord; indexes: { receivedAt: number } };
  outbox: { key: string; value: OutboxRecord; indexes: { createdAt: number } };
  settings: { key: string; value: { key: string; value: unknown } };
}

export type AppDB = IDBPDatabase<Schema>;

let dbPromise: Promise<AppDB> | undefined;

/** Opens (and on first use creates) the database. */
export function db(): Promise<AppDB> {
  dbPromise ??= openDB<Schema>(DB_NAME, DB_VERSION, {
    upgrade(d) {
      d.createObjectStore('identity', { keyPath: 'id' });
      d.createObjectStore('contacts', { keyPath: 'id' });
      d.createObjectStore('inbox', { keyPath: 'messageId' }).createIndex('receivedAt', 'receivedAt');
      d.createObjectStore('outbox', { keyPath: 'messageId' }).createIndex('createdAt', 'createdAt');
      d.createObjectStore('settings', { keyPath: 'key' });
    },
  });
  return dbPromise;
}

export async function getSetting<T>(key: string): Promise<T | undefined> {
  return (await (await db()).get('settings', key))?.value as T | undefined;
}

export async function setSetting(key: string, value: unknown): Promise<void> {
  await (await db()).put('settings', { key, value });
}

/** Deletes the whole database (used by "forget this device"). */
export async function deleteEverything(): Promise<void> {
  const d = await db();
  d.close();
  dbPromise = undefined;
  await deleteDB(DB_NAME);
}
