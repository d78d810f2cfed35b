/**
 * Attacks on the relay's request authentication (docs/RELAY.md §3.3): unsigned, wrongly signed,
 * tampered, replayed and clock-skewed requests, and signatures that bend the profile. Each must be
 * refused with its own code and change nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer } from '@plushlink/relay';
import { toHex } from '../../src/protocol/bytes.js';
import { keyIdHexOf, mailboxIdOf, relayPaths, signDeliveryReceipt, signRequest } from '../../src/messages/index.js';
import { nodeCryptoBackend } from '../../src/crypto-node/index.js';
import { edEncode, forgeRequestSignature, malleate, smallOrderEncodings, torsionPoints } from '../helpers/ed25519-torsion.js';
import {
  InjectClient,
  expectProblemDocument,
  TestClock,
  envelope,
  member,
  prepareBackend,
  signed,
  startRelay,
  type Member,
  type SignedInject,
  type StoreFactory,
} from '../helpers/relay.js';

let factory: StoreFactory;
let relay: RelayServer;
let clock: TestClock;
let c: InjectClient;
let child: Member;
let gran: Member;

beforeAll(async () => {
  const f = await prepareBackend('sqlite');
  if ('skip' in f) throw new Error(f.skip);
  factory = f;
  clock = new TestClock();
  relay = await startRelay(await factory.open(), clock);
  c = new InjectClient(relay, clock);
  child = member('child');
  gran = member('gran');
  await c.createMailbox(child);
  await c.createMailbox(gran);
  await c.allow(child, gran);
  await c.allow(gran, child);
});
afterAll(async () => {
  await relay.close();
  await factory.cleanup();
});

async function send(req: { method: string; url: string; headers: Record<string, string>; payload?: Buffer }) {
  const res = await relay.app.inject(req as never);
  expectProblemDocument(res, req.url);
  const type = res.headers['content-type'];
  const code = String(type).includes('json') ? (res.json() as { code?: string }).code : undefined;
  return { status: res.statusCode, code, type };
}

/** Every signed route, as the owner of the gran's mailbox would call it. */
function routes(): { method: 'GET' | 'PUT' | 'POST' | 'DELETE'; url: string; body?: object | Uint8Array }[] {
  const e = envelope(gran, [child]);
  const mid = 'ab'.repeat(16);
  return [
    { method: 'PUT', url: relayPaths.mailbox(gran.mailbox), body: { signPublicKey: toHex(gran.id.signPublicKey), boxPublicKey: toHex(gran.id.boxPublicKey) } },
    { method: 'GET', url: relayPaths.mailbox(gran.mailbox) },
    { method: 'DELETE', url: relayPaths.mailbox(gran.mailbox) },
    { method: 'PUT', url: relayPaths.sender(gran.mailbox, toHex(child.id.signPublicKey)) },
    { method: 'DELETE', url: relayPaths.sender(gran.mailbox, toHex(child.id.signPublicKey)) },
    { method: 'PUT', url: relayPaths.upload(e.id, [child.mailbox]), body: e.bytes },
    { method: 'GET', url: relayPaths.pending(gran.mailbox) },
    { method: 'GET', url: relayPaths.envelope(gran.mailbox, mid) },
    { method: 'POST', url: relayPaths.receipt(gran.mailbox, mid), body: { signature: 'A'.repeat(86) + '==' } },
    { method: 'DELETE', url: relayPaths.envelope(gran.mailbox, mid) },
    { method: 'GET', url: relayPaths.receipts() },
    { method: 'DELETE', url: relayPaths.receiptsOf(mid) },
  ];
}

