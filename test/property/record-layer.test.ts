/**
 * docs/SECURITY.md property 4: the record layer under random gaps, replays,
 * reorderings, bit flips, epochs and rekeys.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesEqual } from '../../src/protocol/bytes.js';
import { SecureChannel } from '../../src/protocol/channel.js';
import { PlushlinkError } from '../../src/protocol/errors.js';
import { EPOCH_SIZE, RecordReceiver, RecordSender, type OpenedRecord } from '../../src/protocol/record.js';
import type { ControlMessage } from '../../src/protocol/control.js';
import { decodeWire } from '../../src/protocol/wire.js';

const SEED = 42;
const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
const plaintext = fc.uint8Array({ maxLength: 64 });

const counterOf = (r: Uint8Array): number => ((r[0]! << 24) >>> 0) + (r[1]! << 16) + (r[2]! << 8) + r[3]!;

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(PlushlinkError);
    return (e as PlushlinkError).code;
  }
}

interface Sealed {
  record: Uint8Array;
  plaintext: Uint8Array;
  span: number;
}

/** Seals a random schedule of records: spans, time-based rekeys and long jumps (large spans). */
const op = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('seal' as const), pt: plaintext, span: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rekey' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('jump' as const), pt: plaintext, toBoundary: fc.integer({ min: 1, max: 80 }) }) },
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

function runSender(k: Uint8Array, ops: Op[]): Sealed[] {
  const s = new RecordSender(k);
  const out: Sealed[] = [];
  for (const o of ops) {
    if (o.kind === 'rekey') {
      const before = s.counter;
      s.rekey();
      expect(s.counter % EPOCH_SIZE).toBe(0);
      expect(s.counter).toBeGreaterThan(before);
      continue;
    }
    let span: number;
    if (o.kind === 'jump') {
      // a span that lands `toBoundary` counters before the next epoch boundary (or straddles it)
      const next = (Math.floor(s.counter / EPOCH_SIZE) + 1) * EPOCH_SIZE;
      span = Math.max(1, next - s.counter - o.toBoundary);
    } else span = o.span;
    const before = s.counter;
    const record = s.seal(o.pt, span);
    const c = counterOf(record);
    expect(c).toBeGreaterThanOrEqual(before);
    // a record never straddles an epoch boundary
    expect(Math.floor(c / EPOCH_SIZE)).toBe(Math.floor((c + span - 1) / EPOCH_SIZE));
    expect(s.counter).toBe(c + span);
    out.push({ record, plaintext: o.pt, span });
  }
  return out;
}

