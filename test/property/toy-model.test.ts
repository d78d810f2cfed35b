/**
 * docs/SECURITY.md properties 1, 2 and 5: model-based tests (fc.commands / fc.modelRun) of the sans-IO ToyCore with a
 * fake clock. A stranger central connects, sends random bytes, forged records, handshakes with
 * a wrong setup code, garbage handshakes, and replays messages captured from an honest run; the
 * toy's button is pressed and time advances. An independent model of the pairing window, the
 * brute-force backoff, the allow-list and the handshake deadline predicts every outcome.
 *
 * Invariants after every command: no control request ever executed, the microphone never on,
 * the speaker buffer never fed, no `play` action, persistent state exactly as the model says.
 * And: an honest pairing succeeds exactly when the window is open and not rate-limited.
 *
 * Key confirmation: a pairing takes effect only on the companion's first authenticated record
 * (the `confirm` request the real companion sends right after message 2). A *replayed* pairing
 * message 1 of a genuine companion V still gets a message 2 and an unconfirmed session on the
 * toy, but the replayer cannot produce a record, so nothing is committed: V is never paired by a
 * replay, the window stays open, and the handshake deadline ends the connection.
 */
import { advertisingSlot } from '../../src/protocol/advertising.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/protocol/bytes.js';
import { generateX25519KeyPair } from '../../src/protocol/crypto.js';
import { CompanionHandshake } from '../../src/protocol/handshake.js';
import { generateSetupCode } from '../../src/protocol/setup-code.js';
import { encodeWire, WireKind } from '../../src/protocol/wire.js';
import { FRAG_END, FRAG_START } from '../../src/protocol/fragment.js';
import type { ToyCore } from '../../src/toy/toy-core.js';
import type { ToyAction, ToyConfig } from '../../src/toy/types.js';
import { FakeCentral, T0, companionHandshake, newToy } from './helpers/toy-harness.js';

const SEED = 42;
const CFG: Required<Pick<ToyConfig, 'pairingWindowMs' | 'maxFailedAttempts' | 'backoffBaseMs' | 'handshakeDeadlineMs' | 'maxGuests'>> = {
  pairingWindowMs: 120_000,
  maxFailedAttempts: 5,
  backoffBaseMs: 1000,
  handshakeDeadlineMs: 5000,
  maxGuests: 4,
};
const MAX_BACKOFF_MS = 5 * 60_000;

// ---------------------------------------------------------------- fixed material of one toy

const identity = generateX25519KeyPair();
const code = generateSetupCode();
const victim = generateX25519KeyPair();
const honest = generateX25519KeyPair();
const VICTIM = toHex(victim.publicKey);
const HONEST = toHex(honest.publicKey);

/** Captured from an honest run of the victim with this very toy (pairing, records, reconnect, records). */
const captured = (() => {
  const { toy } = newToy({ identity, setupCode: code, config: CFG });
  let now = T0;
  toy.button('hold', now);
  const c1 = new FakeCentral(toy, 'v1', 185);
  c1.connect(now);
  const pair = companionHandshake(c1, 'pair', victim, identity.publicKey, code, now, 'victim');
  if (!pair.channel) throw new Error('honest pairing failed');
  const records: { ch: 'control' | 'speaker'; msg: Uint8Array }[] = [];
  const rec = (ch: 'control' | 'speaker', msg: Uint8Array, central: FakeCentral): void => {
    records.push({ ch, msg });
    central.send(ch, msg, now);
  };
  rec('control', pair.channel.sealControl({ type: 'mic-start', id: 1 }), c1);
  rec('control', pair.channel.sealControl({ type: 'speaker-start', id: 2, firstFrame: 0 }), c1);
  rec('speaker', pair.channel.sealAudio([new Uint8Array(30).fill(0xf8), new Uint8Array(30).fill(0xf8), new Uint8Array(30).fill(0xf8)]).record, c1);
  rec('control', pair.channel.sealControl({ type: 'set-volume', id: 3, volume: 10 }), c1);
  toy.disconnect('v1', now);
  now += 1000;
  const c2 = new FakeCentral(toy, 'v2', 247);
  c2.connect(now);
  const re = companionHandshake(c2, 'reconnect', victim, identity.publicKey, undefined, now, 'victim');
  if (!re.channel) throw new Error('honest reconnect failed');
  rec('control', re.channel.sealControl({ type: 'mic-start', id: 1 }), c2);
  rec('control', re.channel.sealControl({ type: 'remove-pairing', id: 2, keyId: '0000000000000000' }), c2);
  // sanity: in the honest run these records did execute
  if (!toy.executed['mic-start'] || !toy.executed['set-volume'] || !toy.pairings.some((p) => p.companionKey === toHex(victim.publicKey))) {
    throw new Error('honest records did not execute');
  }
  return { pairM1: pair.wire, reconnectM1: re.wire, records };
})();

