/**
 * A stranger's phone against the reference toy over noble-sim: real noble (HCI bindings, GAP, ATT
 * client) on the stranger's side, real bleno (GATT server) on the toy's. Every scenario is what the
 * seed toy allowed; each asserts the toy's refusal on the wire, its refusal counters
 * (`toy.core.refusals`, exact deltas) and that nothing ran (`toy.core.executed` unchanged, no new
 * pairing, no audio played, microphone off).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Companion } from '../../src/companion/companion.js';
import type { ToySession } from '../../src/companion/session.js';
import { generateX25519KeyPair } from '../../src/protocol/crypto.js';
import { FRAG_END, Fragmenter } from '../../src/protocol/fragment.js';
import { CompanionHandshake } from '../../src/protocol/handshake.js';
import { formatSetupQr, generateSetupCode, type SetupCode } from '../../src/protocol/setup-code.js';
import { encodeWire, type WireMessage } from '../../src/protocol/wire.js';
import type { RefusalKind } from '../../src/toy/types.js';
import type { NobleCentral } from '../../src/transport/noble/central.js';
import { RawLink, RecordingCentral, forgedChannel } from '../../src/conformance/raw-link.js';
import { makeNobleSimRig, until, type NobleSimRig } from '../helpers/noble-sim-rig.js';

const BACKOFF_BASE_MS = 200;
const MAX_FAILED = 3;
const HANDSHAKE_DEADLINE_MS = 1_000;
/**
 * The toy's clock (and the companions'): fake, moved only by the tests. The deadline, the
 * window and the backoff are on it, so no verdict depends on how fast the machine runs.
 */
const clock = { now: Date.UTC(2026, 10, 28, 12, 0, 0) };
const companionClock = { clock: () => clock.now };

interface World {
  rig: NobleSimRig;
  owner: Companion;
  ownerCentral: RecordingCentral;
  session: ToySession;
  /** The owner's pair-m1 as ATT values, recorded off its connection. */
  pairM1: Uint8Array[];
  /** The owner's reconnect-m1 as ATT values. */
  reconnectM1: Uint8Array[];
  stranger: NobleCentral;
  played: Uint8Array[][];
  micEvents: boolean[];
}

let world: World | undefined;
afterEach(async () => {
  await world?.rig.close();
  world = undefined;
});

/** The ATT values of the first whole message of a recorded connection (up to the E flag). */
function firstMessage(values: Uint8Array[]): Uint8Array[] {
  const end = values.findIndex((v) => (v[0]! & FRAG_END) !== 0);
  expect(end).toBeGreaterThanOrEqual(0);
  return values.slice(0, end + 1);
}

async function setUp(mtu: number): Promise<World> {
  const rig = await makeNobleSimRig({
    mtu,
    config: { backoffBaseMs: BACKOFF_BASE_MS, maxFailedAttempts: MAX_FAILED, handshakeDeadlineMs: HANDSHAKE_DEADLINE_MS },
    toy: { clock: () => clock.now },
  });
  const played: Uint8Array[][] = [];
  const micEvents: boolean[] = [];
  rig.toy.on('play', (f) => played.push(f));
  rig.toy.on('microphone', (a) => micEvents.push(a));
  const ownerCentral = new RecordingCentral(rig.newCentral());
  const owner = await rig.newCompanion("Mum's phone", ownerCentral, companionClock);
  rig.toy.pressButton('hold');
  const first = await owner.pair(rig.toyId, rig.qr, { name: 'Bunny' });
  await first.close();
  const session = await owner.connect('Bunny');
  await session.setVolume(50);
  const pairM1 = firstMessage(ownerCentral.controlWrites[0]!);
  const reconnectM1 = firstMessage(ownerCentral.controlWrites[1]!);
  if (mtu === 23) expect(pairM1.length).toBeGreaterThan(1); // the replay really is a multi-fragment message
  return { rig, owner, ownerCentral, session, pairM1, reconnectM1, stranger: rig.newCentral(), played, micEvents };
}

function snapshot(w: World) {
  const core = w.rig.toy.core;
  return {
    refusals: { ...core.refusals },
    executed: { ...core.executed },
    pairings: JSON.stringify(core.pairings),
    volume: core.persistentState.volume,
    speaker: { ...core.speakerStats },
    microphone: core.microphoneActive,
    played: w.played.length,
    micEvents: w.micEvents.length,
  };
}
type Snapshot = ReturnType<typeof snapshot>;

/** The refusal counters that changed between two snapshots, with their deltas. */
function refusalDelta(before: Snapshot, after: Snapshot): Partial<Record<RefusalKind, number>> {
  const out: Partial<Record<RefusalKind, number>> = {};
  for (const k of Object.keys(after.refusals) as RefusalKind[]) {
    const d = after.refusals[k] - before.refusals[k];
    if (d !== 0) out[k] = d;
  }
  return out;
}

