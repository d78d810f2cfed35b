/**
 * The audio input path (src/audio/input.ts): the WAV and Ogg Opus files people have — 44.1 kHz
 * stereo, 48 kHz mono, stereo Ogg Opus from opusenc — become plushlink voice (mono, 16 kHz, 20 ms
 * Opus frames), and every malformed input is refused with a typed error before anything is sent or
 * sealed. Fixtures: fixtures/audio/input/ (scripts/make-input-fixtures.sh; sox made the 16 kHz
 * reference from the same espeak-ng voice).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  decodePackets,
  decodeWav,
  downmixToMono,
  encodeWav,
  ENCODER_LOOKAHEAD_SAMPLES,
  oggOpusToPcm,
  parseOpusPacket,
  readOggOpus,
  resampleMono,
  sniffAudio,
  toVoicePcm,
  voiceMessageAudio,
  voicePacketsFromAudio,
} from '../../../src/audio/index.js';
import { MAX_FRAME_BYTES } from '../../../src/protocol/audio-record.js';
import { isPlushlinkError, type ErrorCode } from '../../../src/protocol/errors.js';

const FIX = join(__dirname, '../../../fixtures/audio');
const read = (name: string): Uint8Array => new Uint8Array(readFileSync(join(FIX, name)));
const REF = decodeWav(read('input/sing-16k-mono.wav')).samples; // sox: the same voice at 16 kHz mono

/** Signal-to-error ratio of `a` against `gain × ref`, in dB. */
function snrDb(a: Int16Array, ref: Int16Array, gain = 1): number {
  let s = 0;
  let e = 0;
  const n = Math.min(a.length, ref.length);
  for (let i = 0; i < n; i++) {
    const r = ref[i]! * gain;
    s += r * r;
    e += (a[i]! - r) ** 2;
  }
  return 10 * Math.log10(s / e);
}

/** Normalised correlation (1 = same waveform up to a gain). */
function correlation(a: Int16Array, b: Int16Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: ErrorCode): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(isPlushlinkError(e), String(e)).toBe(true);
    expect((e as { code: string }).code, String(e)).toBe(code);
    return;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

/** A WAV file with any format tag, bit depth and raw sample bytes. */
function wavBytes(format: number, channels: number, rate: number, bits: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(44 + data.length);
  const v = new DataView(out.buffer);
  out.set(new TextEncoder().encode('RIFF'), 0);
  v.setUint32(4, 36 + data.length, true);
  out.set(new TextEncoder().encode('WAVEfmt '), 8);
  v.setUint32(16, 16, true);
  v.setUint16(20, format, true);
  v.setUint16(22, channels, true);
  v.setUint32(24, rate, true);
  v.setUint32(28, (rate * channels * bits) / 8, true);
  v.setUint16(32, (channels * bits) / 8, true);
  v.setUint16(34, bits, true);
  out.set(new TextEncoder().encode('data'), 36);
  v.setUint32(40, data.length, true);
  out.set(data, 44);
  return out;
}

describe('the fixtures are what their names say', () => {
  it('44.1 kHz stereo, 48 kHz mono, stereo Ogg Opus (opusenc), 16 kHz mono reference', () => {
    const st = decodeWav(read('input/sing-44k1-stereo.wav'));
    expect([st.sampleRate, st.channels]).toEqual([44100, 2]);
    const mono = decodeWav(read('input/sing-48k-mono.wav'));
    expect([mono.sampleRate, mono.channels]).toEqual([48000, 1]);
    const ogg = readOggOpus(read('input/sing-48k-stereo.opus'));
    expect([ogg.head.channels, ogg.head.inputSampleRate, ogg.head.mappingFamily]).toEqual([2, 44100, 0]);
    expect(REF.length / 16000).toBeGreaterThan(1.5);
  });
});

