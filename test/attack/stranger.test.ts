/**
 * docs/SECURITY.md property 1 (no unauthenticated central) and the first half of property 2 (pairing
 * only inside the window): a stranger central, with no session, tries what the seed toy allowed.
 * Each test asserts what the stranger sees AND that the toy counted the refusal and changed
 * nothing (no request executed, no pairing, speaker untouched, microphone off).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodeAudioPayload } from '../../src/protocol/audio-record.js';
import { encodeControl } from '../../src/protocol/control.js';
import { PlushlinkError } from '../../src/protocol/errors.js';
import { Fragmenter } from '../../src/protocol/fragment.js';
import { encodeWire } from '../../src/protocol/wire.js';
import { makeRig, type Rig } from '../helpers/rig.js';
import { expectOnlyRefused, forgedChannel, Intruder, snapshot } from '../helpers/intruder.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/**
 * The toy's clock: fake, moved only by the tests, so that no verdict depends on how fast the
 * machine runs (the handshake deadline and the pairing window are on it).
 */
const clock = { now: Date.UTC(2026, 10, 28, 12, 0, 0) };

/** A rig whose toy already has an owner with a live session (the realistic target). */
async function ownedRig(config = {}) {
  rig = await makeRig({ config, toy: { clock: () => clock.now } });
  const owner = await rig.newCompanion('owner', 247, { clock: () => clock.now });
  rig.toy.pressButton('hold');
  const session = await owner.pair(rig.toyId, rig.qr);
  await session.setVolume(30);
  return { rig, owner, session };
}

const frames = (n: number): Uint8Array[] => Array.from({ length: n }, (_, i) => new Uint8Array([0xf8, i, i, i]));

