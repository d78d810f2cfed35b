/**
 * Voice message envelopes at their edges (src/messages/envelope.ts, docs/MESSAGES.md §Order of
 * checks): the structural limits refused as BAD_ENVELOPE before any signature check even when the
 * length is consistent (recipient count 0 or 65, audio over 16 MiB, a creation time past 2^53),
 * the limits themselves accepted (64 recipients, the largest safe time), the key ids read exactly,
 * a wrong message id length, bad recipient keys, and envelopes modified and re-signed by their
 * sender (a low-order ephemeral key, a wrapped key that does not unwrap) refused as TAMPERED.
 * Written for survivors of the src/messages mutation run.
 */
import { describe, expect, it } from 'vitest';
import { concatBytes, utf8 } from '../../../src/protocol/bytes.js';
import { ed25519Sign } from '../../../src/protocol/crypto.js';
import { PlushlinkError } from '../../../src/protocol/errors.js';
import {
  familyPublicKey,
  generateFamilyIdentity,
  inspectVoiceMessage,
  keyIdOf,
  MAX_AUDIO_BYTES,
  MAX_RECIPIENTS,
  openVoiceMessage,
  sealVoiceMessage,
} from '../../../src/messages/index.js';
import { codeOf } from '../../helpers/errors.js';
import { errorOf } from '../../helpers/errors.js';

const grandma = generateFamilyIdentity('Grandma');
const mia = generateFamilyIdentity('Mia');
const NOW = 1_767_225_600_000;
const SIGNATURE_CONTEXT = utf8('plushlink/voice-message/v1/signature\0');
const OFF_EPHEMERAL = 61;
const OFF_COUNT = 93;
const OFF_CONTENT_LEN = 94;
const OFF_CREATED = 21;
const FIXED = 98;

/** Replaces the signature of `env` by the sender's signature over its (modified) bytes. */
function resign(env: Uint8Array, sender = grandma): Uint8Array {
  const signed = env.subarray(0, env.length - 64);
  return concatBytes(signed, ed25519Sign(sender.signSecretKey, concatBytes(SIGNATURE_CONTEXT, signed)));
}
/** An envelope-shaped buffer: a real fixed header with `count` and `audioLength` set, padded to the length they imply. */
function shaped(count: number, audioLength: number, created?: bigint): Uint8Array {
  const env = sealVoiceMessage({ audio: utf8('OggS'), from: grandma, to: [mia], createdAt: NOW });
  const total = FIXED + count * 16 + count * 48 + audioLength + 16 + 64;
  const out = new Uint8Array(total);
  out.set(env.subarray(0, FIXED));
  const dv = new DataView(out.buffer);
  out[OFF_COUNT] = count;
  dv.setUint32(OFF_CONTENT_LEN, audioLength);
  if (created !== undefined) dv.setBigUint64(OFF_CREATED, created);
  // distinct key ids, so that only the checked limit can refuse it
  for (let i = 0; i < count; i++) out[FIXED + i * 16] = i + 1;
  return out;
}

