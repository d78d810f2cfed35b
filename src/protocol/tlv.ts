/**
 * The versioned TLV encoding used by handshake payloads and control messages
 * (PROTOCOL.md "TLV encoding"): one version byte, then items of
 * `type (1 byte) | length (1 byte) | value (length bytes)`.
 *
 * Types 0x00–0x7F are optional: a reader ignores unknown ones. Types 0x80–0xFF are
 * critical: a reader that does not know one must reject the whole payload. Each type may
 * appear at most once.
 */
import { PlushlinkError } from './errors.js';

export type TlvMap = Map<number, Uint8Array>;

/** Encodes items (in the given order) after the version byte. */
export function encodeTlv(version: number, items: [type: number, value: Uint8Array][]): Uint8Array {
  let n = 1;
  for (const [, v] of items) n += 2 + v.length;
  const out = new Uint8Array(n);
  out[0] = version;
  let o = 1;
  for (const [t, v] of items) {
    if (!Number.isInteger(t) || t < 0 || t > 255) throw new RangeError(`TLV type ${t} out of range`);
    if (v.length > 255) throw new RangeError(`TLV value of type ${t} is longer than 255 bytes`);
    out[o++] = t;
    out[o++] = v.length;
    out.set(v, o);
    o += v.length;
  }
  return out;
}

/**
 * Decodes a TLV payload. Throws `BAD_PAYLOAD` for truncation, duplicates or an unknown
 * critical type, and `UNKNOWN_VERSION` when the version byte is not `version`.
 */
export function decodeTlv(bytes: Uint8Array, version: number, knownTypes: ReadonlySet<number>, what: string): TlvMap {
  if (bytes.length < 1) throw new PlushlinkError('BAD_PAYLOAD', `${what}: empty`);
  if (bytes[0] !== version) throw new PlushlinkError('UNKNOWN_VERSION', `${what}: version ${bytes[0]} is not supported (expected ${version})`, { version: bytes[0] });
  const map: TlvMap = new Map();
  let o = 1;
  while (o < bytes.length) {
    if (bytes.length - o < 2) throw new PlushlinkError('BAD_PAYLOAD', `${what}: truncated item header at byte ${o}`);
    const t = bytes[o]!;
    const len = bytes[o + 1]!;
    o += 2;
    if (bytes.length - o < len) throw new PlushlinkError('BAD_PAYLOAD', `${what}: item 0x${t.toString(16)} truncated`);
    if (map.has(t)) throw new PlushlinkError('BAD_PAYLOAD', `${what}: item 0x${t.toString(16)} appears twice`);
    if (knownTypes.has(t)) map.set(t, bytes.slice(o, o + len));
    else if (t >= 0x80) throw new PlushlinkError('BAD_PAYLOAD', `${what}: unknown critical item 0x${t.toString(16)}`);
    else map.set(t, new Uint8Array(0)); // remember presence for the duplicate check; value ignored
    o += len;
  }
  for (const t of [...map.keys()]) if (!knownTypes.has(t)) map.delete(t);
  return map;
}

/** `n` as 2 big-endian bytes; `BAD_PAYLOAD` unless it is an integer 0…65535 (never wrapped). */
export function u16be(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new PlushlinkError('BAD_PAYLOAD', `${n} is not an integer 0…65535`);
  return new Uint8Array([n >>> 8, n & 0xff]);
}

/** `n` as 4 big-endian bytes; `BAD_PAYLOAD` unless it is an integer 0…2^32 − 1 (never wrapped). */
export function u32be(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new PlushlinkError('BAD_PAYLOAD', `${n} is not an integer 0…4294967295`);
  return new Uint8Array([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

/** Reads a big-endian unsigned integer of exactly `len` bytes, or throws `BAD_PAYLOAD`. */
export function readUint(v: Uint8Array | undefined, len: 1 | 2 | 4, what: string): number {
  if (!v || v.length !== len) throw new PlushlinkError('BAD_PAYLOAD', `${what}: expected ${len}-byte integer`);
  let n = 0;
  for (const b of v) n = n * 256 + b;
  return n;
}
