/**
 * PROTOCOL.md v1.1 from the toy's side: the points a firmware author had to guess, each pinned on
 * the sans-IO reference toy (ToyCore) with a fake clock — the speaker outside a stream, its
 * counters and who gets its status (§13.6); the microphone's edge cases (§13.7); the order of
 * checks (§13.2, §13.5, §6.4); the backoff lock across power cycles (§13.1).
 */
import { describe, expect, it } from 'vitest';
import { companionKeyId, type ControlMessage } from '../../../src/protocol/control.js';
import { generateX25519KeyPair } from '../../../src/protocol/crypto.js';
import { generateSetupCode, type SetupCode } from '../../../src/protocol/setup-code.js';
import { ToyCore } from '../../../src/toy/toy-core.js';
import { emptyToyState, type ToyAction, type ToyPersistentState } from '../../../src/toy/types.js';
import { CompanionSession as Session, FakeCentral, T0, companionHandshake } from '../../property/helpers/toy-harness.js';

const frames = (n: number, tag = 0): Uint8Array[] => Array.from({ length: n }, (_, i) => Uint8Array.of(0xf8, tag, i));

/** One companion's confirmed session on a ToyCore: requests, audio, and the toy's decoded replies. */

function toyWith(state?: ToyPersistentState, now = T0) {
  const identity = generateX25519KeyPair();
  const code = generateSetupCode();
  const toy = new ToyCore({ identity, setupCode: code, state, now });
  const started = toy.start(now);
  return { toy, identity, code, started };
}

/** A toy with an owner and a guest, both connected and confirmed. */
function ownerAndGuest() {
  const { toy, identity, code } = toyWith();
  toy.button('hold', T0);
  const owner = Session.pair(toy, identity.publicKey, code, 'owner');
  owner.request({ type: 'allow-guest-pairing' }, T0);
  toy.button('hold', T0);
  const guest = Session.pair(toy, identity.publicKey, code, 'guest');
  expect(toy.pairings.map((p) => p.role)).toEqual(['owner', 'guest']);
  owner.replies();
  guest.replies();
  return { toy, identity, code, owner, guest };
}

const statuses = (ms: ControlMessage[]) => ms.filter((m): m is Extract<ControlMessage, { type: 'speaker-status' }> => m.type === 'speaker-status');
const tick = (toy: ToyCore, from: number, to: number, ...ss: Session[]): void => {
  for (let t = from; t <= to; t += 10) for (const a of [toy.tick(t)]) for (const s of ss) s.central.absorb(a);
};

