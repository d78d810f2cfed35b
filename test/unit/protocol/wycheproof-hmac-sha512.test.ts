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
import { expect } from 'vitest';
import { hmacSha512 } from '../../../src/protocol/crypto.js';
import { bytesEqual, toHex } from '../../../src/protocol/bytes.js';
import { hex, wycheproofSuite, type MacGroup, type MacTest } from '../../helpers/wycheproof.js';

const MIN_VECTORS = 174;

wycheproofSuite<MacGroup, MacTest>({
  title: 'Wycheproof HMAC-SHA-512 via crypto.hmacSha512 [$name back end]',
  file: 'hmac_sha512_test.json',
  algorithm: 'HMACSHA512',
  minVectors: MIN_VECTORS,
  check(group, t) {
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
  },
  coverage(cases) {
    // Full-length and truncated tags are both exercised.
    expect(cases.filter((c) => c.group.tagSize === 512).length).toBeGreaterThanOrEqual(80);
    expect(cases.filter((c) => c.group.tagSize < 512).length).toBeGreaterThanOrEqual(80);
  },
});
