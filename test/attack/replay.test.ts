/**
 * Replayed handshakes (docs/SECURITY.md properties 2 and 3). An eavesdropper records the owner's
 * handshake messages off the air (the radio's `pdu` trace) and replays them byte for byte in a
 * connection of its own. Pairing message 1 is refused outside a window and, inside a new window,
 * yields nothing the attacker can use; reconnect message 1 gets an answer but no session the
 * attacker can speak in: its first forged record ends the connection.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CompanionHandshake } from '../../src/protocol/handshake.js';
import { generateX25519KeyPair } from '../../src/protocol/crypto.js';
import { isPlushlinkError } from '../../src/protocol/errors.js';
import type { WireMessage } from '../../src/protocol/wire.js';
import { makeRig, type Rig } from '../helpers/rig.js';
import { expectOnlyRefused, forgedChannel, Intruder, PduRecorder, snapshot } from '../helpers/intruder.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** The raw ATT values of the first `kind` message the central wrote in the recording. */
function captured(rec: PduRecorder, kind: WireMessage['kind']): { values: Uint8Array[]; wire: WireMessage } {
  for (const link of rec.links()) {
    const m = rec.controlWrites(link).find((w) => w.wire.kind === kind);
    if (m) return m;
  }
  throw new Error(`no ${kind} captured`);
}