describe('relay request authentication', () => {
  it('refuses every route without a signature: RELAY_UNSIGNED, as application/problem+json', async () => {
    for (const r of routes()) {
      const req = signed(gran.id, r.method, r.url, r.body, { clock });
      for (const drop of ['signature', 'signature-input', 'content-digest']) {
        const headers = { ...req.headers };
        delete headers[drop];
        const res = await send({ ...req, headers });
        expect(res, `${r.method} ${r.url} without ${drop}`).toMatchObject({ status: 401, code: 'RELAY_UNSIGNED' });
        expect(res.type).toContain('application/problem+json');
      }
    }
    // Nothing happened: the gran's mailbox is still there.
    expect((await c.call(gran.id, 'GET', relayPaths.mailbox(gran.mailbox))).status).toBe(200);
  });

  it('refuses a signature by another key under the victim\'s keyid', async () => {
    const mallory = member('mallory');
    const target = relayPaths.pending(gran.mailbox);
    const real = signRequest({ method: 'GET', target }, mallory.id, { created: Math.floor(clock.now() / 1000) });
    const input = real['signature-input'].replace(toHex(mallory.id.signPublicKey), toHex(gran.id.signPublicKey));
    const res = await send({ method: 'GET', url: target, headers: { ...real, 'signature-input': input } });
    expect(res).toMatchObject({ status: 401, code: 'RELAY_BAD_SIGNATURE' });
  });

  it('refuses a request whose method, path, query or body was changed after signing', async () => {
    const e = envelope(gran, [child]);
    const req = signed(gran.id, 'PUT', relayPaths.upload(e.id, [child.mailbox]), e.bytes, { clock });
    const del = signed(gran.id, 'DELETE', relayPaths.sender(gran.mailbox, toHex(child.id.signPublicKey)), undefined, { clock });
    expect((await send({ ...del, method: 'PUT' })).code).toBe('RELAY_BAD_SIGNATURE');
    const otherPath = req.url.replace('/envelopes/', '/envelopes/'.toUpperCase());
    expect((await send({ ...req, url: otherPath })).status).toBeGreaterThanOrEqual(400);
    const aunt = member('aunt');
    expect((await send({ ...req, url: `${req.url},${aunt.mailbox}` })).code).toBe('RELAY_BAD_SIGNATURE');
    const tampered = Buffer.from(e.bytes);
    tampered[tampered.length - 70] = tampered[tampered.length - 70]! ^ 1;
    expect((await send({ ...req, payload: tampered })).code).toBe('RELAY_BAD_DIGEST');
    // A matching digest for the new body, but the signature covers the old digest.
    const digest = signRequest({ method: 'PUT', target: req.url, body: tampered }, gran.id)['content-digest'];
    expect((await send({ ...req, payload: tampered, headers: { ...req.headers, 'content-digest': digest } })).code).toBe('RELAY_BAD_SIGNATURE');
    // The untouched request still works (so the refusals above were about the changes).
    expect((await send(req)).status).toBe(201);
  });

  it('refuses a replayed request: RELAY_REPLAYED, and the replay changes nothing', async () => {
    const req = signed(child.id, 'PUT', relayPaths.sender(child.mailbox, toHex(member('x').id.signPublicKey)), undefined, { clock });
    expect((await send(req)).status).toBe(200);
    expect(await send(req)).toMatchObject({ status: 401, code: 'RELAY_REPLAYED' });
    // Still refused later in the skew window.
    clock.advance(290_000);
    expect((await send(req)).code).toBe('RELAY_REPLAYED');
    clock.advance(-290_000);
  });

  it('refuses the replay of every signed route, whether the original was answered or refused, with nothing changed', async () => {
    // A member of its own, so that replaying its deletes touches no other test's state.
    const aunt = member('aunt');
    await c.createMailbox(aunt);
    await c.allow(aunt, gran);
    await c.allow(gran, aunt);
    const toAunt = envelope(gran, [aunt]);
    expect((await c.call(gran.id, 'PUT', relayPaths.upload(toAunt.id, [aunt.mailbox]), toAunt.bytes)).status).toBe(201);
    const fromAunt = envelope(aunt, [gran]);
    const notAllowed = envelope(aunt, [child]); // the child's mailbox does not accept the aunt
    const mid = toAunt.id;
    const steps: { method: 'GET' | 'PUT' | 'POST' | 'DELETE'; url: string; body?: object | Uint8Array; status: number }[] = [
      { method: 'PUT', url: relayPaths.mailbox(aunt.mailbox), body: { signPublicKey: toHex(aunt.id.signPublicKey), boxPublicKey: toHex(aunt.id.boxPublicKey) }, status: 200 },
      { method: 'GET', url: relayPaths.mailbox(aunt.mailbox), status: 200 },
      { method: 'PUT', url: relayPaths.sender(aunt.mailbox, toHex(child.id.signPublicKey)), status: 200 },
      { method: 'DELETE', url: relayPaths.sender(aunt.mailbox, toHex(child.id.signPublicKey)), status: 200 },
      { method: 'PUT', url: relayPaths.upload(fromAunt.id, [gran.mailbox]), body: fromAunt.bytes, status: 201 },
      { method: 'PUT', url: relayPaths.upload(notAllowed.id, [child.mailbox]), body: notAllowed.bytes, status: 403 },
      { method: 'GET', url: relayPaths.pending(aunt.mailbox), status: 200 },
      { method: 'GET', url: relayPaths.envelope(aunt.mailbox, mid), status: 200 },
      { method: 'POST', url: relayPaths.receipt(aunt.mailbox, mid), body: { signature: Buffer.from(signDeliveryReceipt(aunt.id, mid, toAunt.bytes)).toString('base64') }, status: 200 },
      { method: 'POST', url: relayPaths.receipt(aunt.mailbox, mid), body: { signature: Buffer.from(signDeliveryReceipt(aunt.id, mid, toAunt.bytes)).toString('base64') }, status: 404 },
      { method: 'DELETE', url: relayPaths.envelope(aunt.mailbox, 'cd'.repeat(16)), status: 404 },
      { method: 'GET', url: relayPaths.receipts(), status: 200 },
      { method: 'DELETE', url: relayPaths.receiptsOf(fromAunt.id), status: 200 },
      { method: 'DELETE', url: relayPaths.mailbox(aunt.mailbox), status: 200 },
    ];
    for (const step of steps) {
      const req = signed(aunt.id, step.method, step.url, step.body, { clock });
      expect((await send(req)).status, `${step.method} ${step.url}`).toBe(step.status);
      const again = await send(req);
      expect(again, `replay of ${step.method} ${step.url}`).toMatchObject({ status: 401, code: 'RELAY_REPLAYED' });
    }
    // The uploads stored once: the gran holds the aunt's envelope once, the child nothing from her.
    const pending = (await c.list(gran)).json as { envelopes: { messageId: string }[] };
    expect(pending.envelopes.filter((e) => e.messageId === fromAunt.id)).toHaveLength(1);
    expect(((await c.list(child)).json as { envelopes: { messageId: string }[] }).envelopes.map((e) => e.messageId)).not.toContain(notAllowed.id);
  });

  it('of concurrent copies of one signed upload, receipt or discard, exactly one takes effect; the others are RELAY_REPLAYED', async () => {
    const uncle = member('uncle');
    await c.createMailbox(uncle);
    await c.allow(uncle, gran);
    const e = envelope(gran, [uncle]);
    const up = signed(gran.id, 'PUT', relayPaths.upload(e.id, [uncle.mailbox]), e.bytes, { clock });
    const ups = await Promise.all(Array.from({ length: 6 }, () => send(up)));
    expect(ups.filter((r) => r.status === 201)).toHaveLength(1);
    expect(ups.filter((r) => r.code === 'RELAY_REPLAYED')).toHaveLength(5);
    const sig = Buffer.from(signDeliveryReceipt(uncle.id, e.id, e.bytes)).toString('base64');
    const ack = signed(uncle.id, 'POST', relayPaths.receipt(uncle.mailbox, e.id), { signature: sig }, { clock });
    const acks = await Promise.all(Array.from({ length: 6 }, () => send(ack)));
    expect(acks.filter((r) => r.status === 200)).toHaveLength(1);
    expect(acks.filter((r) => r.code === 'RELAY_REPLAYED')).toHaveLength(5);
    const e2 = envelope(gran, [uncle]);
    expect((await c.call(gran.id, 'PUT', relayPaths.upload(e2.id, [uncle.mailbox]), e2.bytes)).status).toBe(201);
    const discard = signed(uncle.id, 'DELETE', relayPaths.envelope(uncle.mailbox, e2.id), undefined, { clock });
    const discards = await Promise.all(Array.from({ length: 6 }, () => send(discard)));
    expect(discards.filter((r) => r.status === 200)).toHaveLength(1);
    expect(discards.filter((r) => r.code === 'RELAY_REPLAYED')).toHaveLength(5);
  });

  it('refuses a created time outside ±300 s: RELAY_CLOCK_SKEW; accepts one inside', async () => {
    const now = Math.floor(clock.now() / 1000);
    for (const [created, ok] of [
      [now - 301, false],
      [now + 301, false],
      [now - 299, true],
      [now + 299, true],
    ] as const) {
      const req = signed(gran.id, 'GET', relayPaths.pending(gran.mailbox), undefined, { created });
      const res = await send(req);
      if (ok) expect(res.code, `created ${created - now}`).toBeUndefined();
      else expect(res, `created ${created - now}`).toMatchObject({ status: 401, code: 'RELAY_CLOCK_SKEW' });
    }
  });

  it('refuses signatures that bend the profile: other label, extra or missing component, other alg or tag, bad nonce', async () => {
    const target = relayPaths.pending(gran.mailbox);
    const good = signed(gran.id, 'GET', target, undefined, { clock });
    const variants: Record<string, string>[] = [
      { 'signature-input': good.headers['signature-input']!.replace('sig1=', 'sig2='), signature: good.headers.signature!.replace('sig1=', 'sig2=') },
      { 'signature-input': good.headers['signature-input']!.replace(' "content-digest"', '') },
      { 'signature-input': good.headers['signature-input']!.replace('"content-digest")', '"content-digest" "@authority")') },
      { 'signature-input': good.headers['signature-input']!.replace('alg="ed25519"', 'alg="rsa-pss-sha512"') },
      { 'signature-input': good.headers['signature-input']!.replace('tag="plushlink-relay-v1"', 'tag="other"') },
      { 'signature-input': good.headers['signature-input']!.replace(/nonce="[^"]*"/, 'nonce="short"') },
      { 'signature-input': `${good.headers['signature-input']!}, sig2=("@method");created=1` },
      { signature: 'sig1=:AAAA:' },
      { 'signature-input': 'not a dictionary (' },
    ];
    for (const v of variants) {
      const res = await send({ ...good, headers: { ...good.headers, ...v } });
      expect(res, JSON.stringify(v)).toMatchObject({ status: 401, code: 'RELAY_BAD_SIGNATURE' });
    }
  });

  it('verifies with node:crypto yet refuses a non-canonical (malleated) signature', async () => {
    const target = relayPaths.pending(gran.mailbox);
    const good = signed(gran.id, 'GET', target, undefined, { clock });
    const sig = Buffer.from(good.headers.signature!.slice(6, -1), 'base64');
    // S + L: the same point equation holds for S + L, which a lax verifier accepts.
    const malleated = Buffer.from(malleate(sig));
    const res = await send({ ...good, headers: { ...good.headers, signature: `sig1=:${malleated.toString('base64')}:` } });
    expect(res).toMatchObject({ status: 401, code: 'RELAY_BAD_SIGNATURE' });
    expect((await send(good)).status).toBe(200);
  });
});

describe('requests under a small-order keyid (docs/PROTOCOL.md §18, docs/RELAY.md §3.3 step 2)', () => {
  const TORSION = torsionPoints();
  /** Two of the small-order keys: the point of order 4 with y = 0, and the neutral point. */
  const ZERO_KEY = new Uint8Array(32);
  const NEUTRAL_KEY = Uint8Array.from([1, ...new Array<number>(31).fill(0)]);
  let nonceCounter = 0;

  /**
   * A whole request forged under `key` by someone who holds no secret key at all: the request is
   * built as `signed` builds it (the keyid is `key`; the throwaway signature is replaced), and the
   * nonce varied until OpenSSL's raw Ed25519 verify (node:crypto, no plushlink policy) accepts
   * R ‖ 0 over the signature base, R one of the eight small-order points.
   */
  function tryForge(key: Uint8Array, method: SignedInject['method'], target: string, body?: Uint8Array | object, tries = 64) {
    const throwaway = member('attacker').id;
    for (let i = 0; i < tries; i++) {
      // A fresh nonce every time, so that no test's request is another's replay.
      const nonce = new Uint8Array(16);
      new DataView(nonce.buffer).setUint32(0, nonceCounter++);
      const req = signed({ ...throwaway, signPublicKey: key }, method, target, body, { clock, nonce });
      expect(req.headers['signature-input']).toContain(`keyid="${toHex(key)}"`);
      const requestBody = new Uint8Array(req.payload ?? new Uint8Array(0));
      const f = forgeRequestSignature(key, { method, target, body: requestBody }, req.headers, nodeCryptoBackend.ed25519Verify, TORSION);
      if (f === undefined) continue;
      return { req: { ...req, headers: f.headers }, base: f.base, signature: f.signature, nonce: req.headers['signature-input']!.match(/nonce="([^"]*)"/)![1]!, body: requestBody };
    }
    return undefined;
  }
  function forge(key: Uint8Array, method: SignedInject['method'], target: string, body?: Uint8Array | object) {
    const f = tryForge(key, method, target, body);
    if (f === undefined) throw new Error(`no forgery under ${toHex(key)} in 64 nonces`);
    return f;
  }

  /** The forged signature is one a plain Ed25519 verifier takes: only the policy refuses it. */
  function expectRawAccepts(key: Uint8Array, f: NonNullable<ReturnType<typeof tryForge>>): void {
    expect(nodeCryptoBackend.ed25519Verify(key, f.base, f.signature)).toBe(true);
  }

  it('a mailbox created under keyid 00…00 by a forged request: 401 RELAY_BAD_SIGNATURE, no mailbox, no nonce spent', async () => {
    const mallory = member('mallory');
    const keys = { signPublicKey: ZERO_KEY, boxPublicKey: mallory.id.boxPublicKey };
    const mailboxId = mailboxIdOf(keys);
    const f = forge(ZERO_KEY, 'PUT', relayPaths.mailbox(mailboxId), { signPublicKey: toHex(ZERO_KEY), boxPublicKey: toHex(keys.boxPublicKey) });
    expectRawAccepts(ZERO_KEY, f);
    const res = await send(f.req);
    expect(res).toMatchObject({ status: 401, code: 'RELAY_BAD_SIGNATURE' });
    expect(res.type).toContain('application/problem+json');
    expect(await relay.store.getMailbox(mailboxId)).toBeUndefined();
    expect(await relay.store.nonceSpent(toHex(ZERO_KEY), f.nonce)).toBe(false);
    // The same steps with a real key create the mailbox (so the refusal was about the key).
    expect((await c.createMailbox(mallory)).status).toBe(201);
  });

  it('every encoding of a small-order point the raw verifier takes a forgery under is refused on mailbox creation', async () => {
    const forgedUnder = new Set<string>();
    for (const key of smallOrderEncodings(TORSION)) {
      const mailboxId = mailboxIdOf({ signPublicKey: key, boxPublicKey: gran.id.boxPublicKey });
      const f = tryForge(key, 'PUT', relayPaths.mailbox(mailboxId), { signPublicKey: toHex(key), boxPublicKey: toHex(gran.id.boxPublicKey) }, 16);
      if (f === undefined) continue; // OpenSSL refuses this (non-canonical) encoding outright
      forgedUnder.add(toHex(key));
      expectRawAccepts(key, f);
      expect(await send(f.req), toHex(key)).toMatchObject({ status: 401, code: 'RELAY_BAD_SIGNATURE' });
      expect(await relay.store.getMailbox(mailboxId), toHex(key)).toBeUndefined();
    }
    // At least the eight canonical encodings were forged under, so the loop tested something.
    for (const t of TORSION) expect(forgedUnder, toHex(edEncode(t))).toContain(toHex(edEncode(t)));
  });

  it('a forged upload under a small-order keyid: 401 RELAY_BAD_SIGNATURE, nothing stored', async () => {
    const e = envelope(gran, [child]);
    const f = forge(NEUTRAL_KEY, 'PUT', relayPaths.upload(e.id, [child.mailbox]), e.bytes);
    expectRawAccepts(NEUTRAL_KEY, f);
    expect(await send(f.req)).toMatchObject({ status: 401, code: 'RELAY_BAD_SIGNATURE' });
    expect(await relay.store.getEnvelope(child.mailbox, e.id)).toBeUndefined();
    expect(await relay.store.nonceSpent(toHex(NEUTRAL_KEY), f.nonce)).toBe(false);
  });

  it('a mailbox that names a small-order owner (put in the store directly) cannot be read or deleted by a forged request', async () => {
    const keys = { signPublicKey: ZERO_KEY, boxPublicKey: member('old').id.boxPublicKey };
    const mailboxId = mailboxIdOf(keys);
    await relay.store.createMailbox({ mailboxId, keyId: keyIdHexOf(keys.boxPublicKey), signPublicKey: toHex(ZERO_KEY), boxPublicKey: toHex(keys.boxPublicKey), createdAt: clock.now() });
    for (const [method, target] of [
      ['GET', relayPaths.pending(mailboxId)],
      ['GET', relayPaths.mailbox(mailboxId)],
      ['DELETE', relayPaths.mailbox(mailboxId)],
    ] as const) {
      const f = forge(ZERO_KEY, method, target);
      expectRawAccepts(ZERO_KEY, f);
      expect(await send(f.req), `${method} ${target}`).toMatchObject({ status: 401, code: 'RELAY_BAD_SIGNATURE' });
    }
    expect(await relay.store.getMailbox(mailboxId)).toBeDefined();
  });
});
