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
import { describe, expect, it } from 'vitest';
import { ed25519Verify } from '../../src/protocol/crypto.js';
import {
  Tally,
  WYCHEPROOF_AVAILABLE,
  caseTitle,
  hex,
  loadWycheproof,
  wycheproofSuiteTitle,
  type EddsaGroup,
  type EddsaTest,
} from '../helpers/wycheproof.js';
import { CRYPTO_BACKENDS, useCryptoBackendInSuite } from '../helpers/backends.js';

const MIN_VECTORS = 151;

const data = WYCHEPROOF_AVAILABLE ? loadWycheproof<EddsaGroup, EddsaTest>('ed25519_test.json', 'EDDSA') : undefined;
const cases = data?.cases ?? [];

describe.skipIf(!WYCHEPROOF_AVAILABLE).each(CRYPTO_BACKENDS)(wycheproofSuiteTitle('Wycheproof Ed25519 via crypto.ed25519Verify [$name back end]'), (backend) => {
  useCryptoBackendInSuite(backend);
  const tally = new Tally();

  for (const { group, test: t } of cases) {
    it(caseTitle(t), () => {
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
      tally.pass(t.result);
    });
  }

  it('checked every vector of the file under the stated policy', () => {
    expect(data).toBeDefined();
    expect(cases.length).toBe(data!.file.numberOfTests);
    expect(cases.length).toBeGreaterThanOrEqual(MIN_VECTORS);
    expect(tally.checked).toEqual(Tally.expected(cases));
    expect(tally.passed).toBe(cases.length);
    expect(tally.checked.invalid).toBeGreaterThanOrEqual(60);
    console.info(tally.summary('ed25519_test.json'));
  });
});