/** Pairing messages 1 for this toy with a wrong setup code, from strangers. */
const wrongCodeM1 = [0, 1, 2].map(() => {
  const hs = new CompanionHandshake('pair', { companion: generateX25519KeyPair(), toyPublicKey: identity.publicKey, hello: { displayName: 'stranger' }, setupCode: generateSetupCode() });
  return encodeWire({ kind: 'pair-m1', noise: hs.message1 });
});

// ---------------------------------------------------------------- model and real system

interface ConnModel {
  openedAt: number;
  used: boolean;
  session: boolean;
}

interface Model {
  now: number;
  windowUntil: number;
  windowFailures: number;
  failedAttempts: number;
  lockedUntil: number;
  pairings: Map<string, 'owner' | 'guest'>;
  conns: Map<string, ConnModel>;
}

interface Real {
  toy: ToyCore;
  centrals: Map<string, FakeCentral>;
  nextId: number;
}

/** Totals across all runs, to show the commands reached the interesting cases. */
const stats = { honestOk: 0, honestRefused: 0, replayPairUnconfirmed: 0, replaySession: 0, wrongCode: 0, lockouts: 0, windowClosedByFailures: 0, deadline: 0 };

const windowOpen = (m: Model): boolean => m.now < m.windowUntil;
const hasOwner = (m: Model): boolean => [...m.pairings.values()].includes('owner');

/** A live stranger connection (the k-th, modulo); connects a new one when there is none. */
function pick(m: Model, r: Real, k: number): string {
  let ids = [...m.conns.keys()];
  if (ids.length === 0) {
    new Connect(185).run(m, r);
    ids = [...m.conns.keys()];
  }
  return ids[k % ids.length]!;
}

/** Feeds every action to every central (they pick their own), and checks the global invariants. */
function after(m: Model, r: Real, actions: ToyAction[]): void {
  for (const c of r.centrals.values()) c.absorb(actions);
  for (const a of actions) {
    expect(a.type === 'play', 'the speaker played something').toBe(false);
    expect(a.type === 'microphone' && a.active, 'the microphone was switched on').toBe(false);
  }
  const t = r.toy;
  expect(t.executed).toEqual({});
  expect(t.microphoneActive).toBe(false);
  expect(t.speakerStats).toEqual({ state: 'idle', bufferedMs: 0, framesPlayed: 0, underruns: 0, overruns: 0, framesLost: 0, framesOutsideStream: 0 });
  const s = t.persistentState;
  expect(new Map(s.pairings.map((p) => [p.companionKey, p.role]))).toEqual(m.pairings);
  expect(s.failedAttempts).toBe(m.failedAttempts);
  expect(s.lockedUntil).toBe(m.lockedUntil);
  expect(s.volume).toBe(70);
  expect(t.pairingWindowOpen(m.now)).toBe(windowOpen(m));
  for (const [id, c] of m.conns) expect(t.hasSession(id), `session state of ${id}`).toBe(c.session);
}

