/**
 * Advertising privacy (PROTOCOL.md §12; docs/SECURITY.md property 6). Toys are paired for real (Companion
 * ↔ ReferenceToy over the in-memory radio, under a fake clock); then the toy's ToyCore is driven
 * through 24 simulated hours with fake clock values into `tick`, and every 'advertise' action is
 * a snapshot of what a stranger's radio would see.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Companion, type DiscoveredToy } from '../../../src/companion/companion.js';
import { MemoryKeystore } from '../../../src/companion/keystore.js';
import {
  ADV_DATA_LEN,
  ADV_FLAG_OWNED,
  ADV_FLAG_PAIRING,
  ADV_SLOT_SECONDS,
  ADV_TAG_LEN,
  advertisingSlot,
  advertisingTag,
  parseAdvertisement,
  resolveAdvertisingTag,
} from '../../../src/protocol/advertising.js';
import { concatBytes, fromHex, toHex, utf8 } from '../../../src/protocol/bytes.js';
import { sha512, type RandomSource } from '../../../src/protocol/crypto.js';
import type { ToyCore } from '../../../src/toy/toy-core.js';
import { MAX_ADVERTISED_SERVICE_DATA, buildAdvertisingPayload } from '../../../src/transport/bleno/advertising.js';
import { PLUSHLINK_SERVICE_UUID, compactUuid, uuidToLeBytes } from '../../../src/transport/gatt-layout.js';
import { makeNobleSimRig, type NobleSimRig } from '../../helpers/noble-sim-rig.js';
import { makeRig, type Rig } from '../../helpers/rig.js';

const SLOT_MS = ADV_SLOT_SECONDS * 1000;
const DAY_MS = 24 * 3600 * 1000;
const STEP_MS = 30_000; // the toy ticks far more often; 30 s is enough to see every rotation
/** A fixed start, 3 min 17 s into a slot. */
const T0 = Date.UTC(2025, 0, 6, 7, 3, 17);

/** A reproducible RandomSource for the toys under test (SHA-512 in counter mode over a seed label). */
function seededSource(label: string): RandomSource {
  let counter = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let o = 0; o < n; o += 64) {
      const c = counter++;
      const block = sha512(concatBytes(utf8(label), new Uint8Array([c >>> 24, (c >>> 16) & 0xff, (c >>> 8) & 0xff, c & 0xff])));
      out.set(block.subarray(0, Math.min(64, n - o)), o);
    }
    return out;
  };
}

interface Snapshot {
  t: number;
  data: Uint8Array;
}

/** Ticks `core` from `from` (exclusive) to `to` (inclusive) every `step` ms; returns the 'advertise' actions. */
function simulate(core: ToyCore, from: number, to: number, step = STEP_MS): Snapshot[] {
  const out: Snapshot[] = [];
  for (let t = from + step; t <= to; t += step) {
    for (const a of core.tick(t)) if (a.type === 'advertise') out.push({ t, data: Uint8Array.from(a.serviceData) });
  }
  return out;
}

/** A toy paired (owner) with one companion, under a fake clock standing at T0 + offset. */
interface PairedToyWorld {
  rig: Rig;
  app: Companion;
  /** The companion's clock; tests set it. */
  clock: { now: number };
  toyKeyId: string;
}

const rigs: Rig[] = [];
const simRigs: NobleSimRig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.close().catch(() => undefined);
  for (const r of simRigs.splice(0)) await r.close().catch(() => undefined);
});

async function pairedToy(label: string, opts: { stop?: boolean } = {}): Promise<PairedToyWorld> {
  const toyClock = { now: T0 };
  const clock = { now: T0 };
  const rig = await makeRig({ toy: { clock: () => toyClock.now, random: seededSource(`toy ${label}`) } });
  rigs.push(rig);
  const app = await Companion.open({ central: rig.radio.createCentral({ mtu: 247 }), keystore: new MemoryKeystore(), displayName: label, clock: () => clock.now });
  rig.toy.pressButton('hold');
  const s = await app.pair(rig.toyId, rig.qr, { name: label });
  await s.close();
  if (opts.stop !== false) await rig.toy.stop(); // from here on the test drives the core with its own clock values
  return { rig, app, clock, toyKeyId: app.toys()[0]!.id };
}

function classifyAt(app: Companion, clock: { now: number }, s: Snapshot, skewMs = 0): DiscoveredToy | undefined {
  clock.now = s.t + skewMs;
  return app.classify({ id: 'aa:bb', serviceData: s.data });
}

