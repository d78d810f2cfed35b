import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  ConcealingDecoder,
  JitterBuffer,
  OpusDecoder,
  decodePackets,
  decodeWav,
  encodePcm,
  type JitterOutput,
} from '../../../src/audio/index.js';
import { isPlushlinkError } from '../../../src/protocol/errors.js';

const show = (o: JitterOutput<string>[]): string[] => o.map((x) => (x.kind === 'frame' ? `${x.seq}:${x.data}` : `lost ${x.seq}x${x.count}`));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isPlushlinkError(e) ? e.code : String(e);
  }
  return undefined;
}

describe('JitterBuffer', () => {
  it('releases in-order frames at once', () => {
    const jb = new JitterBuffer<string>();
    expect(show(jb.push(10, 'a'))).toEqual(['10:a']);
    expect(show(jb.push(11, 'b'))).toEqual(['11:b']);
    expect(jb.size).toBe(0);
    expect(jb.nextSeq).toBe(12);
  });

  it('waits `depth` frames for a missing one, then declares it lost; a reordered frame within depth is kept', () => {
    const jb = new JitterBuffer<string>({ depth: 3 });
    jb.push(0, 'a');
    expect(show(jb.push(2, 'c'))).toEqual([]);
    expect(show(jb.push(3, 'd'))).toEqual([]);
    expect(show(jb.push(1, 'b'))).toEqual(['1:b', '2:c', '3:d']); // arrived 2 frames late: kept
    expect(show(jb.push(5, 'f'))).toEqual([]);
    expect(show(jb.push(6, 'g'))).toEqual([]);
    expect(jb.size).toBe(2);
    expect(show(jb.push(7, 'h'))).toEqual(['lost 4x1', '5:f', '6:g', '7:h']);
    expect(show(jb.push(4, 'e'))).toEqual([]); // too late
    expect(jb.stats).toEqual({ received: 7, duplicates: 0, late: 1, lost: 1, released: 7 });
  });

  it('declares a run lost as one marker, only as far as the depth proves it', () => {
    const jb = new JitterBuffer<string>({ depth: 2, firstSeq: 0 });
    expect(show(jb.push(6, 'x'))).toEqual(['lost 0x5']); // 0..4 lost, 5 may still come
    expect(show(jb.push(5, 'w'))).toEqual(['5:w', '6:x']);
  });

  it('counts duplicates, whether held or already released', () => {
    const jb = new JitterBuffer<string>({ depth: 3 });
    jb.push(0, 'a');
    jb.push(0, 'a');
    jb.push(2, 'c');
    jb.push(2, 'c');
    expect(jb.stats.duplicates).toBe(2);
    expect(jb.stats.late).toBe(0);
  });

  it('handles sequence wrap-around at 2^32', () => {
    const jb = new JitterBuffer<string>({ depth: 2, firstSeq: 0xfffffffe });
    expect(show(jb.push(0xffffffff, 'b'))).toEqual([]);
    expect(show(jb.push(0, 'c'))).toEqual(['lost 4294967294x1', '4294967295:b', '0:c']);
    expect(show(jb.push(1, 'd'))).toEqual(['1:d']);
  });

  it('a jump beyond the window forces the buffer forward in O(window), bounded', () => {
    const jb = new JitterBuffer<string>({ depth: 3, window: 8 });
    jb.push(0, 'a');
    jb.push(2, 'c');
    const out = jb.push(2 ** 31 - 1, 'z');
    const z = 2 ** 31 - 1;
    // forced to z − 7 (window), then z − 7 … z − 3 are more than `depth` behind z: lost too
    expect(show(out)).toEqual(['lost 1x1', '2:c', `lost 3x${z - 2 - 3}`]);
    expect(jb.size).toBe(1);
    expect(jb.stats.lost).toBe(1 + z - 5);
    expect(show(jb.push(z - 1, 'y'))).toEqual([]);
    expect(show(jb.flush())).toEqual([`lost ${z - 2}x1`, `${z - 1}:y`, `${z}:z`]);
  });

  it('forceNext declares the due frame lost and releases what follows', () => {
    const jb = new JitterBuffer<string>({ depth: 5 });
    expect(jb.forceNext()).toEqual([]);
    jb.push(0, 'a');
    jb.push(2, 'c');
    expect(show(jb.forceNext())).toEqual(['lost 1x1', '2:c']);
    expect(show(jb.forceNext())).toEqual(['lost 3x1']);
    expect(show(jb.push(3, 'late'))).toEqual([]);
    expect(jb.stats.late).toBe(1);
  });

  it('reset starts a new stream', () => {
    const jb = new JitterBuffer<string>();
    jb.push(100, 'a');
    jb.push(105, 'b');
    jb.reset(0);
    expect(jb.size).toBe(0);
    expect(show(jb.push(0, 'n'))).toEqual(['0:n']);
  });

  it('validates options and sequence numbers', () => {
    expect(codeOf(() => new JitterBuffer({ depth: -1 }))).toBe('BAD_AUDIO');
    expect(codeOf(() => new JitterBuffer({ depth: 4, window: 4 }))).toBe('BAD_AUDIO');
    expect(codeOf(() => new JitterBuffer({ firstSeq: 2 ** 32 }))).toBe('BAD_AUDIO');
    const jb = new JitterBuffer();
    expect(codeOf(() => jb.push(-1, new Uint8Array()))).toBe('BAD_AUDIO');
    expect(codeOf(() => jb.push(1.5, new Uint8Array()))).toBe('BAD_AUDIO');
  });
});

