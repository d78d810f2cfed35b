/** Value conversions shared by the SQLite and PostgreSQL back ends (docs/RELAY.md §6). */

/** A BLOB / bytea column as a plain Uint8Array (what the interface hands out). */
export function toBytes(value: unknown, backend: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new Error(`${backend} store: expected a byte column`);
  return new Uint8Array(value);
}

/** Bytes as a Buffer view (what both drivers bind), without a copy. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A listing's limit: a non-negative safe integer. */
export function checkLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`limit must be a non-negative integer, got ${limit}`);
  return limit;
}
