/**
 * fixtures/vectors/relay.json (docs/RELAY.md §3, §5): the generator reproduces the committed
 * file, every example request verifies (with the pure and the native Ed25519), the signature base
 * is the RFC 9421 text, the negative cases are refused with their codes (among them requests
 * under small-order keyids whose forged signatures a plain Ed25519 verifier accepts, docs/PROTOCOL.md
 * §18), and mailbox ids and receipts match.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nativeEd25519Verify } from '@plushlink/relay';
import { fromHex, toHex, utf8 } from '../../../src/protocol/bytes.js';
import { sha512 } from '../../../src/protocol/crypto.js';
import { isPlushlinkError } from '../../../src/index.js';
import { contentDigest, familyIdentityFromSecrets, mailboxIdOf, verifyDeliveryReceipt, verifyRequest } from '../../../src/messages/index.js';
import { buildRelayVectors } from '../../../scripts/gen-relay-vectors.js';
import { CRYPTO_BACKENDS, useCryptoBackendInSuite } from '../../helpers/backends.js';

interface Req {
  name: string;
  signer: string;
  method: string;
  target: string;
  body: string;
  created: number;
  signatureBase: string;
  headers: Record<string, string>;
}
const v = JSON.parse(readFileSync(new URL('../../../fixtures/vectors/relay.json', import.meta.url), 'utf8')) as {
  people: Record<'name' | 'signSeed' | 'signPublicKey' | 'boxSecretKey' | 'boxPublicKey' | 'keyId' | 'mailboxId', string>[];
  requests: Req[];
  receipt: { recipient: string; messageId: string; mailboxId: string; envelopeHash: string; envelope: string; signature: string };
  negative: {
    name: string;
    request: string;
    change: { drop?: string[]; body?: string; target?: string; now?: number; replace?: [string, string]; headers?: Record<string, string> };
    /** A signature made without any key under a small-order keyid (docs/PROTOCOL.md §18). */
    forgery?: { publicKey: string; signatureBase: string; signature: string };
    expectedError: string;
  }[];
};

