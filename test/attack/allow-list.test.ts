/**
 * The allow-list and revocation (docs/SECURITY.md property 5): one owner, bounded guests, only the
 * owner lists and removes others or lets a guest pair, a removed companion is cut off at once,
 * and a factory reset forgets everything.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { toHex } from '../../src/protocol/bytes.js';
import { sha512 } from '../../src/protocol/crypto.js';
import { formatSetupQr, generateSetupCode } from '../../src/protocol/setup-code.js';
import type { PlushlinkError } from '../../src/protocol/errors.js';
import type { Companion, UnpairedReason } from '../../src/companion/companion.js';
import { MemoryKeystore, type KeystoreData } from '../../src/companion/keystore.js';
import type { GoodbyeReasonName } from '../../src/protocol/control.js';
import type { ToySession } from '../../src/companion/session.js';
import type { ToyConfig } from '../../src/toy/types.js';
import { makeRig, type Rig } from '../helpers/rig.js';
import { expectOnlyRefused, snapshot, until } from '../helpers/intruder.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const keyId = (c: Companion): string => toHex(sha512(c.publicKey).slice(0, 8));

/** A companion whose keystore the test can read. */
async function tracked(r: Rig, name: string): Promise<{ app: Companion; store: MemoryKeystore }> {
  const store = new MemoryKeystore();
  return { app: await r.newCompanion(name, 247, { keystore: store }), store };
}

/**
 * A removed companion that ignored the toy's GOODBYE and kept what it had stored (its key pair
 * and the pairing): a new Companion over a copy of that keystore.
 */
async function ghost(r: Rig, saved: KeystoreData | undefined): Promise<Companion> {
  const store = new MemoryKeystore();
  await store.save(saved!);
  return r.newCompanion('ghost', 247, { keystore: store });
}

/** Records what a session and its Companion are told when the toy ends the pairing. */
function farewells(app: Companion, s: ToySession): { goodbye: GoodbyeReasonName[]; unpaired: UnpairedReason[]; closed: () => PlushlinkError | undefined } {
  const goodbye: GoodbyeReasonName[] = [];
  const unpaired: UnpairedReason[] = [];
  let closed: PlushlinkError | undefined;
  s.on('goodbye', (r) => goodbye.push(r));
  s.on('close', (_r, e) => (closed = e));
  app.on('unpaired', (_t, r) => unpaired.push(r));
  return { goodbye, unpaired, closed: () => closed };
}

async function ownerAndGuest(config: ToyConfig = {}): Promise<{ rig: Rig; owner: Companion; guest: Companion; os: ToySession; gs: ToySession; ownerStore: MemoryKeystore; guestStore: MemoryKeystore }> {
  rig = await makeRig({ config });
  const { app: owner, store: ownerStore } = await tracked(rig, 'owner');
  rig.toy.pressButton('hold');
  const os = await owner.pair(rig.toyId, rig.qr);
  await os.allowGuestPairing();
  rig.toy.pressButton('hold');
  const { app: guest, store: guestStore } = await tracked(rig, 'grandma');
  const gs = await guest.pair(rig.toyId, rig.qr);
  expect(gs.hello.role).toBe('guest');
  await until(() => rig!.toy.core.pairings.length === 2);
  return { rig, owner, guest, os, gs, ownerStore, guestStore };
}

const reconnect = (c: Companion, r: Rig): Promise<ToySession> => c.connect(c.toys()[0]!, { transportId: r.toyId });

