/**
 * The relay's request authentication at its edges (src/messages/http-signature.ts, docs/RELAY.md
 * §3.3): requests whose signature is valid for what they say but that break the profile (covered
 * components, parameters and their order, alg and tag, a non-canonical nonce) are refused, not
 * merely left to the signature check; header sources (`Headers`, repeated fields); a target not
 * starting with "/"; an undecodable Content-Digest; the clock-skew detail. Written for survivors
 * of the src/messages mutation run.
 */
import { describe, expect, it } from 'vitest';
import { toBase64, toBase64Url, toHex } from '../../../src/protocol/bytes.js';
import { ed25519Sign } from '../../../src/protocol/crypto.js';
import { PlushlinkError } from '../../../src/protocol/errors.js';
import { contentDigest, generateFamilyIdentity, signatureBase, signRequest, verifyRequest } from '../../../src/messages/index.js';
import { codeOf } from '../../helpers/errors.js';

const alice = generateFamilyIdentity('Alice');
const NOW = 1_767_225_600;
const req = { method: 'POST', target: '/v1/envelopes/ab?to=cd', body: new Uint8Array([1, 2, 3]) };
const keyId = toHex(alice.signPublicKey);
const nonce = toBase64Url(new Uint8Array(16).fill(7));

/** Headers for `params` (the inner list after `sig1=`), validly signed by Alice over that exact input. */
function signedWith(params: string): Record<string, string> {
  const digest = contentDigest(req.body);
  const sig = ed25519Sign(alice.signSecretKey, signatureBase(req, digest, params));
  return { 'content-digest': digest, 'signature-input': `sig1=${params}`, signature: `sig1=:${toBase64(sig)}:` };
}
const COMPONENTS = '("@method" "@path" "@query" "content-digest")';
const params = (o: { components?: string; tail?: string; nonce?: string } = {}): string =>
  `${o.components ?? COMPONENTS};created=${NOW};nonce="${o.nonce ?? nonce}";keyid="${keyId}"${o.tail ?? ';alg="ed25519";tag="plushlink-relay-v1"'}`;
const verify = (headers: Parameters<typeof verifyRequest>[1], r = req) => codeOf(() => verifyRequest(r, headers, { now: NOW }));

describe('request authentication: the profile is enforced even under a valid signature', () => {
  it('our hand-made signature of the exact profile verifies', () => {
    expect(verify(signedWith(params()))).toBeUndefined();
  });

  it('other covered components, parameters out of order or missing, another alg or tag: RELAY_BAD_SIGNATURE', () => {
    for (const p of [
      params({ components: '("@method" "@path" "@query")' }),
      params({ components: '("@method" "@query" "@path" "content-digest")' }),
      params({ tail: ';tag="plushlink-relay-v1";alg="ed25519"' }),
      params({ tail: ';alg="ed25519"' }),
      params({ tail: ';alg="ed25519";tag="another-protocol"' }),
      params({ tail: ';alg="rsa-pss-sha512";tag="plushlink-relay-v1"' }),
    ]) {
      expect(verify(signedWith(p)), p).toBe('RELAY_BAD_SIGNATURE');
    }
  });

  it('a nonce of 22 characters that is not canonical base64url of 16 bytes: RELAY_BAD_SIGNATURE', () => {
    const bad = nonce.slice(0, 21) + 'B'; // the last symbol's padding bits set
    expect(bad.length).toBe(22);
    expect(verify(signedWith(params({ nonce: bad })))).toBe('RELAY_BAD_SIGNATURE');
    expect(verify(signedWith(params({ nonce: '!'.repeat(22) })))).toBe('RELAY_BAD_SIGNATURE');
  });
});

describe('request authentication: header sources and inputs', () => {
  const headers = signRequest(req, alice, { created: NOW, nonce: new Uint8Array(16).fill(9) });

  it('a Headers object works like a plain object', () => {
    expect(verify(new Headers(headers))).toBeUndefined();
    const h = new Headers(headers);
    h.delete('signature');
    expect(verify(h)).toBe('RELAY_UNSIGNED');
  });

  it('a field given once in an array is read; repeated, it is refused rather than guessed', () => {
    expect(verify({ ...headers, signature: [headers.signature] })).toBeUndefined();
    expect(verify({ ...headers, signature: [headers.signature, headers.signature] })).toBe('RELAY_BAD_SIGNATURE');
    expect(verify({ ...headers, 'content-digest': [headers['content-digest'], headers['content-digest']] })).toBe('RELAY_BAD_DIGEST');
  });

  it('a Content-Digest that is not a structured dictionary is RELAY_BAD_DIGEST; a target without "/" is RELAY_BAD_REQUEST', () => {
    expect(verify({ ...headers, 'content-digest': 'sha-512=:not base64' })).toBe('RELAY_BAD_DIGEST');
    expect(verify({ ...headers, 'signature-input': '((' })).toBe('RELAY_BAD_SIGNATURE');
    expect(verify(headers, { ...req, target: 'v1/envelopes/ab?to=cd' })).toBe('RELAY_BAD_REQUEST');
    expect(codeOf(() => signRequest({ ...req, target: 'https://relay/v1' }, alice, { created: NOW }))).toBe('RELAY_BAD_REQUEST');
  });

  it('a clock-skew refusal says both times', () => {
    try {
      verifyRequest(req, headers, { now: NOW + 301 });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(PlushlinkError);
      expect((e as PlushlinkError).code).toBe('RELAY_CLOCK_SKEW');
      expect((e as PlushlinkError).detail).toEqual({ created: NOW, now: NOW + 301 });
    }
    expect(verifyRequest(req, headers, { now: NOW + 300 }).created).toBe(NOW);
  });
});