describe('speaker (PROTOCOL.md §13.6)', () => {
  it('audio before the first SPEAKER_START is dropped: not played, no status, counted apart', () => {
    const { owner, toy } = ownerAndGuest();
    const out = owner.audio(frames(5), T0 + 1);
    expect(out.filter((a) => a.type === 'play')).toEqual([]);
    expect(toy.speakerStats).toMatchObject({ state: 'idle', bufferedMs: 0, framesOutsideStream: 5, overruns: 0, framesLost: 0 });
    tick(toy, T0 + 10, T0 + 300, owner);
    expect(statuses(owner.replies())).toEqual([]);
    expect(toy.speakerStats.framesPlayed).toBe(0);
  });

  it('a late record after SPEAKER_STOP does not start the speaker again; nor does audio after done', () => {
    const { owner, toy } = ownerAndGuest();
    owner.request({ type: 'speaker-start', firstFrame: owner.channel.nextAudioFrame }, T0 + 1);
    owner.audio(frames(5), T0 + 2);
    owner.request({ type: 'speaker-stop' }, T0 + 3);
    owner.audio(frames(5, 1), T0 + 4); // in the air when STOP was sent
    expect(toy.speakerStats).toMatchObject({ state: 'stopped', bufferedMs: 0, framesOutsideStream: 5 });
    tick(toy, T0 + 10, T0 + 300, owner);
    expect(toy.speakerStats.state).toBe('stopped');
    // a whole stream to done, then more audio without a new START
    const first = owner.channel.nextAudioFrame;
    owner.request({ type: 'speaker-start', firstFrame: first }, T0 + 400);
    owner.audio(frames(5, 2), T0 + 401);
    owner.request({ type: 'speaker-end', lastFrame: first + 4 }, T0 + 402);
    tick(toy, T0 + 410, T0 + 600, owner);
    expect(toy.speakerStats.state).toBe('done');
    const played = toy.speakerStats.framesPlayed;
    owner.audio(frames(3, 3), T0 + 700);
    tick(toy, T0 + 710, T0 + 900, owner);
    expect(toy.speakerStats).toMatchObject({ state: 'done', framesPlayed: played, framesOutsideStream: 8 });
  });

  it('the SPEAKER_STATUS after SPEAKER_START comes even though the state stays idle, and its counters are cumulative since the toy started', () => {
    const { owner, toy } = ownerAndGuest();
    const first = owner.channel.nextAudioFrame;
    owner.request({ type: 'speaker-start', firstFrame: first }, T0 + 1);
    let got = owner.replies();
    expect(got.map((m) => m.type)).toEqual(['result', 'speaker-status']);
    expect(statuses(got)[0]).toMatchObject({ state: 'idle', framesPlayed: 0, underruns: 0 });
    owner.audio(frames(5), T0 + 2);
    tick(toy, T0 + 10, T0 + 400, owner); // 5 frames play, then the buffer runs dry: an underrun
    expect(toy.speakerStats).toMatchObject({ framesPlayed: 5, underruns: 1 });
    owner.replies();
    owner.request({ type: 'speaker-start', firstFrame: owner.channel.nextAudioFrame }, T0 + 500);
    got = owner.replies();
    expect(got.map((m) => m.type)).toEqual(['result', 'speaker-status']);
    // a new stream: not reset — the companion takes this report as its baseline
    expect(statuses(got)[0]).toMatchObject({ state: 'idle', framesPlayed: 5, underruns: 1 });
  });

  it('when another session ends the stream, the stream\'s session gets the SPEAKER_STATUS and the other only its RESULT', () => {
    const { owner, guest } = ownerAndGuest();
    owner.request({ type: 'speaker-start', firstFrame: owner.channel.nextAudioFrame }, T0 + 1);
    owner.audio(frames(5), T0 + 2);
    owner.replies();
    owner.central.absorb(guest.request({ type: 'speaker-stop' }, T0 + 3));
    expect(guest.replies().map((m) => m.type)).toEqual(['result']);
    expect(statuses(owner.replies()).map((s) => s.state)).toEqual(['stopped']);
  });
});

describe('microphone (PROTOCOL.md §13.7)', () => {
  it('MIC_START from the holder restarts its stream: the held batch is dropped, OK with the new first frame, no MIC_STATUS', () => {
    const { owner, toy } = ownerAndGuest();
    owner.request({ type: 'mic-start' }, T0 + 1);
    expect(owner.replies().map((m) => m.type)).toEqual(['result']);
    toy.micFrame(Uint8Array.of(1, 2, 3), T0 + 20); // held in the batch
    const out = owner.request({ type: 'mic-start' }, T0 + 30);
    expect(out.filter((a) => a.type === 'send' && a.characteristic === 'microphone')).toEqual([]);
    expect(out.filter((a) => a.type === 'microphone')).toEqual([]); // still on
    const got = owner.replies();
    expect(got.map((m) => m.type)).toEqual(['result']);
    expect(got[0]).toMatchObject({ status: 'OK' });
    expect(toy.microphoneActive).toBe(true);
  });

  it('MIC_STOP from a session that does not hold the microphone: RESULT OK, and nothing else changes', () => {
    const { owner, guest, toy } = ownerAndGuest();
    owner.request({ type: 'mic-start' }, T0 + 1);
    owner.replies();
    const out = owner.central.absorb(guest.request({ type: 'mic-stop' }, T0 + 2));
    expect(guest.replies()).toMatchObject([{ type: 'result', status: 'OK' }]);
    expect(out.filter((a) => a.type === 'microphone')).toEqual([]);
    expect(owner.replies()).toEqual([]);
    expect(toy.microphoneActive).toBe(true);
    // and BUSY for its MIC_START meanwhile
    guest.request({ type: 'mic-start' }, T0 + 3);
    expect(guest.replies()).toMatchObject([{ type: 'result', status: 'BUSY' }]);
  });

  it('MIC_STOP: RESULT OK first, then the held batch on microphone, then MIC_STATUS active 0', () => {
    const { owner, toy } = ownerAndGuest();
    owner.request({ type: 'mic-start' }, T0 + 1);
    owner.replies();
    toy.micFrame(Uint8Array.of(1, 2, 3), T0 + 20);
    const out = owner.request({ type: 'mic-stop' }, T0 + 30);
    const order = out.filter((a) => a.type === 'send').map((a) => (a as { characteristic: string }).characteristic);
    expect(order[0]).toBe('control');
    expect(order.indexOf('microphone')).toBeGreaterThan(0);
    expect(order.lastIndexOf('control')).toBeGreaterThan(order.lastIndexOf('microphone'));
    expect(owner.replies().map((m) => m.type)).toEqual(['result', 'mic-status']);
  });
});

