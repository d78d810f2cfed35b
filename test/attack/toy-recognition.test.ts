/**
 * Active recognition (PROTOCOL.md §13.4, §14.3): a central that knows a toy's static public
 * key — a removed companion, or anyone who read the toy's QR label or its INFO_RESPONSE — must
 * not learn from the toy's refusal that it has found that toy. It can build a reconnect
 * message 1 that only this toy can read; the toy reads it, sees a companion key that is not on
 * its allow-list, and must refuse it exactly as any toy refuses a message 1 it cannot read:
 * the same bytes on the air, the same disconnect, the same X25519 work (so no timing
 * difference), and nothing stored.
 */
import nacl from 'tweetnacl';
import { afterEach, describe, expect, it } from 'vitest';
import { bytesEqual } from '../../src/protocol/bytes.js';
import { companionKeyId } from '../../src/protocol/control.js';
import { generateX25519KeyPair, type X25519KeyPair } from '../../src/protocol/crypto.js';
import { isPlushlinkError } from '../../src/protocol/errors.js';
import { CompanionHandshake, toyReadMessage1 } from '../../src/protocol/handshake.js';
import { advertisingSlot } from '../../src/protocol/advertising.js';
import type { ToyCore } from '../../src/toy/toy-core.js';
import type { ToyAction } from '../../src/toy/types.js';
import { FakeCentral, T0, companionHandshake, newToy } from '../property/helpers/toy-harness.js';

/** Counts X25519 scalar multiplications (DH and key generation) made through tweetnacl. */
class X25519Counter {
  dh = 0;
  private readonly orig = nacl.scalarMult;
  constructor() {
    const orig = this.orig;
    nacl.scalarMult = Object.assign((n: Uint8Array, p: Uint8Array): Uint8Array => {
      this.dh++;
      return orig(n, p);
    }, orig);
  }
  restore(): void {
    nacl.scalarMult = this.orig;
  }
}

let counter: X25519Counter | undefined;
afterEach(() => {
  counter?.restore();
  counter = undefined;
});

let serial = 0;

/** What a central observes when it sends a reconnect message 1 built for `toyKey`: the toy's sends and disconnect, and the toy's DH count. */
function probe(toy: ToyCore, companion: X25519KeyPair, toyKey: Uint8Array, now: number, slotTime?: number): { sends: { characteristic: string; value: string }[]; disconnected: boolean; dh: number; reply: string | undefined } {
  const central = new FakeCentral(toy, `probe#${serial++}`);
  central.connect(now);
  const hs = new CompanionHandshake('reconnect', { companion, toyPublicKey: toyKey, hello: { displayName: 'probe' }, slot: advertisingSlot(slotTime ?? now) });
  const wire = hs.wireMessage1();
  counter = new X25519Counter();
  const actions: ToyAction[] = central.send('control', wire, now);
  const dh = counter.dh;
  counter.restore();
  counter = undefined;
  const sends = actions.filter((a): a is Extract<ToyAction, { type: 'send' }> => a.type === 'send' && a.connection === central.id).map((a) => ({ characteristic: a.characteristic, value: Buffer.from(a.value).toString('hex') }));
  const last = central.last();
  return { sends, disconnected: central.disconnected, dh, reply: last?.kind === 'error' ? last.refusal : last?.kind };
}

/** A toy with an owner and a guest (granted by the owner), paired in two windows. */
function ownedToy(): { toy: ToyCore; identity: X25519KeyPair; owner: X25519KeyPair; guest: X25519KeyPair } {
  const { toy, identity, code } = newToy();
  const owner = generateX25519KeyPair();
  const guest = generateX25519KeyPair();
  toy.button('hold', T0);
  const c1 = new FakeCentral(toy, 'owner');
  c1.connect(T0);
  const o = companionHandshake(c1, 'pair', owner, identity.publicKey, code, T0 + 10, 'owner');
  expect(o.reply?.kind).toBe('pair-m2');
  c1.send('control', o.channel!.sealControl({ type: 'allow-guest-pairing', id: 2 }), T0 + 20);
  toy.disconnect('owner', T0 + 30);
  toy.button('hold', T0 + 40);
  const c2 = new FakeCentral(toy, 'guest');
  c2.connect(T0 + 50);
  expect(companionHandshake(c2, 'pair', guest, identity.publicKey, code, T0 + 50, 'guest').reply?.kind).toBe('pair-m2');
  toy.disconnect('guest', T0 + 60);
  expect(toy.pairings.map((p) => p.role).sort()).toEqual(['guest', 'owner']);
  return { toy, identity, owner, guest };
}

