import { describe, expect, it } from 'vitest';
import { concatBytes, toHex, utf8 } from '../../../src/protocol/bytes.js';
import { ed25519Sign } from '../../../src/protocol/crypto.js';
import { PlushlinkError } from '../../../src/protocol/errors.js';
import {
  ENVELOPE_LAYOUT,
  MAX_RECIPIENTS,
  generateFamilyIdentity,
  inspectVoiceMessage,
  keyIdOf,
  openVoiceMessage,
  peekMessageId,
  sealVoiceMessage,
} from '../../../src/messages/index.js';

const grandma = generateFamilyIdentity('Grandma');
const child = generateFamilyIdentity('Mia');
const parent = generateFamilyIdentity('Papa');
const stranger = generateFamilyIdentity('Stranger');
const audio = concatBytes(utf8('OggS'), new Uint8Array(30), utf8('OpusHead'), utf8('some opus packets'));

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof PlushlinkError) return e.code;
    return `non-plushlink error: ${String(e)}`;
  }
  return 'no error';
}

/** Re-signs everything but the signature with `signer`, after `mutate` changed the body. */
function resign(env: Uint8Array, signer: typeof grandma, mutate: (body: Uint8Array) => void): Uint8Array {
  const body = Uint8Array.from(env.subarray(0, env.length - 64));
  mutate(body);
  const sig = ed25519Sign(signer.signSecretKey, concatBytes(utf8('plushlink/voice-message/v1/signature\0'), body));
  return concatBytes(body, sig);
}