describe('WAV sample formats', () => {
  it('reads 8-bit unsigned, 24- and 32-bit integer, 32- and 64-bit float as 16-bit samples', () => {
    const v8 = decodeWav(wavBytes(1, 1, 8000, 8, Uint8Array.from([128, 255, 0, 192])));
    expect(Array.from(v8.samples)).toEqual([0, 127 << 8, -32768, 64 << 8]);

    const b24 = new Uint8Array(9);
    const put24 = (i: number, x: number): void => {
      b24[3 * i] = x & 0xff;
      b24[3 * i + 1] = (x >> 8) & 0xff;
      b24[3 * i + 2] = (x >> 16) & 0xff;
    };
    put24(0, 0x123456);
    put24(1, -0x800000);
    put24(2, -256);
    expect(Array.from(decodeWav(wavBytes(1, 1, 48000, 24, b24)).samples)).toEqual([0x1234, -32768, -1]); // 0x123456 / 256 = 0x1234.34 rounds down

    const b32 = new Uint8Array(8);
    new DataView(b32.buffer).setInt32(0, 0x7fffffff, true);
    new DataView(b32.buffer).setInt32(4, -0x10000, true);
    expect(Array.from(decodeWav(wavBytes(1, 1, 44100, 32, b32)).samples)).toEqual([32767, -1]);

    const f32 = new Float32Array([0.5, -1, 2, Number.NaN]);
    expect(Array.from(decodeWav(wavBytes(3, 2, 44100, 32, new Uint8Array(f32.buffer))).samples)).toEqual([16384, -32768, 32767, 0]);
    const f64 = new Float64Array([-0.25]);
    expect(Array.from(decodeWav(wavBytes(3, 1, 22050, 64, new Uint8Array(f64.buffer))).samples)).toEqual([-8192]);
  });

  it('refuses other sample formats with BAD_WAV', async () => {
    await expectCode(() => decodeWav(wavBytes(1, 1, 8000, 12, new Uint8Array(4))), 'BAD_WAV');
    await expectCode(() => decodeWav(wavBytes(3, 1, 8000, 16, new Uint8Array(4))), 'BAD_WAV'); // 16-bit float
    await expectCode(() => decodeWav(wavBytes(2, 1, 8000, 16, new Uint8Array(4))), 'BAD_WAV'); // ADPCM
  });
});

describe('downmix and resampling (libsamplerate)', () => {
  it('averages channels', () => {
    expect(Array.from(downmixToMono(Int16Array.from([100, 200, -3, -4, 32767, 32767]), 2))).toEqual([150, -3, 32767]);
    expect(Array.from(downmixToMono(Int16Array.from([3, 6, 9]), 3))).toEqual([6]);
  });

  it('48 kHz mono WAV → 16 kHz voice matches sox within 25 dB, same length', async () => {
    const pcm = await toVoicePcm(decodeWav(read('input/sing-48k-mono.wav')));
    expect(pcm.length).toBe(REF.length);
    expect(snrDb(pcm, REF)).toBeGreaterThan(25);
  });

  it('44.1 kHz stereo WAV → 16 kHz mono voice is the average of the channels (¾ of the voice here)', async () => {
    const pcm = await toVoicePcm(decodeWav(read('input/sing-44k1-stereo.wav')));
    expect(pcm.length).toBe(REF.length);
    expect(snrDb(pcm, REF, 0.75)).toBeGreaterThan(25);
  });

  it('removes what lies above the new Nyquist frequency (an 11 kHz tone at 48 kHz vanishes at 16 kHz)', async () => {
    const n = 48000;
    const tone = (f: number): Int16Array => Int16Array.from({ length: n }, (_, i) => Math.round(16000 * Math.sin((2 * Math.PI * f * i) / 48000)));
    const rms = (a: Int16Array): number => Math.sqrt(a.subarray(200, -200).reduce((s, x) => s + x * x, 0) / (a.length - 400));
    const pass = await resampleMono(tone(1000), 48000);
    const stop = await resampleMono(tone(11000), 48000);
    expect(pass.length).toBe(16000);
    expect(rms(pass) / (16000 / Math.SQRT2)).toBeGreaterThan(0.99);
    expect(20 * Math.log10(rms(stop) / rms(pass))).toBeLessThan(-60);
  });

  it('refuses rates outside 8–192 kHz, bad channel counts and non-PCM with BAD_AUDIO', async () => {
    await expectCode(toVoicePcm({ samples: new Int16Array(10), sampleRate: 4000, channels: 1 }), 'BAD_AUDIO');
    await expectCode(toVoicePcm({ samples: new Int16Array(10), sampleRate: 384000, channels: 1 }), 'BAD_AUDIO');
    await expectCode(toVoicePcm({ samples: new Int16Array(9), sampleRate: 44100, channels: 2 }), 'BAD_AUDIO');
    await expectCode(toVoicePcm({ samples: new Int16Array(10), sampleRate: 44100, channels: 0 }), 'BAD_AUDIO');
    await expectCode(toVoicePcm({ samples: [1, 2] as unknown as Int16Array, sampleRate: 44100, channels: 1 }), 'BAD_AUDIO');
  });
});