describe('record layer: counters', () => {
  it('counters strictly increase and never repeat, across spans, epochs, jumps and rekeys', () => {
    let crossings = 0;
    fc.assert(
      fc.property(key, fc.array(op, { minLength: 1, maxLength: 60 }), (k, ops) => {
        const sealed = runSender(k, ops);
        if (sealed.length > 1 && counterOf(sealed[sealed.length - 1]!.record) >= EPOCH_SIZE) crossings++;
        for (let i = 1; i < sealed.length; i++) {
          const prev = counterOf(sealed[i - 1]!.record);
          expect(counterOf(sealed[i]!.record)).toBeGreaterThanOrEqual(prev + sealed[i - 1]!.span);
        }
      }),
      { seed: SEED, numRuns: 200 },
    );
    expect(crossings).toBeGreaterThan(50);
  });

  it('in-order delivery with random gaps always opens (also across epochs and rekeys)', () => {
    fc.assert(
      fc.property(key, fc.array(fc.tuple(op, fc.boolean()), { minLength: 1, maxLength: 60 }), (k, plan) => {
        const sealed = runSender(k, plan.map(([o]) => o));
        const drops = plan.filter(([o]) => o.kind !== 'rekey').map(([, d]) => d);
        const r = new RecordReceiver(k);
        sealed.forEach((s, i) => {
          if (drops[i]) return;
          const spanOf = (): number => s.span;
          const opened = r.open(s.record, spanOf);
          expect(opened.counter).toBe(counterOf(s.record));
          expect(bytesEqual(opened.plaintext, s.plaintext)).toBe(true);
          expect(r.lastCounter).toBe(opened.counter + s.span - 1);
        });
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('any replay or reordering is refused with REPLAYED_RECORD and changes nothing', () => {
    let totalReplays = 0;
    fc.assert(
      fc.property(
        key,
        fc.array(fc.record({ pt: plaintext, span: fc.integer({ min: 1, max: 4 }) }), { minLength: 2, maxLength: 30 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 80 }),
        (k, recs, order) => {
          const s = new RecordSender(k);
          const sealed = recs.map((x) => ({ record: s.seal(x.pt, x.span), span: x.span, pt: x.pt }));
          const r = new RecordReceiver(k);
          let last = -1;
          let replays = 0;
          for (const o of order) {
            const x = sealed[o % sealed.length]!;
            const c = counterOf(x.record);
            if (c <= last) {
              expect(code(() => r.open(x.record, x.span))).toBe('REPLAYED_RECORD');
              expect(r.lastCounter).toBe(last);
              replays++;
            } else {
              const opened: OpenedRecord = r.open(x.record, x.span);
              expect(bytesEqual(opened.plaintext, x.pt)).toBe(true);
              last = c + x.span - 1;
              expect(r.lastCounter).toBe(last);
            }
          }
          // the receiver still works for the next fresh record
          const fresh = s.seal(new Uint8Array([7]));
          expect(r.open(fresh).plaintext).toEqual(new Uint8Array([7]));
          totalReplays += replays;
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
    expect(totalReplays).toBeGreaterThan(100);
  });
});

describe('record layer: tampering', () => {
  it('any bit flip fails authentication (or is a replay when it lowers the counter) and changes nothing', () => {
    fc.assert(
      fc.property(key, fc.array(op, { minLength: 1, maxLength: 20 }), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 7 }), (k, ops, which, pos, bit) => {
        const sealed = runSender(k, ops);
        if (sealed.length === 0) return;
        const t = which % sealed.length;
        const r = new RecordReceiver(k);
        for (let i = 0; i < t; i++) r.open(sealed[i]!.record, sealed[i]!.span);
        const last = r.lastCounter;
        const bad = Uint8Array.from(sealed[t]!.record);
        const p = pos % bad.length;
        bad[p] = bad[p]! ^ (1 << bit);
        const got = code(() => r.open(bad, sealed[t]!.span));
        if (p < 4 && counterOf(bad) <= last) expect(got).toBe('REPLAYED_RECORD');
        else expect(got).toBe('RECORD_AUTH_FAILED');
        expect(r.lastCounter).toBe(last);
        // the genuine record still opens: the failed attempt changed nothing
        expect(bytesEqual(r.open(sealed[t]!.record, sealed[t]!.span).plaintext, sealed[t]!.plaintext)).toBe(true);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('a record under the wrong key or truncated/extended never opens', () => {
    fc.assert(
      fc.property(key, key, plaintext, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 20 }), (k1, k2, pt, cut, extra) => {
        const rec = new RecordSender(k1).seal(pt);
        if (!bytesEqual(k1, k2)) expect(code(() => new RecordReceiver(k2).open(rec))).toBe('RECORD_AUTH_FAILED');
        const short = rec.slice(0, cut % rec.length);
        expect(['BAD_RECORD', 'RECORD_AUTH_FAILED']).toContain(code(() => new RecordReceiver(k1).open(short)));
        expect(code(() => new RecordReceiver(k1).open(new Uint8Array([...rec, ...extra])))).toBe('RECORD_AUTH_FAILED');
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe('secure channel (both channels of a session)', () => {
  const keysPair = fc.tuple(key, key, key).filter(([a, b]) => !bytesEqual(a, b));
  const control: ControlMessage[] = [
    { type: 'set-volume', id: 3, volume: 40 },
    { type: 'mic-start', id: 9 },
    { type: 'get-battery', id: 200 },
  ];

  it('control and audio round-trip with independent counters; rekey keeps both working; an auth failure kills the channel', () => {
    fc.assert(
      fc.property(
        keysPair,
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('control' as const), m: fc.constantFrom(...control) }),
            fc.record({ kind: fc.constant('audio' as const), frames: fc.array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 6 }) }),
            fc.record({ kind: fc.constant('rekey' as const) }),
          ),
          { minLength: 1, maxLength: 25 },
        ),
        fc.nat(),
        ([a, b, h], steps, flipAt) => {
          const comp = new SecureChannel({ sendKey: a, receiveKey: b, handshakeHash: h });
          const toy = new SecureChannel({ sendKey: b, receiveKey: a, handshakeHash: h });
          for (const st of steps) {
            if (st.kind === 'rekey') comp.rekey();
            else if (st.kind === 'control') {
              const w = decodeWire(comp.sealControl(st.m));
              expect(w.kind).toBe('record');
              expect(toy.openControl((w as { record: Uint8Array }).record)).toEqual(st.m);
            } else {
              const { record, firstFrame } = comp.sealAudio(st.frames);
              const got = toy.openAudio(record);
              expect(got.firstFrame).toBe(firstFrame);
              expect(got.frames).toEqual(st.frames);
            }
          }
          // one flipped bit in a fresh record is fatal for the receiving channel
          const { record } = comp.sealAudio([new Uint8Array([1, 2, 3])]);
          const p = 4 + (flipAt % (record.length - 4));
          record[p] = record[p]! ^ 1;
          expect(code(() => toy.openAudio(record))).toBe('RECORD_AUTH_FAILED');
          expect(toy.alive).toBe(false);
          expect(code(() => toy.openControl(new Uint8Array(30)))).toBe('SESSION_CLOSED');
          expect(code(() => toy.sealControl(control[0]!))).toBe('SESSION_CLOSED');
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('records of one channel or direction are refused on the other', () => {
    fc.assert(
      fc.property(keysPair, (ks) => {
        const [a, b, h] = ks;
        const comp = new SecureChannel({ sendKey: a, receiveKey: b, handshakeHash: h });
        const w = decodeWire(comp.sealControl(control[0]!)) as { record: Uint8Array };
        // control record opened as audio on the peer
        expect(code(() => new SecureChannel({ sendKey: b, receiveKey: a, handshakeHash: h }).openAudio(w.record))).toBe('RECORD_AUTH_FAILED');
        // reflected back to the sender
        expect(code(() => new SecureChannel({ sendKey: a, receiveKey: b, handshakeHash: h }).openControl(w.record))).toBe('RECORD_AUTH_FAILED');
      }),
      { seed: SEED, numRuns: 100 },
    );
  });
});