describe('a stranger without a session', () => {
  it('writes to the speaker: refused and counted, nothing plays, the connection is closed at the handshake deadline', async () => {
    const { rig } = await ownedRig();
    const played: Uint8Array[][] = [];
    rig.toy.on('play', (f) => played.push(f));
    const before = snapshot(rig.toy.core);
    const x = await Intruder.connect(rig.radio, rig.toyId);
    // a forged audio record (made-up keys), a bare audio payload, and raw bytes
    const forged = forgedChannel().sealAudio(frames(3)).record;
    const f = new Fragmenter();
    expect(await x.sendRaw('speaker', f.fragment(forged, x.link.mtu - 3))).toBe(true);
    expect(await x.sendRaw('speaker', f.fragment(encodeAudioPayload(frames(2)), x.link.mtu - 3))).toBe(true);
    expect(await x.sendRaw('speaker', [new Uint8Array([0xc0, 1, 2, 3])])).toBe(true);
    await rig.radio.settle();
    expect(x.received).toEqual([]); // write without response: the toy answers nothing...
    expect(x.disconnected).toBe(false); // ...and the deadline has not passed on the toy's clock
    // ...then hangs up on a connection that did not authenticate in time (the clock moves 5 s)
    clock.now += 5000;
    const m = await x.next(60_000); // a hang guard, not a verdict
    expect(m).toEqual({ kind: 'error', refusal: 'TIMEOUT', retryAfterSec: 0 });
    expect(await x.waitDisconnect(60_000)).toBe(true);
    expect(played).toEqual([]);
    expectOnlyRefused(before, rig.toy.core, { 'speaker-write': 3, 'handshake-timeout': 1 });
    expect(rig.peripheral.links.filter((l) => l.connected)).toHaveLength(1); // only the owner
  });

  it('sends control commands (forged records, plaintext control, non-handshake kinds): NOT_AUTHENTICATED each time, nothing runs', async () => {
    const { rig, session } = await ownedRig();
    const before = snapshot(rig.toy.core);
    const x = await Intruder.connect(rig.radio, rig.toyId);
    const attempts: Uint8Array[] = [
      forgedChannel().sealControl({ type: 'set-volume', id: 1, volume: 100 }),
      forgedChannel().sealControl({ type: 'list-pairings', id: 1 }),
      forgedChannel().sealControl({ type: 'remove-pairing', id: 1, keyId: '0011223344556677' }),
      forgedChannel().sealControl({ type: 'allow-guest-pairing', id: 1 }),
      encodeWire({ kind: 'record', record: encodeControl({ type: 'set-volume', id: 1, volume: 100 }) }), // plaintext in a record
      encodeWire({ kind: 'pair-m2', noise: new Uint8Array(64) }),
      encodeWire({ kind: 'reconnect-m2', noise: new Uint8Array(64) }),
      encodeWire({ kind: 'info-response', version: 1, toyPublicKey: new Uint8Array(32) }),
      encodeWire({ kind: 'error', refusal: 'BUSY', retryAfterSec: 0 }),
      new Uint8Array([0x77, 1, 2, 3]), // unknown kind
    ];
    for (const a of attempts) {
      expect(await x.send('control', a)).toBe(true);
      expect(await x.next(2000)).toEqual({ kind: 'error', refusal: 'NOT_AUTHENTICATED', retryAfterSec: 0 });
    }
    // a long forged record, refused at its first fragment (before the toy buffers anything)
    const big = forgedChannel().sealControl({ type: 'remove-pairing', id: 9, keyId: 'ffffffffffffffff' });
    const long = new Uint8Array(600);
    long.set(big);
    long[0] = 0x10;
    const answered = x.received.length;
    expect(await x.send('control', long)).toBe(true);
    expect(await x.next(2000)).toEqual({ kind: 'error', refusal: 'NOT_AUTHENTICATED', retryAfterSec: 0 });
    // its continuation fragments belong to the refused message: dropped without an answer (one message, one refusal)
    await rig.radio.settle();
    expect(x.received.slice(answered)).toEqual([{ kind: 'error', refusal: 'NOT_AUTHENTICATED', retryAfterSec: 0 }]);
    expectOnlyRefused(before, rig.toy.core, { 'control-before-session': attempts.length + 1 });
    expect(rig.toy.core.persistentState.volume).toBe(30);
    expect(rig.toy.core.sessionCount).toBe(1);
    // the owner's session is unaffected
    expect((await session.info()).volume).toBe(30);
    await x.close();
  });

  it('tries to start the microphone: refused, counted, the microphone stays off and nothing is streamed', async () => {
    const { rig } = await ownedRig();
    let micEvents = 0;
    rig.toy.on('microphone', () => micEvents++);
    const before = snapshot(rig.toy.core);
    const x = await Intruder.connect(rig.radio, rig.toyId); // subscribed to the microphone characteristic by connect()
    expect(await x.send('control', forgedChannel().sealControl({ type: 'mic-start', id: 1 }))).toBe(true);
    expect(await x.next(2000)).toEqual({ kind: 'error', refusal: 'NOT_AUTHENTICATED', retryAfterSec: 0 });
    // the command as a plaintext control message dressed as a record
    expect(await x.send('control', encodeWire({ kind: 'record', record: new Uint8Array([0, 0, 0, 0, ...encodeControl({ type: 'mic-start', id: 1 }), ...new Uint8Array(16)]) }))).toBe(true);
    expect(await x.next(2000)).toEqual({ kind: 'error', refusal: 'NOT_AUTHENTICATED', retryAfterSec: 0 });
    // the microphone characteristic is not writable at all
    await expect(x.link.write('microphone' as 'control', new Uint8Array([1]))).rejects.toBeInstanceOf(PlushlinkError);
    await rig.radio.settle();
    expect(rig.toy.core.microphoneActive).toBe(false);
    expect(micEvents).toBe(0);
    expect(x.microphone).toEqual([]);
    // the toy cannot tell which command a record it cannot open holds: counted as control-before-session
    expectOnlyRefused(before, rig.toy.core, { 'control-before-session': 2 });
    await x.close();
  });

  it('pairs outside the pairing window: NOT_IN_PAIRING_MODE before any cryptographic work, no failure counted', async () => {
    rig = await makeRig({ toy: { clock: () => clock.now } });
    const before = snapshot(rig.toy.core);
    const app = await rig.newCompanion('stranger', 247, { clock: () => clock.now });
    // never opened
    await expect(app.pair(rig.toyId, rig.qr)).rejects.toMatchObject({ code: 'NOT_IN_PAIRING_MODE' });
    // typed code: the toy does not even reveal its key
    await expect(app.pair(rig.toyId, rig.code)).rejects.toMatchObject({ code: 'NOT_IN_PAIRING_MODE' });
    // opened, then timed out
    rig.toy.pressButton('hold');
    expect(rig.toy.core.pairingWindowOpen(clock.now)).toBe(true);
    // Every connection of the refused attempts is closed on the toy's side before its clock
    // moves: otherwise a connection whose close had not yet reached the toy would also be
    // refused at the handshake deadline (a verdict that would depend on machine speed).
    await rig.radio.settle();
    expect(rig.peripheral.links.filter((l) => l.connected)).toEqual([]);
    clock.now += 120_001; // the 120 s window times out
    await expect(app.pair(rig.toyId, rig.qr)).rejects.toMatchObject({ code: 'NOT_IN_PAIRING_MODE' });
    expectOnlyRefused(before, rig.toy.core, { 'not-in-pairing-mode': 3 });
    expect(rig.toy.core.persistentState.failedAttempts).toBe(0);
    expect(app.toys()).toEqual([]);
    expect(rig.toy.core.sessionCount).toBe(0);
  });

  it('pairs outside the window of an owned toy (the button does not open one without the owner): NOT_IN_PAIRING_MODE', async () => {
    const { rig } = await ownedRig();
    const before = snapshot(rig.toy.core);
    rig.toy.pressButton('hold');
    expect(rig.toy.core.pairingWindowOpen(clock.now)).toBe(false);
    const app = await rig.newCompanion('stranger', 247, { clock: () => clock.now });
    await expect(app.pair(rig.toyId, rig.qr)).rejects.toMatchObject({ code: 'NOT_IN_PAIRING_MODE' });
    expectOnlyRefused(before, rig.toy.core, { 'not-in-pairing-mode': 1 });
    expect(rig.toy.core.pairings).toHaveLength(1);
  });
});
