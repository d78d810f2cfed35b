import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { readOggOpus } from '../../src/audio/ogg-opus.js';
import { decodeWav } from '../../src/audio/wav.js';
import { concatPcm } from '../../src/audio/convert.js';
import { decodePackets, encodePcm } from '../../src/audio/opus-codec.js';
import { makeRig, type Rig } from '../helpers/rig.js';
import { PROJECT_ROOT } from '../helpers/shared.js';
import { join } from 'node:path';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const clip = readOggOpus(new Uint8Array(readFileSync(join(PROJECT_ROOT, 'fixtures/audio/toy-hello.opus'))));

describe('voice over the in-memory radio', () => {
  it('speaker: plays a clip with no overrun and no underrun after start-up', async () => {
    rig = await makeRig();
    const played: Uint8Array[] = [];
    rig.toy.on('play', (f) => played.push(...f));
    const app = await rig.newCompanion();
    rig.toy.pressButton('hold');
    const s = await app.pair(rig.toyId, rig.qr);
    const res = await s.speaker.play({ packets: clip.packets });
    expect(res.framesSent).toBe(clip.packets.length);
    expect(res.framesPlayed).toBe(clip.packets.length);
    expect(res.overruns).toBe(0);
    expect(res.underruns).toBe(0);
    expect(played.map((p) => Buffer.from(p).toString('hex'))).toEqual(clip.packets.map((p) => Buffer.from(p).toString('hex')));
    await s.close();
  });

  it('speaker: a source that stalls does not hold a started batch beyond the latency budget, and abort ends a wait for a stalled source', async () => {
    rig = await makeRig();
    const played: Uint8Array[] = [];
    rig.toy.on('play', (f) => played.push(...f));
    const app = await rig.newCompanion();
    rig.toy.pressButton('hold');
    const s = await app.pair(rig.toyId, rig.qr);
    const frames = clip.packets.slice(0, 4);
    let resumedAt = 0;
    const sentAt: number[] = [];
    const origSend = s.sendAudio.bind(s);
    s.sendAudio = async (batch) => {
      sentAt.push(performance.now());
      return origSend(batch);
    };
    async function* stalling(): AsyncGenerator<Uint8Array> {
      yield frames[0]!;
      yield frames[1]!;
      await new Promise((r) => setTimeout(r, 400)); // the live source falls silent
      resumedAt = performance.now();
      yield frames[2]!;
      yield frames[3]!;
    }
    const res = await s.speaker.play({ packets: stalling() }); // default budget 60 ms: up to 4 frames per record
    expect(res.records).toBe(2); // frames 1–2 went out alone, before the source came back
    expect(sentAt[0]!).toBeLessThan(resumedAt);
    expect(res.framesPlayed).toBe(4);
    expect(played.map((p) => Buffer.from(p).toString('hex'))).toEqual(frames.map((p) => Buffer.from(p).toString('hex')));

    async function* silent(): AsyncGenerator<Uint8Array> {
      yield frames[0]!;
      await new Promise(() => undefined); // never answers again
    }
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 300);
    await expect(s.speaker.play({ packets: silent() }, { signal: ctl.signal })).rejects.toMatchObject({ code: 'ABORTED' });
    await s.close();
  });

  it('speaker at MTU 23 with the largest frames (255 bytes): records stay within the 1024-byte message limit', async () => {
    rig = await makeRig({ toyMtu: 23 });
    const played: Uint8Array[] = [];
    rig.toy.on('play', (f) => played.push(...f));
    const app = await rig.newCompanion('big frames', 23);
    rig.toy.pressButton('hold');
    const s = await app.pair(rig.toyId, rig.qr);
    // 20 ms Opus packets (the TOC of a real one) padded to the largest frame the protocol carries
    const big = Array.from({ length: 12 }, (_, i) => {
      const f = new Uint8Array(255).fill(i + 1);
      f[0] = clip.packets[0]![0]! & 0xfc; // code 0: one frame
      return f;
    });
    const res = await s.speaker.play({ packets: big }); // default budget: 4 frames would make a 1044-byte record
    expect(res.framesPlayed).toBe(12);
    expect(res.records).toBe(4); // 3 frames per record: 4 + 16 + 3 + 765 = 788 bytes
    expect(played.map((p) => Buffer.from(p).toString('hex'))).toEqual(big.map((p) => Buffer.from(p).toString('hex')));
    await s.close();
  });
});

/** Normalised cross-correlation of b against a at the best lag in [0, maxLag]. */
function bestCorrelation(a: Int16Array, b: Int16Array, maxLag: number): { r: number; lag: number } {
  let best = { r: -1, lag: 0 };
  for (let lag = 0; lag <= maxLag; lag += 1) {
    const n = Math.min(a.length, b.length - lag);
    let sab = 0;
    let saa = 0;
    let sbb = 0;
    for (let i = 0; i < n; i++) {
      const x = a[i]!;
      const y = b[i + lag]!;
      sab += x * y;
      saa += x * x;
      sbb += y * y;
    }
    const r = sab / Math.sqrt(saa * sbb || 1);
    if (r > best.r) best = { r, lag };
  }
  return best;
}

