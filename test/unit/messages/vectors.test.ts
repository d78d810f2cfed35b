import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fromHex, toHex } from '../../../src/protocol/bytes.js';
import { isPlushlinkError } from '../../../src/protocol/errors.js';
import {
  familyIdentityFromSecrets,
  familyKeyCode,
  familyKeyFingerprint,
  keyIdOf,
  openVoiceMessage,
  parseFamilyKeyCode,
  sealVoiceMessage,
} from '../../../src/messages/index.js';
import { buildMessageVectors } from '../../../scripts/gen-message-vectors.js';
import { CRYPTO_BACKENDS, useCryptoBackendInSuite } from '../../helpers/backends.js';

type Person = Record<'name' | 'signSeed' | 'signPublicKey' | 'boxSecretKey' | 'boxPublicKey' | 'keyId' | 'familyKeyCode' | 'fingerprint', string>;
const v = JSON.parse(readFileSync(new URL('../../../fixtures/vectors/messages.json', import.meta.url), 'utf8')) as {
  sender: Person;
  recipients: Person[];
  notRecipient: Person;
  messageId: string;
  createdAt: number;
  randomness: { contentKey: string; ephemeralSecret: string };
  audio: string;
  envelope: string;
  negative: { name: string; envelope: string; expectedError: string; openWith?: string }[];
};

const idOf = (p: Person) => familyIdentityFromSecrets(p.name, fromHex(p.signSeed), fromHex(p.boxSecretKey));

describe.each(CRYPTO_BACKENDS)('messages vectors (fixtures/vectors/messages.json) [$name back end]', (backend) => {
  useCryptoBackendInSuite(backend);
  it('the generator output equals the committed file', () => {
    expect(JSON.parse(JSON.stringify(buildMessageVectors()))).toEqual(v);
  });

  it('keys, key ids, family key codes and fingerprints match', () => {
    for (const p of [v.sender, ...v.recipients, v.notRecipient]) {
      const id = idOf(p);
      expect(toHex(id.signPublicKey)).toBe(p.signPublicKey);
      expect(toHex(id.boxPublicKey)).toBe(p.boxPublicKey);
      expect(toHex(keyIdOf(id.boxPublicKey))).toBe(p.keyId);
      expect(familyKeyCode(id)).toBe(p.familyKeyCode);
      expect(familyKeyFingerprint(id)).toBe(p.fingerprint);
      const parsed = parseFamilyKeyCode(p.familyKeyCode);
      expect(parsed.name).toBe(p.name);
      expect(toHex(parsed.boxPublicKey)).toBe(p.boxPublicKey);
    }
  });

  it('sealing with the fixed inputs reproduces the envelope byte for byte', () => {
    const chunks = [fromHex(v.randomness.contentKey), fromHex(v.randomness.ephemeralSecret)];
    const env = sealVoiceMessage({
      audio: fromHex(v.audio),
      from: idOf(v.sender),
      to: v.recipients.map(idOf),
      messageId: v.messageId,
      createdAt: v.createdAt,
      random: (n) => {
        const c = chunks.shift()!;
        expect(c.length).toBe(n);
        return c;
      },
    });
    expect(toHex(env)).toBe(v.envelope);
    expect(chunks).toHaveLength(0);
  });

  it('every recipient opens the vector envelope', () => {
    for (const r of v.recipients) {
      const o = openVoiceMessage(fromHex(v.envelope), idOf(r), { trustedSenders: [idOf(v.sender)] });
      expect(toHex(o.audio)).toBe(v.audio);
      expect(o.messageId).toBe(v.messageId);
      expect(o.createdAt).toBe(v.createdAt);
      expect(toHex(o.sender)).toBe(v.sender.signPublicKey);
      expect(o.recipients.map(toHex)).toEqual(v.recipients.map((x) => x.keyId));
    }
  });

  it.each(v.negative.map((n) => [n.name, n] as const))('negative: %s', (_name, n) => {
    const who = n.openWith === 'notRecipient' ? v.notRecipient : v.recipients[0]!;
    let err: unknown;
    try {
      openVoiceMessage(fromHex(n.envelope), idOf(who));
    } catch (e) {
      err = e;
    }
    expect(isPlushlinkError(err)).toBe(true);
    expect((err as { code: string }).code).toBe(n.expectedError);
  });
});
