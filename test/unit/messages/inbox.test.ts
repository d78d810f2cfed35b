import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromUtf8, toHex, utf8 } from '../../../src/protocol/bytes.js';
import { sha512 } from '../../../src/protocol/crypto.js';
import { isPlushlinkError, type PlushlinkError } from '../../../src/protocol/errors.js';
import {
  FileInboxStore,
  HttpRelay,
  Inbox,
  MemoryInboxStore,
  familyIdentityFromSecrets,
  familyPublicKey,
  mailboxIdOf,
  peekMessageId,
  sealVoiceMessage,
  syncOutbox,
  type FamilyIdentity,
  type FamilyPublicKey,
  type InboxSyncReport,
  type ReceivedMessageInfo,
} from '../../../src/messages/index.js';
import { FakeRelay, nativeVerify } from '../../helpers/fake-relay.js';

const T0 = 1_767_225_600_000;
const ident = (name: string, n: number): FamilyIdentity =>
  familyIdentityFromSecrets(name, new Uint8Array(32).fill(n), new Uint8Array(32).fill(n + 100));
const grandma = ident('Grandma', 21);
const child = ident('Mia', 22);
const uncle = ident('Uncle', 23);
const stranger = ident('Stranger', 24);
const family = [grandma, child, uncle].map(familyPublicKey);

let counter = 0;
const seal = (from: FamilyIdentity, to: FamilyIdentity[], text = `message ${counter}`): Uint8Array =>
  sealVoiceMessage({ audio: utf8(`OggS ${text}`), from, to, createdAt: T0 + counter++ });

/** Counts puts; can "crash" right after storing (the put resolved durably, the ack never happens). */
class CountingStore extends MemoryInboxStore {
  puts = new Map<string, number>();
  crashAfterPut = 0;
  override async put(id: string, bytes: Uint8Array): Promise<void> {
    await super.put(id, bytes);
    this.puts.set(id, (this.puts.get(id) ?? 0) + 1);
    if (this.crashAfterPut > 0) {
      this.crashAfterPut--;
      throw new Error('crash after store');
    }
  }
}

function setup(familyOfChild: FamilyPublicKey[] | (() => FamilyPublicKey[]) = family) {
  const now = (): number => T0;
  const fake = new FakeRelay({ now });
  const client = (identity: FamilyIdentity, maxAttempts = 3): HttpRelay =>
    new HttpRelay({ url: 'http://relay.test', identity, family, fetch: fake.fetch, now, sleep: async () => undefined, jitter: () => 0, maxAttempts });
  const store = new CountingStore();
  const relay = client(child);
  const inbox = new Inbox({ identity: child, relay, family: familyOfChild, store, sleep: async () => undefined, jitter: () => 0 });
  const events: string[] = [];
  inbox.on('message', (id) => events.push(`message:${id}`));
  inbox.on('duplicate', (id) => events.push(`duplicate:${id}`));
  inbox.on('rejected', (id, code) => events.push(`rejected:${id}:${code}`));
  return { fake, client, store, relay, inbox, events, g: client(grandma) };
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toSatisfy((e: unknown) => isPlushlinkError(e) && (e as PlushlinkError).code === code);
}

