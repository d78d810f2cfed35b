/**
 * GOODBYE, then disconnect (PROTOCOL.md §10.1): the toy ends a link only once the central has
 * confirmed the GOODBYE's indications (2 at MTU 23), so a companion learns at once why it lost the
 * toy; and a companion that saw only the disconnect (a toy that did not wait, on a stack that drops
 * queued indications — the in-memory radio does) learns of it at its next reconnect: refused by
 * the device the app named, it tells the app (`reconnect-refused`) and keeps the toy until the app
 * forgets it, since a refusal is not authenticated; refused while probing, it keeps it silently
 * ("removed, or not in range").
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Companion, type UnpairedReason } from '../../src/companion/companion.js';
import { MemoryKeystore } from '../../src/companion/keystore.js';
import type { ToySession } from '../../src/companion/session.js';
import { companionKeyId } from '../../src/protocol/control.js';
import type { PlushlinkError } from '../../src/protocol/errors.js';
import { memoryConformanceTarget, type MemoryTarget, type MemoryTargetOptions } from '../../src/conformance/index.js';
import { goodbyeWithoutWaiting } from '../helpers/broken-toys.js';
import { until } from '../helpers/until.js';

let target: MemoryTarget | undefined;
afterEach(async () => {
  await target?.close();
  target = undefined;
});

/** A toy (the reference, or a broken one) with an owner at MTU 247 and a guest connected at `guestMtu`. */
async function ownerAndGuest(o: MemoryTargetOptions, guestMtu: number) {
  const t = (target = await memoryConformanceTarget(o));
  const open = (name: string, mtu: number): Promise<Companion> =>
    Companion.open({ central: t.options.centralWithMtu!(mtu)!, keystore: new MemoryKeystore(), displayName: name, clock: t.options.clock!.now, handshakeTimeoutMs: 20_000 });
  const owner = await open('owner', 247);
  await t.options.pressButton!(new AbortController().signal);
  const os = await owner.pair(t.toyId(), t.options.qr!);
  await os.allowGuestPairing();
  await t.options.pressButton!(new AbortController().signal);
  const guest = await open('guest', guestMtu);
  const gs = await guest.pair(t.toyId(), t.options.qr!);
  expect(gs.mtu).toBe(guestMtu);
  const told = { goodbye: [] as string[], unpaired: [] as UnpairedReason[], refused: [] as string[], closed: undefined as PlushlinkError | undefined };
  gs.on('goodbye', (r) => told.goodbye.push(r));
  gs.on('close', (_r, e) => (told.closed = e));
  guest.on('unpaired', (_t, r) => told.unpaired.push(r));
  guest.on('reconnect-refused', (toy, transportId) => told.refused.push(`${toy.id}@${transportId}`));
  return { t, owner, os, guest, gs, told };
}

const removeGuest = async (os: ToySession, guest: Companion, gs: ToySession): Promise<void> => {
  await os.removePairing(companionKeyId(guest.publicKey));
  await until(() => !gs.open, undefined, 'the guest session ends');
};

describe('GOODBYE, then disconnect (PROTOCOL.md §10.1)', () => {
  it('the reference toy: a guest removed at MTU 23 gets the whole GOODBYE (2 indications) before the link ends, and its app forgets the toy', async () => {
    const { t, os, guest, gs, told } = await ownerAndGuest({}, 23);
    await removeGuest(os, guest, gs);
    expect(told.goodbye).toEqual(['PAIRING_REMOVED']);
    expect(told.closed).toMatchObject({ code: 'NOT_PAIRED', detail: { goodbye: 'PAIRING_REMOVED' } });
    await until(() => told.unpaired.length > 0, undefined, 'unpaired');
    expect(told.unpaired).toEqual(['PAIRING_REMOVED']);
    expect(guest.toys()).toEqual([]);
    expect(t.toy.core.pairings.map((p) => p.role)).toEqual(['owner']);
  });

  it('the reference toy: a factory reset at MTU 23 reaches the session as GOODBYE FACTORY_RESET', async () => {
    const { t, gs, told } = await ownerAndGuest({}, 23);
    await t.options.resetToy!(new AbortController().signal);
    await until(() => !gs.open, undefined, 'the guest session ends');
    expect(told.goodbye).toEqual(['FACTORY_RESET']);
    await until(() => told.unpaired.length > 0, undefined, 'unpaired');
    expect(told.unpaired).toEqual(['FACTORY_RESET']);
  });

  it('a toy that does not wait: the companion sees only DISCONNECTED and keeps the toy; a refusal by the device it names is reported (reconnect-refused) and deletes nothing until the app forgets the toy', async () => {
    const { t, os, guest, gs, told } = await ownerAndGuest(goodbyeWithoutWaiting, 23);
    const stored = guest.toys()[0]!;
    await removeGuest(os, guest, gs);
    expect(told.goodbye).toEqual([]);
    expect(told.closed).toMatchObject({ code: 'DISCONNECTED' });
    expect(guest.toys()).toHaveLength(1); // nothing learnt from a bare disconnect
    expect(t.toy.core.pairings.map((p) => p.role)).toEqual(['owner']);
    // probing: a refusal could be another toy's, so the toy is kept
    await expect(guest.connect(stored, { probeUnresolved: true, probeAfterMs: 50, timeoutMs: 60_000 })).rejects.toMatchObject({ code: 'NOT_PAIRED' });
    expect(guest.toys()).toHaveLength(1);
    expect(told.unpaired).toEqual([]);
    expect(told.refused).toEqual([]);
    // the device the app names refuses: the app is told, nothing is deleted (the refusal is not authenticated)
    await expect(guest.connect(stored, { transportId: t.toyId() })).rejects.toMatchObject({ code: 'NOT_PAIRED', detail: { refusal: 'HANDSHAKE_FAILED' } });
    expect(told.refused).toEqual([`${stored.id}@${t.toyId()}`]);
    expect(guest.toys()).toEqual([stored]);
    expect(told.unpaired).toEqual([]);
    // the app asks its user, who forgets the toy
    await guest.forget(stored);
    expect(guest.toys()).toEqual([]);
  });

  it('a named device that accepts the reconnect keeps the toy stored (only a refusal forgets)', async () => {
    const { t, owner, os } = await ownerAndGuest({}, 247);
    await os.close();
    const s = await owner.connect(owner.toys()[0]!, { transportId: t.toyId() });
    expect(s.hello.role).toBe('owner');
    expect(owner.toys()).toHaveLength(1);
    await s.close();
  });
});
