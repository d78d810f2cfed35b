/**
 * Advertising-key rotation on removal (PROTOCOL.md §17 item 1, now fixed; docs/SECURITY.md property 6).
 *
 * A removed companion holds the toy's advertising key. Every removal that leaves pairings makes
 * the toy draw a fresh key (persisted in the same write as the allow-list change) and advertise
 * with it at once, under a new BLE address. Remaining companions learn the key in-session
 * (ADVERTISING_KEY, control event 0x84) when connected, else from the hello of their next
 * reconnect — which they reach, although their stale key no longer resolves the toy's tag, by
 * probing the unresolved owned toys nearby with the reconnect handshake (Companion.connect).
 *
 * Part 1 drives the sans-IO ToyCore directly; part 2 runs Companion ↔ ReferenceToy over the
 * in-memory radio under a fake clock and then ticks the core through 24 simulated hours.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Companion, type DiscoveredToy } from '../../../src/companion/companion.js';
import { MemoryKeystore, type KeystoreData } from '../../../src/companion/keystore.js';
import { ADV_FLAG_OWNED, ADV_SLOT_SECONDS, advertisingSlot, advertisingTag, parseAdvertisement, resolveAdvertisingTag } from '../../../src/protocol/advertising.js';
import { concatBytes, fromHex, toHex, utf8 } from '../../../src/protocol/bytes.js';
import type { SecureChannel } from '../../../src/protocol/channel.js';
import { companionKeyId, GoodbyeReason, type ControlMessage } from '../../../src/protocol/control.js';
import { generateX25519KeyPair, sha512, type RandomSource, type X25519KeyPair } from '../../../src/protocol/crypto.js';
import { CompanionHandshake } from '../../../src/protocol/handshake.js';
import { formatSetupQr, generateSetupCode, type SetupCode } from '../../../src/protocol/setup-code.js';
import { encodeWire } from '../../../src/protocol/wire.js';
import { ReferenceToy } from '../../../src/toy/reference-toy.js';
import { ToyCore } from '../../../src/toy/toy-core.js';
import type { ToyAction, ToyPersistentState } from '../../../src/toy/types.js';
import { until } from '../../helpers/intruder.js';
import { makeRig, type Rig } from '../../helpers/rig.js';
import { FakeCentral, T0 as CORE_T0, companionHandshake, newToy } from '../../property/helpers/toy-harness.js';

const SLOT_MS = ADV_SLOT_SECONDS * 1000;
const DAY_MS = 24 * 3600 * 1000;
const STEP_MS = 30_000;
/** A fixed start, 3 min 17 s into a slot. */
const T0 = Date.UTC(2025, 0, 6, 7, 3, 17);

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

// ================================================================ part 1: ToyCore

/** A companion connection to a ToyCore with its record channel; reads the toy's control records in order. */
class Member {
  central: FakeCentral;
  channel: SecureChannel | undefined;
  helloKey: string | undefined;
  private read = 0;
  private static n = 0;
  /** Every member of each toy: the actions of one member's call reach every connection. */
  private static readonly all = new WeakMap<ToyCore, Member[]>();
  constructor(
    readonly toy: ToyCore,
    readonly kp: X25519KeyPair,
  ) {
    this.central = new FakeCentral(toy, `m${Member.n++}`);
    const list = Member.all.get(toy) ?? [];
    list.push(this);
    Member.all.set(toy, list);
  }
  private share(actions: ToyAction[]): ToyAction[] {
    for (const m of Member.all.get(this.toy) ?? []) if (m !== this) m.central.absorb(actions);
    return actions;
  }
  get keyId(): string {
    return companionKeyId(this.kp.publicKey);
  }
  /** Connects and runs a handshake (pair needs an open window); confirms unless told not to. */
  handshake(mode: 'pair' | 'reconnect', toyKey: Uint8Array, code: Parameters<typeof companionHandshake>[4], now: number, confirm = true): ToyAction[] {
    this.central = new FakeCentral(this.toy, `m${Member.n++}`);
    this.read = 0;
    this.central.connect(now);
    const r = companionHandshake(this.central, mode, this.kp, toyKey, code, now, 'member', confirm);
    this.share(r.actions);
    if (!r.channel || !r.reply || !('noise' in r.reply)) throw new Error(`handshake failed: ${JSON.stringify(r.reply)}`);
    this.channel = r.channel;
    this.read = this.central.received.length;
    return r.actions;
  }
  /** Control messages the toy sent since the last call (opened with the session keys). */
  messages(): ControlMessage[] {
    const out: ControlMessage[] = [];
    for (const m of this.central.received.slice(this.read)) if (m.kind === 'record') out.push(this.channel!.openControl(m.record));
    this.read = this.central.received.length;
    return out;
  }
  request(m: Parameters<SecureChannel['sealControl']>[0], now: number): ToyAction[] {
    return this.share(this.central.send('control', this.channel!.sealControl(m), now));
  }
}

