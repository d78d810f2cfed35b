/**
 * Brute-force limiting (docs/SECURITY.md properties 2 and 5): guessing setup codes inside a window.
 * Wrong codes fail on the toy's read of message 1 (WRONG_SETUP_CODE); each failure adds an
 * exponential backoff (RATE_LIMITED with retryAfter) that is persisted, so a power cycle does
 * not reset it; after 5 failures the window closes (NOT_IN_PAIRING_MODE) and even the right
 * code fails until the button opens a new window.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { generateSetupCode, formatSetupCode, formatSetupQr, parseSetupQr } from '../../src/protocol/setup-code.js';
import { ReferenceToy } from '../../src/toy/reference-toy.js';
import { isPlushlinkError, type PlushlinkError } from '../../src/protocol/errors.js';
import { makeRig, type Rig } from '../helpers/rig.js';
import { expectOnlyRefused, snapshot } from '../helpers/intruder.js';

let rig: Rig | undefined;
const extra: ReferenceToy[] = [];
afterEach(async () => {
  for (const t of extra.splice(0)) await t.stop();
  await rig?.close();
  rig = undefined;
});

const BACKOFF = 1000;
/**
 * A fake clock for the toy and the companions: it moves only when the test moves it, so no
 * verdict depends on how fast the machine runs (PROTOCOL.md §13.2 backoffs, §13.3 deadline).
 */
const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
let skew = 0;
const clock = (): number => T0 + skew;

/**
 * Waits until the toy holds no connection: every connection of the last attempt is closed (by
 * the toy after a failure, by the companion after a refusal) before the test moves the clock, so
 * a jump in time can never make an attempt's connection outlive the handshake deadline. Counts
 * radio settles, not time.
 */
async function allClosed(r: Rig): Promise<void> {
  for (let i = 0; i < 1000 && r.toy.core.connectionCount > 0; i++) await r.radio.settle();
  expect(r.toy.core.connectionCount).toBe(0);
}

/** Companions on the fake clock; their handshake timeout only stops a hung test, it decides nothing. */
const companionOptions = { clock, handshakeTimeoutMs: 120_000 };

async function rejection(p: Promise<unknown>): Promise<PlushlinkError> {
  try {
    await p;
  } catch (e) {
    if (isPlushlinkError(e)) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

describe('guessing setup codes', () => {
  it('wrong codes → WRONG_SETUP_CODE with growing backoff (RATE_LIMITED, retryAfter), the window closes after 5, the right code then fails until a new window', async () => {
    skew = 0;
    rig = await makeRig({ config: { backoffBaseMs: BACKOFF, maxFailedAttempts: 5 }, toy: { clock } });
    const toyKey = parseSetupQr(rig.qr).toyPublicKey;
    const guesser = await rig.newCompanion('guesser', 247, companionOptions);
    rig.toy.pressButton('hold');
    const wrongQr = (): string => formatSetupQr(generateSetupCode(), toyKey);

    for (let i = 1; i <= 5; i++) {
      let before = snapshot(rig.toy.core);
      // half of the guesses typed (the toy first reveals its key inside the window), half by QR
      const guess = i % 2 ? wrongQr() : formatSetupCode(generateSetupCode());
      const e = await rejection(guesser.pair(rig.toyId, guess));
      expect(e.code).toBe('WRONG_SETUP_CODE');
      expect(e.detail?.retryAfterSec).toBe(Math.ceil((BACKOFF * 2 ** (i - 1)) / 1000));
      await allClosed(rig);
      expectOnlyRefused(before, rig.toy.core, { 'wrong-setup-code': 1 }, { stateMayChange: true });
      await rig.toy.flush();
      expect(rig.storage.state?.failedAttempts).toBe(i); // persisted at once
      expect(rig.storage.state!.lockedUntil).toBe(clock() + BACKOFF * 2 ** (i - 1));
      if (i < 5) {
        // guessing again at once: refused before any cryptographic work, not counted as a failure
        before = snapshot(rig.toy.core);
        const r = await rejection(guesser.pair(rig.toyId, wrongQr()));
        expect(r.code).toBe('RATE_LIMITED');
        expect(r.detail?.retryAfterSec).toBe(Math.ceil((BACKOFF * 2 ** (i - 1)) / 1000));
        await allClosed(rig);
        expectOnlyRefused(before, rig.toy.core, { 'rate-limited': 1 });
        expect(rig.toy.core.pairingWindowOpen(clock())).toBe(true);
        skew += BACKOFF * 2 ** (i - 1); // only now, with no connection open
      }
    }
    // five failures closed the window: even the right code is refused now
    expect(rig.toy.core.pairingWindowOpen(clock())).toBe(false);
    await allClosed(rig);
    skew += BACKOFF * 16;
    const before = snapshot(rig.toy.core);
    const owner = await rig.newCompanion('owner', 247, companionOptions);
    expect((await rejection(owner.pair(rig.toyId, rig.qr))).code).toBe('NOT_IN_PAIRING_MODE');
    expect((await rejection(owner.pair(rig.toyId, rig.code))).code).toBe('NOT_IN_PAIRING_MODE');
    await allClosed(rig);
    expectOnlyRefused(before, rig.toy.core, { 'not-in-pairing-mode': 2 });
    expect(rig.toy.core.pairings).toEqual([]);
    expect(guesser.toys()).toEqual([]);

    // a new window (button on the toy): the right code pairs, and the failure counter resets
    rig.toy.pressButton('hold');
    const s = await owner.pair(rig.toyId, rig.qr);
    expect(s.hello.role).toBe('owner');
    await rig.toy.flush();
    expect(rig.storage.state?.failedAttempts).toBe(0);
    expect(rig.storage.state?.lockedUntil).toBe(0);
    await s.close();
  });

  it('the backoff survives a power cycle: a toy restarted from its storage still refuses with RATE_LIMITED', async () => {
    skew = 0;
    rig = await makeRig({ config: { backoffBaseMs: 60_000 }, toy: { clock } });
    const guesser = await rig.newCompanion('guesser', 247, companionOptions);
    rig.toy.pressButton('hold');
    const toyKey = parseSetupQr(rig.qr).toyPublicKey;
    expect((await rejection(guesser.pair(rig.toyId, formatSetupQr(generateSetupCode(), toyKey)))).code).toBe('WRONG_SETUP_CODE');
    await rig.toy.flush();
    expect(rig.storage.state?.failedAttempts).toBe(1);
    await rig.toy.stop();

    // power cycle: a new toy process on the same flash (storage), identity and setup code
    const peripheral = rig.radio.createPeripheral();
    const toy2 = new ReferenceToy({ peripheral, identity: rig.identity, setupCode: rig.setup, storage: rig.storage, config: { backoffBaseMs: 60_000 }, rotateAddress: false, clock });
    extra.push(toy2);
    await toy2.start();
    expect(toy2.core.persistentState.failedAttempts).toBe(1);
    toy2.pressButton('hold');
    const owner = await rig.newCompanion('owner', 247, companionOptions);
    const before = snapshot(toy2.core);
    const e = await rejection(owner.pair(peripheral.id, rig.qr));
    expect(e.code).toBe('RATE_LIMITED');
    expect(e.detail?.retryAfterSec).toBe(60);
    expectOnlyRefused(before, toy2.core, { 'rate-limited': 1 });
  });
});