/** Model of one handshake attempt on connection `id`. Returns what the toy must do. */
function modelHandshake(m: Model, id: string, mode: 'pair' | 'reconnect', result: { ok: false } | { ok: true; key: string }): 'refused-keep' | 'failed-drop' | 'session' {
  const c = m.conns.get(id)!;
  if (c.used) return 'refused-keep';
  if (mode === 'pair') {
    if (!windowOpen(m)) return 'refused-keep';
    if (m.now < m.lockedUntil) return 'refused-keep';
    const guests = [...m.pairings.values()].filter((x) => x === 'guest').length;
    if (hasOwner(m) && guests >= CFG.maxGuests) return 'refused-keep';
  }
  c.used = true;
  if (!result.ok) {
    if (mode === 'pair') {
      m.failedAttempts++;
      m.windowFailures++;
      m.lockedUntil = m.now + Math.min(MAX_BACKOFF_MS, CFG.backoffBaseMs * 2 ** (m.failedAttempts - 1));
      if (m.windowFailures >= CFG.maxFailedAttempts) {
        m.windowUntil = 0;
        stats.windowClosedByFailures++;
      }
    }
    m.conns.delete(id);
    return 'failed-drop';
  }
  if (mode === 'reconnect') {
    if (!m.pairings.has(result.key)) {
      m.conns.delete(id);
      return 'failed-drop';
    }
  }
  // pairing: nothing is committed until the companion confirms, which a replayer cannot do
  c.session = true;
  return 'session';
}

function checkOutcome(r: Real, id: string, outcome: 'refused-keep' | 'failed-drop' | 'session', actions: ToyAction[]): void {
  const dropped = actions.some((a) => a.type === 'disconnect' && a.connection === id);
  expect(dropped, `connection ${id} dropped?`).toBe(outcome === 'failed-drop');
  const central = r.centrals.get(id)!;
  const last = central.last();
  if (outcome === 'session') expect(last?.kind === 'pair-m2' || last?.kind === 'reconnect-m2').toBe(true);
  else expect(last?.kind).toBe('error');
  if (outcome === 'failed-drop') r.centrals.delete(id);
}

/** After input on a session connection (a replayed-reconnect session the stranger cannot use), follow a drop. */
function syncSession(m: Model, r: Real, id: string, actions: ToyAction[]): void {
  if (actions.some((a) => a.type === 'disconnect' && a.connection === id)) {
    m.conns.delete(id);
    r.centrals.delete(id);
  }
}

type Cmd = fc.Command<Model, Real>;

class Connect implements Cmd {
  constructor(readonly mtu: number) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const id = `c${r.nextId++}`;
    const c = new FakeCentral(r.toy, id, this.mtu);
    r.centrals.set(id, c);
    m.conns.set(id, { openedAt: m.now, used: false, session: false });
    after(m, r, c.connect(m.now));
  }
  toString = (): string => `connect(${this.mtu})`;
}

class Disconnect implements Cmd {
  constructor(readonly k: number) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const ids = [...m.conns.keys()];
    if (ids.length === 0) return;
    const id = ids[this.k % ids.length]!;
    m.conns.delete(id);
    r.centrals.delete(id);
    after(m, r, r.toy.disconnect(id, m.now));
  }
  toString = (): string => `disconnect(${this.k})`;
}

class Advance implements Cmd {
  constructor(readonly dt: number) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    m.now += this.dt;
    const actions = r.toy.tick(m.now);
    // a stranger never confirms a session, so every stranger connection meets the deadline
    const expired: string[] = [];
    for (const [id, c] of m.conns) if (m.now - c.openedAt >= CFG.handshakeDeadlineMs) expired.push(id);
    for (const id of expired) {
      expect(actions.some((a) => a.type === 'disconnect' && a.connection === id)).toBe(true);
      m.conns.delete(id);
      r.centrals.delete(id);
      stats.deadline++;
    }
    expect(actions.filter((a) => a.type === 'disconnect').length).toBe(expired.length);
    if (m.windowUntil > 0 && m.now >= m.windowUntil) m.windowUntil = 0;
    after(m, r, actions);
  }
  toString = (): string => `advance(${this.dt})`;
}