/** Parses AD structures (length, type, data). */
function adStructures(buf: Uint8Array): { type: number; data: Uint8Array }[] {
  const out: { type: number; data: Uint8Array }[] = [];
  for (let i = 0; i < buf.length; ) {
    const len = buf[i]!;
    expect(len).toBeGreaterThan(0);
    expect(i + 1 + len).toBeLessThanOrEqual(buf.length);
    out.push({ type: buf[i + 1]!, data: buf.subarray(i + 2, i + 1 + len) });
    i += 1 + len;
  }
  return out;
}

describe('advertising: 24 simulated hours of an owned toy', () => {
  it('rotates every slot (≤ 15 min), never repeats a tag, carries no stable byte, and only its companion resolves it — with ±1 slot of skew, not ±2', async () => {
    expect(ADV_SLOT_SECONDS).toBeLessThanOrEqual(15 * 60);
    const a = await pairedToy('Bunny');
    const b = await pairedToy('Teddy'); // another family's toy and companion
    const stranger = await Companion.open({ central: a.rig.radio.createCentral(), keystore: new MemoryKeystore(), clock: () => T0 });

    const snaps = simulate(a.rig.toy.core, T0, T0 + DAY_MS);
    const slots = snaps.map((s) => advertisingSlot(s.t));
    // one advertisement per slot: a rotation at every boundary and no change inside a slot
    expect(snaps).toHaveLength(advertisingSlot(T0 + DAY_MS) - advertisingSlot(T0));
    expect(new Set(slots).size).toBe(snaps.length);
    for (let i = 1; i < snaps.length; i++) {
      expect(slots[i]).toBe(slots[i - 1]! + 1);
      expect(snaps[i]!.t - snaps[i - 1]!.t).toBeLessThanOrEqual(15 * 60_000);
      // the rotation happens at the first tick of the new slot
      expect(snaps[i]!.t - slots[i]! * SLOT_MS).toBeLessThan(STEP_MS);
    }

    // the flags byte says only "owned" (pairing window closed); the rest is the tag
    for (const s of snaps) {
      expect(s.data).toHaveLength(ADV_DATA_LEN);
      expect(s.data[0]).toBe(ADV_FLAG_OWNED);
      expect(parseAdvertisement(s.data)).toMatchObject({ owned: true, pairing: false });
    }
    // no tag ever repeats across slots (nor between the two toys)
    const tagsA = snaps.map((s) => toHex(s.data.subarray(1)));
    expect(new Set(tagsA).size).toBe(tagsA.length);
    const snapsB = simulate(b.rig.toy.core, T0, T0 + DAY_MS);
    const tagsB = snapsB.map((s) => toHex(s.data.subarray(1)));
    expect(new Set([...tagsA, ...tagsB]).size).toBe(tagsA.length + tagsB.length);

    // no stable field: every tag byte changes between consecutive slots in the vast majority of cases
    // (equal by chance with probability 1/256), and the tags change as a whole
    for (let pos = 1; pos <= ADV_TAG_LEN; pos++) {
      let same = 0;
      for (let i = 1; i < snaps.length; i++) if (snaps[i]!.data[pos] === snaps[i - 1]!.data[pos]) same++;
      expect(same, `byte ${pos} unchanged in ${same} of ${snaps.length - 1} rotations`).toBeLessThanOrEqual(4);
    }
    for (let i = 1; i < snaps.length; i++) {
      let changed = 0;
      for (let pos = 1; pos <= ADV_TAG_LEN; pos++) if (snaps[i]!.data[pos] !== snaps[i - 1]!.data[pos]) changed++;
      expect(changed).toBeGreaterThanOrEqual(ADV_TAG_LEN - 2);
    }

    // the paired companion resolves its toy in every slot, with its clock off by up to one slot
    for (const skew of [0, SLOT_MS, -SLOT_MS, SLOT_MS / 2, -SLOT_MS / 2]) {
      for (const s of snaps) {
        const d = classifyAt(a.app, a.clock, s, skew);
        expect(d?.kind, `skew ${skew / 60_000} min at ${new Date(s.t).toISOString()}`).toBe('paired');
        expect(d?.kind === 'paired' && d.toy.id).toBe(a.toyKeyId);
      }
    }
    // …but not with two slots of skew: then it is someone else's toy
    for (const skew of [2 * SLOT_MS, -2 * SLOT_MS]) {
      for (const s of snaps) expect(classifyAt(a.app, a.clock, s, skew)?.kind).toBe('someone-elses');
    }
    // another family's companion, and a companion with no toys, see only "someone else's toy"
    for (const s of snaps) {
      expect(classifyAt(b.app, b.clock, s)).toEqual({ kind: 'someone-elses', transportId: 'aa:bb' });
      expect(stranger.classify({ id: 'aa:bb', serviceData: s.data })?.kind).toBe('someone-elses');
    }
    // and the other way round: toy B is someone else's to A's companion, B's own companion resolves it
    for (const s of snapsB) {
      expect(classifyAt(a.app, a.clock, s)?.kind).toBe('someone-elses');
      const d = classifyAt(b.app, b.clock, s, -SLOT_MS);
      expect(d?.kind === 'paired' && d.toy.id).toBe(b.toyKeyId);
    }
  });

  it('the toy opens a guest window: its owner still resolves it, others see "pairing" (owned) — tag and flags rotate together', async () => {
    const a = await pairedToy('Bunny', { stop: false });
    const other = await pairedToy('Teddy');
    // the owner grants guest pairing over a session (at T0), then the button is held
    const s = await a.app.connect('Bunny');
    await s.allowGuestPairing();
    await s.close();
    await a.rig.toy.stop();
    const core = a.rig.toy.core;
    const t1 = T0 + 60_000;
    const opened = core.button('hold', t1).filter((x) => x.type === 'advertise');
    expect(opened).toHaveLength(1);
    const snap = { t: t1, data: (opened[0] as { serviceData: Uint8Array }).serviceData };
    expect(snap.data[0]).toBe(ADV_FLAG_OWNED | ADV_FLAG_PAIRING);
    expect(classifyAt(a.app, a.clock, snap)?.kind).toBe('paired');
    expect(classifyAt(other.app, other.clock, snap)).toEqual({ kind: 'pairing', transportId: 'aa:bb', owned: true });
    // the window (120 s) closes within the slot: the pairing flag goes and the tag changes with it
    // (the slot's change counter, PROTOCOL.md §12), so the two addresses are not linked by the tag
    const after = simulate(core, t1, t1 + 5 * 60_000, 1_000);
    expect(after[0]!.data[0]).toBe(ADV_FLAG_OWNED);
    expect(toHex(after[0]!.data.subarray(1))).not.toBe(toHex(snap.data.subarray(1)));
    expect(advertisingSlot(after[0]!.t)).toBe(advertisingSlot(t1));
    expect(classifyAt(a.app, a.clock, after[0]!)?.kind).toBe('paired');
    expect(classifyAt(other.app, other.clock, after[0]!)?.kind).toBe('someone-elses');
  });
});

