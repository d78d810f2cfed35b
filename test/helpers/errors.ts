/** Error helpers shared by the unit tests. */
import { PlushlinkError } from '../../src/protocol/errors.js';

/**
 * The code of the PlushlinkError `fn` throws; `untyped: …` for any other throw (so an untyped
 * error never passes for a typed one, nor for "no error"); undefined when it returns.
 */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof PlushlinkError ? e.code : `untyped: ${String(e)}`;
  }
  return undefined;
}

/**
 * What `fn` throws, named: a PlushlinkError's code, else the error's name (`RangeError` for a
 * value out of range); undefined when it returns. For APIs whose contract includes built-in
 * errors besides typed ones.
 */
export function codeOrNameOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? (e as Error).name;
  }
  return undefined;
}

/** The PlushlinkError `f` throws (any other throw is rethrown; no throw fails the test). */
export function errorOf(f: () => unknown): PlushlinkError {
  try {
    f();
  } catch (e) {
    if (e instanceof PlushlinkError) return e;
    throw e;
  }
  throw new Error('no error');
}
