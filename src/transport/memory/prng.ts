/**
 * A small seeded pseudo-random generator (mulberry32) for reproducible fault injection and
 * jitter. NOT cryptographic: never use it for keys, nonces, codes, addresses, tags or anything
 * else an observer could use to predict or link (PROTOCOL.md §12): those come from the CSPRNG.
 */

/** Returns a function yielding uniform floats in [0, 1) from a 32-bit seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
