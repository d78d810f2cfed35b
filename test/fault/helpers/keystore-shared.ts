/** Shared by the keystore crash test and its child: the deterministic keystore content of version k. */
import type { KeystoreData } from '../../../src/companion/keystore.js';
import { x25519KeyPairFromSecret } from '../../../src/protocol/crypto.js';
import { fromHex, toHex } from '../../../src/protocol/bytes.js';
import { toyKeyFingerprint } from '../../../src/protocol/setup-code.js';

const hex = (seed: number): string => {
  let s = '';
  let x = seed >>> 0 || 1;
  for (let i = 0; i < 64; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    s += ((x >>> 0) & 15).toString(16);
  }
  return s;
};

const identity = x25519KeyPairFromSecret(fromHex(hex(2)));
const fingerprints = new Map<number, string>();
const fingerprint = (i: number): string => {
  let f = fingerprints.get(i);
  if (f === undefined) fingerprints.set(i, (f = toyKeyFingerprint(fromHex(hex(1000 + i)))));
  return f;
};

/**
 * Version k (k ≥ 1): k toys (capped at 200), and the version number in the display name. Valid
 * for the keystore schema: the identity's public key is its secret key's, toy ids are fingerprints.
 */
export function keystoreVersion(k: number): KeystoreData {
  const toys = Array.from({ length: Math.min(k, 200) }, (_, i) => ({
    id: fingerprint(i),
    name: `toy ${i} of version ${k} ${'~'.repeat(i % 17)}`,
    toyPublicKey: hex(1000 + i),
    advertisingKey: hex(5000 + i * 7 + k),
    role: (i === 0 ? 'owner' : 'guest') as 'owner' | 'guest',
    firmwareVersion: '1.0.0',
    capabilities: 15,
    speakerBufferMs: 400,
    pairedAt: 1_700_000_000_000 + i,
  }));
  return { version: 1, identity: { publicKey: toHex(identity.publicKey), secretKey: hex(2) }, displayName: `version ${k}`, toys };
}

/** The version number of stored content, from its display name. */
export function versionOf(d: KeystoreData): number {
  const m = /^version (\d+)$/.exec(d.displayName);
  if (!m) throw new Error(`not a test version: ${d.displayName}`);
  return Number(m[1]);
}
