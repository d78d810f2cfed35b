/**
 * The reference companion and toy on what PROTOCOL.md v1.1 made exact about advertisements and
 * names: how a companion classifies an advertisement by its flags (flags 0x00 is nobody's toy,
 * §12), what changes together when the toy re-advertises (§12, "What changes together"), and which
 * display name a companion sends and the toy keeps (§7, "Which display name").
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Companion } from '../../../src/companion/companion.js';
import { MemoryKeystore } from '../../../src/companion/keystore.js';
import { fromHex, toHex } from '../../../src/protocol/bytes.js';
import { advertisingSlot, advertisingTag, resolveAdvertisingTag } from '../../../src/protocol/advertising.js';
import { generateX25519KeyPair } from '../../../src/protocol/crypto.js';
import { MemoryRadio } from '../../../src/transport/memory/index.js';
import type { ToyAction } from '../../../src/toy/types.js';
import { makeRig, type Rig } from '../../helpers/rig.js';
import { FakeCentral, T0, companionHandshake, newToy } from '../../property/helpers/toy-harness.js';

let rig: Rig | undefined;
const radios: MemoryRadio[] = [];
afterEach(async () => {
  await rig?.close();
  rig = undefined;
  for (const r of radios.splice(0)) await r.close();
});

const adverts = (actions: ToyAction[]) => actions.filter((a): a is Extract<ToyAction, { type: 'advertise' }> => a.type === 'advertise');

describe('classifying an advertisement (PROTOCOL.md §12)', () => {
  it('by the flags: 0x00 is an unpaired toy (nobody\'s), 0x01 / 0x03 in pairing mode, 0x02 unresolved is someone else\'s', async () => {
    const radio = new MemoryRadio();
    radios.push(radio);
    const app = await Companion.open({ central: radio.createCentral(), keystore: new MemoryKeystore() });
    const tag = [1, 2, 3, 4, 5, 6, 7, 8];
    const at = (flags: number) => app.classify({ id: 'x', serviceData: Uint8Array.from([flags, ...tag]) });
    expect(at(0x00)).toEqual({ kind: 'unpaired', transportId: 'x' });
    expect(at(0x01)).toEqual({ kind: 'pairing', transportId: 'x', owned: false });
    expect(at(0x03)).toEqual({ kind: 'pairing', transportId: 'x', owned: true });
    expect(at(0x02)).toEqual({ kind: 'someone-elses', transportId: 'x' });
    expect(at(0x04)).toBeUndefined(); // reserved bits: not a plushlink advertisement
  });
});

describe('what changes together (PROTOCOL.md §12)', () => {
  it('an unowned toy: every advertisement whose flags change has a new address and a fresh random tag', () => {
    const { toy } = newToy();
    const seen = [...adverts(toy.button('hold', T0 + 1)), ...adverts(toy.tick(T0 + 1 + 120_000)), ...adverts(toy.button('hold', T0 + 130_000))];
    expect(seen.map((a) => a.serviceData[0])).toEqual([1, 0, 1]);
    expect(seen.every((a) => a.newAddress === true)).toBe(true);
    const tags = seen.map((a) => toHex(a.serviceData.subarray(1)));
    expect(new Set(tags).size).toBe(3);
  });

  it('an owned toy: a flag change within a slot moves the address and the tag (the slot\'s change counter), its companion still resolves both; a new slot starts the counter again', () => {
    const { toy, identity, code } = newToy();
    toy.button('hold', T0);
    const c = new FakeCentral(toy, 'owner');
    c.connect(T0);
    const hs = companionHandshake(c, 'pair', generateX25519KeyPair(), identity.publicKey, code, T0, 'owner');
    const owned = adverts(hs.actions).at(-1)!;
    expect(owned.serviceData[0]).toBe(0x02);
    c.send('control', hs.channel!.sealControl({ type: 'allow-guest-pairing', id: 2 }), T0 + 1);
    const open = adverts(toy.button('hold', T0 + 2));
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ newAddress: true });
    expect(open[0]!.serviceData[0]).toBe(0x03);
    const key = fromHex(toy.persistentState.advertisingKey!);
    const slot = advertisingSlot(T0);
    // the slot's first advertisement was the unowned toy's; the pairing was the first change
    expect(toHex(owned.serviceData.subarray(1))).toBe(toHex(advertisingTag(key, slot, 1)));
    expect(toHex(open[0]!.serviceData.subarray(1))).toBe(toHex(advertisingTag(key, slot, 2)));
    // the window closes within the slot: back to flags 0x02, under a third tag (not the first one again)
    const closed = adverts(toy.tick(T0 + 2 + 120_000));
    expect(closed).toHaveLength(1);
    expect(closed[0]).toMatchObject({ newAddress: true });
    expect(closed[0]!.serviceData[0]).toBe(0x02);
    expect(toHex(closed[0]!.serviceData.subarray(1))).toBe(toHex(advertisingTag(key, slot, 3)));
    for (const a of [owned, open[0]!, closed[0]!]) expect(resolveAdvertisingTag(a.serviceData.subarray(1), [key], T0)).toBe(0);
    const nextSlot = (slot + 1) * 600_000;
    const rotated = adverts(toy.tick(nextSlot));
    expect(rotated).toHaveLength(1);
    expect(rotated[0]).toMatchObject({ newAddress: true });
    expect(toHex(rotated[0]!.serviceData.subarray(1))).toBe(toHex(advertisingTag(key, slot + 1, 0)));
  });
});

describe('which display name (PROTOCOL.md §7)', () => {
  it('the toy keeps the pairing hello\'s name and ignores a reconnect hello\'s; the companion sends its keystore\'s name, which CompanionOptions.displayName replaces', async () => {
    rig = await makeRig();
    const keystore = new MemoryKeystore();
    const first = await rig.newCompanion('Mum', 247, { keystore });
    rig.toy.pressButton('hold');
    const s = await first.pair(rig.toyId, rig.qr);
    await s.close();
    expect(rig.toy.core.pairings.map((p) => p.displayName)).toEqual(['Mum']);
    // the same companion (same keystore) under a new name: stored, sent, and ignored by the toy on reconnect
    const renamed = await rig.newCompanion('Mother', 247, { keystore });
    expect((await keystore.load())!.displayName).toBe('Mother');
    const names: string[] = [];
    rig.toy.on('log', (e) => e.kind === 'session' && names.push(e.displayName));
    const r = await renamed.connect(renamed.toys()[0]!, { transportId: rig.toyId });
    expect(rig.toy.core.pairings.map((p) => p.displayName)).toEqual(['Mum']);
    expect(names).toEqual(['Mum']);
    await r.close();
    // a companion opened without a name keeps the stored one
    await rig.newCompanion(undefined, 247, { keystore, displayName: undefined });
    expect((await keystore.load())!.displayName).toBe('Mother');
  });
});
