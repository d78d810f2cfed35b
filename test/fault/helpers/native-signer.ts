/**
 * Request signatures (docs/RELAY.md §3) and delivery receipts (§5) made with Node's own Ed25519
 * and SHA-512 (`node:crypto`) instead of the library's pure-JS ones, for load tests and the
 * benchmark, which sign thousands of requests on the machine that runs the relay. Ed25519 is
 * deterministic, so for the same created time and nonce these are byte for byte what
 * `signRequest` and `signDeliveryReceipt` produce: the constructor checks that once per identity
 * and refuses to work otherwise.
 */
import { createHash, createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { toBase64, toBase64Url } from '../../../src/protocol/bytes.js';
import {
  contentDigest,
  mailboxIdOf,
  receiptMessage,
  signatureBase,
  signDeliveryReceipt,
  signRequest,
  type FamilyIdentity,
  type SignatureHeaders,
} from '../../../src/index.js';

const PROBE_NONCE = new Uint8Array(16);
const PROBE_CREATED = 1_000_000_000;

export class NativeSigner {
  readonly #key: KeyObject;
  /** The `@signature-params` value of the probe request, created and nonce to be replaced. */
  readonly #params: string;
  readonly #mailbox: string;

  constructor(readonly identity: FamilyIdentity) {
    const seed = identity.signSecretKey.subarray(0, 32);
    this.#key = createPrivateKey({
      key: { kty: 'OKP', crv: 'Ed25519', d: toBase64Url(seed), x: toBase64Url(identity.signPublicKey) },
      format: 'jwk',
    });
    this.#mailbox = mailboxIdOf(identity);
    const probe = { method: 'PUT', target: '/v1/probe?x=1', body: new Uint8Array([1, 2, 3]) };
    const reference = signRequest(probe, identity, { created: PROBE_CREATED, nonce: PROBE_NONCE });
    this.#params = reference['signature-input'].replace(/^sig1=/, '');
    const mine = this.headers(probe.method, probe.target, probe.body, PROBE_CREATED, PROBE_NONCE);
    if (JSON.stringify(mine) !== JSON.stringify(reference) || mine['content-digest'] !== contentDigest(probe.body)) {
      throw new Error('native request signature differs from signRequest');
    }
    const envelope = new Uint8Array(64).fill(9);
    const id = '00112233445566778899aabbccddeeff';
    if (toBase64(this.receipt(id, envelope)) !== toBase64(signDeliveryReceipt(identity, id, envelope))) {
      throw new Error('native receipt signature differs from signDeliveryReceipt');
    }
  }

  /** The three header fields of a signed request (created: now; nonce: random). */
  headers(method: string, target: string, body: Uint8Array = new Uint8Array(0), created = Math.floor(Date.now() / 1000), nonce: Uint8Array = randomBytes(16)): SignatureHeaders {
    const params = this.#params
      .replace(`;created=${PROBE_CREATED};`, `;created=${created};`)
      .replace(`nonce="${toBase64Url(PROBE_NONCE)}"`, `nonce="${toBase64Url(nonce)}"`);
    const digest = `sha-512=:${createHash('sha512').update(body).digest('base64')}:`;
    const signature = sign(null, signatureBase({ method, target, body }, digest, params), this.#key);
    return { 'content-digest': digest, 'signature-input': `sig1=${params}`, signature: `sig1=:${signature.toString('base64')}:` };
  }

  /** The owner's delivery receipt for an envelope in its own mailbox (docs/RELAY.md §5). */
  receipt(messageId: string, envelope: Uint8Array): Uint8Array {
    const hash = new Uint8Array(createHash('sha512').update(envelope).digest());
    return new Uint8Array(sign(null, receiptMessage(messageId, this.#mailbox, hash), this.#key));
  }
}
