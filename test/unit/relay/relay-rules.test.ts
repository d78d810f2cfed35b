/**
 * The relay's rules that the API and attack suites leave implicit, in-process on SQLite with an
 * injected clock: the documented defaults (docs/RELAY.md §10), how long and how durably a nonce is
 * kept (§3.3 step 6), the problem answers (§7), the routes' answers (§2, §4, §5) and the web
 * app's files (§9).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createRelay, type RelayOptions, type RelayServer } from '@plushlink/relay';
import { openSqliteStore } from '../../../relay/src/store/sqlite.js';
import type { RelayStore } from '../../../relay/src/store/types.js';
import { toHex } from '../../../src/protocol/bytes.js';
import { envelopeHash, keyIdHexOf, problemType, relayPaths, sealVoiceMessage } from '../../../src/messages/index.js';
import { InjectClient, TestClock, envelope, member, signed, type Member } from '../../helpers/relay.js';

const DAY = 24 * 60 * 60 * 1000;
const MIB = 1024 * 1024;

const dirs: string[] = [];
const relays: RelayServer[] = [];
afterEach(async () => {
  for (const r of relays.splice(0)) await r.close();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function sqlite(): RelayStore {
  const dir = mkdtempSync(join(tmpdir(), 'plushlink-relay-rules-'));
  dirs.push(dir);
  return openSqliteStore({ path: join(dir, 'relay.db') });
}

/** A relay with the given options only: nothing but the clock and the sweeper timer overridden. */
async function rig(options: Partial<RelayOptions> = {}, store: RelayStore = sqlite()) {
  const clock = new TestClock();
  const relay = await createRelay({ store, now: clock.now, sweepIntervalMs: 0, ...options });
  relays.push(relay);
  return { clock, relay, c: new InjectClient(relay, clock) };
}

async function family(options: Partial<RelayOptions> = {}, store?: RelayStore) {
  const r = await rig(options, store);
  const child = member('child');
  const gran = member('gran');
  for (const m of [child, gran]) expect((await r.c.createMailbox(m)).status).toBe(201);
  await r.c.allow(child, gran);
  await r.c.allow(gran, child);
  return { ...r, child, gran };
}

/** An envelope of exactly `size` bytes from one member to another. */
function envelopeOfSize(from: Member, to: Member, size: number): { bytes: Uint8Array; id: string } {
  const overhead = sealVoiceMessage({ audio: new Uint8Array(1), from: from.id, to: [to.pub] }).length - 1;
  const bytes = sealVoiceMessage({ audio: new Uint8Array(size - overhead).fill(3), from: from.id, to: [to.pub] });
  expect(bytes.length).toBe(size);
  return { bytes, id: toHex(bytes.subarray(5, 21)) };
}

