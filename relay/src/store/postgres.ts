/**
 * The relay's PostgreSQL back end (docs/RELAY.md, relay/src/store/types.ts): any number of relay
 * processes share one database.
 *
 * - Every multi-statement operation runs in one READ COMMITTED transaction that first locks what
 *   it is going to check, always in one global order: mailbox rows (sorted by id), then envelope
 *   rows (sorted by id), then delivery rows. Once a lock is held, the next statement sees every
 *   committed change, so quotas are exact under concurrency and no two transactions wait for each
 *   other in a cycle. A serialization failure or deadlock (which this order should rule out) is
 *   retried.
 * - Nonces have a primary key (`INSERT … ON CONFLICT DO NOTHING`): replay detection is atomic
 *   across processes (docs/RELAY.md §3.3 step 6).
 * - Deliveries wake waiters in every process through LISTEN/NOTIFY: the delivering transaction
 *   notifies channel `plushlink_delivery` with the mailbox id (sent at commit); each store keeps
 *   one dedicated listening connection, reconnects when it drops, and then wakes every subscriber
 *   once (a notification sent while it was away is lost, so waiters look again).
 *
 * What is stored (docs/RELAY.md §1, §8): ids, public keys, envelope bytes and their SHA-512,
 * sizes, times, receipt signatures and request nonces; no secret of any kind.
 */
import pg from 'pg';
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

/** Options of {@link openPostgresStore}. */
export interface PostgresStoreOptions {
  /** `postgres://user@host:port/database` (anything `pg` accepts as a connection string). */
  url: string;
  /** Connections in the pool (default 10), not counting the one listening connection. */
  poolSize?: number;
  /** `application_name` of the connections (default `plushlink-relay`; the listener adds `-listener`). */
  applicationName?: string;
}

/** The NOTIFY channel of deliveries; the payload is the mailbox id. */
export const DELIVERY_CHANNEL = 'plushlink_delivery';

/** Key of the advisory lock that serialises schema migrations across relay processes. */
const MIGRATION_LOCK = 0x706c7368; // "plsh"

/**
 * The schema, one migration per version. A migration runs once, inside the transaction that
 * records its version in `schema_version`; `init()` applies the missing ones (idempotent, and safe
 * when several relay processes start at once: they take an advisory lock).
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE mailboxes (
    mailbox_id      text   NOT NULL PRIMARY KEY,
    key_id          text   NOT NULL,
    sign_public_key text   NOT NULL,
    box_public_key  text   NOT NULL,
    created_at      bigint NOT NULL
  );

  CREATE TABLE senders (
    mailbox_id text   NOT NULL REFERENCES mailboxes (mailbox_id) ON DELETE CASCADE,
    sender     text   NOT NULL,
    added_at   bigint NOT NULL,
    PRIMARY KEY (mailbox_id, sender)
  );

  CREATE TABLE envelopes (
    message_id  text    NOT NULL PRIMARY KEY,
    sender      text    NOT NULL,
    bytes       bytea   NOT NULL,
    hash        bytea   NOT NULL,
    size        integer NOT NULL,
    received_at bigint  NOT NULL,
    expires_at  bigint  NOT NULL
  );
  CREATE INDEX envelopes_by_expiry ON envelopes (expires_at);

  -- No cascade from envelopes: an envelope is only deleted once no delivery refers to it, and a
  -- mistake in that rule fails loudly instead of silently dropping a pending delivery.
  CREATE TABLE deliveries (
    mailbox_id  text   NOT NULL REFERENCES mailboxes (mailbox_id) ON DELETE CASCADE,
    message_id  text   NOT NULL REFERENCES envelopes (message_id),
    received_at bigint NOT NULL,
    expires_at  bigint NOT NULL,
    PRIMARY KEY (mailbox_id, message_id)
  );
  CREATE INDEX deliveries_pending ON deliveries (mailbox_id, received_at, message_id);
  CREATE INDEX deliveries_by_message ON deliveries (message_id);
  CREATE INDEX deliveries_by_expiry ON deliveries (expires_at);

  CREATE TABLE receipts (
    message_id    text   NOT NULL,
    mailbox_id    text   NOT NULL,
    sender        text   NOT NULL,
    recipient     text   NOT NULL,
    recipient_box text   NOT NULL,
    signature     bytea  NOT NULL,
    at            bigint NOT NULL,
    expires_at    bigint NOT NULL,
    PRIMARY KEY (message_id, mailbox_id)
  );
  CREATE INDEX receipts_by_sender ON receipts (sender, at, message_id, mailbox_id);
  CREATE INDEX receipts_by_expiry ON receipts (expires_at);

  CREATE TABLE nonces (
    key_id     text   NOT NULL,
    nonce      text   NOT NULL,
    expires_at bigint NOT NULL,
    PRIMARY KEY (key_id, nonce)
  );
  CREATE INDEX nonces_by_expiry ON nonces (expires_at);
  `,
];

/** The schema version this code writes. */
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length;

