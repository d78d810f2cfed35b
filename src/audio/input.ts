/**
 * The audio input path: whatever WAV or Ogg Opus file people have, turned into plushlink voice
 * (mono, 16 kHz, 20 ms Opus frames) for the toy's speaker and for sealed voice messages, and
 * validated completely before anything is sent or sealed. No `node:` import: the web app uses the
 * same path in the browser (file helpers live in `files.ts`).
 *
 * - The container is recognised by its first bytes (`RIFF…WAVE`, `OggS`), never by the file name.
 * - WAV: any rate from 8 to 192 kHz, any channel count, the sample formats of `decodeWav`. Channels
 *   are averaged to mono, then the rate is converted to 16 kHz by libsamplerate (the
 *   `@alexanderolsen/libsamplerate-js` WebAssembly build, sinc "medium quality": 121 dB
 *   stop-band, 90 % pass-band; docs/HARDWARE.md "Audio input" says why this library). libopus
 *   itself accepts 8/12/16/24/48 kHz but not 44.1 kHz, so a resampler is needed anyway; every rate
 *   goes through the same path so that the encoder, pre-skip and trimming never differ.
 * - Ogg Opus: any input rate (Opus always codes at 48 kHz internally; the header's rate is only
 *   informational) and mono or stereo (channel mapping family 0). A stream the toy can take as
 *   it is (mono, 20 ms packets of at most {@link MAX_FRAME_BYTES} bytes) is passed through
 *   unchanged; any other is decoded (libopus downmixes stereo) and encoded again as voice.
 *   Surround streams (mapping families 1 and 255) are refused with `UNSUPPORTED`.
 *
 * Errors: `BAD_AUDIO` (not WAV or Ogg Opus, empty, out-of-range rate), `BAD_WAV`, `BAD_OGG`,
 * `CODEC_ERROR` (a packet that does not decode), `UNSUPPORTED`.
 */
import { PlushlinkError } from '../protocol/errors.js';
import { MAX_FRAME_BYTES } from '../protocol/audio-record.js';
import { decodeWav, type WavAudio } from './wav.js';
import { readOggOpus, writeOggOpus, type OggOpusFile } from './ogg-opus.js';
import { parseOpusPacket } from './opus-packet.js';
import { decodePackets, encodePcm, OPUS_PRE_SKIP_48K, SAMPLE_RATE, type OpusEncoderOptions } from './opus-codec.js';

/** Lowest and highest input sample rate accepted (Hz). */
export const MIN_INPUT_RATE = 8000;
export const MAX_INPUT_RATE = 192000;

/** Containers the input path recognises. */
export type AudioContainer = 'wav' | 'ogg-opus';

/** Interleaved 16-bit PCM at any rate and channel count (what `decodeWav` returns). */
export type PcmAudio = WavAudio;

/** Voice options for encoding (bitrate, VBR) when the input must be (re-)encoded. */
export type VoiceEncodeOptions = Pick<OpusEncoderOptions, 'bitrate' | 'vbr' | 'complexity'>;

/** What the input path made of a file. */
export interface VoiceInput {
  container: AudioContainer;
  /** The source's own rate and channel count (for Ogg Opus: the header's informational rate). */
  sourceRate: number;
  sourceChannels: number;
  /** 20 ms mono Opus packets, each ≤ {@link MAX_FRAME_BYTES} bytes, ready for the speaker. */
  packets: Uint8Array[];
  /** 16 kHz samples the packets hold once the pre-skip is dropped (the playable length). */
  sampleCount: number;
  /** True when an Ogg Opus stream's packets were passed through unchanged. */
  passedThrough: boolean;
}

function badAudio(message: string, detail?: Record<string, unknown>): PlushlinkError {
  return new PlushlinkError('BAD_AUDIO', message, detail);
}

function startsWithAscii(b: Uint8Array, offset: number, s: string): boolean {
  if (b.length < offset + s.length) return false;
  for (let i = 0; i < s.length; i++) if (b[offset + i] !== s.charCodeAt(i)) return false;
  return true;
}

/**
 * Recognises the container from the first bytes.
 * @throws PlushlinkError `BAD_AUDIO` when the bytes are neither WAV nor Ogg.
 */
export function sniffAudio(bytes: Uint8Array): AudioContainer {
  if (!(bytes instanceof Uint8Array)) throw badAudio('audio must be a Uint8Array');
  if (bytes.length === 0) throw badAudio('the audio file is empty');
  if (startsWithAscii(bytes, 0, 'RIFF') && startsWithAscii(bytes, 8, 'WAVE')) return 'wav';
  if (startsWithAscii(bytes, 0, 'OggS')) return 'ogg-opus';
  throw badAudio('not a WAV or Ogg Opus file (the first bytes are neither RIFF/WAVE nor OggS)');
}

