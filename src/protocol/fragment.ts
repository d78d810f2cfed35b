/**
 * GATT fragmentation (PROTOCOL.md "Fragmentation"). Each ATT value (at most MTU − 3 bytes)
 * carries one fragment:
 *
 * ```
 * byte 0: S E q q q q q q   S = first fragment, E = last fragment, q = fragment counter mod 64
 * if S and not E: bytes 1–2 = total message length (big-endian, 1..maxMessage)
 * rest: message bytes
 * ```
 *
 * A message that fits one value is sent with S and E set and no length field (1 byte of
 * overhead). The fragment counter runs per characteristic and direction; a gap means a value
 * was lost and the partial message is discarded. Reassembly never holds more than
 * `maxMessage` bytes.
 */
import { PlushlinkError } from './errors.js';

export const FRAG_START = 0x80;
export const FRAG_END = 0x40;
/** Smallest ATT payload (MTU 23 − 3). */
export const MIN_FRAGMENT_PAYLOAD = 20;
/** Default bound on a reassembled message (both sides use it; PROTOCOL.md §3). */
export const DEFAULT_MAX_MESSAGE = 1024;

/** Splits messages into fragments for one characteristic and direction. */
export class Fragmenter {
  private seq = 0;

  /** @param maxMessage largest message accepted (≤ 65535). */
  constructor(readonly maxMessage: number = DEFAULT_MAX_MESSAGE) {}

  /** Fragments `message` for ATT values of at most `payloadSize` (= MTU − 3) bytes. */
  fragment(message: Uint8Array, payloadSize: number): Uint8Array[] {
    if (payloadSize < MIN_FRAGMENT_PAYLOAD) throw new RangeError(`ATT payload ${payloadSize} is below the BLE minimum of 20`);
    if (message.length < 1) throw new PlushlinkError('BAD_FRAME', 'cannot send an empty message');
    if (message.length > this.maxMessage) throw new PlushlinkError('MESSAGE_TOO_LONG', `message of ${message.length} bytes exceeds ${this.maxMessage}`);
    const next = (): number => {
      const s = this.seq;
      this.seq = (this.seq + 1) & 0x3f;
      return s;
    };
    if (message.length + 1 <= payloadSize) {
      const v = new Uint8Array(message.length + 1);
      v[0] = FRAG_START | FRAG_END | next();
      v.set(message, 1);
      return [v];
    }
    const out: Uint8Array[] = [];
    const firstData = payloadSize - 3;
    const first = new Uint8Array(payloadSize);
    first[0] = FRAG_START | next();
    first[1] = message.length >>> 8;
    first[2] = message.length & 0xff;
    first.set(message.subarray(0, firstData), 3);
    out.push(first);
    let off = firstData;
    while (off < message.length) {
      const n = Math.min(payloadSize - 1, message.length - off);
      const v = new Uint8Array(n + 1);
      const last = off + n >= message.length;
      v[0] = (last ? FRAG_END : 0) | next();
      v.set(message.subarray(off, off + n), 1);
      out.push(v);
      off += n;
    }
    return out;
  }

  /** Size of the fragments `fragment(message)` would produce for a message of `length` bytes (for batching decisions). */
  static fits(length: number, payloadSize: number): boolean {
    return length + 1 <= payloadSize;
  }
}

/**
 * The first byte of the message a fragment starts — on the control characteristic its kind
 * (PROTOCOL.md §4) — read from the fragment alone, before anything is buffered: byte 1 of a
 * single-fragment message (S and E set), byte 3 of a first fragment (S set, after the 2-byte
 * length). Undefined for a continuation fragment (S clear) or a first fragment too short to hold
 * the byte. A toy refuses a message that may not precede a session by this byte at its first
 * fragment (PROTOCOL.md §4, §11).
 */
export function firstFragmentKind(value: Uint8Array): number | undefined {
  const h = value[0];
  if (h === undefined || !(h & FRAG_START)) return undefined;
  return h & FRAG_END ? value[1] : value[3];
}