describe('ConcealingDecoder', () => {
  const speech = decodeWav(new Uint8Array(readFileSync('fixtures/audio/toy-goodnight.wav'))).samples;

  it('speech through loss + reordering + duplicates: every frame received or concealed, duration kept, audio correlates', async () => {
    const { packets, preSkip, sampleCount } = encodePcm(speech, { bitrate: 16000 });
    // deterministic 2% loss, reordering by up to 2 frames, 3% duplicates
    let x = 7;
    const rnd = (): number => ((x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const arrivals: Array<[number, number]> = [];
    let dropped = 0;
    packets.forEach((_, i) => {
      if (i > 0 && i < packets.length - 1 && rnd() < 0.02) {
        dropped++;
        return;
      }
      arrivals.push([i + rnd() * 2.5, i]);
      if (rnd() < 0.03) arrivals.push([i + 3 * rnd(), i]);
    });
    arrivals.sort((a, b) => a[0] - b[0]);
    expect(dropped).toBeGreaterThan(0);

    const jb2 = new JitterBuffer({ depth: 3, firstSeq: 1000 });
    const dec2 = await OpusDecoder.create();
    const cd2 = new ConcealingDecoder(dec2);
    const pcmParts: Int16Array[] = [];
    for (const [, i] of arrivals) pcmParts.push(cd2.processAll(jb2.push(1000 + i, packets[i]!)));
    pcmParts.push(cd2.processAll(jb2.flush()));
    dec2.free();
    const total = pcmParts.reduce((a, p) => a + p.length, 0);
    const pcm = new Int16Array(total);
    let o = 0;
    for (const p of pcmParts) {
      pcm.set(p, o);
      o += p.length;
    }
    expect(cd2.stats.received + cd2.stats.concealed).toBe(packets.length);
    expect(cd2.stats.concealed).toBe(jb2.stats.lost);
    expect(jb2.stats.lost).toBe(dropped); // reordering ≤ depth: nothing that arrived was lost
    expect(cd2.stats.skipped).toBe(0);
    expect(pcm.length).toBe(packets.length * 320); // duration preserved exactly
    const aligned = pcm.subarray(preSkip, preSkip + sampleCount);
    let s = 0;
    let ea = 0;
    let eb = 0;
    for (let i = 0; i < sampleCount; i++) {
      s += speech[i]! * aligned[i]!;
      ea += speech[i]! * speech[i]!;
      eb += aligned[i]! * aligned[i]!;
    }
    const corr = s / Math.sqrt(ea * eb);
    expect(corr).toBeGreaterThan(0.8);
    // and it is measurably below loss-free decoding (concealment is not magic)
    const clean = await decodePackets(packets, { preSkip, sampleCount });
    let sc = 0;
    let ec = 0;
    for (let i = 0; i < sampleCount; i++) {
      sc += speech[i]! * clean[i]!;
      ec += clean[i]! * clean[i]!;
    }
    expect(sc / Math.sqrt(ea * ec)).toBeGreaterThan(corr);
  });

  it('conceals undecodable packets and caps very long gaps', async () => {
    const dec = await OpusDecoder.create();
    try {
      const cd = new ConcealingDecoder(dec, { maxGapFrames: 10 });
      const { packets } = encodePcm(speech.subarray(0, 3200));
      expect(cd.process({ kind: 'frame', seq: 0, data: packets[0]! }).length).toBe(320);
      expect(cd.process({ kind: 'frame', seq: 1, data: new Uint8Array(0) }).length).toBe(320);
      expect(cd.process({ kind: 'lost', seq: 2, count: 3 }).length).toBe(960);
      expect(cd.process({ kind: 'lost', seq: 5, count: 1_000_000 }).length).toBe(3200);
      expect(cd.stats).toEqual({ received: 1, concealed: 1 + 3 + 10, decodeErrors: 1, skipped: 1_000_000 - 10 });
    } finally {
      dec.free();
    }
  });
});