describe('advertising: end to end over the in-memory radio', () => {
  it("Companion.scan finds its toy in every slot of 24 h while the running toy's own timer rotates the advertisement", async () => {
    const toyClock = { now: T0 };
    const rig = await makeRig({ toy: { clock: () => toyClock.now } });
    rigs.push(rig);
    const clock = { now: T0 };
    const central = rig.radio.createCentral();
    const app = await Companion.open({ central, keystore: new MemoryKeystore(), displayName: 'Mum', clock: () => clock.now });
    rig.toy.pressButton('hold');
    await (await app.pair(rig.toyId, rig.qr, { name: 'Bunny' })).close();
    const key = fromHex(app.toys()[0]!.advertisingKey);
    const seen = new Set<string>();
    for (let k = 1; k <= DAY_MS / SLOT_MS; k++) {
      const t = T0 + k * SLOT_MS;
      toyClock.now = t;
      clock.now = t + (k % 3) * 60_000 - 60_000; // the phone's clock is a minute off either way, or exact
      const expected = toHex(advertisingTag(key, advertisingSlot(t)));
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), 2_000);
      let found: DiscoveredToy | undefined;
      for await (const ad of central.scan({ signal: ac.signal })) {
        if (toHex(ad.serviceData.subarray(1)) !== expected) continue; // the previous slot's, until the toy ticks
        found = app.classify(ad);
        seen.add(expected);
        ac.abort();
      }
      clearTimeout(timer);
      expect(found?.kind, `slot ${k}`).toBe('paired');
    }
    expect(seen.size).toBe(DAY_MS / SLOT_MS);
  });
});

