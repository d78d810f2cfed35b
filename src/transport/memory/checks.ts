/**
 * Small helpers of the in-memory radio: its typed errors, argument checks, and listener calls
 * that cannot corrupt the radio's state.
 */
import { PlushlinkError } from '../../protocol/errors.js';
import { attPayload } from '../../protocol/gatt.js';
import { MAX_ATT_MTU, MIN_ATT_MTU } from '../types.js';
import type { DisconnectReason } from './types.js';

/** Default ATT MTU of centrals and peripherals. */
export const DEFAULT_MTU = 247;

export function disconnectedError(reason: DisconnectReason): PlushlinkError {
  return new PlushlinkError('DISCONNECTED', `link disconnected (${reason})`, { reason });
}

export function closedError(what: string): PlushlinkError {
  return new PlushlinkError('TRANSPORT_UNAVAILABLE', `${what} is closed`);
}

export function emitSafely(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    // A throwing listener is the application's bug; surface it without corrupting radio state.
    queueMicrotask(() => {
      throw e;
    });
  }
}

export function checkNumber(name: string, v: number | undefined, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new RangeError(`${name} must be a number in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

export function checkInt(name: string, v: number | undefined, min: number, max: number, dflt: number): number {
  const n = checkNumber(name, v, min, max, dflt);
  if (!Number.isInteger(n)) throw new RangeError(`${name} must be an integer, got ${n}`);
  return n;
}

export function checkValue(value: unknown, mtu: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new PlushlinkError('BAD_FRAME', 'value must be a Uint8Array');
  const max = attPayload(mtu);
  if (value.length > max) {
    throw new PlushlinkError('BAD_FRAME', `value of ${value.length} bytes exceeds ATT payload mtu − 3 = ${max}`, {
      length: value.length,
      max,
    });
  }
  return value.slice();
}

export function clampMtu(a: number, b: number): number {
  return Math.min(MAX_ATT_MTU, Math.max(MIN_ATT_MTU, Math.min(a, b)));
}