// ---------------------------------------------------------------------------------------------
// Resampling (libsamplerate, loaded on first use: its module embeds ~2 MB of WebAssembly)

interface LibSampleRate {
  create(channels: number, inRate: number, outRate: number, options: { converterType: 0 | 1 | 2 | 3 | 4 }): Promise<{ simple(data: Float32Array): Float32Array; destroy(): void }>;
  ConverterType: { SRC_SINC_MEDIUM_QUALITY: 0 | 1 | 2 | 3 | 4 };
}

let libsamplerate: Promise<LibSampleRate> | undefined;
function loadLibSampleRate(): Promise<LibSampleRate> {
  libsamplerate ??= import('@alexanderolsen/libsamplerate-js').then((m) => {
    // a UMD bundle: Node's ESM loader and bundlers expose its exports as the default export
    const mod = ((m as { default?: unknown }).default ?? m) as LibSampleRate;
    if (typeof mod.create !== 'function') throw new Error('unexpected module shape');
    return mod;
  });
  return libsamplerate.catch((e: unknown) => {
    libsamplerate = undefined;
    throw new PlushlinkError('CODEC_ERROR', 'cannot load the resampler (@alexanderolsen/libsamplerate-js)', undefined, { cause: e });
  });
}

/** Averages interleaved channels to mono (no-op copy-free for mono). */
export function downmixToMono(samples: Int16Array, channels: number): Int16Array {
  if (!Number.isInteger(channels) || channels < 1) throw badAudio('invalid channel count', { channels });
  if (samples.length % channels !== 0) throw badAudio('sample count is not a multiple of the channel count', { channels });
  if (channels === 1) return samples;
  const frames = samples.length / channels;
  const out = new Int16Array(frames);
  for (let f = 0, i = 0; f < frames; f++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += samples[i++]!;
    out[f] = Math.round(sum / channels);
  }
  return out;
}

/**
 * Converts mono 16-bit PCM from `fromRate` to `toRate` (default 16 kHz) with libsamplerate.
 * Returns the input itself when the rates are equal.
 * @throws PlushlinkError `BAD_AUDIO` for a rate outside {@link MIN_INPUT_RATE}..{@link MAX_INPUT_RATE}.
 */
