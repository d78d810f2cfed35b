/**
 * The toy's speaker buffer model: a small queue of 20 ms Opus frames consumed in real time.
 * Pure: time enters as values. Counts overruns (a frame arrived while the buffer was full:
 * dropped) and underruns (the buffer ran dry while a stream was playing and not ended).
 */
import { FRAME_MS } from '../protocol/audio-record.js';
import type { SpeakerState } from '../protocol/control.js';

export interface SpeakerStats {
  state: SpeakerState;
  bufferedMs: number;
  framesPlayed: number;
  underruns: number;
  overruns: number;
  framesLost: number;
  /** Frames that arrived while no stream was open (before the first SPEAKER_START, after stop or done): dropped, not played. */
  framesOutsideStream: number;
}

export class SpeakerBuffer {
  private queue: Uint8Array[] = [];
  private state: SpeakerState = 'idle';
  private playhead = 0; // time (ms) the next frame is due
  private ended = false;
  private expectedFrame: number | undefined;
  private endFrame: number | undefined;
  framesPlayed = 0;
  underruns = 0;
  overruns = 0;
  framesLost = 0;
  framesOutsideStream = 0;
  /** A stream is open from SPEAKER_START until it is done or stopped (PROTOCOL.md §13.6). */
  private open = false;

  /**
   * @param capacityMs buffer size (default 400 ms = 20 frames)
   * @param prebufferMs how much must be buffered before playback starts (default 100 ms)
   */
  constructor(
    readonly capacityMs = 400,
    readonly prebufferMs = 100,
  ) {}

  get capacityFrames(): number {
    return Math.floor(this.capacityMs / FRAME_MS);
  }

  /** A new stream starts at frame `firstFrame`. */
  start(firstFrame: number): void {
    this.queue = [];
    this.state = 'idle';
    this.ended = false;
    this.endFrame = undefined;
    this.expectedFrame = firstFrame;
    this.open = true;
  }

  /** True while a stream is open: audio is played only then (PROTOCOL.md §13.6). */
  get streamOpen(): boolean {
    return this.open && this.state !== 'done' && this.state !== 'stopped';
  }

  /**
   * The stream's last frame is `lastFrame`: play out what is buffered, then `done`. With nothing
   * buffered (an underrun emptied the buffer, or no audio came at all) the stream is done at once
   * (PROTOCOL.md §13.6). Call {@link advance} after it.
   */
  end(lastFrame: number, now: number): void {
    this.ended = true;
    this.endFrame = lastFrame;
    if (this.state === 'idle' && this.queue.length === 0) {
      this.state = 'done';
      return;
    }
    if (this.state === 'idle') this.begin(now);
    if (this.state === 'playing') this.state = 'draining';
  }

  /** Stops at once, discarding the buffer. */
  stop(): void {
    this.queue = [];
    this.state = 'stopped';
    this.ended = false;
    this.open = false;
  }

  /**
   * Frames arrived (in record order). Call {@link advance} first so the buffer is up to date.
   * Returns the frames accepted. Outside a stream (before the first start, after stop or done)
   * nothing is accepted: the frames are counted in `framesOutsideStream` and dropped — a late
   * record of a stopped stream must not start the speaker again (PROTOCOL.md §13.6).
   */
  push(firstFrame: number, frames: readonly Uint8Array[], now: number): number {
    if (!this.streamOpen) {
      this.framesOutsideStream += frames.length;
      return 0;
    }
    if (this.expectedFrame !== undefined && firstFrame > this.expectedFrame) this.framesLost += firstFrame - this.expectedFrame;
    this.expectedFrame = firstFrame + frames.length;
    let accepted = 0;
    for (const f of frames) {
      if (this.queue.length >= this.capacityFrames) {
        this.overruns++;
        continue;
      }
      this.queue.push(f);
      accepted++;
    }
    if (this.state === 'idle' && this.queue.length * FRAME_MS >= this.prebufferMs) this.begin(now);
    return accepted;
  }

  private begin(now: number): void {
    this.state = this.ended ? 'draining' : 'playing';
    this.playhead = now;
  }

  /**
   * Plays frames whose time has come. Returns the frames played (for the toy's decoder).
   */
  advance(now: number): Uint8Array[] {
    const played: Uint8Array[] = [];
    while ((this.state === 'playing' || this.state === 'draining') && this.playhead <= now) {
      const f = this.queue.shift();
      if (!f) {
        if (this.ended) {
          this.state = 'done';
        } else {
          this.underruns++;
          this.state = 'idle'; // re-buffer
        }
        break;
      }
      played.push(f);
      this.framesPlayed++;
      this.playhead += FRAME_MS;
    }
    if (this.state === 'draining' && this.queue.length === 0 && this.playhead <= now) this.state = 'done';
    return played;
  }

  get bufferedMs(): number {
    return this.queue.length * FRAME_MS;
  }

  get stats(): SpeakerStats {
    return {
      state: this.state,
      bufferedMs: this.bufferedMs,
      framesPlayed: this.framesPlayed,
      underruns: this.underruns,
      overruns: this.overruns,
      framesLost: this.framesLost,
      framesOutsideStream: this.framesOutsideStream,
    };
  }

  /** The frame number the stream ends at, once known. */
  get lastFrame(): number | undefined {
    return this.endFrame;
  }
}