describe('microphone with frames at the limits', () => {
  const toc = clip.packets[0]![0]! & 0xfc; // a real 20 ms TOC, code 0 (one frame)
  const bigFrame = (i: number): Uint8Array => {
    const f = new Uint8Array(255).fill(i + 1);
    f[0] = toc;
    return f;
  };

  it('MTU 23, 255-byte frames: the toy keeps records within the 1024-byte message limit and every frame arrives', async () => {
    const big = Array.from({ length: 10 }, (_, i) => bigFrame(i));
    // 3 frames per record = 788 bytes = 41 notifications at MTU 23: a queue that holds a record
    rig = await makeRig({ toyMtu: 23, radio: { notificationQueueSize: 128 }, toy: { microphone: () => big } });
    const errors: Error[] = [];
    rig.toy.on('error', (e) => errors.push(e));
    const app = await rig.newCompanion('listener', 23);
    rig.toy.pressButton('hold');
    const s = await app.pair(rig.toyId, rig.qr);
    const mic = await s.microphone.start();
    const got: Uint8Array[] = [];
    for await (const p of mic.packets()) got.push(p);
    expect(errors).toEqual([]);
    expect(got.map((p) => Buffer.from(p).toString('hex'))).toEqual(big.map((p) => Buffer.from(p).toString('hex')));
    await s.close();
  });

  it('a microphone source that yields a frame the protocol cannot carry ends the stream with an error event, not a crash', async () => {
    const frames = [bigFrame(0), bigFrame(1), new Uint8Array(300).fill(7), bigFrame(3)];
    rig = await makeRig({ toy: { microphone: () => frames } });
    const errors: Error[] = [];
    rig.toy.on('error', (e) => errors.push(e));
    const app = await rig.newCompanion('listener');
    rig.toy.pressButton('hold');
    const s = await app.pair(rig.toyId, rig.qr);
    const mic = await s.microphone.start();
    const got: Uint8Array[] = [];
    for await (const p of mic.packets()) got.push(p); // ends: the toy reports the stream's end
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual(['BAD_AUDIO']);
    expect(got.length).toBe(2); // the two good frames before it, flushed at the end
    expect(s.open).toBe(true);
    await s.close();
  });
});

describe('microphone round trip: speech → Opus → records over the radio with 2% notification loss → jitter buffer → PCM', () => {
  const wav = decodeWav(new Uint8Array(readFileSync(join(PROJECT_ROOT, 'fixtures/audio/toy-hello.wav'))));
  const encoded = encodePcm(wav.samples, { bitrate: 16000 }); // fixture speech → encode
  const clip = { packets: encoded.packets };
  for (const mtu of [23, 247]) {
    it(`accounts for every frame and correlates with the source at MTU ${mtu}`, async () => {
      rig = await makeRig({ toyMtu: mtu, radio: { seed: 7, faults: { notificationDropRate: 0.02 } }, toy: { microphone: () => clip.packets } });
      const app = await rig.newCompanion('listener', mtu);
      rig.toy.pressButton('hold');
      const s = await app.pair(rig.toyId, rig.qr);
      expect(s.mtu).toBe(mtu);
      const mic = await s.microphone.start();
      const frames: { lost: boolean; packet?: Uint8Array }[] = [];
      const pcmParts: Int16Array[] = [];
      const pcmDone = (async () => {
        for await (const p of mic.pcm()) pcmParts.push(p);
      })();
      mic.on('frame', (f) => frames.push({ lost: f.lost, packet: f.packet }));
      await pcmDone; // ends when the toy's clip ends (mic-status) — every frame accounted
      expect(frames.length).toBe(clip.packets.length);
      const received = frames.filter((f) => !f.lost).length;
      const lost = frames.length - received;
      expect(received + lost).toBe(clip.packets.length);
      if (mtu === 23) expect(lost).toBeGreaterThan(0); // loss really happened (fragments dropped)
      expect(lost / frames.length).toBeLessThan(0.25);
      // frames that arrived are byte-identical to what the toy sent, in order
      frames.forEach((f, i) => {
        if (!f.lost) expect(Buffer.from(f.packet!).equals(Buffer.from(clip.packets[i]!))).toBe(true);
      });
      const pcm = concatPcm(pcmParts);
      // duration preserved within one frame (320 samples)
      expect(Math.abs(pcm.length - clip.packets.length * 320)).toBeLessThanOrEqual(320);
      const { r } = bestCorrelation(wav.samples.subarray(0, wav.samples.length - 400), pcm, 400);
      expect(r).toBeGreaterThan(0.6);
      // a loss-free decode of the same packets correlates better or equal: the gap is the concealment
      const clean = await decodePackets(clip.packets);
      const rc = bestCorrelation(wav.samples.subarray(0, wav.samples.length - 400), clean, 400).r;
      expect(rc).toBeGreaterThan(0.8);
      console.log(`MTU ${mtu}: ${received} received, ${lost} concealed; correlation ${r.toFixed(3)} (loss-free ${rc.toFixed(3)})`);
      await s.close();
    });
  }
});
