/**
 * The secure channel's rekey clock and its life (src/protocol/channel.ts, PROTOCOL.md §8): the
 * interval is measured from the channel's creation — or, when it was made without a time, from
 * its first tick — on a real epoch clock (not only from 0); a closed channel never rekeys; a
 * manual rekey moves both sending channels; a replayed record is refused and the session goes on,
 * while a record that fails authentication closes it.
 */
import { describe, expect, it } from 'vitest';
import { SecureChannel } from '../../../src/protocol/channel.js';
import { randomBytes } from '../../../src/protocol/crypto.js';
import { codeOf } from '../../helpers/errors.js';

const T0 = Date.UTC(2026, 11, 2, 12, 0, 0);
const I = 60_000;

function pair(now: number | undefined) {
  const a2b = randomBytes(32);
  const b2a = randomBytes(32);
  const h = randomBytes(64);
  const opts = now === undefined ? { rekeyIntervalMs: I } : { now, rekeyIntervalMs: I };
  return {
    a: new SecureChannel({ sendKey: a2b, receiveKey: b2a, handshakeHash: h }, opts),
    b: new SecureChannel({ sendKey: b2a, receiveKey: a2b, handshakeHash: h }, opts),
  };
}

describe('rekey clock', () => {
  it('counts the interval from the creation time on a wall-clock epoch', () => {
    const { a } = pair(T0);
    expect(a.tick(T0 + 1)).toBe(false);
    expect(a.tick(T0 + I - 1)).toBe(false);
    expect(a.audioStreamStart(T0 + I - 1)).toBe(false);
    expect(a.sendEpochs).toEqual({ control: 0, audio: 0 });
    expect(a.tick(T0 + I)).toBe(true);
    expect(a.audioStreamStart(T0 + I)).toBe(true);
    expect(a.sendEpochs).toEqual({ control: 1, audio: 1 });
    expect(a.tick(T0 + 2 * I - 1)).toBe(false);
    expect(a.tick(T0 + 2 * I)).toBe(true);
  });

  it('made without a time, the first tick (or stream start) only starts the clock', () => {
    const { a } = pair(undefined);
    expect(a.tick(T0)).toBe(false);
    expect(a.audioStreamStart(T0)).toBe(false);
    expect(a.sendEpochs).toEqual({ control: 0, audio: 0 });
    expect(a.tick(T0 + I - 1)).toBe(false);
    expect(a.audioStreamStart(T0 + I - 1)).toBe(false);
    expect(a.tick(T0 + I)).toBe(true);
    expect(a.audioStreamStart(T0 + I)).toBe(true);
    expect(a.sendEpochs).toEqual({ control: 1, audio: 1 });
  });

  it('a closed channel never rekeys and refuses a manual rekey; an open one moves both senders at once', () => {
    const { a, b } = pair(T0);
    a.rekey();
    expect(a.sendEpochs).toEqual({ control: 1, audio: 1 });
    const w = a.sealControl({ type: 'get-battery', id: 1 });
    expect(b.openControl(w.subarray(1))).toEqual({ type: 'get-battery', id: 1 });
    a.destroy();
    expect(a.alive).toBe(false);
    expect(a.tick(T0 + 10 * I)).toBe(false);
    expect(a.audioStreamStart(T0 + 10 * I)).toBe(false);
    expect(codeOf(() => a.rekey())).toBe('SESSION_CLOSED');
  });
});

describe('refused records', () => {
  it('a replayed record is REPLAYED_RECORD and the session goes on; a tampered one is RECORD_AUTH_FAILED and closes it', () => {
    const { a, b } = pair(T0);
    const r1 = a.sealControl({ type: 'get-info', id: 1 }).subarray(1);
    expect(b.openControl(r1)).toEqual({ type: 'get-info', id: 1 });
    expect(codeOf(() => b.openControl(r1))).toBe('REPLAYED_RECORD');
    expect(b.alive).toBe(true);
    const r2 = a.sealControl({ type: 'get-info', id: 2 }).subarray(1);
    expect(b.openControl(r2)).toEqual({ type: 'get-info', id: 2 });
    const r3 = Uint8Array.from(a.sealControl({ type: 'get-info', id: 3 }).subarray(1));
    r3[r3.length - 1]! ^= 1;
    expect(codeOf(() => b.openControl(r3))).toBe('RECORD_AUTH_FAILED');
    expect(b.alive).toBe(false);
  });
});