describe('envelope structure: limits refused before the signature, with their detail', () => {
  it('recipient count 0 and 65 are BAD_ENVELOPE even when the length matches', () => {
    for (const count of [0, MAX_RECIPIENTS + 1, 255]) {
      const e = errorOf(() => inspectVoiceMessage(shaped(count, 4)));
      expect(e.code, `count ${count}`).toBe('BAD_ENVELOPE');
      expect(e.detail).toEqual({ count });
    }
  });

  it('an audio length over 16 MiB is BAD_ENVELOPE even when the length matches', () => {
    const e = errorOf(() => inspectVoiceMessage(shaped(1, MAX_AUDIO_BYTES + 1)));
    expect(e.code).toBe('BAD_ENVELOPE');
    expect(e.detail).toEqual({ audioLength: MAX_AUDIO_BYTES + 1 });
  });

  it('a creation time past 2^53 − 1 is BAD_ENVELOPE; 2^53 − 1 itself is a valid time', () => {
    expect(codeOf(() => inspectVoiceMessage(shaped(1, 4, BigInt(Number.MAX_SAFE_INTEGER) + 1n)))).toBe('BAD_ENVELOPE');
    const env = sealVoiceMessage({ audio: utf8('OggS'), from: grandma, to: [mia], createdAt: Number.MAX_SAFE_INTEGER });
    expect(inspectVoiceMessage(env).createdAt).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('a length that does not match the header says both', () => {
    const env = sealVoiceMessage({ audio: utf8('OggS'), from: grandma, to: [mia], createdAt: NOW });
    const e = errorOf(() => inspectVoiceMessage(env.subarray(0, env.length - 1)));
    expect(e.code).toBe('BAD_ENVELOPE');
    expect(e.detail).toEqual({ length: env.length - 1, expected: env.length });
    const short = errorOf(() => inspectVoiceMessage(env.subarray(0, 3)));
    expect(short.code).toBe('BAD_ENVELOPE');
    expect(short.detail).toEqual({ length: 3 });
    const header = errorOf(() => inspectVoiceMessage(env.subarray(0, FIXED - 1)));
    expect(header.code).toBe('BAD_ENVELOPE');
    expect(header.detail).toEqual({ length: FIXED - 1 });
  });

  it('64 recipients and 16 MiB of audio are within the limits; the key ids are read exactly, in order', () => {
    const family = Array.from({ length: MAX_RECIPIENTS }, (_, i) => familyPublicKey(generateFamilyIdentity(`m${i}`)));
    const env = sealVoiceMessage({ audio: new Uint8Array(MAX_AUDIO_BYTES), from: grandma, to: family, createdAt: NOW });
    const info = inspectVoiceMessage(env);
    expect(info.audioLength).toBe(MAX_AUDIO_BYTES);
    expect(info.recipients).toEqual(family.map((k) => keyIdOf(k.boxPublicKey)));
    const two = sealVoiceMessage({ audio: utf8('OggS'), from: grandma, to: [mia, grandma], createdAt: NOW });
    expect(inspectVoiceMessage(two).recipients).toEqual([keyIdOf(mia.boxPublicKey), keyIdOf(grandma.boxPublicKey)]);
  });
});

describe('sealing and opening: bad inputs', () => {
  it('a message id of 15 or 17 bytes is BAD_PAYLOAD; no recipient is BAD_PAYLOAD with the count', () => {
    for (const n of [15, 17]) expect(codeOf(() => sealVoiceMessage({ audio: utf8('x'), from: grandma, to: [mia], messageId: new Uint8Array(n) })), `${n}`).toBe('BAD_PAYLOAD');
    const e = errorOf(() => sealVoiceMessage({ audio: utf8('x'), from: grandma, to: [] }));
    expect(e.code).toBe('BAD_PAYLOAD');
    expect(e.detail).toEqual({ count: 0 });
  });

  it('a recipient without a 32-byte X25519 secret key is INVALID_KEY', () => {
    const env = sealVoiceMessage({ audio: utf8('OggS'), from: grandma, to: [mia], createdAt: NOW });
    for (const r of [null, undefined, {}, { boxSecretKey: mia.boxSecretKey.subarray(0, 31) }, { boxSecretKey: Array.from(mia.boxSecretKey) }]) {
      expect(codeOf(() => openVoiceMessage(env, r as never)), JSON.stringify(r)).toBe('INVALID_KEY');
    }
    expect(openVoiceMessage(env, mia).trustedSender).toBeUndefined();
    expect('trustedSender' in openVoiceMessage(env, mia)).toBe(false);
  });
});

describe('sealing: the sender and the recipient list', () => {
  it("a sender whose public key is not its secret key's is INVALID_KEY; no recipient list is BAD_PAYLOAD", () => {
    expect(codeOf(() => sealVoiceMessage({ audio: utf8('x'), from: { signSecretKey: grandma.signSecretKey, signPublicKey: mia.signPublicKey }, to: [mia] }))).toBe('INVALID_KEY');
    expect(codeOf(() => sealVoiceMessage({ audio: utf8('x'), from: grandma, to: undefined as never }))).toBe('BAD_PAYLOAD');
    for (const from of [null, {}, { signSecretKey: grandma.signSecretKey }, { signPublicKey: grandma.signPublicKey }, { signSecretKey: grandma.signSecretKey.subarray(0, 32), signPublicKey: grandma.signPublicKey }, { signSecretKey: grandma.signSecretKey, signPublicKey: concatBytes(grandma.signPublicKey, Uint8Array.of(0)) }]) {
      expect(codeOf(() => sealVoiceMessage({ audio: utf8('x'), from: from as never, to: [mia] })), JSON.stringify(from)).toBe('INVALID_KEY');
    }
  });

  it('audio that is not bytes, or over 16 MiB, is BAD_PAYLOAD before anything is sealed', () => {
    expect(codeOf(() => sealVoiceMessage({ audio: Array.from(utf8('OggS')) as never, from: grandma, to: [mia] }))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => sealVoiceMessage({ audio: 'OggS' as never, from: grandma, to: [mia] }))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => sealVoiceMessage({ audio: new Uint8Array(MAX_AUDIO_BYTES + 1), from: grandma, to: [mia] }))).toBe('BAD_PAYLOAD');
  });

  it('a creation time of 0 is valid, a negative one is not; a random source that returns a short id is INTERNAL', () => {
    expect(inspectVoiceMessage(sealVoiceMessage({ audio: utf8('x'), from: grandma, to: [mia], createdAt: 0 })).createdAt).toBe(0);
    expect(codeOf(() => sealVoiceMessage({ audio: utf8('x'), from: grandma, to: [mia], createdAt: -1 }))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => sealVoiceMessage({ audio: utf8('x'), from: grandma, to: [mia], random: (n) => new Uint8Array(n - 1) }))).toBe('INTERNAL');
  });

  it('an unknown version is UNKNOWN_VERSION with the version as detail', () => {
    const env = Uint8Array.from(sealVoiceMessage({ audio: utf8('OggS'), from: grandma, to: [mia], createdAt: NOW }));
    env[4] = 2;
    const e = errorOf(() => inspectVoiceMessage(env));
    expect(e.code).toBe('UNKNOWN_VERSION');
    expect(e.detail).toEqual({ version: 2 });
  });
});