describe('Inbox.sync', () => {
  it('sets up the mailbox, stores durably, then acknowledges; the sender’s receipt verifies', async () => {
    const { fake, store, inbox, events, g } = setup();
    const first = await inbox.sync();
    expect(first.senders.added.sort()).toEqual(family.map((m) => toHex(m.signPublicKey)).sort());
    const outbox = new Map<string, Uint8Array>();
    const env = seal(grandma, [child]);
    const id = peekMessageId(env);
    outbox.set(id, env);
    const infos: ReceivedMessageInfo[] = [];
    inbox.on('message', (_id, info) => infos.push(info));
    const memOutbox = {
      list: async () => [...outbox.keys()].map((x) => ({ id: x })),
      get: async (x: string) => outbox.get(x),
      remove: async (x: string) => outbox.delete(x),
    };
    await syncOutbox(memOutbox, g, { family, verify: nativeVerify });

    const r = await inbox.sync();
    expect(r).toMatchObject({ received: [id], duplicates: [], rejected: [], acknowledged: [id], failed: [], senders: { added: [], removed: [] } });
    expect(events).toEqual([`message:${id}`]);
    expect(infos[0]).toMatchObject({ id, createdAt: T0 + counter - 1, size: env.length });
    expect(infos[0]!.sender.name).toBe('Grandma');
    expect(await store.get(id)).toEqual(env);
    expect(fake.pendingIn(mailboxIdOf(child))).toEqual([]);
    const opened = await inbox.open(id);
    expect(fromUtf8(opened.audio)).toMatch(/^OggS message/);
    expect(opened.trustedSender?.name).toBe('Grandma');
    await expectCode(inbox.open('00'.repeat(16)), 'NOT_FOUND');

    const sent = await syncOutbox(memOutbox, g, { family, verify: nativeVerify });
    expect(sent.delivered).toEqual([id]);
    expect(sent.invalidReceipts).toEqual([]);
  });

  it('keeps the allow-list equal to the family: adds the missing, removes the rest', async () => {
    let fam = [grandma, uncle].map(familyPublicKey);
    const { relay, inbox } = setup(() => fam);
    await relay.ensureMailbox();
    await relay.allowSender(stranger);
    await relay.allowSender(grandma);
    const r = await inbox.sync();
    expect(r.senders).toEqual({ added: [toHex(uncle.signPublicKey)], removed: [toHex(stranger.signPublicKey)] });
    expect((await relay.getMailbox()).senders.sort()).toEqual([grandma, uncle].map((m) => toHex(m.signPublicKey)).sort());
    fam = [familyPublicKey(uncle)];
    expect((await inbox.sync()).senders).toEqual({ added: [], removed: [toHex(grandma.signPublicKey)] });
    expect((await inbox.sync({ mailbox: false })).senders).toEqual({ added: [], removed: [] });
  });

  it('deduplicates: a re-delivery (relay wipe) is acknowledged again, not stored again', async () => {
    const { fake, store, inbox, events, g } = setup();
    await inbox.sync();
    const env = seal(grandma, [child]);
    const id = peekMessageId(env);
    await g.upload(id, env);
    await inbox.sync();
    fake.wipe();
    await inbox.sync(); // re-creates the mailbox and allow-list
    expect(await g.upload(id, env)).toBe('stored');
    const again = await inbox.sync();
    expect(again).toMatchObject({ received: [], duplicates: [id], acknowledged: [id] });
    expect(store.puts.get(id)).toBe(1);
    expect(events).toEqual([`message:${id}`, `duplicate:${id}`]);
    expect(fake.receipts.map((x) => x.messageId)).toEqual([id]);
  });

  it('a crash between storing and acknowledging: the next sync fetches again, stores nothing new, acknowledges', async () => {
    const { fake, store, inbox, g } = setup();
    await inbox.sync();
    const env = seal(grandma, [child]);
    const id = peekMessageId(env);
    await g.upload(id, env);
    store.crashAfterPut = 1;
    const crashed = await inbox.sync();
    expect(crashed.failed.map((f) => [f.id, f.stage])).toEqual([[id, 'store']]);
    expect(crashed.acknowledged).toEqual([]);
    expect(fake.pendingIn(mailboxIdOf(child))).toEqual([id]);
    const next = await inbox.sync();
    expect(next).toMatchObject({ received: [], duplicates: [id], acknowledged: [id], failed: [] });
    expect(store.puts.get(id)).toBe(1);
    expect(fake.pendingIn(mailboxIdOf(child))).toEqual([]);
    expect(fake.receipts.length).toBe(1);
  });

  it('a lost answer to the acknowledgement counts as acknowledged (the retry finds nothing pending)', async () => {
    const { fake, inbox, g } = setup();
    await inbox.sync();
    const env = seal(grandma, [child]);
    const id = peekMessageId(env);
    await g.upload(id, env);
    fake.fault({ kind: 'lose-answer' }, (r) => r.path.endsWith('/receipt'));
    const r = await inbox.sync();
    expect(r).toMatchObject({ received: [id], acknowledged: [id], failed: [] });
    expect(fake.log.filter((x) => x.path.endsWith('/receipt')).map((x) => x.status)).toEqual(['lost', 404]);
    expect(fake.receipts.length).toBe(1);
  });

  it('discards what does not open, with its code: untrusted sender, tampered bytes, not a recipient, wrong id', async () => {
    const { fake, store, relay, inbox, events, client } = setup();
    await inbox.sync();
    // A stranger the child allowed by hand (the next sync takes it back).
    await relay.allowSender(stranger);
    const fromStranger = seal(stranger, [child]);
    await client(stranger).upload(peekMessageId(fromStranger), fromStranger);
    // Envelopes only a lying relay would hold: injected into its storage.
    const inject = (bytes: Uint8Array, id = peekMessageId(bytes)): string => {
      fake.envelopes.set(id, { bytes, hash: sha512(bytes), sender: toHex(grandma.signPublicKey) });
      let d = fake.deliveries.get(mailboxIdOf(child));
      if (!d) fake.deliveries.set(mailboxIdOf(child), (d = new Map()));
      d.set(id, { messageId: id, receivedAt: T0, seq: counter++ });
      return id;
    };
    const flipped = seal(grandma, [child]);
    flipped[flipped.length - 70]! ^= 1;
    const tampered = inject(flipped);
    const notForMe = inject(seal(grandma, [uncle]));
    const wrongId = inject(seal(grandma, [child]), 'ab'.repeat(16));
    const future = seal(grandma, [child]);
    const newerId = peekMessageId(future);
    future[4] = 2;
    const newer = inject(future, newerId);

    const r = await inbox.sync();
    const byId = new Map(r.rejected.map((x) => [x.id, `${x.code}/${x.discarded}`]));
    expect(byId.get(peekMessageId(fromStranger))).toBe('UNTRUSTED_SENDER/true');
    expect(byId.get(tampered)).toBe('BAD_SIGNATURE/true');
    expect(byId.get(notForMe)).toBe('NOT_A_RECIPIENT/true');
    expect(byId.get(wrongId)).toBe('BAD_ENVELOPE/true');
    expect(byId.get(newer)).toBe('UNKNOWN_VERSION/false');
    expect(r.received).toEqual([]);
    expect(r.senders.removed).toEqual([toHex(stranger.signPublicKey)]);
    expect(await store.list()).toEqual([]);
    expect(events.filter((e) => e.startsWith('rejected:')).length).toBe(5);
    // Only the envelope of an unknown (newer) version stays for an updated app.
    expect(fake.pendingIn(mailboxIdOf(child))).toEqual([newer]);
    expect(fake.receipts).toEqual([]);
  });

  it('refuses a relay client of another identity', () => {
    const { client, store } = setup();
    expect(() => new Inbox({ identity: child, relay: client(uncle), family, store })).toThrow(/another identity/);
  });
});