describe('voicePacketsFromAudio: what the speaker plays', () => {
  const checkVoice = (packets: Uint8Array[]): void => {
    for (const p of packets) {
      const info = parseOpusPacket(p);
      expect(info.samples48k).toBe(960);
      expect(info.stereo).toBe(false);
      expect(p.length).toBeLessThanOrEqual(MAX_FRAME_BYTES);
    }
  };

  it('a plushlink Ogg Opus file passes through unchanged', async () => {
    const bytes = read('toy-hello.opus');
    const v = await voicePacketsFromAudio(bytes);
    expect(v.passedThrough).toBe(true);
    expect(v.packets).toEqual(readOggOpus(bytes).packets);
  });

  it('a stereo 44.1 kHz Ogg Opus file from opusenc is decoded and encoded again as mono voice', async () => {
    const v = await voicePacketsFromAudio(read('input/sing-48k-stereo.opus'));
    expect(v).toMatchObject({ container: 'ogg-opus', sourceRate: 44100, sourceChannels: 2, passedThrough: false, sampleCount: REF.length });
    checkVoice(v.packets);
    const pcm = await decodePackets(v.packets, { preSkip: ENCODER_LOOKAHEAD_SAMPLES, sampleCount: v.sampleCount });
    expect(correlation(pcm, REF)).toBeGreaterThan(0.8);
  });

  it.each(['input/sing-44k1-stereo.wav', 'input/sing-48k-mono.wav', 'toy-hello.wav'])('%s becomes 20 ms mono voice frames', async (name) => {
    const v = await voicePacketsFromAudio(read(name));
    expect(v.container).toBe('wav');
    checkVoice(v.packets);
    if (name.startsWith('input/')) {
      const pcm = await decodePackets(v.packets, { preSkip: ENCODER_LOOKAHEAD_SAMPLES, sampleCount: v.sampleCount });
      expect(pcm.length).toBe(REF.length);
      expect(correlation(pcm, REF)).toBeGreaterThan(0.8);
    }
  });

  it('refuses what is not a whole, valid file with a typed error', async () => {
    const ogg = read('toy-hello.opus');
    const flipped = ogg.slice();
    flipped[flipped.length - 10]! ^= 0x40; // page CRC no longer matches
    await expectCode(voicePacketsFromAudio(flipped), 'BAD_OGG');
    await expectCode(voicePacketsFromAudio(ogg.subarray(0, 100)), 'BAD_OGG');
    const wav = read('input/sing-48k-mono.wav');
    await expectCode(voicePacketsFromAudio(wav.subarray(0, 30)), 'BAD_WAV');
    await expectCode(voicePacketsFromAudio(encodeWav(new Int16Array(0), 48000, 1)), 'BAD_AUDIO'); // no samples
    await expectCode(voicePacketsFromAudio(encodeWav(new Int16Array(100), 4000, 1)), 'BAD_AUDIO'); // rate
    await expectCode(voicePacketsFromAudio(new TextEncoder().encode('ID3\x04 an mp3')), 'BAD_AUDIO');
    await expectCode(voicePacketsFromAudio(new Uint8Array(0)), 'BAD_AUDIO');
    expect(() => sniffAudio('RIFF' as unknown as Uint8Array)).toThrow(/Uint8Array/);
  });
});

describe('voiceMessageAudio: what a voice message seals', () => {
  it('Ogg Opus is checked and sealed unchanged; WAV becomes 16 kHz mono Ogg Opus', async () => {
    const ogg = read('input/sing-48k-stereo.opus');
    expect(await voiceMessageAudio(ogg)).toBe(ogg);
    const made = await voiceMessageAudio(read('input/sing-44k1-stereo.wav'));
    const file = readOggOpus(made);
    expect(file.head.channels).toBe(1);
    expect(file.complete).toBe(true);
    const pcm = await oggOpusToPcm(file);
    expect(pcm.length).toBe(REF.length);
    expect(correlation(pcm, REF)).toBeGreaterThan(0.8);
  });

  it('a corrupt Ogg Opus file is refused before sealing', async () => {
    const ogg = read('toy-hello.opus');
    await expectCode(voiceMessageAudio(ogg.subarray(0, ogg.length - 7)), 'BAD_OGG');
    await expectCode(voiceMessageAudio(new TextEncoder().encode('OggS pretend opus')), 'BAD_OGG');
  });
});