/** The toy hello a handshake answered with (decrypted by a fresh companion handshake). */
function reconnectHelloKey(toy: ToyCore, kp: X25519KeyPair, now: number): string {
  const c = new FakeCentral(toy, `hello-${Math.random()}`);
  c.connect(now);
  const hs = new CompanionHandshake('reconnect', { companion: kp, toyPublicKey: toy.identity.publicKey, hello: { displayName: 'x' }, slot: advertisingSlot(now) });
  c.send('control', hs.wireMessage1(), now);
  const reply = c.last();
  if (reply?.kind !== 'reconnect-m2') throw new Error(`no message 2: ${reply?.kind}`);
  const { toy: hello } = hs.readMessage2(reply.noise);
  toy.disconnect(c.id, now);
  return toHex(hello.advertisingKey!);
}

function persists(actions: ToyAction[]): ToyPersistentState[] {
  return actions.filter((a): a is Extract<ToyAction, { type: 'persist' }> => a.type === 'persist').map((a) => a.state);
}
function adverts(actions: ToyAction[]): Extract<ToyAction, { type: 'advertise' }>[] {
  return actions.filter((a): a is Extract<ToyAction, { type: 'advertise' }> => a.type === 'advertise');
}

/** A toy with an owner and `guests` guests, all connected and confirmed. */
function family(guests: number): { toy: ToyCore; code: SetupCode; owner: Member; guests: Member[]; now: number } {
  const { toy, identity, code } = newToy();
  let now = CORE_T0;
  const owner = new Member(toy, generateX25519KeyPair());
  toy.button('hold', now);
  owner.handshake('pair', identity.publicKey, code, now);
  const gs: Member[] = [];
  for (let i = 0; i < guests; i++) {
    now += 1000;
    owner.request({ type: 'allow-guest-pairing', id: 1 }, now);
    toy.button('hold', now);
    const g = new Member(toy, generateX25519KeyPair());
    g.handshake('pair', identity.publicKey, code, now);
    gs.push(g);
  }
  owner.messages();
  for (const g of gs) g.messages();
  expect(toy.pairings).toHaveLength(1 + guests);
  return { toy, code, owner, guests: gs, now: now + 1000 };
}

