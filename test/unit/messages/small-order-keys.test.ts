/**
 * Small-order Ed25519 keys and low-order X25519 keys at the message level (docs/PROTOCOL.md §18):
 * anyone can make signatures that a plain Ed25519 verifier accepts under a small-order key, so
 * such a key names no one. Every place src/messages checks a signature refuses them whatever
 * verifier it is given: a request's `keyid` (docs/RELAY.md §3.3 step 2, before the digest), an
 * envelope's sender (docs/MESSAGES.md §3.2 check 4), a delivery receipt's recipient (docs/RELAY.md
 * §5), and a family key code refuses them as keys (docs/MESSAGES.md §2.1, `INVALID_KEY`).
 *
 * The forged signatures are R ‖ 0 with R a small-order point (test/helpers/ed25519-torsion.ts);
 * each test shows the back end's raw verifier accepts its forgery, so what refuses it is the
 * policy, not the verifier.
 */
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toHex, utf8 } from '../../../src/protocol/bytes.js';
import { x25519 } from '../../../src/protocol/crypto.js';
import {
  ENVELOPE_LAYOUT,
  envelopeHash,
  familyKeyCode,
  familyPublicKey,
  generateFamilyIdentity,
  inspectVoiceMessage,
  mailboxIdOf,
  openVoiceMessage,
  parseFamilyKeyCode,
  receiptMessage,
  sealVoiceMessage,
  signDeliveryReceipt,
  signRequest,
  verifyDeliveryReceipt,
  verifyRequest,
} from '../../../src/messages/index.js';
import { CRYPTO_BACKENDS, useCryptoBackendInSuite } from '../../helpers/backends.js';
import { codeOf } from '../../helpers/errors.js';
import { edEncode, forgeRequestSignature, forgeUnderSmallOrderKey, LOW_ORDER_X25519_HEX, smallOrderEncodings, torsionPoints } from '../../helpers/ed25519-torsion.js';

const TORSION = torsionPoints();
const ENCODINGS = smallOrderEncodings(TORSION);
/** The point of order 4 with y = 0: the keyid 00…00. */
const ZERO_KEY = new Uint8Array(32);
const acceptAll = (): boolean => true;
const NOW = 1_764_676_800;

/** The context an envelope signature covers (docs/MESSAGES.md §3.1). */
const ENVELOPE_SIGNATURE_CONTEXT = utf8('plushlink/voice-message/v1/signature\0');

const LOW_ORDER_X25519 = LOW_ORDER_X25519_HEX.map(fromHex);