describe('Inbox.follow', () => {
  it('syncs, long-polls, syncs again when something arrives, backs off after errors, ends on abort', async () => {
    const { fake, inbox, g } = setup();
    const ac = new AbortController();
    const errors: number[] = [];
    inbox.on('sync-error', (_e, delay) => errors.push(delay));
    fake.fault({ kind: 'network' }); // the very first request fails (3 attempts)
    fake.fault({ kind: 'network' });
    fake.fault({ kind: 'network' });
    const it = inbox.follow({ signal: ac.signal, waitS: 25 });
    const first = await it.next();
    expect(errors).toEqual([500]);
    expect((first.value as InboxSyncReport).senders.added.length).toBe(3);

    const pulled = it.next();
    for (let i = 0; i < 200 && fake.holding === 0; i++) await new Promise((res) => setImmediate(res));
    expect(fake.holding).toBe(1);
    expect(fake.log.at(-1)?.path).toMatch(/envelopes\?wait=25$/);
    const env = seal(grandma, [child]);
    await g.upload(peekMessageId(env), env);
    const second = await pulled;
    expect((second.value as InboxSyncReport).received).toEqual([peekMessageId(env)]);

    const third = it.next();
    for (let i = 0; i < 200 && fake.holding === 0; i++) await new Promise((res) => setImmediate(res));
    ac.abort();
    expect(await third).toEqual({ done: true, value: undefined });
  });

  it('does not spin on an envelope it leaves pending', async () => {
    const { fake, inbox } = setup();
    const sleeps: number[] = [];
    const slow = new Inbox({
      identity: child,
      relay: (inbox as unknown as { options: { relay: HttpRelay } }).options.relay,
      family,
      store: new MemoryInboxStore(),
      sleep: async (ms) => void sleeps.push(ms),
      jitter: () => 1,
      baseDelayMs: 1000,
    });
    await slow.sync();
    const future = seal(grandma, [child]);
    const id = peekMessageId(future);
    future[4] = 9;
    fake.envelopes.set(id, { bytes: future, hash: sha512(future), sender: toHex(grandma.signPublicKey) });
    fake.deliveries.set(mailboxIdOf(child), new Map([[id, { messageId: id, receivedAt: T0, seq: 0 }]]));
    const ac = new AbortController();
    const it = slow.follow({ signal: ac.signal });
    for (let i = 0; i < 3; i++) expect((await it.next()).value?.rejected).toEqual([{ id, code: 'UNKNOWN_VERSION', discarded: false }]);
    expect(sleeps).toEqual([1000, 2000]);
    ac.abort();
    expect((await it.next()).done).toBe(true);
  });
});

describe('FileInboxStore', () => {
  it('stores <id>.plvm atomically, lists, reads, removes, and clears crash debris on open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plushlink-inbox-'));
    writeFileSync(join(dir, '.0123.plvm.abcdefabcdef.tmp'), 'partial');
    const store = await FileInboxStore.open(dir);
    expect(readdirSync(dir)).toEqual([]);
    const env = seal(grandma, [child]);
    const id = peekMessageId(env);
    expect(await store.has(id)).toBe(false);
    await store.put(id, env);
    expect(await store.has(id)).toBe(true);
    expect(await store.get(id)).toEqual(env);
    expect(await store.list()).toEqual([id]);
    expect(existsSync(join(dir, `${id}.plvm`))).toBe(true);
    expect(await store.get('not an id')).toBeUndefined();
    expect(await store.remove(id)).toBe(true);
    expect(await store.remove(id)).toBe(false);
    expect(await store.list()).toEqual([]);
  });
});
