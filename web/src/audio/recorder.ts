/**
 * Records from the microphone: getUserMedia → AudioWorklet (capture-worklet.ts) at the device's
 * rate → on stop, resampled to 16 kHz mono 16-bit PCM (resample.ts) for the library's encoder.
 */
import workletUrl from './capture-worklet.ts?worker&url';
import { resample } from './resample.js';
import { floatToInt16, SAMPLE_RATE } from '../lib.js';

/** A finished recording. */
export interface Recording {
  /** Mono 16 kHz PCM. */
  pcm: Int16Array;
  seconds: number;
}

/** Why recording could not start, in words for the user. */
export function microphoneErrorText(e: unknown): string {
  const name = (e as { name?: string } | undefined)?.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') return 'The microphone is blocked. Allow it for this page in the browser settings, then try again.';
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return 'No microphone was found on this device.';
  if (name === 'NotReadableError') return 'The microphone is in use by another app.';
  if (typeof navigator !== 'undefined' && !navigator.mediaDevices) return 'This browser cannot record here (a secure https:// page is needed).';
  return `Recording failed: ${e instanceof Error ? e.message : String(e)}`;
}

export class Recorder {
  readonly #ctx: AudioContext;
  readonly #stream: MediaStream;
  readonly #node: AudioWorkletNode;
  readonly #source: MediaStreamAudioSourceNode;
  readonly #chunks: Float32Array[] = [];
  #samples = 0;
  #done: Promise<void>;
  #stopped = false;
  /** Called with the peak level (0..1) of each captured block. */
  onLevel: ((peak: number) => void) | undefined;

  private constructor(ctx: AudioContext, stream: MediaStream, source: MediaStreamAudioSourceNode, node: AudioWorkletNode) {
    this.#ctx = ctx;
    this.#stream = stream;
    this.#source = source;
    this.#node = node;
    this.#done = new Promise((resolve) => {
      node.port.onmessage = (e: MessageEvent<{ samples?: Float32Array; done?: boolean }>) => {
        if (e.data.samples) {
          this.#chunks.push(e.data.samples);
          this.#samples += e.data.samples.length;
          let peak = 0;
          for (const s of e.data.samples) peak = Math.max(peak, Math.abs(s));
          this.onLevel?.(peak);
        }
        if (e.data.done) resolve();
      };
    });
  }

  /** Asks for the microphone and starts recording. Call from a user gesture (a click). */
  static async start(): Promise<Recorder> {
    if (!navigator.mediaDevices?.getUserMedia) throw Object.assign(new Error('no mediaDevices'), { name: 'NotSupportedError' });
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    const ctx = new AudioContext();
    try {
      await ctx.resume();
      await ctx.audioWorklet.addModule(workletUrl);
      const source = ctx.createMediaStreamSource(stream);
      const node = new AudioWorkletNode(ctx, 'plushlink-capture', { numberOfInputs: 1, numberOfOutputs: 0, channelCount: 1, channelCountMode: 'explicit' });
      source.connect(node);
      return new Recorder(ctx, stream, source, node);
    } catch (e) {
      for (const t of stream.getTracks()) t.stop();
      void ctx.close();
      throw e;
    }
  }

  /** Seconds recorded so far. */
  get seconds(): number {
    return this.#samples / this.#ctx.sampleRate;
  }

  /** Stops and returns the recording as 16 kHz PCM. */
  async stop(): Promise<Recording> {
    if (!this.#stopped) {
      this.#stopped = true;
      this.#node.port.postMessage('flush');
      await this.#done;
      this.#release();
    }
    const all = new Float32Array(this.#samples);
    let o = 0;
    for (const c of this.#chunks) {
      all.set(c, o);
      o += c.length;
    }
    const pcm = floatToInt16(resample(all, this.#ctx.sampleRate, SAMPLE_RATE));
    return { pcm, seconds: pcm.length / SAMPLE_RATE };
  }

  /** Stops without keeping anything. */
  cancel(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#release();
  }

  #release(): void {
    this.#source.disconnect();
    this.#node.disconnect();
    for (const t of this.#stream.getTracks()) t.stop();
    void this.#ctx.close();
  }
}
