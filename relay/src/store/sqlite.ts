/**
 * The relay's SQLite back end (docs/RELAY.md, relay/src/store/types.ts): one database file, used by
 * one relay process. better-sqlite3 is synchronous; every method runs one statement or one
 * transaction and is wrapped in the async {@link RelayStore} interface.
 *
 * Durability: `journal_mode = WAL` with `synchronous = FULL`, so a write the relay has
 * acknowledged survives a SIGKILL of the relay and a power loss (the WAL is synced at every
 * commit). Every writing transaction is `BEGIN IMMEDIATE`, so it takes the write lock before it
 * reads what it checks (quotas, duplicates), and two store instances on one file stay exact.
 *
 * What is stored (docs/RELAY.md §1, §8): ids, public keys, envelope bytes and their SHA-512,
 * sizes, times, receipt signatures and request nonces; no secret of any kind.
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import Database from 'better-sqlite3';
import type {
  DeliveryRecord,
  ExpireReport,
  MailboxRecord,
  MailboxUsage,
  NewEnvelope,
  PendingEnvelope,
  PutEnvelopeResult,
  Quotas,
  ReceiptRecord,
  RelayStore,
  SpentNonce,
} from './types.js';
import { NonceReplayedError } from './types.js';
import { asBuffer, checkLimit, toBytes } from './values.js';

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  /** The database file (created when missing). `':memory:'` for a private in-memory database. */
  path: string;
  /** How long a statement waits for another connection's write lock, ms (default 5000). */
  busyTimeoutMs?: number;
}

/**
 * The settings a SQLite store's connection runs with (docs/RELAY.md §6), read back from SQLite
 * itself: what an operator checks, and what the tests pin (a write acknowledged under anything
 * but `synchronous = FULL` could be lost by a power cut).
 */
export interface SqliteConnectionSettings {
  /** `wal` for a file (an in-memory database reports `memory`). */
  journalMode: string;
  synchronous: 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA';
  busyTimeoutMs: number;
  foreignKeys: boolean;
  secureDelete: boolean;
}

/** A SQLite relay store: the store interface and its connection's settings. */
export interface SqliteRelayStore extends RelayStore {
  readonly kind: 'sqlite';
  connectionSettings(): SqliteConnectionSettings;
}

const SYNCHRONOUS = ['OFF', 'NORMAL', 'FULL', 'EXTRA'] as const;

/**
 * The schema, one migration per version. A migration runs once, inside the transaction that
 * records its version in `schema_version`; `init()` applies the missing ones (idempotent).
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE mailboxes (
    mailbox_id      TEXT    NOT NULL PRIMARY KEY,
    key_id          TEXT    NOT NULL,
    sign_public_key TEXT    NOT NULL,
    box_public_key  TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE senders (
    mailbox_id TEXT    NOT NULL REFERENCES mailboxes (mailbox_id) ON DELETE CASCADE,
    sender     TEXT    NOT NULL,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, sender)
  ) STRICT, WITHOUT ROWID;

  CREATE TABLE envelopes (
    message_id  TEXT    NOT NULL PRIMARY KEY,
    sender      TEXT    NOT NULL,
    bytes       BLOB    NOT NULL,
    hash        BLOB    NOT NULL,
    size        INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX envelopes_by_expiry ON envelopes (expires_at);

  -- No cascade from envelopes: an envelope is only deleted once no delivery refers to it, and a
  -- mistake in that rule fails loudly instead of silently dropping a pending delivery.
  CREATE TABLE deliveries (
    mailbox_id  TEXT    NOT NULL REFERENCES mailboxes (mailbox_id) ON DELETE CASCADE,
    message_id  TEXT    NOT NULL REFERENCES envelopes (message_id),
    received_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, message_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX deliveries_pending ON deliveries (mailbox_id, received_at, message_id);
  CREATE INDEX deliveries_by_message ON deliveries (message_id);
  CREATE INDEX deliveries_by_expiry ON deliveries (expires_at);

  CREATE TABLE receipts (
    message_id    TEXT    NOT NULL,
    mailbox_id    TEXT    NOT NULL,
    sender        TEXT    NOT NULL,
    recipient     TEXT    NOT NULL,
    recipient_box TEXT    NOT NULL,
    signature     BLOB    NOT NULL,
    at            INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    PRIMARY KEY (message_id, mailbox_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX receipts_by_sender ON receipts (sender, at, message_id, mailbox_id);
  CREATE INDEX receipts_by_expiry ON receipts (expires_at);

  CREATE TABLE nonces (
    key_id     TEXT    NOT NULL,
    nonce      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, nonce)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX nonces_by_expiry ON nonces (expires_at);
  `,
];

/** The schema version this code writes. */
export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;

