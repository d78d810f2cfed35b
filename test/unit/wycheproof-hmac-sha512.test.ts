/**
 * HMAC-SHA-512 through `hmacSha512()` of src/protocol/crypto.ts over Wycheproof
 * `hmac_sha512_test.json`.
 *
 * Policy (docs/PROTOCOL.md, "Wycheproof policy"): the tag is compared on its first
 * `tagSize / 8` bytes, as Wycheproof specifies for truncated MACs.
 * - `valid`: the truncated output equals `tag`.
 * - `invalid` (modified tag): the truncated output differs from `tag`.
 * - `acceptable`: none in the file; any such case fails the test until a policy is stated.
 */
import { describe, expect, it } from 'vitest';
import { hmacSha512 } from '../../src/protocol/crypto.js';
import { bytesEqual, toHex } from '../../src/protocol/bytes.js';
import {
  Tally,
  WYCHEPROOF_AVAILABLE,
  caseTitle,
  hex,
  loadWycheproof,
  wycheproofSuiteTitle,
  type MacGroup,
  type MacTest,
} from '../helpers/wycheproof.js';
import { CRYPTO_BACKENDS, useCryptoBackendInSuite } from '../helpers/backends.js';

const MIN_VECTORS = 174;

const data = WYCHEPROOF_AVAILABLE ? loadWycheproof<MacGroup, MacTest>('hmac_sha512_test.json', 'HMACSHA512') : undefined;
const cases = data?.cases ?? [];

describe.skipIf(!WYCHEPROOF_AVAILABLE).each(CRYPTO_BACKENDS)(wycheproofSuiteTitle('Wycheproof HMAC-SHA-512 via crypto.hmacSha512 [$name back end]'), (backend) => {
  useCryptoBackendInSuite(backend);
  const tally = new Tally();

  for (const { group, test: t } of cases) {
    it(caseTitle(t), () => {
      const key = hex(t.key);
      const tag = hex(t.tag);
      expect(key.length * 8).toBe(group.keySize);
      expect(group.tagSize % 8).toBe(0);
      const tagLen = group.tagSize / 8;
      expect(tag.length).toBe(tagLen);
      const full = hmacSha512(key, hex(t.msg));
      expect(full.length).toBe(64);
      const truncated = full.subarray(0, tagLen);
      if (t.result === 'valid') {
        expect(toHex(truncated)).toBe(t.tag);
      } else if (t.result === 'invalid') {
        expect(bytesEqual(truncated, tag)).toBe(false);
      } else {
        throw new Error(`tcId ${t.tcId}: no stated policy for an acceptable HMAC case [${t.flags.join(',')}]`);
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
    // Full-length and truncated tags are both exercised.
    expect(cases.filter((c) => c.group.tagSize === 512).length).toBeGreaterThanOrEqual(80);
    expect(cases.filter((c) => c.group.tagSize < 512).length).toBeGreaterThanOrEqual(80);
    console.info(tally.summary('hmac_sha512_test.json'));
  });
});