describe('ToyCore: a removal rotates the advertising key', () => {
  it('owner removes a guest: one write holds the shorter list and a fresh key; the connected owner gets ADVERTISING_KEY before its RESULT; new tag, new address; the guest gets only a GOODBYE (never the key) and is dropped', () => {
    const { toy, owner, guests, now } = family(1);
    const guest = guests[0]!;
    const oldKey = toy.persistentState.advertisingKey!;
    const actions = owner.request({ type: 'remove-pairing', id: 7, keyId: guest.keyId }, now);

    const written = persists(actions);
    expect(written).toHaveLength(1); // atomic: list change and key in one write
    expect(written[0]!.pairings.map((p) => p.role)).toEqual(['owner']);
    const newKey = written[0]!.advertisingKey!;
    expect(newKey).toMatch(/^[0-9a-f]{64}$/);
    expect(newKey).not.toBe(oldKey);
    expect(toy.persistentState.advertisingKey).toBe(newKey);

    const got = owner.messages();
    expect(got.map((m) => m.type)).toEqual(['advertising-key', 'result']);
    expect(toHex((got[0] as Extract<ControlMessage, { type: 'advertising-key' }>).advertisingKey)).toBe(newKey);
    expect(got[1]).toMatchObject({ type: 'result', id: 7, status: 'OK' });

    expect(guest.messages()).toEqual([{ type: 'goodbye', id: 0, reason: GoodbyeReason.PAIRING_REMOVED }]);
    expect(guest.central.disconnected).toBe(true);

    const adv = adverts(actions);
    expect(adv).toHaveLength(1);
    expect(adv[0]!.newAddress).toBe(true);
    const tag = adv[0]!.serviceData.subarray(1);
    // the new key's tag for this slot (its change counter moved with the new data, PROTOCOL.md §12)
    expect(resolveAdvertisingTag(tag, [fromHex(newKey)], now)).toBe(0);
    expect(toHex(tag)).not.toBe(toHex(advertisingTag(fromHex(newKey), advertisingSlot(now))));
    expect(resolveAdvertisingTag(tag, [fromHex(oldKey)], now)).toBe(-1);
    expect(toy.persistentState).toMatchObject({ advertisingKey: newKey });

    // the owner's next hello carries the new key too
    expect(reconnectHelloKey(toy, owner.kp, now + 1)).toBe(newKey);
  });

  it('every removal that leaves pairings rotates (guest removes itself, owner removes itself); the last removal erases the key', () => {
    const { toy, owner, guests, now } = family(2);
    const [g1, g2] = guests as [Member, Member];
    const k0 = toy.persistentState.advertisingKey!;

    // a guest removes itself: owner and the other guest (both connected) get the new key
    g1.request({ type: 'remove-pairing', id: 3, keyId: g1.keyId }, now);
    const k1 = toy.persistentState.advertisingKey!;
    expect(k1).not.toBe(k0);
    expect(g1.messages()).toEqual([{ type: 'result', id: 3, status: 'OK', body: new Uint8Array(0) }, { type: 'goodbye', id: 0, reason: GoodbyeReason.PAIRING_REMOVED }]); // its OK, then GOODBYE and the drop; never the key
    expect(g1.central.disconnected).toBe(true);
    for (const m of [owner, g2]) expect(m.messages().map((x) => x.type === 'advertising-key' && toHex(x.advertisingKey))).toEqual([k1]);

    // the owner removes itself while a guest remains
    owner.request({ type: 'remove-pairing', id: 4, keyId: owner.keyId }, now + 1);
    const k2 = toy.persistentState.advertisingKey!;
    expect(new Set([k0, k1, k2]).size).toBe(3);
    expect(owner.messages().map((m) => m.type === 'goodbye' ? `goodbye ${m.reason}` : m.type)).toEqual(['result', `goodbye ${GoodbyeReason.PAIRING_REMOVED}`]);
    expect(g2.messages().map((x) => x.type === 'advertising-key' && toHex(x.advertisingKey))).toEqual([k2]);
    expect(toy.pairings.map((p) => p.role)).toEqual(['guest']);

    // the last one leaves: no key at all, random tags (flags 0)
    const last = g2.request({ type: 'remove-pairing', id: 5, keyId: g2.keyId }, now + 2);
    expect(toy.persistentState.advertisingKey).toBeUndefined();
    expect(persists(last)).toHaveLength(1);
    expect(persists(last)[0]!.advertisingKey).toBeUndefined();
    expect(g2.messages().map((m) => m.type === 'goodbye' ? `goodbye ${m.reason}` : m.type)).toEqual(['result', `goodbye ${GoodbyeReason.PAIRING_REMOVED}`]);
    expect(adverts(last)[0]!.serviceData[0]).toBe(0);
  });

  it('a disconnected companion learns the rotated key from its next reconnect hello', () => {
    const { toy, owner, guests, now } = family(2);
    const [g1, g2] = guests as [Member, Member];
    const before = toy.persistentState.advertisingKey!;
    toy.disconnect(g2.central.id, now); // g2 is away
    owner.request({ type: 'remove-pairing', id: 2, keyId: g1.keyId }, now + 1);
    const rotated = toy.persistentState.advertisingKey!;
    expect(rotated).not.toBe(before);
    g2.handshake('reconnect', toy.identity.publicKey, undefined, now + 2);
    expect(g2.channel).toBeDefined();
    // the hello has it already: no ADVERTISING_KEY needed on this connection
    expect(g2.messages()).toEqual([]);
    expect(reconnectHelloKey(toy, g2.kp, now + 3)).toBe(rotated);
  });

  it('a guest pairing pending during a removal is not superseded: it is sent no key while pending, and the current key when it confirms', () => {
    const { toy, code, owner, guests, now } = family(1);
    const [g1] = guests as [Member];
    owner.request({ type: 'allow-guest-pairing', id: 9 }, now);
    owner.messages();
    toy.button('hold', now);
    const newcomer = new Member(toy, generateX25519KeyPair());
    // message 1 read and answered (the pairing hello carries no key), not yet confirmed
    newcomer.handshake('pair', toy.identity.publicKey, code, now, false);
    const before = toy.persistentState.advertisingKey!;
    owner.request({ type: 'remove-pairing', id: 10, keyId: g1.keyId }, now + 1);
    const rotated = toy.persistentState.advertisingKey!;
    expect(rotated).not.toBe(before);
    // the pending newcomer is not on the allow-list: it is told nothing
    expect(newcomer.messages()).toEqual([]);
    newcomer.request({ type: 'confirm', id: 1 }, now + 2);
    expect(newcomer.central.disconnected).toBe(false);
    expect(toy.pairings.map((p) => p.role)).toEqual(['owner', 'guest']);
    expect(toy.persistentState.advertisingKey).toBe(rotated);
    // the pairing took effect: now it gets the current key, once
    expect(newcomer.messages().map((m) => m.type === 'advertising-key' && toHex(m.advertisingKey))).toEqual([rotated]);
  });

  it('a pending pairing that found a key, confirming after the list emptied (key erased), stores a fresh key — never the old one the removed companions hold', () => {
    const { toy, code, owner, guests, now } = family(1);
    const [g1] = guests as [Member];
    // the owner leaves; the guest remains: the toy has a key but no owner, so a hold opens an owner window
    owner.request({ type: 'remove-pairing', id: 2, keyId: owner.keyId }, now);
    const held = toy.persistentState.advertisingKey!;
    toy.button('hold', now + 1);
    const newcomer = new Member(toy, generateX25519KeyPair());
    newcomer.handshake('pair', toy.identity.publicKey, code, now + 1, false); // pending owner (its hello carries no key)
    // the last guest leaves before the newcomer confirms: the key is erased
    g1.request({ type: 'remove-pairing', id: 3, keyId: g1.keyId }, now + 2);
    expect(toy.persistentState.advertisingKey).toBeUndefined();
    newcomer.request({ type: 'confirm', id: 1 }, now + 3);
    expect(toy.pairings.map((p) => p.role)).toEqual(['owner']);
    const stored = toy.persistentState.advertisingKey!;
    expect(stored).toMatch(/^[0-9a-f]{64}$/);
    expect(stored).not.toBe(held);
    expect(newcomer.messages().map((m) => m.type === 'advertising-key' && toHex(m.advertisingKey))).toEqual([stored]);
  });

  it("the decision is made from the injected RandomSource: the new key is the toy's next 32 random bytes", () => {
    let next = 0;
    const random: RandomSource = (n) => new Uint8Array(n).fill(++next);
    const identity = generateX25519KeyPair();
    const code = generateSetupCode();
    const toyCore = new ToyCore({ identity, setupCode: code, random, now: CORE_T0 });
    toyCore.start(CORE_T0);
    const owner = new Member(toyCore, generateX25519KeyPair());
    toyCore.button('hold', CORE_T0);
    owner.handshake('pair', identity.publicKey, code, CORE_T0);
    owner.request({ type: 'allow-guest-pairing', id: 1 }, CORE_T0);
    toyCore.button('hold', CORE_T0);
    const guest = new Member(toyCore, generateX25519KeyPair());
    guest.handshake('pair', identity.publicKey, code, CORE_T0);
    const calls = next;
    owner.request({ type: 'remove-pairing', id: 2, keyId: guest.keyId }, CORE_T0 + 1);
    expect(toyCore.persistentState.advertisingKey).toBe(toHex(new Uint8Array(32).fill(calls + 1)));
  });
});