describe('order of checks', () => {
  it('REMOVE_PAIRING from a guest naming anyone but itself is NOT_OWNER whether or not that pairing exists (§13.5); the owner gets NOT_FOUND', () => {
    const { owner, guest, toy } = ownerAndGuest();
    guest.request({ type: 'remove-pairing', keyId: '0123456789abcdef' }, T0 + 1);
    guest.request({ type: 'remove-pairing', keyId: companionKeyId(toy.pairings[0]!.companionKey) }, T0 + 2);
    expect(guest.replies().map((m) => (m as { status?: string }).status)).toEqual(['NOT_OWNER', 'NOT_OWNER']);
    owner.request({ type: 'remove-pairing', keyId: '0123456789abcdef' }, T0 + 3);
    expect(owner.replies().map((m) => (m as { status?: string }).status)).toEqual(['NOT_FOUND']);
    expect(toy.pairings).toHaveLength(2);
  });

  it('a button hold while the window is open keeps it the same window (a message 1 read before it still confirms) and restarts its 120 s', () => {
    const { toy, identity, code } = toyWith();
    toy.button('hold', T0);
    const central = new FakeCentral(toy, 'c');
    central.connect(T0 + 100_000);
    const hs = companionHandshake(central, 'pair', generateX25519KeyPair(), identity.publicKey, code, T0 + 100_000, 'late', false);
    expect(hs.reply?.kind).toBe('pair-m2');
    toy.button('hold', T0 + 101_000); // window open: same window, now until T0 + 221 s
    expect(toy.pairingWindowOpen(T0 + 200_000)).toBe(true);
    central.send('control', hs.channel!.sealControl({ type: 'confirm', id: 1 }), T0 + 101_500);
    expect(toy.pairings.map((p) => p.displayName)).toEqual(['late']);
  });

  it('a well-formed toy-to-companion message as the first record confirms the connection (it authenticated) and is then dropped (§6.4, §13.9)', () => {
    const { toy, identity, code } = toyWith();
    toy.button('hold', T0);
    const central = new FakeCentral(toy, 'c');
    central.connect(T0);
    const hs = companionHandshake(central, 'pair', generateX25519KeyPair(), identity.publicKey, code, T0, 'odd', false);
    const before = central.received.length;
    const out = central.send('control', hs.channel!.sealControl({ type: 'mic-status', id: 0, active: false, nextFrame: 0 }), T0 + 1);
    expect(toy.pairings.map((p) => p.displayName)).toEqual(['odd']); // confirmed: the pairing took effect
    const sent = central.received.slice(before).map((w) => (w.kind === 'record' ? hs.channel!.openControl(w.record).type : w.kind));
    expect(sent).toEqual(['advertising-key']); // and nothing answers the dropped message itself
    expect(toy.refusals.malformed).toBe(1);
    expect(out.some((a) => a.type === 'disconnect')).toBe(false);
  });
});

