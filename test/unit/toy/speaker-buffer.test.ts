/**
 * The toy's speaker buffer on its own (PROTOCOL.md §13.6), with time as plain numbers: the
 * 400 ms buffer and its overruns, the 100 ms prebuffer, one frame every 20 ms, underruns and
 * re-buffering, SPEAKER_END (draining, or done at once with nothing buffered), SPEAKER_STOP,
 * frames lost in the air, and audio outside a stream dropped and counted apart.
 */
import { describe, expect, it } from 'vitest';
import { SpeakerBuffer } from '../../../src/toy/speaker-buffer.js';

const frames = (n: number, tag = 0): Uint8Array[] => Array.from({ length: n }, (_, i) => Uint8Array.of(0xf8, tag, i));

describe('speaker buffer (PROTOCOL.md §13.6)', () => {
  it('holds capacityMs / 20 frames; a frame arriving while it is full is dropped and counted as an overrun', () => {
    expect(new SpeakerBuffer().capacityFrames).toBe(20);
    expect(new SpeakerBuffer(410, 100).capacityFrames).toBe(20);
    expect(new SpeakerBuffer(60, 20).capacityFrames).toBe(3);
    const b = new SpeakerBuffer(400, 1000); // a prebuffer it never reaches: nothing plays
    b.start(0);
    expect(b.push(0, frames(19), 0)).toBe(19);
    expect(b.push(19, frames(3, 1), 0)).toBe(1);
    expect(b.stats).toMatchObject({ state: 'idle', bufferedMs: 400, overruns: 2, framesLost: 0, framesOutsideStream: 0 });
    expect(b.bufferedMs).toBe(400);
    // the frames kept are the first 20, in order
    b.end(21, 0);
    const played = b.advance(1000);
    expect(played).toHaveLength(20);
    expect(played[19]).toEqual(Uint8Array.of(0xf8, 1, 0));
  });

  it('playback starts when 100 ms are buffered (not at 80 ms) and plays one frame every 20 ms from then', () => {
    const b = new SpeakerBuffer();
    b.start(7);
    b.push(7, frames(4), 1000);
    expect(b.stats.state).toBe('idle');
    expect(b.advance(5000)).toEqual([]);
    b.push(11, frames(1, 1), 2000); // the 5th frame: playback starts now, at 2000
    expect(b.stats.state).toBe('playing');
    expect(b.advance(1999)).toEqual([]);
    expect(b.advance(2000)).toEqual([Uint8Array.of(0xf8, 0, 0)]);
    expect(b.advance(2019)).toEqual([]);
    expect(b.advance(2059)).toEqual([Uint8Array.of(0xf8, 0, 1), Uint8Array.of(0xf8, 0, 2)]);
    expect(b.advance(2060)).toEqual([Uint8Array.of(0xf8, 0, 3)]);
    expect(b.stats).toMatchObject({ state: 'playing', framesPlayed: 4, bufferedMs: 20, underruns: 0 });
  });

  it('the buffer running dry mid-stream is one underrun; the toy re-buffers (idle until 100 ms again)', () => {
    const b = new SpeakerBuffer();
    b.start(0);
    b.push(0, frames(5), 0);
    expect(b.advance(80)).toHaveLength(5);
    expect(b.stats).toMatchObject({ state: 'playing', underruns: 0 });
    expect(b.advance(99)).toEqual([]);
    expect(b.stats.state).toBe('playing');
    expect(b.advance(100)).toEqual([]); // the 6th frame is due and there is none
    expect(b.stats).toMatchObject({ state: 'idle', underruns: 1, framesPlayed: 5 });
    expect(b.advance(500)).toEqual([]);
    expect(b.stats.underruns).toBe(1);
    b.push(5, frames(4, 1), 600);
    expect(b.stats.state).toBe('idle');
    b.push(9, frames(1, 2), 610);
    expect(b.stats.state).toBe('playing');
    expect(b.advance(610)).toEqual([Uint8Array.of(0xf8, 1, 0)]);
  });

  it('frames lost in the air are the gap before a record; a record that starts earlier than expected counts none', () => {
    const b = new SpeakerBuffer();
    b.start(100);
    b.push(100, frames(2), 0);
    b.push(105, frames(2), 0); // 102..104 lost
    expect(b.stats.framesLost).toBe(3);
    b.push(106, frames(2), 0); // overlaps the last record: nothing lost
    b.push(108, frames(1), 0); // exactly the one expected
    expect(b.stats.framesLost).toBe(3);
    b.start(0); // a new stream: the expected frame is the new first frame
    b.push(2, frames(1), 0);
    expect(b.stats.framesLost).toBe(5);
  });

  it('SPEAKER_END with nothing buffered is done at once; with less than the prebuffer it drains from now, then done', () => {
    const empty = new SpeakerBuffer();
    empty.start(0);
    empty.end(0, 50);
    expect(empty.stats.state).toBe('done');
    expect(empty.lastFrame).toBe(0);
    expect(empty.streamOpen).toBe(false);

    const b = new SpeakerBuffer();
    b.start(0);
    expect(b.lastFrame).toBeUndefined();
    b.push(0, frames(3), 0);
    b.end(2, 40);
    expect(b.lastFrame).toBe(2);
    expect(b.stats.state).toBe('draining');
    expect(b.streamOpen).toBe(true);
    expect(b.advance(39)).toEqual([]);
    expect(b.advance(40)).toHaveLength(1);
    expect(b.advance(80)).toHaveLength(2);
    expect(b.stats.state).toBe('draining'); // the last frame is still playing
    expect(b.advance(99)).toEqual([]);
    expect(b.stats.state).toBe('draining');
    b.advance(100);
    expect(b.stats).toMatchObject({ state: 'done', framesPlayed: 3, underruns: 0 });
    expect(b.streamOpen).toBe(false);
  });

  it('SPEAKER_END while playing drains: late records of the stream still join, the buffer plays out, then done without an underrun', () => {
    const b = new SpeakerBuffer();
    b.start(0);
    b.push(0, frames(5), 0);
    b.end(6, 10);
    expect(b.stats.state).toBe('draining');
    expect(b.push(5, frames(2, 1), 10)).toBe(2);
    expect(b.advance(200)).toHaveLength(7);
    expect(b.stats).toMatchObject({ state: 'done', framesPlayed: 7, underruns: 0, bufferedMs: 0 });
  });

  it('SPEAKER_END while the last buffered frame is still playing drains: a late record of the stream still joins and plays', () => {
    const b = new SpeakerBuffer();
    b.start(0);
    b.push(0, frames(5), 0);
    expect(b.advance(80)).toHaveLength(5); // the 5th frame plays from 80 to 100; the queue is empty
    expect(b.stats).toMatchObject({ state: 'playing', bufferedMs: 0 });
    b.end(6, 90);
    expect(b.stats.state).toBe('draining');
    expect(b.streamOpen).toBe(true);
    expect(b.push(5, frames(2, 1), 95)).toBe(2);
    expect(b.advance(140)).toEqual([Uint8Array.of(0xf8, 1, 0), Uint8Array.of(0xf8, 1, 1)]);
    b.advance(140);
    expect(b.stats).toMatchObject({ state: 'done', framesPlayed: 7, underruns: 0, framesOutsideStream: 0 });
  });

  it('SPEAKER_STOP discards the buffer at once; a late record does not start the speaker again', () => {
    const b = new SpeakerBuffer();
    b.start(0);
    b.push(0, frames(6), 0);
    b.advance(0);
    b.stop();
    expect(b.stats).toMatchObject({ state: 'stopped', bufferedMs: 0, framesPlayed: 1 });
    expect(b.streamOpen).toBe(false);
    expect(b.push(6, frames(5), 10)).toBe(0);
    expect(b.advance(1000)).toEqual([]);
    expect(b.stats).toMatchObject({ state: 'stopped', bufferedMs: 0, framesOutsideStream: 5, overruns: 0, framesLost: 0 });
    // a late SPEAKER_END of the stopped stream leaves it stopped (not drained to done)
    b.end(10, 1000);
    b.advance(2000);
    expect(b.stats.state).toBe('stopped');
    // a new START opens a fresh stream: empty, idle, not ended
    b.start(20);
    expect(b.streamOpen).toBe(true);
    expect(b.stats).toMatchObject({ state: 'idle', bufferedMs: 0 });
    b.push(20, frames(5, 1), 2000);
    expect(b.stats.state).toBe('playing');
  });

  it('a new stream after one that ended forgets its end: it plays until it runs dry (an underrun), not to done', () => {
    const b = new SpeakerBuffer();
    b.start(0);
    b.push(0, frames(5), 0);
    b.end(4, 0);
    b.advance(1000);
    expect(b.stats.state).toBe('done');
    b.start(5);
    expect(b.lastFrame).toBeUndefined();
    b.push(5, frames(5, 1), 2000);
    expect(b.stats.state).toBe('playing');
    b.advance(2100);
    expect(b.stats).toMatchObject({ state: 'idle', underruns: 1, framesPlayed: 10 });
  });

  it('audio before the first SPEAKER_START is dropped and counted apart, not as lost or overrun', () => {
    const b = new SpeakerBuffer();
    expect(b.streamOpen).toBe(false);
    expect(b.push(0, frames(25), 0)).toBe(0);
    expect(b.stats).toEqual({ state: 'idle', bufferedMs: 0, framesPlayed: 0, underruns: 0, overruns: 0, framesLost: 0, framesOutsideStream: 25 });
  });
});