describe('replayed handshakes', () => {
  it("replays the owner's recorded pair-m1 outside a window: NOT_IN_PAIRING_MODE, nothing changes", async () => {
    rig = await makeRig({ toyMtu: 23 }); // several fragments per message: the replay is raw values
    const rec = new PduRecorder(rig.radio);
    const owner = await rig.newCompanion('owner', 23);
    rig.toy.pressButton('hold');
    const s = await owner.pair(rig.toyId, rig.qr);
    await s.close();
    const m1 = captured(rec, 'pair-m1');
    expect(m1.values.length).toBeGreaterThan(1);
    const before = snapshot(rig.toy.core);
    const x = await Intruder.connect(rig.radio, rig.toyId, { mtu: 23 });
    expect(await x.sendRaw('control', m1.values)).toBe(true);
    expect(await x.next(2000)).toEqual({ kind: 'error', refusal: 'NOT_IN_PAIRING_MODE', retryAfterSec: 0 });
    expectOnlyRefused(before, rig.toy.core, { 'not-in-pairing-mode': 1 });
    expect(rig.toy.core.sessionCount).toBe(0);
    await x.close();
  });

  it("replays the owner's pair-m1 inside a new window: the toy answers, but the attacker has no usable session, and no pairing is added", async () => {
    rig = await makeRig();
    const rec = new PduRecorder(rig.radio);
    const owner = await rig.newCompanion('owner');
    rig.toy.pressButton('hold');
    const s = await owner.pair(rig.toyId, rig.qr);
    // the owner lets a guest pair and the button is pressed: a genuine new window
    await s.allowGuestPairing();
    rig.toy.pressButton('hold');
    expect(rig.toy.core.pairingWindowOpen(Date.now())).toBe(true);
    const m1 = captured(rec, 'pair-m1');
    const pairingsBefore = rig.toy.core.persistentState.pairings;
    const before = snapshot(rig.toy.core);

    const x = await Intruder.connect(rig.radio, rig.toyId);
    expect(await x.sendRaw('control', m1.values)).toBe(true);
    const reply = await x.next(2000);
    // Noise IKpsk1 message 1 carries no freshness: the toy answers it as a re-pairing of the owner...
    expect(reply?.kind).toBe('pair-m2');
    // ...but message 2 is bound to the owner's ephemeral and static keys. Even an attacker who
    // knows the setup code cannot read it with keys of its own:
    const attacker = new CompanionHandshake('pair', {
      companion: generateX25519KeyPair(),
      toyPublicKey: rig.identity.publicKey,
      hello: { displayName: 'attacker' },
      setupCode: rig.setup,
    });
    let readErr: unknown;
    try {
      attacker.readMessage2((reply as { noise: Uint8Array }).noise);
    } catch (e) {
      readErr = e;
    }
    expect(isPlushlinkError(readErr, 'HANDSHAKE_FAILED')).toBe(true);
    // so anything it sends in that session is a forgery: the toy ends the connection
    expect(rig.toy.core.sessionCount).toBe(2);
    await x.send('control', forgedChannel().sealControl({ type: 'set-volume', id: 1, volume: 100 })); // the write's response may be lost with the link
    expect(await x.waitDisconnect(2000)).toBe(true);
    expect(x.received.filter((m) => m.kind === 'record')).toEqual([]);
    // no pairing added, nothing executed; the owner's own session still works
    expectOnlyRefused(before, rig.toy.core, { 'record-auth-failed': 1 }, { stateMayChange: true });
    expect(rig.toy.core.persistentState.pairings).toEqual(pairingsBefore);
    expect(rig.toy.core.pairings.map((p) => p.role)).toEqual(['owner']);
    expect(rig.toy.core.sessionCount).toBe(1);
    // the replay did not use up the owner's window: a real guest can still pair in it
    expect(rig.toy.core.pairingWindowOpen(Date.now())).toBe(true);
    const guest = await rig.newCompanion('guest');
    const g = await guest.pair(rig.toyId, rig.qr);
    expect(g.hello.role).toBe('guest');
    await g.close();
    expect((await s.info()).volume).toBe(70);
    await s.close();
  });

  it("replays the owner's recorded reconnect-m1: it gets m2 but no record it sends is accepted; the toy disconnects on the first one", async () => {
    rig = await makeRig({ toyMtu: 23 });
    const owner = await rig.newCompanion('owner', 23);
    rig.toy.pressButton('hold');
    const s0 = await owner.pair(rig.toyId, rig.qr);
    await s0.close();
    const rec = new PduRecorder(rig.radio);
    const s1 = await owner.connect(owner.toys()[0]!, { transportId: rig.toyId });
    await s1.setVolume(25);
    // record the whole session, then let it end
    await s1.close();
    const m1 = captured(rec, 'reconnect-m1');
    const sessionRecords = rec.controlWrites(rec.links()[0]!).filter((w) => w.wire.kind === 'record');
    expect(sessionRecords.length).toBeGreaterThanOrEqual(1);

    for (const follow of ['forged', 'recorded'] as const) {
      const before = snapshot(rig.toy.core);
      const x = await Intruder.connect(rig.radio, rig.toyId, { mtu: 23 });
      expect(await x.sendRaw('control', m1.values)).toBe(true);
      const reply = await x.next(2000);
      expect(reply?.kind).toBe('reconnect-m2'); // message 1 causes no action; message 2 is useless without the owner's ephemeral
      // nothing happened yet: no pairing change, nothing persisted, nothing executed
      expectOnlyRefused(before, rig.toy.core, {});
      if (follow === 'forged') {
        await x.send('control', forgedChannel().sealControl({ type: 'mic-start', id: 1 }));
      } else {
        // the owner's recorded set-volume record from the earlier session: other session keys
        await x.sendRaw('control', sessionRecords.at(-1)!.values);
      }
      expect(await x.waitDisconnect(2000)).toBe(true);
      expectOnlyRefused(before, rig.toy.core, { 'record-auth-failed': 1 });
      expect(rig.toy.core.persistentState.volume).toBe(25);
      expect(rig.toy.core.sessionCount).toBe(0);
      expect(x.microphone).toEqual([]);
    }
    // the owner still reconnects
    const s2 = await owner.connect(owner.toys()[0]!, { transportId: rig.toyId });
    expect((await s2.info()).volume).toBe(25);
    await s2.close();
  });

  it('a replayed reconnect-m1 whose session never confirms is closed at the handshake deadline', async () => {
    // the toy's clock (and the owner's) moves only when the test moves it: no verdict depends on speed
    const clock = { now: Date.UTC(2026, 10, 28, 12, 0, 0) };
    rig = await makeRig({ toy: { clock: () => clock.now } });
    const owner = await rig.newCompanion('owner', 247, { clock: () => clock.now });
    rig.toy.pressButton('hold');
    await (await owner.pair(rig.toyId, rig.qr)).close();
    const rec = new PduRecorder(rig.radio);
    await (await owner.connect(owner.toys()[0]!, { transportId: rig.toyId })).close();
    const m1 = captured(rec, 'reconnect-m1');
    const before = snapshot(rig.toy.core);
    const x = await Intruder.connect(rig.radio, rig.toyId);
    expect(await x.sendRaw('control', m1.values)).toBe(true);
    expect((await x.next(60_000))?.kind).toBe('reconnect-m2');
    await rig.radio.settle();
    expect(x.disconnected).toBe(false); // answered, held until the deadline...
    clock.now += 5000; // ...which passes on the toy's clock
    expect(await x.next(60_000)).toEqual({ kind: 'error', refusal: 'TIMEOUT', retryAfterSec: 0 });
    expect(await x.waitDisconnect(60_000)).toBe(true);
    expectOnlyRefused(before, rig.toy.core, { 'handshake-timeout': 1 });
    expect(rig.toy.core.sessionCount).toBe(0);
  });

  it('a second handshake message inside a replayed session is not a handshake; a malformed reconnect-m1 ends the connection', async () => {
    rig = await makeRig();
    const owner = await rig.newCompanion('owner');
    rig.toy.pressButton('hold');
    await (await owner.pair(rig.toyId, rig.qr)).close();
    const rec = new PduRecorder(rig.radio);
    await (await owner.connect(owner.toys()[0]!, { transportId: rig.toyId })).close();
    const m1 = captured(rec, 'reconnect-m1');
    let before = snapshot(rig.toy.core);
    const x = await Intruder.connect(rig.radio, rig.toyId);
    expect(await x.sendRaw('control', m1.values)).toBe(true);
    expect((await x.next(2000))?.kind).toBe('reconnect-m2');
    expect(await x.sendRaw('control', m1.values)).toBe(true);
    await rig.radio.settle();
    expect(await x.next(200)).toBeUndefined();
    expectOnlyRefused(before, rig.toy.core, { malformed: 1 });
    await x.close();

    before = snapshot(rig.toy.core);
    const y = await Intruder.connect(rig.radio, rig.toyId);
    expect(await y.send('control', new Uint8Array([0x03, ...new Uint8Array(40)]))).toBe(true);
    expect(await y.next(2000)).toEqual({ kind: 'error', refusal: 'HANDSHAKE_FAILED', retryAfterSec: 0 });
    expect(await y.waitDisconnect(2000)).toBe(true);
    expectOnlyRefused(before, rig.toy.core, { 'bad-handshake': 1 });
  });
});
