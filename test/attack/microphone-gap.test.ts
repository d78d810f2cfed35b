/**
 * A faulty or malicious toy cannot make the app pay for a gap in the microphone stream
 * (SECURITY.md property 7, bounded cost): however far one authenticated record's counter jumps,
 * or however far a MIC_STATUS says the stream went, the companion emits at most the jitter window
 * of concealed frames for it and counts the rest as skipped — O(window) events and memory, never
 * one per lost frame.
 *
 * Counts, not time: the verdicts are numbers of events and queued frames.
 */
import { EventEmitter } from 'eventemitter3';
import { afterEach, describe, expect, it } from 'vitest';
import type { SecureChannel } from '../../src/protocol/channel.js';
import { MicrophoneStream, type MicFrame } from '../../src/companion/microphone.js';
import type { ToySession } from '../../src/companion/session.js';
import { makeRig, type Rig } from '../helpers/rig.js';

const WINDOW = 64; // the microphone's jitter window (frames)
const frame = (i: number): Uint8Array => Uint8Array.of(0x78, i & 0xff, (i >> 8) & 0xff);

/** A session that only carries microphone events: what ToySession emits after opening records. */
function fakeSession(): EventEmitter & { open: boolean; request(): Promise<{ status: 'OK'; body: Uint8Array }> } {
  return Object.assign(new EventEmitter(), { open: true, request: async () => ({ status: 'OK' as const, body: new Uint8Array(0) }) });
}

/** Feeds batches (first frame number, frame count) and returns what the stream emitted. */
function feed(stream: MicrophoneStream, session: EventEmitter, batches: [first: number, n: number][]): MicFrame[] {
  const got: MicFrame[] = [];
  stream.on('frame', (f) => got.push(f));
  for (const [first, n] of batches) session.emit('audio', { firstFrame: first, frames: Array.from({ length: n }, (_, i) => frame(first + i)) });
  return got;
}

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('the cost of a gap in the microphone stream is bounded by the jitter window', () => {
  for (const jump of [2 ** 20, 2 ** 24, 2 ** 31 - 1]) {
    it(`a record whose counter jumps by ${jump}: at most ${WINDOW} concealed frames, the rest counted as skipped`, () => {
      const session = fakeSession();
      const stream = new MicrophoneStream(session as unknown as ToySession, 3);
      stream.setFirstSeq(0);
      const got = feed(stream, session, [
        [0, 4],
        [4 + jump, 4],
        [8 + jump, 4],
      ]);
      const lost = got.filter((f) => f.lost);
      expect(lost.length).toBeLessThanOrEqual(WINDOW);
      expect(got.length).toBeLessThanOrEqual(12 + WINDOW);
      expect(got.filter((f) => !f.lost).length).toBeGreaterThanOrEqual(8); // the audio on both sides of the gap
      expect(stream.stats.lost).toBe(jump); // every missing frame is accounted for …
      expect(stream.stats.skipped).toBe(jump - lost.length); // … most of them without an event
      expect(stream.active).toBe(true);
    });
  }

  it('a MIC_STATUS that ends the stream far beyond its last frame costs at most the window too', async () => {
    const session = fakeSession();
    const stream = new MicrophoneStream(session as unknown as ToySession, 3);
    stream.setFirstSeq(0);
    const got = feed(stream, session, [[0, 3]]);
    const ended = new Promise<void>((r) => stream.once('end', () => r()));
    session.emit('mic-status', { type: 'mic-status', id: 0, active: false, nextFrame: 2 ** 31 });
    await ended;
    expect(got.filter((f) => f.lost).length).toBeLessThanOrEqual(WINDOW);
    expect(stream.stats.lost + stream.stats.received).toBe(2 ** 31);
  });

  it('end to end: a toy whose microphone counter jumps by 2^24 mid-stream (one authenticated record) costs the app at most the window', async () => {
    rig = await makeRig({
      toy: {
        microphone: function* () {
          for (let k = 0; k < 40; k++) yield frame(k);
        },
      },
    });
    const app = await rig.newCompanion();
    rig.toy.pressButton('hold');
    const s = await app.pair(rig.toyId, rig.qr);
    // The malicious toy: after the first frames it moves its microphone counter on by 2^24
    // (its channel's next audio epoch) — every later record is authentic, just far ahead.
    const conn = [...(rig.toy.core as unknown as { conns: Map<string, { channel: SecureChannel }> }).conns.values()][0]!;
    const mic = await s.microphone.start();
    const got: MicFrame[] = [];
    mic.on('frame', (f) => {
      got.push(f);
      if (got.length === 8) conn.channel.rekey();
    });
    const ended = new Promise<void>((r) => mic.once('end', () => r()));
    await ended;
    expect(mic.stats.received).toBe(40);
    expect(got.filter((f) => f.lost).length).toBeLessThanOrEqual(WINDOW);
    expect(got.length).toBeLessThanOrEqual(40 + WINDOW);
    expect(mic.stats.lost).toBeGreaterThan(2 ** 24 - 100);
    await s.close();
  });
});
