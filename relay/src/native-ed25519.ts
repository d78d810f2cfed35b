/**
 * Ed25519 verification with Node's own `node:crypto` (OpenSSL): about a hundred times faster than
 * the pure-JS verifier, and, like it, refuses a non-canonical S ≥ L (checked here too, so the
 * rule does not depend on the OpenSSL build). Public keys are cached as KeyObjects.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const L = Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex');
const cache = new Map<string, KeyObject>();
const CACHE_MAX = 4096;

function canonicalS(signature: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = signature[32 + i]!;
    const l = L[i]!;
    if (s !== l) return s < l;
  }
  return false;
}

function keyObject(publicKey: Uint8Array): KeyObject | undefined {
  const hex = Buffer.from(publicKey).toString('hex');
  let k = cache.get(hex);
  if (k) return k;
  try {
    k = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
  cache.set(hex, k);
  return k;
}

/** Ed25519 verify; false for any malformed input, never throws. */
export function nativeEd25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64 || !canonicalS(signature)) return false;
  const k = keyObject(publicKey);
  if (!k) return false;
  try {
    return verify(null, message, k, signature);
  } catch {
    return false;
  }
}
