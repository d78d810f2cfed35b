/**
 * WAV (RIFF/WAVE) writer and reader. Pure: bytes in, bytes out (file helpers live in `files.ts`).
 * Written here because it is ~150 lines and the format is fixed. The writer writes PCM signed
 * 16-bit little-endian. The reader accepts what recorders and editors commonly write — integer PCM
 * of 8 (unsigned), 16, 24 or 32 bits and IEEE float of 32 or 64 bits, any channel count, any
 * rate, as `WAVE_FORMAT_PCM`, `WAVE_FORMAT_IEEE_FLOAT` or `WAVE_FORMAT_EXTENSIBLE` with one of
 * those sub-formats — and returns 16-bit samples (rounded, saturated). It skips unknown chunks
 * (LIST, fact, …) with their pad byte and rejects anything else with `BAD_WAV`.
 */
import { PlushlinkError } from '../protocol/errors.js';

/** Decoded WAV content. */
export interface WavAudio {
  sampleRate: number;
  channels: number;
  /** Interleaved 16-bit samples (`frames × channels`). */
  samples: Int16Array;
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_IEEE_FLOAT = 3;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/** Reads one sample at byte offset `o` as a 16-bit value (rounded, saturated). */
type SampleReader = (v: DataView, o: number) => number;

function sat16(x: number): number {
  const r = Math.round(x);
  return r > 32767 ? 32767 : r < -32768 ? -32768 : r;
}

/** The sample reader for a format and bit depth, or undefined when it is not supported. */
function sampleReader(format: number, bits: number): SampleReader | undefined {
  if (format === WAVE_FORMAT_PCM) {
    switch (bits) {
      case 8:
        return (v, o) => (v.getUint8(o) - 128) << 8;
      case 16:
        return (v, o) => v.getInt16(o, true);
      case 24:
        return (v, o) => sat16(((v.getUint8(o + 2) << 24) >> 8 | (v.getUint8(o + 1) << 8) | v.getUint8(o)) / 256);
      case 32:
        return (v, o) => sat16(v.getInt32(o, true) / 65536);
    }
  } else if (format === WAVE_FORMAT_IEEE_FLOAT) {
    // NaN and infinities become silence and full scale; samples beyond ±1.0 saturate
    const f = (x: number): number => (Number.isNaN(x) ? 0 : sat16(x * 32768));
    if (bits === 32) return (v, o) => f(v.getFloat32(o, true));
    if (bits === 64) return (v, o) => f(v.getFloat64(o, true));
  }
  return undefined;
}

function bad(reason: string, detail?: Record<string, unknown>): PlushlinkError {
  return new PlushlinkError('BAD_WAV', `invalid WAV: ${reason}`, detail);
}

function tag(b: Uint8Array, o: number): string {
  return String.fromCharCode(b[o]!, b[o + 1]!, b[o + 2]!, b[o + 3]!);
}

/**
 * Writes 16-bit PCM as a canonical 44-byte-header WAV file.
 * @param samples interleaved samples (`frames × channels`)
 * @throws PlushlinkError `BAD_AUDIO` for invalid parameters or a too-large buffer.
 */
export function encodeWav(samples: Int16Array, sampleRate = 16000, channels = 1): Uint8Array {
  if (!Number.isInteger(sampleRate) || sampleRate < 1 || sampleRate > 0xffffffff / 4) {
    throw new PlushlinkError('BAD_AUDIO', 'invalid sample rate', { sampleRate });
  }
  if (!Number.isInteger(channels) || channels < 1 || channels > 0xffff / 2) {
    throw new PlushlinkError('BAD_AUDIO', 'invalid channel count', { channels });
  }
  if (samples.length % channels !== 0) throw new PlushlinkError('BAD_AUDIO', 'sample count is not a multiple of the channel count');
  const dataBytes = samples.length * 2;
  if (dataBytes > 0xffffffff - 36) throw new PlushlinkError('BAD_AUDIO', 'audio too long for a WAV file');
  const out = new Uint8Array(44 + dataBytes);
  const v = new DataView(out.buffer);
  const ascii = (o: number, s: string): void => {
    for (let i = 0; i < 4; i++) out[o + i] = s.charCodeAt(i);
  };
  ascii(0, 'RIFF');
  v.setUint32(4, 36 + dataBytes, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  v.setUint32(16, 16, true);
  v.setUint16(20, WAVE_FORMAT_PCM, true);
  v.setUint16(22, channels, true);
  v.setUint32(24, sampleRate, true);
  v.setUint32(28, sampleRate * channels * 2, true);
  v.setUint16(32, channels * 2, true);
  v.setUint16(34, 16, true);
  ascii(36, 'data');
  v.setUint32(40, dataBytes, true);
  for (let i = 0; i < samples.length; i++) v.setInt16(44 + 2 * i, samples[i]!, true);
  return out;
}

/**
 * Reads a WAV file: integer PCM (8, 16, 24, 32 bits) or IEEE float (32, 64 bits), any channel
 * count and rate; the samples come back as 16-bit. A data chunk whose declared size runs past the end of the buffer is accepted only when the size
 * is the streaming placeholder 0xFFFFFFFF; then the rest of the buffer is the data.
 * @throws PlushlinkError `BAD_WAV` for anything malformed or of another sample format.
 */
export function decodeWav(bytes: Uint8Array): WavAudio {
  if (!(bytes instanceof Uint8Array)) throw bad('input must be a Uint8Array');
  if (bytes.length < 12 || tag(bytes, 0) !== 'RIFF' || tag(bytes, 8) !== 'WAVE') throw bad('not a RIFF/WAVE file');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let fmt: { channels: number; sampleRate: number; blockAlign: number; bytes: number; read: SampleReader } | undefined;
  let off = 12;
  while (off + 8 <= bytes.length) {
    const id = tag(bytes, off);
    const size = v.getUint32(off + 4, true);
    const body = off + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + size > bytes.length) throw bad('truncated fmt chunk');
      let format = v.getUint16(body, true);
      const channels = v.getUint16(body + 2, true);
      const sampleRate = v.getUint32(body + 4, true);
      const blockAlign = v.getUint16(body + 12, true);
      const bits = v.getUint16(body + 14, true);
      if (format === WAVE_FORMAT_EXTENSIBLE) {
        if (size < 40) throw bad('truncated WAVE_FORMAT_EXTENSIBLE fmt chunk');
        format = v.getUint16(body + 24, true); // first two bytes of the sub-format GUID
      }
      if (format !== WAVE_FORMAT_PCM && format !== WAVE_FORMAT_IEEE_FLOAT) throw bad('not PCM or IEEE float', { format });
      const read = sampleReader(format, bits);
      if (!read) throw bad(`${bits}-bit ${format === WAVE_FORMAT_PCM ? 'integer' : 'float'} samples are not supported (8, 16, 24, 32-bit integer; 32, 64-bit float)`, { bits });
      if (channels < 1) throw bad('zero channels');
      if (sampleRate < 1) throw bad('zero sample rate');
      const sampleBytes = bits / 8;
      if (blockAlign !== channels * sampleBytes) throw bad(`block align does not match ${bits}-bit samples`, { blockAlign, channels });
      fmt = { channels, sampleRate, blockAlign, bytes: sampleBytes, read };
    } else if (id === 'data') {
      if (!fmt) throw bad('data chunk before fmt chunk');
      let len = size;
      if (body + len > bytes.length) {
        if (size !== 0xffffffff) throw bad('data chunk runs past the end of the file', { size });
        len = bytes.length - body; // streaming writers leave the size unset
      }
      const frames = Math.floor(len / fmt.blockAlign);
      const samples = new Int16Array(frames * fmt.channels);
      for (let i = 0, o = body; i < samples.length; i++, o += fmt.bytes) samples[i] = fmt.read(v, o);
      return { sampleRate: fmt.sampleRate, channels: fmt.channels, samples };
    }
    if (body + size > bytes.length) throw bad(`chunk '${id}' runs past the end of the file`);
    off = body + size + (size & 1);
  }
  throw bad(fmt ? 'no data chunk' : 'no fmt chunk');
}
