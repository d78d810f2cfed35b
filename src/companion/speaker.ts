/**
 * The speaker path: `session.speaker.play(source)` streams Opus frames to the toy, batched
 * into records and paced so the toy's small playback buffer neither overruns nor starves. The
 * toy reports its buffer every 100 ms while playing; between reports the companion advances its
 * estimate by the clock. `play` resolves when the toy has played the last frame.
 *
 * Batching (docs/PROTOCOL.md §9): a record holds the frames at hand up to one ATT value (where a
 * frame fits one) and `maxRecordMs` of audio; a frame that is not at hand yet is waited for only
 * while it can still come before the batch's deadline, `latencyBudgetMs` after its first frame
 * became available, less the lateness the speaker's own timers have shown. So the budget bounds
 * the hand-off including the timer jitter, instead of the jitter coming on top of it.
 */
import { EventEmitter } from 'eventemitter3';
import { readFile } from 'node:fs/promises';
import { OpusEncoder, FRAME_SAMPLES, DEFAULT_BITRATE } from '../audio/opus-codec.js';
import { parseOpusPacket } from '../audio/opus-packet.js';
import { voicePacketsFromAudio } from '../audio/input.js';
import { audioFrameJoinsBatch, FRAME_MS, framesIn, MAX_FRAME_BYTES } from '../protocol/audio-record.js';
import { attPayload } from '../protocol/gatt.js';
import { JitterAllowance } from './jitter-allowance.js';
import { PlushlinkError } from '../protocol/errors.js';
import { refusedRequest, type SpeakerPort, type SpeakerStatus } from './session-port.js';

/** What `play` accepts. */
export type SpeakerSource =
  /** Ogg Opus or WAV file bytes (any rate, mono or stereo; see src/audio/input.ts). */
  | Uint8Array
  /** A path to an Ogg Opus or WAV file (any rate, mono or stereo). */
  | string
  /** 20 ms Opus packets (mono voice). */
  | { packets: Iterable<Uint8Array> | AsyncIterable<Uint8Array> }
  /** 16 kHz mono PCM, encoded on the fly (chunks of any length). */
  | { pcm: Int16Array | Iterable<Int16Array> | AsyncIterable<Int16Array>; bitrate?: number; /** Default false: constant bitrate (see OpusEncoderOptions.vbr). */ vbr?: boolean };

export interface PlayOptions {
  signal?: AbortSignal;
  /**
   * Longest a frame waits for later frames of its batch (default 60 ms), timer jitter included:
   * the batch is handed to the link at the latest this long after its first frame became
   * available. A live source at real time fills 3 frames per record (the 4th is due exactly at
   * 60 ms, so waiting for it would exceed the budget by the jitter); frames already at hand (a
   * file, a recorded message) wait for nothing and fill the record up to `maxRecordMs`.
   */
  latencyBudgetMs?: number;
  /**
   * Most audio in one record (default 100 ms: 5 frames, the toy's start-up buffer; a record lost
   * in the air costs at most this much). Records also stay within one ATT value where a frame
   * fits one (PROTOCOL §9).
   */
  maxRecordMs?: number;
  /** Keep at least this much room in the toy's buffer (default 80 ms). */
  safetyMarginMs?: number;
  /** Give up when the toy stops reporting for this long (default 5000 ms). */
  stallTimeoutMs?: number;
}

export interface PlayProgress {
  framesSent: number;
  framesPlayed: number;
  /** The companion's estimate of the toy's buffer, ms. */
  estimatedBufferMs: number;
}

export interface PlayResult {
  framesSent: number;
  framesPlayed: number;
  records: number;
  /** Underruns after playback had started (the toy's count, this stream only). */
  underruns: number;
  overruns: number;
  durationMs: number;
}

export interface SpeakerEvents {
  progress: (p: PlayProgress) => void;
}

