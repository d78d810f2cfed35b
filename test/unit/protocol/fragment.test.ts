/** Fragmentation (PROTOCOL.md "Fragmentation"): header layout, boundaries, refusals. */
import { describe, expect, it } from 'vitest';
import { FRAG_END, FRAG_START, Fragmenter, Reassembler } from '../../../src/protocol/fragment.js';

describe('fragmentation', () => {
  it('a message that fits one value has S|E and one byte of overhead', () => {
    const [v, ...rest] = new Fragmenter().fragment(new Uint8Array(19), 20);
    expect(rest).toHaveLength(0);
    expect(v![0]).toBe(FRAG_START | FRAG_END | 0);
    expect(v).toHaveLength(20);
  });
  it('a longer one carries its length in the first fragment and a mod-64 counter', () => {
    const f = new Fragmenter();
    const frags = f.fragment(new Uint8Array(20).fill(7), 20);
    expect(frags.map((v) => v[0])).toEqual([FRAG_START | 0, FRAG_END | 1]);
    expect([frags[0]![1], frags[0]![2]]).toEqual([0, 20]);
    expect(frags[0]).toHaveLength(20);
    expect(frags[1]).toHaveLength(4);
    for (let i = 0; i < 70; i++) f.fragment(new Uint8Array(1), 20);
    expect(f.fragment(new Uint8Array(1), 20)[0]![0]! & 0x3f).toBe((2 + 70) & 0x3f);
  });
  it('refuses empty/oversized messages and payloads below 20', () => {
    const f = new Fragmenter(100);
    expect(() => f.fragment(new Uint8Array(0), 20)).toThrow(/empty/);
    expect(() => f.fragment(new Uint8Array(101), 20)).toThrow(/exceeds/);
    expect(() => f.fragment(new Uint8Array(1), 19)).toThrow(RangeError);
  });
  it('the reassembler reports each malformation as an error result and recovers', () => {
    const r = new Reassembler(100);
    const err = (v: number[]): string | undefined => {
      const res = r.push(new Uint8Array(v));
      return res.kind === 'error' ? res.error.code : res.kind;
    };
    expect(err([])).toBe('BAD_FRAME');
    expect(err([FRAG_START | FRAG_END])).toBe('BAD_FRAME'); // empty message
    expect(err([FRAG_START, 0])).toBe('BAD_FRAME'); // too short for length
    expect(err([FRAG_START, 0, 0, 1])).toBe('BAD_FRAME'); // zero length
    expect(err([FRAG_START, 0, 101, 1])).toBe('REASSEMBLY_OVERFLOW');
    expect(err([FRAG_START | FRAG_END, ...new Uint8Array(101)])).toBe('REASSEMBLY_OVERFLOW'); // regression: single value above the bound
    expect(err([FRAG_START, 0, 2, 1, 2])).toBe('BAD_FRAME'); // whole message without the end flag
    expect(err([1, 5])).toBe('BAD_FRAME'); // continuation without a first
    expect(err([FRAG_START | 10, 0, 3, 1])).toBe('partial');
    expect(err([12, 2])).toBe('BAD_FRAME'); // counter gap: discarded
    expect(r.busy).toBe(false);
    expect(err([FRAG_START | 20, 0, 3, 1])).toBe('partial');
    expect(err([FRAG_END | 21, 2])).toBe('BAD_FRAME'); // end before the announced length
    expect(err([FRAG_START | 30, 0, 3, 1])).toBe('partial');
    expect(err([31, 2, 3, 4])).toBe('BAD_FRAME'); // beyond the announced length
    expect(err([FRAG_START | 40, 0, 3, 1])).toBe('partial');
    expect(err([41, 2, 3])).toBe('BAD_FRAME'); // length reached without the end flag
    const ok = r.push(new Uint8Array([FRAG_START | FRAG_END | 5, 9, 9]));
    expect(ok).toEqual({ kind: 'message', message: new Uint8Array([9, 9]), discarded: 0 });
  });
});