class Button implements Cmd {
  constructor(readonly kind: 'hold' | 'reset') {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const actions = r.toy.button(this.kind, m.now);
    if (this.kind === 'reset') {
      // everything goes except the brute-force backoff (a reset must not reset a guesser's penalty)
      m.pairings.clear();
      m.windowUntil = 0;
      m.windowFailures = 0;
      m.conns.clear();
      r.centrals.clear();
    } else if (!hasOwner(m)) {
      m.windowUntil = m.now + CFG.pairingWindowMs;
      m.windowFailures = 0;
    }
    after(m, r, actions);
  }
  toString = (): string => `button(${this.kind})`;
}

const HANDSHAKE_KINDS = new Set<number>([WireKind.PAIR_M1, WireKind.RECONNECT_M1, WireKind.INFO_REQUEST]);

class RandomBytes implements Cmd {
  constructor(
    readonly k: number,
    readonly ch: 'control' | 'speaker',
    readonly value: Uint8Array,
  ) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const id = pick(m, r, this.k);
    const v = Uint8Array.from(this.value);
    // Random bytes never *start* a handshake here (that is what the explicit handshake
    // commands do, with predictable outcomes): a first fragment's kind byte is moved off the
    // handshake kinds. Everything else stays random.
    const h = v[0];
    if (h !== undefined && h & FRAG_START) {
      const at = h & FRAG_END ? 1 : 3;
      if (v.length > at && HANDSHAKE_KINDS.has(v[at]!)) v[at] = WireKind.RECORD;
    }
    const actions = r.centrals.get(id)!.write(this.ch, v, m.now);
    if (m.conns.get(id)!.session) syncSession(m, r, id, actions);
    else expect(actions.some((a) => a.type === 'disconnect')).toBe(false);
    after(m, r, actions);
  }
  toString = (): string => `random(${this.k}, ${this.ch}, ${this.value.length}B)`;
}

class ForgedRecord implements Cmd {
  constructor(
    readonly k: number,
    readonly ch: 'control' | 'speaker',
    readonly body: Uint8Array,
  ) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const id = pick(m, r, this.k);
    const c = m.conns.get(id)!;
    const before = { ...r.toy.refusals };
    const msg = this.ch === 'control' ? encodeWire({ kind: 'record', record: this.body }) : this.body;
    const actions = r.centrals.get(id)!.send(this.ch, msg, m.now);
    if (c.session) {
      // the toy's session keys are unknown to the stranger: authentication fails, the link ends
      expect(actions.some((a) => a.type === 'disconnect' && a.connection === id)).toBe(true);
      m.conns.delete(id);
      r.centrals.delete(id);
    } else if (this.ch === 'control') expect(r.toy.refusals['control-before-session']).toBe(before['control-before-session'] + 1);
    else expect(r.toy.refusals['speaker-write']).toBeGreaterThan(before['speaker-write']);
    after(m, r, actions);
  }
  toString = (): string => `forged(${this.k}, ${this.ch}, ${this.body.length}B)`;
}