export async function resampleMono(samples: Int16Array, fromRate: number, toRate: number = SAMPLE_RATE): Promise<Int16Array> {
  if (!(samples instanceof Int16Array)) throw badAudio('PCM must be an Int16Array');
  for (const [name, rate] of [['input', fromRate], ['output', toRate]] as const) {
    if (!Number.isInteger(rate) || rate < MIN_INPUT_RATE || rate > MAX_INPUT_RATE) {
      throw badAudio(`${name} sample rate ${rate} Hz is outside ${MIN_INPUT_RATE}..${MAX_INPUT_RATE} Hz`, { sampleRate: rate });
    }
  }
  if (fromRate === toRate || samples.length === 0) return samples;
  const lib = await loadLibSampleRate();
  const f = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) f[i] = samples[i]! / 32768;
  const src = await lib.create(1, fromRate, toRate, { converterType: lib.ConverterType.SRC_SINC_MEDIUM_QUALITY });
  let out: Float32Array;
  try {
    out = src.simple(f);
  } finally {
    src.destroy();
  }
  const pcm = new Int16Array(out.length);
  for (let i = 0; i < out.length; i++) {
    const v = Math.round(out[i]! * 32768);
    pcm[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return pcm;
}

/**
 * Any-rate, any-channel-count PCM → plushlink voice PCM (mono, 16 kHz): channels averaged, then
 * resampled. Use it before `speaker.play({ pcm })`, which takes 16 kHz mono.
 */
export async function toVoicePcm(audio: PcmAudio): Promise<Int16Array> {
  if (audio === null || typeof audio !== 'object') throw badAudio('audio must be { samples, sampleRate, channels }');
  if (!Number.isInteger(audio.sampleRate) || audio.sampleRate < MIN_INPUT_RATE || audio.sampleRate > MAX_INPUT_RATE) {
    throw badAudio(`sample rate ${audio.sampleRate} Hz is outside ${MIN_INPUT_RATE}..${MAX_INPUT_RATE} Hz`, { sampleRate: audio.sampleRate });
  }
  if (!(audio.samples instanceof Int16Array)) throw badAudio('PCM must be an Int16Array');
  return resampleMono(downmixToMono(audio.samples, audio.channels), audio.sampleRate);
}

// ---------------------------------------------------------------------------------------------
// Ogg Opus

/** True when the toy can take the stream's packets as they are. */
function speakerReady(file: OggOpusFile): boolean {
  if (file.head.channels !== 1 || file.packets.length === 0) return false;
  for (const p of file.packets) {
    if (p.length < 1 || p.length > MAX_FRAME_BYTES) return false;
    const info = parseOpusPacket(p);
    if (info.samples48k !== 960 || info.stereo) return false;
  }
  return true;
}

function checkFamily(file: OggOpusFile): void {
  if (file.head.mappingFamily !== 0) {
    throw new PlushlinkError('UNSUPPORTED', `surround Ogg Opus (channel mapping family ${file.head.mappingFamily}, ${file.head.channels} channels) is not supported: use a mono or stereo file`, {
      mappingFamily: file.head.mappingFamily,
      channels: file.head.channels,
    });
  }
}

/** Decodes a whole Ogg Opus stream to 16 kHz mono PCM, trimmed as its header says. */
async function oggToVoicePcm(file: OggOpusFile): Promise<Int16Array> {
  checkFamily(file);
  return decodePackets(file.packets, { preSkip: Math.round(file.head.preSkip / 3), sampleCount: Math.round(file.sampleCount48k / 3) });
}

function nonEmpty(samples: number): void {
  if (samples === 0) throw badAudio('the audio file holds no samples');
}

// ---------------------------------------------------------------------------------------------
// Public entry points

/**
 * Decodes a WAV or Ogg Opus file (bytes) to plushlink voice PCM: mono, 16 kHz.
 * Every Ogg packet is decoded, so a corrupt stream fails here.
 */
export async function decodeAudioToVoicePcm(bytes: Uint8Array): Promise<{ container: AudioContainer; sourceRate: number; sourceChannels: number; pcm: Int16Array }> {
  const container = sniffAudio(bytes);
  if (container === 'wav') {
    const wav = decodeWav(bytes);
    const pcm = await toVoicePcm(wav);
    nonEmpty(pcm.length);
    return { container, sourceRate: wav.sampleRate, sourceChannels: wav.channels, pcm };
  }
  const file = readOggOpus(bytes);
  const pcm = await oggToVoicePcm(file);
  nonEmpty(pcm.length);
  return { container, sourceRate: file.head.inputSampleRate, sourceChannels: file.head.channels, pcm };
}

/**
 * A WAV or Ogg Opus file (bytes) → the 20 ms mono Opus packets the toy's speaker plays. An Ogg
 * Opus stream the toy can take as it is passes through unchanged (its framing checked packet by
 * packet); anything else is decoded, downmixed, resampled and encoded as voice (`options`).
 * Everything is validated before the first packet is returned.
 */
export async function voicePacketsFromAudio(bytes: Uint8Array, options: VoiceEncodeOptions = {}): Promise<VoiceInput> {
  const container = sniffAudio(bytes);
  if (container === 'ogg-opus') {
    const file = readOggOpus(bytes);
    checkFamily(file);
    if (speakerReady(file)) {
      return {
        container,
        sourceRate: file.head.inputSampleRate,
        sourceChannels: 1,
        packets: file.packets,
        sampleCount: Math.round(file.sampleCount48k / 3),
        passedThrough: true,
      };
    }
  }
  const decoded = await decodeAudioToVoicePcm(bytes);
  const { packets, sampleCount } = encodePcm(decoded.pcm, options);
  return { container, sourceRate: decoded.sourceRate, sourceChannels: decoded.sourceChannels, packets, sampleCount, passedThrough: false };
}

/**
 * A WAV or Ogg Opus file (bytes) → the Ogg Opus bytes to seal in a voice message
 * (docs/MESSAGES.md). An Ogg Opus file is checked completely (pages, CRCs, every packet decoded)
 * and returned unchanged; a WAV file is encoded as voice (mono, 16 kHz, `options`).
 */
export async function voiceMessageAudio(bytes: Uint8Array, options: VoiceEncodeOptions & { comments?: string[] } = {}): Promise<Uint8Array> {
  const container = sniffAudio(bytes);
  if (container === 'ogg-opus') {
    await decodeAudioToVoicePcm(bytes); // throws on anything malformed or undecodable
    return bytes;
  }
  const { pcm } = await decodeAudioToVoicePcm(bytes);
  const { packets, sampleCount } = encodePcm(pcm, options);
  return writeOggOpus(packets, { preSkip: OPUS_PRE_SKIP_48K, channels: 1, sampleCount, ...(options.comments ? { comments: options.comments } : {}) });
}
