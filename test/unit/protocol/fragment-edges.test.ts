/**
 * Fragmentation edges (src/protocol/fragment.ts, PROTOCOL.md §3) and the GATT UUID parser
 * (§2): the kind of a message is read only from a first fragment; the reassembler says when it
 * holds part of a message; a single-fragment message of exactly the limit passes and one byte
 * more overflows; a first fragment announcing zero bytes is refused; a UUID with anything beyond
 * its 32 hex digits is refused.
 */
import { describe, expect, it } from 'vitest';
import { FRAG_END, FRAG_START, Fragmenter, Reassembler, firstFragmentKind } from '../../../src/protocol/fragment.js';
import { uuidToLeBytes, PLUSHLINK_SERVICE_UUID } from '../../../src/protocol/gatt.js';

describe('fragment edges', () => {
  it('firstFragmentKind: the kind of a single or first fragment; undefined for an empty value or a continuation', () => {
    expect(firstFragmentKind(Uint8Array.of(FRAG_START | FRAG_END | 0, 0x05))).toBe(0x05);
    expect(firstFragmentKind(Uint8Array.of(FRAG_START | 1, 0, 40, 0x03, 9))).toBe(0x03);
    expect(firstFragmentKind(new Uint8Array(0))).toBeUndefined();
    expect(firstFragmentKind(Uint8Array.of(2, 0x01, 0x01, 0x01))).toBeUndefined();
    expect(firstFragmentKind(Uint8Array.of(FRAG_END | 3, 0x01, 0x01, 0x01))).toBeUndefined();
  });

  it('busy while a message is partly received, not before or after', () => {
    const msg = Uint8Array.from({ length: 50 }, (_, i) => i);
    const values = new Fragmenter().fragment(msg, 20);
    expect(values.length).toBeGreaterThan(2);
    const r = new Reassembler();
    expect(r.busy).toBe(false);
    for (const v of values.slice(0, -1)) {
      expect(r.push(v).kind).toBe('partial');
      expect(r.busy).toBe(true);
    }
    expect(r.push(values.at(-1)!)).toMatchObject({ kind: 'message', message: msg });
    expect(r.busy).toBe(false);
  });

  it('a single-fragment message of exactly maxMessage bytes passes; one more is REASSEMBLY_OVERFLOW', () => {
    const r = new Reassembler(100);
    expect(r.push(Uint8Array.of(FRAG_START | FRAG_END, ...new Uint8Array(100).fill(7)))).toMatchObject({ kind: 'message' });
    const over = r.push(Uint8Array.of(FRAG_START | FRAG_END | 1, ...new Uint8Array(101)));
    expect(over.kind).toBe('error');
    expect(over.kind === 'error' && over.error.code).toBe('REASSEMBLY_OVERFLOW');
  });

  it('a first fragment announcing zero bytes is refused; one announcing one byte is a message', () => {
    const r = new Reassembler();
    const zero = r.push(Uint8Array.of(FRAG_START, 0, 0, 9));
    expect(zero.kind).toBe('error');
    expect(r.busy).toBe(false);
    const one = new Reassembler();
    const res = one.push(Uint8Array.of(FRAG_START | FRAG_END | 0, 0x42));
    expect(res).toMatchObject({ kind: 'message', message: Uint8Array.of(0x42) });
  });
});

describe('uuidToLeBytes', () => {
  it('refuses anything before or after the 32 hex digits', () => {
    expect(uuidToLeBytes(PLUSHLINK_SERVICE_UUID)).toHaveLength(16);
    expect(() => uuidToLeBytes(`${PLUSHLINK_SERVICE_UUID}0`)).toThrow(RangeError);
    expect(() => uuidToLeBytes(`0${PLUSHLINK_SERVICE_UUID}`)).toThrow(RangeError);
    expect(() => uuidToLeBytes(PLUSHLINK_SERVICE_UUID.slice(0, -1))).toThrow(RangeError);
  });
});
