/**
 * Generates fixtures/vectors/messages.json: deterministic sealed-voice-message vectors (fixed
 * keys, fixed randomness → exact envelope bytes) plus negative cases with their expected error
 * codes. Run: `npx tsx scripts/gen-message-vectors.ts`. test/unit/messages/vectors.test.ts checks
 * that the code reproduces every byte.
 *
 * Every secret below is derived from a public label (SHA-512(label)[0..32]), so anyone can
 * recompute them; they are test keys, never to be used for anything else.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sha512, ed25519Sign, x25519PublicKey } from '../src/protocol/crypto.js';
import { concatBytes, toHex, utf8 } from '../src/protocol/bytes.js';
import {
  ENVELOPE_LAYOUT,
  FIXED_HEADER_LEN,
  familyIdentityFromSecrets,
  familyKeyCode,
  familyKeyFingerprint,
  keyIdOf,
  openVoiceMessage,
  sealVoiceMessage,
  type FamilyIdentity,
} from '../src/messages/index.js';

const label = (s: string): Uint8Array => sha512(utf8(s)).slice(0, 32);

function identity(name: string): FamilyIdentity {
  return familyIdentityFromSecrets(name, label(`plushlink vector ${name} sign seed`), label(`plushlink vector ${name} box secret`));
}

function describe(id: FamilyIdentity): Record<string, string> {
  return {
    name: id.name,
    signSeed: toHex(id.signSecretKey.subarray(0, 32)),
    signPublicKey: toHex(id.signPublicKey),
    boxSecretKey: toHex(id.boxSecretKey),
    boxPublicKey: toHex(id.boxPublicKey),
    keyId: toHex(keyIdOf(id.boxPublicKey)),
    familyKeyCode: familyKeyCode(id),
    fingerprint: familyKeyFingerprint(id),
  };
}

/** A fixed queue of random bytes: the seal draws content key (32) then ephemeral secret (32). */
function fixedRandom(...chunks: Uint8Array[]): (n: number) => Uint8Array {
  const q = [...chunks];
  return (n) => {
    const c = q.shift();
    if (!c || c.length !== n) throw new Error(`vector randomness exhausted or wrong size (${n})`);
    return c;
  };
}

export function buildMessageVectors(): unknown {
  const sender = identity('Grandma');
  const child = identity('Mia companion');
  const parent = identity('Papa');
  const stranger = identity('Stranger');

  // Opaque content: the first bytes of an Ogg Opus file (OggS page with OpusHead) and some payload.
  const audio = concatBytes(
    utf8('OggS'),
    Uint8Array.of(0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x2a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 19),
    utf8('OpusHead'),
    Uint8Array.of(1, 1, 0x38, 1, 0x80, 0x3e, 0, 0, 0, 0, 0),
  );
  const messageId = label('plushlink vector message id').slice(0, 16);
  const createdAt = 1_767_225_600_000; // 2026-01-01T00:00:00Z
  const contentKey = label('plushlink vector content key');
  const ephemeralSecret = label('plushlink vector ephemeral secret');

  const envelope = sealVoiceMessage({
    audio,
    from: sender,
    to: [child, parent],
    messageId,
    createdAt,
    random: fixedRandom(contentKey, ephemeralSecret),
  });
  // Self-check before writing.
  for (const r of [child, parent]) {
    const o = openVoiceMessage(envelope, r);
    if (toHex(o.audio) !== toHex(audio)) throw new Error('vector does not open');
  }

  const L = ENVELOPE_LAYOUT;
  const n = 2;
  const headerLen = FIXED_HEADER_LEN + n * L.keyIdLength;
  const wrappedEnd = headerLen + n * L.wrappedKeyLength;
  const sigStart = envelope.length - L.signatureLength;

  // Negative cases, each with the exact expected error code for `child`.
  const flip = (i: number): Uint8Array => {
    const b = Uint8Array.from(envelope);
    b[i]! ^= 0x01;
    return b;
  };
  const version2 = Uint8Array.from(envelope);
  version2[L.version] = 2;
  // A different key re-signs the envelope after swapping in its own sender key: the signature
  // verifies, but the header is AEAD associated data and the wrap nonces bind it → TAMPERED.
  const resigned = Uint8Array.from(envelope.subarray(0, sigStart));
  resigned.set(stranger.signPublicKey, L.sender);
  const resignedEnvelope = concatBytes(
    resigned,
    ed25519Sign(stranger.signSecretKey, concatBytes(utf8('plushlink/voice-message/v1/signature\0'), resigned)),
  );

  return {
    description:
      'plushlink sealed voice message (PLVM v1) vectors; format in docs/MESSAGES.md. All secrets are SHA-512(label)[0..32] test keys.',
    format: 'PLVM',
    version: 1,
    sender: describe(sender),
    recipients: [describe(child), describe(parent)],
    notRecipient: describe(stranger),
    messageId: toHex(messageId),
    createdAt,
    randomness: {
      order: 'content key (32 bytes), then ephemeral X25519 secret (32 bytes)',
      contentKey: toHex(contentKey),
      ephemeralSecret: toHex(ephemeralSecret),
      ephemeralPublic: toHex(x25519PublicKey(ephemeralSecret)),
    },
    audio: toHex(audio),
    parts: {
      header: toHex(envelope.subarray(0, headerLen)),
      wrappedKeys: [toHex(envelope.subarray(headerLen, headerLen + 48)), toHex(envelope.subarray(headerLen + 48, wrappedEnd))],
      contentCiphertext: toHex(envelope.subarray(wrappedEnd, sigStart)),
      signature: toHex(envelope.subarray(sigStart)),
    },
    envelope: toHex(envelope),
    negative: [
      { name: 'magic byte changed', envelope: toHex(flip(0)), expectedError: 'BAD_ENVELOPE' },
      { name: 'version 2', envelope: toHex(version2), expectedError: 'UNKNOWN_VERSION' },
      { name: 'truncated by one byte', envelope: toHex(envelope.subarray(0, envelope.length - 1)), expectedError: 'BAD_ENVELOPE' },
      { name: 'recipient count changed', envelope: toHex(flip(L.recipientCount)), expectedError: 'BAD_ENVELOPE' },
      { name: 'creation time changed', envelope: toHex(flip(L.createdAt + 7)), expectedError: 'BAD_SIGNATURE' },
      { name: 'key id changed', envelope: toHex(flip(L.keyIds)), expectedError: 'BAD_SIGNATURE' },
      { name: 'content ciphertext changed', envelope: toHex(flip(wrappedEnd)), expectedError: 'BAD_SIGNATURE' },
      { name: 'signature changed', envelope: toHex(flip(sigStart)), expectedError: 'BAD_SIGNATURE' },
      { name: 're-signed by another key with its sender key swapped in', envelope: toHex(resignedEnvelope), expectedError: 'TAMPERED' },
      { name: 'opened by a non-recipient (notRecipient key)', envelope: toHex(envelope), expectedError: 'NOT_A_RECIPIENT', openWith: 'notRecipient' },
    ],
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = new URL('../fixtures/vectors/messages.json', import.meta.url);
  writeFileSync(out, JSON.stringify(buildMessageVectors(), null, 2) + '\n');
  console.log(`wrote ${fileURLToPath(out)}`);
}
