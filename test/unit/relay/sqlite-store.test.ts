/**
 * The SQLite back end's own rules, beside the shared conformance suite
 * (test/integration/relay-store-conformance.test.ts): its life cycle, a newer schema left alone,
 * a mailbox id that would change keys, a receipt for another sender, which store instances share
 * wake-ups, the write-lock wait, and deleted bytes overwritten in the file (docs/RELAY.md §6, §8).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../../relay/src/store/sqlite.js';
import type { MailboxRecord, NewEnvelope, Quotas, RelayStore } from '../../../relay/src/store/types.js';
import type { SqliteRelayStore } from '../../../relay/src/store/sqlite.js';

const T0 = Date.UTC(2026, 11, 2, 12, 0, 0);
const DAY = 86_400_000;
const ROOMY: Quotas = { maxEnvelopes: 1000, maxBytes: 100 * 1024 * 1024 };
const hex = (n: number, len: number): string => n.toString(16).padStart(len, '0');

function mailbox(n: number): MailboxRecord {
  return { mailboxId: hex(0x1000 + n, 32), keyId: hex(0x2000 + n, 32), signPublicKey: hex(0x3000 + n, 64), boxPublicKey: hex(0x4000 + n, 64), createdAt: T0 };
}

function envelope(n: number, to: string[], bytes: Uint8Array = new Uint8Array(randomBytes(200))): NewEnvelope {
  return {
    messageId: hex(0x5000 + n, 32),
    sender: hex(0xa11ce, 64),
    bytes,
    hash: new Uint8Array(createHash('sha512').update(bytes).digest()),
    receivedAt: T0 + n,
    expiresAt: T0 + 30 * DAY,
    to,
  };
}

const root = mkdtempSync(join(tmpdir(), 'plushlink-sqlite-store-'));
let n = 0;
const opened: RelayStore[] = [];
function freshPath(): string {
  const dir = join(root, `db-${++n}`);
  mkdirSync(dir);
  return join(dir, 'relay.db');
}
function open(path: string, options: { busyTimeoutMs?: number } = {}): SqliteRelayStore {
  const s = openSqliteStore({ path, ...options });
  opened.push(s);
  return s;
}
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Resolves true when the listener is called within `ms`, false otherwise. */
function called(store: RelayStore, mailboxId: string, ms: number): { result: Promise<boolean>; stop: () => void } {
  let stop!: () => void;
  const result = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const unsubscribe = store.subscribe(mailboxId, () => {
      clearTimeout(timer);
      resolve(true);
    });
    stop = () => {
      clearTimeout(timer);
      unsubscribe();
    };
  });
  return { result, stop };
}

describe('SQLite store life cycle', () => {
  it('refuses to work before init() and after close(); close() twice is a no-op', async () => {
    const s = open(freshPath());
    await expect(s.getMailbox(mailbox(1).mailboxId)).rejects.toThrow(/call init\(\) first/);
    await expect(s.createMailbox(mailbox(1))).rejects.toThrow(/call init\(\) first/);
    await s.init();
    expect(await s.createMailbox(mailbox(1))).toBe('created');
    await s.close();
    await s.close();
    await expect(s.getMailbox(mailbox(1).mailboxId)).rejects.toThrow(/closed/);
    await expect(s.init()).rejects.toThrow(/closed/);
    expect(() => s.subscribe(mailbox(1).mailboxId, () => {})).toThrow(/closed/);
  });

  it('leaves a database written by a newer relay alone: init() refuses it', async () => {
    const path = freshPath();
    const s = open(path);
    await s.init();
    await s.close();
    const raw = new Database(path);
    raw.prepare('INSERT INTO schema_version (version) VALUES (?)').run(99);
    raw.close();
    const again = open(path);
    await expect(again.init()).rejects.toThrow(/schema version 99 is newer/);
  });

  it('a mailbox id already taken with other keys is an error, the same keys are "exists"', async () => {
    const s = open(freshPath());
    await s.init();
    const m = mailbox(1);
    expect(await s.createMailbox(m)).toBe('created');
    expect(await s.createMailbox({ ...m, createdAt: T0 + 1 })).toBe('exists');
    for (const other of [{ signPublicKey: hex(9, 64) }, { boxPublicKey: hex(9, 64) }, { keyId: hex(9, 32) }]) {
      await expect(s.createMailbox({ ...m, ...other }), JSON.stringify(other)).rejects.toThrow(/exists with other keys/);
    }
    expect(await s.getMailbox(m.mailboxId)).toEqual(m);
  });

  it('a receipt naming another sender than the envelope’s is an error and changes nothing', async () => {
    const s = open(freshPath());
    await s.init();
    const m = mailbox(1);
    await s.createMailbox(m);
    const e = envelope(1, [m.mailboxId]);
    await s.putEnvelope(e, ROOMY);
    const receipt = { messageId: e.messageId, mailboxId: m.mailboxId, sender: hex(0xb0b, 64), recipient: m.signPublicKey, recipientBox: m.boxPublicKey, signature: new Uint8Array(64), at: T0, expiresAt: T0 + DAY };
    await expect(s.acknowledge(receipt)).rejects.toThrow(/receipt sender is not the envelope sender/);
    expect(await s.getEnvelope(m.mailboxId, e.messageId)).toEqual(e.bytes);
    expect(await s.listReceipts(hex(0xb0b, 64), 10)).toEqual([]);
    // A mailbox the envelope is not pending in: nothing to acknowledge, whoever is named.
    const other = mailbox(2);
    await s.createMailbox(other);
    expect(await s.acknowledge({ ...receipt, mailboxId: other.mailboxId })).toBe(false);
    // The envelope's own sender: acknowledged.
    expect(await s.acknowledge({ ...receipt, sender: e.sender })).toBe(true);
  });
});

