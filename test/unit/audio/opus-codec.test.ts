import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  ENCODER_LOOKAHEAD_SAMPLES,
  FRAME_SAMPLES,
  OpusDecoder,
  OpusEncoder,
  concealmentPacket,
  decodePackets,
  decodeWav,
  encodePcm,
  parseOpusPacket,
} from '../../../src/audio/index.js';
import { isPlushlinkError } from '../../../src/protocol/errors.js';

const speech = decodeWav(new Uint8Array(readFileSync('fixtures/audio/toy-hello.wav'))).samples;

/** Normalised cross-correlation of a and b[lag..], best over lags in [-maxLag, maxLag]. */
function bestCorrelation(a: Int16Array, b: Int16Array, maxLag: number): { corr: number; lag: number } {
  let best = { corr: -Infinity, lag: 0 };
  for (let lag = -maxLag; lag <= maxLag; lag++) {
    let s = 0;
    let ea = 0;
    let eb = 0;
    for (let i = maxLag; i < a.length - maxLag; i++) {
      const x = a[i]!;
      const y = b[i + lag] ?? 0;
      s += x * y;
      ea += x * x;
      eb += y * y;
    }
    const c = s / Math.sqrt(ea * eb);
    if (c > best.corr) best = { corr: c, lag };
  }
  return best;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isPlushlinkError(e) ? e.code : `non-plushlink: ${String(e)}`;
  }
  return undefined;
}