/** Normalises any source into 20 ms Opus packets. */
export async function* opusPacketsOf(source: SpeakerSource): AsyncGenerator<Uint8Array> {
  if (typeof source === 'string' || source instanceof Uint8Array) {
    // any WAV or Ogg Opus, checked whole before the first packet (src/audio/input.ts)
    const bytes = typeof source === 'string' ? new Uint8Array(await readFile(source)) : source;
    yield* (await voicePacketsFromAudio(bytes)).packets;
    return;
  }
  if ('packets' in source) {
    for await (const p of source.packets as AsyncIterable<Uint8Array>) yield p;
    return;
  }
  const enc = new OpusEncoder({ bitrate: source.bitrate ?? DEFAULT_BITRATE, vbr: source.vbr });
  try {
    const chunks: AsyncIterable<Int16Array> | Iterable<Int16Array> = source.pcm instanceof Int16Array ? [source.pcm] : source.pcm;
    let pending = new Int16Array(0);
    for await (const chunk of chunks as AsyncIterable<Int16Array>) {
      const all = new Int16Array(pending.length + chunk.length);
      all.set(pending);
      all.set(chunk, pending.length);
      let o = 0;
      for (; o + FRAME_SAMPLES <= all.length; o += FRAME_SAMPLES) yield enc.encode(all.subarray(o, o + FRAME_SAMPLES));
      pending = all.slice(o);
    }
    if (pending.length > 0) {
      const last = new Int16Array(FRAME_SAMPLES);
      last.set(pending);
      yield enc.encode(last);
    }
  } finally {
    enc.free();
  }
}

/** The toy's speaker, as seen from a session. */
export class Speaker extends EventEmitter<SpeakerEvents> {
  private busy = false;
  /** How late this speaker's batch timers fire: the margin the batch deadline keeps. */
  private readonly jitter = new JitterAllowance();

  constructor(
    private readonly session: SpeakerPort,
    private readonly clock: () => number = () => performance.now(),
  ) {
    super();
  }

  /**
   * Plays `source` on the toy and resolves when the toy has played the last frame. Rejects
   * with `ABORTED` (the toy is told to stop), `SESSION_CLOSED`, `BAD_AUDIO`, `TIMEOUT`.
   */
  async play(source: SpeakerSource, opts: PlayOptions = {}): Promise<PlayResult> {
    if (this.busy) throw new PlushlinkError('BUSY', 'the speaker is already playing');
    this.busy = true;
    try {
      return await this.run(source, opts);
    } finally {
      this.busy = false;
    }
  }