type Listener = () => void;

/**
 * Subscribers per database file, shared by every store instance of this process on that file
 * (one SQLite file = one relay process, so an in-process emitter reaches every waiter).
 */
const channels = new Map<string, Map<string, Set<Listener>>>();

function channelKey(path: string, db: Database.Database): string {
  if (path === '' || path === ':memory:' || db.memory) return `memory:${Math.random()}:${process.hrtime.bigint()}`;
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}




interface EnvelopeRow {
  sender: string;
  bytes: Buffer;
  size: number;
}

interface MailboxRow {
  mailbox_id: string;
  key_id: string;
  sign_public_key: string;
  box_public_key: string;
  created_at: number;
}

interface ReceiptRow {
  message_id: string;
  mailbox_id: string;
  sender: string;
  recipient: string;
  recipient_box: string;
  signature: Buffer;
  at: number;
  expires_at: number;
}

function mailboxOf(row: MailboxRow): MailboxRecord {
  return {
    mailboxId: row.mailbox_id,
    keyId: row.key_id,
    signPublicKey: row.sign_public_key,
    boxPublicKey: row.box_public_key,
    createdAt: row.created_at,
  };
}

/** Opens (creating when missing) a SQLite relay store. Call `init()` before using it. */
export function openSqliteStore(options: SqliteStoreOptions): SqliteRelayStore {
  const db = new Database(options.path);
  db.pragma('journal_mode = WAL');
  const mode = db.pragma('journal_mode', { simple: true });
  if (!db.memory && String(mode).toLowerCase() !== 'wal') {
    db.close();
    throw new Error(`sqlite store: could not switch ${options.path} to WAL (journal_mode is ${String(mode)})`);
  }
  // FULL: the WAL is synced at every commit (docs/RELAY.md: acknowledged writes survive a power loss).
  db.pragma('synchronous = FULL');
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
  db.pragma('foreign_keys = ON');
  // Freed pages (acknowledged or expired envelopes) are overwritten with zeros, so deleted bytes do
  // not linger in the file (docs/RELAY.md §8 "Deleted is deleted").
  db.pragma('secure_delete = ON');

  const key = channelKey(options.path, db);
  let channel = channels.get(key);
  if (!channel) {
    channel = new Map();
    channels.set(key, channel);
  }
  const subscribers = channel;
  const mine = new Set<{ mailboxId: string; listener: Listener }>();
  let closed = false;
  let ready = false;

  function notify(mailboxIds: readonly string[]): void {
    for (const id of mailboxIds) {
      const set = subscribers.get(id);
      if (!set) continue;
      for (const listener of [...set]) {
        queueMicrotask(() => {
          try {
            listener();
          } catch {
            // A subscriber's failure is its own; the delivery is committed.
          }
        });
      }
    }
  }

  function migrate(): void {
    db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL PRIMARY KEY) STRICT');
    const apply = db.transaction(() => {
      const row = db.prepare('SELECT max(version) AS v FROM schema_version').get() as { v: number | null };
      const current = row.v ?? 0;
      if (current > MIGRATIONS.length) {
        throw new Error(`sqlite store: database schema version ${current} is newer than this relay (${MIGRATIONS.length})`);
      }
      for (let v = current + 1; v <= MIGRATIONS.length; v++) {
        db.exec(MIGRATIONS[v - 1]!);
        db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(v);
      }
    });
    apply.immediate();
  }

  // Statements are prepared once `init()` has created the schema.
  let s: ReturnType<typeof prepare> | undefined;

  function prepare() {
    return {
      insertNonce: db.prepare('INSERT INTO nonces (key_id, nonce, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
      hasNonce: db.prepare('SELECT 1 FROM nonces WHERE key_id = ? AND nonce = ?'),
      insertMailbox: db.prepare(
        `INSERT INTO mailboxes (mailbox_id, key_id, sign_public_key, box_public_key, created_at)
         VALUES (@mailboxId, @keyId, @signPublicKey, @boxPublicKey, @createdAt) ON CONFLICT DO NOTHING`,
      ),
      getMailbox: db.prepare('SELECT * FROM mailboxes WHERE mailbox_id = ?'),
      deleteMailboxEnvelopes: db.prepare(
        // Envelopes whose only deliveries are this mailbox's: their deliveries, then the bytes.
        `SELECT d.message_id AS id FROM deliveries d WHERE d.mailbox_id = @mailboxId AND NOT EXISTS
           (SELECT 1 FROM deliveries o WHERE o.message_id = d.message_id AND o.mailbox_id <> @mailboxId)`,
      ),
      deleteDeliveriesOf: db.prepare('DELETE FROM deliveries WHERE mailbox_id = ?'),
      deleteMailbox: db.prepare('DELETE FROM mailboxes WHERE mailbox_id = ?'),
      deleteOrphan: db.prepare(
        'DELETE FROM envelopes WHERE message_id = ? AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = envelopes.message_id)',
      ),
      usage: db.prepare(
        `SELECT count(*) AS n, coalesce(sum(e.size), 0) AS bytes
           FROM deliveries d JOIN envelopes e ON e.message_id = d.message_id WHERE d.mailbox_id = ?`,
      ),
      allow: db.prepare('INSERT INTO senders (mailbox_id, sender, added_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
      disallow: db.prepare('DELETE FROM senders WHERE mailbox_id = ? AND sender = ?'),
      listSenders: db.prepare('SELECT sender FROM senders WHERE mailbox_id = ? ORDER BY added_at, sender'),
      isAllowed: db.prepare('SELECT 1 AS ok FROM senders WHERE mailbox_id = ? AND sender = ?'),
      getEnvelopeRow: db.prepare('SELECT sender, bytes, size FROM envelopes WHERE message_id = ?'),
      hasDelivery: db.prepare('SELECT 1 AS ok FROM deliveries WHERE mailbox_id = ? AND message_id = ?'),
      insertEnvelope: db.prepare(
        `INSERT INTO envelopes (message_id, sender, bytes, hash, size, received_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      extendEnvelope: db.prepare('UPDATE envelopes SET expires_at = max(expires_at, ?) WHERE message_id = ?'),
      insertDelivery: db.prepare(
        'INSERT INTO deliveries (mailbox_id, message_id, received_at, expires_at) VALUES (?, ?, ?, ?)',
      ),
      listPending: db.prepare(
        `SELECT d.message_id AS messageId, e.size AS size, d.received_at AS receivedAt, e.sender AS sender
           FROM deliveries d JOIN envelopes e ON e.message_id = d.message_id
          WHERE d.mailbox_id = ? ORDER BY d.received_at, d.message_id LIMIT ?`,
      ),
      getPendingBytes: db.prepare(
        `SELECT e.bytes AS bytes FROM deliveries d JOIN envelopes e ON e.message_id = d.message_id
          WHERE d.mailbox_id = ? AND d.message_id = ?`,
      ),
      getDelivery: db.prepare(
        `SELECT d.message_id AS messageId, d.mailbox_id AS mailboxId, e.sender AS sender, e.size AS size, e.hash AS hash
           FROM deliveries d JOIN envelopes e ON e.message_id = d.message_id
          WHERE d.mailbox_id = ? AND d.message_id = ?`,
      ),
      deleteDelivery: db.prepare('DELETE FROM deliveries WHERE mailbox_id = ? AND message_id = ?'),
      upsertReceipt: db.prepare(
        `INSERT INTO receipts (message_id, mailbox_id, sender, recipient, recipient_box, signature, at, expires_at)
         VALUES (@messageId, @mailboxId, @sender, @recipient, @recipientBox, @signature, @at, @expiresAt)
         ON CONFLICT (message_id, mailbox_id) DO UPDATE SET
           sender = excluded.sender, recipient = excluded.recipient, recipient_box = excluded.recipient_box,
           signature = excluded.signature, at = excluded.at, expires_at = excluded.expires_at`,
      ),
      listReceipts: db.prepare(
        'SELECT * FROM receipts WHERE sender = ? ORDER BY at, message_id, mailbox_id LIMIT ?',
      ),
      listReceiptsAfter: db.prepare(
        'SELECT * FROM receipts WHERE sender = ? AND (at, message_id, mailbox_id) > (?, ?, ?) ORDER BY at, message_id, mailbox_id LIMIT ?',
      ),
      deleteReceipts: db.prepare('DELETE FROM receipts WHERE sender = ? AND message_id = ?'),
      expiredMessages: db.prepare(
        `SELECT message_id AS id FROM deliveries WHERE expires_at <= @now
         UNION SELECT message_id AS id FROM envelopes WHERE expires_at <= @now`,
      ),
      expireDeliveries: db.prepare('DELETE FROM deliveries WHERE expires_at <= ?'),
      expireReceipts: db.prepare('DELETE FROM receipts WHERE expires_at <= ?'),
      expireNonces: db.prepare('DELETE FROM nonces WHERE expires_at <= ?'),
    };
  }

  function st(): NonNullable<typeof s> {
    if (closed) throw new Error('sqlite store: closed');
    if (!s || !ready) throw new Error('sqlite store: call init() first');
    return s;
  }

  /** Spends a request's nonce inside the caller's transaction, first (RelayStore: SpentNonce). */
  function spend(q: NonNullable<typeof s>, nonce: SpentNonce | undefined): void {
    if (nonce && q.insertNonce.run(nonce.keyId, nonce.nonce, nonce.expiresAt).changes === 0) throw new NonceReplayedError();
  }

  const putTx = db.transaction((env: NewEnvelope, quotas: Quotas, nonce: SpentNonce | undefined): PutEnvelopeResult => {
    const q = st();
    spend(q, nonce);
    const to = [...new Set(env.to)];
    const size = env.bytes.byteLength;
    const existing = q.getEnvelopeRow.get(env.messageId) as EnvelopeRow | undefined;
    if (existing && !asBuffer(env.bytes).equals(existing.bytes)) return { result: 'conflict' };
    const targets = existing ? to.filter((m) => !q.hasDelivery.get(m, env.messageId)) : to;
    // Quotas are checked before anything is written, so a refusal changes nothing.
    for (const mailboxId of targets) {
      const u = q.usage.get(mailboxId) as { n: number; bytes: number };
      if (u.n + 1 > quotas.maxEnvelopes) return { result: 'quota', code: 'RELAY_QUOTA_COUNT', mailboxId };
      if (u.bytes + size > quotas.maxBytes) return { result: 'quota', code: 'RELAY_QUOTA_BYTES', mailboxId };
    }
    if (!existing) {
      q.insertEnvelope.run(env.messageId, env.sender, asBuffer(env.bytes), asBuffer(env.hash), size, env.receivedAt, env.expiresAt);
    } else if (targets.length > 0) {
      q.extendEnvelope.run(env.expiresAt, env.messageId);
    }
    for (const mailboxId of targets) q.insertDelivery.run(mailboxId, env.messageId, env.receivedAt, env.expiresAt);
    return { result: existing ? 'duplicate' : 'stored', delivered: targets };
  });

  const deleteMailboxTx = db.transaction((mailboxId: string): boolean => {
    const q = st();
    if (!q.getMailbox.get(mailboxId)) return false;
    const only = (q.deleteMailboxEnvelopes.all({ mailboxId }) as Array<{ id: string }>).map((r) => r.id);
    q.deleteDeliveriesOf.run(mailboxId);
    for (const id of only) q.deleteOrphan.run(id);
    q.deleteMailbox.run(mailboxId);
    return true;
  });

  const endDeliveryTx = db.transaction((mailboxId: string, messageId: string, receipt: ReceiptRecord | undefined, nonce: SpentNonce | undefined): boolean => {
    const q = st();
    spend(q, nonce);
    if (receipt) {
      const env = q.getEnvelopeRow.get(messageId) as EnvelopeRow | undefined;
      if (env && q.hasDelivery.get(mailboxId, messageId) && env.sender !== receipt.sender) {
        throw new Error('sqlite store: receipt sender is not the envelope sender');
      }
    }
    if (q.deleteDelivery.run(mailboxId, messageId).changes === 0) return false;
    if (receipt) {
      q.upsertReceipt.run({
        messageId: receipt.messageId,
        mailboxId: receipt.mailboxId,
        sender: receipt.sender,
        recipient: receipt.recipient,
        recipientBox: receipt.recipientBox,
        signature: asBuffer(receipt.signature),
        at: receipt.at,
        expiresAt: receipt.expiresAt,
      });
    }
    q.deleteOrphan.run(messageId);
    return true;
  });

  const expireTx = db.transaction((now: number): ExpireReport => {
    const q = st();
    const ids = (q.expiredMessages.all({ now }) as Array<{ id: string }>).map((r) => r.id);
    const deliveries = q.expireDeliveries.run(now).changes;
    let envelopes = 0;
    for (const id of ids) envelopes += q.deleteOrphan.run(id).changes;
    const receipts = q.expireReceipts.run(now).changes;
    const nonces = q.expireNonces.run(now).changes;
    return { deliveries, envelopes, receipts, nonces };
  });

  const store: SqliteRelayStore = {
    kind: 'sqlite',

    connectionSettings() {
      if (closed) throw new Error('sqlite store: closed');
      const synchronous = SYNCHRONOUS[Number(db.pragma('synchronous', { simple: true }))];
      if (synchronous === undefined) throw new Error('sqlite store: unknown synchronous level');
      return {
        journalMode: String(db.pragma('journal_mode', { simple: true })).toLowerCase(),
        synchronous,
        busyTimeoutMs: Number(db.pragma('busy_timeout', { simple: true })),
        foreignKeys: Number(db.pragma('foreign_keys', { simple: true })) === 1,
        secureDelete: Number(db.pragma('secure_delete', { simple: true })) === 1,
      };
    },

    async init() {
      if (closed) throw new Error('sqlite store: closed');
      if (ready) return;
      migrate();
      s = prepare();
      ready = true;
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const { mailboxId, listener } of mine) subscribers.get(mailboxId)?.delete(listener);
      mine.clear();
      if (subscribers.size === 0 && channels.get(key) === subscribers) channels.delete(key);
      db.close();
    },

    async rememberNonce(keyId, nonce, expiresAt, options) {
      const q = st();
      if (options?.durable !== false) return q.insertNonce.run(keyId, nonce, expiresAt).changes === 1;
      // This one commit is not synced (WAL: the next synced commit syncs it too); see RelayStore.
      db.pragma('synchronous = NORMAL');
      try {
        return q.insertNonce.run(keyId, nonce, expiresAt).changes === 1;
      } finally {
        db.pragma('synchronous = FULL');
      }
    },

    async nonceSpent(keyId, nonce) {
      return st().hasNonce.get(keyId, nonce) !== undefined;
    },

    async createMailbox(mailbox) {
      const q = st();
      const row0 = {
        mailboxId: mailbox.mailboxId,
        keyId: mailbox.keyId,
        signPublicKey: mailbox.signPublicKey,
        boxPublicKey: mailbox.boxPublicKey,
        createdAt: mailbox.createdAt,
      };
      if (q.insertMailbox.run(row0).changes === 1) return 'created';
      const row = q.getMailbox.get(mailbox.mailboxId) as MailboxRow | undefined;
      if (row && row.sign_public_key === mailbox.signPublicKey && row.box_public_key === mailbox.boxPublicKey && row.key_id === mailbox.keyId) {
        return 'exists';
      }
      throw new Error(`sqlite store: mailbox ${mailbox.mailboxId} exists with other keys`);
    },

    async getMailbox(mailboxId) {
      const row = st().getMailbox.get(mailboxId) as MailboxRow | undefined;
      return row ? mailboxOf(row) : undefined;
    },

    async deleteMailbox(mailboxId) {
      return deleteMailboxTx.immediate(mailboxId);
    },

    async mailboxUsage(mailboxId): Promise<MailboxUsage> {
      const u = st().usage.get(mailboxId) as { n: number; bytes: number };
      return { envelopes: u.n, bytes: u.bytes };
    },

    async allowSender(mailboxId, sender, at) {
      return st().allow.run(mailboxId, sender, at).changes === 1;
    },

    async disallowSender(mailboxId, sender) {
      return st().disallow.run(mailboxId, sender).changes === 1;
    },

    async listSenders(mailboxId) {
      return (st().listSenders.all(mailboxId) as Array<{ sender: string }>).map((r) => r.sender);
    },

    async isSenderAllowed(mailboxId, sender) {
      return st().isAllowed.get(mailboxId, sender) !== undefined;
    },

    async putEnvelope(envelope, quotas, nonce) {
      const result = putTx.immediate(envelope, quotas, nonce);
      if (result.result === 'stored' || result.result === 'duplicate') notify(result.delivered);
      return result;
    },

    async listPending(mailboxId, limit): Promise<PendingEnvelope[]> {
      return (st().listPending.all(mailboxId, checkLimit(limit)) as PendingEnvelope[]).map((r) => ({ ...r }));
    },

    async getEnvelope(mailboxId, messageId) {
      const row = st().getPendingBytes.get(mailboxId, messageId) as { bytes: Buffer } | undefined;
      return row ? toBytes(row.bytes, 'sqlite') : undefined;
    },

    async getDelivery(mailboxId, messageId): Promise<DeliveryRecord | undefined> {
      const row = st().getDelivery.get(mailboxId, messageId) as (Omit<DeliveryRecord, 'hash'> & { hash: Buffer }) | undefined;
      return row ? { ...row, hash: toBytes(row.hash, 'sqlite') } : undefined;
    },

    async acknowledge(receipt, nonce) {
      return endDeliveryTx.immediate(receipt.mailboxId, receipt.messageId, receipt, nonce);
    },

    async discard(mailboxId, messageId, nonce) {
      return endDeliveryTx.immediate(mailboxId, messageId, undefined, nonce);
    },

    async listReceipts(sender, limit, after): Promise<ReceiptRecord[]> {
      const rows = after
        ? st().listReceiptsAfter.all(sender, after.at, after.messageId, after.mailboxId, checkLimit(limit))
        : st().listReceipts.all(sender, checkLimit(limit));
      return (rows as ReceiptRow[]).map((r) => ({
        messageId: r.message_id,
        mailboxId: r.mailbox_id,
        sender: r.sender,
        recipient: r.recipient,
        recipientBox: r.recipient_box,
        signature: toBytes(r.signature, 'sqlite'),
        at: r.at,
        expiresAt: r.expires_at,
      }));
    },

    async deleteReceipts(sender, messageId) {
      return st().deleteReceipts.run(sender, messageId).changes;
    },

    async expire(now) {
      return expireTx.immediate(now);
    },

    subscribe(mailboxId, listener) {
      if (closed) throw new Error('sqlite store: closed');
      let set = subscribers.get(mailboxId);
      if (!set) {
        set = new Set();
        subscribers.set(mailboxId, set);
      }
      // A wrapper, so the same function subscribed twice is two subscriptions.
      const entry = { mailboxId, listener: () => listener() };
      set.add(entry.listener);
      mine.add(entry);
      return () => {
        if (!mine.delete(entry)) return;
        const current = subscribers.get(mailboxId);
        current?.delete(entry.listener);
        if (current && current.size === 0) subscribers.delete(mailboxId);
      };
    },
  };
  return store;
}
