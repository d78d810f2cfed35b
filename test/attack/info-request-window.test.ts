/**
 * INFO_REQUEST outside the pairing window (PROTOCOL.md §5 refusal table: NOT_IN_PAIRING_MODE for
 * "PAIR_M1 or INFO_REQUEST while the pairing window is closed", the connection stays up; §12:
 * "INFO_REQUEST is answered only while the window is open"). INFO_RESPONSE carries the toy's
 * static public key, which is what a stranger needs to recognise the toy later; a toy with a
 * closed window must not hand it out.
 *
 * The stranger sends a BARE INFO_REQUEST and nothing after it: a companion that typed the code
 * would follow up with PAIR_M1, whose own window check would hide a toy that answered the
 * INFO_REQUEST (the refusal count would be the same).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodeWire } from '../../src/protocol/wire.js';
import { makeRig, type Rig } from '../helpers/rig.js';
import { expectOnlyRefused, Intruder, PduRecorder, snapshot } from '../helpers/intruder.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** The toy's clock: fake, moved only by the tests (the pairing window is on it). */
const clock = { now: Date.UTC(2026, 11, 2, 12, 0, 0) };

/** True when `needle` occurs anywhere in `hay`. */
function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/**
 * Sends one bare INFO_REQUEST from a stranger and returns what the toy sent back on the air,
 * after the radio has settled (every answer the toy would give has been delivered).
 */
async function bareInfoRequest(r: Rig) {
  const pdus = new PduRecorder(r.radio);
  const x = await Intruder.connect(r.radio, r.toyId);
  expect(await x.send('control', encodeWire({ kind: 'info-request' }))).toBe(true);
  await r.radio.settle();
  pdus.stop();
  const toCentral = pdus.values({ direction: 'toCentral' });
  return { x, toCentral };
}

describe('INFO_REQUEST while the pairing window is closed', () => {
  it('a fresh toy whose window was never opened: exactly one ERROR NOT_IN_PAIRING_MODE, no INFO_RESPONSE, the key never on the air', async () => {
    rig = await makeRig({ toy: { clock: () => clock.now } });
    expect(rig.toy.core.pairingWindowOpen(clock.now)).toBe(false);
    const before = snapshot(rig.toy.core);
    const { x, toCentral } = await bareInfoRequest(rig);
    expect(x.received).toEqual([{ kind: 'error', refusal: 'NOT_IN_PAIRING_MODE', retryAfterSec: 0 }]);
    expect(x.received.some((m) => m.kind === 'info-response')).toBe(false);
    expect(x.garbage).toEqual([]);
    expect(toCentral.length).toBeGreaterThan(0);
    for (const v of toCentral) expect(contains(v, rig.identity.publicKey)).toBe(false);
    expectOnlyRefused(before, rig.toy.core, { 'not-in-pairing-mode': 1 });
    expect(rig.toy.core.persistentState.failedAttempts).toBe(0);
    expect(x.disconnected).toBe(false); // the refusal keeps the connection (PROTOCOL.md §5)
    await x.close();
  });

  it('a window opened and timed out: the same refusal; while it was open the same request got the key', async () => {
    rig = await makeRig({ toy: { clock: () => clock.now } });
    rig.toy.pressButton('hold');
    expect(rig.toy.core.pairingWindowOpen(clock.now)).toBe(true);
    // Inside the window the toy answers with its key (the positive case of the same exchange).
    const open = await bareInfoRequest(rig);
    expect(open.x.received).toEqual([{ kind: 'info-response', version: 1, toyPublicKey: rig.identity.publicKey }]);
    await open.x.close();
    await rig.radio.settle();
    clock.now += 120_001; // the 120 s window times out
    expect(rig.toy.core.pairingWindowOpen(clock.now)).toBe(false);
    const before = snapshot(rig.toy.core);
    const { x, toCentral } = await bareInfoRequest(rig);
    expect(x.received).toEqual([{ kind: 'error', refusal: 'NOT_IN_PAIRING_MODE', retryAfterSec: 0 }]);
    for (const v of toCentral) expect(contains(v, rig.identity.publicKey)).toBe(false);
    expectOnlyRefused(before, rig.toy.core, { 'not-in-pairing-mode': 1 });
    expect(x.disconnected).toBe(false);
    await x.close();
  });

  it('an owned toy (the button alone does not open a window): refused, and refused again on a second request on the same connection', async () => {
    rig = await makeRig({ toy: { clock: () => clock.now } });
    const owner = await rig.newCompanion('owner', 247, { clock: () => clock.now });
    rig.toy.pressButton('hold');
    await owner.pair(rig.toyId, rig.qr);
    await rig.radio.settle();
    rig.toy.pressButton('hold');
    expect(rig.toy.core.pairingWindowOpen(clock.now)).toBe(false);
    const before = snapshot(rig.toy.core);
    const { x, toCentral } = await bareInfoRequest(rig);
    expect(await x.send('control', encodeWire({ kind: 'info-request' }))).toBe(true);
    await rig.radio.settle();
    const refusal = { kind: 'error', refusal: 'NOT_IN_PAIRING_MODE', retryAfterSec: 0 };
    expect(x.received).toEqual([refusal, refusal]);
    for (const v of toCentral) expect(contains(v, rig.identity.publicKey)).toBe(false);
    expectOnlyRefused(before, rig.toy.core, { 'not-in-pairing-mode': 2 });
    expect(rig.toy.core.pairings).toHaveLength(1);
    await x.close();
  });
});
