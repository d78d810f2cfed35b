/**
 * Opus encode (PCM → Opus) and decode (Opus → PCM) for plushlink's voice format:
 * mono, 16 kHz, 20 ms frames (320 samples), VOIP application, 12–32 kbps.
 *
 * - Encoder: `opusscript` (libopus 1.4 compiled to wasm, no native build, identical bytes on every
 *   machine, so golden fixtures are reproducible). Its JavaScript `encode()` stages PCM in a view
 *   made with `HEAPU16.subarray(bytePointer…)`, i.e. at byte offset 2×pointer, outside the block it
 *   allocated, and its views detach when the wasm memory grows (it breaks after ~160 live
 *   instances). We therefore call the wasm handler directly with views we place on the allocated
 *   block ourselves and re-acquire after a memory growth. Keep few, long-lived encoders anyway
 *   (`reset()` between streams) and `free()` them when done.
 * - Decoder: `opus-decoder` (wasm). It defaults to stereo 48 kHz, so we pass
 *   `{ channels: 1, sampleRate: 16000 }`; it reports errors in `errors[]` (and prints them), so we
 *   validate the packet framing first (RFC 6716 R1–R7) and turn any remaining error into a typed
 *   `CODEC_ERROR`. Loss concealment uses libopus' own PLC: decoding a 1-byte packet (the previous
 *   TOC at 20 ms with the frame-count code cleared, no frame data) yields one 20 ms frame.
 */
import OpusScript from 'opusscript';
import { OpusDecoder as WasmOpusDecoder } from 'opus-decoder';
import { PlushlinkError } from '../protocol/errors.js';
import { concealmentPacket, parseOpusPacket } from './opus-packet.js';

/** PCM sample rate of plushlink voice (Hz). */
export const SAMPLE_RATE = 16000;
/** Samples in one 20 ms frame at 16 kHz. */
export const FRAME_SAMPLES = 320;
/** Frame duration in milliseconds (the protocol's, PROTOCOL.md §9). */
export { FRAME_MS } from '../protocol/audio-record.js';
/** Encoder lookahead of opusscript/libopus at 16 kHz, in 16 kHz samples (decoded output is delayed by this). */
export const ENCODER_LOOKAHEAD_SAMPLES = 104;
/** The same lookahead at 48 kHz: the OpusHead pre-skip for streams made by {@link OpusEncoder}. */
export const OPUS_PRE_SKIP_48K = 312;
/** Lowest and highest bitrate accepted by {@link OpusEncoder} (bits per second). */
export const MIN_BITRATE = 12000;
export const MAX_BITRATE = 32000;
/** Default bitrate (bits per second). */
export const DEFAULT_BITRATE = 16000;

/** Largest packet opus-decoder's mono input buffer accepts (32000 × 0.12 bytes). */
const DECODER_MAX_PACKET_BYTES = 3840;
/** Largest packet libopus may produce (1276 × 3). */
const ENCODER_MAX_PACKET_BYTES = 3828;

// --- opusscript internals we rely on (stable in 0.1.x; see the file comment) -------------------
interface OpusScriptHandler {
  _encode(inputPtr: number, bytes: number, outputPtr: number, frameSize: number): number;
}
interface OpusScriptInstance {
  handler: OpusScriptHandler;
  inPCMPointer: number;
  inPCMLength: number;
  outOpusPointer: number;
  outOpus: Uint8Array;
  encoderCTL(ctl: number, arg: number): void;
  delete(): void;
}
interface OpusScriptCtor {
  new (rate: number, channels: number, application: number): OpusScriptInstance;
  Application: { VOIP: number };
}
// opusscript's module only defines the class; its wasm is loaded by the first constructor call
// (in Node from the file beside it, in a browser Web Worker by a synchronous fetch of
// `opusscript_native_wasm.wasm` next to the worker's script, see web/vite.config.ts). No `node:`
// import here: the web app encodes with this same module (docs/RELAY.md, the web app).
function opusScript(): OpusScriptCtor {
  return OpusScript as unknown as OpusScriptCtor;
}

