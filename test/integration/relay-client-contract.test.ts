/**
 * The library's client against the real relay (docs/RELAY.md §2): every `HttpRelay` method, over
 * real HTTP on 127.0.0.1, so that the client's answer schemas and the server's answers cannot
 * drift apart (the unit tests use a fake relay; this pins the fake's contract to the real one).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer } from '@plushlink/relay';
import { isPlushlinkError } from '../../src/index.js';
import { HttpRelay, signDeliveryReceipt } from '../../src/messages/index.js';
import { TestClock, envelope, member, prepareBackend, startRelay, type StoreFactory } from '../helpers/relay.js';

let factory: StoreFactory;
let relay: RelayServer;
let url: string;

beforeAll(async () => {
  const f = await prepareBackend('sqlite');
  if ('skip' in f) throw new Error(f.skip);
  factory = f;
  const clock = new TestClock();
  clock.t = Date.now(); // real HTTP: the client signs with its own clock
  relay = await startRelay(await factory.open(), clock, { now: Date.now });
  url = await relay.listen();
});
afterAll(async () => {
  await relay.close();
  await factory.cleanup();
});

describe('HttpRelay against the real relay', () => {
  it('every method parses the real answers', async () => {
    const child = member('child');
    const gran = member('gran');
    const c = new HttpRelay({ url, identity: child.id, family: [gran.pub], maxAttempts: 1 });
    const g = new HttpRelay({ url, identity: gran.id, family: [child.pub], maxAttempts: 1 });
    expect(await c.health()).toMatchObject({ ok: true, store: 'sqlite' });
    expect(await c.ensureMailbox()).toEqual({ mailboxId: child.mailbox, created: true });
    expect(await g.ensureMailbox()).toMatchObject({ created: true });
    expect(await g.allowSender(child.pub)).toBe(true);
    expect(await g.allowSender(child.pub)).toBe(false);
    expect(await g.getMailbox()).toMatchObject({ mailboxId: gran.mailbox, envelopes: 0, senders: [Buffer.from(child.id.signPublicKey).toString('hex')] });

    const e = envelope(child, [gran]);
    expect(await c.upload(e.id, e.bytes)).toBe('stored');
    expect(await c.uploadEnvelope(e.id, e.bytes)).toMatchObject({ result: 'duplicate', mailboxes: [gran.mailbox] });
    const pending = await g.listPending({ waitS: 1 });
    expect(pending.envelopes.map((x) => x.messageId)).toEqual([e.id]);
    expect(await g.fetchEnvelope(e.id)).toEqual(e.bytes);
    expect(await g.acknowledge(e.id, signDeliveryReceipt(gran.id, e.id, e.bytes))).toBe(true);
    const receipts = await c.listReceipts();
    expect(receipts).toMatchObject({ more: false, receipts: [{ messageId: e.id, mailboxId: gran.mailbox }] });
    expect(await c.deleteReceipts(e.id)).toBe(1);

    const e2 = envelope(child, [gran]);
    await c.upload(e2.id, e2.bytes);
    expect(await g.discard(e2.id)).toBe(true);
    expect(await g.disallowSender(child.pub)).toBe(true);
    const e3 = envelope(child, [gran]);
    const refused = await c.upload(e3.id, e3.bytes).catch((err: unknown) => err);
    expect(isPlushlinkError(refused, 'RELAY_SENDER_NOT_ALLOWED')).toBe(true);
    expect(await g.deleteMailbox()).toBe(true);
  });
});