describe('advertising: a toy with no owner', () => {
  it('in pairing mode is reported as "pairing" to everyone; otherwise a fresh random tag every slot, flags 0', async () => {
    const known = await pairedToy('Teddy');
    const rig = await makeRig({ toy: { clock: () => T0, random: seededSource('unowned toy') } });
    rigs.push(rig);
    await rig.toy.stop();
    const core = rig.toy.core;
    const fresh = await Companion.open({ central: rig.radio.createCentral(), keystore: new MemoryKeystore(), clock: () => T0 });

    const held = core.button('hold', T0 + 1_000).filter((x) => x.type === 'advertise') as { serviceData: Uint8Array }[];
    expect(held).toHaveLength(1);
    const pairing = { t: T0 + 1_000, data: held[0]!.serviceData };
    expect(pairing.data[0]).toBe(ADV_FLAG_PAIRING);
    expect(fresh.classify({ id: 'x', serviceData: pairing.data })).toEqual({ kind: 'pairing', transportId: 'x', owned: false });
    expect(classifyAt(known.app, known.clock, pairing)).toEqual({ kind: 'pairing', transportId: 'aa:bb', owned: false });

    const snaps = simulate(core, T0 + 1_000, T0 + DAY_MS);
    // the window closed after 120 s (a new random tag, no flags), then one rotation per slot
    expect(snaps[0]!.t).toBeLessThanOrEqual(T0 + 1_000 + 120_000 + STEP_MS);
    expect(advertisingSlot(snaps[0]!.t)).toBe(advertisingSlot(T0));
    expect(snaps).toHaveLength(1 + advertisingSlot(T0 + DAY_MS) - advertisingSlot(T0));
    for (const s of snaps) {
      expect(s.data[0]).toBe(0);
      expect(classifyAt(known.app, known.clock, s)?.kind).toBe('unpaired'); // flags 0: nobody's toy, not someone else's (PROTOCOL.md §12)
    }
    const tags = [pairing, ...snaps].map((s) => toHex(s.data.subarray(1)));
    expect(new Set(tags).size).toBe(tags.length);
  });
});

describe('advertising: factory reset', () => {
  it("after a reset the old companion's key resolves none of the toy's tags, and the new owner's key resolves none of the old ones", async () => {
    const toyClock = { now: T0 };
    const rig = await makeRig({ toy: { clock: () => toyClock.now, random: seededSource('reset toy') } });
    rigs.push(rig);
    const oldClock = { now: T0 };
    const oldApp = await Companion.open({ central: rig.radio.createCentral(), keystore: new MemoryKeystore(), displayName: 'old', clock: () => oldClock.now });
    rig.toy.pressButton('hold');
    await (await oldApp.pair(rig.toyId, rig.qr, { name: 'Bunny' })).close();
    const oldKey = fromHex(oldApp.toys()[0]!.advertisingKey);

    // 12 hours as the old family's toy
    await rig.toy.stop();
    const core = rig.toy.core;
    const before = simulate(core, T0, T0 + DAY_MS / 2);
    expect(before.length).toBeGreaterThan(70);
    for (const s of before) expect(classifyAt(oldApp, oldClock, s)?.kind).toBe('paired');

    // reset: no owner, no key; random tags from now on
    const t1 = T0 + DAY_MS / 2 + 1_000;
    const reset = core.button('reset', t1);
    expect(core.persistentState.advertisingKey).toBeUndefined();
    expect(core.pairings).toHaveLength(0);
    const resetAdv = reset.filter((x) => x.type === 'advertise') as { serviceData: Uint8Array }[];
    expect(resetAdv).toHaveLength(1);
    const afterReset = [{ t: t1, data: resetAdv[0]!.serviceData }, ...simulate(core, t1, t1 + DAY_MS / 2)];
    for (const s of afterReset) {
      expect(s.data[0]).toBe(0);
      expect(classifyAt(oldApp, oldClock, s)?.kind).toBe('unpaired');
      for (const skew of [-SLOT_MS, 0, SLOT_MS]) expect(resolveAdvertisingTag(s.data.subarray(1), [oldKey], s.t + skew)).toBe(-1);
    }
  });

  it('a new owner after the reset gets a new key: the old companion never resolves the re-paired toy', async () => {
    const toyClock = { now: T0 };
    const rig = await makeRig({ toy: { clock: () => toyClock.now, random: seededSource('reset toy 2') } });
    rigs.push(rig);
    const oldClock = { now: T0 };
    const newClock = { now: T0 };
    const oldApp = await Companion.open({ central: rig.radio.createCentral(), keystore: new MemoryKeystore(), displayName: 'old', clock: () => oldClock.now });
    rig.toy.pressButton('hold');
    await (await oldApp.pair(rig.toyId, rig.qr, { name: 'Bunny' })).close();
    const oldKey = fromHex(oldApp.toys()[0]!.advertisingKey);
    const oldTags = simulate(rig.toy.core, T0, T0 + 60 * 60_000).map((s) => s.data.subarray(1));

    rig.toy.pressButton('reset');
    rig.toy.pressButton('hold');
    const newApp = await Companion.open({ central: rig.radio.createCentral(), keystore: new MemoryKeystore(), displayName: 'new', clock: () => newClock.now });
    const s = await newApp.pair(rig.toyId, rig.qr, { name: 'Bunny' });
    expect(s.hello.role).toBe('owner');
    await s.close();
    await rig.toy.stop();
    const newKey = fromHex(newApp.toys()[0]!.advertisingKey);
    expect(toHex(newKey)).not.toBe(toHex(oldKey));

    const snaps = simulate(rig.toy.core, T0, T0 + DAY_MS);
    expect(snaps.length).toBeGreaterThanOrEqual(DAY_MS / SLOT_MS);
    for (const snap of snaps) {
      expect(classifyAt(newApp, newClock, snap)?.kind).toBe('paired');
      expect(classifyAt(oldApp, oldClock, snap)?.kind).toBe('someone-elses');
    }
    // the pre-reset tags mean nothing under the new key
    for (const tag of oldTags) expect(resolveAdvertisingTag(tag, [newKey], T0)).toBe(-1);
  });
});