/** Outcome of feeding one ATT value to a {@link Reassembler}. */
export type ReassemblyResult =
  | { kind: 'message'; message: Uint8Array; /** bytes of an earlier partial message discarded on the way */ discarded?: number }
  | { kind: 'partial' }
  | { kind: 'error'; error: PlushlinkError; /** bytes of a partial message discarded */ discarded: number };

/**
 * Reassembles fragments for one characteristic and direction. Malformed input returns an
 * error result (never throws) and leaves the reassembler ready for the next message.
 */
export class Reassembler {
  private expectedSeq: number | undefined;
  private buf: Uint8Array | undefined;
  private filled = 0;

  constructor(readonly maxMessage: number = DEFAULT_MAX_MESSAGE) {}

  /** True while a message is partly received. */
  get busy(): boolean {
    return this.buf !== undefined;
  }

  push(value: Uint8Array): ReassemblyResult {
    if (value.length < 1) return this.fail('empty ATT value');
    const h = value[0]!;
    const seq = h & 0x3f;
    const start = (h & FRAG_START) !== 0;
    const end = (h & FRAG_END) !== 0;
    const gap = this.expectedSeq !== undefined && seq !== this.expectedSeq;
    this.expectedSeq = (seq + 1) & 0x3f;
    let discarded = 0;
    if (this.buf && (start || gap)) {
      // the previous message lost its tail
      discarded = this.filled;
      this.reset();
      if (!start) return this.fail('fragment counter gap: a fragment was lost', discarded);
    }
    if (start) {
      if (end) {
        if (value.length < 2) return this.fail('empty message', discarded);
        if (value.length - 1 > this.maxMessage) return { kind: 'error', error: new PlushlinkError('REASSEMBLY_OVERFLOW', `message of ${value.length - 1} bytes exceeds ${this.maxMessage}`), discarded };
        return { kind: 'message', message: value.slice(1), discarded };
      }
      if (value.length < 4) return this.fail('first fragment too short for its length field', discarded);
      const total = (value[1]! << 8) | value[2]!;
      if (total < 1) return this.fail('zero message length', discarded);
      if (total > this.maxMessage) {
        return { kind: 'error', error: new PlushlinkError('REASSEMBLY_OVERFLOW', `announced message of ${total} bytes exceeds ${this.maxMessage}`), discarded };
      }
      const data = value.subarray(3);
      if (data.length >= total) return this.fail('first fragment holds the whole message but lacks the end flag', discarded);
      this.buf = new Uint8Array(total);
      this.buf.set(data, 0);
      this.filled = data.length;
      return { kind: 'partial' };
    }
    if (!this.buf) return this.fail('continuation fragment without a first fragment', discarded);
    const data = value.subarray(1);
    if (this.filled + data.length > this.buf.length) {
      const d = this.filled;
      this.reset();
      return this.fail('fragments exceed the announced length', d);
    }
    this.buf.set(data, this.filled);
    this.filled += data.length;
    if (end) {
      if (this.filled !== this.buf.length) {
        const d = this.filled;
        this.reset();
        return this.fail('last fragment arrived before the announced length was reached', d);
      }
      const message = this.buf;
      this.reset();
      return { kind: 'message', message };
    }
    if (this.filled === this.buf.length) {
      const d = this.filled;
      this.reset();
      return this.fail('announced length reached without the end flag', d);
    }
    return { kind: 'partial' };
  }

  /**
   * Takes an ATT value without its content: the fragment counter moves on as for any value (rule 3
   * of PROTOCOL.md §3) and a partial message is discarded. For a receiver that refused a message
   * at its first fragment and drops the rest of it (§4). Returns true when `value` is the last
   * fragment of a message (E set) or empty.
   */
  skip(value: Uint8Array): boolean {
    const h = value[0];
    this.reset();
    if (h === undefined) return true;
    this.expectedSeq = ((h & 0x3f) + 1) & 0x3f;
    return (h & FRAG_END) !== 0;
  }

  /** Forgets any partial message (e.g. on disconnect). */
  reset(): void {
    this.buf = undefined;
    this.filled = 0;
  }

  private fail(msg: string, discarded = 0): ReassemblyResult {
    this.reset();
    return { kind: 'error', error: new PlushlinkError('BAD_FRAME', msg), discarded };
  }
}