describe('allow-list and revocation', () => {
  it('a guest cannot list pairings, remove others or allow guest pairing (NOT_OWNER, counted, nothing changes)', async () => {
    const { rig, owner, gs } = await ownerAndGuest();
    const before = snapshot(rig.toy.core);
    await expect(gs.listPairings()).rejects.toMatchObject({ code: 'NOT_OWNER' });
    await expect(gs.removePairing(keyId(owner))).rejects.toMatchObject({ code: 'NOT_OWNER' });
    await expect(gs.allowGuestPairing()).rejects.toMatchObject({ code: 'NOT_OWNER' });
    expect(rig.toy.core.persistentState).toEqual(before.state);
    expect(rig.toy.core.refusals['not-owner'] - before.refusals['not-owner']).toBe(3);
    // the guest's refused allow-guest-pairing did not open anything
    rig.toy.pressButton('hold');
    expect(rig.toy.core.pairingWindowOpen(Date.now())).toBe(false);
    expect(rig.toy.core.pairings.map((p) => p.role)).toEqual(['owner', 'guest']);
  });

  it('a revoked guest: its live session is closed at once with GOODBYE (its app forgets the toy), and a reconnect with its old keys gets NOT_PAIRED', async () => {
    const { rig, guest, os, gs, guestStore } = await ownerAndGuest();
    const saved = await guestStore.load();
    const told = farewells(guest, gs);
    const list = await os.listPairings();
    expect(list.map((e) => e.displayName)).toEqual(['owner', 'grandma']);
    await os.removePairing(keyId(guest));
    expect(await until(() => !gs.open)).toBe(true);
    expect(told.goodbye).toEqual(['PAIRING_REMOVED']);
    expect(told.closed()).toMatchObject({ code: 'NOT_PAIRED', detail: { goodbye: 'PAIRING_REMOVED' } });
    expect(await until(() => told.unpaired.length > 0)).toBe(true);
    expect(told.unpaired).toEqual(['PAIRING_REMOVED']);
    expect(guest.toys()).toEqual([]);
    expect((await guestStore.load())!.toys).toEqual([]);
    expect(rig.toy.core.sessionCount).toBe(1);
    expect(rig.toy.core.pairings.map((p) => p.role)).toEqual(['owner']);
    const before = snapshot(rig.toy.core);
    await expect(reconnect(await ghost(rig, saved), rig)).rejects.toMatchObject({ code: 'NOT_PAIRED' });
    expectOnlyRefused(before, rig.toy.core, { 'not-paired': 1 });
    await expect(gs.setVolume(10)).rejects.toMatchObject({ code: 'SESSION_CLOSED' });
    expect((await os.listPairings()).length).toBe(1);
  });

  it('a removed owner: told by GOODBYE, its app forgets the toy; its old keys get NOT_PAIRED; the toy is unowned again and a new owner pairs in a new window', async () => {
    rig = await makeRig();
    const { app: owner, store } = await tracked(rig, 'owner');
    rig.toy.pressButton('hold');
    const os = await owner.pair(rig.toyId, rig.qr);
    const saved = await store.load();
    const told = farewells(owner, os);
    await os.setVolume(44);
    await os.removePairing(keyId(owner)); // answered before the toy hangs up
    expect(await until(() => !os.open)).toBe(true);
    expect(told.goodbye).toEqual(['PAIRING_REMOVED']);
    expect(await until(() => told.unpaired.length > 0)).toBe(true);
    expect(owner.toys()).toEqual([]);
    expect(rig.toy.core.pairings).toEqual([]);
    expect(rig.toy.core.persistentState.advertisingKey).toBeUndefined();
    const before = snapshot(rig.toy.core);
    await expect(reconnect(await ghost(rig, saved), rig)).rejects.toMatchObject({ code: 'NOT_PAIRED' });
    expectOnlyRefused(before, rig.toy.core, { 'not-paired': 1 });
    // no window until the button is pressed; then anyone with the code can become the owner
    const next = await rig.newCompanion('new owner');
    await expect(next.pair(rig.toyId, rig.qr)).rejects.toMatchObject({ code: 'NOT_IN_PAIRING_MODE' });
    rig.toy.pressButton('hold');
    const ns = await next.pair(rig.toyId, rig.qr);
    expect(ns.hello.role).toBe('owner');
    expect(await ns.listPairings()).toHaveLength(1);
    await ns.close();
  });

  it('a second owner cannot pair without the owner allowing guest pairing; with it, it pairs as a guest', async () => {
    rig = await makeRig();
    const owner = await rig.newCompanion('owner');
    rig.toy.pressButton('hold');
    const os = await owner.pair(rig.toyId, rig.qr);
    const second = await rig.newCompanion('second');
    const before = snapshot(rig.toy.core);
    rig.toy.pressButton('hold'); // the button alone does not open a window on an owned toy
    expect(rig.toy.core.pairingWindowOpen(Date.now())).toBe(false);
    await expect(second.pair(rig.toyId, rig.qr)).rejects.toMatchObject({ code: 'NOT_IN_PAIRING_MODE' });
    await expect(second.pair(rig.toyId, rig.code)).rejects.toMatchObject({ code: 'NOT_IN_PAIRING_MODE' });
    expectOnlyRefused(before, rig.toy.core, { 'not-in-pairing-mode': 2 });
    // nor does the owner's permission alone: it takes the button as well
    await os.allowGuestPairing();
    await expect(second.pair(rig.toyId, rig.qr)).rejects.toMatchObject({ code: 'NOT_IN_PAIRING_MODE' });
    rig.toy.pressButton('hold');
    const ss = await second.pair(rig.toyId, rig.qr);
    expect(ss.hello.role).toBe('guest');
    await until(() => rig!.toy.core.pairings.length === 2);
    expect(rig.toy.core.pairings.filter((p) => p.role === 'owner')).toHaveLength(1);
    await ss.close();
  });

  it('the allow-list is bounded: ALLOW_LIST_FULL beyond maxGuests', async () => {
    const { rig, os } = await ownerAndGuest({ maxGuests: 1 });
    await os.allowGuestPairing();
    rig.toy.pressButton('hold');
    const third = await rig.newCompanion('third');
    const before = snapshot(rig.toy.core);
    await expect(third.pair(rig.toyId, rig.qr)).rejects.toMatchObject({ code: 'ALLOW_LIST_FULL' });
    expectOnlyRefused(before, rig.toy.core, { 'allow-list-full': 1 }, { stateMayChange: true });
    expect(rig.toy.core.pairings).toHaveLength(2);
  });

  it('factory reset clears everything but the guessing backoff: sessions closed, allow-list, advertising key, volume; old companions get NOT_PAIRED', async () => {
    const { rig, owner, guest, os, gs, ownerStore, guestStore } = await ownerAndGuest({ backoffBaseMs: 1 });
    const saved = [await ownerStore.load(), await guestStore.load()];
    const told = [farewells(owner, os), farewells(guest, gs)];
    await os.setVolume(12);
    // leave a failure on the counter
    await os.allowGuestPairing();
    rig.toy.pressButton('hold');
    const bad = await rig.newCompanion('bad');
    await expect(bad.pair(rig.toyId, formatSetupQr(generateSetupCode(), rig.identity.publicKey))).rejects.toMatchObject({ code: 'WRONG_SETUP_CODE' });
    await rig.toy.flush();
    expect(rig.storage.state?.failedAttempts).toBe(1);
    expect(rig.storage.state?.volume).toBe(12);
    rig.toy.pressButton('reset');
    expect(await until(() => !os.open && !gs.open)).toBe(true);
    await rig.toy.flush();
    const st = rig.toy.core.persistentState;
    expect(st.pairings).toEqual([]);
    // deliberately kept (toy-core): a reset must not wipe a guesser's backoff
    expect(st.failedAttempts).toBe(1);
    expect(st.advertisingKey).toBeUndefined();
    expect(st.volume).toBe(70);
    expect(rig.storage.state).toEqual(st);
    expect(rig.toy.core.sessionCount).toBe(0);
    expect(rig.toy.core.pairingWindowOpen(Date.now())).toBe(false);
    // both were told, and their apps forgot the toy
    for (const t of told) {
      expect(t.goodbye).toEqual(['FACTORY_RESET']);
      expect(await until(() => t.unpaired.length > 0)).toBe(true);
      expect(t.unpaired).toEqual(['FACTORY_RESET']);
    }
    expect([owner.toys(), guest.toys()]).toEqual([[], []]);
    // what they had stored no longer opens a session
    await expect(reconnect(await ghost(rig, saved[0]), rig)).rejects.toMatchObject({ code: 'NOT_PAIRED' });
    await expect(reconnect(await ghost(rig, saved[1]), rig)).rejects.toMatchObject({ code: 'NOT_PAIRED' });
    // a new owner after a new button press
    rig.toy.pressButton('hold');
    const fresh = await rig.newCompanion('fresh');
    const fs = await fresh.pair(rig.toyId, rig.qr);
    expect(fs.hello.role).toBe('owner');
    await fs.close();
  });
});

describe('forget with a session', () => {
  it('removes this companion on the toy and locally; the GOODBYE that follows is not reported as news (forgotten once, no unpaired)', async () => {
    rig = await makeRig();
    const { app, store } = await tracked(rig, 'owner');
    rig.toy.pressButton('hold');
    const s = await app.pair(rig.toyId, rig.qr);
    const events: string[] = [];
    app.on('forgotten', (t) => events.push(`forgotten ${t.id === app.toys()[0]?.id}`));
    app.on('unpaired', (_t, r) => events.push(`unpaired ${r}`));
    const goodbye: string[] = [];
    s.on('goodbye', (r) => goodbye.push(r));
    await app.forget(app.toys()[0]!, { session: s });
    expect(await until(() => !s.open)).toBe(true);
    expect(goodbye).toEqual(['PAIRING_REMOVED']);
    await new Promise((r) => setTimeout(r, 50));
    expect(events).toEqual(['forgotten false']);
    expect(app.toys()).toEqual([]);
    expect((await store.load())!.toys).toEqual([]);
    expect(rig.toy.core.pairings).toEqual([]);
  });
});