describe('the documented defaults (docs/RELAY.md §10)', () => {
  it('quotas of 1000 envelopes and 64 MiB per mailbox, shown to the owner', async () => {
    const { c, gran, child } = await family({ perKey: false, perAddress: false });
    const info = await c.call(gran.id, 'GET', relayPaths.mailbox(gran.mailbox));
    expect(info.json).toEqual({
      mailboxId: gran.mailbox,
      keyId: keyIdHexOf(gran.id.boxPublicKey),
      envelopes: 0,
      bytes: 0,
      quota: { envelopes: 1000, bytes: 64 * MIB },
      senders: [toHex(child.id.signPublicKey)],
    });
  });

  it('an envelope of exactly 1 MiB is accepted, one byte more is RELAY_TOO_LARGE', async () => {
    const { c, child, gran } = await family({ perKey: false, perAddress: false });
    const fits = envelopeOfSize(child, gran, MIB);
    expect((await c.upload(child, fits.bytes, fits.id, [gran])).status).toBe(201);
    const over = envelopeOfSize(child, gran, MIB + 1);
    expect(await c.upload(child, over.bytes, over.id, [gran])).toMatchObject({ status: 413, code: 'RELAY_TOO_LARGE' });
  });

  it('1200 requests per minute per address: the budget is announced on every answer', async () => {
    const { relay } = await rig();
    const res = await relay.app.inject({ method: 'GET', url: '/v1/health' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-ratelimit-limit']).toBe('1200');
    expect(Number(res.headers['x-ratelimit-reset'])).toBeGreaterThan(50);
    expect(Number(res.headers['x-ratelimit-reset'])).toBeLessThanOrEqual(60);
  });

  it('600 requests per minute per signing key: the 601st is RELAY_RATE_LIMITED_KEY, retry within the minute; other keys unaffected', async () => {
    const { c, child, gran } = await family({ perAddress: false });
    // family() spent 2 requests of the child's key.
    for (let i = 0; i < 598; i++) {
      const r = await c.call(child.id, 'GET', relayPaths.receipts());
      if (r.status !== 200) throw new Error(`request ${i + 3} answered ${r.status} ${r.code}`);
    }
    const limited = await c.call(child.id, 'GET', relayPaths.receipts());
    expect(limited).toMatchObject({ status: 429, code: 'RELAY_RATE_LIMITED_KEY' });
    const retry = Number(limited.headers['retry-after']);
    expect(retry).toBeGreaterThan(50);
    expect(retry).toBeLessThanOrEqual(60);
    expect((await c.call(gran.id, 'GET', relayPaths.receipts())).status).toBe(200);
  });

  it('undelivered envelopes are kept 30 days, uncollected receipts 60 days', async () => {
    const { c, child, gran, relay, clock } = await family({ perKey: false, perAddress: false });
    const kept = envelope(child, [gran]);
    await c.upload(child, kept.bytes, kept.id, [gran]);
    const acked = envelope(child, [gran]);
    await c.upload(child, acked.bytes, acked.id, [gran]);
    expect((await c.receipt(gran, acked.id, acked.bytes)).json).toEqual({ acknowledged: true });
    clock.advance(30 * DAY - 1);
    expect(await relay.sweep()).toMatchObject({ deliveries: 0, envelopes: 0, receipts: 0 });
    clock.advance(1);
    expect(await relay.sweep()).toMatchObject({ deliveries: 1, envelopes: 1, receipts: 0 });
    clock.advance(30 * DAY - 1);
    expect((await relay.sweep()).receipts).toBe(0);
    expect((await relay.store.listReceipts(toHex(child.id.signPublicKey), 10)).map((r) => r.messageId)).toEqual([acked.id]);
    clock.advance(1);
    expect((await relay.sweep()).receipts).toBe(1);
  });
});

describe('spent nonces (docs/RELAY.md §3.3 step 6)', () => {
  it('a nonce is kept until created + 2 × skew: a replay at the edge of the window is refused even after a sweep', async () => {
    const { relay, gran, clock } = await family({ perKey: false, perAddress: false });
    const send = (req: ReturnType<typeof signed>) => relay.app.inject(req);
    const req = signed(gran.id, 'GET', relayPaths.pending(gran.mailbox), undefined, { clock });
    expect((await send(req)).statusCode).toBe(200);
    clock.advance(300_000); // |created − now| = 300 s: still inside the skew window
    await relay.sweep();
    expect((await send(req)).json()).toMatchObject({ code: 'RELAY_REPLAYED' });
    // With a 10-second skew, the nonce may go after 20 s and not before.
    const short = await family({ perKey: false, perAddress: false, maxSkewS: 10 });
    const r2 = signed(short.gran.id, 'GET', relayPaths.pending(short.gran.mailbox), undefined, { clock: short.clock });
    expect((await short.relay.app.inject(r2)).statusCode).toBe(200);
    short.clock.advance(10_000);
    expect((await short.relay.sweep()).nonces).toBe(0);
    expect((await short.relay.app.inject(r2)).json()).toMatchObject({ code: 'RELAY_REPLAYED' });
    short.clock.advance(11_000);
    expect(await short.relay.app.inject(r2).then((r) => r.json())).toMatchObject({ code: 'RELAY_CLOCK_SKEW' });
    short.clock.advance(-1000); // created + 20 s exactly
    expect((await short.relay.sweep()).nonces).toBeGreaterThanOrEqual(1);
  });

  it('a read spends its nonce without a synced commit, every other write with one; an upload, receipt or discard inside its own write', async () => {
    const inner = sqlite();
    const remembered: { keyId: string; expiresAt: number; durable: boolean | undefined }[] = [];
    const passed: string[] = [];
    const store: RelayStore = {
      ...inner,
      rememberNonce: (keyId, nonce, expiresAt, options) => {
        remembered.push({ keyId, expiresAt, durable: options?.durable });
        return inner.rememberNonce(keyId, nonce, expiresAt, options);
      },
      putEnvelope: (e, q, nonce) => {
        passed.push(`put ${nonce ? nonce.expiresAt : 'none'}`);
        return inner.putEnvelope(e, q, nonce);
      },
      acknowledge: (r, nonce) => {
        passed.push(`ack ${nonce ? nonce.expiresAt : 'none'}`);
        return inner.acknowledge(r, nonce);
      },
      discard: (m, id, nonce) => {
        passed.push(`discard ${nonce ? nonce.expiresAt : 'none'}`);
        return inner.discard(m, id, nonce);
      },
    };
    const { c, child, gran, clock } = await family({ perKey: false, perAddress: false }, store);
    const created = Math.floor(clock.now() / 1000);
    const expiresAt = (created + 600) * 1000;
    const key = toHex(gran.id.signPublicKey);
    remembered.length = 0;

    await c.call(gran.id, 'GET', relayPaths.pending(gran.mailbox));
    await c.call(gran.id, 'PUT', relayPaths.sender(gran.mailbox, toHex(member('x').id.signPublicKey)));
    expect(remembered).toEqual([
      { keyId: key, expiresAt, durable: false },
      { keyId: key, expiresAt, durable: true },
    ]);
    remembered.length = 0;

    const e = envelope(child, [gran]);
    expect((await c.upload(child, e.bytes, e.id, [gran])).status).toBe(201);
    expect((await c.receipt(gran, e.id, e.bytes)).status).toBe(200);
    const e2 = envelope(child, [gran]);
    await c.upload(child, e2.bytes, e2.id, [gran]);
    expect((await c.call(gran.id, 'DELETE', relayPaths.envelope(gran.mailbox, e2.id))).json).toEqual({ discarded: true });
    expect(passed).toEqual([`put ${expiresAt}`, `ack ${expiresAt}`, `put ${expiresAt}`, `discard ${expiresAt}`]);
    expect(remembered).toEqual([]);

    // A hot write refused before its write: the relay spends the nonce itself, synced (the
    // store's default), before it answers.
    const stranger = member('stranger');
    const refused = envelope(stranger, [gran]);
    expect((await c.upload(stranger, refused.bytes, refused.id, [gran])).code).toBe('RELAY_SENDER_NOT_ALLOWED');
    expect(remembered).toEqual([{ keyId: toHex(stranger.id.signPublicKey), expiresAt, durable: undefined }]);
    expect(passed).toHaveLength(4);
  });
});

describe('problem answers (docs/RELAY.md §7)', () => {
  it('type, title, status, code, detail and the path without its query as instance', async () => {
    const { c, gran, child } = await family({ perKey: false, perAddress: false });
    const url = `${relayPaths.pending(child.mailbox)}?wait=0`;
    const r = await c.call(gran.id, 'GET', url);
    expect(r.status).toBe(403);
    expect(r.headers['content-type']).toContain('application/problem+json');
    expect(r.json).toEqual({
      type: problemType('RELAY_NOT_OWNER'),
      title: 'Not the owner of this mailbox',
      status: 403,
      code: 'RELAY_NOT_OWNER',
      detail: 'only the mailbox owner may do this',
      instance: relayPaths.pending(child.mailbox),
    });
  });

  it("every route refuses what does not match its schema with RELAY_BAD_REQUEST, before it looks anything up", async () => {
    const { c, child, gran } = await family({ perKey: false, perAddress: false });
    const e = envelope(child, [gran]);
    const mid = e.id;
    const mb = gran.mailbox;
    const sender = toHex(child.id.signPublicKey);
    const keys = { signPublicKey: toHex(gran.id.signPublicKey), boxPublicKey: toHex(gran.id.boxPublicKey) };
    const cases: [string, 'GET' | 'PUT' | 'POST' | 'DELETE', string, (object | Uint8Array)?][] = [
      ['upload: bad message id', 'PUT', `/v1/envelopes/XYZ?to=${mb}`, e.bytes],
      ['upload: no to', 'PUT', `/v1/envelopes/${mid}`, e.bytes],
      ['upload: bad to', 'PUT', `/v1/envelopes/${mid}?to=zz`, e.bytes],
      ['upload: unknown parameter', 'PUT', `/v1/envelopes/${mid}?to=${mb}&x=1`, e.bytes],
      ['list: bad mailbox id', 'GET', '/v1/mailboxes/XYZ/envelopes'],
      ['list: wait not a number', 'GET', `/v1/mailboxes/${mb}/envelopes?wait=soon`],
      ['list: wait below 0', 'GET', `/v1/mailboxes/${mb}/envelopes?wait=-1`],
      ['list: wait over 30', 'GET', `/v1/mailboxes/${mb}/envelopes?wait=31`],
      ['list: unknown parameter', 'GET', `/v1/mailboxes/${mb}/envelopes?x=1`],
      ['fetch: bad mailbox id', 'GET', `/v1/mailboxes/XYZ/envelopes/${mid}`],
      ['fetch: bad message id', 'GET', `/v1/mailboxes/${mb}/envelopes/XYZ`],
      ['discard: bad message id', 'DELETE', `/v1/mailboxes/${mb}/envelopes/XYZ`],
      ['receipt: bad message id', 'POST', `/v1/mailboxes/${mb}/envelopes/XYZ/receipt`, { signature: `${'A'.repeat(86)}==` }],
      ['receipt: no signature', 'POST', `/v1/mailboxes/${mb}/envelopes/${mid}/receipt`, {}],
      ['receipt: short signature', 'POST', `/v1/mailboxes/${mb}/envelopes/${mid}/receipt`, { signature: 'AAAA' }],
      ['receipt: unknown field', 'POST', `/v1/mailboxes/${mb}/envelopes/${mid}/receipt`, { signature: `${'A'.repeat(86)}==`, x: 1 }],
      ['mailbox: bad id', 'PUT', '/v1/mailboxes/XYZ', keys],
      ['mailbox: missing key', 'PUT', `/v1/mailboxes/${mb}`, { signPublicKey: keys.signPublicKey }],
      ['mailbox: missing sign key', 'PUT', `/v1/mailboxes/${mb}`, { boxPublicKey: keys.boxPublicKey }],
      ['mailbox: bad key', 'PUT', `/v1/mailboxes/${mb}`, { ...keys, boxPublicKey: 'zz' }],
      ['mailbox: unknown field', 'PUT', `/v1/mailboxes/${mb}`, { ...keys, admin: true }],
      ['mailbox info: bad id', 'GET', '/v1/mailboxes/XYZ'],
      ['mailbox delete: bad id', 'DELETE', '/v1/mailboxes/XYZ'],
      ['allow: bad sender', 'PUT', `/v1/mailboxes/${mb}/senders/zz`],
      ['allow: bad mailbox id', 'PUT', `/v1/mailboxes/XYZ/senders/${sender}`],
      ['disallow: bad sender', 'DELETE', `/v1/mailboxes/${mb}/senders/zz`],
      ['receipts: bad cursor', 'GET', '/v1/receipts?after=junk'],
      ['receipts: unknown parameter', 'GET', '/v1/receipts?x=1'],
      ['receipts delete: bad message id', 'DELETE', '/v1/receipts/XYZ'],
    ];
    for (const [name, method, url, body] of cases) {
      const r = await c.call(name.startsWith('upload') ? child.id : gran.id, method, url, body);
      expect(r, name).toMatchObject({ status: 400, code: 'RELAY_BAD_REQUEST' });
    }
    // Nothing was stored or changed by them.
    expect((await c.list(gran)).json).toEqual({ envelopes: [], more: false });
    expect(((await c.call(gran.id, 'GET', relayPaths.mailbox(mb))).json as { senders: string[] }).senders).toEqual([sender]);
  });

  it('no such route, a trailing slash or other letter case: RELAY_NOT_FOUND', async () => {
    const { c, gran } = await family({ perKey: false, perAddress: false });
    for (const url of ['/v1/nothing', `${relayPaths.mailbox(gran.mailbox)}/`, relayPaths.mailbox(gran.mailbox).replace('/mailboxes/', '/Mailboxes/')]) {
      const r = await c.call(gran.id, 'GET', url);
      expect(r, url).toMatchObject({ status: 404, code: 'RELAY_NOT_FOUND' });
    }
  });

  it('a signed body that is not JSON, or of another media type: RELAY_BAD_REQUEST, and nothing is created', async () => {
    const { relay, clock } = await rig({ perKey: false, perAddress: false });
    const m = member('m');
    const url = relayPaths.mailbox(m.mailbox);
    const broken = signed(m.id, 'PUT', url, new TextEncoder().encode('{"signPublicKey": '), { clock });
    const bad = await relay.app.inject({ ...broken, headers: { ...broken.headers, 'content-type': 'application/json' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'RELAY_BAD_REQUEST', detail: 'body is not valid JSON' });
    const text = signed(m.id, 'PUT', url, new TextEncoder().encode('hello'), { clock });
    const other = await relay.app.inject({ ...text, headers: { ...text.headers, 'content-type': 'text/plain' } });
    expect(other.statusCode).toBe(400);
    expect(other.json()).toMatchObject({ code: 'RELAY_BAD_REQUEST' });
    expect(await relay.store.getMailbox(m.mailbox)).toBeUndefined();
  });
});

describe('routes (docs/RELAY.md §2, §4, §5)', () => {
  it('the mailbox shows its allow-list in the order the owner added it', async () => {
    const { c, gran, child, clock } = await family({ perKey: false, perAddress: false });
    const later = member('later');
    clock.advance(1000);
    await c.allow(gran, later);
    const info = (await c.call(gran.id, 'GET', relayPaths.mailbox(gran.mailbox))).json as { senders: string[] };
    expect(info.senders).toEqual([toHex(child.id.signPublicKey), toHex(later.id.signPublicKey)]);
    expect((await c.allow(gran, later)).json).toEqual({ changed: false });
    expect((await c.call(gran.id, 'DELETE', relayPaths.sender(gran.mailbox, toHex(later.id.signPublicKey)))).json).toEqual({ changed: true });
    expect((await c.call(gran.id, 'DELETE', relayPaths.sender(gran.mailbox, toHex(later.id.signPublicKey)))).json).toEqual({ changed: false });
  });

  it('an envelope is served as octet-stream bytes that no cache may keep', async () => {
    const { c, child, gran } = await family({ perKey: false, perAddress: false });
    const e = envelope(child, [gran]);
    await c.upload(child, e.bytes, e.id, [gran]);
    const got = await c.fetch(gran, e.id);
    expect(got.status).toBe(200);
    expect(got.headers['content-type']).toBe('application/octet-stream');
    expect(got.headers['cache-control']).toBe('no-store');
  });

  it('a pending list: at most 100 entries, oldest first, `more` exactly when there are more', async () => {
    const { c, child, gran, relay, clock } = await family({ perKey: false, perAddress: false });
    const e = envelope(child, [gran]);
    const put = (i: number) =>
      relay.store.putEnvelope(
        { messageId: i.toString(16).padStart(32, '0'), sender: toHex(child.id.signPublicKey), bytes: e.bytes, hash: envelopeHash(e.bytes), receivedAt: clock.now() + i, expiresAt: clock.now() + DAY, to: [gran.mailbox] },
        { maxEnvelopes: 1000, maxBytes: 64 * MIB },
      );
    for (let i = 1; i <= 100; i++) await put(i);
    const full = (await c.list(gran)).json as { envelopes: { messageId: string; size: number; receivedAt: number; sender: string }[]; more: boolean };
    expect(full.more).toBe(false);
    expect(full.envelopes).toHaveLength(100);
    expect(full.envelopes[0]).toEqual({ messageId: (1).toString(16).padStart(32, '0'), size: e.bytes.length, receivedAt: clock.now() + 1, sender: toHex(child.id.signPublicKey) });
    await put(101);
    const more = (await c.list(gran)).json as { envelopes: { messageId: string }[]; more: boolean };
    expect(more.more).toBe(true);
    expect(more.envelopes).toHaveLength(100);
    expect(more.envelopes.at(-1)!.messageId).toBe((100).toString(16).padStart(32, '0'));
  });

  it('a receipts page: at most 100, `more` and a `next` cursor exactly when there are more', async () => {
    const { c, child, gran, relay, clock } = await family({ perKey: false, perAddress: false });
    const e = envelope(child, [gran]);
    const sender = toHex(child.id.signPublicKey);
    const ack = async (i: number) => {
      const messageId = i.toString(16).padStart(32, '0');
      await relay.store.putEnvelope(
        { messageId, sender, bytes: e.bytes, hash: envelopeHash(e.bytes), receivedAt: clock.now(), expiresAt: clock.now() + DAY, to: [gran.mailbox] },
        { maxEnvelopes: 1000, maxBytes: 64 * MIB },
      );
      const r = { messageId, mailboxId: gran.mailbox, sender, recipient: toHex(gran.id.signPublicKey), recipientBox: toHex(gran.id.boxPublicKey), signature: new Uint8Array(64), at: clock.now() + i, expiresAt: clock.now() + DAY };
      expect(await relay.store.acknowledge(r)).toBe(true);
    };
    for (let i = 1; i <= 100; i++) await ack(i);
    type Page = { receipts: { messageId: string; at: number }[]; more: boolean; next?: string };
    const full = (await c.call(child.id, 'GET', relayPaths.receipts())).json as Page;
    expect(full.receipts).toHaveLength(100);
    expect(full.more).toBe(false);
    expect('next' in full).toBe(false);
    await ack(101);
    const page = (await c.call(child.id, 'GET', relayPaths.receipts())).json as Page;
    expect(page.receipts).toHaveLength(100);
    expect(page.more).toBe(true);
    const last = page.receipts[99]!;
    expect(page.next).toBe(`${last.at}-${last.messageId}-${gran.mailbox}`);
    const rest = (await c.call(child.id, 'GET', relayPaths.receipts(page.next))).json as Page;
    expect(rest).toMatchObject({ more: false, receipts: [{ messageId: (101).toString(16).padStart(32, '0') }] });
  });

  it('a long poll on an empty mailbox answers an empty list after the wait, not before', async () => {
    const { c, gran } = await family({ perKey: false, perAddress: false });
    const started = Date.now();
    const r = await c.list(gran, 1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(r.json).toEqual({ envelopes: [], more: false });
  });

  it('a long poll ends its subscription however it is answered', async () => {
    const inner = sqlite();
    let open = 0;
    let total = 0;
    const store: RelayStore = {
      ...inner,
      subscribe: (mailboxId, listener) => {
        open++;
        total++;
        const unsubscribe = inner.subscribe(mailboxId, listener);
        return () => {
          open--;
          unsubscribe();
        };
      },
    };
    const { c, child, gran } = await family({ perKey: false, perAddress: false }, store);
    await c.list(gran, 1); // answered by the timer
    const poll = c.list(gran, 30);
    await new Promise((r) => setTimeout(r, 100));
    const e = envelope(child, [gran]);
    await c.upload(child, e.bytes, e.id, [gran]);
    expect(((await poll).json as { envelopes: unknown[] }).envelopes).toHaveLength(1); // woken
    await c.list(gran, 30); // answered at once: something is pending
    expect(total).toBe(3);
    expect(open).toBe(0);
  });

  it('a client that goes away ends its long poll and its subscription at once', async () => {
    const inner = sqlite();
    let open = 0;
    const store: RelayStore = {
      ...inner,
      subscribe: (mailboxId, listener) => {
        open++;
        const unsubscribe = inner.subscribe(mailboxId, listener);
        return () => {
          open--;
          unsubscribe();
        };
      },
    };
    const { gran, relay, clock } = await family({ perKey: false, perAddress: false }, store);
    const url = await relay.listen();
    const req = signed(gran.id, 'GET', relayPaths.pending(gran.mailbox, 30), undefined, { clock });
    const abort = new AbortController();
    const poll = fetch(url + req.url, { headers: req.headers, signal: abort.signal }).catch(() => undefined);
    const deadline = Date.now() + 10_000;
    while (open === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(open).toBe(1);
    abort.abort();
    await poll;
    while (open > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(open).toBe(0);
  });

  it('an upload sent as JSON is RELAY_BAD_REQUEST: envelopes travel as octet-stream', async () => {
    const { c, child, gran } = await family({ perKey: false, perAddress: false });
    const e = envelope(child, [gran]);
    const r = await c.call(child.id, 'PUT', relayPaths.upload(e.id, [gran.mailbox]), { envelope: Buffer.from(e.bytes).toString('base64') });
    expect(r).toMatchObject({ status: 400, code: 'RELAY_BAD_REQUEST' });
  });

  it('closing the relay answers a waiting long poll at once', async () => {
    const { c, gran, relay } = await family({ perKey: false, perAddress: false });
    relays.splice(relays.indexOf(relay), 1);
    const started = Date.now();
    const poll = c.list(gran, 30);
    await new Promise((r) => setTimeout(r, 100));
    await relay.close();
    const r = await poll;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.status).toBe(200);
    await relay.close(); // a second close is a no-op
  });

  it('an upload may not deliver twice to one recipient key: two mailboxes with the same box key are RELAY_BAD_ADDRESSING', async () => {
    const { c, child, gran, relay } = await family({ perKey: false, perAddress: false });
    // A squatter opens a mailbox for its own signing key and the gran's box key (§4).
    const squatter = member('squatter');
    const squat = { signPublicKey: toHex(squatter.id.signPublicKey), boxPublicKey: toHex(gran.id.boxPublicKey) };
    const { mailboxIdOf } = await import('../../../src/messages/index.js');
    const squatId = mailboxIdOf({ signPublicKey: squatter.id.signPublicKey, boxPublicKey: gran.id.boxPublicKey });
    expect((await c.call(squatter.id, 'PUT', relayPaths.mailbox(squatId), squat)).status).toBe(201);
    expect((await c.call(squatter.id, 'PUT', relayPaths.sender(squatId, toHex(child.id.signPublicKey)))).status).toBe(200);
    const e = envelope(child, [gran]);
    const r = await c.call(child.id, 'PUT', relayPaths.upload(e.id, [gran.mailbox, squatId]), e.bytes);
    expect(r).toMatchObject({ status: 422, code: 'RELAY_BAD_ADDRESSING' });
    expect(await relay.store.getEnvelope(gran.mailbox, e.id)).toBeUndefined();
    expect(await relay.store.getEnvelope(squatId, e.id)).toBeUndefined();
  });

  it('a receipt whose signature is not canonical base64: RELAY_BAD_RECEIPT, the delivery stays', async () => {
    const { c, child, gran } = await family({ perKey: false, perAddress: false });
    const e = envelope(child, [gran]);
    await c.upload(child, e.bytes, e.id, [gran]);
    // 86 characters and '==' match the schema; a last character with low bits set is not canonical.
    const r = await c.call(gran.id, 'POST', relayPaths.receipt(gran.mailbox, e.id), { signature: `${'A'.repeat(85)}B==` });
    expect(r).toMatchObject({ status: 422, code: 'RELAY_BAD_RECEIPT' });
    expect((await c.fetch(gran, e.id)).status).toBe(200);
  });

  it("a receipt is listed for its sender with the recipient's keys and the relay's time of the receipt", async () => {
    const { c, child, gran, clock } = await family({ perKey: false, perAddress: false });
    const e = envelope(child, [gran]);
    await c.upload(child, e.bytes, e.id, [gran]);
    clock.advance(5000);
    const at = clock.now();
    await c.receipt(gran, e.id, e.bytes);
    const list = (await c.call(child.id, 'GET', relayPaths.receipts())).json as { receipts: Record<string, unknown>[]; more: boolean; next?: string };
    expect(list.more).toBe(false);
    expect(list.next).toBeUndefined();
    expect(list.receipts).toEqual([
      {
        messageId: e.id,
        mailboxId: gran.mailbox,
        recipient: toHex(gran.id.signPublicKey),
        recipientBox: toHex(gran.id.boxPublicKey),
        signature: expect.stringMatching(/^[A-Za-z0-9+/]{86}==$/),
        at,
      },
    ]);
  });
});

describe('the relay process', () => {
  it('listens on 127.0.0.1 and an ephemeral port by default', async () => {
    const { relay } = await rig({ perKey: false, perAddress: false });
    const url = await relay.listen();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(Number(new URL(url).port)).toBeGreaterThan(0);
  });

  it('deletes expired data by itself on its timer', async () => {
    const { c, child, gran, relay, clock } = await family({ perKey: false, perAddress: false, sweepIntervalMs: 20 });
    const e = envelope(child, [gran]);
    await c.upload(child, e.bytes, e.id, [gran]);
    clock.advance(31 * DAY);
    const deadline = Date.now() + 5000;
    while ((await relay.store.getEnvelope(gran.mailbox, e.id)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await relay.store.getEnvelope(gran.mailbox, e.id)).toBeUndefined();
  });

  it('close() stops the sweeper timer', async () => {
    const inner = sqlite();
    let sweeps = 0;
    const store: RelayStore = {
      ...inner,
      expire: (now) => {
        sweeps++;
        return inner.expire(now);
      },
    };
    const { relay } = await rig({ perKey: false, perAddress: false, sweepIntervalMs: 10 }, store);
    const deadline = Date.now() + 5000;
    while (sweeps === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(sweeps).toBeGreaterThan(0);
    relays.splice(relays.indexOf(relay), 1);
    await relay.close();
    const after = sweeps;
    await new Promise((r) => setTimeout(r, 100));
    expect(sweeps).toBe(after);
  });

  it('per-address limits count each client address apart', async () => {
    const { relay } = await rig({ perKey: false, perAddress: { max: 1, windowMs: 3_600_000 } });
    const get = (remoteAddress: string) => relay.app.inject({ method: 'GET', url: '/v1/health', remoteAddress });
    expect((await get('192.0.2.1')).statusCode).toBe(200);
    expect((await get('192.0.2.2')).statusCode).toBe(200);
    const limited = await get('192.0.2.1');
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ code: 'RELAY_RATE_LIMITED_ADDRESS' });
    const retry = Number(limited.headers['retry-after']);
    expect(retry).toBeGreaterThan(3500);
    expect(retry).toBeLessThanOrEqual(3600);
    // X-Forwarded-For is not trusted unless asked for (docs/RELAY.md §10): a client cannot pick
    // a fresh address per request.
    const spoofed = await relay.app.inject({ method: 'GET', url: '/v1/health', remoteAddress: '192.0.2.2', headers: { 'x-forwarded-for': '198.51.100.7' } });
    expect(spoofed.statusCode).toBe(429);
  });

  it('behind a reverse proxy (trustProxy), per-address limits count the forwarded client address (docs/RELAY.md §10)', async () => {
    const { relay } = await rig({ perKey: false, perAddress: { max: 1, windowMs: 3_600_000 }, trustProxy: true });
    // Every request comes from the proxy's address; the clients are told apart by X-Forwarded-For.
    const get = (client: string) => relay.app.inject({ method: 'GET', url: '/v1/health', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': client } });
    expect((await get('198.51.100.7')).statusCode).toBe(200);
    expect((await get('198.51.100.8')).statusCode).toBe(200);
    const limited = await get('198.51.100.7');
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ code: 'RELAY_RATE_LIMITED_ADDRESS' });
  });

  it('with the per-address limit off, no budget is counted or announced', async () => {
    const { relay } = await rig({ perKey: false, perAddress: false });
    const res = await relay.app.inject({ method: 'GET', url: '/v1/health' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-ratelimit-limit']).toBeUndefined();
  });

  it('serves the web app unsigned at /app/ with its security headers, and refuses a missing app folder', async () => {
    const appDir = mkdtempSync(join(tmpdir(), 'plushlink-relay-app-'));
    dirs.push(appDir);
    writeFileSync(join(appDir, 'index.html'), '<!doctype html><title>plushlink</title>');
    const { relay } = await rig({ perKey: false, perAddress: false, appDir });
    const page = await relay.app.inject({ method: 'GET', url: '/app/index.html' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('plushlink');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.headers['content-security-policy']).toBe(
      "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'self'",
    );
    for (const url of ['/app', '/']) {
      const r = await relay.app.inject({ method: 'GET', url });
      expect(r.statusCode, url).toBe(302);
      expect(r.headers.location, url).toBe('/app/');
    }
    await expect(createRelay({ store: sqlite(), appDir: join(appDir, 'missing'), sweepIntervalMs: 0 })).rejects.toThrow(/web app folder not found/);
  });
});
