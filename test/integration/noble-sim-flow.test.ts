/**
 * The whole companion ↔ toy flow over noble-sim: real noble (HCI bindings, GAP, ATT client) and
 * real bleno (GATT server) code, in-process. Pair (QR and typed code), reconnect found by the
 * rotating advertising tag, control, speaker and microphone, at MTU 23 and 247.
 */
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readOggOpus } from '../../src/audio/ogg-opus.js';
import { parseAdvertisement } from '../../src/protocol/advertising.js';
import type { MicFrame } from '../../src/companion/microphone.js';
import { makeNobleSimRig, until, type NobleSimRig } from '../helpers/noble-sim-rig.js';
import { PROJECT_ROOT } from '../helpers/shared.js';

const ATT_NOTIFY = 0x1b;

let rig: NobleSimRig | undefined;
const tmpDirs: string[] = [];
afterEach(async () => {
  await rig?.close();
  rig = undefined;
  for (const d of tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// Real-time audio: a 3-second slice of each fixture clip keeps every case short.
const SLICE = 150;
const speakerClip = readOggOpus(new Uint8Array(readFileSync(join(PROJECT_ROOT, 'fixtures/audio/toy-hello.opus')))).packets.slice(0, SLICE);
const micClip = readOggOpus(new Uint8Array(readFileSync(join(PROJECT_ROOT, 'fixtures/audio/child-question.opus')))).packets.slice(0, SLICE);

describe('noble-sim: pair, reconnect and control', () => {
  it('pairs with the QR payload in one round trip, finds the toy by its rotating tag and reconnects in one', async () => {
    rig = await makeNobleSimRig({ mtu: 247 });
    const app = await rig.newCompanion("Mum's phone");
    rig.toy.pressButton('hold');
    // the scan (noble's GAP parsing bleno's advertising PDUs) reports an unpaired toy in pairing mode
    const ac = new AbortController();
    let found: string | undefined;
    for await (const d of app.scan({ signal: ac.signal })) {
      if (d.kind === 'pairing') {
        found = d.transportId;
        ac.abort();
      }
    }
    expect(found).toBe(rig.toyId);
    const s = await app.pair(found!, rig.qr, { name: 'Bunny' });
    expect(s.roundTrips).toBe(1);
    expect(s.mtu).toBe(247);
    expect(s.hello.role).toBe('owner');
    expect(app.toys().map((t) => t.name)).toEqual(['Bunny']);
    await s.setVolume(40);
    expect((await s.info()).volume).toBe(40);
    const list = await s.listPairings();
    expect(list.map((p) => [p.displayName, p.role])).toEqual([["Mum's phone", 'owner']]);
    expect(rig.toy.core.executed['set-volume']).toBe(1);
    await s.close();

    // the toy now advertises an owned tag (no pairing flag) that only this companion resolves
    const s2 = await app.connect('Bunny'); // scans: the tag must resolve to "Bunny"
    expect(s2.roundTrips).toBe(1);
    expect(app.toys()[0]!.lastTransportId).toBe(rig.toyId);
    expect((await s2.battery()).percent).toBeGreaterThan(0);
    expect((await s2.info()).volume).toBe(40); // persisted across sessions
    await s2.close();
    const p = rig.radio.central.noble._peripherals?.[rig.toyId] as { advertisement: { localName?: string; serviceData?: { data: Buffer }[] } } | undefined;
    expect(p?.advertisement.localName).toBeUndefined();
    const adv = parseAdvertisement(new Uint8Array(p!.advertisement.serviceData![0]!.data));
    expect(adv).toMatchObject({ owned: true, pairing: false });
    // nothing a stranger's refusal counter would show
    expect(Object.values(rig.toy.core.refusals).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('pairs with the typed code at MTU 23 (key fetch + handshake), reconnects and controls at MTU 23', async () => {
    rig = await makeNobleSimRig({ mtu: 23 });
    const app = await rig.newCompanion('Dad');
    rig.toy.pressButton('hold');
    const s = await app.pair(rig.toyId, rig.code.toLowerCase());
    expect(s.mtu).toBe(23);
    expect(s.roundTrips).toBe(2);
    expect(await s.listPairings()).toHaveLength(1);
    await s.close();
    const s2 = await app.connect(app.toys()[0]!.id);
    expect(s2.mtu).toBe(23);
    expect(s2.roundTrips).toBe(1);
    await s2.setVolume(12);
    expect((await s2.info()).volume).toBe(12);
    expect(rig.toy.core.pairings).toHaveLength(1);
    await s2.close();
  });

  it('a link loss mid-session ends the session on both sides; the app reconnects', async () => {
    rig = await makeNobleSimRig({ mtu: 185 });
    const app = await rig.newCompanion('Gran');
    rig.toy.pressButton('hold');
    const s = await app.pair(rig.toyId, rig.qr, { name: 'Teddy' });
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    rig.radio.disconnectAll();
    await closed;
    expect(s.open).toBe(false);
    await expect(s.setVolume(10)).rejects.toMatchObject({ code: 'SESSION_CLOSED' });
    await until(() => rig!.toy.core.sessionCount === 0, 2_000, 'the toy dropping the session');
    const s2 = await app.connect('Teddy');
    await s2.setVolume(10);
    expect((await s2.info()).volume).toBe(10);
    expect(rig.toy.core.sessionCount).toBe(1);
    await s2.close();
  });
});

for (const mtu of [23, 247]) {
  describe(`noble-sim: voice at MTU ${mtu}`, () => {
    it('speaker: plays a fixture clip in full, in order, with no overrun and no underrun', async () => {
      rig = await makeNobleSimRig({ mtu });
      const played: Uint8Array[] = [];
      rig.toy.on('play', (f) => played.push(...f));
      const app = await rig.newCompanion();
      rig.toy.pressButton('hold');
      const s = await app.pair(rig.toyId, rig.qr);
      expect(s.mtu).toBe(mtu);
      const res = await s.speaker.play({ packets: speakerClip });
      expect(res.framesSent).toBe(speakerClip.length);
      expect(res.framesPlayed).toBe(speakerClip.length);
      expect(res.overruns).toBe(0);
      expect(res.underruns).toBe(0);
      expect(played.map(hex)).toEqual(speakerClip.map(hex));
      expect(rig.toy.core.speakerStats.overruns).toBe(0);
      // at MTU 247 several frames share one record (batching)
      if (mtu === 247) expect(res.records).toBeLessThan(res.framesSent);
      console.log(`[noble-sim] speaker MTU ${mtu}: ${res.framesPlayed} frames in ${res.records} records, ${(res.durationMs / 1000).toFixed(2)} s`);
      await s.close();
    });

    // ~550 notifications at MTU 23 (one frame per record, fragmented), ~38 at 247 (batched records)
    const period = mtu === 23 ? 40 : 10;
    it(`microphone: records to Ogg Opus with every frame accounted for under 1-in-${period} notification loss`, async () => {
      let notifications = 0;
      let dropped = 0;
      rig = await makeNobleSimRig({
        mtu,
        toy: { microphone: () => micClip },
        sim: {
          // deterministic loss of microphone notifications (control uses indications and is never dropped)
          onPacket: (p) => {
            if (p.direction !== 'peripheral-to-central' || p.cid !== 4 || p.data[0] !== ATT_NOTIFY) return;
            if (++notifications % period === 0) {
              dropped++;
              return 'drop';
            }
          },
        },
      });
      const app = await rig.newCompanion('listener');
      rig.toy.pressButton('hold');
      const s = await app.pair(rig.toyId, rig.qr);
      expect(s.mtu).toBe(mtu);
      const mic = await s.microphone.start();
      const frames: MicFrame[] = [];
      mic.on('frame', (f) => frames.push(f));
      const dir = mkdtempSync(join(tmpdir(), 'plushlink-noble-sim-'));
      tmpDirs.push(dir);
      const rec = await mic.record(join(dir, 'mic.ogg'), { seconds: 20 }); // ends at the toy's mic-status
      expect(rec.frames).toBe(micClip.length);
      expect(frames).toHaveLength(micClip.length);
      expect(dropped).toBeGreaterThan(0); // loss really happened
      expect(rec.lost).toBeGreaterThan(0);
      expect(rec.lost / rec.frames).toBeLessThan(0.25);
      // the sequence is complete and in order; arrived frames are byte-identical to what the toy sent
      const first = frames[0]!.seq;
      frames.forEach((f, i) => {
        expect(f.seq).toBe((first + i) >>> 0);
        if (!f.lost) expect(hex(f.packet)).toBe(hex(micClip[i]!));
      });
      expect(frames.filter((f) => f.lost)).toHaveLength(rec.lost);
      expect(mic.stats).toMatchObject({ received: rec.frames - rec.lost, lost: rec.lost });
      // the Ogg file holds one packet per frame (lost ones concealed)
      const ogg = readOggOpus(new Uint8Array(readFileSync(rec.oggPath)));
      expect(ogg.packets).toHaveLength(micClip.length);
      expect(rig.toy.core.microphoneActive).toBe(false);
      console.log(`[noble-sim] microphone MTU ${mtu}: ${rec.frames - rec.lost} received, ${rec.lost} concealed (${dropped} of ${notifications} notifications dropped)`);
      await s.close();
    });
  });
}
