/**
 * Small-order Ed25519 public keys (docs/PROTOCOL.md §18): anyone can make signatures that verify
 * under one, without any secret, so such a key names no one. `isSmallOrderEd25519Key` must flag
 * exactly every encoding of such a point, and no verifier plushlink uses may accept a signature
 * under one — the back ends' own verifiers do.
 *
 * The small-order points are computed here from the curve equation (test/helpers/ed25519-torsion.ts),
 * independently of the list in src/protocol/crypto.ts.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ed25519KeyPairFromSeed,
  ed25519Verify,
  isSmallOrderEd25519Key,
  withEd25519Policy,
} from '../../../src/protocol/crypto.js';
import { toHex, utf8 } from '../../../src/protocol/bytes.js';
import { CRYPTO_BACKENDS, useCryptoBackendInSuite } from '../../helpers/backends.js';
import {
  edDecode,
  edEncode,
  edMul,
  forgeUnderSmallOrderKey,
  isIdentity,
  smallOrderEncodings,
  torsionPoints,
} from '../../helpers/ed25519-torsion.js';

const TORSION = torsionPoints();
const ENCODINGS = smallOrderEncodings(TORSION);

describe('isSmallOrderEd25519Key', () => {
  it('the eight points of order dividing 8 are distinct and each has [8]T = O', () => {
    expect(new Set(TORSION.map((t) => toHex(edEncode(t)))).size).toBe(8);
    for (const t of TORSION) expect(isIdentity(edMul(8n, t))).toBe(true);
    // orders 1, 2, 4, 4, 8, 8, 8, 8
    const orders = TORSION.map((t) => [1n, 2n, 4n, 8n].find((n) => isIdentity(edMul(n, t)))).sort();
    expect(orders).toEqual([1n, 2n, 4n, 4n, 8n, 8n, 8n, 8n]);
  });

  it('flags every encoding of a small-order point: 7 y-values, either sign bit (14 strings)', () => {
    expect(ENCODINGS).toHaveLength(14);
    for (const e of ENCODINGS) {
      const point = edDecode(e);
      expect(point, toHex(e)).toBeDefined();
      expect(isIdentity(edMul(8n, point!)), toHex(e)).toBe(true);
      expect(isSmallOrderEd25519Key(e), toHex(e)).toBe(true);
    }
  });

  it('flags nothing else: every one-bit change of a small-order encoding but the sign bit', () => {
    const flagged = new Set(ENCODINGS.map(toHex));
    for (const e of ENCODINGS) {
      for (let bit = 0; bit < 255; bit++) {
        const k = Uint8Array.from(e);
        k[bit >> 3]! ^= 1 << (bit & 7);
        expect(isSmallOrderEd25519Key(k), `${toHex(e)} bit ${bit}`).toBe(flagged.has(toHex(k)));
      }
    }
  });

  it('flags no real public key and no other random string; only 32-byte keys', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
        expect(isSmallOrderEd25519Key(ed25519KeyPairFromSeed(seed).publicKey)).toBe(false);
        const point = edDecode(seed);
        const small = point !== undefined && isIdentity(edMul(8n, point));
        expect(isSmallOrderEd25519Key(seed)).toBe(small);
      }),
      { numRuns: 64 },
    );
    expect(isSmallOrderEd25519Key(new Uint8Array(31))).toBe(false);
    expect(isSmallOrderEd25519Key(new Uint8Array(33))).toBe(false);
  });
});

describe.each(CRYPTO_BACKENDS)('signatures under small-order keys [$name back end]', (backend) => {
  useCryptoBackendInSuite(backend);
  const messages = Array.from({ length: 24 }, (_, i) => utf8(`plushlink relay request ${i}`));
  /** The first message the raw back end accepts a forged signature for, under `key`. */
  function forgery(key: Uint8Array): { message: Uint8Array; signature: Uint8Array } | undefined {
    for (const message of messages) {
      const signature = forgeUnderSmallOrderKey(key, message, backend.ed25519Verify, TORSION);
      if (signature) return { message, signature };
    }
    return undefined;
  }
  const forgeries = ENCODINGS.map((key) => ({ key, forged: forgery(key) }));

  it('the raw back end accepts forged signatures under every canonical small-order key (so the policy is what protects)', () => {
    const canonical = new Set(TORSION.map((t) => toHex(edEncode(t))));
    const forgedCanonical = forgeries.filter((f) => canonical.has(toHex(f.key)) && f.forged !== undefined);
    expect(forgedCanonical.map((f) => toHex(f.key)).sort()).toEqual([...canonical].sort());
  });

  it('ed25519Verify and any verifier under withEd25519Policy refuse every signature under every encoding', () => {
    const acceptAll = withEd25519Policy(() => true);
    for (const { key, forged } of forgeries) {
      const { message, signature } = forged ?? { message: messages[0]!, signature: new Uint8Array(64) };
      if (forged) expect(backend.ed25519Verify(key, message, signature)).toBe(true);
      expect(ed25519Verify(key, message, signature), toHex(key)).toBe(false);
      expect(withEd25519Policy(backend.ed25519Verify)(key, message, signature), toHex(key)).toBe(false);
      expect(acceptAll(key, message, signature), toHex(key)).toBe(false);
    }
  });

  it('the policy still passes real signatures to the verifier', () => {
    const pair = ed25519KeyPairFromSeed(new Uint8Array(32).fill(3));
    const { ed25519Sign } = backend;
    const sig = ed25519Sign(pair.secretKey, messages[0]!);
    expect(ed25519Verify(pair.publicKey, messages[0]!, sig)).toBe(true);
    expect(withEd25519Policy(() => true)(pair.publicKey, messages[1]!, sig)).toBe(true);
    expect(withEd25519Policy(() => false)(pair.publicKey, messages[0]!, sig)).toBe(false);
    // A verifier already under the policy comes back as it is (not checked twice).
    const policed = withEd25519Policy(backend.ed25519Verify);
    expect(withEd25519Policy(policed)).toBe(policed);
    expect(withEd25519Policy()).toBe(ed25519Verify);
    expect(withEd25519Policy(ed25519Verify)).toBe(ed25519Verify);
    expect(
      withEd25519Policy(() => {
        throw new Error('boom');
      })(pair.publicKey, messages[0]!, sig),
    ).toBe(false);
  });
});
