/**
 * "Nothing is lost" (docs/RELAY.md §5, docs/MESSAGES.md §4.3) under random interleavings of
 * sends, syncs, relay wipes, lost answers, failed requests and recipient crashes between storing
 * and acknowledging: at every step each message is in the sender's outbox or held by each of its
 * recipients; once the faults stop and everyone syncs a few times, the outbox is empty and each
 * recipient holds each of its messages exactly once (stored once, never twice).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { bytesEqual, toHex, utf8 } from '../../src/protocol/bytes.js';
import { isPlushlinkError } from '../../src/protocol/errors.js';
import {
  HttpRelay,
  Inbox,
  MemoryInboxStore,
  familyIdentityFromSecrets,
  familyPublicKey,
  peekMessageId,
  sealVoiceMessage,
  syncOutbox,
  type DeliveryStore,
  type FamilyIdentity,
} from '../../src/messages/index.js';
import { FakeRelay, nativeVerify, type FakeRequest } from '../helpers/fake-relay.js';

const T0 = 1_767_225_600_000;
const ident = (name: string, n: number): FamilyIdentity =>
  familyIdentityFromSecrets(name, new Uint8Array(32).fill(n), new Uint8Array(32).fill(n + 100));
const grandma = ident('Grandma', 31);
const recipients = [ident('Mia', 32), ident('Uncle', 33)] as const;
const family = [grandma, ...recipients].map(familyPublicKey);

class MemoryOutbox implements DeliveryStore {
  readonly items = new Map<string, Uint8Array>();
  async list(): Promise<{ id: string }[]> {
    return [...this.items.keys()].map((id) => ({ id }));
  }
  async get(id: string): Promise<Uint8Array | undefined> {
    return this.items.get(id);
  }
  async remove(id: string): Promise<boolean> {
    return this.items.delete(id);
  }
}

/**
 * Counts puts per id. `crash` makes the next put fail: `before` it stored anything (the write
 * never became durable), or right `after` it stored (a crash before the acknowledgement).
 */
class CrashingStore extends MemoryInboxStore {
  readonly puts = new Map<string, number>();
  crash: 'before' | 'after' | undefined;
  override async put(id: string, bytes: Uint8Array): Promise<void> {
    const crash = this.crash;
    this.crash = undefined;
    if (crash === 'before') throw new Error('crashed before storing');
    await super.put(id, bytes);
    this.puts.set(id, (this.puts.get(id) ?? 0) + 1);
    if (crash === 'after') throw new Error('crashed after storing');
  }
}

type Route = 'any' | 'upload' | 'receipt' | 'receipts' | 'listing' | 'fetch';
const routeOf: Record<Route, (r: FakeRequest) => boolean> = {
  any: () => true,
  upload: (r) => r.method === 'PUT' && r.path.startsWith('/v1/envelopes/'),
  receipt: (r) => r.method === 'POST' && r.path.endsWith('/receipt'),
  receipts: (r) => r.path.startsWith('/v1/receipts'),
  listing: (r) => r.method === 'GET' && /\/envelopes(\?|$)/.test(r.path),
  fetch: (r) => r.method === 'GET' && /\/envelopes\/[0-9a-f]{32}$/.test(r.path),
};

type Op =
  | { kind: 'send'; to: 1 | 2 | 3 }
  | { kind: 'sender-sync' }
  | { kind: 'recipient-sync'; who: 0 | 1 }
  | { kind: 'wipe' }
  | { kind: 'lose-answer'; route: Route }
  | { kind: 'network'; route: Route }
  | { kind: 'crash'; who: 0 | 1; when: 'before' | 'after' };

const route = fc.constantFrom<Route>('any', 'upload', 'receipt', 'receipts', 'listing', 'fetch');
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('send' as const), to: fc.constantFrom(1 as const, 2 as const, 3 as const) }) },
  { weight: 4, arbitrary: fc.constant({ kind: 'sender-sync' as const }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('recipient-sync' as const), who: fc.constantFrom(0 as const, 1 as const) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'wipe' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('lose-answer' as const), route }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('network' as const), route }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('crash' as const), who: fc.constantFrom(0 as const, 1 as const), when: fc.constantFrom('before' as const, 'after' as const) }),
  },
);

/** What the runs exercised: the faults must meet deliveries and re-deliveries, or the property proves little. */
const stats = { runs: 0, delivered: 0, received: 0, duplicates: 0 };