// ================================================================ part 2: end to end

const rigs: Rig[] = [];
const extraToys: ReferenceToy[] = [];
afterEach(async () => {
  for (const t of extraToys.splice(0)) await t.stop().catch(() => undefined);
  for (const r of rigs.splice(0)) await r.close().catch(() => undefined);
});

interface Snapshot {
  t: number;
  data: Uint8Array;
}
function simulate(core: ToyCore, from: number, to: number, step = STEP_MS): Snapshot[] {
  const out: Snapshot[] = [];
  for (let t = from + step; t <= to; t += step) {
    for (const a of core.tick(t)) if (a.type === 'advertise') out.push({ t, data: Uint8Array.from(a.serviceData) });
  }
  return out;
}
function classifyAt(app: Companion, clock: { now: number }, s: Snapshot, skewMs = 0): DiscoveredToy | undefined {
  clock.now = s.t + skewMs;
  return app.classify({ id: 'aa:bb', serviceData: s.data });
}

interface Member2 {
  app: Companion;
  keystore: MemoryKeystore;
  clock: { now: number };
}

/** A companion app; with `saved`, over a copy of what another app had stored (its identity and pairings). */
async function member(rig: Rig, name: string, t: number, saved?: KeystoreData): Promise<Member2> {
  const keystore = new MemoryKeystore();
  if (saved) await keystore.save(saved);
  const clock = { now: t };
  const app = await Companion.open({ central: rig.radio.createCentral({ mtu: 247 }), keystore, displayName: name, clock: () => clock.now, handshakeTimeoutMs: 2000 });
  return { app, keystore, clock };
}

