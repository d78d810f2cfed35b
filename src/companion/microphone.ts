/**
 * The microphone path: `session.microphone.start()` asks the toy to stream what its
 * microphone hears. Frames arrive in sequence-numbered records (notifications: some may be
 * lost) and go through a jitter buffer; lost frames are concealed by the decoder's PLC.
 * Consume them as Opus packets, as PCM, or record them to an Ogg Opus (and WAV) file.
 */
import { EventEmitter } from 'eventemitter3';
import { ConcealingDecoder, PacketConcealer } from '../audio/concealing-decoder.js';
import { concatPcm } from '../audio/convert.js';
import { JitterBuffer, type JitterOutput } from '../audio/jitter-buffer.js';
import { OpusDecoder } from '../audio/opus-codec.js';
import { OggOpusFileWriter, writeWavFile } from '../audio/files.js';
import type { AudioBatch } from '../protocol/channel.js';
import { decodeMicStartResult } from '../protocol/control.js';
import { PlushlinkError } from '../protocol/errors.js';
import { refusedRequest, type MicrophonePort } from './session-port.js';

/** One 20 ms slot of the microphone stream, in order. */
export type MicFrame = { seq: number; packet: Uint8Array; lost: false } | { seq: number; packet: undefined; lost: true };

export interface MicrophoneStats {
  /** Frames received from the toy. */
  received: number;
  /** Frames declared lost: each gap in the frame numbers (concealed on decode up to the jitter window). */
  lost: number;
  /**
   * Lost frames beyond the jitter window in one gap: counted here and in `lost`, but emitted as no
   * frame (no event, no concealment). A gap costs at most the window, however far the toy's counter
   * jumped.
   */
  skipped: number;
  duplicates: number;
  late: number;
}

export interface MicrophoneEvents {
  frame: (f: MicFrame) => void;
  end: () => void;
}

export interface MicStartOptions {
  signal?: AbortSignal;
  /** Jitter buffer depth in frames (default 3 = 60 ms). */
  jitterDepth?: number;
}

/** A running microphone stream. */
export class MicrophoneStream extends EventEmitter<MicrophoneEvents> {
  private readonly jitter: JitterBuffer;
  private readonly queue: MicFrame[] = [];
  private waiters: (() => void)[] = [];
  private ended = false;
  private consumers = 0;

  private endSeq: number | undefined;
  /** Lost frames emitted as no frame (gaps longer than the jitter window). */
  private skipped = 0;
  /** Lost frames emitted since the last received frame (the current gap). */
  private gapEmitted = 0;
  /** Frames lost after the last one received, learnt from the toy's MIC_STATUS (not in the jitter buffer's count). */
  private tailLost = 0;

  /** @internal */
  constructor(
    private readonly session: MicrophonePort,
    depth: number,
  ) {
    super();
    this.jitter = new JitterBuffer({ depth });
    session.on('audio', this.onAudio);
    session.on('mic-status', this.onStatus);
    session.once('close', this.onClose);
  }

  /** @internal the toy's first frame number (from the mic-start result), so early losses count too. */
  setFirstSeq(seq: number): void {
    if (this.jitter.nextSeq === undefined) this.jitter.reset(seq);
  }

  get stats(): MicrophoneStats {
    const j = this.jitter.stats;
    return { received: j.received, lost: j.lost + this.tailLost, skipped: this.skipped, duplicates: j.duplicates, late: j.late };
  }

  get active(): boolean {
    return !this.ended;
  }

  /** Asks the toy to stop, releases what the jitter buffer holds and ends the stream. */
  async stop(): Promise<void> {
    if (this.ended) return;
    const ended = new Promise<void>((r) => this.once('end', () => r()));
    if (this.session.open) await this.session.request({ type: 'mic-stop' }).catch(() => undefined);
    // the toy answers with a mic-status that ends the stream; do not wait forever for it
    const t = setTimeout(() => this.finish(), 1000);
    await ended;
    clearTimeout(t);
  }

