/**
 * Concurrent and stale pairings at key confirmation (PROTOCOL.md §6.4, §13.2, §13.5).
 *
 * Message 1 changes nothing on the toy; a pairing takes effect only when its companion
 * confirms (its first authenticated record). At that moment the toy re-checks what it decided
 * at message 1 and refuses — drops the connection ("pairing superseded") after one GOODBYE,
 * stores nothing — a confirmation when:
 *   (a) the pairing window is no longer open (timed out, or another pairing of the same window
 *       was confirmed first and closed it);
 *   (b) the pending pairing drew a fresh advertising key and the toy has stored one since;
 *   (c) the companion is not on the list and its pending role no longer fits;
 *   (d) the companion is not on the list and the list is full (1 owner + maxGuests guests).
 * A re-pairing companion (already on the list) gets (a) and (b) only.
 *
 * Part 1 drives the sans-IO ToyCore with a fake clock; every `persist` action is collected as
 * the toy's flash. Each of (a)–(d) has a case where it alone decides, so that losing any one
 * check fails a test. Part 2 runs two raw companions against the ReferenceToy on the in-memory
 * radio and checks what reached its storage.
 */
import { advertisingSlot } from '../../src/protocol/advertising.js';
import { afterEach, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/protocol/bytes.js';
import { SecureChannel } from '../../src/protocol/channel.js';
import { companionKeyId, GoodbyeReason, type ControlMessage } from '../../src/protocol/control.js';
import { generateX25519KeyPair, type X25519KeyPair } from '../../src/protocol/crypto.js';
import { MemoryKeystore } from '../../src/companion/keystore.js';
import { CompanionHandshake, type HandshakeMode, type ToyHello } from '../../src/protocol/handshake.js';
import { encodeWire, type WireMessage } from '../../src/protocol/wire.js';
import type { ToyCore } from '../../src/toy/toy-core.js';
import type { ToyAction, ToyConfig, ToyPersistentState } from '../../src/toy/types.js';
import { FakeCentral, T0, newToy } from '../property/helpers/toy-harness.js';
import { Intruder, until } from '../helpers/intruder.js';
import { makeRig, type Rig } from '../helpers/rig.js';

const WINDOW_MS = 120_000;

// ================================================================ part 1: ToyCore, fake clock

type Request = Parameters<SecureChannel['sealControl']>[0];

/** One toy and the companions around it; records every state the toy asks to persist. */
class Bench {
  readonly toy: ToyCore;
  readonly identity: X25519KeyPair;
  readonly code: ReturnType<typeof newToy>['code'];
  readonly peers: Peer[] = [];
  /** Every state the toy asked to persist, in order: its flash. */
  readonly flash: ToyPersistentState[] = [];

  constructor(readonly config: ToyConfig = {}) {
    const t = newToy({ config });
    this.toy = t.toy;
    this.identity = t.identity;
    this.code = t.code;
  }

  /** What the flash holds now (undefined: never written). */
  get stored(): ToyPersistentState | undefined {
    return this.flash.at(-1);
  }

  get maxGuests(): number {
    return this.toy.config.maxGuests;
  }

  /** Hands a toy call's actions to every other connection (the caller's central absorbed them) and records persists. */
  take(actions: ToyAction[], from?: FakeCentral): ToyAction[] {
    for (const p of this.peers) if (p.central && p.central !== from) p.central.absorb(actions);
    for (const a of actions) if (a.type === 'persist') this.flash.push(structuredClone(a.state));
    return actions;
  }

  hold(now: number): ToyAction[] {
    return this.take(this.toy.button('hold', now));
  }

  tick(now: number): ToyAction[] {
    return this.take(this.toy.tick(now));
  }

  peer(name: string): Peer {
    const p = new Peer(this, name);
    this.peers.push(p);
    return p;
  }

  /** The invariants that must hold after every step, whatever happened. */
  checkInvariants(): void {
    const list = this.toy.pairings;
    expect(list.filter((p) => p.role === 'owner').length).toBeLessThanOrEqual(1);
    expect(list.filter((p) => p.role === 'guest').length).toBeLessThanOrEqual(this.maxGuests);
    expect(new Set(list.map((p) => p.companionKey)).size).toBe(list.length);
    // the toy's flash is what it holds in memory (each change was persisted)
    if (this.stored) expect(this.stored).toEqual(this.toy.persistentState);
    else expect(this.toy.persistentState.pairings).toEqual([]);
  }
}

let connSerial = 0;

/** A companion: connects, runs handshakes, confirms, sends requests, reads the toy's records. */
class Peer {
  readonly kp = generateX25519KeyPair();
  central: FakeCentral | undefined;
  channel: SecureChannel | undefined;
  hello: ToyHello | undefined;
  private read = 0;

  constructor(
    readonly bench: Bench,
    public name: string,
  ) {}

  get key(): string {
    return toHex(this.kp.publicKey);
  }

  get keyId(): string {
    return companionKeyId(this.kp.publicKey);
  }

  private get c(): FakeCentral {
    if (!this.central) throw new Error(`${this.name} is not connected`);
    return this.central;
  }

  /** A new connection (a fresh link). */
  connect(now: number): this {
    this.central = new FakeCentral(this.bench.toy, `${this.name}#${connSerial++}`);
    this.channel = undefined;
    this.hello = undefined;
    this.read = 0;
    this.bench.take(this.central.connect(now), this.central);
    return this;
  }

  /** Sends message 1; on message 2 derives the session (not yet confirmed). Returns the toy's answer. */
  message1(mode: HandshakeMode, now: number): WireMessage | undefined {
    const c = this.c;
    const hs = new CompanionHandshake(mode, {
      companion: this.kp,
      toyPublicKey: this.bench.identity.publicKey,
      hello: { displayName: this.name },
      setupCode: mode === 'pair' ? this.bench.code : undefined,
      slot: advertisingSlot(now),
    });
    const before = c.received.length;
    this.bench.take(c.send('control', hs.wireMessage1(), now), c);
    const reply = c.received[before];
    if (reply?.kind === 'pair-m2' || reply?.kind === 'reconnect-m2') {
      const { keys, toy } = hs.readMessage2(reply.noise);
      this.channel = new SecureChannel(keys);
      this.hello = toy;
      this.read = c.received.length;
    }
    return reply;
  }

  /** Message 1 that must be read and answered (pair-m2 / reconnect-m2). */
  expectSession(mode: HandshakeMode, now: number): ToyHello {
    const reply = this.message1(mode, now);
    expect(reply?.kind).toBe(mode === 'pair' ? 'pair-m2' : 'reconnect-m2');
    return this.hello!;
  }

  /** The key-confirmation record, exactly what the real companion sends right after message 2. */
  confirm(now: number): ToyAction[] {
    return this.send({ type: 'confirm', id: 1 }, now);
  }

  send(m: Request, now: number): ToyAction[] {
    if (!this.channel) throw new Error(`${this.name} has no session`);
    const c = this.c;
    return this.bench.take(c.send('control', this.channel.sealControl(m), now), c);
  }

  /** Sends a request and returns the toy's control messages that came back. */
  request(m: Request, now: number): ControlMessage[] {
    this.send(m, now);
    return this.messages();
  }

  /** A request that must be answered OK. */
  ok(m: Request, now: number): void {
    expect(this.request(m, now)).toContainEqual(expect.objectContaining({ type: 'result', id: m.id, status: 'OK' }));
  }

  /** Control messages the toy sent in this session since the last call, opened. */
  messages(): ControlMessage[] {
    const out: ControlMessage[] = [];
    const c = this.c;
    for (const m of c.received.slice(this.read)) if (m.kind === 'record') out.push(this.channel!.openControl(m.record));
    this.read = c.received.length;
    return out;
  }

  /** Connects, pairs and confirms in one go (must succeed and not be dropped). */
  pair(now: number): ToyHello {
    this.connect(now);
    const hello = this.expectSession('pair', now);
    this.confirm(now);
    expect(this.c.disconnected).toBe(false);
    this.messages();
    return hello;
  }

  get connected(): boolean {
    return !!this.central && !this.central.disconnected;
  }
}

const disconnects = (actions: ToyAction[], p: Peer): Extract<ToyAction, { type: 'disconnect' }>[] =>
  actions.filter((a): a is Extract<ToyAction, { type: 'disconnect' }> => a.type === 'disconnect' && a.connection === p.central?.id);
const persists = (actions: ToyAction[]): ToyAction[] => actions.filter((a) => a.type === 'persist');

/**
 * The refused confirmation as PROTOCOL §6.4 requires it: the connection is dropped with
 * "pairing superseded", the only thing sent to it is one GOODBYE record (reason
 * PAIRING_SUPERSEDED) in its session, nothing is persisted, the allow-list and the whole
 * persistent state are as they were, and the companion is nowhere on the list.
 */
function expectSuperseded(bench: Bench, p: Peer, confirm: () => ToyAction[]): void {
  const before = bench.toy.persistentState;
  const flashBefore = bench.flash.length;
  const id = p.central!.id;
  const received = p.central!.received.length;
  const actions = confirm();
  expect(disconnects(actions, p).map((a) => a.reason)).toEqual(['pairing superseded']);
  const told = p.central!.received.slice(received);
  expect(told.map((w) => w.kind)).toEqual(['record']);
  expect(p.channel!.openControl((told[0] as { record: Uint8Array }).record)).toEqual({ type: 'goodbye', id: 0, reason: GoodbyeReason.PAIRING_SUPERSEDED });
  // the GOODBYE goes out before the disconnect
  expect(actions.findIndex((a) => a.type === 'send' && a.connection === id)).toBeLessThan(actions.findIndex((a) => a.type === 'disconnect' && a.connection === id));
  expect(persists(actions)).toEqual([]);
  expect(actions.some((a) => a.type === 'log' && a.event.kind === 'paired')).toBe(false);
  expect(bench.flash.length).toBe(flashBefore);
  expect(bench.toy.persistentState).toEqual(before);
  expect(p.central!.disconnected).toBe(true);
  expect(bench.toy.hasSession(id)).toBe(false);
  bench.checkInvariants();
}

/** The companion is not on the toy's allow-list (in memory and in flash); its reconnect is refused (HANDSHAKE_FAILED on the air, counted as not-paired). */
function expectNotPaired(bench: Bench, p: Peer, now: number): void {
  expect(bench.toy.pairings.map((x) => x.companionKey)).not.toContain(p.key);
  expect((bench.stored?.pairings ?? []).map((x) => x.companionKey)).not.toContain(p.key);
  p.connect(now);
  const notPaired = bench.toy.refusals['not-paired'];
  expect(p.message1('reconnect', now)).toEqual({ kind: 'error', refusal: 'HANDSHAKE_FAILED', retryAfterSec: 0 });
  expect(bench.toy.refusals['not-paired']).toBe(notPaired + 1);
  expect(p.connected).toBe(false);
}

/** Reconnects and checks the toy knows the companion with this role. */
function expectPaired(bench: Bench, p: Peer, role: 'owner' | 'guest', now: number): void {
  expect(bench.stored?.pairings.find((x) => x.companionKey === p.key)?.role).toBe(role);
  p.connect(now);
  expect(p.expectSession('reconnect', now).role).toBe(role);
  p.confirm(now);
  expect(p.connected).toBe(true);
}

/** A toy with an owner and `guests` guests, the owner still connected. */
function family(config: ToyConfig, guests: number): { bench: Bench; owner: Peer; guests: Peer[]; now: number } {
  const bench = new Bench(config);
  let now = T0;
  const owner = bench.peer('owner');
  bench.hold(now);
  expect(owner.pair(now).role).toBe('owner');
  const gs: Peer[] = [];
  for (let i = 0; i < guests; i++) {
    now += 1000;
    owner.ok({ type: 'allow-guest-pairing', id: 1 }, now);
    bench.hold(now);
    const g = bench.peer(`guest${i + 1}`);
    expect(g.pair(now).role).toBe('guest');
    gs.push(g);
  }
  expect(bench.toy.pairings).toHaveLength(1 + guests);
  bench.checkInvariants();
  return { bench, owner, guests: gs, now: now + 1000 };
}

describe('ToyCore: two owner pairings read in one window', () => {
  for (const first of ['the first to send message 1', 'the second to send message 1'] as const) {
    it(`exactly one becomes owner (${first} confirms first); the other's CONFIRM drops its connection and stores nothing`, () => {
      const bench = new Bench();
      const now = T0;
      bench.hold(now);
      const a = bench.peer('alice').connect(now + 1);
      const b = bench.peer('bob').connect(now + 2);
      // both messages 1 are read: both are told they will be owner, neither is given a key
      expect(a.expectSession('pair', now + 3).role).toBe('owner');
      expect(b.expectSession('pair', now + 4).role).toBe('owner');
      expect(a.hello!.advertisingKey).toBeUndefined();
      expect(b.hello!.advertisingKey).toBeUndefined();
      // message 1 changed nothing
      expect(bench.flash).toEqual([]);
      expect(bench.toy.pairings).toEqual([]);
      expect(bench.toy.pairingWindowOpen(now + 4)).toBe(true);

      const [winner, loser] = first === 'the first to send message 1' ? [a, b] : [b, a];
      const won = winner.confirm(now + 10);
      expect(disconnects(won, winner)).toEqual([]);
      expect(persists(won)).toHaveLength(1);
      expect(bench.toy.pairings.map((p) => [p.companionKey, p.role, p.displayName])).toEqual([[winner.key, 'owner', winner.name]]);
      // the key is drawn at the confirmation and sent to the winner only
      const key = bench.stored!.advertisingKey!;
      expect(winner.messages()).toEqual([{ type: 'advertising-key', id: 0, advertisingKey: fromHex(key) }]);
      expect(bench.toy.pairingWindowOpen(now + 10)).toBe(false);
      bench.checkInvariants();

      expectSuperseded(bench, loser, () => loser.confirm(now + 11));
      expect(bench.toy.pairings.map((p) => p.companionKey)).toEqual([winner.key]);
      expect(bench.stored?.advertisingKey).toBe(key);
      expect(bench.toy.sessionCount).toBe(1);

      // the winner's session goes on; the loser is not paired, the winner is
      winner.ok({ type: 'get-battery', id: 2 }, now + 12);
      expectNotPaired(bench, loser, now + 13);
      expectPaired(bench, winner, 'owner', now + 14);
      bench.checkInvariants();
    });
  }

  it('the loser stays refused: a later record on the dropped connection does nothing', () => {
    const bench = new Bench();
    bench.hold(T0);
    const a = bench.peer('a').connect(T0);
    const b = bench.peer('b').connect(T0);
    a.expectSession('pair', T0);
    b.expectSession('pair', T0);
    a.confirm(T0 + 1);
    expectSuperseded(bench, b, () => b.confirm(T0 + 2));
    // the link may still deliver a write or two before it is torn down: the toy ignores them
    const late = b.send({ type: 'set-volume', id: 2, volume: 5 }, T0 + 3);
    expect(late).toEqual([]);
    expect(bench.toy.executed['set-volume']).toBeUndefined();
    expect(bench.toy.persistentState.volume).toBe(70);
  });
});

describe('ToyCore: guest slots at confirmation (bound: 1 owner + maxGuests guests)', () => {
  it('with the list one short of full, two guests read in one window both confirm: only the first is stored', () => {
    const { bench, owner, now } = family({ maxGuests: 2 }, 1);
    owner.ok({ type: 'allow-guest-pairing', id: 2 }, now);
    bench.hold(now);
    const g2 = bench.peer('guest2').connect(now + 1);
    const g3 = bench.peer('guest3').connect(now + 1);
    expect(g2.expectSession('pair', now + 2).role).toBe('guest');
    expect(g3.expectSession('pair', now + 2).role).toBe('guest');
    expect(bench.toy.pairings).toHaveLength(2);

    g2.confirm(now + 3);
    expect(g2.connected).toBe(true);
    expect(bench.toy.pairings).toHaveLength(1 + bench.maxGuests); // full now
    bench.checkInvariants();

    expectSuperseded(bench, g3, () => g3.confirm(now + 4));
    expect(bench.stored?.pairings.map((p) => p.role)).toEqual(['owner', 'guest', 'guest']);
    expectNotPaired(bench, g3, now + 5);
    expectPaired(bench, g2, 'guest', now + 6);
  });

  it('the bound is re-checked at the confirmation: with a new window open, a guest read before the list filled is still refused', () => {
    // The window and the role fit again at the confirmation; only the full list stops it.
    const { bench, owner, now } = family({ maxGuests: 2 }, 1);
    owner.ok({ type: 'allow-guest-pairing', id: 2 }, now);
    bench.hold(now);
    const g2 = bench.peer('guest2').connect(now + 1);
    const g3 = bench.peer('guest3').connect(now + 1);
    g2.expectSession('pair', now + 2);
    g3.expectSession('pair', now + 2);
    g2.confirm(now + 3);
    expect(bench.toy.pairings).toHaveLength(3);
    // the owner opens another guest window while guest3 is still unconfirmed
    owner.ok({ type: 'allow-guest-pairing', id: 3 }, now + 4);
    bench.hold(now + 5);
    expect(bench.toy.pairingWindowOpen(now + 6)).toBe(true);

    expectSuperseded(bench, g3, () => g3.confirm(now + 6));
    expect(bench.toy.pairings).toHaveLength(1 + bench.maxGuests);
    // the refusal did not use up the window (nothing was committed)
    expect(bench.toy.pairingWindowOpen(now + 7)).toBe(true);
    expectNotPaired(bench, g3, now + 7);
  });

  it('with more guests pending than maxGuests: the first to confirm is stored, the others belong to the closed window and are refused even after the owner opens another; the list never exceeds its bound', () => {
    // Every pending guest confirms; between confirmations the owner re-opens a window each time.
    const maxGuests = 2;
    const { bench, owner, now: t } = family({ maxGuests }, 0);
    let now = t;
    owner.ok({ type: 'allow-guest-pairing', id: 2 }, now);
    bench.hold(now);
    const pending = [1, 2, 3, 4].map((i) => bench.peer(`g${i}`).connect(now));
    for (const g of pending) expect(g.expectSession('pair', now).role).toBe('guest');
    let stored = 0;
    for (const g of pending) {
      now += 10;
      const out = g.confirm(now);
      if (disconnects(out, g).length === 0) stored++;
      bench.checkInvariants();
      owner.ok({ type: 'allow-guest-pairing', id: 3 }, now);
      bench.hold(now);
    }
    // a window admits one pairing: the pairings read in it do not carry over to the next window
    expect(stored).toBe(1);
    expect(bench.toy.pairings.filter((p) => p.role === 'guest')).toHaveLength(1);
    expect(bench.stored?.pairings).toHaveLength(2);
    expect(bench.toy.pairings.length).toBeLessThanOrEqual(1 + maxGuests);
  });
});

describe('ToyCore: the window closes between message 1 and CONFIRM', () => {
  for (const ticked of [true, false]) {
    it(`a first pairing that confirms after the window timed out is dropped and stores nothing (${ticked ? 'the toy ticked past the end' : 'no tick in between'})`, () => {
      const bench = new Bench();
      bench.hold(T0);
      // message 1 read 1.5 s before the end of the window; the handshake deadline (5 s) has not passed at CONFIRM
      const p = bench.peer('late').connect(T0 + WINDOW_MS - 1500);
      expect(p.expectSession('pair', T0 + WINDOW_MS - 1500).role).toBe('owner');
      if (ticked) {
        const out = bench.tick(T0 + WINDOW_MS);
        expect(out).toContainEqual({ type: 'log', event: { kind: 'pairing-window', open: false, reason: 'timed out' } });
        expect(disconnects(out, p)).toEqual([]); // not the deadline: that is later
      }
      expect(bench.toy.pairingWindowOpen(T0 + WINDOW_MS)).toBe(false);
      expectSuperseded(bench, p, () => p.confirm(T0 + WINDOW_MS));
      expect(bench.flash).toEqual([]);
      expect(bench.toy.persistentState.advertisingKey).toBeUndefined();
      expect(bench.toy.persistentState.failedAttempts).toBe(0); // not a failed attempt either
      expectNotPaired(bench, p, T0 + WINDOW_MS + 1);
    });
  }

  it('control: the same pairing confirmed 1 ms before the end of the window is committed', () => {
    const bench = new Bench();
    bench.hold(T0);
    const p = bench.peer('just-in-time').connect(T0 + WINDOW_MS - 1500);
    p.expectSession('pair', T0 + WINDOW_MS - 1500);
    p.confirm(T0 + WINDOW_MS - 1);
    expect(p.connected).toBe(true);
    expect(bench.stored?.pairings.map((x) => x.companionKey)).toEqual([p.key]);
    bench.checkInvariants();
  });

  it('a guest read in a guest window that times out before its CONFIRM is dropped; the list is unchanged', () => {
    const { bench, owner, guests, now } = family({}, 1);
    owner.ok({ type: 'allow-guest-pairing', id: 2 }, now);
    bench.hold(now);
    const g = bench.peer('slow guest').connect(now + WINDOW_MS - 100);
    expect(g.expectSession('pair', now + WINDOW_MS - 100).role).toBe('guest');
    bench.tick(now + WINDOW_MS);
    expectSuperseded(bench, g, () => g.confirm(now + WINDOW_MS + 100));
    expect(bench.toy.pairings.map((p) => p.companionKey)).toEqual([owner.key, guests[0]!.key]);
    expectNotPaired(bench, g, now + WINDOW_MS + 200);
  });
});

describe('ToyCore: the role must still fit at the confirmation', () => {
  it('a pending owner is refused once another owner was confirmed, even in a new (guest) window', () => {
    // Set-up: the owner leaves while a guest remains: the toy holds a key but has no owner,
    // so a hold opens an owner window, and both newcomers read as owner with that key.
    const { bench, owner, guests, now } = family({}, 1);
    owner.ok({ type: 'remove-pairing', id: 2, keyId: owner.keyId }, now);
    expect(bench.toy.pairings.map((p) => p.role)).toEqual(['guest']);
    expect(bench.toy.persistentState.advertisingKey).toBeDefined();
    bench.hold(now + 1);
    const a = bench.peer('a').connect(now + 2);
    const b = bench.peer('b').connect(now + 2);
    expect(a.expectSession('pair', now + 3).role).toBe('owner');
    expect(b.expectSession('pair', now + 3).role).toBe('owner');
    a.confirm(now + 4);
    expect(bench.toy.pairings.map((p) => p.role)).toEqual(['guest', 'owner']);
    // the new owner opens a guest window; b's window, key and list bound all fit — only its role does not
    a.ok({ type: 'allow-guest-pairing', id: 2 }, now + 5);
    bench.hold(now + 6);
    expect(bench.toy.pairingWindowOpen(now + 7)).toBe(true);

    expectSuperseded(bench, b, () => b.confirm(now + 7));
    expect(bench.toy.pairings.map((p) => [p.companionKey, p.role])).toEqual([
      [guests[0]!.key, 'guest'],
      [a.key, 'owner'],
    ]);
    expectNotPaired(bench, b, now + 8);
  });

  it('a pending guest is refused when the toy lost its owner before the confirmation', () => {
    const { bench, owner, guests, now } = family({}, 1);
    owner.ok({ type: 'allow-guest-pairing', id: 2 }, now);
    bench.hold(now);
    const g = bench.peer('newcomer').connect(now + 1);
    expect(g.expectSession('pair', now + 1).role).toBe('guest');
    // the owner removes itself while the newcomer is pending; the window stays open
    owner.ok({ type: 'remove-pairing', id: 3, keyId: owner.keyId }, now + 2);
    expect(bench.toy.pairings.map((p) => p.role)).toEqual(['guest']);
    expect(bench.toy.pairingWindowOpen(now + 3)).toBe(true);

    expectSuperseded(bench, g, () => g.confirm(now + 3));
    expect(bench.toy.pairings.map((p) => p.companionKey)).toEqual([guests[0]!.key]);
    expect(bench.toy.pairings.some((p) => p.role === 'owner')).toBe(false);
    expectNotPaired(bench, g, now + 4);
  });
});

describe('ToyCore: a pending pairing belongs to the window its message 1 was read in', () => {
  it('a first pairing is refused once another pairing closed its window, even when a later window is open and its role fits again', () => {
    const bench = new Bench();
    let now = T0;
    bench.hold(now);
    const a = bench.peer('a').connect(now);
    const b = bench.peer('b').connect(now);
    a.expectSession('pair', now);
    b.expectSession('pair', now);
    now += 100;
    a.confirm(now);
    // a lets a guest in, then leaves: the toy has a key (not b's) and no owner again
    a.ok({ type: 'allow-guest-pairing', id: 2 }, now);
    bench.hold(now);
    const g = bench.peer('g');
    expect(g.pair(now + 100).role).toBe('guest');
    a.ok({ type: 'remove-pairing', id: 3, keyId: a.keyId }, now + 200);
    bench.hold(now + 300); // an owner window: b's pending role (owner) fits, the list has room
    expect(bench.toy.pairingWindowOpen(now + 400)).toBe(true);
    const key = bench.toy.persistentState.advertisingKey!;

    expectSuperseded(bench, b, () => b.confirm(now + 400)); // still inside its handshake deadline
    expect(bench.toy.persistentState.advertisingKey).toBe(key);
    expect(bench.toy.pairings.map((p) => [p.companionKey, p.role])).toEqual([[g.key, 'guest']]);
    expectNotPaired(bench, b, now + 500);
  });
});

describe('ToyCore: a re-pairing companion gets only the window and key checks', () => {
  it('on a full list, the owner and a guest re-pair: accepted, roles kept, names updated, no new entry', () => {
    const { bench, owner, guests, now } = family({ maxGuests: 1 }, 1);
    const guest = guests[0]!;
    const pairedAt = Object.fromEntries(bench.toy.pairings.map((p) => [p.companionKey, p.pairedAt]));
    expect(bench.toy.pairings).toHaveLength(2); // full

    owner.ok({ type: 'allow-guest-pairing', id: 2 }, now);
    bench.hold(now);
    owner.name = 'owner (new phone name)';
    expect(owner.pair(now + 1).role).toBe('owner');
    bench.checkInvariants();

    owner.ok({ type: 'allow-guest-pairing', id: 2 }, now + 2);
    bench.hold(now + 2);
    guest.name = 'grandma';
    expect(guest.pair(now + 3).role).toBe('guest');
    bench.checkInvariants();

    expect(bench.stored?.pairings.map((p) => [p.companionKey, p.role, p.displayName, p.pairedAt])).toEqual([
      [owner.key, 'owner', 'owner (new phone name)', pairedAt[owner.key]],
      [guest.key, 'guest', 'grandma', pairedAt[guest.key]],
    ]);
  });

  it('a re-pairing that confirms after the window timed out is dropped: its entry stays as it was', () => {
    const { bench, owner, guests, now } = family({}, 1);
    const guest = guests[0]!;
    owner.ok({ type: 'allow-guest-pairing', id: 2 }, now);
    bench.hold(now);
    const before = bench.toy.persistentState;
    guest.name = 'renamed too late';
    guest.connect(now + WINDOW_MS - 1000);
    expect(guest.expectSession('pair', now + WINDOW_MS - 1000).role).toBe('guest');
    expectSuperseded(bench, guest, () => guest.confirm(now + WINDOW_MS + 1000));
    expect(bench.toy.persistentState).toEqual(before);
    // still paired under its old name: a dropped re-pairing removes nothing
    expect(bench.toy.pairings.find((p) => p.companionKey === guest.key)?.displayName).toBe('guest1');
    expectPaired(bench, guest, 'guest', now + WINDOW_MS + 2000);
  });
});

// ================================================================ part 2: ReferenceToy over the in-memory radio

let rig: Rig | undefined;
const intruders: Intruder[] = [];
afterEach(async () => {
  for (const i of intruders.splice(0)) await i.close();
  await rig?.close();
  rig = undefined;
});

/** A companion speaking the protocol on a raw link, so that the test decides when it confirms. */
async function rawPairing(r: Rig, name: string): Promise<{ link: Intruder; channel: SecureChannel; hello: ToyHello; key: string }> {
  const kp = generateX25519KeyPair();
  const link = await Intruder.connect(r.radio, r.toyId);
  intruders.push(link);
  const hs = new CompanionHandshake('pair', { companion: kp, toyPublicKey: r.identity.publicKey, hello: { displayName: name }, setupCode: r.setup });
  expect(await link.send('control', encodeWire({ kind: 'pair-m1', noise: hs.message1 }))).toBe(true);
  const m2 = await link.next(2000);
  if (m2?.kind !== 'pair-m2') throw new Error(`${name}: expected pair-m2, got ${JSON.stringify(m2)}`);
  const { keys, toy } = hs.readMessage2(m2.noise);
  return { link, channel: new SecureChannel(keys), hello: toy, key: toHex(kp.publicKey) };
}

describe('ReferenceToy: two companions pair in the same window', () => {
  it('the first CONFIRM wins; the second link is closed by the toy and its storage holds only the winner', async () => {
    rig = await makeRig();
    const r = rig;
    r.toy.pressButton('hold');
    const a = await rawPairing(r, 'alice');
    const b = await rawPairing(r, 'bob');
    expect([a.hello.role, b.hello.role]).toEqual(['owner', 'owner']);
    await r.toy.flush();
    expect(r.storage.state).toBeUndefined(); // messages 1 wrote nothing

    expect(await b.link.send('control', b.channel.sealControl({ type: 'confirm', id: 1 }))).toBe(true);
    expect(await until(() => r.toy.core.pairings.length === 1)).toBe(true);
    // the toy may drop the link before the radio acknowledges this write: either way
    await a.link.send('control', a.channel.sealControl({ type: 'confirm', id: 1 }));
    expect(await a.link.waitDisconnect(2000)).toBe(true);
    // the loser was told why, in its session, before its link went down: one GOODBYE, nothing else
    const told = a.link.received.filter((m) => m.kind !== 'pair-m2');
    expect(told.map((m) => m.kind)).toEqual(['record']);
    expect(a.channel.openControl((told[0] as Extract<WireMessage, { kind: 'record' }>).record)).toEqual({ type: 'goodbye', id: 0, reason: GoodbyeReason.PAIRING_SUPERSEDED });

    await r.toy.flush();
    expect(r.storage.state?.pairings.map((p) => [p.companionKey, p.role, p.displayName])).toEqual([[b.key, 'owner', 'bob']]);
    // the key was drawn at b's confirmation and sent to b alone, in its session
    const keyRecord = await b.link.next(2000);
    expect(keyRecord?.kind).toBe('record');
    expect(b.channel.openControl((keyRecord as Extract<WireMessage, { kind: 'record' }>).record)).toEqual({ type: 'advertising-key', id: 0, advertisingKey: fromHex(r.storage.state!.advertisingKey!) });
    expect(b.hello.advertisingKey).toBeUndefined();
    expect(r.storage.state).toEqual(r.toy.core.persistentState);
    // the winner's session works; the toy holds exactly one session
    expect(b.link.disconnected).toBe(false);
    expect(await b.link.send('control', b.channel.sealControl({ type: 'get-battery', id: 2 }))).toBe(true);
    const res = await b.link.next(2000);
    expect(res?.kind).toBe('record');
    expect(b.channel.openControl((res as Extract<WireMessage, { kind: 'record' }>).record)).toMatchObject({ type: 'result', id: 2, status: 'OK' });
    expect(await until(() => r.toy.core.sessionCount === 1)).toBe(true);
  });
});

describe('Companion: a pairing refused at key confirmation is not left stored', () => {
  it('two apps pair at once: the winner stores the toy; the loser is told by GOODBYE and ends with nothing stored (pair() rejects: it resolves only with the key a pairing that took effect is sent)', async () => {
    rig = await makeRig({ radio: { connectionIntervalMs: 15 } });
    const r = rig;
    const stores = [new MemoryKeystore(), new MemoryKeystore()];
    const apps = [await r.newCompanion('alice', 247, { keystore: stores[0] }), await r.newCompanion('bob', 247, { keystore: stores[1] })];
    const unpaired: string[][] = [[], []];
    apps.forEach((app, i) => app.on('unpaired', (t, reason) => unpaired[i]!.push(`${t.name}:${reason}`)));
    r.toy.pressButton('hold');
    const results = await Promise.allSettled(apps.map((app, i) => app.pair(r.toyId, r.qr, { name: `Bunny${i}` })));
    // both were read at message 1 (both pairings overlapped), exactly one was committed
    await r.toy.flush();
    expect(r.toy.core.pairings).toHaveLength(1);
    const winner = r.toy.core.pairings[0]!.displayName === 'alice' ? 0 : 1;
    const loser = 1 - winner;
    expect(results[winner]!.status).toBe('fulfilled');
    const lost = results[loser]!;
    expect(lost.status).toBe('rejected');
    expect((lost as PromiseRejectedResult).reason).toMatchObject({ code: 'NOT_IN_PAIRING_MODE', detail: { goodbye: 'PAIRING_SUPERSEDED' } });
    expect(unpaired[loser]).toEqual([]);
    expect(apps[loser]!.toys()).toEqual([]);
    expect((await stores[loser]!.load())!.toys).toEqual([]);
    expect(apps[winner]!.toys().map((t) => t.role)).toEqual(['owner']);
    expect(unpaired[winner]).toEqual([]);
    for (const res of results) if (res.status === 'fulfilled') await res.value.close();
  });
});
