/**
 * The relay's HTTP API (docs/RELAY.md §2, §5) on both storage back ends: mailboxes, allow-lists,
 * upload (stored / duplicate / conflict), listing, long poll, fetch, receipts, discard, expiry,
 * quotas, size and rate limits, and two relay processes sharing one PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer } from '@plushlink/relay';
import { fromBase64 } from '../../src/protocol/bytes.js';
import { envelopeHash, relayPaths, sealVoiceMessage, verifyDeliveryReceipt } from '../../src/messages/index.js';
import { BACKENDS, InjectClient, TestClock, envelope, member, prepareBackend, signed, startRelay, type StoreFactory } from '../helpers/relay.js';

const DAY = 24 * 60 * 60 * 1000;

describe.each(BACKENDS)('relay API on %s', (backend) => {
  let factory: StoreFactory | undefined;
  let skip: string | undefined;
  const relays: RelayServer[] = [];

  beforeAll(async () => {
    const f = await prepareBackend(backend);
    if ('skip' in f) {
      if (process.env.PLUSHLINK_REQUIRE_PG === '1') throw new Error(f.skip);
      skip = f.skip;
      console.warn(`SKIPPED relay API on ${backend}: ${f.skip}`);
    } else factory = f;
  });
  afterAll(async () => {
    for (const r of relays) await r.close();
    await factory?.cleanup();
  });

  async function rig(options: Parameters<typeof startRelay>[2] = {}) {
    const clock = new TestClock();
    const relay = await startRelay(await factory!.open(), clock, options);
    relays.push(relay);
    return { clock, relay, c: new InjectClient(relay, clock) };
  }

  /** A child, a grandparent who may write to the child and vice versa, both mailboxes created. */
  async function family(options: Parameters<typeof startRelay>[2] = {}) {
    const r = await rig(options);
    const child = member('child');
    const gran = member('gran');
    expect((await r.c.createMailbox(child)).status).toBe(201);
    expect((await r.c.createMailbox(gran)).status).toBe(201);
    expect((await r.c.allow(child, gran)).json).toEqual({ changed: true });
    expect((await r.c.allow(gran, child)).json).toEqual({ changed: true });
    return { ...r, child, gran };
  }

  it('health answers without a signature', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const { relay } = await rig();
    const res = await relay.app.inject({ method: 'GET', url: '/v1/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ ok: true, store: backend });
  });

  it('creates a mailbox idempotently and shows it only to its owner', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const { c } = await rig();
    const m = member('gran');
    const first = await c.createMailbox(m);
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ mailboxId: m.mailbox, created: true });
    const again = await c.createMailbox(m);
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ created: false });
    const info = await c.call(m.id, 'GET', relayPaths.mailbox(m.mailbox));
    expect(info.status).toBe(200);
    expect(info.json).toMatchObject({ mailboxId: m.mailbox, envelopes: 0, bytes: 0, senders: [] });
  });

  it('upload → list → fetch → receipt: the sender gets a verifiable receipt and the bytes are gone', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const { c, child, gran, relay } = await family();
    const e = envelope(child, [gran]);
    const up = await c.upload(child, e.bytes, e.id, [gran]);
    expect(up.status).toBe(201);
    expect(up.json).toEqual({ result: 'stored', mailboxes: [gran.mailbox] });

    const list = await c.list(gran);
    expect(list.json).toMatchObject({ more: false, envelopes: [{ messageId: e.id, size: e.bytes.length }] });
    const got = await c.fetch(gran, e.id);
    expect(got.status).toBe(200);
    expect(new Uint8Array(got.body)).toEqual(e.bytes);

    const ack = await c.receipt(gran, e.id, e.bytes);
    expect(ack.json).toEqual({ acknowledged: true });
    expect((await c.list(gran)).json).toMatchObject({ envelopes: [] });
    expect((await c.fetch(gran, e.id)).code).toBe('RELAY_NOT_FOUND');
    expect(await relay.store.getEnvelope(gran.mailbox, e.id)).toBeUndefined();

    const receipts = await c.call(child.id, 'GET', relayPaths.receipts());
    const [r] = (receipts.json as { receipts: { messageId: string; mailboxId: string; signature: string }[] }).receipts;
    expect(r).toMatchObject({ messageId: e.id, mailboxId: gran.mailbox });
    expect(verifyDeliveryReceipt(gran.pub, e.id, envelopeHash(e.bytes), fromBase64(r!.signature))).toBe(true);
    // Only the sender sees its receipts.
    expect((await c.call(gran.id, 'GET', relayPaths.receipts())).json).toMatchObject({ receipts: [] });
    expect((await c.call(child.id, 'DELETE', relayPaths.receiptsOf(e.id))).json).toEqual({ removed: 1 });
    expect((await c.call(child.id, 'GET', relayPaths.receipts())).json).toMatchObject({ receipts: [] });
  });

  it('the receipts listing pages with a cursor past 100 receipts', { timeout: 300_000 }, async (ctx) => {
    if (skip) return ctx.skip(skip);
    if (backend === 'postgres') return ctx.skip('paging is route logic; the stores are checked by the conformance suite');
    const { c, child, gran } = await family();
    const sent: string[] = [];
    for (let i = 0; i < 101; i++) {
      const e = envelope(child, [gran], new Uint8Array(8).fill(i));
      await c.upload(child, e.bytes, e.id, [gran]);
      expect((await c.receipt(gran, e.id, e.bytes)).json).toEqual({ acknowledged: true });
      sent.push(e.id);
    }
    const first = (await c.call(child.id, 'GET', relayPaths.receipts())).json as { receipts: { messageId: string }[]; more: boolean; next?: string };
    expect(first.receipts).toHaveLength(100);
    expect(first.more).toBe(true);
    expect(first.next).toMatch(/^\d+-[0-9a-f]{32}-[0-9a-f]{32}$/);
    const second = (await c.call(child.id, 'GET', relayPaths.receipts(first.next))).json as { receipts: { messageId: string }[]; more: boolean; next?: string };
    expect(second).toMatchObject({ more: false });
    expect(second.next).toBeUndefined();
    expect([...first.receipts, ...second.receipts].map((r) => r.messageId).sort()).toEqual([...sent].sort());
    expect((await c.call(child.id, 'GET', `${relayPaths.receipts()}?after=junk`)).code).toBe('RELAY_BAD_REQUEST');
  });

  it('same id and bytes is a duplicate; other bytes under that id is a conflict', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const { c, child, gran } = await family();
    const e = envelope(child, [gran]);
    expect((await c.upload(child, e.bytes, e.id, [gran])).status).toBe(201);
    const dup = await c.upload(child, e.bytes, e.id, [gran]);
    expect(dup.status).toBe(200);
    expect(dup.json).toMatchObject({ result: 'duplicate' });
    const sameId = sealVoiceMessage({ audio: new Uint8Array(10).fill(1), from: child.id, to: [gran.pub], messageId: e.id });
    const conflict = await c.upload(child, sameId, e.id, [gran]);
    expect(conflict.status).toBe(409);
    expect(conflict.code).toBe('RELAY_CONFLICT');
    expect((await c.list(gran)).json).toMatchObject({ envelopes: [{ messageId: e.id, size: e.bytes.length }] });
  });

  it('keeps the bytes until the last recipient acknowledges', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const { c, child, gran, relay } = await family();
    const aunt = member('aunt');
    await c.createMailbox(aunt);
    await c.allow(aunt, child);
    const e = envelope(child, [gran, aunt]);
    expect((await c.upload(child, e.bytes, e.id, [gran, aunt])).status).toBe(201);
    expect((await c.receipt(gran, e.id, e.bytes)).json).toEqual({ acknowledged: true });
    expect(new Uint8Array((await c.fetch(aunt, e.id)).body)).toEqual(e.bytes);
    expect((await c.receipt(aunt, e.id, e.bytes)).json).toEqual({ acknowledged: true });
    expect(await relay.store.getEnvelope(aunt.mailbox, e.id)).toBeUndefined();
    const receipts = (await c.call(child.id, 'GET', relayPaths.receipts())).json as { receipts: unknown[] };
    expect(receipts.receipts).toHaveLength(2);
  });

  it('a re-upload to a subset delivers only there (a sender re-sends to recipients whose receipt is missing)', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const { c, child, gran } = await family();
    const aunt = member('aunt');
    await c.createMailbox(aunt);
    await c.allow(aunt, child);
    const e = envelope(child, [gran, aunt]);
    expect((await c.upload(child, e.bytes, e.id, [gran])).status).toBe(201);
    expect((await c.list(aunt)).json).toMatchObject({ envelopes: [] });
    const again = await c.upload(child, e.bytes, e.id, [aunt]);
    expect(again.json).toMatchObject({ result: 'duplicate', mailboxes: [aunt.mailbox] });
    expect((await c.list(aunt)).json).toMatchObject({ envelopes: [{ messageId: e.id }] });
  });

  it('discard removes a delivery without a receipt', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const { c, child, gran } = await family();
    const e = envelope(child, [gran]);
    await c.upload(child, e.bytes, e.id, [gran]);
    expect((await c.call(gran.id, 'DELETE', relayPaths.envelope(gran.mailbox, e.id))).json).toEqual({ discarded: true });
    expect((await c.list(gran)).json).toMatchObject({ envelopes: [] });
    expect((await c.call(child.id, 'GET', relayPaths.receipts())).json).toMatchObject({ receipts: [] });
  });

  it('deleting a mailbox takes its deliveries and allow-list with it', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const { c, child, gran } = await family();
    const e = envelope(child, [gran]);
    await c.upload(child, e.bytes, e.id, [gran]);
    expect((await c.call(gran.id, 'DELETE', relayPaths.mailbox(gran.mailbox))).json).toEqual({ deleted: true });
    expect((await c.upload(child, e.bytes, e.id, [gran])).code).toBe('RELAY_NO_MAILBOX');
    expect((await c.list(gran)).code).toBe('RELAY_NO_MAILBOX');
  });

  it('removing a sender from the allow-list refuses its next upload', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const { c, child, gran } = await family();
    expect((await c.call(child.id, 'DELETE', relayPaths.sender(child.mailbox, Buffer.from(gran.id.signPublicKey).toString('hex')))).json).toEqual({
      changed: true,
    });
    const e = envelope(gran, [child]);
    expect((await c.upload(gran, e.bytes, e.id, [child])).code).toBe('RELAY_SENDER_NOT_ALLOWED');
  });

  it('undelivered envelopes expire after the TTL, deleted by the relay itself', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const { c, child, gran, relay, clock } = await family();
    const e = envelope(child, [gran]);
    await c.upload(child, e.bytes, e.id, [gran]);
    clock.advance(30 * DAY - 1);
    await relay.sweep();
    expect((await c.list(gran)).json).toMatchObject({ envelopes: [{ messageId: e.id }] });
    clock.advance(1);
    const report = await relay.sweep();
    // (Other tests of this file share the database and clock start, so more may expire too.)
    expect(report.deliveries).toBeGreaterThanOrEqual(1);
    expect(report.envelopes).toBeGreaterThanOrEqual(1);
    expect((await c.list(gran)).json).toMatchObject({ envelopes: [] });
    expect(await relay.store.getEnvelope(gran.mailbox, e.id)).toBeUndefined();
  });

  it('quotas: count and bytes, each with its own code, nothing half-stored', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const { c, child, gran } = await family({ quotas: { maxEnvelopes: 2, maxBytes: 100_000 } });
    for (let i = 0; i < 2; i++) {
      const e = envelope(child, [gran]);
      expect((await c.upload(child, e.bytes, e.id, [gran])).status).toBe(201);
    }
    const third = envelope(child, [gran]);
    const r = await c.upload(child, third.bytes, third.id, [gran]);
    expect(r.status).toBe(507);
    expect(r.code).toBe('RELAY_QUOTA_COUNT');

    const b = await family({ quotas: { maxEnvelopes: 100, maxBytes: 1000 } });
    const big = envelope(b.child, [b.gran], new Uint8Array(900));
    expect((await b.c.upload(b.child, big.bytes, big.id, [b.gran])).code).toBe('RELAY_QUOTA_BYTES');
    expect((await b.c.list(b.gran)).json).toMatchObject({ envelopes: [] });
  });

  it('refuses an envelope over the size limit with RELAY_TOO_LARGE', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const { c, child, gran } = await family({ maxEnvelopeBytes: 2000 });
    const e = envelope(child, [gran], new Uint8Array(4000));
    const r = await c.upload(child, e.bytes, e.id, [gran]);
    expect(r.status).toBe(413);
    expect(r.code).toBe('RELAY_TOO_LARGE');
  });

  it('rate limits per key and per address, each with its own code', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const hour = 3_600_000;
    const k = await family({ perKey: { max: 3, windowMs: hour } });
    // family() used 2 requests of the child's key and 2 of the gran's.
    expect((await k.c.list(k.child)).status).toBe(200);
    const limited = await k.c.list(k.child);
    expect(limited.status).toBe(429);
    expect(limited.code).toBe('RELAY_RATE_LIMITED_KEY');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await k.c.list(k.gran)).status).toBe(200);

    const a = await rig({ perAddress: { max: 2, windowMs: hour } });
    const m = member('x');
    expect((await a.c.createMailbox(m)).status).toBe(201);
    expect((await a.c.createMailbox(m)).status).toBe(200);
    const r = await a.c.createMailbox(m);
    expect(r.status).toBe(429);
    expect(r.code).toBe('RELAY_RATE_LIMITED_ADDRESS');
  });

  it('a long poll is answered when an envelope arrives (real HTTP)', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const { c, child, gran, relay, clock } = await family();
    const url = await relay.listen();
    const req = signed(gran.id, 'GET', relayPaths.pending(gran.mailbox, 30), undefined, { clock });
    const poll = fetch(url + req.url, { headers: req.headers });
    // Give the poll a moment to be waiting; correctness does not depend on it (the relay
    // subscribes before it looks), only that this test exercises the waiting path.
    await new Promise((r) => setTimeout(r, 50));
    const e = envelope(child, [gran]);
    const started = Date.now();
    await c.upload(child, e.bytes, e.id, [gran]);
    const res = await poll;
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ envelopes: [{ messageId: e.id }] });
    // The wait was 30 s; being answered with the envelope proves the upload woke it.
    expect(Date.now() - started).toBeLessThan(29_000);
  });

  it('two relay processes on one database: a wait on one is woken by an upload through the other, and a nonce is spent on both', async (ctx) => {
    if (skip) return ctx.skip(skip);
    if (backend === 'sqlite') return ctx.skip('one SQLite file serves one relay process (docs/RELAY.md §10)');
    const { c, child, gran, relay, clock } = await family();
    const other = await startRelay(await factory!.openAnother(), clock);
    relays.push(other);
    const url = await relay.listen();
    const req = signed(gran.id, 'GET', relayPaths.pending(gran.mailbox, 30), undefined, { clock });
    const poll = fetch(url + req.url, { headers: req.headers });
    await new Promise((r) => setTimeout(r, 50));
    const e = envelope(child, [gran]);
    const up = signed(child.id, 'PUT', relayPaths.upload(e.id, [gran.mailbox]), e.bytes, { clock });
    expect((await other.app.inject(up)).statusCode).toBe(201);
    const res = await poll;
    expect(await res.json()).toMatchObject({ envelopes: [{ messageId: e.id }] });
    // The same signed request again, through the other process: a replay.
    const replay = await relay.app.inject(up);
    expect(replay.json()).toMatchObject({ code: 'RELAY_REPLAYED' });
    expect(c).toBeDefined();
  });
});
