/**
 * Generates fixtures/vectors/relay.json: worked examples of the relay's request signatures
 * (docs/RELAY.md §3) and of mailbox ids and delivery receipts (§1, §5), so that a client in
 * another language can check itself byte for byte. Run: `npx tsx scripts/gen-relay-vectors.ts`.
 * test/unit/messages/relay-vectors.test.ts checks that the code reproduces every value and that the
 * negative cases are refused with their codes (two of them signatures forged under small-order
 * keyids, docs/PROTOCOL.md §18).
 *
 * Every secret is derived from a public label (SHA-512(label)[0..32]): test keys only.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fromHex, fromUtf8, toBase64, toHex, utf8 } from '../src/protocol/bytes.js';
import { pureCryptoBackend, sha512 } from '../src/protocol/crypto.js';
import {
  contentDigest,
  envelopeHash,
  familyIdentityFromSecrets,
  keyIdHexOf,
  mailboxIdOf,
  receiptMessage,
  relayPaths,
  sealVoiceMessage,
  signDeliveryReceipt,
  signRequest,
  signatureBase,
  type FamilyIdentity,
} from '../src/messages/index.js';

const label = (s: string): Uint8Array => sha512(utf8(s)).slice(0, 32);

function identity(name: string): FamilyIdentity {
  return familyIdentityFromSecrets(name, label(`plushlink relay vector ${name} sign seed`), label(`plushlink relay vector ${name} box secret`));
}

function person(id: FamilyIdentity): Record<string, string> {
  return {
    name: id.name,
    signSeed: toHex(id.signSecretKey.subarray(0, 32)),
    signPublicKey: toHex(id.signPublicKey),
    boxSecretKey: toHex(id.boxSecretKey),
    boxPublicKey: toHex(id.boxPublicKey),
    keyId: keyIdHexOf(id.boxPublicKey),
    mailboxId: mailboxIdOf(id),
  };
}

/** Created time of every example: 2026-12-02T12:00:00Z. */
const CREATED = 1_764_676_800;

function request(signer: FamilyIdentity, name: string, method: string, target: string, body: Uint8Array, nonceLabel: string) {
  const nonce = label(nonceLabel).slice(0, 16);
  const headers = signRequest({ method, target, body }, signer, { created: CREATED, nonce });
  const params = headers['signature-input'].slice('sig1='.length);
  const base = signatureBase({ method, target, body }, contentDigest(body), params);
  return {
    name,
    signer: signer.name,
    method,
    target,
    body: toHex(body),
    created: CREATED,
    nonce: toHex(nonce),
    signatureBase: fromUtf8(base),
    headers,
  };
}

/**
 * A negative case: the request `base` re-made under `keyid` = a small-order Ed25519 point, by
 * someone who holds no key for it (docs/PROTOCOL.md §18, docs/RELAY.md §3.3 step 2). The signature
 * is R ‖ 0 with R among `candidates` (the multiples of the key's point): with S = 0 the
 * verification equation asks R = −[k]A, itself such a multiple, and as k = SHA-512(R ‖ A ‖ M)
 * depends on R, each candidate is right by chance; the nonce is varied until a plain Ed25519
 * verifier (tweetnacl, without plushlink's policy) accepts one. The relay must refuse it anyway:
 * RELAY_BAD_SIGNATURE.
 */
function smallOrderKeyid(
  name: string,
  base: ReturnType<typeof request>,
  keyHex: string,
  candidates: readonly string[],
  nonceLabel: string,
  throwaway: FamilyIdentity,
) {
  const key = fromHex(keyHex);
  const body = fromHex(base.body);
  for (let i = 0; i < 64; i++) {
    const nonce = label(`${nonceLabel} ${i}`).slice(0, 16);
    // signRequest with the small-order key as keyid; its signature (by a real key) is replaced.
    const headers = signRequest({ method: base.method, target: base.target, body }, { signPublicKey: key, signSecretKey: throwaway.signSecretKey }, { created: CREATED, nonce });
    const signatureBaseBytes = signatureBase({ method: base.method, target: base.target, body }, headers['content-digest'], headers['signature-input'].slice('sig1='.length));
    for (const r of candidates) {
      const signature = new Uint8Array(64);
      signature.set(fromHex(r), 0);
      if (!pureCryptoBackend.ed25519Verify(key, signatureBaseBytes, signature)) continue;
      return {
        name,
        request: base.name,
        change: { headers: { 'signature-input': headers['signature-input'], signature: `sig1=:${toBase64(signature)}:` } },
        forgery: { publicKey: keyHex, signatureBase: fromUtf8(signatureBaseBytes), signature: toHex(signature) },
        expectedError: 'RELAY_BAD_SIGNATURE',
      };
    }
  }
  throw new Error(`no forgery under ${keyHex}`);
}

