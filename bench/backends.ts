/**
 * The two crypto back ends the bench measures side by side (docs/PROTOCOL.md §18): Node's
 * `node:crypto` (OpenSSL; what `plushlink` uses on Node) and the portable pure-JS one (what
 * browsers and React Native use). Rows of a crypto-bound figure carry the back end in their
 * variant, e.g. `60 ms (3 frames), node`, so `--json` keys are `figures[key][variant]`.
 */
import { nodeCryptoBackend } from '../src/crypto-node/index.js';
import { pureCryptoBackend, useCryptoBackend, type CryptoBackend } from '../src/protocol/crypto.js';

export const BENCH_BACKENDS: readonly CryptoBackend[] = [nodeCryptoBackend, pureCryptoBackend];

/** Runs `fn` with back end `b` in the seam, then puts the previous one back. */
export async function onBackend<T>(b: CryptoBackend, fn: () => Promise<T> | T): Promise<T> {
  const prev = useCryptoBackend(b);
  try {
    return await fn();
  } finally {
    useCryptoBackend(prev);
  }
}

/** A row variant with its back end: `case, node`. */
export function withBackend(variant: string, b: CryptoBackend): string {
  return variant ? `${variant}, ${b.name}` : b.name;
}