/** Nothing a stranger could want happened: no command ran, no pairing, no audio, mic off. */
function expectNothingRan(before: Snapshot, after: Snapshot): void {
  expect(after.executed).toEqual(before.executed);
  expect(after.pairings).toBe(before.pairings);
  expect(after.volume).toBe(before.volume);
  expect(after.speaker.framesPlayed).toBe(before.speaker.framesPlayed);
  expect(after.speaker.bufferedMs).toBe(0);
  expect(after.played).toBe(before.played);
  expect(after.microphone).toBe(false);
  expect(after.micEvents).toBe(before.micEvents);
}

function expectError(m: WireMessage | undefined, refusal: string): Extract<WireMessage, { kind: 'error' }> {
  expect(m?.kind).toBe('error');
  const e = m as Extract<WireMessage, { kind: 'error' }>;
  expect(e.refusal).toBe(refusal);
  return e;
}

/** A pair-m1 under `code` for the real toy key, from a fresh companion key. */
function pairM1For(w: World, code: SetupCode): Uint8Array {
  const hs = new CompanionHandshake('pair', { companion: generateX25519KeyPair(), toyPublicKey: w.rig.identity.publicKey, hello: { displayName: 'stranger' }, setupCode: code });
  return encodeWire({ kind: 'pair-m1', noise: hs.message1 });
}

/** The owner still works after the attack: the toy was not bricked and the session is intact. */
async function expectOwnerUnharmed(w: World): Promise<void> {
  expect(w.session.open).toBe(true);
  await w.session.setVolume(51);
  expect((await w.session.info()).volume).toBe(51);
}

