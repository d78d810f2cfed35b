import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toHex, utf8 } from '../../../src/protocol/bytes.js';
import { PlushlinkError, isPlushlinkError } from '../../../src/protocol/errors.js';
import {
  HttpRelay,
  familyIdentityFromSecrets,
  familyPublicKey,
  keyIdHexOf,
  mailboxIdOf,
  peekMessageId,
  sealVoiceMessage,
  signDeliveryReceipt,
  verifyRequest,
  type FamilyIdentity,
  type FetchInit,
  type FetchLike,
  type FetchResponse,
  type HttpRelayOptions,
} from '../../../src/messages/index.js';
import { parseRetryAfter } from '../../../src/messages/http-relay.js';
import { FakeRelay, nativeVerify } from '../../helpers/fake-relay.js';

const T0 = 1_767_225_600_000;
const ident = (name: string, n: number): FamilyIdentity =>
  familyIdentityFromSecrets(name, new Uint8Array(32).fill(n), new Uint8Array(32).fill(n + 100));
const grandma = ident('Grandma', 1);
const child = ident('Mia', 2);
const uncle = ident('Uncle', 3);
const stranger = ident('Stranger', 4);
const family = [grandma, child, uncle].map(familyPublicKey);

let counter = 0;
const seal = (from: FamilyIdentity, to: FamilyIdentity[], text = `hello ${counter++}`): Uint8Array =>
  sealVoiceMessage({ audio: utf8(`OggS ${text}`), from, to, createdAt: T0 });

async function expectCode(p: Promise<unknown>, code: string): Promise<PlushlinkError> {
  try {
    await p;
  } catch (e) {
    expect(isPlushlinkError(e), String(e)).toBe(true);
    expect((e as PlushlinkError).code).toBe(code);
    return e as PlushlinkError;
  }
  throw new Error(`expected ${code}, resolved`);
}

interface Rig {
  fake: FakeRelay;
  sleeps: number[];
  client: (identity: FamilyIdentity, extra?: Partial<HttpRelayOptions>) => HttpRelay;
}

function rig(): Rig {
  const now = (): number => T0;
  const fake = new FakeRelay({ now });
  const sleeps: number[] = [];
  const client = (identity: FamilyIdentity, extra: Partial<HttpRelayOptions> = {}): HttpRelay =>
    new HttpRelay({
      url: 'http://relay.test',
      identity,
      family,
      fetch: fake.fetch,
      now,
      sleep: async (ms) => void sleeps.push(ms),
      jitter: () => 1,
      baseDelayMs: 100,
      maxDelayMs: 10_000,
      ...extra,
    });
  return { fake, sleeps, client };
}

/** Mailboxes of child and uncle exist and allow grandma. */
async function mailboxes(r: Rig): Promise<{ g: HttpRelay; c: HttpRelay; u: HttpRelay }> {
  const g = r.client(grandma);
  const c = r.client(child);
  const u = r.client(uncle);
  for (const x of [c, u]) {
    await x.ensureMailbox();
    await x.allowSender(grandma);
  }
  return { g, c, u };
}