/** Owner + guests paired with a rig's toy (running, fake clock at T0). Sessions stay open. */
async function familyOnRadio(label: string, guestNames: string[], rigOpts: Parameters<typeof makeRig>[0] = {}) {
  const toyClock = { now: T0 };
  const rig = await makeRig({ ...rigOpts, toy: { clock: () => toyClock.now, random: seededSource(`toy ${label}`), ...rigOpts.toy } });
  rigs.push(rig);
  const owner = await member(rig, 'owner', T0);
  rig.toy.pressButton('hold');
  // a toy that rotates its address moves when its window opens: pair at the current address (an app finds it by scanning)
  await rig.toy.flush();
  const os = await owner.app.pair(rig.peripheral.id, rig.qr, { name: 'Bunny' });
  const guests: (Member2 & { session: Awaited<ReturnType<Companion['pair']>> })[] = [];
  for (const n of guestNames) {
    await os.allowGuestPairing();
    rig.toy.pressButton('hold');
    await rig.toy.flush();
    const g = await member(rig, n, T0);
    const session = await g.app.pair(rig.peripheral.id, rig.qr, { name: 'Bunny' });
    expect(session.hello.role).toBe('guest');
    guests.push({ ...g, session });
  }
  expect(await until(() => rig.toy.core.pairings.length === 1 + guestNames.length)).toBe(true);
  return { rig, toyClock, owner: { ...owner, session: os }, guests };
}

