/**
 * The relay's request authentication, its inputs (src/messages/http-signature.ts, docs/RELAY.md
 * §3.1 and §3.3): the signer refuses a request it would sign outside the profile (a creation time
 * that is not a non-negative integer, a nonce that is not 16 bytes, a public key that is not 32
 * bytes, a target that is not a string); the verifier refuses member shapes that are not those of
 * §3.1 (a Signature-Input member that is not an inner list, a Signature member that is, a component
 * with parameters, a signature or created that is not of its type, a keyid not in lower-case hex)
 * at step 2, before the Ed25519 verifier is ever asked (step 5). Written for survivors of the
 * src/messages mutation run.
 */
import { describe, expect, it } from 'vitest';
import { toBase64, toBase64Url, toHex } from '../../../src/protocol/bytes.js';
import { ed25519Sign } from '../../../src/protocol/crypto.js';
import { contentDigest, generateFamilyIdentity, signatureBase, signRequest, verifyRequest } from '../../../src/messages/index.js';
import { codeOf } from '../../helpers/errors.js';

const alice = generateFamilyIdentity('Alice');
const NOW = 1_767_225_600;
const req = { method: 'PUT', target: '/v1/envelopes/ab?to=cd', body: new Uint8Array([4, 5, 6]) };
const keyId = toHex(alice.signPublicKey);
const nonce = toBase64Url(new Uint8Array(16).fill(3));
const COMPONENTS = '("@method" "@path" "@query" "content-digest")';
const TAIL = ';alg="ed25519";tag="plushlink-relay-v1"';

/** Headers validly signed by Alice over exactly `input` (the member value after `sig1=`), with `signature` as given or the real one. */
function signedWith(input: string, signature?: string): { 'content-digest': string; 'signature-input': string; signature: string } {
  const digest = contentDigest(req.body);
  const sig = ed25519Sign(alice.signSecretKey, signatureBase(req, digest, input));
  return { 'content-digest': digest, 'signature-input': `sig1=${input}`, signature: signature ?? `sig1=:${toBase64(sig)}:` };
}

/** verifyRequest's refusal code and how many times it asked the Ed25519 verifier. */
function verifyCounting(headers: Record<string, string>, r: typeof req = req): { code: string | undefined; verifierCalls: number } {
  let verifierCalls = 0;
  const code = codeOf(() =>
    verifyRequest(r, headers, {
      now: NOW,
      verify: () => {
        verifierCalls++;
        return true; // a verifier that accepts everything: only the profile checks stand in the way
      },
    }),
  );
  return { code, verifierCalls };
}

