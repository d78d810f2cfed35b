/**
 * Every vector runs against both crypto back ends (docs/PROTOCOL.md §18): the portable one
 * (tweetnacl, @noble/*) and Node's `node:crypto` (OpenSSL). A suite calls
 * {@link useCryptoBackendInSuite} at its top; its tests then run with that back end installed
 * in the seam (src/protocol/crypto.ts), and the previous one is put back afterwards.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { nodeCryptoAvailable, nodeCryptoBackend } from '../../src/crypto-node/index.js';
import { cryptoBackend, pureCryptoBackend, useCryptoBackend, type CryptoBackend } from '../../src/protocol/crypto.js';

/** Both back ends; `describe.each(CRYPTO_BACKENDS)('… [$name]', (b) => …)`. */
export const CRYPTO_BACKENDS: readonly CryptoBackend[] = [pureCryptoBackend, nodeCryptoBackend];

/** Call inside a `describe`: its tests run with `b` in the seam. Also asserts the switch took. */
export function useCryptoBackendInSuite(b: CryptoBackend): void {
  let prev: CryptoBackend | undefined;
  beforeAll(() => {
    // Node's OpenSSL must have every primitive: CI must not quietly test one back end twice.
    if (b === nodeCryptoBackend) expect(nodeCryptoAvailable()).toBe(true);
    prev = useCryptoBackend(b);
  });
  afterAll(() => {
    if (prev) useCryptoBackend(prev);
  });
  it(`runs on the ${b.name} crypto back end`, () => {
    expect(cryptoBackend().name).toBe(b.name);
  });
}
