/**
 * The speaker's batching (docs/PROTOCOL.md §9), on a fake clock: the latency budget bounds the
 * hand-off of every record after its first frame became available, timer jitter included; a
 * live source at real time gets 3-frame records, frames at hand fill records up to 100 ms and
 * one ATT value. No verdict depends on the speed of the machine: all times are fake.
 */
import { EventEmitter } from 'eventemitter3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Speaker, type PlayOptions } from '../../../src/companion/speaker.js';
import type { SpeakerStatus, ToySession } from '../../../src/companion/session.js';
import { AUDIO_FORMATS_SUPPORTED, AUDIO_FORMATS_V1 } from '../../../src/protocol/audio-record.js';
import { JitterAllowance } from '../../../src/companion/jitter-allowance.js';

/** A 16 kbps CBR Opus packet: TOC 0x78 (SILK WB 20 ms, mono, code 0) and 39 bytes. */
const PACKET = Uint8Array.from([0x78, ...new Array<number>(39).fill(7)]);

interface Sent {
  at: number;
  frames: number;
  bytes: number;
}

/** Just enough of a ToySession for the speaker: a toy that plays in real time, keeping ~100 ms buffered. */
class FakeSession extends EventEmitter {
  hello = { speakerBufferMs: 400 };
  open = true;
  nextAudioFrame = 0;
  sent: Sent[] = [];
  private total = 0;
  private played = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  constructor(
    public mtu: number,
    public peerAudioFormats: number,
  ) {
    super();
  }
  audioStreamStart(): void {}
  private status(state: SpeakerStatus['state']): SpeakerStatus {
    return { type: 'speaker-status', id: 0, state, bufferedMs: (this.total - this.played) * 20, framesPlayed: this.played, underruns: 0, overruns: 0 };
  }
  async request(m: { type: string }): Promise<{ status: 'OK'; body: Uint8Array }> {
    if (m.type === 'speaker-start') {
      setTimeout(() => this.emit('speaker-status', this.status('idle')), 0);
      this.timer = setInterval(() => {
        this.played = Math.max(this.played, this.total - 5);
        this.emit('speaker-status', this.status('playing'));
      }, 100);
    } else if (m.type === 'speaker-end') {
      clearInterval(this.timer);
      setTimeout(() => {
        this.played = this.total;
        this.emit('speaker-status', this.status('done'));
      }, 10);
    }
    return { status: 'OK', body: new Uint8Array(0) };
  }
  async sendAudio(frames: readonly Uint8Array[]): Promise<number> {
    this.sent.push({ at: Date.now(), frames: frames.length, bytes: frames.reduce((a, f) => a + f.length, 0) });
    this.total += frames.length;
    return 0;
  }
}

/** A live source: frame k becomes available at t0 + 20·(k+1) + jitter(k) ms, on the (fake) timers. */
async function* live(n: number, avail: number[], jitter: (k: number) => number = () => 0, stall?: { after: number; ms: number }): AsyncGenerator<Uint8Array> {
  const t0 = Date.now();
  for (let k = 0; k < n; k++) {
    const due = t0 + 20 * (k + 1) + jitter(k) + (stall && k >= stall.after ? stall.ms : 0);
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    avail[k] = Date.now();
    yield PACKET;
  }
}

async function play(session: FakeSession, source: Parameters<Speaker['play']>[0], opts: PlayOptions = {}): Promise<void> {
  const speaker = new Speaker(session as unknown as ToySession, () => Date.now());
  let done = false;
  let error: unknown;
  speaker.play(source, opts).then(
    () => (done = true),
    (e: unknown) => {
      done = true;
      error = e;
    },
  );
  for (let i = 0; i < 100_000 && !done; i++) await vi.advanceTimersByTimeAsync(5);
  if (error) throw error;
  expect(done).toBe(true);
}

/** Hand-off minus availability of each record's first frame. */
function firstFrameWaits(sent: Sent[], avail: number[]): number[] {
  let k = 0;
  return sent.map((s) => {
    const w = s.at - avail[k]!;
    k += s.frames;
    return w;
  });
}

/** A deterministic "random" jitter of 0..9 ms. */
const jitterOf = (k: number): number => (k * 7919) % 10;

