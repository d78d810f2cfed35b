/**
 * Encoders refuse what they cannot represent, and the wire decoder's minimum lengths
 * (src/protocol/tlv.ts, src/protocol/wire.ts; PROTOCOL.md §4, §6.1): a TLV type is one byte and
 * a value at most 255 bytes; a reconnect message 1's slot is a u32 and its body a slot plus at
 * least one byte; a RECORD needs at least one byte on the wire (the record layer judges the rest).
 */
import { describe, expect, it } from 'vitest';
import { encodeTlv } from '../../../src/protocol/tlv.js';
import { WireKind, decodeWire, encodeWire } from '../../../src/protocol/wire.js';

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code ?? (e as Error).name;
  }
  return undefined;
};

describe('encodeTlv', () => {
  it('takes types 0..255 (integers) and values of at most 255 bytes', () => {
    expect(encodeTlv(1, [[0, new Uint8Array(0)], [255, new Uint8Array(255)]])).toHaveLength(1 + 2 + 2 + 255);
    for (const t of [-1, 256, 1.5, Number.NaN]) expect(codeOf(() => encodeTlv(1, [[t, Uint8Array.of(1)]])), String(t)).toBe('RangeError');
    expect(codeOf(() => encodeTlv(1, [[3, new Uint8Array(256)]]))).toBe('RangeError');
  });
});

describe('wire', () => {
  it('a reconnect message 1 carries a u32 slot: 0 and 2^32−1 round-trip, anything else is BAD_FRAME', () => {
    for (const slot of [0, 0xffffffff, 2_940_000]) {
      expect(decodeWire(encodeWire({ kind: 'reconnect-m1', slot, noise: Uint8Array.of(9) }))).toEqual({ kind: 'reconnect-m1', slot, noise: Uint8Array.of(9) });
    }
    for (const slot of [-1, 2 ** 32, 1.5]) expect(codeOf(() => encodeWire({ kind: 'reconnect-m1', slot, noise: Uint8Array.of(9) })), String(slot)).toBe('BAD_FRAME');
  });

  it('minimum bodies: a reconnect message 1 needs its slot and one byte; a RECORD one byte', () => {
    expect(codeOf(() => decodeWire(Uint8Array.of(WireKind.RECONNECT_M1, 0, 0, 0, 1)))).toBe('BAD_FRAME');
    expect(decodeWire(Uint8Array.of(WireKind.RECONNECT_M1, 0, 0, 0, 1, 7))).toEqual({ kind: 'reconnect-m1', slot: 1, noise: Uint8Array.of(7) });
    expect(codeOf(() => decodeWire(Uint8Array.of(WireKind.RECORD)))).toBe('BAD_FRAME');
    const wire = Uint8Array.of(WireKind.RECORD, 0x55);
    const m = decodeWire(wire);
    expect(m).toEqual({ kind: 'record', record: Uint8Array.of(0x55) });
    // a copy: the reassembly buffer it came from may be reused
    wire[1] = 0;
    expect(m.kind === 'record' && m.record[0]).toBe(0x55);
  });
});
