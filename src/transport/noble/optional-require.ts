/**
 * Lazy loading of the optional Bluetooth packages (`@abandonware/noble`, `@abandonware/bleno`).
 * Nothing here runs at import time: importing plushlink never touches Bluetooth.
 */
import { createRequire } from 'node:module';
import { PlushlinkError } from '../../protocol/errors.js';

/**
 * `require`s `specifier` (a path inside `packageName`) at call time. A missing package becomes a
 * `TRANSPORT_UNAVAILABLE` error naming it; any other load failure (e.g. a native addon that did not
 * build, or `EAFNOSUPPORT` on a machine without Bluetooth sockets) becomes `TRANSPORT_UNAVAILABLE`
 * with the original error as `cause`.
 */
export function requireOptional<T>(packageName: string, specifier: string = packageName): T {
  const req = createRequire(import.meta.url);
  try {
    return req(specifier) as T;
  } catch (e) {
    throw toUnavailable(packageName, specifier, e);
  }
}

/** Where every TRANSPORT_UNAVAILABLE from a Bluetooth package sends people (docs/HARDWARE.md). */
const DOCTOR = 'run `npx plushlink doctor` to see what is missing and how to fix it (docs/HARDWARE.md)';

/** Wraps a load/initialisation failure of an optional Bluetooth package. */
export function toUnavailable(packageName: string, what: string, e: unknown): PlushlinkError {
  if (e instanceof PlushlinkError) return e;
  const err = e as { code?: unknown; message?: unknown } | null;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  const message = typeof err?.message === 'string' ? err.message : String(e);
  if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') {
    return new PlushlinkError(
      'TRANSPORT_UNAVAILABLE',
      `${packageName} is not installed or did not build (it is needed for the real Bluetooth transport): ${DOCTOR}`,
      { package: packageName, module: what },
      { cause: e },
    );
  }
  return new PlushlinkError(
    'TRANSPORT_UNAVAILABLE',
    `${packageName} could not be loaded or has no usable Bluetooth adapter: ${message}; ${DOCTOR}`,
    { package: packageName, module: what, ...(code ? { errno: code } : {}) },
    { cause: e },
  );
}