describe('a central that knows the toy public key cannot tell it found the toy', () => {
  it('an unknown companion key in a message 1 this toy can read is refused exactly like a message 1 made for another toy: same bytes, same disconnect, same X25519 work', () => {
    const { toy, identity } = ownedToy();
    const before = structuredClone(toy.persistentState);
    const refusals = { ...toy.refusals };
    const stranger = generateX25519KeyPair();
    const otherToy = generateX25519KeyPair();

    const readable = probe(toy, stranger, identity.publicKey, T0 + 1000);
    const foreign = probe(toy, stranger, otherToy.publicKey, T0 + 2000);

    expect(readable.reply).toBe('HANDSHAKE_FAILED');
    expect(readable.sends).toEqual(foreign.sends);
    expect(readable.disconnected).toBe(true);
    expect(foreign.disconnected).toBe(true);
    // es only: the allow-list is checked before ss, so an unknown key costs what garbage costs
    expect(readable.dh).toBe(1);
    expect(foreign.dh).toBe(readable.dh);
    expect(toy.persistentState).toEqual(before);
    // the toy's own log still tells the two apart
    expect(toy.refusals['not-paired']).toBe(refusals['not-paired'] + 1);
    expect(toy.refusals['bad-handshake']).toBe(refusals['bad-handshake'] + 1);
    expect(toy.sessionCount).toBe(0);
  });

  it('a removed guest gets the refusal a stranger gets, while the owner still reconnects', () => {
    const { toy, identity, owner, guest } = ownedToy();
    const foreignBefore = probe(toy, generateX25519KeyPair(), generateX25519KeyPair().publicKey, T0 + 1000);

    const c = new FakeCentral(toy, 'owner-again');
    c.connect(T0 + 2000);
    const s = companionHandshake(c, 'reconnect', owner, identity.publicKey, undefined, T0 + 2000, 'owner');
    expect(s.reply?.kind).toBe('reconnect-m2');
    c.send('control', s.channel!.sealControl({ type: 'remove-pairing', id: 2, keyId: companionKeyId(guest.publicKey) }), T0 + 2010);
    expect(toy.pairings.map((p) => p.role)).toEqual(['owner']);
    toy.disconnect('owner-again', T0 + 2020);

    const removed = probe(toy, guest, identity.publicKey, T0 + 3000);
    expect(removed.reply).toBe('HANDSHAKE_FAILED');
    expect(removed.sends).toEqual(foreignBefore.sends);
    expect(removed.dh).toBe(foreignBefore.dh);

    // the paired owner's reconnect does the full IK work and gets message 2
    const ok = probe(toy, owner, identity.publicKey, T0 + 4000);
    expect(ok.reply).toBe('reconnect-m2');
    expect(ok.dh).toBeGreaterThan(removed.dh);
  });
});

describe('a recorded message 1 of a paired companion recognises the toy only within its slot (PROTOCOL.md §6.1, §14.3)', () => {
  it('bound to a slot two or more slots away from the toy\'s clock, the owner\'s own message 1 is refused like a foreign one: same bytes, same disconnect, same X25519 work', () => {
    const { toy, identity, owner } = ownedToy();
    const SLOT = 600_000;
    const now = T0 + 10 * SLOT;
    const foreign = probe(toy, owner, generateX25519KeyPair().publicKey, now);
    expect(foreign.reply).toBe('HANDSHAKE_FAILED');
    for (const madeAt of [now - 2 * SLOT, now + 2 * SLOT, now - 30 * 24 * 3600_000]) {
      const stale = probe(toy, owner, identity.publicKey, now, madeAt);
      expect(stale.reply).toBe('HANDSHAKE_FAILED');
      expect(stale.sends).toEqual(foreign.sends);
      expect(stale.disconnected).toBe(true);
      expect(stale.dh).toBe(foreign.dh);
    }
    // within one slot either way it is the owner's reconnect
    for (const madeAt of [now - SLOT, now, now + SLOT]) expect(probe(toy, owner, identity.publicKey, now, madeAt).reply).toBe('reconnect-m2');
  });
});

describe('toyReadMessage1 acceptCompanion', () => {
  it('is asked with the companion key before the ss DH and refuses with NOT_PAIRED; without it any readable key passes', () => {
    const toy = generateX25519KeyPair();
    const companion = generateX25519KeyPair();
    const m1 = new CompanionHandshake('reconnect', { companion, toyPublicKey: toy.publicKey, hello: { displayName: 'c' } }).message1;
    const asked: Uint8Array[] = [];
    counter = new X25519Counter();
    let err: unknown;
    try {
      toyReadMessage1('reconnect', m1, {
        toy,
        acceptCompanion: (k) => {
          asked.push(k);
          return false;
        },
      });
    } catch (e) {
      err = e;
    }
    expect(isPlushlinkError(err, 'NOT_PAIRED')).toBe(true);
    expect(asked.length).toBe(1);
    expect(bytesEqual(asked[0]!, companion.publicKey)).toBe(true);
    expect(counter.dh).toBe(1);
    counter.dh = 0;
    const read = toyReadMessage1('reconnect', m1, { toy, acceptCompanion: () => true });
    expect(bytesEqual(read.companionPublicKey, companion.publicKey)).toBe(true);
    expect(counter.dh).toBe(2);
  });
});