describe('end to end: the removed guest can no longer recognise the toy', () => {
  it("after the owner removes a guest, the guest's key resolves no tag in any slot of 24 h (±1 slot of skew) while the owner — updated in-session, then reconnected by scan — resolves every one", async () => {
    const { rig, owner, guests } = await familyOnRadio('rotation', ['grandma']);
    const guest = guests[0]!;
    const sharedKey = owner.app.toys()[0]!.advertisingKey;
    expect(guest.app.toys()[0]!.advertisingKey).toBe(sharedKey);

    const events: string[] = [];
    owner.app.on('advertising-key', (t) => events.push(t.advertisingKey));
    const guestSaved = await guest.keystore.load();
    await owner.session.removePairing(companionKeyId(guest.app.publicKey));
    // pushed in-session before the RESULT: known as soon as removePairing() resolves
    const newKey = owner.app.toys()[0]!.advertisingKey;
    expect(newKey).not.toBe(sharedKey);
    expect(owner.session.toy.advertisingKey).toBe(newKey);
    await rig.toy.flush();
    expect(rig.storage.state?.advertisingKey).toBe(newKey);
    expect(rig.storage.state?.pairings).toHaveLength(1);
    // persisted by the companion's keystore, and announced
    expect(await until(() => events.length === 1)).toBe(true);
    expect(events).toEqual([newKey]);
    expect((await owner.keystore.load())!.toys[0]!.advertisingKey).toBe(newKey);
    expect(await until(() => !guest.session.open)).toBe(true);
    // the removed guest was told (GOODBYE) and its app forgot the toy; a guest that ignores
    // that and keeps its old key (the ghost) is what the rotation must defeat
    expect(await until(() => guest.app.toys().length === 0)).toBe(true);
    const ghost = await member(rig, 'ghost', T0, guestSaved);
    expect(ghost.app.toys()[0]!.advertisingKey).toBe(sharedKey);

    // the owner reconnects by scanning for the tag (no transport id, no probing needed)
    await owner.session.close();
    const again = await owner.app.connect('Bunny', { probeUnresolved: false, timeoutMs: 5_000 });
    expect(again.hello.advertisingKey).toEqual(fromHex(newKey));
    await again.close();

    // 24 simulated hours of advertisements
    await rig.toy.stop();
    const snaps = simulate(rig.toy.core, T0, T0 + DAY_MS);
    expect(snaps).toHaveLength(advertisingSlot(T0 + DAY_MS) - advertisingSlot(T0));
    const oldKey = fromHex(sharedKey);
    for (const s of snaps) {
      expect(s.data[0]).toBe(ADV_FLAG_OWNED);
      const tag = parseAdvertisement(s.data).tag;
      for (const skew of [-SLOT_MS, 0, SLOT_MS]) {
        expect(resolveAdvertisingTag(tag, [oldKey], s.t + skew)).toBe(-1);
        expect(classifyAt(ghost.app, ghost.clock, s, skew)?.kind).toBe('someone-elses');
        const d = classifyAt(owner.app, owner.clock, s, skew);
        expect(d?.kind === 'paired' && d.toy.name).toBe('Bunny');
      }
    }
  });

  it('the BLE address changes at the removal too (a running toy that rotates addresses)', async () => {
    const { rig, owner, guests } = await familyOnRadio('address', ['grandpa'], { toy: { rotateAddress: true } });
    const addressBefore = rig.peripheral.id;
    await owner.session.removePairing(companionKeyId(guests[0]!.app.publicKey));
    expect(await until(() => rig.peripheral.id !== addressBefore)).toBe(true);
    // the owner's live session is unaffected
    expect(owner.session.open).toBe(true);
    await owner.session.setVolume(33);
  });
});

