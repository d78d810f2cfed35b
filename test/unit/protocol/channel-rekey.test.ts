import { describe, expect, it } from 'vitest';
import { SecureChannel } from '../../../src/protocol/channel.js';
import { EPOCH_SIZE } from '../../../src/protocol/record.js';
import { randomBytes } from '../../../src/protocol/crypto.js';
import { isPlushlinkError } from '../../../src/protocol/errors.js';

function pair(now: number, rekeyIntervalMs = 1000) {
  const a2b = randomBytes(32);
  const b2a = randomBytes(32);
  const h = randomBytes(64);
  const a = new SecureChannel({ sendKey: a2b, receiveKey: b2a, handshakeHash: h }, { now, rekeyIntervalMs });
  const b = new SecureChannel({ sendKey: b2a, receiveKey: a2b, handshakeHash: h }, { now, rekeyIntervalMs });
  return { a, b };
}

describe('time-based rekey of the secure channel', () => {
  it('moves to the next key epoch after the interval and the receiver follows', () => {
    const { a, b } = pair(0);
    expect(a.tick(999)).toBe(false);
    const w1 = a.sealControl({ type: 'get-battery', id: 1 });
    expect(b.openControl(w1.subarray(1))).toEqual({ type: 'get-battery', id: 1 });
    expect(a.tick(1000)).toBe(true);
    // audio moves only when a new stream starts, so frame numbers never jump inside a stream
    expect(a.sendEpochs).toEqual({ control: 1, audio: 0 });
    expect(a.audioStreamStart(1000)).toBe(true);
    expect(a.audioStreamStart(1500)).toBe(false);
    expect(a.sendEpochs).toEqual({ control: 1, audio: 1 });
    const w2 = a.sealControl({ type: 'get-info', id: 2 });
    // the counter of the new record is in epoch 1
    const counter = ((w2[1]! << 24) >>> 0) + (w2[2]! << 16) + (w2[3]! << 8) + w2[4]!;
    expect(counter).toBe(EPOCH_SIZE);
    expect(b.openControl(w2.subarray(1))).toEqual({ type: 'get-info', id: 2 });
    const au = a.sealAudio([new Uint8Array([0x48, 1, 2])]);
    expect(au.firstFrame).toBe(EPOCH_SIZE);
    expect(b.openAudio(au.record).frames).toHaveLength(1);
  });

  it('a record from the old epoch is refused as a replay after the receiver moved on', () => {
    const { a, b } = pair(0);
    const old = a.sealControl({ type: 'get-battery', id: 1 });
    a.tick(5000);
    const fresh = a.sealControl({ type: 'get-info', id: 2 });
    b.openControl(fresh.subarray(1));
    try {
      b.openControl(old.subarray(1));
      expect.unreachable();
    } catch (e) {
      expect(isPlushlinkError(e, 'REPLAYED_RECORD')).toBe(true);
    }
  });

  it('a record sealed under the old key but relabelled with a new-epoch counter fails authentication', () => {
    const { a, b } = pair(0);
    const old = a.sealControl({ type: 'get-battery', id: 1 }).subarray(1).slice();
    old[0] = 1; // claim epoch 1 without the epoch-1 key
    try {
      b.openControl(old);
      expect.unreachable();
    } catch (e) {
      expect(isPlushlinkError(e, 'RECORD_AUTH_FAILED')).toBe(true);
    }
    expect(b.alive).toBe(false);
  });
});

describe('rekey exhaustion', () => {
  it('never throws from tick: the channel reports exhausted and the owner ends the session', () => {
    const { a } = pair(0, 1);
    let t = 0;
    for (let i = 0; i < 255; i++) expect(a.tick((t += 10))).toBe(true);
    expect(a.exhausted).toBe(false);
    expect(a.tick((t += 10))).toBe(false);
    expect(a.exhausted).toBe(true);
    expect(a.tick((t += 10))).toBe(false);
  });
});
