/**
 * One conformance suite for the relay's storage back ends (relay/src/store/types.ts,
 * docs/RELAY.md §1-5): {@link conformance} takes a store factory and runs the same cases on
 * SQLite and on PostgreSQL. The PostgreSQL half runs on a throwaway database
 * (test/helpers/postgres.ts); it is skipped, saying why, when PostgreSQL is unavailable, and fails
 * instead when PLUSHLINK_REQUIRE_PG=1 (CI).
 *
 * Every time is injected; nothing depends on the wall clock. Waiting for a subscriber is a promise
 * with a generous deadline, never an assertion on elapsed time.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../relay/src/store/index.js';
import { openPostgresStore } from '../../relay/src/store/postgres.js';
import { openSqliteStore } from '../../relay/src/store/sqlite.js';
import { NonceReplayedError, type MailboxRecord, type NewEnvelope, type Quotas, type ReceiptRecord, type RelayStore } from '../../relay/src/store/types.js';
import { toHex } from '../../src/protocol/bytes.js';
import {
  generateFamilyIdentity,
  keyIdHexOf,
  mailboxIdOf,
  peekMessageId,
  sealVoiceMessage,
  signDeliveryReceipt,
  type FamilyIdentity,
} from '../../src/messages/index.js';
import { throwawayPostgres } from '../helpers/postgres.js';

// ---- harnesses: one per back end ----------------------------------------------------------------

/** What the suite needs from a back end besides the store itself: a fresh database and a look inside. */
interface Harness {
  kind: 'sqlite' | 'postgres';
  /** Before each case: a new, empty database; stores opened afterwards use it. */
  reset(): Promise<void>;
  /** A new store instance on the current database (another "relay process"), not initialised. */
  open(): RelayStore;
  /** The schema: table → its column names. */
  columns(): Promise<Record<string, string[]>>;
  /** Every row of a table, as stored (bytes as Buffer, times as number or bigint text). */
  rows(table: string): Promise<Array<Record<string, unknown>>>;
  /** Raw database files, when the back end has them (scanned for secrets). */
  files(): Uint8Array[];
  /** SQLite: a pragma's value, read through a separate connection to the file. */
  pragma?(name: string): unknown;
  /** PostgreSQL: drops the listening connections of the current database (they must reconnect). */
  dropListeners?(): Promise<number>;
  dispose(): Promise<void>;
}

