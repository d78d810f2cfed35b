/**
 * Wire rules stated once in src/protocol/ and used by both ends: the kind of a message read from
 * its first fragment (fragment.ts), MIC_START's result body (control.ts), the ATT payload per
 * MTU and the GATT names (gatt.ts), and the frame arithmetic of audio records (audio-record.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FRAME_MS, framesIn, framesPerRecord } from '../../../src/protocol/audio-record.js';
import { decodeMicStartResult, encodeMicStartResult } from '../../../src/protocol/control.js';
import { isPlushlinkError } from '../../../src/protocol/errors.js';
import { firstFragmentKind, Fragmenter, Reassembler } from '../../../src/protocol/fragment.js';
import * as gatt from '../../../src/protocol/gatt.js';
import * as layout from '../../../src/transport/gatt-layout.js';
import * as transportTypes from '../../../src/transport/types.js';
import { FRAME_MS as AUDIO_FRAME_MS } from '../../../src/audio/opus-codec.js';

const FC = { seed: 5151, numRuns: 300 };

/** The text of every .ts file under src/, by path relative to src/. */
function sources(dir = join(__dirname, '../../../src'), base = ''): [string, string][] {
  const out: [string, string][] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const rel = base ? `${base}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...sources(join(dir, e.name), rel));
    else if (e.name.endsWith('.ts')) out.push([rel, readFileSync(join(dir, e.name), 'utf8')]);
  }
  return out;
}

describe('firstFragmentKind', () => {
  it('is the first byte of the message at its first fragment, and undefined at every other fragment (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 1024 }), fc.integer({ min: 20, max: 514 }), (message, payload) => {
        const frags = new Fragmenter().fragment(message, payload);
        expect(firstFragmentKind(frags[0]!)).toBe(message[0]);
        for (const f of frags.slice(1)) expect(firstFragmentKind(f)).toBeUndefined();
        // and the reassembled message starts with that byte
        const r = new Reassembler();
        let out;
        for (const f of frags) out = r.push(f);
        expect(out).toMatchObject({ kind: 'message' });
        if (out?.kind === 'message') expect(out.message[0]).toBe(firstFragmentKind(frags[0]!));
      }),
      FC,
    );
  });

  it('reads byte 1 of a single fragment, byte 3 of a first fragment, nothing from a short or empty value', () => {
    expect(firstFragmentKind(new Uint8Array([0xc0, 0x05]))).toBe(0x05);
    expect(firstFragmentKind(new Uint8Array([0x80, 0x00, 0x30, 0x10]))).toBe(0x10);
    expect(firstFragmentKind(new Uint8Array([0x80, 0x00, 0x30]))).toBeUndefined();
    expect(firstFragmentKind(new Uint8Array([0xc0]))).toBeUndefined();
    expect(firstFragmentKind(new Uint8Array([0x41, 0x10]))).toBeUndefined();
    expect(firstFragmentKind(new Uint8Array(0))).toBeUndefined();
  });
});

describe("MIC_START's result body", () => {
  it('is the big-endian u32 first frame, and decodes as the companion read it by hand (fast-check)', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), (first) => {
        const body = encodeMicStartResult(first);
        expect([...body]).toEqual([(first >>> 24) & 0xff, (first >>> 16) & 0xff, (first >>> 8) & 0xff, first & 0xff]);
        expect(decodeMicStartResult(body)).toBe(first);
        expect(decodeMicStartResult(body)).toBe(((body[0]! << 24) >>> 0) + (body[1]! << 16) + (body[2]! << 8) + body[3]!);
      }),
      FC,
    );
  });

  it('another length is BAD_CONTROL_MESSAGE; a first frame beyond u32 is refused at encoding', () => {
    for (const n of [0, 3, 5]) {
      let e: unknown;
      try {
        decodeMicStartResult(new Uint8Array(n));
      } catch (x) {
        e = x;
      }
      expect(isPlushlinkError(e, 'BAD_CONTROL_MESSAGE'), `length ${n}`).toBe(true);
    }
    expect(() => encodeMicStartResult(2 ** 32)).toThrow();
    expect(() => encodeMicStartResult(-1)).toThrow();
  });
});

describe('ATT payload and GATT names', () => {
  it('attPayload is MTU − 3: 20 at the minimum MTU, 244 at 247, 514 at the maximum', () => {
    expect(gatt.attPayload(gatt.MIN_ATT_MTU)).toBe(20);
    expect(gatt.attPayload(247)).toBe(244);
    expect(gatt.attPayload(gatt.MAX_ATT_MTU)).toBe(514);
  });

  it('MTU − 3 is written once, in protocol/gatt.ts (attPayload); FRAME_MS once, in protocol/audio-record.ts', () => {
    // The library's layers; the CLI (src/cli/, an app over them) is not scanned.
    const src = sources().filter(([f]) => !f.startsWith('cli/'));
    expect(src.filter(([f, t]) => f !== 'protocol/gatt.ts' && /mtu\)?\s*-\s*3\b/i.test(t)).map(([f]) => f)).toEqual([]);
    expect(src.filter(([, t]) => /FRAME_MS\s*=(?!=)/.test(t)).map(([f]) => f)).toEqual(['protocol/audio-record.ts']);
  });

  it('transport/ re-exports the same names and values as protocol/gatt.ts', () => {
    for (const name of ['PLUSHLINK_BASE_UUID', 'PLUSHLINK_SERVICE_UUID', 'CONTROL_CHARACTERISTIC_UUID', 'SPEAKER_CHARACTERISTIC_UUID', 'MICROPHONE_CHARACTERISTIC_UUID', 'CHARACTERISTIC_UUIDS', 'compactUuid', 'uuidToLeBytes', 'characteristicNameOf'] as const) {
      expect(layout[name], name).toBe(gatt[name]);
    }
    expect(transportTypes.MIN_ATT_MTU).toBe(gatt.MIN_ATT_MTU);
    expect(transportTypes.MAX_ATT_MTU).toBe(gatt.MAX_ATT_MTU);
  });
});

describe('audio frame arithmetic', () => {
  it('one FRAME_MS of 20 ms, the same in audio/ and protocol/', () => {
    expect(FRAME_MS).toBe(20);
    expect(AUDIO_FRAME_MS).toBe(FRAME_MS);
  });

  it('framesPerRecord(budget) = floor(budget / 20) + 1 (PROTOCOL.md §13.7); framesIn(ms) = max(1, floor(ms / 20)) (§9)', () => {
    expect([0, 19, 20, 40, 60, 79, 80, 100].map(framesPerRecord)).toEqual([1, 1, 2, 3, 4, 4, 5, 6]);
    expect([0, 19, 20, 40, 80, 100, 119].map(framesIn)).toEqual([1, 1, 1, 2, 4, 5, 5]);
  });
});
