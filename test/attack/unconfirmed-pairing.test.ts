/**
 * A party that is not on the toy's allow-list never holds a current advertising key (SECURITY.md
 * property 6; PROTOCOL.md §6.3, §6.4, §10.4). Someone holding the label can send PAIR_M1 inside
 * a window and read PAIR_M2 without ever confirming: no failure is counted and LIST_PAIRINGS
 * never shows them, so the key must not reach them — not in the hello, not in any record before
 * the confirmation. The toy sends the key (ADVERTISING_KEY) only once the pairing took effect.
 */
import { describe, expect, it } from 'vitest';
import { bytesEqual, fromHex } from '../../src/protocol/bytes.js';
import { SecureChannel } from '../../src/protocol/channel.js';
import { generateX25519KeyPair } from '../../src/protocol/crypto.js';
import { CompanionHandshake } from '../../src/protocol/handshake.js';
import { encodeWire, type WireMessage } from '../../src/protocol/wire.js';
import { encodeControl, type ControlMessage } from '../../src/protocol/control.js';
import { FakeCentral, newToy, T0 } from '../property/helpers/toy-harness.js';

/** Every control message `central` received inside its session, opened with the companion's keys. */
function opened(central: FakeCentral, channel: SecureChannel): ControlMessage[] {
  return central.received.filter((m): m is Extract<WireMessage, { kind: 'record' }> => m.kind === 'record').map((m) => channel.openControl(m.record));
}

/** True when `key` occurs anywhere in `bytes`. */
function contains(bytes: Uint8Array, key: Uint8Array): boolean {
  for (let i = 0; i + key.length <= bytes.length; i++) if (bytesEqual(bytes.subarray(i, i + key.length), key)) return true;
  return false;
}

/** Sends PAIR_M1 and reads PAIR_M2 as the companion; does not confirm. */
function pairM1(central: FakeCentral, toyKey: Uint8Array, code: NonNullable<NonNullable<Parameters<typeof newToy>[0]>['setupCode']>, now: number) {
  const hs = new CompanionHandshake('pair', { companion: generateX25519KeyPair(), toyPublicKey: toyKey, hello: { displayName: central.id }, setupCode: code });
  central.send('control', encodeWire({ kind: 'pair-m1', noise: hs.message1 }), now);
  const reply = central.last();
  expect(reply?.kind).toBe('pair-m2');
  const { toy, keys } = hs.readMessage2((reply as Extract<WireMessage, { kind: 'pair-m2' }>).noise);
  return { hello: toy, channel: new SecureChannel(keys) };
}

describe('an unconfirmed pairing never gets the advertising key', () => {
  it('of an owned toy: PAIR_M2 carries no key, nothing before the confirmation carries it, and the confirmed owner gets it at its confirmation', () => {
    const { toy, identity, code } = newToy();
    let now = T0;
    // The owner pairs (and confirms): the toy now holds an advertising key.
    toy.button('hold', now);
    const owner = new FakeCentral(toy, 'owner');
    owner.connect(now);
    const o = pairM1(owner, identity.publicKey, code, now);
    expect(o.hello.advertisingKey).toBeUndefined();
    owner.send('control', o.channel.sealControl({ type: 'confirm', id: 1 }), now);
    const key = fromHex(toy.persistentState.advertisingKey!);
    // the owner learns it at its confirmation, in its session
    expect(opened(owner, o.channel).filter((m) => m.type === 'advertising-key')).toEqual([{ type: 'advertising-key', id: 0, advertisingKey: key }]);

    // The label holder, in a guest window the owner opened, pairs but never confirms.
    now += 1000;
    owner.send('control', o.channel.sealControl({ type: 'allow-guest-pairing', id: 2 }), now);
    toy.button('hold', now);
    const stranger = new FakeCentral(toy, 'label holder');
    stranger.connect(now);
    const s = pairM1(stranger, identity.publicKey, code, now);
    expect(s.hello.advertisingKey).toBeUndefined();
    // the deadline ends it; whatever it was sent, none of it holds the key
    now += 6000;
    stranger.absorb(toy.tick(now));
    expect(stranger.disconnected).toBe(true);
    const got = opened(stranger, s.channel);
    for (const m of got) expect(contains(encodeControl(m), key)).toBe(false);
    expect(got.map((m) => m.type)).not.toContain('advertising-key');
    expect(toy.pairings).toHaveLength(1);
  });

  it('of a toy without pairings: the key is drawn at the confirmation; two unconfirmed label holders before the owner learn nothing of it', () => {
    const { toy, identity, code } = newToy();
    let now = T0;
    toy.button('hold', now);
    const ghosts = ['ghost 1', 'ghost 2'].map((id) => {
      const c = new FakeCentral(toy, id);
      c.connect(now);
      return { c, ...pairM1(c, identity.publicKey, code, now) };
    });
    for (const g of ghosts) expect(g.hello.advertisingKey).toBeUndefined();
    expect(toy.persistentState.advertisingKey).toBeUndefined(); // nothing drawn, nothing stored yet
    now += 100;
    const owner = new FakeCentral(toy, 'owner');
    owner.connect(now);
    const o = pairM1(owner, identity.publicKey, code, now);
    owner.send('control', o.channel.sealControl({ type: 'confirm', id: 1 }), now);
    const key = toy.persistentState.advertisingKey!;
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    const sent = opened(owner, o.channel).filter((m) => m.type === 'advertising-key');
    expect(sent).toHaveLength(1);
    // The ghosts: a late CONFIRM is refused (the window closed), and neither ever got the key.
    for (const g of ghosts) {
      g.c.send('control', g.channel.sealControl({ type: 'confirm', id: 1 }), now);
      expect(g.c.disconnected).toBe(true);
      const msgs = opened(g.c, g.channel);
      expect(msgs.map((m) => m.type)).toEqual(['goodbye']);
      for (const m of msgs) expect(contains(encodeControl(m), fromHex(key))).toBe(false);
    }
    expect(toy.pairings.map((p) => p.displayName)).toEqual(['owner']);
  });
});