const OPUS_SET_BITRATE = 4002;
const OPUS_SET_COMPLEXITY = 4010;
const OPUS_SET_SIGNAL = 4024;
const OPUS_SET_VBR = 4006;
const OPUS_SIGNAL_VOICE = 3001;
const OPUS_RESET_STATE = 4028;

/** The wasm heap as it is now (after any memory growth): taken from a short-lived instance's view. */
function currentHeap(): ArrayBuffer {
  const C = opusScript();
  const tmp = new C(SAMPLE_RATE, 1, C.Application.VOIP);
  const heap = tmp.outOpus.buffer as ArrayBuffer;
  tmp.delete();
  return heap;
}

/** Options of {@link OpusEncoder}. */
export interface OpusEncoderOptions {
  /** Target bitrate in bits per second, integer in [12000, 32000]. Default 16000. */
  bitrate?: number;
  /** libopus complexity 0..10 (higher: better quality, slower). Default 9 (libopus default). */
  complexity?: number;
  /**
   * Variable bitrate. Default **false**: constant bitrate, every 20 ms packet has the same size
   * (bitrate × 20 ms / 8 bytes, 40 bytes at 16 kbit/s), so that the length of an encrypted
   * record does not reveal speech, silence or what was said (PROTOCOL.md §14.4). VBR gives
   * somewhat better quality per byte but its packet sizes (8–61 bytes at 16 kbit/s for speech)
   * show through the encryption.
   */
  vbr?: boolean;
}

function checkBitrate(bitrate: number): void {
  if (!Number.isInteger(bitrate) || bitrate < MIN_BITRATE || bitrate > MAX_BITRATE) {
    throw new PlushlinkError('BAD_AUDIO', `bitrate must be an integer in [${MIN_BITRATE}, ${MAX_BITRATE}] bit/s`, { bitrate });
  }
}

/**
 * Opus encoder for plushlink voice: mono 16 kHz, 20 ms frames, VOIP application, constant
 * bitrate unless {@link OpusEncoderOptions.vbr} is set.
 * Synchronous. Each instance holds wasm memory until {@link OpusEncoder.free} is called.
 */
export class OpusEncoder {
  #os: OpusScriptInstance | undefined;
  #heap: ArrayBuffer;
  #bitrate: number;

  constructor(options: OpusEncoderOptions = {}) {
    const bitrate = options.bitrate ?? DEFAULT_BITRATE;
    checkBitrate(bitrate);
    const complexity = options.complexity ?? 9;
    if (!Number.isInteger(complexity) || complexity < 0 || complexity > 10) {
      throw new PlushlinkError('BAD_AUDIO', 'complexity must be an integer in [0, 10]', { complexity });
    }
    const C = opusScript();
    let os: OpusScriptInstance;
    try {
      os = new C(SAMPLE_RATE, 1, C.Application.VOIP);
    } catch (e) {
      throw new PlushlinkError('CODEC_ERROR', 'cannot create Opus encoder', undefined, { cause: e });
    }
    this.#os = os;
    this.#heap = os.outOpus.buffer as ArrayBuffer;
    this.#bitrate = bitrate;
    try {
      os.encoderCTL(OPUS_SET_BITRATE, bitrate);
      os.encoderCTL(OPUS_SET_COMPLEXITY, complexity);
      os.encoderCTL(OPUS_SET_SIGNAL, OPUS_SIGNAL_VOICE);
      os.encoderCTL(OPUS_SET_VBR, options.vbr === true ? 1 : 0);
    } catch (e) {
      os.delete();
      this.#os = undefined;
      throw new PlushlinkError('CODEC_ERROR', 'cannot configure Opus encoder', undefined, { cause: e });
    }
  }