describe('HttpRelay: signing', () => {
  it('signs every request so that verifyRequest accepts it, with a fresh nonce each time', async () => {
    const seen: { nonce: string; keyId: string }[] = [];
    const fake = new FakeRelay({ now: () => T0 });
    const checking: FetchLike = async (url, init) => {
      const u = new URL(url);
      if (u.pathname !== '/v1/health') {
        const r = verifyRequest({ method: init.method, target: u.pathname + u.search, body: init.body ?? new Uint8Array(0) }, init.headers, {
          now: T0 / 1000,
          verify: nativeVerify,
        });
        expect(init.headers['signature-input']).toContain(';alg="ed25519";tag="plushlink-relay-v1"');
        expect(r.created).toBe(T0 / 1000);
        seen.push({ nonce: r.nonce, keyId: r.keyId });
      } else {
        expect(init.headers.signature).toBeUndefined();
      }
      return fake.fetch(url, init);
    };
    const c = new HttpRelay({ url: 'http://relay.test/', identity: child, family, fetch: checking, now: () => T0 });
    expect(await c.health()).toEqual({ ok: true, version: 'fake', store: 'memory' });
    expect(await c.ensureMailbox()).toEqual({ mailboxId: mailboxIdOf(child), created: true });
    expect(await c.ensureMailbox()).toEqual({ mailboxId: mailboxIdOf(child), created: false });
    expect(await c.allowSender(grandma)).toBe(true);
    expect(await c.allowSender(toHex(grandma.signPublicKey))).toBe(false);
    const mb = await c.getMailbox();
    expect(mb.senders).toEqual([toHex(grandma.signPublicKey)]);
    expect(seen.length).toBe(5);
    expect(new Set(seen.map((s) => s.nonce)).size).toBe(5);
    expect(seen.every((s) => s.keyId === toHex(child.signPublicKey))).toBe(true);
  });

  it('signs the path as sent, a path prefix of the url included', async () => {
    const paths: string[] = [];
    const c = new HttpRelay({
      url: 'http://relay.test/base/',
      identity: child,
      now: () => T0,
      fetch: async (url, init) => {
        const u = new URL(url);
        paths.push(u.pathname);
        verifyRequest({ method: init.method, target: u.pathname + u.search, body: init.body ?? new Uint8Array(0) }, init.headers, { now: T0 / 1000 });
        return new Response(JSON.stringify({ mailboxId: mailboxIdOf(child), keyId: toHex(new Uint8Array(16)), created: true }), {
          status: 201,
          headers: { 'content-type': 'application/json' },
        });
      },
    });
    // The canned answer names a wrong key id: the client refuses it.
    await expectCode(c.ensureMailbox(), 'RELAY_ERROR');
    expect(paths).toEqual([`/base/v1/mailboxes/${mailboxIdOf(child)}`]);
  });
});

describe('HttpRelay: the routes against a relay that keeps the contract', () => {
  it('uploads to every recipient through the family, lists, fetches, acknowledges, collects receipts', async () => {
    const r = rig();
    const { g, c, u } = await mailboxes(r);
    const env = seal(grandma, [child, uncle]);
    const id = peekMessageId(env);
    const progress: number[] = [];
    const uploaded: unknown[] = [];
    g.on('upload-progress', (p) => progress.push(p.sent));
    g.on('uploaded', (x) => uploaded.push(x));
    expect(await g.upload(id, env)).toBe('stored');
    expect(progress).toEqual([0, env.length]);
    expect(uploaded).toEqual([{ id, result: 'stored', mailboxes: [mailboxIdOf(child), mailboxIdOf(uncle)] }]);
    expect(await g.upload(id, env)).toBe('duplicate');

    const pending = await c.listPending();
    expect(pending).toEqual({ envelopes: [{ messageId: id, size: env.length, receivedAt: T0, sender: toHex(grandma.signPublicKey) }], more: false });
    const bytes = await c.fetchEnvelope(id);
    expect(bytes).toEqual(env);
    expect(await c.acknowledge(id, signDeliveryReceipt(child, id, bytes))).toBe(true);
    await expectCode(c.fetchEnvelope(id), 'RELAY_NOT_FOUND');
    expect((await c.listPending()).envelopes).toEqual([]);
    expect(await u.discard(id)).toBe(true);

    const receipts = await g.listReceipts();
    expect(receipts.more).toBe(false);
    expect(receipts.receipts.map((x) => [x.messageId, x.mailboxId, x.recipient])).toEqual([[id, mailboxIdOf(child), toHex(child.signPublicKey)]]);
    expect(await g.deleteReceipts(id)).toBe(1);
    expect((await g.listReceipts()).receipts).toEqual([]);

    expect(await c.disallowSender(grandma)).toBe(true);
    expect(await c.disallowSender(grandma)).toBe(false);
    expect(await c.deleteMailbox()).toBe(true);
    await expectCode(c.getMailbox(), 'RELAY_NO_MAILBOX');
  });

  it('uploads only to the mailboxes named in `to`', async () => {
    const r = rig();
    const { g } = await mailboxes(r);
    const env = seal(grandma, [child, uncle]);
    const id = peekMessageId(env);
    expect(await g.uploadEnvelope(id, env, { to: [mailboxIdOf(uncle)] })).toEqual({ result: 'stored', mailboxes: [mailboxIdOf(uncle)] });
    expect(r.fake.pendingIn(mailboxIdOf(child))).toEqual([]);
    expect(r.fake.pendingIn(mailboxIdOf(uncle))).toEqual([id]);
  });

  it('refuses to guess a mailbox: a recipient outside the family directory is a typed error, nothing sent', async () => {
    const r = rig();
    const g = r.client(grandma);
    const env = seal(grandma, [child, stranger]);
    const e = await expectCode(g.upload(peekMessageId(env), env), 'RELAY_BAD_ADDRESSING');
    expect(e.detail?.unresolved).toEqual([keyIdHexOf(stranger.boxPublicKey)]);
    expect(r.fake.log).toEqual([]);
    await expectCode(g.upload('00'.repeat(16), env), 'BAD_ENVELOPE');
  });

  it('a long poll is answered when an envelope arrives', async () => {
    const r = rig();
    const { g, c } = await mailboxes(r);
    const poll = c.listPending({ waitS: 25 });
    for (let i = 0; i < 100 && r.fake.holding === 0; i++) await new Promise((res) => setImmediate(res));
    expect(r.fake.holding).toBe(1);
    expect(r.fake.log.at(-1)?.path).toBe(`/v1/mailboxes/${mailboxIdOf(child)}/envelopes?wait=25`);
    const env = seal(grandma, [child]);
    await g.upload(peekMessageId(env), env);
    expect((await poll).envelopes.map((e) => e.messageId)).toEqual([peekMessageId(env)]);
  });
});