/** The neutral point, the point of order 2, and the two points of order 4 (x = ±√−1, y = 0). */
const NEUTRAL = '01' + '00'.repeat(31);
const ORDER_2 = 'ec' + 'ff'.repeat(30) + '7f';
const ORDER_4 = '00'.repeat(32);
const ORDER_4_NEG = '00'.repeat(31) + '80';

export function buildRelayVectors(): unknown {
  const child = identity('child');
  const gran = identity('gran');
  const envelope = sealVoiceMessage({
    audio: utf8('OggS… (a voice message; opaque to the relay)'),
    from: child,
    to: [gran],
    messageId: '00112233445566778899aabbccddeeff',
    createdAt: CREATED * 1000,
    random: (() => {
      const q = [label('relay vector content key'), label('relay vector ephemeral')];
      return (n: number) => {
        const c = q.shift();
        if (!c || c.length !== n) throw new Error('vector randomness exhausted');
        return c;
      };
    })(),
  });
  const messageId = '00112233445566778899aabbccddeeff';
  const createBody = utf8(JSON.stringify({ signPublicKey: toHex(child.signPublicKey), boxPublicKey: toHex(child.boxPublicKey) }));
  const receipt = signDeliveryReceipt(gran, messageId, envelope);
  const receiptBody = utf8(JSON.stringify({ signature: Buffer.from(receipt).toString('base64') }));
  const get = request(gran, 'list pending (no body, no query)', 'GET', relayPaths.pending(mailboxIdOf(gran)), new Uint8Array(0), 'relay vector nonce 1');
  return {
    description: 'plushlink relay request signatures (RFC 9421 + RFC 9530), mailbox ids and delivery receipts; docs/RELAY.md',
    people: [person(child), person(gran)],
    requests: [
      request(child, 'create a mailbox (JSON body)', 'PUT', relayPaths.mailbox(mailboxIdOf(child)), createBody, 'relay vector nonce 0'),
      get,
      request(child, 'upload an envelope (binary body, query)', 'PUT', relayPaths.upload(messageId, [mailboxIdOf(gran)]), envelope, 'relay vector nonce 2'),
      request(gran, 'acknowledge with a receipt', 'POST', relayPaths.receipt(mailboxIdOf(gran), messageId), receiptBody, 'relay vector nonce 3'),
    ],
    receipt: {
      recipient: gran.name,
      messageId,
      mailboxId: mailboxIdOf(gran),
      envelope: toHex(envelope),
      envelopeHash: toHex(envelopeHash(envelope)),
      message: toHex(receiptMessage(messageId, mailboxIdOf(gran), envelopeHash(envelope))),
      signature: toHex(receipt),
    },
    negative: [
      { name: 'no signature fields', request: get.name, change: { drop: ['signature', 'signature-input', 'content-digest'] }, expectedError: 'RELAY_UNSIGNED' },
      { name: 'body changed', request: get.name, change: { body: '00' }, expectedError: 'RELAY_BAD_DIGEST' },
      { name: 'path changed', request: get.name, change: { target: relayPaths.pending(mailboxIdOf(child)) }, expectedError: 'RELAY_BAD_SIGNATURE' },
      { name: 'created 301 s before now', request: get.name, change: { now: CREATED + 301 }, expectedError: 'RELAY_CLOCK_SKEW' },
      { name: 'other tag', request: get.name, change: { replace: ['tag="plushlink-relay-v1"', 'tag="other"'] }, expectedError: 'RELAY_BAD_SIGNATURE' },
      // R = the neutral point, S = 0: valid for every message under the neutral point.
      smallOrderKeyid('keyid the neutral point (order 1), forged signature', get, NEUTRAL, [NEUTRAL], 'relay vector small-order nonce neutral', child),
      smallOrderKeyid('keyid 00…00 (a point of order 4), forged signature', get, ORDER_4, [NEUTRAL, ORDER_4, ORDER_2, ORDER_4_NEG], 'relay vector small-order nonce zero', child),
    ],
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = new URL('../fixtures/vectors/relay.json', import.meta.url);
  writeFileSync(out, JSON.stringify(buildRelayVectors(), null, 2) + '\n');
  console.log(`wrote ${fileURLToPath(out)}`);
}