describe.each(CRYPTO_BACKENDS)('small-order keys in src/messages [$name back end]', (backend) => {
  useCryptoBackendInSuite(backend);
  const raw = backend.ed25519Verify;
  const gran = generateFamilyIdentity('gran');
  const child = generateFamilyIdentity('child');

  /** A request to `target` under `keyid` = `key`, its signature forged: raw-accepted over the base. */
  function forgedRequest(key: Uint8Array, target: string, body = new Uint8Array(0)) {
    const request = { method: 'PUT', target, body };
    for (let i = 0; i < 64; i++) {
      // signRequest with the small-order key as keyid; its signature (by gran's secret) is replaced.
      const h = signRequest(request, { signPublicKey: key, signSecretKey: gran.signSecretKey }, { created: NOW, nonce: new Uint8Array(16).fill(i) });
      const f = forgeRequestSignature(key, request, h, raw, TORSION);
      if (f !== undefined) return { ...f, request };
    }
    throw new Error(`no forgery under ${toHex(key)}`);
  }

  describe('verifyRequest (docs/RELAY.md §3.3)', () => {
    const target = '/v1/mailboxes/00112233445566778899aabbccddeeff/envelopes';

    it('refuses a forged request under keyid 00…00 with RELAY_BAD_SIGNATURE, even with an accept-all or the raw verifier', () => {
      const f = forgedRequest(ZERO_KEY, target);
      expect(raw(ZERO_KEY, f.base, f.signature)).toBe(true);
      for (const verify of [acceptAll, raw, undefined]) {
        expect(codeOf(() => verifyRequest(f.request, f.headers, { now: NOW, ...(verify ? { verify } : {}) }))).toBe('RELAY_BAD_SIGNATURE');
      }
    });

    it('refuses every small-order encoding as keyid, with an accept-all verifier', () => {
      for (const key of ENCODINGS) {
        const h = signRequest({ method: 'PUT', target }, { signPublicKey: key, signSecretKey: gran.signSecretKey }, { created: NOW, nonce: new Uint8Array(16) });
        expect(codeOf(() => verifyRequest({ method: 'PUT', target }, h, { now: NOW, verify: acceptAll })), toHex(key)).toBe('RELAY_BAD_SIGNATURE');
      }
    });

    it('refuses the keyid at step 2, before the digest (step 3) and the clock (step 4)', () => {
      const f = forgedRequest(ZERO_KEY, target);
      // A changed body would be RELAY_BAD_DIGEST, a created far off RELAY_CLOCK_SKEW, for a real key.
      expect(codeOf(() => verifyRequest({ ...f.request, body: utf8('x') }, f.headers, { now: NOW, verify: acceptAll }))).toBe('RELAY_BAD_SIGNATURE');
      expect(codeOf(() => verifyRequest(f.request, f.headers, { now: NOW + 10_000, verify: acceptAll }))).toBe('RELAY_BAD_SIGNATURE');
      const real = signRequest(f.request, gran, { created: NOW, nonce: new Uint8Array(16) });
      expect(codeOf(() => verifyRequest({ ...f.request, body: utf8('x') }, real, { now: NOW, verify: acceptAll }))).toBe('RELAY_BAD_DIGEST');
      expect(codeOf(() => verifyRequest(f.request, real, { now: NOW + 10_000, verify: acceptAll }))).toBe('RELAY_CLOCK_SKEW');
    });

    it('runs the injected verifier under the policy: a non-canonical S is refused even by an accept-all verifier', () => {
      const real = signRequest({ method: 'PUT', target }, gran, { created: NOW, nonce: new Uint8Array(16) });
      expect(verifyRequest({ method: 'PUT', target }, real, { now: NOW, verify: acceptAll }).keyId).toBe(toHex(gran.signPublicKey));
      const sig = Buffer.from(real.signature.slice(6, -1), 'base64');
      sig[63] = 0xff; // S ≥ L
      const bent = { ...real, signature: `sig1=:${sig.toString('base64')}:` };
      expect(codeOf(() => verifyRequest({ method: 'PUT', target }, bent, { now: NOW, verify: acceptAll }))).toBe('RELAY_BAD_SIGNATURE');
    });
  });

  describe('envelopes (docs/MESSAGES.md §3.2 check 4)', () => {
    /** A real sealed envelope with its sender replaced by `key` and a forged signature by it. */
    function forgedEnvelope(key: Uint8Array): { bytes: Uint8Array; signed: Uint8Array } {
      for (let i = 0; i < 64; i++) {
        const bytes = sealVoiceMessage({ audio: new Uint8Array(100).fill(i), from: gran, to: [familyPublicKey(child)], createdAt: NOW * 1000 });
        bytes.set(key, ENVELOPE_LAYOUT.sender);
        const sigStart = bytes.length - ENVELOPE_LAYOUT.signatureLength;
        const signed = concatBytes(ENVELOPE_SIGNATURE_CONTEXT, bytes.subarray(0, sigStart));
        const signature = forgeUnderSmallOrderKey(key, signed, raw, TORSION);
        if (signature === undefined) continue;
        bytes.set(signature, sigStart);
        return { bytes, signed };
      }
      throw new Error(`no forgery under ${toHex(key)}`);
    }

    it('an envelope "signed" by a small-order sender is BAD_SIGNATURE with an accept-all, the raw or the default verifier', () => {
      for (const key of [ZERO_KEY, edEncode(TORSION[0]!), edEncode(TORSION[1]!)]) {
        const e = forgedEnvelope(key);
        expect(raw(key, e.signed, e.bytes.subarray(e.bytes.length - 64)), toHex(key)).toBe(true);
        for (const verify of [acceptAll, raw, undefined]) {
          const options = { trustedSenders: [key], ...(verify ? { verify } : {}) };
          expect(codeOf(() => inspectVoiceMessage(e.bytes, options)), toHex(key)).toBe('BAD_SIGNATURE');
          expect(codeOf(() => openVoiceMessage(e.bytes, child, options)), toHex(key)).toBe('BAD_SIGNATURE');
        }
      }
    });

    it('the same envelope under a real sender passes check 4 with the accept-all verifier (so the key is what is refused)', () => {
      const bytes = sealVoiceMessage({ audio: new Uint8Array(100), from: gran, to: [familyPublicKey(child)], createdAt: NOW * 1000 });
      bytes.fill(0, bytes.length - 32); // S = 0: a signature no real verifier takes
      expect(codeOf(() => inspectVoiceMessage(bytes))).toBe('BAD_SIGNATURE');
      expect(toHex(inspectVoiceMessage(bytes, { verify: acceptAll }).sender)).toBe(toHex(gran.signPublicKey));
    });
  });

  describe('delivery receipts (docs/RELAY.md §5)', () => {
    const messageId = '00112233445566778899aabbccddeeff';
    const hash = envelopeHash(utf8('an envelope'));

    it('refuses a receipt "signed" by a small-order recipient key, even with an accept-all or the raw verifier', () => {
      for (const key of [ZERO_KEY, edEncode(TORSION[0]!), edEncode(TORSION[1]!)]) {
        let forged: { recipient: { signPublicKey: Uint8Array; boxPublicKey: Uint8Array }; signature: Uint8Array } | undefined;
        for (let i = 0; forged === undefined && i < 64; i++) {
          const recipient = { signPublicKey: key, boxPublicKey: generateFamilyIdentity(`r${i}`).boxPublicKey };
          const signature = forgeUnderSmallOrderKey(key, receiptMessage(messageId, mailboxIdOf(recipient), hash), raw, TORSION);
          if (signature) forged = { recipient, signature };
        }
        expect(forged, toHex(key)).toBeDefined();
        const { recipient, signature } = forged!;
        expect(raw(key, receiptMessage(messageId, mailboxIdOf(recipient), hash), signature)).toBe(true);
        expect(verifyDeliveryReceipt(recipient, messageId, hash, signature, acceptAll), toHex(key)).toBe(false);
        expect(verifyDeliveryReceipt(recipient, messageId, hash, signature, raw), toHex(key)).toBe(false);
        expect(verifyDeliveryReceipt(recipient, messageId, hash, signature), toHex(key)).toBe(false);
      }
    });

    it('a real recipient with the accept-all verifier is accepted (so the key is what is refused)', () => {
      expect(verifyDeliveryReceipt(child, messageId, hash, new Uint8Array(64), acceptAll)).toBe(true);
      const e = sealVoiceMessage({ audio: new Uint8Array(10), from: gran, to: [familyPublicKey(child)] });
      expect(verifyDeliveryReceipt(child, messageId, envelopeHash(e), signDeliveryReceipt(child, messageId, e))).toBe(true);
    });
  });

  describe('family key codes (docs/MESSAGES.md §2.1)', () => {
    it('a code whose signing key is any small-order encoding is INVALID_KEY', () => {
      for (const key of ENCODINGS) {
        const code = familyKeyCode({ name: 'Gran', signPublicKey: key, boxPublicKey: gran.boxPublicKey });
        expect(codeOf(() => parseFamilyKeyCode(code)), toHex(key)).toBe('INVALID_KEY');
      }
    });

    it('a code whose box key is a low-order X25519 point is INVALID_KEY', () => {
      for (const box of LOW_ORDER_X25519) {
        // Low order indeed: every shared secret with it is all zeros.
        expect(codeOf(() => x25519(child.boxSecretKey, box)), toHex(box)).toBe('LOW_ORDER_POINT');
        const code = familyKeyCode({ name: 'Gran', signPublicKey: gran.signPublicKey, boxPublicKey: box });
        expect(codeOf(() => parseFamilyKeyCode(code)), toHex(box)).toBe('INVALID_KEY');
      }
    });

    it('a real key code still parses, keys intact', () => {
      const parsed = parseFamilyKeyCode(familyKeyCode({ name: 'Gran', signPublicKey: gran.signPublicKey, boxPublicKey: gran.boxPublicKey }));
      expect(parsed).toEqual({ name: 'Gran', signPublicKey: gran.signPublicKey, boxPublicKey: gran.boxPublicKey });
    });
  });
});
