import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { JitterBuffer, type JitterOutput } from '../../src/audio/index.js';

const U32 = 0x1_0000_0000;

interface Scenario {
  start: number;
  n: number;
  depth: number;
  window: number;
  /** arrival order: indices into 0..n-1 (with duplicates), as pushed */
  arrivals: number[];
  dropped: Set<number>;
  maxDisp: number;
  dupIdx: Set<number>;
}

/**
 * Frames 0..n-1 (seq = start + i mod 2^32); each survives unless dropped; arrives at key
 * i + jitter (jitter ≤ maxDisp < window); some are sent twice (the copy `dupDelay` keys later).
 * The last frame is never dropped, so the accounted range is exactly [start, start + n).
 */
const scenario = fc
  .record({
    start: fc.oneof(fc.integer({ min: 0, max: U32 - 1 }), fc.integer({ min: U32 - 40, max: U32 - 1 })),
    n: fc.integer({ min: 1, max: 250 }),
    depth: fc.integer({ min: 0, max: 6 }),
    extraWindow: fc.integer({ min: 1, max: 40 }),
    dispFrac: fc.double({ min: 0, max: 1, noNaN: true }),
    dropRate: fc.double({ min: 0, max: 0.5, noNaN: true }),
    dupRate: fc.double({ min: 0, max: 0.3, noNaN: true }),
    immediateDups: fc.boolean(),
    seed: fc.integer(),
  })
  .map((r): Scenario => {
    let x = r.seed >>> 0 || 1;
    const rnd = (): number => {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      return x / U32;
    };
    const window = r.depth + r.extraWindow;
    const maxDisp = Math.floor(r.dispFrac * (window - 1));
    const dropped = new Set<number>();
    const dupIdx = new Set<number>();
    const keyed: Array<[number, number, number]> = []; // key, tiebreak, index
    let t = 0;
    for (let i = 0; i < r.n; i++) {
      if (i < r.n - 1 && rnd() < r.dropRate) {
        dropped.add(i);
        continue;
      }
      const key = i + Math.floor(rnd() * (maxDisp + 1));
      keyed.push([key, t++, i]);
      if (rnd() < r.dupRate) {
        dupIdx.add(i);
        keyed.push([r.immediateDups ? key : key + Math.floor(rnd() * window), t++, i]);
      }
    }
    keyed.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    return { start: r.start, n: r.n, depth: r.depth, window, arrivals: keyed.map((k) => k[2]), dropped, maxDisp, dupIdx };
  });

function run(s: Scenario): { out: JitterOutput<number>[]; jb: JitterBuffer<number>; maxSize: number } {
  const jb = new JitterBuffer<number>({ depth: s.depth, window: s.window, firstSeq: s.start });
  const out: JitterOutput<number>[] = [];
  let maxSize = 0;
  for (const i of s.arrivals) {
    const seq = (s.start + i) % U32;
    out.push(...jb.push(seq, i));
    maxSize = Math.max(maxSize, jb.size);
  }
  out.push(...jb.flush());
  return { out, jb, maxSize };
}

describe('JitterBuffer properties', () => {
  it('outputs strictly in order, accounts for every sequence number exactly once, stays bounded', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { out, jb, maxSize } = run(s);
        expect(maxSize).toBeLessThanOrEqual(s.window);
        expect(jb.size).toBe(0);
        // tile [start, start + n) with no gap and no overlap, in order
        let expectIdx = 0;
        const frames = new Set<number>();
        for (const o of out) {
          expect(o.seq).toBe((s.start + expectIdx) % U32);
          if (o.kind === 'frame') {
            expect(o.data).toBe(expectIdx); // the frame released is the one pushed for this seq
            expect(frames.has(expectIdx)).toBe(false);
            frames.add(expectIdx);
            expectIdx += 1;
          } else {
            expect(o.count).toBeGreaterThanOrEqual(1);
            expectIdx += o.count;
          }
        }
        expect(expectIdx).toBe(s.n);
        expect(jb.nextSeq).toBe((s.start + s.n) % U32);
        // no dropped frame is ever released; counters add up
        for (const d of s.dropped) expect(frames.has(d)).toBe(false);
        const st = jb.stats;
        expect(st.released).toBe(frames.size);
        expect(st.received).toBe(frames.size);
        expect(st.lost).toBe(s.n - frames.size);
        expect(st.received + st.duplicates + st.late).toBe(s.arrivals.length);
        // a frame that was sent but not released must have been counted late
        const sent = new Set(s.arrivals);
        let lateDistinct = 0;
        for (const i of sent) if (!frames.has(i)) lateDistinct++;
        expect(st.late).toBeGreaterThanOrEqual(lateDistinct);
      }),
      { seed: 42, numRuns: 400 },
    );
  });

  it('reordering within the depth loses nothing that arrived; only drops become lost', () => {
    fc.assert(
      fc.property(
        scenario.filter((s) => s.maxDisp <= s.depth),
        (s) => {
          const { out, jb } = run(s);
          expect(jb.stats.late).toBe(0);
          expect(jb.stats.lost).toBe(s.dropped.size);
          const lostSeqs: number[] = [];
          let idx = 0;
          for (const o of out) {
            if (o.kind === 'lost') for (let k = 0; k < o.count; k++) lostSeqs.push(idx + k);
            idx += o.kind === 'lost' ? o.count : 1;
          }
          expect(lostSeqs).toEqual([...s.dropped].sort((a, b) => a - b));
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });

  it('counts immediate duplicates of accepted frames exactly', () => {
    fc.assert(
      fc.property(
        scenario.filter((s) => s.dupIdx.size > 0),
        (s) => {
          // make every duplicate immediate: push each copy right after its original
          const arrivals: number[] = [];
          const seen = new Set<number>();
          for (const i of s.arrivals) {
            if (seen.has(i)) continue;
            seen.add(i);
            arrivals.push(i);
            if (s.dupIdx.has(i)) arrivals.push(i);
          }
          const { out, jb } = run({ ...s, arrivals });
          const released = new Set(out.filter((o) => o.kind === 'frame').map((o) => (o as { data: number }).data));
          let expected = 0;
          for (const i of s.dupIdx) if (released.has(i)) expected++;
          expect(jb.stats.duplicates).toBe(expected);
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });

  it('forceNext on a playout clock never reorders and keeps the accounting exact', () => {
    fc.assert(
      fc.property(scenario, fc.array(fc.boolean(), { minLength: 1, maxLength: 400 }), (s, ticks) => {
        const jb = new JitterBuffer<number>({ depth: s.depth, window: s.window, firstSeq: s.start });
        const out: JitterOutput<number>[] = [];
        s.arrivals.forEach((i, k) => {
          out.push(...jb.push((s.start + i) % U32, i));
          if (ticks[k % ticks.length]) out.push(...jb.forceNext());
          expect(jb.size).toBeLessThanOrEqual(s.window);
        });
        out.push(...jb.flush());
        let idx = 0;
        for (const o of out) {
          expect(o.seq).toBe((s.start + idx) % U32);
          if (o.kind === 'frame') expect(o.data).toBe(idx);
          idx += o.kind === 'lost' ? o.count : 1;
        }
        const st = jb.stats;
        expect(st.released + st.lost).toBe(idx);
        expect(st.received + st.duplicates + st.late).toBe(s.arrivals.length);
      }),
      { seed: 42, numRuns: 200 },
    );
  });
});
