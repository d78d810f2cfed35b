import { afterEach, describe, expect, it } from 'vitest';
import { makeRig, type Rig } from '../helpers/rig.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('pair, reconnect and control over the in-memory radio', () => {
  it('pairs with the QR payload in one round trip, then reconnects in one', async () => {
    rig = await makeRig();
    const app = await rig.newCompanion("Mum's phone");
    rig.toy.pressButton('hold');
    const s = await app.pair(rig.toyId, rig.qr, { name: 'Bunny' });
    expect(s.roundTrips).toBe(1);
    expect(s.hello.role).toBe('owner');
    expect(app.toys()).toHaveLength(1);
    expect(app.toys()[0]!.name).toBe('Bunny');
    await s.setVolume(40);
    expect((await s.info()).volume).toBe(40);
    const list = await s.listPairings();
    expect(list).toHaveLength(1);
    expect(list[0]!.displayName).toBe("Mum's phone");
    await s.close();
    const s2 = await app.connect('Bunny');
    expect(s2.roundTrips).toBe(1);
    expect((await s2.battery()).percent).toBeGreaterThan(0);
    await s2.close();
  });

  it('pairs with the typed code (two round trips: key fetch + handshake) at MTU 23', async () => {
    rig = await makeRig({ toyMtu: 23 });
    const app = await rig.newCompanion('Dad', 23);
    rig.toy.pressButton('hold');
    const s = await app.pair(rig.toyId, rig.code.toLowerCase());
    expect(s.mtu).toBe(23);
    expect(s.roundTrips).toBe(2);
    expect(await s.listPairings()).toHaveLength(1);
    await s.close();
  });
});