class Handshake implements Cmd {
  constructor(
    readonly k: number,
    readonly what: { kind: 'wrong-code'; i: number } | { kind: 'garbage'; mode: 'pair' | 'reconnect'; noise: Uint8Array } | { kind: 'replay-pair' } | { kind: 'replay-reconnect' },
  ) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const id = pick(m, r, this.k);
    const c = m.conns.get(id)!;
    let wire: Uint8Array;
    let mode: 'pair' | 'reconnect';
    let result: { ok: false } | { ok: true; key: string };
    switch (this.what.kind) {
      case 'wrong-code':
        wire = wrongCodeM1[this.what.i % wrongCodeM1.length]!;
        mode = 'pair';
        result = { ok: false };
        break;
      case 'garbage':
        wire = encodeWire(this.what.mode === 'pair' ? { kind: 'pair-m1', noise: this.what.noise } : { kind: 'reconnect-m1', slot: advertisingSlot(m.now), noise: this.what.noise });
        mode = this.what.mode;
        result = { ok: false };
        break;
      case 'replay-pair':
        wire = captured.pairM1;
        mode = 'pair';
        result = { ok: true, key: VICTIM };
        break;
      case 'replay-reconnect':
        wire = captured.reconnectM1;
        mode = 'reconnect';
        result = { ok: true, key: VICTIM };
        break;
    }
    if (c.session) {
      // a handshake message inside a session is ignored as malformed
      const actions = r.centrals.get(id)!.send('control', wire, m.now);
      expect(actions.some((a) => a.type === 'disconnect' || a.type === 'persist')).toBe(false);
      after(m, r, actions);
      return;
    }
    const wasOpen = windowOpen(m);
    const wasLocked = m.now < m.lockedUntil;
    const outcome = modelHandshake(m, id, mode, result);
    const actions = r.centrals.get(id)!.send('control', wire, m.now);
    checkOutcome(r, id, outcome, actions);
    if (outcome === 'failed-drop' && mode === 'pair') stats.wrongCode++;
    if (mode === 'pair' && wasOpen && wasLocked) stats.lockouts++;
    if (outcome === 'session') {
      if (mode === 'pair') stats.replayPairUnconfirmed++;
      else stats.replaySession++;
    }
    after(m, r, actions);
  }
  toString = (): string => `handshake(${this.k}, ${this.what.kind})`;
}

/** A patient guesser: waits out each backoff, reconnects and tries another wrong code, n times. */
class GuessBurst implements Cmd {
  constructor(readonly n: number) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    for (let i = 0; i < this.n; i++) {
      if (m.lockedUntil > m.now) new Advance(m.lockedUntil - m.now).run(m, r);
      new Connect(185).run(m, r);
      new Handshake(m.conns.size - 1, { kind: 'wrong-code', i }).run(m, r);
    }
  }
  toString = (): string => `guess-burst(${this.n})`;
}

class ReplayRecord implements Cmd {
  constructor(
    readonly k: number,
    readonly i: number,
  ) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const id = pick(m, r, this.k);
    const rec = captured.records[this.i % captured.records.length]!;
    const c = m.conns.get(id)!;
    const actions = r.centrals.get(id)!.send(rec.ch, rec.msg, m.now);
    if (c.session) {
      expect(actions.some((a) => a.type === 'disconnect' && a.connection === id)).toBe(true);
      m.conns.delete(id);
      r.centrals.delete(id);
    } else expect(actions.some((a) => a.type === 'disconnect')).toBe(false);
    after(m, r, actions);
  }
  toString = (): string => `replay-record(${this.k}, ${this.i})`;
}

class HonestPair implements Cmd {
  constructor(readonly mtu: number) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const id = `h${r.nextId++}`;
    const central = new FakeCentral(r.toy, id, this.mtu);
    r.centrals.set(id, central);
    central.connect(m.now);
    const guests = [...m.pairings.values()].filter((x) => x === 'guest').length;
    const expectOk = windowOpen(m) && m.now >= m.lockedUntil && !(hasOwner(m) && guests >= CFG.maxGuests);
    const res = companionHandshake(central, 'pair', honest, r.toy.identity.publicKey, code, m.now, 'honest');
    expect(!!res.channel, `honest pairing (window ${windowOpen(m)}, locked ${m.now < m.lockedUntil})`).toBe(expectOk);
    if (expectOk) {
      stats.honestOk++;
      if (!m.pairings.has(HONEST)) m.pairings.set(HONEST, hasOwner(m) ? 'guest' : 'owner');
      m.failedAttempts = 0;
      m.lockedUntil = 0;
      m.windowUntil = 0;
    } else {
      stats.honestRefused++;
      expect(res.reply?.kind).toBe('error');
    }
    const actions = [...res.actions, ...r.toy.disconnect(id, m.now)];
    r.centrals.delete(id);
    after(m, r, actions);
  }
  toString = (): string => `honest-pair(${this.mtu})`;
}