describe('SQLite store listings', () => {
  it('a limit must be a non-negative safe integer; 0 lists nothing', async () => {
    const s = open(freshPath());
    await s.init();
    const m = mailbox(1);
    await s.createMailbox(m);
    await s.putEnvelope(envelope(1, [m.mailboxId]), ROOMY);
    for (const bad of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
      await expect(s.listPending(m.mailboxId, bad), String(bad)).rejects.toThrow(RangeError);
      await expect(s.listReceipts(hex(0xa11ce, 64), bad), String(bad)).rejects.toThrow(RangeError);
    }
    expect(await s.listPending(m.mailboxId, 0)).toEqual([]);
    expect(await s.listPending(m.mailboxId, 1)).toHaveLength(1);
  });
});

describe('SQLite store wake-ups', () => {
  it.each([
    ['in-memory stores are each their own', () => ':memory:'],
    ['stores on different files do not wake each other', () => freshPath()],
  ])('%s: a delivery in one wakes nobody in the other', async (_name, where) => {
    const a = open(where());
    const b = open(where());
    await a.init();
    await b.init();
    const m = mailbox(1);
    await a.createMailbox(m);
    await b.createMailbox(m);
    const onA = called(a, m.mailboxId, 300);
    const onB = called(b, m.mailboxId, 5000);
    await b.putEnvelope(envelope(1, [m.mailboxId]), ROOMY);
    expect(await onB.result).toBe(true);
    expect(await onA.result).toBe(false);
    onA.stop();
    onB.stop();
  });

  it('stores opened on one file under different names (a symbolic link) share wake-ups', async () => {
    const path = freshPath();
    const link = join(root, `link-${n}`);
    symlinkSync(join(path, '..'), link);
    const a = open(join(link, 'relay.db'));
    const b = open(path);
    await a.init();
    await b.init();
    const m = mailbox(1);
    await b.createMailbox(m);
    const onA = called(a, m.mailboxId, 10_000);
    await b.putEnvelope(envelope(1, [m.mailboxId]), ROOMY);
    expect(await onA.result).toBe(true);
    onA.stop();
  });

  it('one function subscribed twice is two subscriptions; unsubscribing one keeps the other; closing a store ends its own', async () => {
    const path = freshPath();
    const a = open(path);
    const b = open(path);
    await a.init();
    await b.init();
    const m = mailbox(1);
    await a.createMailbox(m);
    let calls = 0;
    const listener = () => calls++;
    const first = a.subscribe(m.mailboxId, listener);
    a.subscribe(m.mailboxId, listener);
    const onB = called(b, m.mailboxId, 10_000);
    first();
    first(); // a second unsubscribe of the same subscription changes nothing
    await a.putEnvelope(envelope(1, [m.mailboxId]), ROOMY);
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(1);
    expect(await onB.result).toBe(true);
    await a.close();
    const late = called(b, m.mailboxId, 10_000);
    await b.putEnvelope(envelope(2, [m.mailboxId]), ROOMY);
    expect(await late.result).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(1); // a's subscription went with a
    late.stop();
    onB.stop();
  });

  it('a duplicate upload that delivers to a new mailbox wakes that mailbox (docs/RELAY.md §2: answered within 1 s)', async () => {
    const s = open(freshPath());
    await s.init();
    const [a, b] = [mailbox(1), mailbox(2)];
    await s.createMailbox(a);
    await s.createMailbox(b);
    const e = envelope(1, [a.mailboxId]);
    expect((await s.putEnvelope(e, ROOMY)).result).toBe('stored');
    const onB = called(s, b.mailboxId, 5000);
    expect(await s.putEnvelope({ ...e, to: [a.mailboxId, b.mailboxId] }, ROOMY)).toEqual({ result: 'duplicate', delivered: [b.mailboxId] });
    expect(await onB.result).toBe(true);
    onB.stop();
  });

  it('a listener that throws does not stop the others or the delivery', async () => {
    const s = open(freshPath());
    await s.init();
    const m = mailbox(1);
    await s.createMailbox(m);
    s.subscribe(m.mailboxId, () => {
      throw new Error('a broken subscriber');
    });
    // A throw that escaped into the event loop would end a relay process.
    const escaped: unknown[] = [];
    const onUncaught = (e: unknown) => escaped.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      const ok = called(s, m.mailboxId, 10_000);
      expect((await s.putEnvelope(envelope(1, [m.mailboxId]), ROOMY)).result).toBe('stored');
      expect(await ok.result).toBe(true);
      ok.stop();
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(escaped).toEqual([]);
  });
});

