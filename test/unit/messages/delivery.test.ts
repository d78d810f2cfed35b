import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toBase64, toHex, utf8 } from '../../../src/protocol/bytes.js';
import { ed25519Sign } from '../../../src/protocol/crypto.js';
import { isPlushlinkError, type PlushlinkError } from '../../../src/protocol/errors.js';
import {
  HttpRelay,
  Outbox,
  envelopeHash,
  familyIdentityFromSecrets,
  familyPublicKey,
  keyIdHexOf,
  mailboxIdOf,
  peekMessageId,
  receiptMessage,
  sealVoiceMessage,
  signDeliveryReceipt,
  syncOutbox,
  type DeliveryStore,
  type FamilyIdentity,
  type HttpRelayOptions,
  type SyncOutboxOptions,
} from '../../../src/messages/index.js';
import { FakeRelay, nativeVerify, type FakeRelayOptions } from '../../helpers/fake-relay.js';

const T0 = 1_767_225_600_000;
const ident = (name: string, n: number): FamilyIdentity =>
  familyIdentityFromSecrets(name, new Uint8Array(32).fill(n), new Uint8Array(32).fill(n + 100));
const grandma = ident('Grandma', 11);
const child = ident('Mia', 12);
const uncle = ident('Uncle', 13);
const aunt = ident('Aunt', 14);
const stranger = ident('Stranger', 15);
const family = [grandma, child, uncle, aunt].map(familyPublicKey);

let counter = 0;
const seal = (to: FamilyIdentity[]): Uint8Array =>
  sealVoiceMessage({ audio: utf8(`OggS message ${counter}`), from: grandma, to, createdAt: T0 + counter++ });

