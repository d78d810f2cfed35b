/**
 * Attacks on mailboxes (docs/RELAY.md §2, §4, §8): a stranger writing to a child, another
 * family's mailbox, re-addressed and re-signed envelopes, squatting a mailbox, guessing envelope
 * ids, forged receipts. Each is refused with the code that names the reason, and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayServer } from '@plushlink/relay';
import { fromHex, toHex } from '../../src/protocol/bytes.js';
import { x25519 } from '../../src/protocol/crypto.js';
import { LOW_ORDER_X25519_HEX, smallOrderEncodings, torsionPoints } from '../helpers/ed25519-torsion.js';
import { codeOf } from '../helpers/errors.js';
import { mailboxIdOf, relayPaths, sealVoiceMessage } from '../../src/messages/index.js';
import { InjectClient, TestClock, envelope, member, prepareBackend, startRelay, type Member, type StoreFactory } from '../helpers/relay.js';

let factory: StoreFactory;
let relay: RelayServer;
let c: InjectClient;
let child: Member;
let gran: Member;
let stranger: Member;

beforeAll(async () => {
  const f = await prepareBackend('sqlite');
  if ('skip' in f) throw new Error(f.skip);
  factory = f;
  const clock = new TestClock();
  relay = await startRelay(await factory.open(), clock);
  c = new InjectClient(relay, clock);
  child = member('child');
  gran = member('gran');
  stranger = member('stranger');
  for (const m of [child, gran, stranger]) expect((await c.createMailbox(m)).status).toBe(201);
  await c.allow(child, gran);
  await c.allow(gran, child);
});
afterAll(async () => {
  await relay.close();
  await factory.cleanup();
});

async function childInbox(): Promise<unknown[]> {
  return ((await c.list(child)).json as { envelopes: unknown[] }).envelopes;
}

describe('who may write to a child', () => {
  it('a stranger cannot put a message in the child\'s mailbox: RELAY_SENDER_NOT_ALLOWED, nothing stored', async () => {
    const e = envelope(stranger, [child]);
    const r = await c.upload(stranger, e.bytes, e.id, [child]);
    expect(r).toMatchObject({ status: 403, code: 'RELAY_SENDER_NOT_ALLOWED' });
    expect(await childInbox()).toEqual([]);
    expect(await relay.store.getEnvelope(child.mailbox, e.id)).toBeUndefined();
  });

  it('an upload to several mailboxes is refused whole when one of them does not allow the sender', async () => {
    await c.allow(stranger, gran);
    const e = envelope(gran, [stranger, child]);
    // The child allows gran, the stranger allows gran: fine. Now the child removes gran first.
    await c.call(child.id, 'DELETE', relayPaths.sender(child.mailbox, toHex(gran.id.signPublicKey)));
    const r = await c.upload(gran, e.bytes, e.id, [stranger, child]);
    expect(r.code).toBe('RELAY_SENDER_NOT_ALLOWED');
    expect(((await c.list(stranger)).json as { envelopes: unknown[] }).envelopes).toEqual([]);
    await c.allow(child, gran);
  });

  it('only the owner manages the allow-list: a stranger cannot add itself', async () => {
    const r = await c.call(stranger.id, 'PUT', relayPaths.sender(child.mailbox, toHex(stranger.id.signPublicKey)));
    expect(r).toMatchObject({ status: 403, code: 'RELAY_NOT_OWNER' });
    const e = envelope(stranger, [child]);
    expect((await c.upload(stranger, e.bytes, e.id, [child])).code).toBe('RELAY_SENDER_NOT_ALLOWED');
  });

  it("a family member's envelope uploaded by someone else: RELAY_SIGNER_NOT_SENDER", async () => {
    const e = envelope(gran, [child]);
    const r = await c.call(stranger.id, 'PUT', relayPaths.upload(e.id, [child.mailbox]), e.bytes);
    expect(r).toMatchObject({ status: 403, code: 'RELAY_SIGNER_NOT_SENDER' });
    expect(await childInbox()).toEqual([]);
  });

  it('a re-signed envelope (modified and signed by the stranger) is the stranger\'s, and refused as such', async () => {
    const e = envelope(gran, [child]);
    const forged = Uint8Array.from(e.bytes);
    forged.set(stranger.id.signPublicKey, 29); // the sender field
    const resealed = sealVoiceMessage({ audio: new Uint8Array(200), from: stranger.id, to: [child.pub], messageId: e.id });
    expect((await c.call(stranger.id, 'PUT', relayPaths.upload(e.id, [child.mailbox]), forged)).code).toBe('RELAY_BAD_ENVELOPE');
    expect((await c.call(stranger.id, 'PUT', relayPaths.upload(e.id, [child.mailbox]), resealed)).code).toBe('RELAY_SENDER_NOT_ALLOWED');
    expect(await childInbox()).toEqual([]);
  });

  it('a re-addressed envelope (a mailbox not among its signed recipients): RELAY_BAD_ADDRESSING', async () => {
    await c.allow(stranger, gran);
    const e = envelope(gran, [child]);
    const r = await c.upload(gran, e.bytes, e.id, [stranger]);
    expect(r).toMatchObject({ status: 422, code: 'RELAY_BAD_ADDRESSING' });
    expect(((await c.list(stranger)).json as { envelopes: unknown[] }).envelopes).toEqual([]);
  });

  it('a mailbox cannot be opened for somebody else\'s keys, nor under an id the keys do not give', async () => {
    const victim = member('victim');
    const body = { signPublicKey: toHex(victim.id.signPublicKey), boxPublicKey: toHex(victim.id.boxPublicKey) };
    expect((await c.call(stranger.id, 'PUT', relayPaths.mailbox(victim.mailbox), body)).code).toBe('RELAY_NOT_OWNER');
    // The stranger's own signing key with the victim's box key gives another mailbox id, which
    // no sender who knows the victim's family key would address.
    const squat = { signPublicKey: toHex(stranger.id.signPublicKey), boxPublicKey: toHex(victim.id.boxPublicKey) };
    const squatId = mailboxIdOf({ signPublicKey: stranger.id.signPublicKey, boxPublicKey: victim.id.boxPublicKey });
    expect(squatId).not.toBe(victim.mailbox);
    expect((await c.call(stranger.id, 'PUT', relayPaths.mailbox(victim.mailbox), squat)).code).toBe('RELAY_BAD_REQUEST');
    expect(await relay.store.getMailbox(victim.mailbox)).toBeUndefined();
  });
});

describe("another family's mailbox", () => {
  it('refuses every mailbox operation by anyone but the owner: RELAY_NOT_OWNER', async () => {
    const e = envelope(gran, [child]);
    await c.allow(child, gran);
    expect((await c.upload(gran, e.bytes, e.id, [child])).status).toBe(201);
    const calls: [string, 'GET' | 'PUT' | 'POST' | 'DELETE', string, object?][] = [
      ['info', 'GET', relayPaths.mailbox(child.mailbox)],
      ['delete', 'DELETE', relayPaths.mailbox(child.mailbox)],
      ['list', 'GET', relayPaths.pending(child.mailbox)],
      ['fetch', 'GET', relayPaths.envelope(child.mailbox, e.id)],
      ['discard', 'DELETE', relayPaths.envelope(child.mailbox, e.id)],
      ['receipt', 'POST', relayPaths.receipt(child.mailbox, e.id), { signature: 'A'.repeat(86) + '==' }],
      ['disallow', 'DELETE', relayPaths.sender(child.mailbox, toHex(gran.id.signPublicKey))],
    ];
    for (const who of [stranger, gran]) {
      for (const [name, method, url, body] of calls) {
        const r = await c.call(who.id, method, url, body);
        expect(r, `${who.id.name} ${name}`).toMatchObject({ status: 403, code: 'RELAY_NOT_OWNER' });
      }
    }
    // Still there for the child.
    expect(await childInbox()).toHaveLength(1);
    expect((await c.receipt(child, e.id, e.bytes)).json).toEqual({ acknowledged: true });
  });

  it('envelope ids are not enumerable: a guessed id and an id delivered elsewhere answer the same', async () => {
    const e = envelope(child, [gran]);
    expect((await c.upload(child, e.bytes, e.id, [gran])).status).toBe(201);
    // The stranger, in its own mailbox, asks for the id that went to gran, and for random ids.
    const elsewhere = await c.fetch(stranger, e.id);
    const guessed = await c.fetch(stranger, 'f'.repeat(32));
    for (const r of [elsewhere, guessed]) expect(r).toMatchObject({ status: 404, code: 'RELAY_NOT_FOUND' });
    const { instance: _a, ...a } = elsewhere.json as Record<string, unknown>;
    const { instance: _b, ...b } = guessed.json as Record<string, unknown>;
    expect(a).toEqual(b);
    expect((await c.fetch(gran, e.id)).status).toBe(200);
  });

  it('a forged receipt is refused (RELAY_BAD_RECEIPT) and the delivery stays', async () => {
    const e = envelope(child, [gran]);
    await c.upload(child, e.bytes, e.id, [gran]);
    // A receipt for other bytes, and one signed by someone else.
    const other = envelope(child, [gran]);
    const wrongBytes = await c.call(gran.id, 'POST', relayPaths.receipt(gran.mailbox, e.id), {
      signature: Buffer.from((await import('../../src/messages/index.js')).signDeliveryReceipt(gran.id, e.id, other.bytes)).toString('base64'),
    });
    expect(wrongBytes).toMatchObject({ status: 422, code: 'RELAY_BAD_RECEIPT' });
    const wrongKey = await c.call(gran.id, 'POST', relayPaths.receipt(gran.mailbox, e.id), {
      signature: Buffer.from((await import('../../src/messages/index.js')).signDeliveryReceipt(stranger.id, e.id, e.bytes)).toString('base64'),
    });
    expect(wrongKey.code).toBe('RELAY_BAD_RECEIPT');
    expect(((await c.list(gran)).json as { envelopes: { messageId: string }[] }).envelopes.map((x) => x.messageId)).toContain(e.id);
    expect(((await c.call(child.id, 'GET', relayPaths.receipts())).json as { receipts: { messageId: string }[] }).receipts.map((r) => r.messageId)).not.toContain(e.id);
  });

  it('refuses malformed input with RELAY_BAD_REQUEST or RELAY_BAD_ENVELOPE, never a 500', async () => {
    const e = envelope(gran, [child]);
    const cases: [string, 'GET' | 'PUT' | 'POST' | 'DELETE', string, (object | Uint8Array)?][] = [
      ['bad id', 'GET', `/v1/mailboxes/${child.mailbox}/envelopes/XYZ`],
      ['no to', 'PUT', `/v1/envelopes/${e.id}`, e.bytes],
      ['empty to', 'PUT', `/v1/envelopes/${e.id}?to=`, e.bytes],
      ['dup to', 'PUT', relayPaths.upload(e.id, [child.mailbox, child.mailbox]), e.bytes],
      ['json upload', 'PUT', relayPaths.upload(e.id, [child.mailbox]), { not: 'bytes' }],
      ['garbage envelope', 'PUT', relayPaths.upload(e.id, [child.mailbox]), new Uint8Array(300).fill(9)],
      ['id mismatch', 'PUT', relayPaths.upload('0'.repeat(32), [child.mailbox]), e.bytes],
      ['extra field', 'PUT', relayPaths.mailbox(gran.mailbox), { signPublicKey: toHex(gran.id.signPublicKey), boxPublicKey: toHex(gran.id.boxPublicKey), admin: true }],
      ['wait too long', 'GET', `${relayPaths.pending(gran.mailbox)}?wait=3600`],
    ];
    for (const [name, method, url, body] of cases) {
      const r = await c.call(gran.id, method, url, body);
      expect(r.status, name).toBeGreaterThanOrEqual(400);
      expect(r.status, name).toBeLessThan(500);
      expect(['RELAY_BAD_REQUEST', 'RELAY_BAD_ENVELOPE', 'RELAY_NOT_FOUND'], `${name}: ${r.code}`).toContain(r.code);
    }
  });
});

describe('keys that name no one (docs/RELAY.md §4, docs/PROTOCOL.md §18)', () => {
  it('the owner cannot allow a small-order Ed25519 sender key, in any encoding: RELAY_BAD_REQUEST, allow-list unchanged', async () => {
    const before = await relay.store.listSenders(child.mailbox);
    expect(before).toContain(toHex(gran.id.signPublicKey));
    for (const key of smallOrderEncodings(torsionPoints())) {
      const r = await c.call(child.id, 'PUT', relayPaths.sender(child.mailbox, toHex(key)));
      expect(r, toHex(key)).toMatchObject({ status: 400, code: 'RELAY_BAD_REQUEST' });
      expect(await relay.store.isSenderAllowed(child.mailbox, toHex(key)), toHex(key)).toBe(false);
    }
    expect(await relay.store.listSenders(child.mailbox)).toEqual(before);
    // A real key is added by the same request (so the refusal was about the key).
    const aunt = member('aunt');
    expect((await c.allow(child, aunt)).json).toEqual({ changed: true });
    await c.call(child.id, 'DELETE', relayPaths.sender(child.mailbox, toHex(aunt.id.signPublicKey)));
  });

  it('a mailbox whose box key is a low-order X25519 point is not created: RELAY_BAD_REQUEST', async () => {
    const lowOrder = LOW_ORDER_X25519_HEX;
    const owner = member('owner');
    for (const box of lowOrder) {
      // Low order indeed: every shared secret with it is all zeros.
      expect(codeOf(() => x25519(owner.id.boxSecretKey, fromHex(box))), box).toBe('LOW_ORDER_POINT');
      // The owner signs with its real key, and the id is the one these keys give.
      const mailboxId = mailboxIdOf({ signPublicKey: owner.id.signPublicKey, boxPublicKey: fromHex(box) });
      const r = await c.call(owner.id, 'PUT', relayPaths.mailbox(mailboxId), { signPublicKey: toHex(owner.id.signPublicKey), boxPublicKey: box });
      expect(r, box).toMatchObject({ status: 400, code: 'RELAY_BAD_REQUEST' });
      expect(await relay.store.getMailbox(mailboxId), box).toBeUndefined();
    }
    // The same owner with its real box key opens its mailbox.
    expect((await c.createMailbox(owner)).status).toBe(201);
  });
});
