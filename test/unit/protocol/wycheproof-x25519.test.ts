/**
 * X25519 through `x25519()` of src/protocol/crypto.ts over Wycheproof `x25519_test.json`.
 *
 * Policy (docs/PROTOCOL.md, "Wycheproof policy"):
 * - `valid`: the RFC 7748 shared secret is returned.
 * - `invalid`: the call throws a PlushlinkError.
 * - `acceptable`, decided per flag:
 *   - `LowOrderPublic` / `ZeroSharedSecret`: REFUSED with `LOW_ORDER_POINT` (RFC 7748 §6.1 check).
 *   - `Twist`, `NonCanonicalPublic`, `SpecialPublicKey`, `EdgeCaseMultiplication`,
 *     `EdgeCaseShared`, `Ktv`: ACCEPTED with exactly the RFC 7748 result.
 *   - any other flag on an `acceptable` case has no policy yet and fails the test.
 */
import { expect } from 'vitest';
import { isLowOrderX25519Key, x25519 } from '../../../src/protocol/crypto.js';
import { toHex } from '../../../src/protocol/bytes.js';
import { hex, thrownCode, wycheproofSuite, type XdhCompGroup, type XdhCompTest } from '../../helpers/wycheproof.js';

/** Flags of `acceptable` cases that plushlink refuses (the peer's key is low order). */
const REFUSE_FLAGS = new Set(['LowOrderPublic', 'ZeroSharedSecret']);
/** Flags of `acceptable` cases that plushlink accepts with the RFC 7748 result. */
const ACCEPT_FLAGS = new Set([
  'Twist',
  'NonCanonicalPublic',
  'SpecialPublicKey',
  'EdgeCaseMultiplication',
  'EdgeCaseShared',
  'Ktv',
  'SmallPublicKey', // only ever seen together with LowOrderPublic, which wins (refused)
]);
/** Lower bound on the vectors in the file, so a truncated file cannot pass. */
const MIN_VECTORS = 518;

type Decision = 'accept' | 'refuse' | 'reject';

function decide(t: XdhCompTest): Decision {
  if (t.result === 'valid') return 'accept';
  if (t.result === 'invalid') return 'reject';
  if (t.flags.some((f) => REFUSE_FLAGS.has(f))) return 'refuse';
  const unknown = t.flags.filter((f) => !ACCEPT_FLAGS.has(f));
  if (unknown.length > 0 || t.flags.length === 0) {
    throw new Error(`tcId ${t.tcId}: no stated policy for acceptable flag(s) ${unknown.join(',') || '(none)'}`);
  }
  return 'accept';
}

wycheproofSuite<XdhCompGroup, XdhCompTest>({
  title: 'Wycheproof X25519 via crypto.x25519 [$name back end]',
  file: 'x25519_test.json',
  algorithm: 'XDH',
  minVectors: MIN_VECTORS,
  check(group, t) {
    expect(group.curve).toBe('curve25519');
    const priv = hex(t.private);
    const pub = hex(t.public);
    const shared = hex(t.shared);
    const decision = decide(t);
    // isLowOrderX25519Key (a key refused where it enters, MESSAGES §2.1) says exactly which
    // public keys x25519 refuses, whatever the secret.
    if (pub.length === 32) expect(isLowOrderX25519Key(pub)).toBe(decision === 'refuse');
    if (decision === 'accept') {
      expect(toHex(x25519(priv, pub))).toBe(t.shared);
    } else if (decision === 'refuse') {
      // The refusal is exactly the RFC 7748 §6.1 all-zero check: the RFC result is zero.
      expect(shared.every((b) => b === 0)).toBe(true);
      expect(thrownCode(() => x25519(priv, pub))).toBe('LOW_ORDER_POINT');
    } else {
      thrownCode(() => x25519(priv, pub));
    }
  },
  coverage(cases) {
    // Both sides of the acceptable policy are exercised.
    const decisions = cases.map((c) => decide(c.test));
    expect(decisions.filter((d) => d === 'refuse').length).toBeGreaterThanOrEqual(30);
    expect(cases.filter((c) => c.test.result === 'acceptable' && decide(c.test) === 'accept').length).toBeGreaterThanOrEqual(200);
  },
});