/** An outbox in memory, oldest first by insertion. */
class MemoryOutbox implements DeliveryStore {
  readonly items = new Map<string, Uint8Array>();
  add(bytes: Uint8Array): string {
    const id = peekMessageId(bytes);
    this.items.set(id, bytes);
    return id;
  }
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

function setup(options: FakeRelayOptions = {}, relayOptions: Partial<HttpRelayOptions> = {}) {
  const now = (): number => T0;
  const fake = new FakeRelay({ now, ...options });
  const client = (identity: FamilyIdentity): HttpRelay =>
    new HttpRelay({ url: 'http://relay.test', identity, family, fetch: fake.fetch, now, sleep: async () => undefined, jitter: () => 0, ...relayOptions });
  const g = client(grandma);
  const c = client(child);
  const u = client(uncle);
  const a = client(aunt);
  const outbox = new MemoryOutbox();
  const opts: SyncOutboxOptions = { family, verify: nativeVerify };
  return { fake, g, c, u, a, outbox, opts, client };
}

async function open(r: HttpRelay, ...senders: FamilyIdentity[]): Promise<void> {
  await r.ensureMailbox();
  for (const s of senders) await r.allowSender(s);
}

/** A recipient's minimal inbox: fetch, keep, acknowledge. */
async function receive(r: HttpRelay, who: FamilyIdentity, kept: Map<string, Uint8Array> = new Map()): Promise<string[]> {
  const ids: string[] = [];
  for (;;) {
    const page = await r.listPending();
    for (const e of page.envelopes) {
      const bytes = await r.fetchEnvelope(e.messageId);
      kept.set(e.messageId, bytes);
      await r.acknowledge(e.messageId, signDeliveryReceipt(who, e.messageId, bytes));
      ids.push(e.messageId);
    }
    if (!page.more) return ids;
  }
}

const uploads = (fake: FakeRelay): string[] => fake.log.filter((x) => x.method === 'PUT' && x.path.startsWith('/v1/envelopes/')).map((x) => x.path);

describe('syncOutbox: an envelope leaves the outbox only with every recipient’s receipt', () => {
  it('uploads, keeps the envelope after one receipt, re-uploads only to the missing mailbox, removes after the last', async () => {
    const { fake, g, c, u, outbox, opts } = setup();
    await open(c, grandma);
    await open(u, grandma);
    const id = outbox.add(seal([child, uncle]));

    const first = await syncOutbox(outbox, g, opts);
    expect(first).toMatchObject({ delivered: [], uploaded: [id], duplicates: [], failed: [], invalidReceipts: [], receiptsComplete: true });
    expect(first.pending).toEqual([{ id, missing: [mailboxIdOf(child), mailboxIdOf(uncle)], unresolved: [] }]);
    expect(uploads(fake)).toEqual([`/v1/envelopes/${id}?to=${mailboxIdOf(child)},${mailboxIdOf(uncle)}`]);

    expect(await receive(c, child)).toEqual([id]);
    const second = await syncOutbox(outbox, g, opts);
    expect(second.delivered).toEqual([]);
    expect(second.pending).toEqual([{ id, missing: [mailboxIdOf(uncle)], unresolved: [] }]);
    expect(second.duplicates).toEqual([id]);
    expect(uploads(fake).at(-1)).toBe(`/v1/envelopes/${id}?to=${mailboxIdOf(uncle)}`);
    expect(outbox.items.has(id)).toBe(true);

    expect(await receive(u, uncle)).toEqual([id]);
    const events: string[] = [];
    const third = await syncOutbox(outbox, g, { ...opts, events: { emit: (e, ...args) => events.push(`${e}:${String(args[0])}`) } });
    expect(third).toMatchObject({ delivered: [id], uploaded: [], duplicates: [], pending: [], failed: [] });
    expect(outbox.items.size).toBe(0);
    expect(fake.receipts).toEqual([]);
    expect(events).toEqual([`receipt:${id}`, `receipt:${id}`, `delivered:${id}`]);
    // Removal from the outbox came before the deletion of the receipts on the relay.
    expect(fake.log.at(-1)).toMatchObject({ method: 'DELETE', path: `/v1/receipts/${id}` });
  });

  it('ignores forged receipts, receipts of another envelope, of another recipient, of a non-recipient and of strangers', async () => {
    const { fake, g, c, u, a, outbox } = setup();
    await open(c, grandma);
    await open(u, grandma);
    await open(a, grandma);
    const bytes = seal([child, uncle]);
    const id = outbox.add(bytes);
    await syncOutbox(outbox, g, { family });
    // A lying relay invents receipts for the envelope (default, pure verification here).
    const other = seal([child, uncle]);
    const entry = (who: FamilyIdentity, signature: Uint8Array, mailboxId = mailboxIdOf(who)) => ({
      sender: toHex(grandma.signPublicKey),
      messageId: id,
      mailboxId,
      recipient: toHex(who.signPublicKey),
      recipientBox: toHex(who.boxPublicKey),
      signature: toBase64(signature),
      at: T0,
      seq: 0,
    });
    fake.receipts.push(
      // forged: random bytes as a signature
      entry(child, new Uint8Array(64).fill(9)),
      // the child's receipt, but over another envelope's bytes
      entry(child, ed25519Sign(child.signSecretKey, receiptMessage(id, mailboxIdOf(child), envelopeHash(other)))),
      // the child's genuine receipt presented as the uncle's
      { ...entry(uncle, signDeliveryReceipt(child, id, bytes)) },
      // the child's genuine signature filed under the uncle's mailbox
      entry(child, signDeliveryReceipt(child, id, bytes), mailboxIdOf(uncle)),
      // a family member who is not a recipient of this envelope, with a valid signature
      entry(aunt, signDeliveryReceipt(aunt, id, bytes)),
      // a stranger's valid signature
      entry(stranger, signDeliveryReceipt(stranger, id, bytes)),
    );
    const report = await syncOutbox(outbox, g, { family });
    expect(report.invalidReceipts.map((x) => x.reason)).toEqual(['bad-signature', 'bad-signature', 'bad-signature', 'wrong-mailbox', 'not-a-recipient', 'not-family']);
    expect(report.delivered).toEqual([]);
    expect(outbox.items.has(id)).toBe(true);
    expect(report.pending).toEqual([{ id, missing: [mailboxIdOf(child), mailboxIdOf(uncle)], unresolved: [] }]);
    // The genuine receipts still count.
    fake.receipts = [];
    await receive(c, child);
    await receive(u, uncle);
    expect((await syncOutbox(outbox, g, { family })).delivered).toEqual([id]);
  });

  it('a relay that lost everything gets everything again, and the recipients answer with receipts again', async () => {
    const { fake, g, c, u, outbox, opts } = setup();
    await open(c, grandma);
    await open(u, grandma);
    const ids = [outbox.add(seal([child, uncle])), outbox.add(seal([child])), outbox.add(seal([uncle]))];
    await syncOutbox(outbox, g, opts);
    const keptByChild = new Map<string, Uint8Array>();
    await receive(c, child, keptByChild);
    fake.wipe();
    // Before the recipients come back, the uploads are refused (no mailbox): nothing leaves.
    const refused = await syncOutbox(outbox, g, opts);
    expect(refused.failed.map((f) => (f.error as PlushlinkError).code)).toEqual(['RELAY_NO_MAILBOX', 'RELAY_NO_MAILBOX', 'RELAY_NO_MAILBOX', 'RELAY_NO_MAILBOX']);
    expect(outbox.items.size).toBe(3);
    await open(c, grandma);
    await open(u, grandma);
    const again = await syncOutbox(outbox, g, opts);
    expect(again.uploaded).toEqual(ids);
    expect(again.pending.map((p) => p.missing.length)).toEqual([2, 1, 1]);
    // The child already held two of them: a real inbox would store nothing new and acknowledge.
    expect((await receive(c, child, keptByChild)).sort()).toEqual([ids[0]!, ids[1]!].sort());
    await receive(u, uncle);
    const done = await syncOutbox(outbox, g, opts);
    expect(done.delivered.sort()).toEqual([...ids].sort());
    expect(outbox.items.size).toBe(0);
  });

  it('a crash between removing the envelope and deleting its receipts only repeats that step', async () => {
    const { fake, g, c, outbox, opts } = setup({}, { maxAttempts: 1 });
    await open(c, grandma);
    const id = outbox.add(seal([child]));
    await syncOutbox(outbox, g, opts);
    await receive(c, child);
    fake.fault({ kind: 'network' }, (r) => r.method === 'DELETE' && r.path.startsWith('/v1/receipts/'));
    const crashed = await syncOutbox(outbox, g, opts);
    expect(crashed.delivered).toEqual([id]);
    expect(crashed.failed.map((f) => [f.id, f.stage])).toEqual([[id, 'receipts']]);
    expect(outbox.items.size).toBe(0);
    expect(fake.receipts.length).toBe(1);
    const next = await syncOutbox(outbox, g, opts);
    expect(next).toMatchObject({ delivered: [], staleReceipts: [id], uploaded: [], failed: [] });
    expect(fake.receipts).toEqual([]);
  });

  it('when one mailbox refuses, the others still get the envelope', async () => {
    const { g, c, u, outbox, opts } = setup();
    await open(c, grandma);
    await u.ensureMailbox(); // the uncle has not allowed grandma (yet)
    const id = outbox.add(seal([child, uncle]));
    const r = await syncOutbox(outbox, g, opts);
    expect(r.uploaded).toEqual([id]);
    expect(r.failed.map((f) => [f.mailboxes, (f.error as PlushlinkError).code])).toEqual([[[mailboxIdOf(uncle)], 'RELAY_SENDER_NOT_ALLOWED']]);
    expect(await receive(c, child)).toEqual([id]);
    expect(await receive(u, uncle)).toEqual([]);
  });

  it('a recipient outside the family directory stays missing; the known ones are served', async () => {
    const { fake, g, c, outbox, opts } = setup();
    await open(c, grandma);
    const id = outbox.add(seal([child, stranger]));
    const r = await syncOutbox(outbox, g, opts);
    expect(r.pending).toEqual([{ id, missing: [mailboxIdOf(child)], unresolved: [keyIdHexOf(stranger.boxPublicKey)] }]);
    expect(uploads(fake)).toEqual([`/v1/envelopes/${id}?to=${mailboxIdOf(child)}`]);
    await receive(c, child);
    const after = await syncOutbox(outbox, g, opts);
    expect(after.delivered).toEqual([]);
    expect(after.pending).toEqual([{ id, missing: [], unresolved: [keyIdHexOf(stranger.boxPublicKey)] }]);
    expect(uploads(fake).length).toBe(1);
  });

  it('stops uploading when the relay is down, unless continueOnFailure', async () => {
    const { fake, g, c, outbox, opts } = setup({}, { maxAttempts: 1 });
    await open(c, grandma);
    outbox.add(seal([child]));
    outbox.add(seal([child]));
    fake.fault({ kind: 'network' }, (r) => r.method === 'PUT');
    const r = await syncOutbox(outbox, g, opts);
    expect(r.failed.length).toBe(1);
    expect(r.pending.length).toBe(2);
    expect(uploads(fake).length).toBe(1); // the failed attempt only
    fake.fault({ kind: 'network' }, (x) => x.method === 'PUT');
    const r2 = await syncOutbox(outbox, g, { ...opts, continueOnFailure: true });
    expect(r2.failed.length).toBe(1);
    expect(r2.uploaded.length).toBe(1);
    expect(uploads(fake).length).toBe(3);
  });

  it('pages through the receipts, settling each page (the listing has no cursor)', async () => {
    const { fake, g, c, u, outbox, opts } = setup({ maxList: 2 });
    await open(c, grandma);
    await open(u, grandma);
    const ids = [0, 1, 2, 3, 4].map(() => outbox.add(seal([child])));
    await syncOutbox(outbox, g, opts);
    expect((await receive(c, child)).length).toBe(5);
    expect(fake.receipts.length).toBe(5);
    const r = await syncOutbox(outbox, g, opts);
    expect(r.delivered).toEqual(ids);
    expect(r.receiptsComplete).toBe(true);

    // Receipts that cannot be settled yet fill the first page. The listing has no cursor, so the
    // sync cannot see past them: it says so, deletes nothing, and re-uploads to every mailbox
    // whose receipt it did not see (harmless: the recipient acknowledges again).
    const two = [0, 1, 2].map(() => outbox.add(seal([child, uncle])));
    await syncOutbox(outbox, g, opts);
    await receive(c, child);
    const partial = await syncOutbox(outbox, g, opts);
    expect(partial.receiptsComplete).toBe(false);
    expect(partial.pending.map((p) => p.missing.length)).toEqual([1, 1, 2]);
    await receive(u, uncle);
    await receive(c, child);
    const stuck = await syncOutbox(outbox, g, opts);
    expect(stuck.receiptsComplete).toBe(false);
    expect(stuck.delivered).toEqual([]);
    expect(outbox.items.size).toBe(3);
    // A relay that lets the sender see every receipt settles them all.
    fake.maxList = 100;
    const done = await syncOutbox(outbox, g, opts);
    expect(done.receiptsComplete).toBe(true);
    expect(done.delivered.sort()).toEqual([...two].sort());
  });

  it('aborts with ABORTED and the partial report', async () => {
    const { g, outbox, opts } = setup();
    outbox.add(seal([child]));
    const ac = new AbortController();
    ac.abort();
    try {
      await syncOutbox(outbox, g, { ...opts, signal: ac.signal });
      expect.unreachable();
    } catch (e) {
      expect(isPlushlinkError(e, 'ABORTED')).toBe(true);
      expect((e as PlushlinkError).detail?.report).toBeDefined();
    }
  });

  it('Outbox.sync does the same over the file outbox and emits the events', async () => {
    const { g, c, opts } = setup();
    await open(c, grandma);
    const outbox = await Outbox.open(mkdtempSync(join(tmpdir(), 'plushlink-sync-')));
    const { id } = await outbox.add(seal([child]));
    const delivered: string[] = [];
    const sent: string[] = [];
    outbox.on('delivered', (x) => delivered.push(x));
    outbox.on('sent', (x, result) => sent.push(`${x}:${result}`));
    expect((await outbox.sync(g, opts)).uploaded).toEqual([id]);
    expect(sent).toEqual([`${id}:stored`]);
    expect((await outbox.list()).length).toBe(1);
    await receive(c, child);
    expect((await outbox.sync(g, opts)).delivered).toEqual([id]);
    expect(delivered).toEqual([id]);
    expect(await outbox.list()).toEqual([]);
  });
});