describe('HttpRelay: retries and errors', () => {
  it('retries 503 with exponential backoff, then succeeds', async () => {
    const r = rig();
    const c = r.client(child);
    const retries: number[] = [];
    c.on('retry', (x) => retries.push(x.attempt));
    r.fake.fault({ kind: 'problem', code: 'RELAY_ERROR', status: 503 });
    r.fake.fault({ kind: 'problem', code: 'RELAY_ERROR', status: 503 });
    r.fake.fault({ kind: 'raw', status: 502, body: '<html>bad gateway</html>', contentType: 'text/html' });
    expect((await c.ensureMailbox()).created).toBe(true);
    expect(r.sleeps).toEqual([100, 200, 400]);
    expect(retries).toEqual([1, 2, 3]);
    expect(r.fake.log.map((x) => x.status)).toEqual([503, 503, 502, 201]);
  });

  it('gives up after maxAttempts with the last error', async () => {
    const r = rig();
    const c = r.client(child, { maxAttempts: 3 });
    for (let i = 0; i < 3; i++) r.fake.fault({ kind: 'raw', status: 503, body: 'down' });
    await expectCode(c.ensureMailbox(), 'RELAY_UNAVAILABLE');
    expect(r.fake.log.length).toBe(3);
    expect(r.sleeps).toEqual([100, 200]);
    for (let i = 0; i < 3; i++) r.fake.fault({ kind: 'problem', code: 'RELAY_QUOTA_BYTES', status: 507 });
    await expectCode(c.ensureMailbox(), 'RELAY_QUOTA_BYTES');
  });

  it('honours Retry-After on 429 (seconds and HTTP-date) and does not wait longer than maxDelayMs', async () => {
    const r = rig();
    const c = r.client(child);
    r.fake.fault({ kind: 'problem', code: 'RELAY_RATE_LIMITED_KEY', retryAfter: '7' });
    r.fake.fault({ kind: 'problem', code: 'RELAY_RATE_LIMITED_ADDRESS', retryAfter: new Date(T0 + 3000).toUTCString() });
    await c.ensureMailbox();
    expect(r.sleeps).toEqual([7000, 3000]);
    r.fake.fault({ kind: 'problem', code: 'RELAY_RATE_LIMITED_KEY', retryAfter: '3600' });
    const e = await expectCode(c.getMailbox(), 'RELAY_RATE_LIMITED_KEY');
    expect(e.detail?.retryAfterMs).toBe(3_600_000);
    expect(r.sleeps).toEqual([7000, 3000]);
    expect(parseRetryAfter('soon', T0)).toBeUndefined();
    expect(parseRetryAfter(null, T0)).toBeUndefined();
  });

  it('never retries another 4xx: a refusal is final and keeps its code', async () => {
    const r = rig();
    const { g } = await mailboxes(r);
    const before = r.fake.log.length;
    const c = r.client(child);
    await c.disallowSender(grandma);
    const env = seal(grandma, [child]);
    await expectCode(g.upload(peekMessageId(env), env), 'RELAY_SENDER_NOT_ALLOWED');
    expect(r.fake.log.length).toBe(before + 2);
    expect(r.sleeps).toEqual([]);
    // a stranger cannot read a mailbox
    await expectCode(r.client(stranger).listPending(), 'RELAY_NO_MAILBOX');
    const s = new HttpRelay({ url: 'http://relay.test', identity: stranger, fetch: r.fake.fetch, now: () => T0 });
    Object.defineProperty(s, 'mailboxId', { value: mailboxIdOf(child) });
    await expectCode(s.listPending(), 'RELAY_NOT_OWNER');
  });

  it('maps every problem: a known code as it is, an unknown one or a malformed one to RELAY_ERROR', async () => {
    const r = rig();
    const c = r.client(child);
    r.fake.fault({ kind: 'problem', code: 'RELAY_CLOCK_SKEW' });
    const skew = await expectCode(c.ensureMailbox(), 'RELAY_CLOCK_SKEW');
    expect(skew.detail).toMatchObject({ status: 401, problem: 'RELAY_CLOCK_SKEW' });
    r.fake.fault({ kind: 'problem', code: 'SOMETHING_NEW', status: 418 });
    const unknown = await expectCode(c.ensureMailbox(), 'RELAY_ERROR');
    expect(unknown.detail).toMatchObject({ status: 418, problem: 'SOMETHING_NEW' });
    r.fake.fault({ kind: 'raw', status: 409, contentType: 'application/problem+json', body: '{"nope":1}' });
    await expectCode(c.ensureMailbox(), 'RELAY_ERROR');
    r.fake.fault({ kind: 'raw', status: 404, contentType: 'text/html', body: '<h1>not here</h1>' });
    await expectCode(c.ensureMailbox(), 'RELAY_ERROR');
    expect(r.sleeps).toEqual([]);
    // a real refusal of the relay: a replayed nonce
    const fixed = r.client(child, { random: (n) => new Uint8Array(n).fill(7) });
    await fixed.ensureMailbox();
    await expectCode(fixed.ensureMailbox(), 'RELAY_REPLAYED');
  });

  it('an answer outside the contract is RELAY_ERROR, not trusted', async () => {
    const r = rig();
    const c = r.client(child);
    r.fake.fault({ kind: 'raw', status: 200, contentType: 'application/json', body: JSON.stringify({ mailboxId: 'x', created: 'yes' }) });
    const e = await expectCode(c.ensureMailbox(), 'RELAY_ERROR');
    expect(e.message).toContain('contract');
    r.fake.fault({ kind: 'raw', status: 200, contentType: 'application/json', body: '{not json' });
    await expectCode(c.ensureMailbox(), 'RELAY_ERROR');
    r.fake.fault({ kind: 'raw', status: 200, contentType: 'text/plain', body: '{}' });
    await expectCode(c.ensureMailbox(), 'RELAY_ERROR');
    r.fake.fault({ kind: 'raw', status: 200, contentType: 'application/json', body: JSON.stringify({ envelopes: [{ messageId: 'zz' }], more: false }) });
    await expectCode(c.listPending(), 'RELAY_ERROR');
    expect(r.sleeps).toEqual([]);
  });

  it('a network failure is retried and finally RELAY_UNAVAILABLE; a lost answer is retried with a fresh nonce', async () => {
    const r = rig();
    const { g } = await mailboxes(r);
    const c = r.client(child, { maxAttempts: 2 });
    r.fake.fault({ kind: 'network' });
    r.fake.fault({ kind: 'network' });
    const e = await expectCode(c.getMailbox(), 'RELAY_UNAVAILABLE');
    expect(e.cause).toBeInstanceOf(TypeError);
    const env = seal(grandma, [child]);
    r.fake.fault({ kind: 'lose-answer' });
    // The first attempt stored it; the retry (new nonce, so not RELAY_REPLAYED) finds a duplicate.
    expect(await g.upload(peekMessageId(env), env)).toBe('duplicate');
    expect(r.fake.log.slice(-2).map((x) => x.status)).toEqual(['lost', 200]);
  });

  it('aborts at once with ABORTED: before sending, during a request that never answers, while waiting to retry', async () => {
    const r = rig();
    const ac = new AbortController();
    ac.abort();
    await expectCode(r.client(child).ensureMailbox({ signal: ac.signal }), 'ABORTED');
    expect(r.fake.log).toEqual([]);

    // a fetch that ignores its signal and never settles
    let calls = 0;
    const hang: FetchLike = () => {
      calls++;
      return new Promise<FetchResponse>(() => undefined);
    };
    const c = new HttpRelay({ url: 'http://relay.test', identity: child, fetch: hang, timeoutMs: 0 });
    const ac2 = new AbortController();
    const p = c.ensureMailbox({ signal: ac2.signal });
    await Promise.resolve();
    ac2.abort();
    await expectCode(p, 'ABORTED');
    expect(calls).toBe(1);

    // abort while sleeping before a retry (the default sleep honours the signal)
    const ac3 = new AbortController();
    const down: FetchLike = async () => {
      queueMicrotask(() => ac3.abort());
      throw new TypeError('fetch failed');
    };
    const d = new HttpRelay({ url: 'http://relay.test', identity: child, fetch: down, baseDelayMs: 60_000 });
    await expectCode(d.ensureMailbox({ signal: ac3.signal }), 'ABORTED');

    // abort of a held long poll
    const { c: owner } = await mailboxes(r);
    const ac4 = new AbortController();
    const poll = owner.listPending({ waitS: 30, signal: ac4.signal });
    for (let i = 0; i < 100 && r.fake.holding === 0; i++) await new Promise((res) => setImmediate(res));
    ac4.abort();
    await expectCode(poll, 'ABORTED');
  });

  it('an attempt that takes longer than timeoutMs is RELAY_UNAVAILABLE', async () => {
    const hang: FetchLike = (_url: string, _init: FetchInit) => new Promise<FetchResponse>(() => undefined);
    const c = new HttpRelay({ url: 'http://relay.test', identity: child, fetch: hang, timeoutMs: 5, maxAttempts: 1 });
    const e = await expectCode(c.ensureMailbox(), 'RELAY_UNAVAILABLE');
    expect(e.message).toContain('timed out');
  });
});

describe('browser safety', () => {
  it('the relay clients import nothing from node: (nor any module that does)', () => {
    const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src/messages');
    const seen = new Set<string>();
    const offenders: string[] = [];
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = readFileSync(file, 'utf8');
      for (const m of src.matchAll(/(?:import|export)\s[^'"]*?from\s+'([^']+)'/g)) {
        const spec = m[1]!;
        if (spec.startsWith('node:')) offenders.push(`${file} → ${spec}`);
        if (spec.startsWith('.')) visit(join(dirname(file), spec.replace(/\.js$/, '.ts')));
      }
    };
    for (const f of ['http-relay.ts', 'delivery.ts', 'inbox.ts', 'backoff.ts', 'relay-protocol.ts', 'http-signature.ts']) visit(join(root, f));
    expect(offenders).toEqual([]);
    expect([...seen].some((f) => f.endsWith('envelope.ts'))).toBe(true);
  });
});