  private async run(source: SpeakerSource, opts: PlayOptions): Promise<PlayResult> {
    const s = this.session;
    const signal = opts.signal;
    signal?.throwIfAborted();
    const capacityMs = s.hello.speakerBufferMs;
    const budgetMs = opts.latencyBudgetMs ?? 60;
    const maxFramesPerRecord = framesIn(opts.maxRecordMs ?? 100);
    const peerFormats = s.peerAudioFormats;
    const maxFill = Math.max(FRAME_MS, capacityMs - (opts.safetyMarginMs ?? 80));
    const payloadMax = attPayload(s.mtu);
    const stallMs = opts.stallTimeoutMs ?? 5000;
    const t0 = this.clock();

    // The toy's state, as last reported, and when.
    let last: SpeakerStatus | undefined;
    let lastAt = 0;
    let baseUnderruns: number | undefined;
    let baseOverruns: number | undefined;
    let basePlayed: number | undefined;
    let wake: (() => void) | undefined;
    const onStatus = (st: SpeakerStatus): void => {
      if (basePlayed === undefined) return;
      last = st;
      lastAt = this.clock();
      wake?.();
    };
    const onClose = (): void => wake?.();
    s.on('speaker-status', onStatus);
    s.on('close', onClose);
    const sleep = (ms: number): Promise<void> =>
      new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.max(1, ms));
        function done(): void {
          clearTimeout(t);
          wake = undefined;
          signal?.removeEventListener('abort', done);
          resolve();
        }
        wake = done;
        signal?.addEventListener('abort', done, { once: true });
      });

    s.audioStreamStart();
    const firstFrame = s.nextAudioFrame;
    let sent = 0;
    let records = 0;
    const played = (): number => {
      if (!last || basePlayed === undefined) return 0;
      let p = last.framesPlayed - basePlayed;
      if (last.state === 'playing' || last.state === 'draining') p += Math.floor((this.clock() - lastAt) / FRAME_MS);
      return Math.max(0, Math.min(sent, p));
    };
    const check = (): void => {
      if (signal?.aborted) throw new PlushlinkError('ABORTED', 'playback aborted');
      if (!s.open) throw new PlushlinkError('SESSION_CLOSED', 'the session closed during playback');
    };
    let it: AsyncIterator<Uint8Array> | undefined;
    try {
      const startStatus = await this.startStream(firstFrame, signal);
      basePlayed = startStatus.framesPlayed;
      baseUnderruns = startStatus.underruns;
      baseOverruns = startStatus.overruns;
      it = opusPacketsOf(source)[Symbol.asyncIterator]();
      // A frame that did not fit the previous batch, and when it became available.
      let pendingFrame: Uint8Array | undefined;
      let pendingAt = 0;
      // A request to the source that a batch deadline left unanswered; the next batch takes it.
      let pendingNext: Promise<IteratorResult<Uint8Array>> | undefined;
      let exhausted = false;
      while (!exhausted || pendingFrame) {
        check();
        // Gather a batch: the frames at hand up to maxFramesPerRecord and one ATT value; a frame
        // not at hand only while it can still come before the deadline.
        const batch: Uint8Array[] = [];
        let deadline = Infinity;
        let lastAt = 0;
        for (;;) {
          let f = pendingFrame;
          let at = pendingAt;
          pendingFrame = undefined;
          if (!f) {
            if (exhausted) break;
            pendingNext ??= it.next();
            let r = batch.length === 0 ? await this.withinDeadline(pendingNext, Infinity, signal) : await atHand(pendingNext);
            if (r === undefined && batch.length > 0) {
              // Not at hand: a live source. Its next frame is not due before 20 ms after the last
              // one; when that is past the deadline, waiting would only break the budget.
              if (Math.max(this.clock(), lastAt + FRAME_MS) > deadline) break;
              r = await this.withinDeadline(pendingNext, deadline, signal);
            }
            if (r === undefined) {
              check(); // aborted while waiting for the source
              break; // the deadline came first: send what the batch holds
            }
            pendingNext = undefined;
            if (r.done) {
              exhausted = true;
              break;
            }
            f = r.value;
            at = this.clock();
            validateFrame(f);
          }
          if (batch.length === 0) deadline = at + budgetMs - this.jitter.allowanceMs(budgetMs);
          // One ATT value per record where a frame fits one; never past the record size limit.
          if (!audioFrameJoinsBatch(batch.map((x) => x.length), f.length, payloadMax, peerFormats)) {
            pendingFrame = f;
            pendingAt = at;
            break;
          }
          batch.push(f);
          lastAt = at;
          if (batch.length >= maxFramesPerRecord) break;
        }
        if (batch.length === 0) break;
        // Pace: wait until the toy's buffer has room for this batch.
        for (;;) {
          check();
          const buffered = (sent - played()) * FRAME_MS;
          if (buffered + batch.length * FRAME_MS <= maxFill) break;
          if (lastAt && this.clock() - lastAt > stallMs) throw new PlushlinkError('TIMEOUT', `the toy stopped reporting its speaker for ${stallMs} ms`);
          const wait = buffered + batch.length * FRAME_MS - maxFill;
          await sleep(Math.min(wait, 50));
        }
        await s.sendAudio(batch);
        sent += batch.length;
        records++;
        this.emit('progress', { framesSent: sent, framesPlayed: played(), estimatedBufferMs: (sent - played()) * FRAME_MS });
      }
      if (sent === 0) throw new PlushlinkError('BAD_AUDIO', 'the source held no audio');
      const ended = await s.request({ type: 'speaker-end', lastFrame: firstFrame + sent - 1 }, { signal });
      if (ended.status !== 'OK') throw refusedRequest(ended.status, `the toy refused the end of the stream: ${ended.status}`);
      // Wait until the toy has played everything.
      const deadline = () => lastAt + stallMs;
      while (!(last && last.state === 'done' && last.framesPlayed - basePlayed >= sent - (last.overruns - baseOverruns))) {
        check();
        if (this.clock() > deadline() && lastAt) throw new PlushlinkError('TIMEOUT', 'the toy did not finish playing');
        await sleep(Math.max(20, (sent - played()) * FRAME_MS));
        this.emit('progress', { framesSent: sent, framesPlayed: played(), estimatedBufferMs: (sent - played()) * FRAME_MS });
      }
      return {
        framesSent: sent,
        framesPlayed: last.framesPlayed - basePlayed,
        records,
        underruns: last.underruns - (baseUnderruns ?? 0),
        overruns: last.overruns - baseOverruns,
        durationMs: this.clock() - t0,
      };
    } catch (e) {
      if (s.open) await s.request({ type: 'speaker-stop' }, { timeoutMs: 2000 }).catch(() => undefined);
      throw e;
    } finally {
      s.off('speaker-status', onStatus);
      s.off('close', onClose);
      void it?.return?.(undefined)?.catch(() => undefined);
    }
  }

  /**
   * The source's answer if it comes before `deadline` (on this speaker's clock; Infinity: no
   * deadline), else undefined. An abort also ends the wait with undefined.
   */
  private async withinDeadline<T>(p: Promise<T>, deadline: number, signal?: AbortSignal): Promise<T | undefined> {
    if (signal?.aborted) return undefined;
    const ms = deadline - this.clock();
    if (ms <= 0) return Promise.race([p, Promise.resolve(undefined)]); // only an answer already there
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const late = new Promise<undefined>((resolve) => {
      if (ms !== Infinity) {
        timer = setTimeout(() => {
          this.jitter.record(this.clock() - deadline); // how late the timer fired
          resolve(undefined);
        }, ms);
      }
      onAbort = () => resolve(undefined);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([p, late]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Sends speaker-start and waits for the toy's first status (which gives the baseline counters). */
  private async startStream(firstFrame: number, signal?: AbortSignal): Promise<SpeakerStatus> {
    const s = this.session;
    let first: SpeakerStatus | undefined;
    let wake: ((st: SpeakerStatus) => void) | undefined;
    const on = (st: SpeakerStatus): void => {
      first = st;
      s.off('speaker-status', on);
      wake?.(st);
    };
    s.on('speaker-status', on);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const r = await s.request({ type: 'speaker-start', firstFrame }, { signal });
      if (r.status !== 'OK') throw refusedRequest(r.status, `the toy refused to start its speaker: ${r.status}`);
      if (first) return first;
      return await new Promise<SpeakerStatus>((resolve, reject) => {
        wake = resolve;
        timer = setTimeout(() => reject(new PlushlinkError('TIMEOUT', 'the toy did not report its speaker')), 5000);
        timer.unref?.();
      });
    } finally {
      if (timer) clearTimeout(timer);
      s.off('speaker-status', on);
    }
  }
}

/**
 * The source's answer if it is already there or comes within a few microtask turns (a file, an
 * array, an encoder running on the same thread), else undefined: the source waits on something
 * outside (a live capture, a timer).
 */
async function atHand<T>(p: Promise<T>): Promise<T | undefined> {
  let settled = false;
  let value: T | undefined;
  p.then(
    (v) => {
      settled = true;
      value = v;
    },
    () => {
      settled = true;
    },
  );
  for (let i = 0; i < AT_HAND_TURNS && !settled; i++) await undefined;
  return settled ? (value === undefined ? p : value) : undefined;
}

/** Microtask turns within which a source's next frame counts as at hand (an async generator over an array answers in a few). */
const AT_HAND_TURNS = 32;

function validateFrame(f: Uint8Array): void {
  if (f.length < 1 || f.length > MAX_FRAME_BYTES) throw new PlushlinkError('BAD_AUDIO', `an Opus frame must be 1..${MAX_FRAME_BYTES} bytes (got ${f.length}); lower the bitrate`);
  const info = parseOpusPacket(f);
  if (info.samples48k !== 960) throw new PlushlinkError('BAD_AUDIO', `the speaker takes 20 ms Opus packets (got ${info.samples48k / 48} ms)`);
}