function sqliteHarness(): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'plushlink-store-conformance-'));
  let n = 0;
  let path = join(dir, 'relay-0.db');
  const read = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  return {
    kind: 'sqlite',
    async reset() {
      path = join(dir, `relay-${++n}.db`);
    },
    open: () => openSqliteStore({ path }),
    async columns() {
      return read((db) => {
        const out: Record<string, string[]> = {};
        const tables = db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).all() as Array<{ name: string }>;
        for (const { name } of tables) {
          out[name] = (db.prepare(`SELECT name FROM pragma_table_info(?)`).all(name) as Array<{ name: string }>).map((c) => c.name);
        }
        return out;
      });
    },
    async rows(table) {
      return read((db) => db.prepare(`SELECT * FROM "${table}"`).all() as Array<Record<string, unknown>>);
    },
    pragma(name) {
      return read((db) => db.pragma(name, { simple: true }));
    },
    files() {
      return [path, `${path}-wal`].filter((p) => existsSync(p)).map((p) => readFileSync(p));
    },
    async dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresHarness(url: string): Harness {
  let admin: pg.Client | undefined;
  const client = async (): Promise<pg.Client> => {
    if (!admin) {
      admin = new pg.Client({ connectionString: url, application_name: 'plushlink-conformance-admin' });
      admin.on('error', () => {});
      await admin.connect();
    }
    return admin;
  };
  return {
    kind: 'postgres',
    async reset() {
      // The database is this file's own (test/helpers/postgres.ts): an empty schema per case.
      const c = await client();
      await c.query('DROP SCHEMA IF EXISTS public CASCADE');
      await c.query('CREATE SCHEMA public');
    },
    open: () => openPostgresStore({ url, poolSize: 6 }),
    async columns() {
      const c = await client();
      const r = await c.query(
        `SELECT table_name, column_name FROM information_schema.columns
          WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`,
      );
      const out: Record<string, string[]> = {};
      for (const row of r.rows as Array<{ table_name: string; column_name: string }>) (out[row.table_name] ??= []).push(row.column_name);
      return out;
    },
    async rows(table) {
      const c = await client();
      return (await c.query(`SELECT * FROM public."${table}"`)).rows as Array<Record<string, unknown>>;
    },
    files: () => [],
    async dropListeners() {
      const c = await client();
      const r = await c.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'plushlink-relay-listener'`,
      );
      return r.rowCount ?? 0;
    },
    async dispose() {
      await admin?.end().catch(() => {});
      admin = undefined;
    },
  };
}

// ---- fixtures -----------------------------------------------------------------------------------

const T0 = Date.UTC(2026, 11, 2, 12, 0, 0);
const DAY = 86_400_000;
const ROOMY: Quotas = { maxEnvelopes: 1000, maxBytes: 100 * 1024 * 1024 };

const hex = (n: number, len: number): string => n.toString(16).padStart(len, '0');
/** A 32-hex id. */
const id = (n: number): string => hex(n, 32);
/** A 64-hex public key. */
const key = (n: number): string => hex(n, 64);
const sha512 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha512').update(b).digest());

function mailbox(n: number, createdAt = T0): MailboxRecord {
  return { mailboxId: id(0x1000 + n), keyId: id(0x2000 + n), signPublicKey: key(0x3000 + n), boxPublicKey: key(0x4000 + n), createdAt };
}

const SENDER = key(0xa11ce);
const OTHER_SENDER = key(0xb0b);

function envelope(n: number, to: string[], options: Partial<NewEnvelope> & { size?: number } = {}): NewEnvelope {
  const { size, ...fields } = options;
  const bytes = fields.bytes ?? new Uint8Array(randomBytes(size ?? 100 + n));
  return {
    messageId: id(0x5000 + n),
    sender: SENDER,
    receivedAt: T0 + n,
    expiresAt: T0 + 30 * DAY,
    to,
    ...fields,
    bytes,
    hash: fields.hash ?? sha512(bytes),
  };
}

function receipt(env: NewEnvelope, mailboxId: string, at: number, expiresAt = at + 30 * DAY): ReceiptRecord {
  return {
    messageId: env.messageId,
    mailboxId,
    sender: env.sender,
    recipient: key(0x6000),
    recipientBox: key(0x7000),
    signature: new Uint8Array(randomBytes(64)),
    at,
    expiresAt,
  };
}

/** Resolves when `subscribe` calls back, or fails after a generous deadline (a busy machine). */
function nextCall(store: RelayStore, mailboxId: string, what: string, deadlineMs = 20_000): { promise: Promise<void>; calls: () => number; stop: () => void } {
  let count = 0;
  let timer: NodeJS.Timeout | undefined;
  let resolve!: () => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    timer = setTimeout(() => rej(new Error(`no subscriber call within ${deadlineMs} ms: ${what}`)), deadlineMs);
  });
  promise.catch(() => {}); // a case that fails early must not leave an unhandled rejection behind
  const unsubscribe = store.subscribe(mailboxId, () => {
    count++;
    clearTimeout(timer);
    resolve();
  });
  return {
    promise,
    calls: () => count,
    stop: () => {
      clearTimeout(timer);
      unsubscribe();
    },
  };
}

/** Rows of every table, normalised (bytes as hex, numbers as numbers) and sorted: "what is stored". */
async function snapshot(h: Harness): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of Object.keys(await h.columns()).sort()) {
    const rows = await h.rows(table);
    out[table] = rows
      .map((r) =>
        JSON.stringify(
          Object.fromEntries(
            Object.entries(r)
              .sort(([a], [b]) => a.localeCompare(b))
              .map(([k, v]) => [k, v instanceof Uint8Array ? toHex(v) : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v]),
          ),
        ),
      )
      .sort();
  }
  return out;
}

// ---- the suite ----------------------------------------------------------------------------------

/** The conformance suite: every case against a fresh database of the back end `make` returns. */
function conformance(make: () => Harness): void {
  let h: Harness;
  let opened: RelayStore[] = [];

  /** A new initialised store instance on this case's database. */
  async function open(): Promise<RelayStore> {
    const s = h.open();
    opened.push(s);
    await s.init();
    return s;
  }

  beforeAll(() => {
    h = make();
  });
  afterAll(async () => {
    await h.dispose();
  });
  beforeEach(async () => {
    await h.reset();
  });
  afterEach(async () => {
    const all = opened;
    opened = [];
    await Promise.all(all.map((s) => s.close()));
  });

  async function withMailboxes(store: RelayStore, ...ns: number[]): Promise<MailboxRecord[]> {
    const out: MailboxRecord[] = [];
    for (const n of ns) {
      const m = mailbox(n);
      expect(await store.createMailbox(m)).toBe('created');
      out.push(m);
    }
    return out;
  }

  describe('schema', () => {
    it('init creates a versioned schema, is idempotent, and two instances may initialise at once', async () => {
      const a = h.open();
      const b = h.open();
      opened.push(a, b);
      await Promise.all([a.init(), b.init()]);
      await a.init();
      expect(a.kind).toBe(h.kind);
      expect((await h.rows('schema_version')).map((r) => Number(r.version))).toEqual([1]);
      const c = await open();
      expect((await h.rows('schema_version')).length).toBe(1);
      await c.createMailbox(mailbox(1));
      await c.close();
      // Reopening a populated database keeps its data.
      const d = await open();
      expect(await d.getMailbox(mailbox(1).mailboxId)).toEqual(mailbox(1));
    });
  });

  it.runIf(make === makeSqlite)('SQLite: the file is in WAL mode with foreign keys checked (docs/RELAY.md §6)', async () => {
    const s = await open();
    expect(h.pragma!('journal_mode')).toBe('wal');
    // Foreign keys are on: a delivery to a mailbox that does not exist is refused, not stored.
    await expect(s.putEnvelope(envelope(1, [mailbox(1).mailboxId]), ROOMY)).rejects.toThrow();
    expect(await h.rows('envelopes')).toEqual([]);
  });

  describe('mailboxes', () => {
    it('create, exists, get, delete', async () => {
      const s = await open();
      const m = mailbox(1, T0 + 5);
      expect(await s.getMailbox(m.mailboxId)).toBeUndefined();
      expect(await s.createMailbox(m)).toBe('created');
      expect(await s.createMailbox(m)).toBe('exists');
      expect(await s.getMailbox(m.mailboxId)).toEqual(m);
      expect(await s.getMailbox(mailbox(2).mailboxId)).toBeUndefined();
      expect(await s.mailboxUsage(m.mailboxId)).toEqual({ envelopes: 0, bytes: 0 });
      expect(await s.deleteMailbox(m.mailboxId)).toBe(true);
      expect(await s.getMailbox(m.mailboxId)).toBeUndefined();
      expect(await s.deleteMailbox(m.mailboxId)).toBe(false);
      expect(await s.createMailbox(m)).toBe('created');
    });

    it('delete takes the allow-list and deliveries with it, and envelopes left without a delivery', async () => {
      const s = await open();
      const [a, b] = await withMailboxes(s, 1, 2);
      await s.allowSender(a!.mailboxId, SENDER, T0);
      await s.allowSender(b!.mailboxId, SENDER, T0);
      const onlyA = envelope(1, [a!.mailboxId]);
      const both = envelope(2, [a!.mailboxId, b!.mailboxId]);
      const acked = envelope(3, [a!.mailboxId, b!.mailboxId]);
      for (const e of [onlyA, both, acked]) expect((await s.putEnvelope(e, ROOMY)).result).toBe('stored');
      expect(await s.acknowledge(receipt(acked, b!.mailboxId, T0 + 10))).toBe(true);

      expect(await s.deleteMailbox(a!.mailboxId)).toBe(true);

      expect(await s.listSenders(a!.mailboxId)).toEqual([]);
      expect(await s.isSenderAllowed(a!.mailboxId, SENDER)).toBe(false);
      expect(await s.listPending(a!.mailboxId, 100)).toEqual([]);
      expect(await s.mailboxUsage(a!.mailboxId)).toEqual({ envelopes: 0, bytes: 0 });
      // The other mailbox keeps its allow-list, delivery and the shared envelope.
      expect(await s.listSenders(b!.mailboxId)).toEqual([SENDER]);
      expect(await s.getEnvelope(b!.mailboxId, both.messageId)).toEqual(both.bytes);
      const stored = (await h.rows('envelopes')).map((r) => r.message_id).sort();
      expect(stored).toEqual([both.messageId]);
      expect((await h.rows('deliveries')).map((r) => `${String(r.mailbox_id)}/${String(r.message_id)}`)).toEqual([`${b!.mailboxId}/${both.messageId}`]);
      expect(await h.rows('senders')).toHaveLength(1);
      // The sender's receipt is the sender's: it stays until collected.
      expect((await s.listReceipts(SENDER, 10)).map((r) => r.messageId)).toEqual([acked.messageId]);
    });
  });

  describe('allow-list', () => {
    it('add, remove, list, isAllowed, per mailbox', async () => {
      const s = await open();
      const [a, b] = await withMailboxes(s, 1, 2);
      expect(await s.listSenders(a!.mailboxId)).toEqual([]);
      expect(await s.allowSender(a!.mailboxId, OTHER_SENDER, T0 + 1)).toBe(true);
      expect(await s.allowSender(a!.mailboxId, SENDER, T0 + 2)).toBe(true);
      expect(await s.allowSender(a!.mailboxId, SENDER, T0 + 3)).toBe(false);
      expect(await s.listSenders(a!.mailboxId)).toEqual([OTHER_SENDER, SENDER]);
      expect(await s.isSenderAllowed(a!.mailboxId, SENDER)).toBe(true);
      expect(await s.isSenderAllowed(b!.mailboxId, SENDER)).toBe(false);
      expect(await s.listSenders(b!.mailboxId)).toEqual([]);
      expect(await s.disallowSender(a!.mailboxId, SENDER)).toBe(true);
      expect(await s.disallowSender(a!.mailboxId, SENDER)).toBe(false);
      expect(await s.disallowSender(b!.mailboxId, OTHER_SENDER)).toBe(false);
      expect(await s.isSenderAllowed(a!.mailboxId, SENDER)).toBe(false);
      expect(await s.listSenders(a!.mailboxId)).toEqual([OTHER_SENDER]);
    });
  });

  describe('putEnvelope', () => {
    it('stored: bytes kept once, delivered to every mailbox of `to`', async () => {
      const s = await open();
      const [a, b] = await withMailboxes(s, 1, 2);
      const e = envelope(1, [a!.mailboxId, b!.mailboxId]);
      expect(await s.putEnvelope(e, ROOMY)).toEqual({ result: 'stored', delivered: [a!.mailboxId, b!.mailboxId] });
      for (const m of [a!, b!]) {
        expect(await s.getEnvelope(m.mailboxId, e.messageId)).toEqual(e.bytes);
        expect(await s.mailboxUsage(m.mailboxId)).toEqual({ envelopes: 1, bytes: e.bytes.length });
      }
      expect(await h.rows('envelopes')).toHaveLength(1);
    });

    it('duplicate: same bytes deliver only to mailboxes not holding it yet', async () => {
      const s = await open();
      const [a, b, c] = await withMailboxes(s, 1, 2, 3);
      const e = envelope(1, [a!.mailboxId, b!.mailboxId]);
      await s.putEnvelope(e, ROOMY);
      const again = { ...e, bytes: Uint8Array.from(e.bytes), to: [a!.mailboxId, b!.mailboxId, c!.mailboxId], receivedAt: T0 + 500 };
      expect(await s.putEnvelope(again, ROOMY)).toEqual({ result: 'duplicate', delivered: [c!.mailboxId] });
      expect(await s.putEnvelope(again, ROOMY)).toEqual({ result: 'duplicate', delivered: [] });
      expect(await s.listPending(c!.mailboxId, 10)).toEqual([
        { messageId: e.messageId, size: e.bytes.length, receivedAt: T0 + 500, sender: SENDER },
      ]);
      for (const m of [a!, b!, c!]) expect(await s.mailboxUsage(m.mailboxId)).toEqual({ envelopes: 1, bytes: e.bytes.length });
      // After an acknowledgement, a re-upload to that recipient delivers again (docs/RELAY.md §5).
      expect(await s.acknowledge(receipt(e, a!.mailboxId, T0 + 600))).toBe(true);
      expect(await s.putEnvelope({ ...e, to: [a!.mailboxId] }, ROOMY)).toEqual({ result: 'duplicate', delivered: [a!.mailboxId] });
    });

    it("a duplicate that delivers somewhere keeps the envelope's expiry the latest of its deliveries' (docs/RELAY.md §6); one that delivers nowhere leaves it", async () => {
      const s = await open();
      const [a, b, c] = await withMailboxes(s, 1, 2, 3);
      const e = envelope(1, [a!.mailboxId], { expiresAt: T0 + 30 * DAY });
      await s.putEnvelope(e, ROOMY);
      const expiry = async (): Promise<number[]> => (await h.rows('envelopes')).map((r) => Number(r.expires_at));
      expect(await expiry()).toEqual([T0 + 30 * DAY]);
      // Delivered nowhere new (a holds it): the row stays as it was, whatever the upload's expiry.
      expect(await s.putEnvelope({ ...e, receivedAt: T0 + 5 * DAY, expiresAt: T0 + 35 * DAY }, ROOMY)).toEqual({ result: 'duplicate', delivered: [] });
      expect(await expiry()).toEqual([T0 + 30 * DAY]);
      // Delivered to c, later: the envelope lives as long as c's delivery.
      expect(await s.putEnvelope({ ...e, to: [a!.mailboxId, c!.mailboxId], receivedAt: T0 + 10 * DAY, expiresAt: T0 + 40 * DAY }, ROOMY)).toEqual({
        result: 'duplicate',
        delivered: [c!.mailboxId],
      });
      expect(await expiry()).toEqual([T0 + 40 * DAY]);
      // A delivery that ends earlier never shortens it.
      expect(await s.putEnvelope({ ...e, to: [b!.mailboxId], receivedAt: T0 + 12 * DAY, expiresAt: T0 + 20 * DAY }, ROOMY)).toEqual({
        result: 'duplicate',
        delivered: [b!.mailboxId],
      });
      expect(await expiry()).toEqual([T0 + 40 * DAY]);
      expect((await s.expire(T0 + 20 * DAY)).deliveries).toBe(1);
      // a's delivery ends at day 30; the envelope stays for c's.
      expect((await s.expire(T0 + 30 * DAY)).deliveries).toBe(1);
      expect(await s.getEnvelope(a!.mailboxId, e.messageId)).toBeUndefined();
      expect(await s.getEnvelope(c!.mailboxId, e.messageId)).toEqual(e.bytes);
      expect(await s.expire(T0 + 40 * DAY)).toMatchObject({ deliveries: 1, envelopes: 1 });
      expect(await h.rows('envelopes')).toEqual([]);
    });

    it('conflict: same id with other bytes changes nothing', async () => {
      const s = await open();
      const [a, b] = await withMailboxes(s, 1, 2);
      const e = envelope(1, [a!.mailboxId]);
      await s.putEnvelope(e, ROOMY);
      const before = await snapshot(h);
      const other = envelope(1, [a!.mailboxId, b!.mailboxId], { bytes: new Uint8Array(randomBytes(e.bytes.length)) });
      expect(await s.putEnvelope(other, ROOMY)).toEqual({ result: 'conflict' });
      const prefix = envelope(1, [b!.mailboxId], { bytes: e.bytes.subarray(0, e.bytes.length - 1) });
      expect(await s.putEnvelope(prefix, ROOMY)).toEqual({ result: 'conflict' });
      expect(await snapshot(h)).toEqual(before);
      expect(await s.getEnvelope(a!.mailboxId, e.messageId)).toEqual(e.bytes);
    });

    it('quota by count: refused whole, naming the mailbox, nothing changed; the limit itself is allowed', async () => {
      const s = await open();
      const [a, b] = await withMailboxes(s, 1, 2);
      const quota: Quotas = { maxEnvelopes: 2, maxBytes: 1 << 30 };
      expect((await s.putEnvelope(envelope(1, [b!.mailboxId]), quota)).result).toBe('stored');
      expect((await s.putEnvelope(envelope(2, [b!.mailboxId]), quota)).result).toBe('stored');
      const before = await snapshot(h);
      expect(await s.putEnvelope(envelope(3, [a!.mailboxId, b!.mailboxId]), quota)).toEqual({
        result: 'quota',
        code: 'RELAY_QUOTA_COUNT',
        mailboxId: b!.mailboxId,
      });
      expect(await snapshot(h)).toEqual(before);
      expect(await s.mailboxUsage(a!.mailboxId)).toEqual({ envelopes: 0, bytes: 0 });
      // A duplicate that would deliver to a full mailbox is refused too, delivering nowhere.
      const held = envelope(4, [a!.mailboxId]);
      expect((await s.putEnvelope(held, quota)).result).toBe('stored');
      const snap = await snapshot(h);
      expect(await s.putEnvelope({ ...held, to: [a!.mailboxId, b!.mailboxId] }, quota)).toEqual({
        result: 'quota',
        code: 'RELAY_QUOTA_COUNT',
        mailboxId: b!.mailboxId,
      });
      expect(await snapshot(h)).toEqual(snap);
    });

    it('quota by bytes: refused whole, nothing changed; exactly the limit is allowed', async () => {
      const s = await open();
      const [a, b] = await withMailboxes(s, 1, 2);
      const quota: Quotas = { maxEnvelopes: 100, maxBytes: 1000 };
      expect((await s.putEnvelope(envelope(1, [a!.mailboxId, b!.mailboxId], { size: 600 }), quota)).result).toBe('stored');
      expect((await s.putEnvelope(envelope(2, [a!.mailboxId], { size: 400 }), quota)).result).toBe('stored');
      expect(await s.mailboxUsage(a!.mailboxId)).toEqual({ envelopes: 2, bytes: 1000 });
      const before = await snapshot(h);
      expect(await s.putEnvelope(envelope(3, [b!.mailboxId, a!.mailboxId], { size: 1 }), quota)).toEqual({
        result: 'quota',
        code: 'RELAY_QUOTA_BYTES',
        mailboxId: a!.mailboxId,
      });
      expect(await s.putEnvelope(envelope(4, [b!.mailboxId], { size: 401 }), quota)).toEqual({
        result: 'quota',
        code: 'RELAY_QUOTA_BYTES',
        mailboxId: b!.mailboxId,
      });
      expect(await snapshot(h)).toEqual(before);
      // Usage counts pending deliveries only: an acknowledgement frees room.
      const first = envelope(1, [], { size: 600 });
      expect(await s.acknowledge({ ...receipt(first, a!.mailboxId, T0 + 9) })).toBe(true);
      expect(await s.mailboxUsage(a!.mailboxId)).toEqual({ envelopes: 1, bytes: 400 });
      expect((await s.putEnvelope(envelope(5, [a!.mailboxId], { size: 600 }), quota)).result).toBe('stored');
    });

    it('quota under concurrency: 20 uploads from two relay processes against a quota of 5 store exactly 5', async () => {
      const s1 = await open();
      const s2 = await open();
      const [a] = await withMailboxes(s1, 1);
      const quota: Quotas = { maxEnvelopes: 5, maxBytes: 1 << 30 };
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? s1 : s2).putEnvelope(envelope(i, [a!.mailboxId]), quota)),
      );
      expect(results.filter((r) => r.result === 'stored')).toHaveLength(5);
      expect(results.filter((r) => r.result === 'quota' && r.code === 'RELAY_QUOTA_COUNT' && r.mailboxId === a!.mailboxId)).toHaveLength(15);
      expect((await s1.mailboxUsage(a!.mailboxId)).envelopes).toBe(5);
      expect(await h.rows('envelopes')).toHaveLength(5);
      expect(await h.rows('deliveries')).toHaveLength(5);

      // The same by bytes: 20 × 100 bytes against 500 bytes.
      const [b] = await withMailboxes(s1, 2);
      const byBytes: Quotas = { maxEnvelopes: 1000, maxBytes: 500 };
      const r2 = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? s2 : s1).putEnvelope(envelope(100 + i, [b!.mailboxId], { size: 100 }), byBytes)),
      );
      expect(r2.filter((r) => r.result === 'stored')).toHaveLength(5);
      expect(r2.filter((r) => r.result === 'quota' && r.code === 'RELAY_QUOTA_BYTES')).toHaveLength(15);
      expect(await s2.mailboxUsage(b!.mailboxId)).toEqual({ envelopes: 5, bytes: 500 });
    });

    it('one id uploaded concurrently: stored once, every mailbox delivered once; other bytes are conflicts', async () => {
      const s1 = await open();
      const s2 = await open();
      const boxes = await withMailboxes(s1, 1, 2, 3, 4, 5, 6);
      const e = envelope(1, []);
      const results = await Promise.all(
        boxes.flatMap((m, i) => [
          (i % 2 ? s1 : s2).putEnvelope({ ...e, to: [m.mailboxId] }, ROOMY),
          (i % 2 ? s2 : s1).putEnvelope({ ...e, to: [m.mailboxId, boxes[(i + 1) % boxes.length]!.mailboxId] }, ROOMY),
        ]),
      );
      expect(results.filter((r) => r.result === 'stored')).toHaveLength(1);
      expect(results.filter((r) => r.result === 'duplicate')).toHaveLength(results.length - 1);
      const delivered = results.flatMap((r) => (r.result === 'stored' || r.result === 'duplicate' ? r.delivered : []));
      expect(delivered.sort()).toEqual(boxes.map((m) => m.mailboxId).sort());
      expect(await h.rows('deliveries')).toHaveLength(boxes.length);

      const f = envelope(2, [boxes[0]!.mailboxId]);
      const variants = Array.from({ length: 8 }, () => ({ ...f, bytes: new Uint8Array(randomBytes(50)) }));
      const r2 = await Promise.all(variants.map((v, i) => (i % 2 ? s1 : s2).putEnvelope({ ...v, hash: sha512(v.bytes) }, ROOMY)));
      expect(r2.filter((r) => r.result === 'stored')).toHaveLength(1);
      expect(r2.filter((r) => r.result === 'conflict')).toHaveLength(7);
      const winner = variants[r2.findIndex((r) => r.result === 'stored')]!;
      expect(await s1.getEnvelope(boxes[0]!.mailboxId, f.messageId)).toEqual(winner.bytes);
    });
  });

  describe('reading', () => {
    it('listPending: oldest first (ties by id), at most `limit`, only that mailbox', async () => {
      const s = await open();
      const [a, b] = await withMailboxes(s, 1, 2);
      const e30 = envelope(3, [a!.mailboxId], { receivedAt: T0 + 30 });
      const e10 = envelope(9, [a!.mailboxId], { receivedAt: T0 + 10 });
      const e20b = envelope(2, [a!.mailboxId], { receivedAt: T0 + 20 });
      const e20a = envelope(1, [a!.mailboxId], { receivedAt: T0 + 20 });
      const other = envelope(4, [b!.mailboxId], { receivedAt: T0 });
      for (const e of [e30, e10, e20b, e20a, other]) await s.putEnvelope(e, ROOMY);
      const row = (e: NewEnvelope) => ({ messageId: e.messageId, size: e.bytes.length, receivedAt: e.receivedAt, sender: e.sender });
      expect(await s.listPending(a!.mailboxId, 100)).toEqual([e10, e20a, e20b, e30].map(row));
      expect(await s.listPending(a!.mailboxId, 2)).toEqual([e10, e20a].map(row));
      expect(await s.listPending(a!.mailboxId, 0)).toEqual([]);
      expect(await s.listPending(b!.mailboxId, 100)).toEqual([row(other)]);
      expect(await s.listPending(mailbox(3).mailboxId, 100)).toEqual([]);
    });

    it('getEnvelope and getDelivery: only for a pending delivery of that mailbox', async () => {
      const s = await open();
      const [a, b] = await withMailboxes(s, 1, 2);
      const e = envelope(1, [a!.mailboxId]);
      await s.putEnvelope(e, ROOMY);
      const got = await s.getEnvelope(a!.mailboxId, e.messageId);
      expect(got).toBeInstanceOf(Uint8Array);
      expect(got).toEqual(e.bytes);
      expect(await s.getDelivery(a!.mailboxId, e.messageId)).toEqual({
        messageId: e.messageId,
        mailboxId: a!.mailboxId,
        sender: SENDER,
        size: e.bytes.length,
        hash: e.hash,
      });
      // Another mailbox, an unknown id, an unknown mailbox: nothing (ids are not enumerable).
      expect(await s.getEnvelope(b!.mailboxId, e.messageId)).toBeUndefined();
      expect(await s.getDelivery(b!.mailboxId, e.messageId)).toBeUndefined();
      expect(await s.getEnvelope(a!.mailboxId, id(0xdead))).toBeUndefined();
      expect(await s.getEnvelope(mailbox(9).mailboxId, e.messageId)).toBeUndefined();
      expect(await s.acknowledge(receipt(e, a!.mailboxId, T0 + 1))).toBe(true);
      expect(await s.getEnvelope(a!.mailboxId, e.messageId)).toBeUndefined();
      expect(await s.getDelivery(a!.mailboxId, e.messageId)).toBeUndefined();
    });
  });

  describe('acknowledge and discard', () => {
    it('acknowledge: delivery gone, receipt kept for the sender, bytes deleted when no delivery is left, second time false', async () => {
      const s = await open();
      const [a, b] = await withMailboxes(s, 1, 2);
      const e = envelope(1, [a!.mailboxId, b!.mailboxId]);
      await s.putEnvelope(e, ROOMY);
      const ra = receipt(e, a!.mailboxId, T0 + 100);
      const rb = receipt(e, b!.mailboxId, T0 + 50);

      expect(await s.acknowledge(ra)).toBe(true);
      expect(await s.listPending(a!.mailboxId, 10)).toEqual([]);
      expect(await s.mailboxUsage(a!.mailboxId)).toEqual({ envelopes: 0, bytes: 0 });
      expect(await s.getEnvelope(b!.mailboxId, e.messageId)).toEqual(e.bytes);
      expect(await h.rows('envelopes')).toHaveLength(1);
      expect(await s.acknowledge({ ...ra, at: T0 + 101 })).toBe(false);
      expect(await s.listReceipts(SENDER, 10)).toEqual([ra]);

      expect(await s.acknowledge(rb)).toBe(true);
      expect(await h.rows('envelopes')).toHaveLength(0);
      expect(await h.rows('deliveries')).toHaveLength(0);
      expect(await s.listReceipts(SENDER, 10)).toEqual([rb, ra]);
      expect(await s.acknowledge(rb)).toBe(false);
      expect(await s.acknowledge(receipt(envelope(7, []), a!.mailboxId, T0))).toBe(false);
      expect(await s.listReceipts(SENDER, 10)).toHaveLength(2);
    });

    it('lists receipts page by page after a cursor (at, messageId, mailboxId)', async () => {
      const s = await open();
      const [a, b] = await withMailboxes(s, 1, 2);
      const e = envelope(1, [a!.mailboxId, b!.mailboxId]);
      await s.putEnvelope(e, ROOMY);
      // Two receipts at the same time: the ids order them.
      const ra = receipt(e, a!.mailboxId, T0 + 5);
      const rb = receipt(e, b!.mailboxId, T0 + 5);
      await s.acknowledge(ra);
      await s.acknowledge(rb);
      const all = await s.listReceipts(SENDER, 10);
      expect(all).toHaveLength(2);
      const [first, second] = all;
      const page2 = await s.listReceipts(SENDER, 1, { at: first!.at, messageId: first!.messageId, mailboxId: first!.mailboxId });
      expect(page2).toEqual([second]);
      expect(await s.listReceipts(SENDER, 10, { at: second!.at, messageId: second!.messageId, mailboxId: second!.mailboxId })).toEqual([]);
      expect(await s.listReceipts(SENDER, 10, { at: T0 + 4, messageId: 'f'.repeat(32), mailboxId: 'f'.repeat(32) })).toEqual(all);
    });

    it('acknowledge from two relay processes at once: exactly one succeeds', async () => {
      const s1 = await open();
      const s2 = await open();
      const [a, b] = await withMailboxes(s1, 1, 2);
      const e = envelope(1, [a!.mailboxId, b!.mailboxId]);
      await s1.putEnvelope(e, ROOMY);
      const r = receipt(e, a!.mailboxId, T0 + 1);
      const results = await Promise.all([s1.acknowledge(r), s2.acknowledge(r), s1.acknowledge(r), s2.acknowledge(r)]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await s2.listReceipts(SENDER, 10)).toEqual([r]);
      expect(await s2.getEnvelope(b!.mailboxId, e.messageId)).toEqual(e.bytes);
    });

    it('discard: delivery gone without a receipt, bytes deleted when no delivery is left, second time false', async () => {
      const s = await open();
      const [a, b] = await withMailboxes(s, 1, 2);
      const e = envelope(1, [a!.mailboxId, b!.mailboxId]);
      await s.putEnvelope(e, ROOMY);
      expect(await s.discard(a!.mailboxId, e.messageId)).toBe(true);
      expect(await s.discard(a!.mailboxId, e.messageId)).toBe(false);
      expect(await s.getEnvelope(a!.mailboxId, e.messageId)).toBeUndefined();
      expect(await s.getEnvelope(b!.mailboxId, e.messageId)).toEqual(e.bytes);
      expect(await s.discard(b!.mailboxId, e.messageId)).toBe(true);
      expect(await h.rows('envelopes')).toHaveLength(0);
      expect(await s.listReceipts(SENDER, 10)).toEqual([]);
      expect(await s.discard(b!.mailboxId, id(0xdead))).toBe(false);
    });
  });

  describe('receipts', () => {
    it('listReceipts and deleteReceipts see only that sender', async () => {
      const s = await open();
      const [a, b] = await withMailboxes(s, 1, 2);
      const mine = envelope(1, [a!.mailboxId, b!.mailboxId]);
      const theirs = envelope(2, [a!.mailboxId], { sender: OTHER_SENDER });
      const mine2 = envelope(3, [a!.mailboxId]);
      for (const e of [mine, theirs, mine2]) await s.putEnvelope(e, ROOMY);
      const r1 = receipt(mine, a!.mailboxId, T0 + 10);
      const r2 = receipt(mine, b!.mailboxId, T0 + 20);
      const r3 = receipt(mine2, a!.mailboxId, T0 + 30);
      const rt = receipt(theirs, a!.mailboxId, T0 + 5);
      for (const r of [r3, rt, r2, r1]) expect(await s.acknowledge(r)).toBe(true);

      expect(await s.listReceipts(SENDER, 10)).toEqual([r1, r2, r3]);
      expect(await s.listReceipts(SENDER, 2)).toEqual([r1, r2]);
      expect(await s.listReceipts(OTHER_SENDER, 10)).toEqual([rt]);
      expect(await s.listReceipts(key(0xfff), 10)).toEqual([]);

      expect(await s.deleteReceipts(OTHER_SENDER, mine.messageId)).toBe(0);
      expect(await s.deleteReceipts(SENDER, theirs.messageId)).toBe(0);
      expect(await s.deleteReceipts(SENDER, mine.messageId)).toBe(2);
      expect(await s.deleteReceipts(SENDER, mine.messageId)).toBe(0);
      expect(await s.listReceipts(SENDER, 10)).toEqual([r3]);
      expect(await s.listReceipts(OTHER_SENDER, 10)).toEqual([rt]);
    });
  });

  describe('expire', () => {
    it('deletes deliveries, orphaned envelopes, receipts and nonces whose time is up at `now`, nothing else', async () => {
      const s = await open();
      const [a, b] = await withMailboxes(s, 1, 2);
      const t = (d: number): number => T0 + d * DAY;
      // Shared: a's delivery expires at day 10, b's (a later re-upload) at day 20.
      const shared = envelope(1, [a!.mailboxId], { expiresAt: t(10) });
      await s.putEnvelope(shared, ROOMY);
      await s.putEnvelope({ ...shared, to: [b!.mailboxId], receivedAt: t(5), expiresAt: t(20) }, ROOMY);
      const early = envelope(2, [a!.mailboxId], { expiresAt: t(10) });
      const late = envelope(3, [a!.mailboxId, b!.mailboxId], { expiresAt: t(11) });
      const acked = envelope(4, [a!.mailboxId], { expiresAt: t(30) });
      for (const e of [early, late, acked]) await s.putEnvelope(e, ROOMY);
      await s.acknowledge(receipt(acked, a!.mailboxId, t(1), t(10)));
      const keptReceipt = receipt(late, b!.mailboxId, t(1), t(12));
      await s.acknowledge(keptReceipt);
      await s.rememberNonce(key(1), 'AAECAwQFBgcICQoLDA0ODw', t(10));
      await s.rememberNonce(key(1), 'BBECAwQFBgcICQoLDA0ODw', t(10) + 1);

      expect(await s.expire(t(10) - 1)).toEqual({ deliveries: 0, envelopes: 0, receipts: 0, nonces: 0 });
      // Exactly at the time: gone (expires_at <= now).
      expect(await s.expire(t(10))).toEqual({ deliveries: 2, envelopes: 1, receipts: 1, nonces: 1 });
      expect(await s.expire(t(10))).toEqual({ deliveries: 0, envelopes: 0, receipts: 0, nonces: 0 });

      expect((await s.listPending(a!.mailboxId, 10)).map((p) => p.messageId)).toEqual([late.messageId]);
      expect((await s.listPending(b!.mailboxId, 10)).map((p) => p.messageId)).toEqual([shared.messageId]);
      expect(await s.getEnvelope(b!.mailboxId, shared.messageId)).toEqual(shared.bytes);
      expect((await h.rows('envelopes')).map((r) => r.message_id).sort()).toEqual([shared.messageId, late.messageId].sort());
      expect(await s.listReceipts(SENDER, 10)).toEqual([keptReceipt]);
      expect(await s.rememberNonce(key(1), 'AAECAwQFBgcICQoLDA0ODw', t(11))).toBe(true);
      expect(await s.rememberNonce(key(1), 'BBECAwQFBgcICQoLDA0ODw', t(11))).toBe(false);

      expect(await s.expire(t(100))).toEqual({ deliveries: 2, envelopes: 2, receipts: 1, nonces: 2 });
      for (const table of ['envelopes', 'deliveries', 'receipts', 'nonces']) expect(await h.rows(table)).toEqual([]);
      // Mailboxes and allow-lists do not expire.
      expect(await s.getMailbox(a!.mailboxId)).toEqual(a);
    });
  });

  describe('nonces', () => {
    it('rememberNonce: true once per (keyid, nonce), false on a replay, also from another relay process', async () => {
      const s1 = await open();
      const s2 = await open();
      expect(await s1.rememberNonce(key(1), 'AAECAwQFBgcICQoLDA0ODw', T0 + 600_000)).toBe(true);
      expect(await s1.rememberNonce(key(1), 'AAECAwQFBgcICQoLDA0ODw', T0 + 600_000)).toBe(false);
      expect(await s2.rememberNonce(key(1), 'AAECAwQFBgcICQoLDA0ODw', T0 + 900_000)).toBe(false);
      expect(await s2.rememberNonce(key(2), 'AAECAwQFBgcICQoLDA0ODw', T0 + 600_000)).toBe(true);
      expect(await s2.rememberNonce(key(1), 'AAECAwQFBgcICQoLDA0ODx', T0 + 600_000)).toBe(true);
      // Concurrent replays from two processes: exactly one is accepted.
      const many = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? s1 : s2).rememberNonce(key(3), 'ZZECAwQFBgcICQoLDA0ODw', T0 + 1)));
      expect(many.filter(Boolean)).toHaveLength(1);
    });

    it('an unsynced nonce (durable: false) is spent the same way: once, across processes, seen by nonceSpent', async () => {
      const s1 = await open();
      const s2 = await open();
      expect(await s1.nonceSpent(key(1), 'AAECAwQFBgcICQoLDA0ODw')).toBe(false);
      expect(await s1.rememberNonce(key(1), 'AAECAwQFBgcICQoLDA0ODw', T0 + 600_000, { durable: false })).toBe(true);
      expect(await s2.nonceSpent(key(1), 'AAECAwQFBgcICQoLDA0ODw')).toBe(true);
      expect(await s2.rememberNonce(key(1), 'AAECAwQFBgcICQoLDA0ODw', T0 + 600_000)).toBe(false);
      expect(await s1.rememberNonce(key(1), 'AAECAwQFBgcICQoLDA0ODw', T0 + 600_000, { durable: false })).toBe(false);
      const many = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? s1 : s2).rememberNonce(key(3), 'ZZECAwQFBgcICQoLDA0ODw', T0 + 1, { durable: i % 3 !== 0 })),
      );
      expect(many.filter(Boolean)).toHaveLength(1);
      expect(await s1.nonceSpent(key(2), 'AAECAwQFBgcICQoLDA0ODw')).toBe(false);
    });

    it('a write given a nonce spends it in its own transaction: a spent one is refused with NonceReplayedError and the write changes nothing', async () => {
      const s1 = await open();
      const s2 = await open();
      const [a] = await withMailboxes(s1, 1);
      const n = (nonce: string) => ({ keyId: key(7), nonce, expiresAt: T0 + 600_000 });
      const e1 = envelope(1, [a!.mailboxId]);
      expect((await s1.putEnvelope(e1, ROOMY, n('AAECAwQFBgcICQoLDA0ODw'))).result).toBe('stored');
      expect(await s2.nonceSpent(key(7), 'AAECAwQFBgcICQoLDA0ODw')).toBe(true);
      expect(await s2.rememberNonce(key(7), 'AAECAwQFBgcICQoLDA0ODw', T0 + 600_000)).toBe(false);
      // The same nonce on another upload, from another process: refused, nothing stored.
      const before = await snapshot(h);
      await expect(s2.putEnvelope(envelope(2, [a!.mailboxId]), ROOMY, n('AAECAwQFBgcICQoLDA0ODw'))).rejects.toBeInstanceOf(NonceReplayedError);
      // A nonce spent by the authentication path cannot be spent again by a write.
      expect(await s1.rememberNonce(key(7), 'BBECAwQFBgcICQoLDA0ODw', T0 + 600_000, { durable: false })).toBe(true);
      await expect(s1.acknowledge(receipt(e1, a!.mailboxId, T0 + 5), n('BBECAwQFBgcICQoLDA0ODw'))).rejects.toBeInstanceOf(NonceReplayedError);
      await expect(s2.discard(a!.mailboxId, e1.messageId, n('BBECAwQFBgcICQoLDA0ODw'))).rejects.toBeInstanceOf(NonceReplayedError);
      const after = await snapshot(h);
      delete before['nonces'];
      delete after['nonces'];
      expect(after).toEqual(before);
      expect(await s1.getDelivery(a!.mailboxId, e1.messageId)).toBeDefined();
      // A write whose own result is a refusal still spends its nonce (it commits with it).
      expect((await s1.putEnvelope({ ...envelope(1, [a!.mailboxId]), bytes: new Uint8Array(300).fill(9) }, ROOMY, n('CCECAwQFBgcICQoLDA0ODw'))).result).toBe('conflict');
      expect(await s2.nonceSpent(key(7), 'CCECAwQFBgcICQoLDA0ODw')).toBe(true);
      expect(await s1.acknowledge(receipt(envelope(9, [a!.mailboxId]), a!.mailboxId, T0 + 5), n('DDECAwQFBgcICQoLDA0ODw'))).toBe(false);
      expect(await s2.nonceSpent(key(7), 'DDECAwQFBgcICQoLDA0ODw')).toBe(true);
      expect(await s1.acknowledge(receipt(e1, a!.mailboxId, T0 + 5), n('EEECAwQFBgcICQoLDA0ODw'))).toBe(true);
      // Concurrent writes with one nonce from two processes: exactly one takes effect.
      const racing = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => (i % 2 ? s1 : s2).putEnvelope(envelope(20 + i, [a!.mailboxId]), ROOMY, n('FFECAwQFBgcICQoLDA0ODw'))),
      );
      expect(racing.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of racing) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(NonceReplayedError);
      expect((await s1.listPending(a!.mailboxId, 100)).length).toBe(1);
    });
  });

  describe('subscribe', () => {
    it('fires on a delivery to that mailbox only; unsubscribe stops it', async () => {
      const s = await open();
      const [a, b] = await withMailboxes(s, 1, 2);
      const onA = nextCall(s, a!.mailboxId, 'delivery to a');
      const gone = nextCall(s, a!.mailboxId, 'unsubscribed');
      gone.stop();
      const onB = nextCall(s, b!.mailboxId, 'delivery to b');
      await s.putEnvelope(envelope(1, [b!.mailboxId]), ROOMY);
      await onB.promise;
      await s.putEnvelope(envelope(2, [a!.mailboxId]), ROOMY);
      await onA.promise;
      // Deliveries are announced in commit order, so by now the first one was seen by every
      // subscriber: a's subscriber was called for a's delivery only.
      expect(onA.calls()).toBe(1);
      expect(onB.calls()).toBe(1);
      expect(gone.calls()).toBe(0);
      onA.stop();
      onB.stop();
    });

    it('a delivery through a second store instance (another relay process) wakes a subscriber on the first', async () => {
      const first = await open();
      const second = await open();
      const [a] = await withMailboxes(second, 1);
      const woke = nextCall(first, a!.mailboxId, 'delivery through the second instance');
      expect((await second.putEnvelope(envelope(1, [a!.mailboxId]), ROOMY)).result).toBe('stored');
      await woke.promise;
      expect(woke.calls()).toBeGreaterThanOrEqual(1);
      woke.stop();
    });

    it.runIf(make === makePostgres)('PostgreSQL: the listener reconnects after its connection drops, and wakes subscribers to look again', async () => {
      const first = await open();
      const second = await open();
      const [a] = await withMailboxes(second, 1);
      const again = nextCall(first, a!.mailboxId, 'reconnect of the listening connection');
      expect(await h.dropListeners!()).toBeGreaterThanOrEqual(2);
      await again.promise; // the wake-up after reconnecting: LISTEN is in effect again
      again.stop();
      const woke = nextCall(first, a!.mailboxId, 'delivery after the reconnect');
      await second.putEnvelope(envelope(1, [a!.mailboxId]), ROOMY);
      await woke.promise;
      woke.stop();
    });
  });

  describe('no secret stored (docs/RELAY.md §1: a stolen database opens nothing)', () => {
    /** Every column the schema may have, with the kind of value it holds. A new column fails. */
    const EXPECTED: Record<string, Record<string, Kind>> = {
      schema_version: { version: 'version' },
      mailboxes: { mailbox_id: 'id', key_id: 'id', sign_public_key: 'publicKey', box_public_key: 'publicKey', created_at: 'time' },
      senders: { mailbox_id: 'id', sender: 'publicKey', added_at: 'time' },
      envelopes: { message_id: 'id', sender: 'publicKey', bytes: 'envelope', hash: 'envelopeHash', size: 'size', received_at: 'time', expires_at: 'time' },
      deliveries: { mailbox_id: 'id', message_id: 'id', received_at: 'time', expires_at: 'time' },
      receipts: {
        message_id: 'id',
        mailbox_id: 'id',
        sender: 'publicKey',
        recipient: 'publicKey',
        recipient_box: 'publicKey',
        signature: 'receiptSignature',
        at: 'time',
        expires_at: 'time',
      },
      nonces: { key_id: 'publicKey', nonce: 'nonce', expires_at: 'time' },
    };

    it('after a realistic workload every column holds only ids, public keys, envelopes, sizes, times, signatures and nonces', async () => {
      const s = await open();
      const clock = { t: T0 };
      const now = (): number => (clock.t += 1000);
      const times = new Set<number>();
      const at = (): number => {
        const v = now();
        times.add(v);
        times.add(v + 30 * DAY);
        times.add(v + 600_000);
        return v;
      };
      // A child's companion, two relatives; real keys, real envelopes, real receipts.
      const people = ['Companion', 'Grandma', 'Uncle'].map((n) => generateFamilyIdentity(n));
      const [child, grandma, uncle] = people as [FamilyIdentity, FamilyIdentity, FamilyIdentity];
      const publicKeys = new Set(people.flatMap((p) => [toHex(p.signPublicKey), toHex(p.boxPublicKey)]));
      const secrets = people.flatMap((p) => [p.signSecretKey, p.signSecretKey.subarray(0, 32), p.boxSecretKey]);
      const box = (p: FamilyIdentity): MailboxRecord => ({
        mailboxId: mailboxIdOf(p),
        keyId: keyIdHexOf(p.boxPublicKey),
        signPublicKey: toHex(p.signPublicKey),
        boxPublicKey: toHex(p.boxPublicKey),
        createdAt: at(),
      });
      for (const p of people) {
        await s.createMailbox(box(p));
        await s.rememberNonce(toHex(p.signPublicKey), randomBytes(16).toString('base64url'), at() + 600_000);
      }
      await s.allowSender(mailboxIdOf(child), toHex(grandma.signPublicKey), at());
      await s.allowSender(mailboxIdOf(child), toHex(uncle.signPublicKey), at());
      await s.allowSender(mailboxIdOf(grandma), toHex(child.signPublicKey), at());
      await s.allowSender(mailboxIdOf(uncle), toHex(child.signPublicKey), at());

      const envelopes: Uint8Array[] = [];
      const signatures: Uint8Array[] = [];
      const send = async (from: FamilyIdentity, to: FamilyIdentity[]): Promise<{ messageId: string; bytes: Uint8Array }> => {
        const bytes = sealVoiceMessage({ audio: new Uint8Array(randomBytes(700)), from, to, createdAt: at() });
        const messageId = peekMessageId(bytes);
        envelopes.push(bytes);
        const received = at();
        const r = await s.putEnvelope(
          { messageId, sender: toHex(from.signPublicKey), bytes, hash: sha512(bytes), receivedAt: received, expiresAt: received + 30 * DAY, to: to.map((p) => mailboxIdOf(p)) },
          ROOMY,
        );
        expect(r.result).toBe('stored');
        await s.rememberNonce(toHex(from.signPublicKey), randomBytes(16).toString('base64url'), at() + 600_000);
        return { messageId, bytes };
      };
      const ack = async (by: FamilyIdentity, from: FamilyIdentity, m: { messageId: string; bytes: Uint8Array }): Promise<void> => {
        const signature = signDeliveryReceipt(by, m.messageId, m.bytes);
        signatures.push(signature);
        const when = at();
        expect(
          await s.acknowledge({
            messageId: m.messageId,
            mailboxId: mailboxIdOf(by),
            sender: toHex(from.signPublicKey),
            recipient: toHex(by.signPublicKey),
            recipientBox: toHex(by.boxPublicKey),
            signature,
            at: when,
            expiresAt: when + 30 * DAY,
          }),
        ).toBe(true);
      };
      const hello = await send(grandma, [child]);
      const bedtime = await send(uncle, [child]);
      const reply = await send(child, [grandma, uncle]);
      await send(grandma, [child]); // left pending
      await ack(child, grandma, hello);
      await ack(grandma, child, reply); // uncle's copy left pending
      await ack(child, uncle, bedtime);
      expect((await s.listReceipts(toHex(grandma.signPublicKey), 10)).map((r) => r.messageId)).toEqual([hello.messageId]);

      // 1. The schema is exactly the documented one.
      const columns = await h.columns();
      expect(Object.fromEntries(Object.entries(columns).map(([t, cs]) => [t, [...cs].sort()]))).toEqual(
        Object.fromEntries(Object.entries(EXPECTED).map(([t, cs]) => [t, Object.keys(cs).sort()])),
      );

      // 2. Every value is of its column's kind, and a known public value.
      const hashes = new Set(envelopes.map((e) => toHex(sha512(e))));
      const sizes = new Set(envelopes.map((e) => e.length));
      const check: Record<Kind, (v: unknown) => boolean> = {
        version: (v) => Number(v) === 1,
        id: (v) => typeof v === 'string' && /^[0-9a-f]{32}$/.test(v),
        publicKey: (v) => typeof v === 'string' && publicKeys.has(v),
        envelope: (v) => v instanceof Uint8Array && envelopes.some((e) => Buffer.from(e).equals(v)),
        envelopeHash: (v) => v instanceof Uint8Array && hashes.has(toHex(v)),
        receiptSignature: (v) => v instanceof Uint8Array && signatures.some((sig) => Buffer.from(sig).equals(v)),
        size: (v) => sizes.has(Number(v)),
        time: (v) => times.has(Number(v)),
        nonce: (v) => typeof v === 'string' && /^[A-Za-z0-9_-]{22}$/.test(v),
      };
      let values = 0;
      for (const [table, cols] of Object.entries(EXPECTED)) {
        const rows = await h.rows(table);
        expect(rows.length, table).toBeGreaterThan(0);
        for (const row of rows) {
          for (const [column, kind] of Object.entries(cols)) {
            expect(check[kind](row[column]), `${table}.${column} = ${String(row[column])} is not a ${kind}`).toBe(true);
            values++;
          }
        }
      }
      expect(values).toBeGreaterThan(50);

      // 3. No secret key (raw or hex) anywhere: not in a value, not in the database files.
      const haystacks: Buffer[] = [];
      for (const table of Object.keys(EXPECTED)) {
        for (const row of await h.rows(table)) {
          for (const v of Object.values(row)) haystacks.push(v instanceof Uint8Array ? Buffer.from(v) : Buffer.from(String(v)));
        }
      }
      for (const f of h.files()) haystacks.push(Buffer.from(f));
      for (const secret of secrets) {
        for (const needle of [Buffer.from(secret), Buffer.from(toHex(secret))]) {
          for (const hay of haystacks) expect(hay.includes(needle)).toBe(false);
        }
      }
    });
  });
}

type Kind = 'version' | 'id' | 'publicKey' | 'envelope' | 'envelopeHash' | 'receiptSignature' | 'size' | 'time' | 'nonce';

// ---- both back ends -----------------------------------------------------------------------------

const pgServer = await throwawayPostgres();
const pgSkip = 'skip' in pgServer ? pgServer.skip : undefined;
const makeSqlite = (): Harness => sqliteHarness();
const makePostgres = (): Harness => {
  if ('skip' in pgServer) throw new Error(pgServer.skip);
  return postgresHarness(pgServer.url);
};

afterAll(async () => {
  if (!('skip' in pgServer)) await pgServer.stop();
});

describe('relay store conformance: sqlite', () => conformance(makeSqlite));
describe.skipIf(pgSkip !== undefined)(
  pgSkip === undefined ? 'relay store conformance: postgres' : `relay store conformance: postgres — SKIPPED: ${pgSkip}`,
  () => conformance(makePostgres),
);

describe('openStore', () => {
  it('chooses PostgreSQL for postgres:// and postgresql:// URLs, SQLite otherwise', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plushlink-openstore-'));
    try {
      const file = openStore(join(dir, 'x.db'));
      expect(file.kind).toBe('sqlite');
      await file.init();
      await file.close();
      expect(existsSync(join(dir, 'x.db'))).toBe(true);
      for (const url of ['postgres://relay@127.0.0.1:1/relay', 'postgresql://relay@127.0.0.1:1/relay']) {
        const s = openStore(url);
        expect(s.kind).toBe('postgres');
        await s.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