describe.each(CRYPTO_BACKENDS)('relay vectors (fixtures/vectors/relay.json) [$name back end]', (backend) => {
  useCryptoBackendInSuite(backend);
  it('the generator output equals the committed file', () => {
    expect(JSON.parse(JSON.stringify(buildRelayVectors()))).toEqual(v);
  });

  it('mailbox ids are SHA-512("plushlink/mailbox/v1\\0" ‖ sign ‖ box)[0..16)', () => {
    for (const p of v.people) {
      const id = familyIdentityFromSecrets(p.name, fromHex(p.signSeed), fromHex(p.boxSecretKey));
      expect(mailboxIdOf(id)).toBe(p.mailboxId);
      const manual = sha512(new Uint8Array([...utf8('plushlink/mailbox/v1\0'), ...fromHex(p.signPublicKey), ...fromHex(p.boxPublicKey)]));
      expect(toHex(manual.subarray(0, 16))).toBe(p.mailboxId);
    }
  });

  it('every example verifies, with the signature base and digest as written', () => {
    for (const r of v.requests) {
      const body = fromHex(r.body);
      expect(r.headers['content-digest']).toBe(contentDigest(body));
      expect(r.headers['content-digest']).toBe(`sha-512=:${Buffer.from(sha512(body)).toString('base64')}:`);
      // The base is the five lines of RFC 9421 §2.5, LF-joined, no trailing LF.
      const lines = r.signatureBase.split('\n');
      expect(lines.map((l) => l.slice(0, l.indexOf(':')))).toEqual(['"@method"', '"@path"', '"@query"', '"content-digest"', '"@signature-params"']);
      expect(lines[4]).toBe(`"@signature-params": ${r.headers['signature-input']!.slice(5)}`);
      const signer = v.people.find((p) => p.name === r.signer)!;
      const sig = Buffer.from(r.headers.signature!.slice(6, -1), 'base64');
      expect(nativeEd25519Verify(fromHex(signer.signPublicKey), utf8(r.signatureBase), sig), r.name).toBe(true);
      for (const verify of [undefined, nativeEd25519Verify]) {
        const ok = verifyRequest({ method: r.method, target: r.target, body }, r.headers, { now: r.created, ...(verify ? { verify } : {}) });
        expect(ok.keyId).toBe(signer.signPublicKey);
      }
    }
  });

  it('negative cases are refused with their codes', () => {
    for (const n of v.negative) {
      const r = v.requests.find((x) => x.name === n.request)!;
      const headers = { ...r.headers };
      for (const d of n.change.drop ?? []) delete headers[d];
      if (n.change.replace) headers['signature-input'] = headers['signature-input']!.replace(n.change.replace[0], n.change.replace[1]);
      Object.assign(headers, n.change.headers);
      const request = { method: r.method, target: n.change.target ?? r.target, body: fromHex(n.change.body ?? r.body) };
      let code: string | undefined;
      try {
        verifyRequest(request, headers, { now: n.change.now ?? r.created });
      } catch (e) {
        code = isPlushlinkError(e) ? e.code : String(e);
      }
      expect(code, n.name).toBe(n.expectedError);
    }
  });

  it('the small-order keyid cases: a plain Ed25519 verifier accepts the forged signature; verifyRequest refuses it with any verifier', () => {
    const forged = v.negative.filter((n) => n.forgery !== undefined);
    expect(forged.map((n) => n.forgery!.publicKey).sort()).toEqual(['00'.repeat(32), '01' + '00'.repeat(31)]);
    for (const n of forged) {
      const f = n.forgery!;
      const r = v.requests.find((x) => x.name === n.request)!;
      const headers = { ...r.headers, ...n.change.headers };
      // The case is the request as the vector writes it: the base is that of these headers.
      expect(headers['signature-input']).toContain(`keyid="${f.publicKey}"`);
      expect(f.signatureBase.split('\n').slice(0, 4)).toEqual(r.signatureBase.split('\n').slice(0, 4));
      expect(f.signatureBase.split('\n')[4]).toBe(`"@signature-params": ${headers['signature-input']!.slice(5)}`);
      expect(Buffer.from(headers.signature!.slice(6, -1), 'base64').toString('hex')).toBe(f.signature);
      // The back end's raw verifier (no plushlink policy) accepts it: only the policy refuses.
      expect(backend.ed25519Verify(fromHex(f.publicKey), utf8(f.signatureBase), fromHex(f.signature)), n.name).toBe(true);
      expect(nativeEd25519Verify(fromHex(f.publicKey), utf8(f.signatureBase), fromHex(f.signature)), n.name).toBe(false);
      for (const verify of [undefined, nativeEd25519Verify, backend.ed25519Verify, () => true]) {
        let code: string | undefined;
        try {
          verifyRequest({ method: r.method, target: r.target, body: fromHex(r.body) }, headers, { now: r.created, ...(verify ? { verify } : {}) });
        } catch (e) {
          code = isPlushlinkError(e) ? e.code : String(e);
        }
        expect(code, n.name).toBe('RELAY_BAD_SIGNATURE');
      }
    }
  });

  it('the delivery receipt verifies for its envelope and recipient only', () => {
    const rc = v.receipt;
    const gran = v.people.find((p) => p.name === rc.recipient)!;
    const child = v.people.find((p) => p.name !== rc.recipient)!;
    const key = (p: typeof gran) => ({ signPublicKey: fromHex(p.signPublicKey), boxPublicKey: fromHex(p.boxPublicKey) });
    expect(toHex(sha512(fromHex(rc.envelope)))).toBe(rc.envelopeHash);
    expect(verifyDeliveryReceipt(key(gran), rc.messageId, fromHex(rc.envelopeHash), fromHex(rc.signature))).toBe(true);
    expect(verifyDeliveryReceipt(key(gran), rc.messageId, fromHex(rc.envelopeHash), fromHex(rc.signature), nativeEd25519Verify)).toBe(true);
    expect(verifyDeliveryReceipt(key(child), rc.messageId, fromHex(rc.envelopeHash), fromHex(rc.signature))).toBe(false);
    expect(verifyDeliveryReceipt(key(gran), 'ff'.repeat(16), fromHex(rc.envelopeHash), fromHex(rc.signature))).toBe(false);
    const otherHash = fromHex(rc.envelopeHash);
    otherHash[0] = otherHash[0]! ^ 1;
    expect(verifyDeliveryReceipt(key(gran), rc.messageId, otherHash, fromHex(rc.signature))).toBe(false);
  });
});
