/**
 * The allow-list and revocation (DESIGN.md property 5): one owner, bounded guests, only the
 * owner lists and removes others or lets a guest pair, a removed companion is cut off at once,
 * and a factory reset forgets everything.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { toHex } from '../../src/protocol/bytes.js';
import { sha512 } from '../../src/protocol/crypto.js';
import { formatSetupQr, generateSetupCode } from '../../src/protocol/setup-code.js';
import type { PlushlinkError } from '../../src/protocol/errors.js';
import type { Companion } from '../../src/companion/companion.js';
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

async function ownerAndGuest(config: ToyConfig = {}): Promise<{ rig: Rig; owner: Companion; guest: Companion; os: ToySession; gs: ToySession }> {
  rig = await makeRig({ config });
  const owner = await rig.newCompanion('owner');
  rig.toy.pressButton('hold');
  const os = await owner.pair(rig.toyId, rig.qr);
  await os.allowGuestPairing();
  rig.toy.pressButton('hold');
  const guest = await rig.newCompanion('grandma');
  const gs = await guest.pair(rig.toyId, rig.qr);
  expect(gs.hello.role).toBe('guest');
  await until(() => rig!.toy.core.pairings.length === 2);
  return { rig, owner, guest, os, gs };
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

  it('a revoked guest: its live session is closed at once and its reconnect gets NOT_PAIRED', async () => {
    const { rig, guest, os, gs } = await ownerAndGuest();
    let closed: PlushlinkError | undefined;
    gs.on('close', (_r, e) => (closed = e));
    const list = await os.listPairings();
    expect(list.map((e) => e.displayName)).toEqual(['owner', 'grandma']);
    await os.removePairing(keyId(guest));
    expect(await until(() => !gs.open)).toBe(true);
    expect(closed?.code).toBe('DISCONNECTED');
    expect(rig.toy.core.sessionCount).toBe(1);
    expect(rig.toy.core.pairings.map((p) => p.role)).toEqual(['owner']);
    const before = snapshot(rig.toy.core);
    await expect(reconnect(guest, rig)).rejects.toMatchObject({ code: 'NOT_PAIRED' });
    expectOnlyRefused(before, rig.toy.core, { 'not-paired': 1 });
    await expect(gs.setVolume(10)).rejects.toMatchObject({ code: 'SESSION_CLOSED' });
    expect((await os.listPairings()).length).toBe(1);
  });

  it('a removed owner: reconnect gets NOT_PAIRED; the toy is unowned again and a new owner pairs in a new window', async () => {
    rig = await makeRig();
    const owner = await rig.newCompanion('owner');
    rig.toy.pressButton('hold');
    const os = await owner.pair(rig.toyId, rig.qr);
    await os.setVolume(44);
    await os.removePairing(keyId(owner)).catch(() => undefined); // the toy may hang up right after answering
    expect(await until(() => !os.open)).toBe(true);
    expect(rig.toy.core.pairings).toEqual([]);
    expect(rig.toy.core.persistentState.advertisingKey).toBeUndefined();
    const before = snapshot(rig.toy.core);
    await expect(reconnect(owner, rig)).rejects.toMatchObject({ code: 'NOT_PAIRED' });
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
    const { rig, owner, guest, os, gs } = await ownerAndGuest({ backoffBaseMs: 1 });
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
    await expect(reconnect(owner, rig)).rejects.toMatchObject({ code: 'NOT_PAIRED' });
    await expect(reconnect(guest, rig)).rejects.toMatchObject({ code: 'NOT_PAIRED' });
    // a new owner after a new button press
    rig.toy.pressButton('hold');
    const fresh = await rig.newCompanion('fresh');
    const fs = await fresh.pair(rig.toyId, rig.qr);
    expect(fs.hello.role).toBe('owner');
    await fs.close();
  });
});