for (const mtu of [23, 247]) {
  describe(`a stranger's phone over noble-sim (MTU ${mtu})`, () => {
    beforeEach(async () => {
      world = await setUp(mtu);
    });

    it('writes audio to the speaker: each ATT write refused and counted, nothing played', async () => {
      const w = world!;
      const before = snapshot(w);
      const l = await RawLink.open(w.stranger, w.rig.toyId);
      expect(l.link.mtu).toBe(mtu);
      const frame = new Uint8Array(40).fill(0x78);
      const values = new Fragmenter(1024).fragment(forgedChannel().sealAudio([frame, frame, frame]).record, mtu - 3);
      for (const v of values) await l.link.write('speaker', v);
      await until(() => w.rig.toy.core.refusals['speaker-write'] - before.refusals['speaker-write'] === values.length, 2_000, 'speaker refusals');
      expect(await l.next(200)).toBeUndefined(); // the toy does not answer on an unauthenticated speaker write
      const after = snapshot(w);
      expect(refusalDelta(before, after)).toEqual({ 'speaker-write': values.length });
      expect(after.speaker).toEqual(before.speaker);
      expectNothingRan(before, after);
      await l.close();
      await expectOwnerUnharmed(w);
    });

    for (const [what, request] of [
      ['a control command (set volume 100)', { type: 'set-volume', id: 1, volume: 100 }],
      ['microphone start', { type: 'mic-start', id: 1 }],
    ] as const) {
      it(`sends ${what} before any session: NOT_AUTHENTICATED at the first fragment, nothing executed`, async () => {
        const w = world!;
        const before = snapshot(w);
        const l = await RawLink.open(w.stranger, w.rig.toyId);
        const message = forgedChannel().sealControl(request);
        const values = new Fragmenter(1024).fragment(message, mtu - 3);
        await l.sendRaw('control', values);
        expectError(await l.next(), 'NOT_AUTHENTICATED');
        await until(() => Object.values(refusalDelta(before, snapshot(w))).reduce((a, b) => a + b, 0) === 1, 2_000, 'refusals');
        // the first fragment is refused as a non-handshake message; the continuation fragments
        // that follow belong to it and are dropped without an answer or a count (PROTOCOL.md §4)
        const after = snapshot(w);
        expect(refusalDelta(before, after)).toEqual({ 'control-before-session': 1 });
        expectNothingRan(before, after);
        expect(w.micEvents).toEqual([]);
        await l.close();
        await expectOwnerUnharmed(w);
      });
    }

    it("replays the owner's recorded pairing handshake outside the window: NOT_IN_PAIRING_MODE", async () => {
      const w = world!;
      const before = snapshot(w);
      const l = await RawLink.open(w.stranger, w.rig.toyId);
      await l.sendRaw('control', w.pairM1);
      expectError(await l.next(), 'NOT_IN_PAIRING_MODE');
      const after = snapshot(w);
      expect(refusalDelta(before, after)).toEqual({ 'not-in-pairing-mode': 1 });
      expectNothingRan(before, after);
      await l.close();
      await expectOwnerUnharmed(w);
    });

    it("replays the owner's recorded reconnect handshake: the toy answers, but the replayer has no keys; its forged command ends the link", async () => {
      const w = world!;
      const before = snapshot(w);
      const l = await RawLink.open(w.stranger, w.rig.toyId);
      await l.sendRaw('control', w.reconnectM1);
      // Noise_IK message 1 carries no replay protection: the toy answers it, and nothing in it causes an action
      expect((await l.next())?.kind).toBe('reconnect-m2');
      const mid = snapshot(w);
      expect(refusalDelta(before, mid)).toEqual({});
      expectNothingRan(before, mid);
      // only the owner's ephemeral key derives the session keys: a record under made-up keys fails authentication
      await l.send('control', forgedChannel().sealControl({ type: 'mic-start', id: 1 }));
      await until(() => l.disconnected, 2_000, 'the toy dropping the replayer');
      const after = snapshot(w);
      expect(refusalDelta(before, after)).toEqual({ 'record-auth-failed': 1 });
      expectNothingRan(before, after);
      await expectOwnerUnharmed(w);
    });

    it("replays the owner's reconnect handshake and stays silent: the answered connection is still dropped at the deadline", async () => {
      const w = world!;
      const before = snapshot(w);
      const l = await RawLink.open(w.stranger, w.rig.toyId);
      await l.sendRaw('control', w.reconnectM1);
      expect((await l.next())?.kind).toBe('reconnect-m2');
      expect(l.disconnected).toBe(false); // held until the deadline…
      clock.now += HANDSHAKE_DEADLINE_MS; // …which passes on the toy's clock
      await until(() => l.disconnected, 60_000, 'the deadline disconnect'); // a hang guard, not a verdict
      const after = snapshot(w);
      expect(refusalDelta(before, after)).toEqual({ 'handshake-timeout': 1 });
      expectNothingRan(before, after);
      await expectOwnerUnharmed(w);
    });

    it("replays the owner's pairing handshake inside an open guest window: answered, but nothing changes (window, backoff, allow-list)", async () => {
      const w = world!;
      await w.session.allowGuestPairing();
      w.rig.toy.pressButton('hold');
      expect(w.rig.toy.core.pairingWindowOpen(clock.now)).toBe(true);
      const stateBefore = w.rig.toy.persistentState;
      const before = snapshot(w);
      const l = await RawLink.open(w.stranger, w.rig.toyId);
      await l.sendRaw('control', w.pairM1);
      expect((await l.next())?.kind).toBe('pair-m2');
      // message 1 is replayable: it must not act before the companion proves it holds the keys
      expect(w.rig.toy.core.pairingWindowOpen(clock.now)).toBe(true);
      expect(w.rig.toy.persistentState).toEqual(stateBefore);
      await l.send('control', forgedChannel().sealControl({ type: 'set-volume', id: 1, volume: 100 }));
      await until(() => l.disconnected, 2_000, 'the toy dropping the replayer');
      const after = snapshot(w);
      expect(refusalDelta(before, after)).toEqual({ 'record-auth-failed': 1 });
      expectNothingRan(before, after);
      expect(w.rig.toy.persistentState).toEqual(stateBefore);
      expect(w.rig.toy.core.pairingWindowOpen(clock.now)).toBe(true);
      await expectOwnerUnharmed(w);
    });

    it('pairs outside the pairing window, even with the real code (QR and typed): refused before any crypto', async () => {
      const w = world!;
      const before = snapshot(w);
      const strangerApp = await w.rig.newCompanion('stranger', w.stranger, companionClock);
      await expect(strangerApp.pair(w.rig.toyId, w.rig.qr)).rejects.toMatchObject({ code: 'NOT_IN_PAIRING_MODE' });
      await expect(strangerApp.pair(w.rig.toyId, w.rig.code)).rejects.toMatchObject({ code: 'NOT_IN_PAIRING_MODE' });
      // the raw message too: the window check comes first
      const l = await RawLink.open(w.rig.newCentral(), w.rig.toyId);
      await l.send('control', pairM1For(w, w.rig.setup));
      expectError(await l.next(), 'NOT_IN_PAIRING_MODE');
      await l.close();
      const after = snapshot(w);
      expect(refusalDelta(before, after)).toEqual({ 'not-in-pairing-mode': 3 });
      expectNothingRan(before, after);
      expect(strangerApp.toys()).toEqual([]);
      expect(w.rig.toy.persistentState.failedAttempts).toBe(0);
      await expectOwnerUnharmed(w);
    });

    it('guesses setup codes inside an open window: each wrong code backs off exponentially, early retries are rate-limited, the window closes', async () => {
      const w = world!;
      await w.session.allowGuestPairing();
      w.rig.toy.pressButton('hold');
      expect(w.rig.toy.core.pairingWindowOpen(clock.now)).toBe(true);
      const before = snapshot(w);
      const guess = async (pre?: RawLink): Promise<{ reply: WireMessage | undefined; closed: boolean }> => {
        const l = pre ?? (await RawLink.open(w.stranger, w.rig.toyId));
        await l.send('control', pairM1For(w, generateSetupCode()));
        const reply = await l.next();
        // a failed attempt ends the connection; a refused one (window, rate limit) leaves it to the deadline
        if (reply?.kind === 'error' && reply.refusal === 'HANDSHAKE_FAILED') await until(() => l.disconnected, 1_000, 'the toy ending the failed attempt');
        const closed = l.disconnected;
        await l.close();
        return { reply, closed };
      };
      for (let n = 1; n <= MAX_FAILED; n++) {
        // a second phone, connected in advance, retries the moment the first attempt fails
        const second = n < MAX_FAILED ? await RawLink.open(w.rig.newCentral(), w.rig.toyId) : undefined;
        const t0 = clock.now;
        const wrong = await guess();
        const e = expectError(wrong.reply, 'HANDSHAKE_FAILED');
        expect(wrong.closed).toBe(true); // a failed pairing ends the connection
        // exponential backoff (base × 2^(n−1)), persisted; on the wire in whole seconds, rounded up
        const expectedMs = BACKOFF_BASE_MS * 2 ** (n - 1);
        expect(e.retryAfterSec).toBe(Math.ceil(expectedMs / 1000));
        const state = w.rig.toy.persistentState;
        expect(state.failedAttempts).toBe(n);
        expect(state.lockedUntil - t0).toBe(expectedMs);
        if (n < MAX_FAILED) {
          // an immediate retry is refused before any cryptographic work
          const early = await guess(second);
          const r = expectError(early.reply, 'RATE_LIMITED');
          expect(r.retryAfterSec).toBeGreaterThan(0);
          expect(w.rig.toy.persistentState.failedAttempts).toBe(n); // a refused retry is not an attempt
          clock.now = w.rig.toy.persistentState.lockedUntil; // the backoff passes on the toy's clock
        }
      }
      // the window closed after MAX_FAILED failures: the next guess (and even the real code) is refused
      expect(w.rig.toy.core.pairingWindowOpen(clock.now)).toBe(false);
      clock.now = w.rig.toy.persistentState.lockedUntil;
      expectError((await guess()).reply, 'NOT_IN_PAIRING_MODE');
      const strangerApp = await w.rig.newCompanion('stranger', w.rig.newCentral(), companionClock);
      await expect(strangerApp.pair(w.rig.toyId, w.rig.qr)).rejects.toMatchObject({ code: 'NOT_IN_PAIRING_MODE' });
      const after = snapshot(w);
      expect(refusalDelta(before, after)).toEqual({
        'wrong-setup-code': MAX_FAILED,
        'rate-limited': MAX_FAILED - 1,
        'not-in-pairing-mode': 2,
      });
      expectNothingRan(before, after);
      // the owner is unharmed, and a guest who really has the code pairs in the next window
      await expectOwnerUnharmed(w);
      await w.session.allowGuestPairing();
      w.rig.toy.pressButton('hold');
      const guestApp = await w.rig.newCompanion('Gran', w.rig.newCentral(), companionClock);
      const guest = await guestApp.pair(w.rig.toyId, w.rig.qr);
      expect(guest.hello.role).toBe('guest');
      expect(w.rig.toy.persistentState.failedAttempts).toBe(0);
      await guest.close();
    });

    it('connects and stays silent: the toy ends the connection at the handshake deadline', async () => {
      const w = world!;
      const before = snapshot(w);
      const l = await RawLink.open(w.stranger, w.rig.toyId);
      await until(() => w.rig.toy.core.connectionCount >= 2, 60_000, 'the toy seeing the connection');
      expect(l.disconnected).toBe(false); // nothing happens before the deadline…
      clock.now += HANDSHAKE_DEADLINE_MS; // …which passes on the toy's clock
      await until(() => l.disconnected, 60_000, 'the deadline disconnect'); // a hang guard, not a verdict
      expectError(await l.next(0), 'TIMEOUT');
      const after = snapshot(w);
      expect(refusalDelta(before, after)).toEqual({ 'handshake-timeout': 1 });
      expectNothingRan(before, after);
      await expectOwnerUnharmed(w);
    });
  });
}