describe('end to end: a remaining companion that was away during the rotation', () => {
  it("cannot resolve the new tag, finds the toy by probing unresolved owned toys (a foreign toy first, which refuses), reconnects, and stores the new key; the removed guest's probes are refused by both toys alike and it gives up with NOT_PAIRED", async () => {
    const { rig, owner, guests } = await familyOnRadio('offline', ['removed', 'away']);
    const [removed, away] = guests as [(typeof guests)[0], (typeof guests)[0]];
    // a neighbour's toy, owned, with a stronger signal: probed first
    const foreignId = generateX25519KeyPair();
    const foreignCode = generateSetupCode();
    const foreignPeripheral = rig.radio.createPeripheral({ mtu: 247, rssi: -30 });
    const foreign = new ReferenceToy({ peripheral: foreignPeripheral, identity: foreignId, setupCode: foreignCode, clock: () => T0, rotateAddress: false });
    extraToys.push(foreign);
    await foreign.start();
    const neighbour = await member(rig, 'neighbour', T0);
    foreign.pressButton('hold');
    await (await neighbour.app.pair(foreignPeripheral.id, formatSetupQr(foreignCode, foreignId.publicKey))).close();
    const foreignBefore = structuredClone(foreign.core.persistentState);

    await away.session.close(); // away from now on
    const staleKey = away.app.toys()[0]!.advertisingKey;
    const removedSaved = await removed.keystore.load();
    await owner.session.removePairing(companionKeyId(removed.app.publicKey));
    const newKey = owner.app.toys()[0]!.advertisingKey;
    expect(newKey).not.toBe(staleKey);
    expect(away.app.toys()[0]!.advertisingKey).toBe(staleKey);

    // "away" sees its own toy as someone else's now
    const ac = new AbortController();
    const seen: DiscoveredToy[] = [];
    const timer = setTimeout(() => ac.abort(), 300);
    for await (const d of away.app.scan({ signal: ac.signal })) seen.push(d);
    clearTimeout(timer);
    expect(seen.some((d) => d.kind === 'paired')).toBe(false);
    expect([...new Set(seen.filter((d) => d.kind === 'someone-elses').map((d) => d.transportId))].sort()).toEqual([rig.toyId, foreignPeripheral.id].sort());

    // without the fallback (the default) it does not find the toy, and sends no message 1 to anyone
    await expect(away.app.connect('Bunny', { timeoutMs: 500 })).rejects.toMatchObject({ code: 'TIMEOUT' });

    // with it (asked for): the foreign toy refuses our message 1, ours answers; the hello brings the key
    const updates: string[] = [];
    away.app.on('advertising-key', (t) => updates.push(t.advertisingKey));
    const foreignRefusals = foreign.core.refusals['bad-handshake'];
    const s = await away.app.connect('Bunny', { probeUnresolved: true, probeAfterMs: 100, timeoutMs: 10_000 });
    expect(s.toy.advertisingKey).toBe(newKey);
    expect(away.app.toys()[0]!.advertisingKey).toBe(newKey);
    expect((await away.keystore.load())!.toys[0]!.advertisingKey).toBe(newKey);
    expect(updates).toEqual([newKey]);
    expect(foreign.core.refusals['bad-handshake']).toBe(foreignRefusals + 1);
    expect(foreign.core.persistentState).toEqual(foreignBefore); // probing changed nothing there
    expect(foreign.core.sessionCount).toBe(0);
    await s.setVolume(20);
    await s.close();

    // now its scan resolves the toy again
    const ac2 = new AbortController();
    let found: DiscoveredToy | undefined;
    for await (const d of away.app.scan({ signal: ac2.signal })) {
      if (d.kind === 'paired') {
        found = d;
        ac2.abort();
      }
    }
    expect(found?.transportId).toBe(rig.toyId);

    // the removed guest's own probes: our toy reads its message 1 and refuses it exactly as the
    // foreign toy refuses a message 1 it cannot read (§13.4), so the guest cannot tell which toy
    // was its own; after a grace period without new candidates it gives up, well before the deadline
    const ourNotPaired = rig.toy.core.refusals['not-paired'];
    const foreignBad = foreign.core.refusals['bad-handshake'];
    const started = Date.now();
    // (the removed guest's app was told and forgot the toy: this is one that kept what it had)
    expect(removed.app.toys()).toEqual([]);
    const ghost = await member(rig, 'ghost', T0, removedSaved);
    await expect(ghost.app.connect('Bunny', { probeUnresolved: true, probeAfterMs: 100, timeoutMs: 10_000 })).rejects.toMatchObject({ code: 'NOT_PAIRED', detail: { refusal: 'HANDSHAKE_FAILED', probed: 2 } });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(rig.toy.core.refusals['not-paired']).toBe(ourNotPaired + 1);
    expect(foreign.core.refusals['bad-handshake']).toBe(foreignBad + 1);
    expect(rig.toy.core.pairings.map((p) => p.displayName).sort()).toEqual(['away', 'owner']);
  });
});