describe('key confirmation step 3 (PROTOCOL.md §6.4, §10.4)', () => {
  it('compares with the last key sent on the connection, not the hello\'s: a reconnect sent the rotated key before its confirmation gets it once, not again at the confirmation', () => {
    const { toy, identity, code } = toyWith();
    const ownerId = generateX25519KeyPair();
    toy.button('hold', T0);
    const o = new FakeCentral(toy, 'owner');
    o.connect(T0);
    const os = companionHandshake(o, 'pair', ownerId, identity.publicKey, code, T0, 'owner');
    o.send('control', os.channel!.sealControl({ type: 'allow-guest-pairing', id: 2 }), T0 + 1);
    toy.button('hold', T0 + 2);
    const g = new FakeCentral(toy, 'guest');
    g.connect(T0 + 3);
    const guestId = generateX25519KeyPair();
    expect(companionHandshake(g, 'pair', guestId, identity.publicKey, code, T0 + 3, 'guest').channel).toBeDefined();
    const keyBefore = toy.persistentState.advertisingKey;
    // the owner reconnects on a second link: its hello carries the current key; not confirmed yet
    const c = new FakeCentral(toy, 'owner-2');
    c.connect(T0 + 10);
    const rs = companionHandshake(c, 'reconnect', ownerId, identity.publicKey, undefined, T0 + 10, 'owner', false);
    expect(rs.reply?.kind).toBe('reconnect-m2');
    const keysOn = (from: number): string[] =>
      c.received
        .slice(from)
        .filter((w) => w.kind === 'record')
        .map((w) => rs.channel!.openControl((w as { record: Uint8Array }).record))
        .filter((m): m is Extract<ControlMessage, { type: 'advertising-key' }> => m.type === 'advertising-key')
        .map((m) => Array.from(m.advertisingKey, (x) => x.toString(16).padStart(2, '0')).join(''));
    // the owner (first link) removes the guest: the key rotates, and every session of a companion
    // that stays — the unconfirmed reconnect included — gets it now
    const mark = c.received.length;
    c.absorb(o.send('control', os.channel!.sealControl({ type: 'remove-pairing', id: 3, keyId: companionKeyId(toHexKey(guestId.publicKey)) }), T0 + 20));
    const rotated = toy.persistentState.advertisingKey!;
    expect(rotated).not.toBe(keyBefore);
    expect(keysOn(mark)).toEqual([rotated]);
    // the confirmation: the key it holds is the last one sent on this link, so nothing more
    const mark2 = c.received.length;
    c.send('control', rs.channel!.sealControl({ type: 'confirm', id: 1 }), T0 + 30);
    expect(keysOn(mark2)).toEqual([]);
  });
});

const toHexKey = (k: Uint8Array): string => Array.from(k, (x) => x.toString(16).padStart(2, '0')).join('');

describe('the backoff lock across power cycles (PROTOCOL.md §13.1)', () => {
  const locked = (lockedUntil: number): ToyPersistentState => ({ ...emptyToyState(), failedAttempts: 4, lockedUntil });
  const pairAttempt = (toy: ToyCore, key: Uint8Array, code: SetupCode, now: number) => {
    const central = new FakeCentral(toy, `p${now}`);
    central.connect(now);
    return companionHandshake(central, 'pair', generateX25519KeyPair(), key, code, now, 'x', false).reply;
  };

  it('a lock still running at boot continues (wall clock), one that ran out while off is over', () => {
    const a = toyWith(locked(T0 + 6000), T0);
    expect(a.started.filter((x) => x.type === 'persist')).toEqual([]);
    a.toy.button('hold', T0);
    expect(pairAttempt(a.toy, a.identity.publicKey, a.code, T0)).toMatchObject({ kind: 'error', refusal: 'RATE_LIMITED', retryAfterSec: 6 });
    const b = toyWith(locked(T0 - 1), T0);
    b.toy.button('hold', T0);
    expect(pairAttempt(b.toy, b.identity.publicKey, b.code, T0)?.kind).toBe('pair-m2');
  });

  it('a lock further ahead than the longest backoff (the clock was set back) is shortened to 5 min from boot and persisted', () => {
    const { toy, identity, code, started } = toyWith(locked(T0 + 86_400_000), T0);
    const persisted = started.filter((x): x is Extract<ToyAction, { type: 'persist' }> => x.type === 'persist');
    expect(persisted.map((p) => p.state.lockedUntil)).toEqual([T0 + 300_000]);
    expect(persisted[0]!.state.failedAttempts).toBe(4);
    toy.button('hold', T0);
    expect(pairAttempt(toy, identity.publicKey, code, T0)).toMatchObject({ kind: 'error', refusal: 'RATE_LIMITED', retryAfterSec: 300 });
    toy.button('hold', T0 + 300_000);
    expect(pairAttempt(toy, identity.publicKey, code, T0 + 300_000)?.kind).toBe('pair-m2');
  });
});