describe('advertising: what goes on the air', () => {
  it("the toy's service data fits bleno's legacy advertisement; the PDUs hold only Flags, the service UUID and the service data", async () => {
    const a = await pairedToy('Bunny');
    const [snap] = simulate(a.rig.toy.core, T0, T0 + SLOT_MS);
    expect(snap!.data).toHaveLength(ADV_DATA_LEN);
    expect(ADV_DATA_LEN).toBeLessThanOrEqual(MAX_ADVERTISED_SERVICE_DATA);
    const { advertisement, scanResponse } = buildAdvertisingPayload(snap!.data);
    expect(advertisement.length).toBeLessThanOrEqual(31);
    const uuid = uuidToLeBytes(PLUSHLINK_SERVICE_UUID);
    const adv = adStructures(advertisement);
    expect(adv.map((x) => x.type)).toEqual([0x01, 0x21]); // Flags, 128-bit Service Data
    expect(toHex(adv[1]!.data)).toBe(toHex(concatBytes(uuid, snap!.data)));
    const rsp = adStructures(scanResponse);
    expect(rsp.map((x) => x.type)).toEqual([0x07]); // Complete List of 128-bit Service UUIDs
    expect(toHex(rsp[0]!.data)).toBe(toHex(uuid));
    // nothing else: no names (0x08/0x09), TX power (0x0a), appearance (0x19), manufacturer data (0xff)
  });

  it('the in-memory radio reports only the id, the RSSI and the service data', async () => {
    const rig = await makeRig();
    rigs.push(rig);
    const central = rig.radio.createCentral();
    const ac = new AbortController();
    for await (const ad of central.scan({ signal: ac.signal })) {
      expect(Object.keys(ad).sort()).toEqual(['id', 'rssi', 'serviceData']);
      expect(ad.serviceData).toHaveLength(ADV_DATA_LEN);
      expect(parseAdvertisement(ad.serviceData)).toMatchObject({ owned: false, pairing: false });
      ac.abort();
    }
  });

  it("noble's GAP parses the toy's real bleno advertisement (noble-sim): no name, no TX power, no manufacturer data; one service UUID and its service data", async () => {
    const rig = await makeNobleSimRig();
    simRigs.push(rig);
    rig.toy.pressButton('hold');
    const ac = new AbortController();
    let seen: Uint8Array | undefined;
    for await (const ad of rig.radio.central.scan({ signal: ac.signal })) {
      if (parseAdvertisement(ad.serviceData).pairing) {
        seen = ad.serviceData;
        ac.abort();
      }
    }
    expect(seen![0]).toBe(ADV_FLAG_PAIRING);
    const p = rig.radio.central.noble._peripherals?.[rig.toyId] as unknown as {
      advertisement: {
        localName?: string;
        txPowerLevel?: number;
        manufacturerData?: Buffer;
        serviceUuids: string[];
        serviceData: { uuid: string; data: Buffer }[];
        serviceSolicitationUuids?: string[];
      };
    };
    const a = p.advertisement;
    expect(a.localName).toBeUndefined();
    expect(a.txPowerLevel).toBeUndefined();
    expect(a.manufacturerData).toBeUndefined();
    expect(a.serviceSolicitationUuids ?? []).toEqual([]);
    expect(a.serviceUuids).toEqual([compactUuid(PLUSHLINK_SERVICE_UUID)]);
    expect(a.serviceData.map((d) => d.uuid)).toEqual([compactUuid(PLUSHLINK_SERVICE_UUID)]);
    expect(toHex(new Uint8Array(a.serviceData[0]!.data))).toBe(toHex(seen!));
  });
});
