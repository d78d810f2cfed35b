/**
 * "Nothing is lost, even if the relay is wiped" (docs/RELAY.md §5): a child and a gran exchange
 * messages both ways through a real relay (Fastify + SQLite) while the relay's database is wiped
 * at one seeded moment per run: before a request, or after the relay handled it but before the
 * client saw the answer (a lost answer). A recipient also crashes once between storing a message
 * and acknowledging it. However the wipe falls, every message ends in its recipient's inbox exactly
 * once and every outbox empties, through the library's own Outbox.sync and Inbox.sync.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRelay, openSqliteStore, type RelayServer } from '@plushlink/relay';
import {
  HttpRelay,
  Inbox,
  MemoryInboxStore,
  Outbox,
  sealVoiceMessage,
  type FamilyPublicKey,
  type FetchLike,
  type InboxStore,
} from '../../src/messages/index.js';
import { member, type Member } from '../helpers/relay.js';

const root = mkdtempSync(join(tmpdir(), 'plushlink-relay-wipe-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A relay whose database can be wiped, reached through a `fetch` that counts requests. */
class WipeableRelay {
  relay!: RelayServer;
  requests = 0;
  wipes = 0;
  constructor(
    private readonly dir: string,
    /** Wipe at this request number… */
    private readonly wipeAt: number,
    /** …before handling it, or after handling it and dropping its answer. */
    private readonly mode: 'before' | 'lost-answer',
  ) {}

  async start(): Promise<void> {
    this.relay = await createRelay({ store: openSqliteStore({ path: join(this.dir, 'relay.db') }), sweepIntervalMs: 0, perKey: false, perAddress: false });
  }

  async wipe(): Promise<void> {
    this.wipes++;
    await this.relay.close();
    for (const f of ['relay.db', 'relay.db-wal', 'relay.db-shm']) rmSync(join(this.dir, f), { force: true });
    await this.start();
  }

  fetch: FetchLike = async (url, init) => {
    const n = ++this.requests;
    if (n === this.wipeAt && this.mode === 'before') await this.wipe();
    const u = new URL(url);
    const res = await this.relay.app.inject({
      method: init.method as 'GET',
      url: u.pathname + u.search,
      headers: init.headers,
      ...(init.body ? { payload: Buffer.from(init.body) } : {}),
    });
    if (n === this.wipeAt && this.mode === 'lost-answer') {
      await this.wipe();
      throw new TypeError('fetch failed (connection reset)');
    }
    return {
      status: res.statusCode,
      headers: { get: (name: string) => (res.headers[name.toLowerCase()] as string | undefined) ?? null },
      arrayBuffer: async () => {
        const b = res.rawPayload;
        return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
      },
    };
  };
}

/** An inbox store that "crashes" once: the first put of `crashOn` is written, then throws. */
class CrashOnceStore extends MemoryInboxStore {
  crashed = false;
  constructor(private readonly crashOn: string) {
    super();
  }
  override async put(id: string, bytes: Uint8Array): Promise<void> {
    await super.put(id, bytes);
    if (id === this.crashOn && !this.crashed) {
      this.crashed = true;
      throw new Error('process killed after the write, before the acknowledgement');
    }
  }
}

interface Device {
  m: Member;
  relay: HttpRelay;
  outbox: Outbox;
  inbox: Inbox;
  store: InboxStore;
}

async function device(dir: string, m: Member, family: FamilyPublicKey[], fetch: FetchLike, store: InboxStore): Promise<Device> {
  const relay = new HttpRelay({ url: 'http://relay.test', identity: m.id, family, fetch, maxAttempts: 2, sleep: async () => undefined, jitter: () => 0 });
  const outbox = await Outbox.open(join(dir, `${m.id.name}-outbox`));
  const inbox = new Inbox({ identity: m.id, relay, family, store, sleep: async () => undefined });
  return { m, relay, outbox, inbox, store };
}

async function scenario(wipeAt: number, mode: 'before' | 'lost-answer'): Promise<{ requests: number; wipes: number }> {
  const dir = mkdtempSync(join(root, `run-${mode}-${wipeAt}-`));
  const relay = new WipeableRelay(dir, wipeAt, mode);
  await relay.start();
  const childM = member('child');
  const granM = member('gran');
  const toGran = [0, 1, 2].map((i) => sealVoiceMessage({ audio: new Uint8Array(300 + i).fill(i), from: childM.id, to: [granM.pub] }));
  const toChild = [0, 1].map((i) => sealVoiceMessage({ audio: new Uint8Array(200 + i).fill(9), from: granM.id, to: [childM.pub] }));
  const id = (b: Uint8Array): string => Buffer.from(b.subarray(5, 21)).toString('hex');
  const child = await device(dir, childM, [granM.pub], relay.fetch, new MemoryInboxStore());
  const gran = await device(dir, granM, [childM.pub], relay.fetch, new CrashOnceStore(id(toGran[1]!)));
  for (const b of toGran) await child.outbox.add(b);
  for (const b of toChild) await gran.outbox.add(b);

  // Every device syncs in turn, as apps do; a round's errors are what the next round is for.
  for (let round = 0; round < 12; round++) {
    for (const d of [gran, child]) {
      await d.inbox.sync().catch(() => undefined);
      await d.outbox.sync(d.relay, { family: d === child ? [granM.pub] : [childM.pub] }).catch(() => undefined);
    }
    const done = (await child.outbox.list()).length === 0 && (await gran.outbox.list()).length === 0;
    if (done) break;
  }
  expect((await gran.store.list()).sort(), 'gran holds each message of the child once').toEqual(toGran.map(id).sort());
  expect((await child.store.list()).sort(), 'child holds each message of the gran once').toEqual(toChild.map(id).sort());
  expect(await child.outbox.list(), "child's outbox: every receipt came back").toEqual([]);
  expect(await gran.outbox.list(), "gran's outbox: every receipt came back").toEqual([]);
  expect((gran.store as CrashOnceStore).crashed).toBe(true);
  await relay.relay.close();
  return { requests: relay.requests, wipes: relay.wipes };
}

describe('a wiped relay loses no message', () => {
  /** Requests of a whole exchange without a wipe: the wipe points are spread over all of them. */
  let total = 0;
  it('without a wipe, the exchange completes (and counts the requests a run makes)', async () => {
    const r = await scenario(0, 'before');
    expect(r.wipes).toBe(0);
    expect(r.requests).toBeGreaterThan(20);
    total = r.requests;
  });

  for (const mode of ['before', 'lost-answer'] as const) {
    it(`a wipe at any request (${mode}) loses nothing`, { timeout: 300_000 }, async () => {
      expect(total).toBeGreaterThan(0);
      for (let at = 1; at <= total; at += 4) {
        const r = await scenario(at, mode);
        expect(r.wipes, `wipe at request ${at}`).toBe(1);
      }
    });
  }
});