describe('SQLite store on disk', () => {
  it('runs its connection durable (docs/RELAY.md §6): WAL, synchronous FULL, a 5 s lock wait, foreign keys, secure delete', async () => {
    const s = open(freshPath());
    await s.init();
    expect(s.connectionSettings()).toEqual({ journalMode: 'wal', synchronous: 'FULL', busyTimeoutMs: 5000, foreignKeys: true, secureDelete: true });
    // The lock wait is whole, non-negative milliseconds.
    expect(open(freshPath(), { busyTimeoutMs: 300 }).connectionSettings().busyTimeoutMs).toBe(300);
    expect(open(freshPath(), { busyTimeoutMs: 1.9 }).connectionSettings().busyTimeoutMs).toBe(1);
    expect(open(freshPath(), { busyTimeoutMs: -5 }).connectionSettings().busyTimeoutMs).toBe(0);
    await s.close();
    expect(() => s.connectionSettings()).toThrow(/closed/);
  });

  it('a read’s unsynced nonce leaves the connection at synchronous FULL for every later write (docs/RELAY.md §3.3 step 6)', async () => {
    const s = open(freshPath());
    await s.init();
    expect(await s.rememberNonce('aa'.repeat(32), 'n1', Date.now() + 600_000, { durable: false })).toBe(true);
    expect(s.connectionSettings().synchronous).toBe('FULL');
    // Also after an insert that finds the nonce already spent.
    expect(await s.rememberNonce('aa'.repeat(32), 'n1', Date.now() + 600_000, { durable: false })).toBe(false);
    expect(s.connectionSettings().synchronous).toBe('FULL');
    expect(await s.rememberNonce('aa'.repeat(32), 'n2', Date.now() + 600_000)).toBe(true);
    expect(s.connectionSettings().synchronous).toBe('FULL');
  });

  it('waits for another connection’s write lock for busyTimeoutMs, then fails', async () => {
    const path = freshPath();
    const s = open(path, { busyTimeoutMs: 300 });
    await s.init();
    const raw = new Database(path);
    raw.exec('BEGIN IMMEDIATE');
    try {
      const started = Date.now();
      await expect(s.createMailbox(mailbox(1))).rejects.toThrow(/locked|busy/i);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    } finally {
      raw.exec('ROLLBACK');
      raw.close();
    }
    expect(await s.createMailbox(mailbox(1))).toBe('created');
  });

  it('a discarded envelope’s bytes are overwritten in the file, not just unlinked (docs/RELAY.md §8)', async () => {
    const path = freshPath();
    const s = open(path);
    await s.init();
    const m = mailbox(1);
    await s.createMailbox(m);
    const marker = new Uint8Array(randomBytes(4000));
    const e = envelope(1, [m.mailboxId], marker);
    await s.putEnvelope(e, ROOMY);
    const probe = Buffer.from(marker.subarray(1000, 1064));
    const files = () => [path, `${path}-wal`].filter((p) => existsSync(p)).map((p) => readFileSync(p));
    expect(files().some((f) => f.includes(probe))).toBe(true);
    expect(await s.discard(m.mailboxId, e.messageId)).toBe(true);
    // The WAL keeps earlier page images until a checkpoint; after one, the file holds only the
    // latest, which secure_delete has zeroed (a freed page is otherwise left as it was).
    const raw = new Database(path);
    try {
      expect((raw.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>)[0]!.busy).toBe(0);
    } finally {
      raw.close();
    }
    expect(files().some((f) => f.includes(probe))).toBe(false);
  });
});