  /** Ordered frames (received or lost) as an async iterable. One consumer at a time. */
  async *frames(): AsyncGenerator<MicFrame> {
    if (this.consumers++ > 0) throw new PlushlinkError('INTERNAL', 'the microphone stream has one consumer');
    for (;;) {
      const f = this.queue.shift();
      if (f) {
        yield f;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** Ordered Opus packets; a lost frame yields a concealment (PLC) packet. */
  async *packets(): AsyncGenerator<Uint8Array> {
    const plc = new PacketConcealer();
    for await (const f of this.frames()) yield plc.next(f.packet);
  }

  /** 16 kHz mono PCM, 320 samples per frame, lost frames concealed. */
  async *pcm(): AsyncGenerator<Int16Array> {
    const decoder = await OpusDecoder.create();
    try {
      const cd = new ConcealingDecoder(decoder);
      for await (const f of this.frames()) {
        yield cd.decode(f.packet);
      }
    } finally {
      decoder.free();
    }
  }

  /**
   * Records until the stream ends (call `stop()`, abort `signal`, or `seconds` elapse) into an
   * Ogg Opus file, and a WAV file when `wav` is given. Resolves with the counts.
   */
  async record(oggPath: string, opts: { wav?: string; seconds?: number; signal?: AbortSignal } = {}): Promise<{ frames: number; lost: number; oggPath: string; wavPath?: string }> {
    const writer = new OggOpusFileWriter(oggPath);
    const decoder = opts.wav ? await OpusDecoder.create() : undefined;
    const cd = decoder ? new ConcealingDecoder(decoder) : undefined;
    const pcm: Int16Array[] = [];
    let frames = 0;
    let lost = 0;
    const plc = new PacketConcealer();
    const onAbort = (): void => void this.stop();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = opts.seconds !== undefined ? setTimeout(() => void this.stop(), opts.seconds * 1000) : undefined;
    try {
      for await (const f of this.frames()) {
        frames++;
        if (f.lost) lost++;
        writer.writePacket(plc.next(f.packet));
        if (cd) pcm.push(cd.decode(f.packet));
      }
      await writer.finish();
      if (opts.wav) {
        await writeWavFile(opts.wav, concatPcm(pcm));
      }
      return { frames, lost, oggPath, ...(opts.wav ? { wavPath: opts.wav } : {}) };
    } catch (e) {
      await writer.abort().catch(() => undefined);
      throw e;
    } finally {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      decoder?.free();
    }
  }

  /**
   * Emits the jitter buffer's output in order. A lost run yields one lost frame per missing frame
   * up to the jitter window; the rest of a longer run (a counter that jumped, PROTOCOL.md §9) is
   * counted as skipped, so no gap costs more than the window in events, queue and concealment.
   */
  private push(outs: JitterOutput<Uint8Array>[]): void {
    for (const o of outs) {
      if (o.kind === 'frame') {
        this.gapEmitted = 0;
        this.enqueue({ seq: o.seq, packet: o.data, lost: false });
        continue;
      }
      // One gap may come out as several lost runs (held frames released in between are none):
      // the window bounds the whole gap.
      const n = Math.min(o.count, this.jitter.window - this.gapEmitted);
      this.gapEmitted += n;
      this.skipped += o.count - n;
      for (let i = 0; i < n; i++) this.enqueue({ seq: (o.seq + i) >>> 0, packet: undefined, lost: true });
    }
  }

  private enqueue(f: MicFrame): void {
    this.queue.push(f);
    this.emit('frame', f);
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }

  /** @internal Ends a stream whose start the toy refused (nothing to stop there). */
  abandon(): void {
    this.finish();
  }

  private finish(): void {
    if (this.ended) return;
    this.push(this.jitter.flush());
    // Frames the toy sent after the last one we got were lost in the air: account for them, as
    // one lost run (bounded by the window like any other gap).
    const next = this.jitter.nextSeq;
    if (this.endSeq !== undefined && next !== undefined) {
      const missing = (this.endSeq - next) | 0;
      if (missing > 0) {
        this.tailLost += missing;
        this.push([{ kind: 'lost', seq: next, count: missing }]);
        this.jitter.reset(this.endSeq >>> 0);
      }
    }
    this.ended = true;
    this.session.off('audio', this.onAudio);
    this.session.off('mic-status', this.onStatus);
    this.session.off('close', this.onClose);
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
    this.emit('end');
  }

  private readonly onAudio = (b: AudioBatch): void => {
    if (this.ended) return;
    for (let i = 0; i < b.frames.length; i++) this.push(this.jitter.push((b.firstFrame + i) >>> 0, b.frames[i]!));
  };

  private readonly onClose = (): void => this.finish();

  private readonly onStatus = (st: { active: boolean; nextFrame: number }): void => {
    if (st.active || this.ended) return;
    // The toy's microphone stopped after frame nextFrame − 1; records still in the air get a moment to land.
    this.endSeq = st.nextFrame;
    setTimeout(() => this.finish(), 100);
  };
}

/** The toy's microphone, as seen from a session. */
export class Microphone {
  private current: MicrophoneStream | undefined;

  constructor(private readonly session: MicrophonePort) {}

  /** Starts the toy's microphone. Rejects with `BUSY` when another companion is listening. */
  async start(opts: MicStartOptions = {}): Promise<MicrophoneStream> {
    if (this.current?.active) throw new PlushlinkError('BUSY', 'the microphone is already streaming');
    const stream = new MicrophoneStream(this.session, opts.jitterDepth ?? 3);
    let r;
    try {
      r = await this.session.request({ type: 'mic-start' }, { signal: opts.signal });
      if (r.status !== 'OK') throw refusedRequest(r.status, `the toy refused to start its microphone: ${r.status}`);
    } catch (e) {
      // Never started (refused, aborted, timed out): end it here, without asking the toy.
      stream.abandon();
      throw e;
    }
    // A result without the 4-byte first frame leaves the loss count to start at the first record.
    if (r.body.length === 4) stream.setFirstSeq(decodeMicStartResult(r.body));
    this.current = stream;
    return stream;
  }
}