async function run(ops: Op[]): Promise<void> {
  stats.runs++;
  const now = (): number => T0;
  const fake = new FakeRelay({ now });
  const client = (identity: FamilyIdentity): HttpRelay =>
    new HttpRelay({ url: 'http://relay.test', identity, family, fetch: fake.fetch, now, sleep: async () => undefined, jitter: () => 0, maxAttempts: 2 });
  const sender = client(grandma);
  const outbox = new MemoryOutbox();
  const stores = recipients.map(() => new CrashingStore());
  const inboxes = recipients.map(
    (identity, i) => new Inbox({ identity, relay: client(identity), family, store: stores[i]!, sleep: async () => undefined }),
  );
  /** id → bytes and the indexes of its recipients. */
  const sent = new Map<string, { bytes: Uint8Array; to: number[] }>();
  let n = 0;

  const check = async (): Promise<void> => {
    for (const [id, m] of sent) {
      for (const r of m.to) {
        const held = (await stores[r]!.get(id)) !== undefined;
        expect(held || outbox.items.has(id), `message ${id} lost for recipient ${r}`).toBe(true);
      }
    }
    for (const [r, store] of stores.entries()) {
      for (const id of await store.list()) {
        const m = sent.get(id);
        expect(m?.to.includes(r), `recipient ${r} holds ${id} not meant for it`).toBe(true);
        expect(bytesEqual((await store.get(id))!, m!.bytes)).toBe(true);
        expect(store.puts.get(id)).toBe(1);
      }
    }
  };
  const senderSync = async (): Promise<void> => {
    let report;
    try {
      report = await syncOutbox(outbox, sender, { family, verify: nativeVerify, continueOnFailure: true });
    } catch (e) {
      // The sync died (relay unreachable): like a crash of the sender's app.
      expect(isPlushlinkError(e), String(e)).toBe(true);
      return;
    }
    stats.delivered += report.delivered.length;
    expect(report.invalidReceipts).toEqual([]);
  };
  const recipientSync = async (who: number): Promise<void> => {
    let report;
    try {
      report = await inboxes[who]!.sync();
    } catch (e) {
      expect(isPlushlinkError(e), String(e)).toBe(true);
      return;
    }
    stats.received += report.received.length;
    stats.duplicates += report.duplicates.length;
    expect(report.rejected).toEqual([]);
  };

  // The recipients' apps set up their mailboxes first (a wipe takes them away again).
  await recipientSync(0);
  await recipientSync(1);
  for (const o of ops) {
    switch (o.kind) {
      case 'send': {
        const to = [0, 1].filter((i) => (o.to & (1 << i)) !== 0);
        const bytes = sealVoiceMessage({
          audio: utf8(`OggS ${n}`),
          from: grandma,
          to: to.map((i) => recipients[i]!),
          createdAt: T0 + n,
          messageId: toHex(Uint8Array.of(0xa0, ...new Uint8Array(14), n)),
        });
        n++;
        const id = peekMessageId(bytes);
        outbox.items.set(id, bytes);
        sent.set(id, { bytes, to });
        break;
      }
      case 'sender-sync':
        await senderSync();
        break;
      case 'recipient-sync':
        await recipientSync(o.who);
        break;
      case 'wipe':
        fake.wipe();
        break;
      case 'lose-answer':
        fake.fault({ kind: 'lose-answer' }, routeOf[o.route]);
        break;
      case 'network':
        fake.fault({ kind: 'network' }, routeOf[o.route]);
        break;
      case 'crash':
        stores[o.who]!.crash = o.when;
        break;
    }
    await check();
  }

  // The faults stop; everybody syncs until the outbox is empty.
  fake.clearFaults();
  for (const s of stores) s.crash = undefined;
  for (let round = 0; round < 4 && outbox.items.size > 0; round++) {
    await recipientSync(0);
    await recipientSync(1);
    await senderSync();
    await check();
  }
  expect([...outbox.items.keys()]).toEqual([]);
  for (const [r, store] of stores.entries()) {
    const expected = [...sent].filter(([, m]) => m.to.includes(r)).map(([id]) => id).sort();
    expect(await store.list()).toEqual(expected);
    for (const id of expected) expect(store.puts.get(id)).toBe(1);
  }
  expect(fake.receipts).toEqual([]);
}

describe('delivery over a relay that forgets, loses answers, and recipients that crash', () => {
  it(
    'never loses a message; each recipient ends holding each of its messages exactly once',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 8, maxLength: 24 }), run),
        { seed: 20_251_202, numRuns: 40 },
      );
      expect(stats.delivered).toBeGreaterThan(0);
      expect(stats.duplicates).toBeGreaterThan(0);
    },
    600_000,
  );

  it('a fixed worst case: wipe after the receipt, lost acknowledgement answer, crash before the acknowledgement', async () => {
    await run([
      { kind: 'recipient-sync', who: 0 },
      { kind: 'recipient-sync', who: 1 },
      { kind: 'send', to: 3 },
      { kind: 'sender-sync' },
      { kind: 'crash', who: 0, when: 'after' },
      { kind: 'recipient-sync', who: 0 },
      { kind: 'lose-answer', route: 'receipt' },
      { kind: 'recipient-sync', who: 1 },
      { kind: 'wipe' },
      { kind: 'sender-sync' },
      { kind: 'send', to: 1 },
      { kind: 'crash', who: 0, when: 'before' },
      { kind: 'lose-answer', route: 'receipts' },
      { kind: 'sender-sync' },
    ]);
  }, 120_000);
});