type Listener = () => void;
type Client = pg.PoolClient;

/** Thrown inside a transaction to roll it back and resolve `value`. */
class Rollback<T> {
  constructor(readonly value: T) {}
}

/** Thrown inside a transaction to roll it back and run it again (a concurrent change won a race). */
class Retry extends Error {}

const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected
const MAX_ATTEMPTS = 10;

function isRetryable(e: unknown): boolean {
  if (e instanceof Retry) return true;
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && RETRYABLE.has(code);
}

/** bigint / numeric columns arrive as strings (exact); times and sizes fit a double exactly. */
function num(value: unknown): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`postgres store: not a safe integer: ${String(value)}`);
  return n;
}




function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Opens a PostgreSQL relay store. Call `init()` before using it (it also starts listening). */
export function openPostgresStore(options: PostgresStoreOptions): RelayStore {
  const appName = options.applicationName ?? 'plushlink-relay';
  const pool = new pg.Pool({
    connectionString: options.url,
    max: Math.max(1, Math.floor(options.poolSize ?? 10)),
    application_name: appName,
  });
  // An idle pooled connection that the server drops is discarded by the pool; without a handler
  // its 'error' event would end the process.
  pool.on('error', () => {});
  // Reads' nonces commit without waiting for the WAL flush (RelayStore.rememberNonce, durable:
  // false): their own small pool, whose sessions run with synchronous_commit = off.
  const unsyncedPool = new pg.Pool({
    connectionString: options.url,
    max: Math.max(1, Math.ceil((options.poolSize ?? 10) / 4)),
    application_name: `${appName}-nonces`,
    options: '-c synchronous_commit=off',
  });
  unsyncedPool.on('error', () => {});

  let closed = false;
  const subscribers = new Map<string, Set<Listener>>();

  // ---- LISTEN/NOTIFY ------------------------------------------------------------------------

  let listenClient: pg.Client | undefined;
  let connecting: Promise<void> | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let backoffMs = 50;
  let everListened = false;

  function fire(mailboxId: string): void {
    const set = subscribers.get(mailboxId);
    if (!set) return;
    for (const l of [...set]) {
      try {
        l();
      } catch {
        // A subscriber's failure is its own.
      }
    }
  }

  function fireAll(): void {
    for (const id of [...subscribers.keys()]) fire(id);
  }

  function scheduleReconnect(): void {
    if (closed || reconnectTimer || connecting) return;
    const delay = backoffMs;
    backoffMs = Math.min(backoffMs * 2, 2000);
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      void listen().catch(() => scheduleReconnect());
    }, delay);
    reconnectTimer.unref?.();
  }

  /** Connects the listening connection (once at a time); resolves when LISTEN is in effect. */
  function listen(): Promise<void> {
    if (closed) return Promise.resolve();
    if (listenClient) return Promise.resolve();
    if (connecting) return connecting;
    connecting = (async () => {
      const client = new pg.Client({ connectionString: options.url, application_name: `${appName}-listener` });
      let dropped = false;
      const onDrop = (): void => {
        if (dropped) return;
        dropped = true;
        if (listenClient === client) listenClient = undefined;
        scheduleReconnect();
      };
      client.on('error', onDrop);
      client.on('end', onDrop);
      client.on('notification', (msg) => {
        if (msg.channel === DELIVERY_CHANNEL && msg.payload) fire(msg.payload);
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${DELIVERY_CHANNEL}`);
      } catch (e) {
        dropped = true;
        void client.end().catch(() => {});
        throw e;
      }
      if (closed || dropped) {
        dropped = true;
        await client.end().catch(() => {});
        if (!closed) throw new Error('postgres store: listening connection dropped while connecting');
        return;
      }
      listenClient = client;
      backoffMs = 50;
      // After a reconnect, deliveries made while nobody listened were not heard: wake everyone.
      if (everListened) fireAll();
      everListened = true;
    })().finally(() => {
      connecting = undefined;
    });
    return connecting;
  }

  // ---- transactions -------------------------------------------------------------------------

  /**
   * Runs `fn` in one transaction. With `nonce`, the transaction spends it first (RelayStore,
   * SpentNonce) and keeps it spent when `fn` rolls its own work back with {@link Rollback}.
   */
  async function tx<T>(fn: (c: Client) => Promise<T>, nonce?: SpentNonce): Promise<T> {
    if (closed) throw new Error('postgres store: closed');
    for (let attempt = 1; ; attempt++) {
      const c = await pool.connect();
      let broken: Error | undefined;
      try {
        await c.query('BEGIN');
        if (nonce) {
          await spend(c, nonce);
          await c.query('SAVEPOINT work');
        }
        let value: T;
        try {
          value = await fn(c);
        } catch (e) {
          if (!(e instanceof Rollback) || !nonce) throw e;
          await c.query('ROLLBACK TO SAVEPOINT work');
          value = e.value as T;
        }
        await c.query('COMMIT');
        return value;
      } catch (e) {
        try {
          await c.query('ROLLBACK');
        } catch (r) {
          broken = r instanceof Error ? r : new Error(String(r));
        }
        if (e instanceof Rollback) return e.value as T;
        if (isRetryable(e) && attempt < MAX_ATTEMPTS) {
          await sleep(Math.min(5 * attempt * attempt, 200) * Math.random());
          continue;
        }
        throw e;
      } finally {
        c.release(broken);
      }
    }
  }

  async function query(text: string, values?: unknown[]): Promise<pg.QueryResult> {
    if (closed) throw new Error('postgres store: closed');
    return pool.query(text, values);
  }

  /** Deletes those of `ids` whose envelope has no delivery left (caller holds their row locks). */
  async function deleteOrphans(c: Client, ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const r = await c.query(
      `DELETE FROM envelopes e WHERE e.message_id = ANY($1::text[])
         AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = e.message_id)`,
      [ids],
    );
    return r.rowCount ?? 0;
  }

  /** Locks the envelope rows of `ids` in id order; resolves the ids that exist. */
  async function lockEnvelopes(c: Client, whereSql: string, values: unknown[]): Promise<string[]> {
    const r = await c.query(
      `SELECT message_id FROM envelopes WHERE ${whereSql} ORDER BY message_id FOR UPDATE`,
      values,
    );
    return r.rows.map((row: { message_id: string }) => row.message_id);
  }

  /** Spends a request's nonce inside the caller's transaction, first (RelayStore: SpentNonce). */
  async function spend(c: Client, nonce: SpentNonce | undefined): Promise<void> {
    if (!nonce) return;
    const r = await c.query('INSERT INTO nonces (key_id, nonce, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [
      nonce.keyId,
      nonce.nonce,
      nonce.expiresAt,
    ]);
    if (r.rowCount !== 1) throw new NonceReplayedError();
  }

  async function endDelivery(mailboxId: string, messageId: string, receipt: ReceiptRecord | undefined, nonce: SpentNonce | undefined): Promise<boolean> {
    return tx(async (c) => {
      // Lock order: the envelope, then its delivery.
      const env = await c.query('SELECT sender FROM envelopes WHERE message_id = $1 FOR UPDATE', [messageId]);
      const row = env.rows[0] as { sender: string } | undefined;
      if (!row) return false;
      const del = await c.query('DELETE FROM deliveries WHERE mailbox_id = $1 AND message_id = $2', [mailboxId, messageId]);
      if ((del.rowCount ?? 0) === 0) return false;
      if (receipt) {
        if (row.sender !== receipt.sender) throw new Error('postgres store: receipt sender is not the envelope sender');
        await c.query(
          `INSERT INTO receipts (message_id, mailbox_id, sender, recipient, recipient_box, signature, at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (message_id, mailbox_id) DO UPDATE SET
             sender = excluded.sender, recipient = excluded.recipient, recipient_box = excluded.recipient_box,
             signature = excluded.signature, at = excluded.at, expires_at = excluded.expires_at`,
          [
            receipt.messageId,
            receipt.mailboxId,
            receipt.sender,
            receipt.recipient,
            receipt.recipientBox,
            asBuffer(receipt.signature),
            receipt.at,
            receipt.expiresAt,
          ],
        );
      }
      await deleteOrphans(c, [messageId]);
      return true;
    }, nonce);
  }

  // ---- the store ----------------------------------------------------------------------------

  const store: RelayStore = {
    kind: 'postgres',

    async init() {
      await tx(async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        await c.query('CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL PRIMARY KEY)');
        const r = await c.query('SELECT max(version) AS v FROM schema_version');
        const current = r.rows[0]?.v == null ? 0 : num(r.rows[0].v);
        if (current > MIGRATIONS.length) {
          throw new Error(`postgres store: database schema version ${current} is newer than this relay (${MIGRATIONS.length})`);
        }
        for (let v = current + 1; v <= MIGRATIONS.length; v++) {
          await c.query(MIGRATIONS[v - 1]!);
          await c.query('INSERT INTO schema_version (version) VALUES ($1)', [v]);
        }
      });
      await listen();
    },

    async close() {
      if (closed) return;
      closed = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      reconnectTimer = undefined;
      subscribers.clear();
      await connecting?.catch(() => {});
      const l = listenClient;
      listenClient = undefined;
      await Promise.all([l?.end().catch(() => {}), pool.end(), unsyncedPool.end()]);
    },

    async rememberNonce(keyId, nonce, expiresAt, opts) {
      if (closed) throw new Error('postgres store: closed');
      const r = await (opts?.durable === false ? unsyncedPool : pool).query(
        'INSERT INTO nonces (key_id, nonce, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [keyId, nonce, expiresAt],
      );
      return r.rowCount === 1;
    },

    async nonceSpent(keyId, nonce) {
      const r = await query('SELECT 1 FROM nonces WHERE key_id = $1 AND nonce = $2', [keyId, nonce]);
      return (r.rowCount ?? 0) > 0;
    },

    async createMailbox(m) {
      const r = await query(
        `INSERT INTO mailboxes (mailbox_id, key_id, sign_public_key, box_public_key, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
        [m.mailboxId, m.keyId, m.signPublicKey, m.boxPublicKey, m.createdAt],
      );
      if (r.rowCount === 1) return 'created';
      const existing = await store.getMailbox(m.mailboxId);
      if (existing && existing.keyId === m.keyId && existing.signPublicKey === m.signPublicKey && existing.boxPublicKey === m.boxPublicKey) {
        return 'exists';
      }
      throw new Error(`postgres store: mailbox ${m.mailboxId} exists with other keys`);
    },

    async getMailbox(mailboxId): Promise<MailboxRecord | undefined> {
      const r = await query('SELECT * FROM mailboxes WHERE mailbox_id = $1', [mailboxId]);
      const row = r.rows[0] as
        | { mailbox_id: string; key_id: string; sign_public_key: string; box_public_key: string; created_at: string }
        | undefined;
      if (!row) return undefined;
      return {
        mailboxId: row.mailbox_id,
        keyId: row.key_id,
        signPublicKey: row.sign_public_key,
        boxPublicKey: row.box_public_key,
        createdAt: num(row.created_at),
      };
    },

    async deleteMailbox(mailboxId) {
      return tx(async (c) => {
        // Lock order: the mailbox (no upload to it can start), its envelopes, their deliveries.
        const m = await c.query('SELECT 1 FROM mailboxes WHERE mailbox_id = $1 FOR UPDATE', [mailboxId]);
        if (m.rowCount === 0) return false;
        const ids = await lockEnvelopes(c, 'message_id IN (SELECT message_id FROM deliveries WHERE mailbox_id = $1)', [mailboxId]);
        await c.query('DELETE FROM deliveries WHERE mailbox_id = $1', [mailboxId]);
        await deleteOrphans(c, ids);
        await c.query('DELETE FROM mailboxes WHERE mailbox_id = $1', [mailboxId]);
        return true;
      });
    },

    async mailboxUsage(mailboxId): Promise<MailboxUsage> {
      const r = await query(
        `SELECT count(*) AS n, coalesce(sum(e.size), 0) AS bytes
           FROM deliveries d JOIN envelopes e ON e.message_id = d.message_id WHERE d.mailbox_id = $1`,
        [mailboxId],
      );
      return { envelopes: num(r.rows[0].n), bytes: num(r.rows[0].bytes) };
    },

    async allowSender(mailboxId, sender, at) {
      const r = await query(
        'INSERT INTO senders (mailbox_id, sender, added_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [mailboxId, sender, at],
      );
      return r.rowCount === 1;
    },

    async disallowSender(mailboxId, sender) {
      const r = await query('DELETE FROM senders WHERE mailbox_id = $1 AND sender = $2', [mailboxId, sender]);
      return r.rowCount === 1;
    },

    async listSenders(mailboxId) {
      const r = await query('SELECT sender FROM senders WHERE mailbox_id = $1 ORDER BY added_at, sender', [mailboxId]);
      return r.rows.map((row: { sender: string }) => row.sender);
    },

    async isSenderAllowed(mailboxId, sender) {
      const r = await query('SELECT 1 FROM senders WHERE mailbox_id = $1 AND sender = $2', [mailboxId, sender]);
      return (r.rowCount ?? 0) > 0;
    },

    async putEnvelope(env: NewEnvelope, quotas: Quotas, nonce?: SpentNonce): Promise<PutEnvelopeResult> {
      const to = [...new Set(env.to)];
      const size = env.bytes.byteLength;
      const bytes = asBuffer(env.bytes);
      return tx(async (c): Promise<PutEnvelopeResult> => {
        // 1. The target mailboxes, in id order: uploads to one mailbox now run one after another,
        //    so the usage read below is exact until this transaction ends.
        const locked = await c.query(
          'SELECT mailbox_id FROM mailboxes WHERE mailbox_id = ANY($1::text[]) ORDER BY mailbox_id FOR NO KEY UPDATE',
          [[...to].sort()],
        );
        if (locked.rowCount !== to.length) {
          const have = new Set(locked.rows.map((r: { mailbox_id: string }) => r.mailbox_id));
          throw new Error(`postgres store: no such mailbox: ${to.filter((m) => !have.has(m)).join(', ')}`);
        }
        // 2. The envelope, if it is already held.
        const found = await c.query('SELECT bytes FROM envelopes WHERE message_id = $1 FOR UPDATE', [env.messageId]);
        const existing = found.rows[0] as { bytes: Buffer } | undefined;
        if (existing && !bytes.equals(existing.bytes)) throw new Rollback<PutEnvelopeResult>({ result: 'conflict' });
        let targets = to;
        if (existing) {
          const held = await c.query('SELECT mailbox_id FROM deliveries WHERE message_id = $1 AND mailbox_id = ANY($2::text[])', [
            env.messageId,
            to,
          ]);
          const holding = new Set(held.rows.map((r: { mailbox_id: string }) => r.mailbox_id));
          targets = to.filter((m) => !holding.has(m));
        }
        // 3. Quotas, in the order of `to`.
        if (targets.length > 0) {
          const u = await c.query(
            `SELECT d.mailbox_id, count(*) AS n, coalesce(sum(e.size), 0) AS bytes
               FROM deliveries d JOIN envelopes e ON e.message_id = d.message_id
              WHERE d.mailbox_id = ANY($1::text[]) GROUP BY d.mailbox_id`,
            [targets],
          );
          const usage = new Map<string, { n: number; bytes: number }>();
          for (const row of u.rows as Array<{ mailbox_id: string; n: string; bytes: string }>) {
            usage.set(row.mailbox_id, { n: num(row.n), bytes: num(row.bytes) });
          }
          for (const mailboxId of targets) {
            const have = usage.get(mailboxId) ?? { n: 0, bytes: 0 };
            if (have.n + 1 > quotas.maxEnvelopes) {
              throw new Rollback<PutEnvelopeResult>({ result: 'quota', code: 'RELAY_QUOTA_COUNT', mailboxId });
            }
            if (have.bytes + size > quotas.maxBytes) {
              throw new Rollback<PutEnvelopeResult>({ result: 'quota', code: 'RELAY_QUOTA_BYTES', mailboxId });
            }
          }
        }
        // 4. Write.
        if (!existing) {
          const ins = await c.query(
            `INSERT INTO envelopes (message_id, sender, bytes, hash, size, received_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
            [env.messageId, env.sender, bytes, asBuffer(env.hash), size, env.receivedAt, env.expiresAt],
          );
          // A concurrent upload of the same id stored it first: run again, as a duplicate/conflict.
          if (ins.rowCount !== 1) throw new Retry();
        } else if (targets.length > 0) {
          await c.query('UPDATE envelopes SET expires_at = greatest(expires_at, $2) WHERE message_id = $1', [env.messageId, env.expiresAt]);
        }
        if (targets.length > 0) {
          await c.query(
            `INSERT INTO deliveries (mailbox_id, message_id, received_at, expires_at)
             SELECT m, $2, $3, $4 FROM unnest($1::text[]) AS m`,
            [targets, env.messageId, env.receivedAt, env.expiresAt],
          );
          // Sent at COMMIT, to every listening relay process (this one included).
          await c.query('SELECT pg_notify($1, m) FROM unnest($2::text[]) AS m', [DELIVERY_CHANNEL, targets]);
        }
        return { result: existing ? 'duplicate' : 'stored', delivered: targets };
      }, nonce);
    },

    async listPending(mailboxId, limit): Promise<PendingEnvelope[]> {
      const r = await query(
        `SELECT d.message_id, e.size, d.received_at, e.sender
           FROM deliveries d JOIN envelopes e ON e.message_id = d.message_id
          WHERE d.mailbox_id = $1 ORDER BY d.received_at, d.message_id LIMIT $2`,
        [mailboxId, checkLimit(limit)],
      );
      return r.rows.map((row: { message_id: string; size: number; received_at: string; sender: string }) => ({
        messageId: row.message_id,
        size: num(row.size),
        receivedAt: num(row.received_at),
        sender: row.sender,
      }));
    },

    async getEnvelope(mailboxId, messageId) {
      const r = await query(
        `SELECT e.bytes FROM deliveries d JOIN envelopes e ON e.message_id = d.message_id
          WHERE d.mailbox_id = $1 AND d.message_id = $2`,
        [mailboxId, messageId],
      );
      const row = r.rows[0] as { bytes: Buffer } | undefined;
      return row ? toBytes(row.bytes, 'postgres') : undefined;
    },

    async getDelivery(mailboxId, messageId): Promise<DeliveryRecord | undefined> {
      const r = await query(
        `SELECT d.message_id, d.mailbox_id, e.sender, e.size, e.hash
           FROM deliveries d JOIN envelopes e ON e.message_id = d.message_id
          WHERE d.mailbox_id = $1 AND d.message_id = $2`,
        [mailboxId, messageId],
      );
      const row = r.rows[0] as
        | { message_id: string; mailbox_id: string; sender: string; size: number; hash: Buffer }
        | undefined;
      if (!row) return undefined;
      return { messageId: row.message_id, mailboxId: row.mailbox_id, sender: row.sender, size: num(row.size), hash: toBytes(row.hash, 'postgres') };
    },

    async acknowledge(receipt, nonce) {
      return endDelivery(receipt.mailboxId, receipt.messageId, receipt, nonce);
    },

    async discard(mailboxId, messageId, nonce) {
      return endDelivery(mailboxId, messageId, undefined, nonce);
    },

    async listReceipts(sender, limit, after): Promise<ReceiptRecord[]> {
      const r = after
        ? await query(
            'SELECT * FROM receipts WHERE sender = $1 AND (at, message_id, mailbox_id) > ($2, $3, $4) ORDER BY at, message_id, mailbox_id LIMIT $5',
            [sender, after.at, after.messageId, after.mailboxId, checkLimit(limit)],
          )
        : await query('SELECT * FROM receipts WHERE sender = $1 ORDER BY at, message_id, mailbox_id LIMIT $2', [sender, checkLimit(limit)]);
      return r.rows.map(
        (row: {
          message_id: string;
          mailbox_id: string;
          sender: string;
          recipient: string;
          recipient_box: string;
          signature: Buffer;
          at: string;
          expires_at: string;
        }) => ({
          messageId: row.message_id,
          mailboxId: row.mailbox_id,
          sender: row.sender,
          recipient: row.recipient,
          recipientBox: row.recipient_box,
          signature: toBytes(row.signature, 'postgres'),
          at: num(row.at),
          expiresAt: num(row.expires_at),
        }),
      );
    },

    async deleteReceipts(sender, messageId) {
      const r = await query('DELETE FROM receipts WHERE sender = $1 AND message_id = $2', [sender, messageId]);
      return r.rowCount ?? 0;
    },

    async expire(now): Promise<ExpireReport> {
      return tx(async (c) => {
        // Lock order: the envelopes concerned, then their deliveries.
        const ids = await lockEnvelopes(
          c,
          'expires_at <= $1 OR message_id IN (SELECT message_id FROM deliveries WHERE expires_at <= $1)',
          [now],
        );
        if (ids.length === 0) {
          const receipts = await c.query('DELETE FROM receipts WHERE expires_at <= $1', [now]);
          const nonces = await c.query('DELETE FROM nonces WHERE expires_at <= $1', [now]);
          return { deliveries: 0, envelopes: 0, receipts: receipts.rowCount ?? 0, nonces: nonces.rowCount ?? 0 };
        }
        const deliveries = await c.query('DELETE FROM deliveries WHERE expires_at <= $1 AND message_id = ANY($2::text[])', [now, ids]);
        const envelopes = await deleteOrphans(c, ids);
        const receipts = await c.query('DELETE FROM receipts WHERE expires_at <= $1', [now]);
        const nonces = await c.query('DELETE FROM nonces WHERE expires_at <= $1', [now]);
        return {
          deliveries: deliveries.rowCount ?? 0,
          envelopes,
          receipts: receipts.rowCount ?? 0,
          nonces: nonces.rowCount ?? 0,
        };
      });
    },

    subscribe(mailboxId, listener) {
      if (closed) throw new Error('postgres store: closed');
      // Normally already listening since init(); otherwise start now (a failure retries).
      if (!listening()) void listen().catch(() => scheduleReconnect());
      let set = subscribers.get(mailboxId);
      if (!set) {
        set = new Set();
        subscribers.set(mailboxId, set);
      }
      const entry: Listener = () => listener();
      set.add(entry);
      let active = true;
      return () => {
        if (!active) return;
        active = false;
        const current = subscribers.get(mailboxId);
        current?.delete(entry);
        if (current && current.size === 0) subscribers.delete(mailboxId);
      };
    },
  };

  function listening(): boolean {
    return listenClient !== undefined || connecting !== undefined || reconnectTimer !== undefined;
  }

  return store;
}