const mtu = fc.constantFrom(23, 64, 185, 247, 517);
const k = fc.nat(20);
const wrongCode = fc.tuple(k, fc.nat()).map(([a, i]) => new Handshake(a, { kind: 'wrong-code', i }));
const hold = fc.constant(null).map(() => new Button('hold'));
const commands = [
  hold,
  hold,
  wrongCode,
  wrongCode,
  mtu.map((x) => new Connect(x)),
  k.map((x) => new Disconnect(x)),
  fc.constantFrom(100, 999, 1000, 2000, 4000, 5000, 30_000, 130_000, 400_000).map((x) => new Advance(x)),
  fc.constantFrom<'hold' | 'reset'>('hold', 'hold', 'hold', 'hold', 'reset').map((x) => new Button(x)),
  fc.tuple(k, fc.constantFrom<'control' | 'speaker'>('control', 'speaker'), fc.uint8Array({ maxLength: 260 })).map(([a, b, c]) => new RandomBytes(a, b, c)),
  fc.tuple(k, fc.constantFrom<'control' | 'speaker'>('control', 'speaker'), fc.uint8Array({ minLength: 20, maxLength: 300 })).map(([a, b, c]) => new ForgedRecord(a, b, c)),
  fc.tuple(k, fc.constantFrom<'pair' | 'reconnect'>('pair', 'reconnect'), fc.uint8Array({ minLength: 1, maxLength: 200 })).map(([a, mode, noise]) => new Handshake(a, { kind: 'garbage', mode, noise })),
  k.map((a) => new Handshake(a, { kind: 'replay-pair' })),
  k.map((a) => new Handshake(a, { kind: 'replay-reconnect' })),
  fc.tuple(k, fc.nat()).map(([a, i]) => new ReplayRecord(a, i)),
  mtu.map((x) => new HonestPair(x)),
  fc.integer({ min: 1, max: 6 }).map((n) => new GuessBurst(n)),
];

describe('toy model: strangers never reach audio or control', () => {
  it('no command sequence executes a request, starts the microphone or feeds the speaker without a handshake; honest pairing succeeds exactly when the window is open and not rate-limited', () => {
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: 45 }), fc.boolean(), (cmds, ownedAtStart) => {
        const { toy } = newToy({ identity, setupCode: code, config: CFG });
        const model: Model = { now: T0, windowUntil: 0, windowFailures: 0, failedAttempts: 0, lockedUntil: 0, pairings: new Map(), conns: new Map() };
        const real: Real = { toy, centrals: new Map(), nextId: 0 };
        if (ownedAtStart) {
          // the victim already owns the toy (so its replayed reconnect authenticates)
          new Button('hold').run(model, real);
          new HonestPairAs(victim, VICTIM).run(model, real);
        }
        fc.modelRun(() => ({ model, real }), cmds);
      }),
      { seed: SEED, numRuns: 300 },
    );
    // the runs reached every interesting outcome
    expect(stats.honestOk).toBeGreaterThan(5);
    expect(stats.honestRefused).toBeGreaterThan(5);
    expect(stats.wrongCode).toBeGreaterThan(5);
    expect(stats.lockouts).toBeGreaterThan(0);
    expect(stats.replaySession).toBeGreaterThan(0);
    expect(stats.replayPairUnconfirmed).toBeGreaterThan(0);
    expect(stats.deadline).toBeGreaterThan(0);
    expect(stats.windowClosedByFailures).toBeGreaterThan(0);
  });
});

/** Setup helper: pairs a given companion honestly (window must be open). */
class HonestPairAs {
  constructor(
    readonly kp: ReturnType<typeof generateX25519KeyPair>,
    readonly keyHex: string,
  ) {}
  run(m: Model, r: Real): void {
    const id = `setup${r.nextId++}`;
    const central = new FakeCentral(r.toy, id, 247);
    r.centrals.set(id, central);
    central.connect(m.now);
    const res = companionHandshake(central, 'pair', this.kp, r.toy.identity.publicKey, code, m.now, 'victim');
    expect(res.channel).toBeDefined();
    m.pairings.set(this.keyHex, 'owner');
    m.windowUntil = 0;
    after(m, r, [...res.actions, ...r.toy.disconnect(id, m.now)]);
    r.centrals.delete(id);
  }
}