describe('modified and re-signed by the sender: TAMPERED', () => {
  it('a low-order (all-zero) ephemeral key', () => {
    const env = sealVoiceMessage({ audio: utf8('OggS'), from: grandma, to: [mia], createdAt: NOW });
    const t = Uint8Array.from(env);
    t.fill(0, OFF_EPHEMERAL, OFF_EPHEMERAL + 32);
    const e = errorOf(() => openVoiceMessage(resign(t), mia));
    expect(e.code).toBe('TAMPERED');
    expect(e.detail).toBeUndefined();
    // refused by the low-order check itself (its error is the cause), not later by the unwrap
    expect((e as { cause?: unknown }).cause).toBeInstanceOf(PlushlinkError);
  });

  it('a wrapped content key that does not unwrap', () => {
    const env = sealVoiceMessage({ audio: utf8('OggS'), from: grandma, to: [mia], createdAt: NOW });
    const t = Uint8Array.from(env);
    t[FIXED + 16 + 5]! ^= 1;
    expect(codeOf(() => openVoiceMessage(resign(t), mia))).toBe('TAMPERED');
  });

  it('content that does not authenticate', () => {
    const env = sealVoiceMessage({ audio: utf8('OggS'), from: grandma, to: [mia], createdAt: NOW });
    const t = Uint8Array.from(env);
    t[FIXED + 16 + 48]! ^= 1;
    expect(codeOf(() => openVoiceMessage(resign(t), mia))).toBe('TAMPERED');
    expect(new TextDecoder().decode(openVoiceMessage(env, mia).audio)).toBe('OggS');
  });
});