describe('speaker batching on a fake clock', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a live source at real time: 3-frame records, each handed over 40 ms after its first frame (≤ the 60 ms budget)', async () => {
    const s = new FakeSession(247, AUDIO_FORMATS_SUPPORTED);
    const avail: number[] = [];
    await play(s, { packets: live(150, avail) });
    expect(s.sent.reduce((a, x) => a + x.frames, 0)).toBe(150);
    expect(s.sent.every((x) => x.frames === 3)).toBe(true);
    expect(Math.max(...firstFrameWaits(s.sent, avail))).toBeLessThanOrEqual(40);
  });

  it('a live source with jitter: no record waits past the budget, and a later frame that still can come in time joins', async () => {
    const s = new FakeSession(247, AUDIO_FORMATS_SUPPORTED);
    const avail: number[] = [];
    await play(s, { packets: live(300, avail, jitterOf) });
    const waits = firstFrameWaits(s.sent, avail);
    expect(Math.max(...waits)).toBeLessThanOrEqual(60);
    expect(s.sent.reduce((a, x) => a + x.frames, 0)).toBe(300);
    for (const budget of [20, 100]) {
      const t = new FakeSession(247, AUDIO_FORMATS_SUPPORTED);
      const av: number[] = [];
      await play(t, { packets: live(100, av, jitterOf) }, { latencyBudgetMs: budget });
      expect(Math.max(...firstFrameWaits(t.sent, av)), `budget ${budget}`).toBeLessThanOrEqual(budget);
    }
  });

  it('timers that fire late: the deadline keeps the lateness it has seen, so later records stay within the budget', async () => {
    const LATE = 7;
    const realSetTimeout = globalThis.setTimeout;
    // Every timer of this event loop fires 7 ms late (a loaded machine).
    globalThis.setTimeout = ((fn: () => void, ms?: number) => realSetTimeout(fn, (ms ?? 0) + LATE)) as typeof setTimeout;
    try {
      const s = new FakeSession(247, AUDIO_FORMATS_SUPPORTED);
      const avail: number[] = [];
      // Frames come in pairs with a pause: after the 2nd frame the 3rd is due in time, but the
      // source stalls, so the batch deadline's timer decides.
      const stalls = async function* (): AsyncGenerator<Uint8Array> {
        const t0 = Date.now();
        for (let k = 0; k < 60; k++) {
          const due = t0 + 100 * Math.floor(k / 2) + 20 * (k % 2);
          if (due > Date.now()) await new Promise((r) => realSetTimeout(r, due - Date.now()));
          avail[k] = Date.now();
          yield PACKET;
        }
      };
      await play(s, { packets: stalls() });
      const waits = firstFrameWaits(s.sent, avail);
      expect(s.sent.every((x) => x.frames <= 2)).toBe(true);
      // The first deadline learns the lateness (it assumed 4 ms); every later one keeps it.
      expect(waits[0]).toBe(60 - 5 + LATE); // deadline 60 − (4 assumed + 1) ms, fired 7 ms late
      expect(Math.max(...waits.slice(1))).toBe(60 - (LATE + 1) + LATE);
    } finally {
      globalThis.setTimeout = realSetTimeout;
    }
  });

  it('frames at hand (a recording): 5-frame records at MTU 247 (one ATT value, 100 ms), 4 at MTU 185; the latency budget does not split them', async () => {
    const packets = new Array<Uint8Array>(103).fill(PACKET);
    for (const [mtu, formats, perRecord] of [
      [247, AUDIO_FORMATS_SUPPORTED, 5],
      [247, AUDIO_FORMATS_V1, 5],
      [185, AUDIO_FORMATS_SUPPORTED, 4],
      [185, AUDIO_FORMATS_V1, 3],
      [23, AUDIO_FORMATS_SUPPORTED, 5],
    ] as const) {
      const s = new FakeSession(mtu, formats);
      await play(s, { packets });
      expect(s.sent.reduce((a, x) => a + x.frames, 0)).toBe(103);
      expect(s.sent.slice(0, -1).every((x) => x.frames === perRecord), `MTU ${mtu}, formats ${formats}: ${s.sent.map((x) => x.frames).join(',')}`).toBe(true);
    }
    const one = new FakeSession(247, AUDIO_FORMATS_SUPPORTED);
    await play(one, { packets }, { maxRecordMs: 20 });
    expect(one.sent.every((x) => x.frames === 1)).toBe(true);
  });
});

describe('JitterAllowance', () => {
  it('keeps the largest recent lateness plus a margin, within 2 ms and half the budget', () => {
    const j = new JitterAllowance(4, 3);
    expect(j.allowanceMs(60)).toBe(5);
    j.record(0.2);
    expect(j.allowanceMs(60)).toBe(2);
    j.record(9);
    expect(j.allowanceMs(60)).toBe(10);
    expect(j.allowanceMs(10)).toBe(5);
    j.record(1);
    j.record(1);
    j.record(1);
    expect(j.allowanceMs(60)).toBe(2); // the 9 ms sample left the window
    j.record(Number.NaN);
    expect(j.allowanceMs(60)).toBe(2);
  });
});