  /** Current target bitrate (bit/s). */
  get bitrate(): number {
    return this.#bitrate;
  }

  /** True once {@link OpusEncoder.free} has been called. */
  get freed(): boolean {
    return this.#os === undefined;
  }

  /** Changes the target bitrate; takes effect from the next frame. Integer in [12000, 32000]. */
  setBitrate(bitrate: number): void {
    checkBitrate(bitrate);
    this.#live().encoderCTL(OPUS_SET_BITRATE, bitrate);
    this.#bitrate = bitrate;
  }

  /** Resets the encoder state (start of a new, independent stream); settings are kept. */
  reset(): void {
    this.#live().encoderCTL(OPUS_RESET_STATE, 0);
  }

  /**
   * Encodes exactly one 20 ms frame (320 samples of mono 16-bit PCM at 16 kHz).
   * @returns a fresh Opus packet: bitrate × 20 ms / 8 bytes with CBR (30–80 at 12–32 kbit/s), typically 8–90 with VBR.
   * @throws PlushlinkError `BAD_AUDIO` for a wrong frame length, `CODEC_ERROR` when libopus fails.
   */
  encode(pcm: Int16Array): Uint8Array {
    const os = this.#live();
    if (!(pcm instanceof Int16Array) || pcm.length !== FRAME_SAMPLES) {
      throw new PlushlinkError('BAD_AUDIO', `encode expects an Int16Array of ${FRAME_SAMPLES} samples`, {
        length: (pcm as { length?: unknown } | undefined)?.length,
      });
    }
    if (this.#heap.byteLength === 0) this.#heap = currentHeap(); // wasm memory grew: old buffer detached
    // The handler reads `bytes` little-endian bytes, one per 16-bit cell, and packs them in place.
    const cells = new Uint16Array(this.#heap, os.inPCMPointer, FRAME_SAMPLES * 2);
    for (let i = 0; i < FRAME_SAMPLES; i++) {
      const s = pcm[i]! & 0xffff;
      cells[2 * i] = s & 0xff;
      cells[2 * i + 1] = s >>> 8;
    }
    const len = os.handler._encode(os.inPCMPointer, FRAME_SAMPLES * 2, os.outOpusPointer, FRAME_SAMPLES);
    if (len < 0 || len > ENCODER_MAX_PACKET_BYTES) {
      throw new PlushlinkError('CODEC_ERROR', `Opus encode failed (libopus ${len})`, { code: len });
    }
    if (this.#heap.byteLength === 0) this.#heap = currentHeap();
    return new Uint8Array(this.#heap, os.outOpusPointer, len).slice();
  }

  /** Releases the wasm memory. Further calls throw `CODEC_ERROR`. Idempotent. */
  free(): void {
    const os = this.#os;
    this.#os = undefined;
    os?.delete();
  }

  #live(): OpusScriptInstance {
    if (!this.#os) throw new PlushlinkError('CODEC_ERROR', 'Opus encoder has been freed');
    return this.#os;
  }
}

/** Counters kept by an {@link OpusDecoder}. */
export interface OpusDecoderStats {
  /** Packets decoded successfully. */
  decoded: number;
  /** Frames produced by loss concealment. */
  concealed: number;
}

/**
 * Opus decoder for plushlink voice: mono, 16 kHz output, with libopus packet-loss concealment.
 * Create with `await OpusDecoder.create()` (or `new` then `await decoder.ready`).
 */
export class OpusDecoder {
  #dec: WasmOpusDecoder<16000>;
  #lastToc: number | undefined;
  #freed = false;
  /** Resolves when the wasm module is instantiated; `decode`/`conceal` need it. */
  ready: Promise<void>;
  #isReady = false;
  readonly stats: OpusDecoderStats = { decoded: 0, concealed: 0 };

  constructor() {
    this.#dec = new WasmOpusDecoder({ channels: 1, sampleRate: SAMPLE_RATE });
    this.ready = this.#dec.ready.then(
      () => {
        this.#isReady = true;
      },
      (e: unknown) => {
        throw new PlushlinkError('CODEC_ERROR', 'cannot create Opus decoder', undefined, { cause: e });
      },
    );
  }

  /** Creates a decoder and waits until it is ready. */
  static async create(): Promise<OpusDecoder> {
    const d = new OpusDecoder();
    await d.ready;
    return d;
  }

  /**
   * Decodes one Opus packet to mono 16 kHz PCM. A 20 ms packet gives 320 samples
   * (in general `samples48k / 3` of {@link parseOpusPacket}).
   * @throws PlushlinkError `CODEC_ERROR` for an invalid packet (the decoder state is unchanged
   *   when the framing is invalid), or when not ready / freed.
   */
  decode(packet: Uint8Array): Int16Array {
    this.#check();
    if (!(packet instanceof Uint8Array)) throw new PlushlinkError('CODEC_ERROR', 'packet must be a Uint8Array');
    if (packet.length > DECODER_MAX_PACKET_BYTES) {
      throw new PlushlinkError('CODEC_ERROR', 'Opus packet too large for the decoder', { length: packet.length });
    }
    parseOpusPacket(packet); // throws CODEC_ERROR on invalid framing, before the wasm sees it
    const out = this.#run(packet);
    this.#lastToc = packet[0]!;
    this.stats.decoded++;
    return out;
  }

  /**
   * Produces one 20 ms frame (320 samples) of packet-loss concealment, continuing from the last
   * decoded packet (libopus PLC; it fades to silence over long losses).
   */
  conceal(): Int16Array {
    this.#check();
    const out = this.#run(concealmentPacket(this.#lastToc));
    if (out.length !== FRAME_SAMPLES) {
      throw new PlushlinkError('CODEC_ERROR', `concealment produced ${out.length} samples`, { samples: out.length });
    }
    this.stats.concealed++;
    return out;
  }

  /** Resets the decoder to a fresh state (new stream); statistics are kept. */
  async reset(): Promise<void> {
    this.#check();
    this.#isReady = false;
    this.#lastToc = undefined;
    this.ready = this.#dec.reset().then(() => {
      this.#isReady = true;
    });
    await this.ready;
  }

  /** Releases the wasm memory. Idempotent. */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    if (this.#isReady) this.#dec.free();
    else void this.#dec.ready.then(() => this.#dec.free(), () => undefined);
  }

  #check(): void {
    if (this.#freed) throw new PlushlinkError('CODEC_ERROR', 'Opus decoder has been freed');
    if (!this.#isReady) throw new PlushlinkError('CODEC_ERROR', 'Opus decoder is not ready: await decoder.ready first');
  }

  #run(packet: Uint8Array): Int16Array {
    const r = this.#dec.decodeFrame(packet);
    if (r.errors.length > 0) {
      throw new PlushlinkError('CODEC_ERROR', `Opus decode failed: ${r.errors[0]!.message}`, { length: packet.length });
    }
    return floatToInt16(r.channelData[0] ?? new Float32Array(0), r.samplesDecoded);
  }
}

/** Converts float samples in [-1, 1] to 16-bit PCM with rounding and saturation. */
export function floatToInt16(src: Float32Array, n = src.length): Int16Array {
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const v = Math.round(src[i]! * 32768);
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}

/** Result of {@link encodePcm}. */
export interface EncodedPcm {
  /** One Opus packet per 20 ms frame. */
  packets: Uint8Array[];
  /** Number of source PCM samples (16 kHz); what the decoded, trimmed stream must contain. */
  sampleCount: number;
  /** Samples (16 kHz) to drop from the start of the decoded output: the encoder lookahead. */
  preSkip: number;
}

/**
 * Encodes a whole mono 16 kHz PCM buffer into 20 ms Opus packets. The end is padded with silence
 * so that the decoded stream, after dropping `preSkip` samples, still holds all `sampleCount`
 * samples (as opusenc does). Pass `encoder` to reuse a long-lived one (it is `reset()` first and
 * not freed); otherwise a temporary encoder is created with `options` and freed.
 */
export function encodePcm(pcm: Int16Array, options: OpusEncoderOptions & { encoder?: OpusEncoder } = {}): EncodedPcm {
  if (!(pcm instanceof Int16Array)) throw new PlushlinkError('BAD_AUDIO', 'PCM must be an Int16Array');
  const own = options.encoder === undefined;
  const enc = options.encoder ?? new OpusEncoder(options);
  try {
    if (!own) enc.reset();
    const frames = Math.ceil((pcm.length + ENCODER_LOOKAHEAD_SAMPLES) / FRAME_SAMPLES);
    const packets: Uint8Array[] = [];
    const frame = new Int16Array(FRAME_SAMPLES);
    for (let f = 0; f < frames; f++) {
      const start = f * FRAME_SAMPLES;
      frame.fill(0);
      if (start < pcm.length) frame.set(pcm.subarray(start, Math.min(start + FRAME_SAMPLES, pcm.length)));
      packets.push(enc.encode(frame));
    }
    return { packets, sampleCount: pcm.length, preSkip: ENCODER_LOOKAHEAD_SAMPLES };
  } finally {
    if (own) enc.free();
  }
}

/**
 * Decodes one packet, or — when it does not decode (`CODEC_ERROR`) — conceals its 20 ms with the
 * decoder's PLC. The one place an undecodable packet turns into concealment (`ConcealingDecoder`,
 * {@link decodePackets} with `concealErrors`). Any other error is thrown.
 */
export function decodeOrConceal(decoder: OpusDecoder, packet: Uint8Array): { pcm: Int16Array; concealed: boolean } {
  try {
    return { pcm: decoder.decode(packet), concealed: false };
  } catch (e) {
    if (!(e instanceof PlushlinkError) || e.code !== 'CODEC_ERROR') throw e;
    return { pcm: decoder.conceal(), concealed: true };
  }
}

/** Options of {@link decodePackets}. */
export interface DecodePacketsOptions {
  /** Decoder to use (not freed); otherwise a temporary one is created and freed. */
  decoder?: OpusDecoder;
  /** 16 kHz samples to drop from the start (e.g. {@link ENCODER_LOOKAHEAD_SAMPLES}). Default 0. */
  preSkip?: number;
  /** Keep at most this many samples after the pre-skip (end trimming). Default: all. */
  sampleCount?: number;
  /** Conceal (instead of throwing) packets that fail to decode. Default false. */
  concealErrors?: boolean;
}

/** Decodes a sequence of Opus packets into one mono 16 kHz PCM buffer, with optional trimming. */
export async function decodePackets(packets: Iterable<Uint8Array>, options: DecodePacketsOptions = {}): Promise<Int16Array> {
  const own = options.decoder === undefined;
  const dec = options.decoder ?? new OpusDecoder();
  try {
    await dec.ready;
    const parts: Int16Array[] = [];
    let total = 0;
    for (const p of packets) {
      const pcm = options.concealErrors ? decodeOrConceal(dec, p).pcm : dec.decode(p);
      parts.push(pcm);
      total += pcm.length;
    }
    const skip = Math.min(options.preSkip ?? 0, total);
    const keep = Math.min(total - skip, options.sampleCount ?? Infinity);
    const out = new Int16Array(keep);
    let pos = 0; // position in the concatenated stream
    for (const part of parts) {
      const a = Math.max(skip - pos, 0);
      const b = Math.min(skip + keep - pos, part.length);
      if (b > a) out.set(part.subarray(a, b), pos + a - skip);
      pos += part.length;
    }
    return out;
  } finally {
    if (own) dec.free();
  }
}
