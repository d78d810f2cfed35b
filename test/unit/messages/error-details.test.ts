/**
 * What the errors of envelopes and family keys carry besides their code (src/messages/envelope.ts,
 * src/messages/family.ts, docs/MESSAGES.md): the key that signed a message from an untrusted
 * sender (an app can show it or offer to add it), the AEAD failure behind a TAMPERED content, the
 * byte length of a display name out of range, and the underlying error of an identity file that is
 * not JSON or whose keys are malformed; an envelope that is not bytes refused as BAD_ENVELOPE, and
 * a recipient key of the wrong size refused before the envelope is read. Written for survivors of
 * the src/messages mutation run.
 */
import { describe, expect, it } from 'vitest';
import { concatBytes, toHex, utf8 } from '../../../src/protocol/bytes.js';
import { ed25519Sign } from '../../../src/protocol/crypto.js';
import { PlushlinkError } from '../../../src/protocol/errors.js';
import {
  familyPublicKey,
  generateFamilyIdentity,
  inspectVoiceMessage,
  openVoiceMessage,
  parseFamilyIdentity,
  peekVoiceMessage,
  sealVoiceMessage,
  serializeFamilyIdentity,
} from '../../../src/messages/index.js';
import { errorOf } from '../../helpers/errors.js';

const grandma = generateFamilyIdentity('Grandma');
const grandpa = generateFamilyIdentity('Grandpa');
const mia = generateFamilyIdentity('Mia');
const NOW = 1_767_225_600_000;
const SIGNATURE_CONTEXT = utf8('plushlink/voice-message/v1/signature\0');
const FIXED = 98;

const causeOf = (e: PlushlinkError): unknown => (e as { cause?: unknown }).cause;

describe('envelope errors', () => {
  it('UNTRUSTED_SENDER names the key that signed', () => {
    const env = sealVoiceMessage({ audio: utf8('OggS'), from: grandma, to: [mia], createdAt: NOW });
    const e = errorOf(() => openVoiceMessage(env, mia, { trustedSenders: [familyPublicKey(grandpa)] }));
    expect(e.code).toBe('UNTRUSTED_SENDER');
    expect(e.detail).toEqual({ sender: toHex(grandma.signPublicKey) });
  });

  it('TAMPERED content keeps the AEAD failure as its cause', () => {
    const env = sealVoiceMessage({ audio: utf8('OggS'), from: grandma, to: [mia], createdAt: NOW });
    const t = Uint8Array.from(env);
    t[FIXED + 16 + 48]! ^= 1; // first content byte
    const signed = t.subarray(0, t.length - 64);
    const resigned = concatBytes(signed, ed25519Sign(grandma.signSecretKey, concatBytes(SIGNATURE_CONTEXT, signed)));
    const e = errorOf(() => openVoiceMessage(resigned, mia));
    expect(e.code).toBe('TAMPERED');
    expect(causeOf(e)).toMatchObject({ code: 'DECRYPT_FAILED' });
  });
});

describe('envelope input', () => {
  it('an envelope that is not a Uint8Array is BAD_ENVELOPE, never an untyped error', () => {
    const env = sealVoiceMessage({ audio: utf8('OggS'), from: grandma, to: [mia], createdAt: NOW });
    for (const notBytes of [env.buffer, Array.from(env), 'PLVM'.repeat(60), undefined]) {
      const bytes = notBytes as unknown as Uint8Array;
      for (const read of [peekVoiceMessage, inspectVoiceMessage, (b: Uint8Array) => openVoiceMessage(b, mia)]) {
        expect(errorOf(() => read(bytes)).code).toBe('BAD_ENVELOPE');
      }
    }
  });
});

describe('recipient key', () => {
  it('a recipient secret key that is not 32 bytes is INVALID_KEY before the envelope is even read', () => {
    const env = sealVoiceMessage({ audio: utf8('OggS'), from: grandma, to: [mia], createdAt: NOW });
    const broken = env.slice(0, 40); // BAD_ENVELOPE for any valid key
    expect(errorOf(() => openVoiceMessage(broken, mia)).code).toBe('BAD_ENVELOPE');
    for (const len of [31, 33]) {
      expect(errorOf(() => openVoiceMessage(broken, { boxSecretKey: new Uint8Array(len).fill(1) })).code, `${len} bytes`).toBe('INVALID_KEY');
    }
  });
});

describe('family key errors', () => {
  it('a display name out of range says its UTF-8 length', () => {
    for (const [name, length] of [
      ['', 0],
      ['é'.repeat(33), 66],
    ] as const) {
      const e = errorOf(() => generateFamilyIdentity(name));
      expect(e.code).toBe('BAD_PAYLOAD');
      expect(e.detail).toEqual({ length });
    }
  });

  it('an identity file that is not JSON keeps the parse error as its cause', () => {
    const e = errorOf(() => parseFamilyIdentity('{"format":'));
    expect(e.code).toBe('KEYSTORE_CORRUPT');
    expect(causeOf(e)).toBeInstanceOf(SyntaxError);
  });

  it('malformed keys in an identity file keep the underlying error as their cause', () => {
    const good = JSON.parse(serializeFamilyIdentity(grandma)) as Record<string, unknown>;
    for (const bad of [{ signSeed: 'zz'.repeat(32) }, { boxSecret: 'ab'.repeat(31) }]) {
      const e = errorOf(() => parseFamilyIdentity(JSON.stringify({ ...good, ...bad })));
      expect(e.code).toBe('KEYSTORE_CORRUPT');
      expect(causeOf(e)).toBeInstanceOf(Error);
    }
  });
});