describe('signRequest refuses what it would sign outside the profile (docs/RELAY.md §3.1)', () => {
  it('created: 0 is signed; a negative, fractional, unsafe or non-finite time is BAD_PAYLOAD', () => {
    const h = signRequest(req, alice, { created: 0, nonce: new Uint8Array(16) });
    expect(verifyRequest(req, h, { now: 0 }).created).toBe(0);
    for (const created of [-1, 1.5, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(codeOf(() => signRequest(req, alice, { created })), String(created)).toBe('BAD_PAYLOAD');
    }
  });

  it('a nonce that is not 16 bytes, given or from the random source, is BAD_PAYLOAD', () => {
    for (const n of [new Uint8Array(15), new Uint8Array(17), new Uint8Array(0)]) {
      expect(codeOf(() => signRequest(req, alice, { created: NOW, nonce: n })), `${n.length} bytes`).toBe('BAD_PAYLOAD');
    }
    expect(codeOf(() => signRequest(req, alice, { created: NOW, random: (k) => new Uint8Array(k - 1) }))).toBe('BAD_PAYLOAD');
    // the random source is asked for exactly 16 bytes and they become the nonce
    const h = signRequest(req, alice, { created: NOW, random: (k) => new Uint8Array(k).fill(0xfb) });
    expect(verifyRequest(req, h, { now: NOW }).nonce).toBe(toBase64Url(new Uint8Array(16).fill(0xfb)));
  });

  it('a public key that is not 32 bytes is INVALID_KEY (no keyid of another length is ever sent)', () => {
    for (const len of [31, 33, 0]) {
      const signer = { signPublicKey: new Uint8Array(len), signSecretKey: alice.signSecretKey };
      expect(codeOf(() => signRequest(req, signer, { created: NOW })), `${len} bytes`).toBe('INVALID_KEY');
    }
  });

  it('a target that is not a string is RELAY_BAD_REQUEST, to sign or to verify (not a TypeError)', () => {
    const headers = signRequest(req, alice, { created: NOW });
    for (const target of [undefined, null, 47, ['/v1']]) {
      const bad = { ...req, target: target as unknown as string };
      expect(codeOf(() => signRequest(bad, alice, { created: NOW })), String(target)).toBe('RELAY_BAD_REQUEST');
      expect(codeOf(() => verifyRequest(bad, headers, { now: NOW })), String(target)).toBe('RELAY_BAD_REQUEST');
    }
  });
});

describe('verifyRequest refuses member shapes outside §3.1 before asking the verifier (docs/RELAY.md §3.3 step 2)', () => {
  const input = `${COMPONENTS};created=${NOW};nonce="${nonce}";keyid="${keyId}"${TAIL}`;

  it('the profile itself reaches the verifier once', () => {
    expect(verifyCounting(signedWith(input))).toEqual({ code: undefined, verifierCalls: 1 });
  });

  it('a Signature member that is not a byte sequence: RELAY_BAD_SIGNATURE, the verifier never asked', () => {
    for (const sig of ['sig1=64', 'sig1="AAAA"', 'sig1=?1', 'sig1=token', 'sig1=(:AAAA:)']) {
      expect(verifyCounting(signedWith(input, sig)), sig).toEqual({ code: 'RELAY_BAD_SIGNATURE', verifierCalls: 0 });
    }
  });

  it('a Signature-Input member that is not an inner list: RELAY_BAD_SIGNATURE', () => {
    for (const si of ['sig1=:AAAA:', 'sig1="x"', 'sig1=1']) {
      const h = { ...signedWith(input), 'signature-input': si };
      expect(verifyCounting(h), si).toEqual({ code: 'RELAY_BAD_SIGNATURE', verifierCalls: 0 });
    }
  });

  it('a covered component with parameters or not a string: RELAY_BAD_SIGNATURE', () => {
    for (const components of [
      '("@method";req "@path" "@query" "content-digest")',
      '("@method" "@path" "@query" "content-digest";sf)',
      '("@method" "@path" "@query" content-digest)',
      '("@method" "@path" "@query" 1)',
    ]) {
      const p = `${components};created=${NOW};nonce="${nonce}";keyid="${keyId}"${TAIL}`;
      expect(verifyCounting(signedWith(p)), components).toEqual({ code: 'RELAY_BAD_SIGNATURE', verifierCalls: 0 });
    }
  });

  it('a Signature or Signature-Input with a second member beside sig1: RELAY_BAD_SIGNATURE', () => {
    const h = signedWith(input);
    const extras: Record<string, string>[] = [
      { signature: `${h.signature}, sig2=:${toBase64(new Uint8Array(64))}:` },
      { 'signature-input': `${h['signature-input']}, sig2=("@method");created=${NOW}` },
    ];
    for (const extra of extras) {
      expect(verifyCounting({ ...h, ...extra }), Object.keys(extra)[0]).toEqual({ code: 'RELAY_BAD_SIGNATURE', verifierCalls: 0 });
    }
  });

  it('a signature of another length than 64 bytes, or with parameters: RELAY_BAD_SIGNATURE', () => {
    for (const sig of [`sig1=:${toBase64(new Uint8Array(63))}:`, `sig1=:${toBase64(new Uint8Array(65))}:`, 'sig1=:AAAA:']) {
      expect(verifyCounting(signedWith(input, sig)), sig).toEqual({ code: 'RELAY_BAD_SIGNATURE', verifierCalls: 0 });
    }
    const h = signedWith(input);
    expect(verifyCounting({ ...h, signature: `${h.signature};x=1` })).toEqual({ code: 'RELAY_BAD_SIGNATURE', verifierCalls: 0 });
  });

  it('a nonce or keyid that is not a string (a number, bytes, a token): RELAY_BAD_SIGNATURE', () => {
    const b64 = toBase64(new Uint8Array(16).fill(3));
    for (const n of ['1', `:${b64}:`, 'AAECAwQFBgcICQoLDA0ODw']) {
      const p = `${COMPONENTS};created=${NOW};nonce=${n};keyid="${keyId}"${TAIL}`;
      expect(verifyCounting(signedWith(p)), `nonce=${n}`).toEqual({ code: 'RELAY_BAD_SIGNATURE', verifierCalls: 0 });
    }
    const tokenKey = `a${keyId.slice(1)}`; // 64 lower-case hex starting with a letter: a valid token
    const p = `${COMPONENTS};created=${NOW};nonce="${nonce}";keyid=${tokenKey}${TAIL}`;
    expect(verifyCounting(signedWith(p))).toEqual({ code: 'RELAY_BAD_SIGNATURE', verifierCalls: 0 });
  });

  it('a Content-Digest without a sha-512 byte sequence: RELAY_BAD_DIGEST', () => {
    const h = signedWith(input);
    const digest = h['content-digest'].slice('sha-512='.length);
    for (const d of [`sha-256=${digest}`, `sha-512=(${digest})`, 'sha-512="x"', `sha-256=${digest}, sha-1=${digest}`]) {
      expect(verifyCounting({ ...h, 'content-digest': d }), d).toEqual({ code: 'RELAY_BAD_DIGEST', verifierCalls: 0 });
    }
  });

  it('created that is not a non-negative integer, a keyid not 64 lower-case hex: RELAY_BAD_SIGNATURE', () => {
    for (const [created, kid] of [
      ['-1', keyId],
      ['1767225600.5', keyId],
      [`"${NOW}"`, keyId],
      [String(NOW), keyId.toUpperCase()],
      [String(NOW), keyId.slice(2)],
      [String(NOW), `${keyId}00`],
    ] as const) {
      const p = `${COMPONENTS};created=${created};nonce="${nonce}";keyid="${kid}"${TAIL}`;
      expect(verifyCounting(signedWith(p)), `${created} ${kid}`).toEqual({ code: 'RELAY_BAD_SIGNATURE', verifierCalls: 0 });
    }
  });
});
