/**
 * Ed25519 verification through `ed25519Verify()` of src/protocol/crypto.ts over Wycheproof
 * `ed25519_test.json`.
 *
 * Policy (docs/PROTOCOL.md, "Wycheproof policy"): `ed25519Verify` never throws on attacker
 * input.
 * - `valid`: returns `true`.
 * - `invalid` (malleable S ≥ L, non-canonical encodings, truncated or padded signatures,
 *   forged edge values): returns `false`.
 * - `acceptable`: none in the file; any such case fails the test until a policy is stated.
 */
import { expect } from 'vitest';
import { ed25519Verify } from '../../../src/protocol/crypto.js';
import { hex, wycheproofSuite, type EddsaGroup, type EddsaTest } from '../../helpers/wycheproof.js';

wycheproofSuite<EddsaGroup, EddsaTest>({
  title: 'Wycheproof Ed25519 via crypto.ed25519Verify [$name back end]',
  file: 'ed25519_test.json',
  algorithm: 'EDDSA',
  minVectors: 151,
  check(group, t) {
    expect(group.publicKey.curve).toBe('edwards25519');
    const pk = hex(group.publicKey.pk);
    let verdict: boolean | undefined;
    expect(() => {
      verdict = ed25519Verify(pk, hex(t.msg), hex(t.sig));
    }).not.toThrow();
    if (t.result === 'valid') {
      expect(verdict).toBe(true);
    } else if (t.result === 'invalid') {
      expect(verdict).toBe(false);
    } else {
      throw new Error(`tcId ${t.tcId}: no stated policy for an acceptable Ed25519 case [${t.flags.join(',')}]`);
    }
  },
  coverage(cases) {
    expect(cases.filter((c) => c.test.result === 'invalid').length).toBeGreaterThanOrEqual(60);
  },
});