describe('Opus codec', () => {
  let enc: OpusEncoder;
  let dec: OpusDecoder;
  beforeAll(async () => {
    enc = new OpusEncoder({ bitrate: 16000 });
    dec = await OpusDecoder.create();
  });
  afterAll(() => {
    enc.free();
    dec.free();
  });

  it('encodes 20 ms mono frames to SILK wide-band packets of 20 ms', () => {
    enc.reset();
    const p = enc.encode(speech.subarray(16000, 16000 + FRAME_SAMPLES));
    const info = parseOpusPacket(p);
    expect(info.samples48k).toBe(960);
    expect(info.stereo).toBe(false);
    expect(p.length).toBeGreaterThan(5);
    expect(p.length).toBeLessThan(200);
  });

  it('encode → decode of fixture speech correlates with the source once aligned for the codec delay', async () => {
    for (const bitrate of [12000, 16000, 32000]) {
      const { packets, sampleCount, preSkip } = encodePcm(speech, { bitrate });
      expect(preSkip).toBe(ENCODER_LOOKAHEAD_SAMPLES);
      // enough frames to hold every sample after the lookahead
      expect(packets.length * FRAME_SAMPLES - preSkip).toBeGreaterThanOrEqual(sampleCount);
      const out = await decodePackets(packets, { decoder: dec, preSkip, sampleCount });
      await dec.reset();
      expect(out.length).toBe(speech.length);
      const { corr, lag } = bestCorrelation(speech, out, 40);
      expect(Math.abs(lag)).toBeLessThanOrEqual(2); // the pre-skip aligns the stream
      expect(corr).toBeGreaterThan(0.8);
      // and a wrong alignment is clearly worse (the check can fail)
      const shifted = bestCorrelation(speech, out.subarray(ENCODER_LOOKAHEAD_SAMPLES), 0);
      expect(shifted.corr).toBeLessThan(corr - 0.2);
    }
  });

  it('higher bitrate gives larger packets', () => {
    const lo = encodePcm(speech, { bitrate: 12000 }).packets.reduce((a, p) => a + p.length, 0);
    const hi = encodePcm(speech, { bitrate: 32000 }).packets.reduce((a, p) => a + p.length, 0);
    expect(hi).toBeGreaterThan(lo * 1.5);
  });

  it('is deterministic: a reset long-lived encoder equals a fresh one; setBitrate changes output', () => {
    const a = encodePcm(speech.subarray(0, 16000), { encoder: enc });
    const b = encodePcm(speech.subarray(0, 16000), { bitrate: 16000 });
    expect(a.packets.map((p) => Buffer.from(p).toString('hex'))).toEqual(b.packets.map((p) => Buffer.from(p).toString('hex')));
    enc.setBitrate(24000);
    expect(enc.bitrate).toBe(24000);
    const c = encodePcm(speech.subarray(0, 16000), { encoder: enc });
    enc.setBitrate(16000);
    expect(c.packets.map((p) => Buffer.from(p).toString('hex'))).not.toEqual(a.packets.map((p) => Buffer.from(p).toString('hex')));
  });

  it('survives wasm memory growth from many live encoders (opusscript detaches its own views)', () => {
    enc.reset();
    const frame = speech.subarray(20000, 20000 + FRAME_SAMPLES);
    const before = enc.encode(frame);
    const many = Array.from({ length: 200 }, () => new OpusEncoder());
    try {
      enc.reset();
      expect(Buffer.from(enc.encode(frame)).toString('hex')).toBe(Buffer.from(before).toString('hex'));
      expect(many[199]!.encode(frame).length).toBe(before.length);
    } finally {
      for (const m of many) m.free();
    }
  });

  it('validates bitrate, complexity and frame length', () => {
    expect(codeOf(() => new OpusEncoder({ bitrate: 11999 }))).toBe('BAD_AUDIO');
    expect(codeOf(() => new OpusEncoder({ bitrate: 32001 }))).toBe('BAD_AUDIO');
    expect(codeOf(() => new OpusEncoder({ bitrate: 16000.5 }))).toBe('BAD_AUDIO');
    expect(codeOf(() => new OpusEncoder({ complexity: 11 }))).toBe('BAD_AUDIO');
    expect(codeOf(() => enc.setBitrate(64000))).toBe('BAD_AUDIO');
    expect(enc.bitrate).toBe(16000);
    expect(codeOf(() => enc.encode(new Int16Array(319)))).toBe('BAD_AUDIO');
    const e = new OpusEncoder({ bitrate: 12000 });
    e.free();
    e.free();
    expect(e.freed).toBe(true);
    expect(codeOf(() => e.encode(new Int16Array(320)))).toBe('CODEC_ERROR');
  });

  it('conceals a lost frame with exactly 320 samples that continue the signal', async () => {
    await dec.reset();
    const { packets } = encodePcm(speech, { bitrate: 16000 });
    // decode up to a voiced region, then conceal one frame
    let last: Int16Array = new Int16Array(0);
    for (let i = 0; i < 60; i++) last = dec.decode(packets[i]!);
    const plc = dec.conceal();
    expect(plc.length).toBe(320);
    const energy = (x: Int16Array): number => x.reduce((a, v) => a + v * v, 0) / x.length;
    expect(energy(last)).toBeGreaterThan(0);
    expect(energy(plc)).toBeGreaterThan(0); // PLC extrapolates, not silence
    // concealment before any packet is silence of the right length
    const fresh = await OpusDecoder.create();
    try {
      const first = fresh.conceal();
      expect(first.length).toBe(320);
      expect(fresh.stats.concealed).toBe(1);
    } finally {
      fresh.free();
    }
  });

  it('builds 20 ms concealment TOCs for every mode', () => {
    for (let toc = 0; toc < 256; toc++) {
      const p = concealmentPacket(toc);
      expect(p.length).toBe(1);
      const info = parseOpusPacket(p);
      expect(info.samples48k).toBe(960);
      expect(info.stereo).toBe((toc & 4) !== 0);
      expect(info.mode).toBe(parseOpusPacket(Uint8Array.of(toc & 0xfc)).mode);
    }
  });

  it('rejects packets with invalid framing as CODEC_ERROR without touching the decoder', () => {
    expect(codeOf(() => dec.decode(new Uint8Array(0)))).toBe('CODEC_ERROR');
    expect(codeOf(() => dec.decode(Uint8Array.of(0x49, 1, 2, 3)))).toBe('CODEC_ERROR'); // code 1, odd payload
    expect(codeOf(() => dec.decode(Uint8Array.of(0x4a, 200, 1)))).toBe('CODEC_ERROR'); // code 2 overrun
    expect(codeOf(() => dec.decode(Uint8Array.of(0x4b, 0)))).toBe('CODEC_ERROR'); // code 3, 0 frames
    expect(codeOf(() => dec.decode(Uint8Array.of(0x4b, 7)))).toBe('CODEC_ERROR'); // 7×20 ms > 120 ms
    expect(codeOf(() => dec.decode(new Uint8Array(1300).fill(0x48)))).toBe('CODEC_ERROR'); // frame > 1275
    expect(codeOf(() => dec.decode(new Uint8Array(4000)))).toBe('CODEC_ERROR');
    // code 3 CBR with 3 frames and padding parses
    const p = Uint8Array.of(0x4b, 0x43, 2, 9, 9, 9, 9, 9, 9, 0, 0);
    expect(parseOpusPacket(p).frameCount).toBe(3);
    expect(parseOpusPacket(p).samples48k).toBe(2880);
  });

  it('decodePackets trims pre-skip and end, and can conceal undecodable packets', async () => {
    const { packets, sampleCount, preSkip } = encodePcm(speech.subarray(0, 8000));
    const full = await decodePackets(packets);
    expect(full.length).toBe(packets.length * 320);
    const trimmed = await decodePackets(packets, { preSkip, sampleCount });
    expect(trimmed.length).toBe(8000);
    expect(Array.from(trimmed.subarray(0, 50))).toEqual(Array.from(full.subarray(preSkip, preSkip + 50)));
    const bad = [...packets];
    bad[3] = new Uint8Array(0);
    await expect(decodePackets(bad)).rejects.toMatchObject({ code: 'CODEC_ERROR' });
    expect((await decodePackets(bad, { concealErrors: true })).length).toBe(packets.length * 320);
  });

  it('decodes random bytes with valid framing without throwing garbage errors', async () => {
    const d = await OpusDecoder.create();
    try {
      let x = 12345;
      for (let i = 0; i < 300; i++) {
        const len = 1 + (i % 80);
        const p = new Uint8Array(len);
        for (let j = 0; j < len; j++) {
          x = (x * 1103515245 + 12345) >>> 0;
          p[j] = x >>> 24;
        }
        const code = codeOf(() => d.decode(p));
        expect([undefined, 'CODEC_ERROR']).toContain(code);
      }
    } finally {
      d.free();
    }
  });
});

describe('OpusEncoder: constant bitrate by default (record lengths must not show speech)', () => {
  it('every packet of speech and silence has the same size, bitrate × 20 ms / 8; vbr: true varies', () => {
    const wav = decodeWav(new Uint8Array(readFileSync('fixtures/audio/child-question.wav'))).samples;
    const pcm = new Int16Array(wav.length + 16000); // the clip, then a second of silence
    pcm.set(wav);
    for (const bitrate of [12000, 16000, 24000, 32000]) {
      const cbr = encodePcm(pcm, { bitrate }).packets.map((p) => p.length);
      expect(new Set(cbr), `${bitrate}`).toEqual(new Set([(bitrate * 0.02) / 8]));
    }
    const vbr = encodePcm(pcm, { bitrate: 16000, vbr: true }).packets.map((p) => p.length);
    expect(new Set(vbr).size).toBeGreaterThan(10);
    expect(Math.min(...vbr)).toBeLessThan(20); // silence
  });
});