describe('sealVoiceMessage / openVoiceMessage', () => {
  it('round-trips for every recipient with the header fields', () => {
    const env = sealVoiceMessage({ audio, from: grandma, to: [child, parent], createdAt: 1_700_000_000_123 });
    for (const r of [child, parent]) {
      const o = openVoiceMessage(env, r);
      expect(o.audio).toEqual(audio);
      expect(o.sender).toEqual(grandma.signPublicKey);
      expect(o.createdAt).toBe(1_700_000_000_123);
      expect(o.messageId).toMatch(/^[0-9a-f]{32}$/);
      expect(o.messageId).toBe(peekMessageId(env));
      expect(o.recipients.map(toHex)).toEqual([child, parent].map((x) => toHex(keyIdOf(x.boxPublicKey))));
      expect(o.size).toBe(env.length);
      expect(o.audioLength).toBe(audio.length);
    }
    // Layout: header + 2 key ids + 2 wrapped keys + ciphertext + tag + signature
    expect(env.length).toBe(98 + 2 * 16 + 2 * 48 + audio.length + 16 + 64);
  });

  it('fresh randomness each time: same input, different envelopes and ids', () => {
    const a = sealVoiceMessage({ audio, from: grandma, to: [child] });
    const b = sealVoiceMessage({ audio, from: grandma, to: [child] });
    expect(toHex(a)).not.toBe(toHex(b));
    expect(peekMessageId(a)).not.toBe(peekMessageId(b));
  });

  it('accepts an explicit message id (hex or bytes) and empty audio', () => {
    const id = '00112233445566778899aabbccddeeff';
    const e1 = sealVoiceMessage({ audio: new Uint8Array(0), from: grandma, to: [child], messageId: id });
    expect(openVoiceMessage(e1, child).messageId).toBe(id);
    expect(openVoiceMessage(e1, child).audio.length).toBe(0);
  });

  it('dedupes a recipient listed twice', () => {
    const env = sealVoiceMessage({ audio, from: grandma, to: [child, child, parent] });
    expect(inspectVoiceMessage(env).recipients).toHaveLength(2);
  });

  it('refuses bad inputs at seal time', () => {
    expect(codeOf(() => sealVoiceMessage({ audio, from: grandma, to: [] }))).toBe('BAD_PAYLOAD');
    const many = Array.from({ length: MAX_RECIPIENTS + 1 }, (_, i) => generateFamilyIdentity(`r${i}`));
    expect(codeOf(() => sealVoiceMessage({ audio, from: grandma, to: many }))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => sealVoiceMessage({ audio, from: grandma, to: [child], messageId: 'abc' }))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => sealVoiceMessage({ audio, from: grandma, to: [child], createdAt: -1 }))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => sealVoiceMessage({ audio, from: grandma, to: [{ boxPublicKey: new Uint8Array(32) }] }))).toBe('LOW_ORDER_POINT');
    expect(codeOf(() => sealVoiceMessage({ audio, from: { ...grandma, signPublicKey: child.signPublicKey }, to: [child] }))).toBe('INVALID_KEY');
  });

  it('wrong recipient → NOT_A_RECIPIENT', () => {
    const env = sealVoiceMessage({ audio, from: grandma, to: [child] });
    expect(codeOf(() => openVoiceMessage(env, stranger))).toBe('NOT_A_RECIPIENT');
    expect(codeOf(() => openVoiceMessage(env, parent))).toBe('NOT_A_RECIPIENT');
  });

  it('replaced signature → BAD_SIGNATURE (random bytes, or a valid signature by another key)', () => {
    const env = sealVoiceMessage({ audio, from: grandma, to: [child] });
    const randomSig = Uint8Array.from(env);
    randomSig.set(generateFamilyIdentity('x').signPublicKey.slice(0, 32), env.length - 64);
    expect(codeOf(() => openVoiceMessage(randomSig, child))).toBe('BAD_SIGNATURE');
    const otherSig = resign(env, stranger, () => undefined); // sender field still grandma
    expect(codeOf(() => openVoiceMessage(otherSig, child))).toBe('BAD_SIGNATURE');
  });

  it('re-signed by another key with the sender swapped → TAMPERED, or UNTRUSTED_SENDER with a trust list', () => {
    const env = sealVoiceMessage({ audio, from: grandma, to: [child] });
    const forged = resign(env, stranger, (b) => b.set(stranger.signPublicKey, ENVELOPE_LAYOUT.sender));
    expect(codeOf(() => openVoiceMessage(forged, child))).toBe('TAMPERED');
    expect(codeOf(() => openVoiceMessage(forged, child, { trustedSenders: [grandma] }))).toBe('UNTRUSTED_SENDER');
  });

  it('content or wrapped key changed and re-signed by the real sender key → TAMPERED', () => {
    const env = sealVoiceMessage({ audio, from: grandma, to: [child] });
    const contentOff = 98 + 16 + 48;
    const badContent = resign(env, grandma, (b) => (b[contentOff + 3]! ^= 1));
    expect(codeOf(() => openVoiceMessage(badContent, child))).toBe('TAMPERED');
    const badWrap = resign(env, grandma, (b) => (b[98 + 16 + 5]! ^= 1));
    expect(codeOf(() => openVoiceMessage(badWrap, child))).toBe('TAMPERED');
    // header field (creation time) changed and re-signed: the AEAD/wrap nonce bind the header
    const badTime = resign(env, grandma, (b) => (b[ENVELOPE_LAYOUT.createdAt + 7]! ^= 1));
    expect(codeOf(() => openVoiceMessage(badTime, child))).toBe('TAMPERED');
    // a low-order ephemeral key, validly signed
    const lowOrder = resign(env, grandma, (b) => b.set(new Uint8Array(32), ENVELOPE_LAYOUT.ephemeral));
    expect(codeOf(() => openVoiceMessage(lowOrder, child))).toBe('TAMPERED');
  });

  it('unknown version → UNKNOWN_VERSION, even when the rest is truncated', () => {
    const env = sealVoiceMessage({ audio, from: grandma, to: [child] });
    for (const ver of [0, 2, 255]) {
      const b = Uint8Array.from(env);
      b[4] = ver;
      expect(codeOf(() => openVoiceMessage(b, child))).toBe('UNKNOWN_VERSION');
      expect(codeOf(() => openVoiceMessage(b.subarray(0, 5), child))).toBe('UNKNOWN_VERSION');
    }
  });

  it('truncated, extended or garbage → BAD_ENVELOPE', () => {
    const env = sealVoiceMessage({ audio, from: grandma, to: [child] });
    expect(codeOf(() => openVoiceMessage(new Uint8Array(0), child))).toBe('BAD_ENVELOPE');
    expect(codeOf(() => openVoiceMessage(env.subarray(0, 4), child))).toBe('BAD_ENVELOPE');
    expect(codeOf(() => openVoiceMessage(env.subarray(0, 97), child))).toBe('BAD_ENVELOPE');
    expect(codeOf(() => openVoiceMessage(env.subarray(0, env.length - 1), child))).toBe('BAD_ENVELOPE');
    expect(codeOf(() => openVoiceMessage(concatBytes(env, Uint8Array.of(0)), child))).toBe('BAD_ENVELOPE');
    expect(codeOf(() => openVoiceMessage(utf8('OggS and then some garbage that is long enough to be a header maybe'), child))).toBe('BAD_ENVELOPE');
    expect(codeOf(() => openVoiceMessage('nope' as unknown as Uint8Array, child))).toBe('BAD_ENVELOPE');
  });

  it('a duplicate key id in the header → BAD_ENVELOPE', () => {
    const env = sealVoiceMessage({ audio, from: grandma, to: [child, parent] });
    const b = Uint8Array.from(env);
    b.set(b.subarray(98, 114), 114);
    expect(codeOf(() => openVoiceMessage(b, child))).toBe('BAD_ENVELOPE');
  });

  it('trustedSenders: accepts raw keys or family keys and returns the match', () => {
    const env = sealVoiceMessage({ audio, from: grandma, to: [child] });
    const o = openVoiceMessage(env, child, { trustedSenders: [parent, grandma] });
    expect(o.trustedSender).toBe(grandma);
    expect(openVoiceMessage(env, child, { trustedSenders: [grandma.signPublicKey] }).audio).toEqual(audio);
    expect(codeOf(() => openVoiceMessage(env, child, { trustedSenders: [] }))).toBe('UNTRUSTED_SENDER');
    expect(codeOf(() => inspectVoiceMessage(env, { trustedSenders: [parent] }))).toBe('UNTRUSTED_SENDER');
  });

  it('the recipient key must be a 32-byte secret', () => {
    const env = sealVoiceMessage({ audio, from: grandma, to: [child] });
    expect(codeOf(() => openVoiceMessage(env, { boxSecretKey: new Uint8Array(5) }))).toBe('INVALID_KEY');
  });
});
