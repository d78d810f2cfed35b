/**
 * The Noise layer's own contract (src/protocol/noise/, docs/PROTOCOL.md §6, the Noise spec rev 34):
 * CipherState key and nonce rules and REKEY (§4.2, §11.3), HandshakeState's refusal of missing or
 * malformed keys before any message, pattern and protocol-name parsing, and the vector runner
 * reporting a corrupted vector as a failure with its reason (it is what `npm run vectors` and the
 * Noise vector test trust).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { aeadSeal, generateX25519KeyPair, randomBytes } from '../../../src/protocol/crypto.js';
import { CipherState, chachaNonce } from '../../../src/protocol/noise/cipher-state.js';
import { HandshakeState } from '../../../src/protocol/noise/handshake-state.js';
import { getPattern, parseProtocolName } from '../../../src/protocol/noise/patterns.js';
import { runVector, runVectorFile, type NoiseVector } from '../../../src/protocol/noise/vectors.js';
import { codeOrNameOf } from '../../helpers/errors.js';
import { sharedPath } from '../../helpers/shared.js';


describe('CipherState', () => {
  it('takes only a 32-byte key, and without a key passes data through unchanged (Noise §5.1)', () => {
    expect(codeOrNameOf(() => new CipherState(new Uint8Array(31)))).toBe('INVALID_KEY');
    expect(codeOrNameOf(() => new CipherState().initializeKey(new Uint8Array(33)))).toBe('INVALID_KEY');
    const empty = new CipherState();
    expect(empty.hasKey()).toBe(false);
    const pt = Uint8Array.of(1, 2, 3);
    const out = empty.encryptWithAd(new Uint8Array(0), pt);
    expect(out).toEqual(pt);
    expect(out).not.toBe(pt); // a copy
    expect(empty.decryptWithAd(new Uint8Array(0), pt)).toEqual(pt);
    expect(empty.nonce).toBe(0);
  });

  it('setNonce takes only a non-negative safe integer, and the next seal uses that nonce', () => {
    const k = randomBytes(32);
    const cs = new CipherState(k);
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) expect(codeOrNameOf(() => cs.setNonce(bad)), String(bad)).toBe('RangeError');
    cs.setNonce(0);
    cs.setNonce(7);
    expect(cs.nonce).toBe(7);
    const ad = Uint8Array.of(9);
    expect(cs.encryptWithAd(ad, Uint8Array.of(1))).toEqual(aeadSeal(k, chachaNonce(7), ad, Uint8Array.of(1)));
    expect(cs.nonce).toBe(8);
  });

  it('REKEY: k = first 32 bytes of ENCRYPT(k, 2^64−1, empty, 32 zero bytes); the nonce is kept; no key → MISSING_KEY', () => {
    const k = randomBytes(32);
    const cs = new CipherState(k);
    cs.setNonce(3);
    cs.rekey();
    const maxNonce = Uint8Array.of(0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    const k2 = aeadSeal(k, maxNonce, new Uint8Array(0), new Uint8Array(32)).slice(0, 32);
    expect(cs.key).toEqual(k2);
    expect(cs.nonce).toBe(3);
    expect(cs.encryptWithAd(new Uint8Array(0), Uint8Array.of(5))).toEqual(aeadSeal(k2, chachaNonce(3), new Uint8Array(0), Uint8Array.of(5)));
    expect(codeOrNameOf(() => new CipherState().rekey())).toBe('MISSING_KEY');
  });
});

describe('HandshakeState refuses bad keys before any message', () => {
  const IK = 'Noise_IKpsk1_25519_ChaChaPoly_SHA512';
  it('a psk that is not 32 bytes: INVALID_KEY; the wrong number of psks: MISSING_KEY', () => {
    const rs = generateX25519KeyPair().publicKey;
    const s = generateX25519KeyPair();
    expect(codeOrNameOf(() => new HandshakeState({ protocolName: IK, initiator: true, s, rs, psks: [new Uint8Array(31)] }))).toBe('INVALID_KEY');
    expect(codeOrNameOf(() => new HandshakeState({ protocolName: IK, initiator: true, s, rs, psks: [] }))).toBe('MISSING_KEY');
    expect(codeOrNameOf(() => new HandshakeState({ protocolName: IK, initiator: true, s, rs, psks: [new Uint8Array(32), new Uint8Array(32)] }))).toBe('MISSING_KEY');
    expect(codeOrNameOf(() => new HandshakeState({ protocolName: IK, initiator: true, s, rs, psks: [new Uint8Array(32)] }))).toBeUndefined();
  });

  it("a pre-message key the pattern needs (IK: the responder's static) is missing: MISSING_KEY naming it", () => {
    const s = generateX25519KeyPair();
    let err: unknown;
    try {
      new HandshakeState({ protocolName: IK, initiator: true, s, psks: [new Uint8Array(32)] });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'MISSING_KEY' });
    expect((err as Error).message).toMatch(/pre-message key "s" of the remote party/);
    // the responder needs its own static for the same pre-message
    expect(codeOrNameOf(() => new HandshakeState({ protocolName: IK, initiator: false, psks: [new Uint8Array(32)] }))).toBe('MISSING_KEY');
    // NN has no pre-message: nothing is required
    expect(codeOrNameOf(() => new HandshakeState({ protocolName: 'Noise_NN_25519_ChaChaPoly_SHA512', initiator: true }))).toBeUndefined();
  });
});

describe('patterns and protocol names', () => {
  it('psk modifiers go where the spec puts them, and out-of-range or unknown ones are UNSUPPORTED_PROTOCOL', () => {
    const ik = getPattern('IKpsk1');
    expect(ik.psk).toBe(true);
    expect(ik.messages.map((m) => m.tokens)).toEqual([
      ['e', 'es', 's', 'ss', 'psk'],
      ['e', 'ee', 'se'],
    ]);
    expect(getPattern('NNpsk0').messages[0]!.tokens).toEqual(['psk', 'e']);
    expect(getPattern('XXpsk3').messages[2]!.tokens.at(-1)).toBe('psk');
    expect(getPattern('IKpsk1')).toBe(ik); // parsed once, shared
    expect(Object.isFrozen(ik) && Object.isFrozen(ik.messages[0]!.tokens)).toBe(true);
    expect(getPattern('IK').psk).toBe(false);
    for (const bad of ['IKpsk3', 'ZZ', 'IKpskX', 'ik', '']) expect(codeOrNameOf(() => getPattern(bad)), bad).toBe('UNSUPPORTED_PROTOCOL');
  });

  it('modifiers only in canonical spelling and each once (Noise §10.2): two psks in different places are fine, a repeat or a leading zero is not', () => {
    expect(getPattern('NNpsk0+psk2').messages.map((m) => m.tokens)).toEqual([
      ['psk', 'e'],
      ['e', 'ee', 'psk'],
    ]);
    for (const bad of ['NNpsk00', 'IKpsk01', 'NNpsk0+psk0', 'XXpsk3+psk3', 'NNpsk2+psk0+psk2']) expect(codeOrNameOf(() => getPattern(bad)), bad).toBe('UNSUPPORTED_PROTOCOL');
  });

  it('only Noise_<pattern>_25519_ChaChaPoly_SHA512 is accepted', () => {
    expect(parseProtocolName('Noise_XX_25519_ChaChaPoly_SHA512')).toMatchObject({ dh: '25519', cipher: 'ChaChaPoly', hash: 'SHA512' });
    for (const bad of ['Noise_XX_25519_ChaChaPoly_SHA256', 'Noise_XX_448_ChaChaPoly_SHA512', 'Noise_XX_25519_AESGCM_SHA512', 'NoisePSK_XX_25519_ChaChaPoly_SHA512', 'Noise_XX_25519_ChaChaPoly', 'Noise_XX_25519_ChaChaPoly_SHA512_x']) {
      expect(codeOrNameOf(() => parseProtocolName(bad)), bad).toBe('UNSUPPORTED_PROTOCOL');
    }
  });
});

const cacophony = sharedPath('vectors', 'noise', 'cacophony.txt');
describe.skipIf(!cacophony)('the Noise vector runner reports what is wrong', () => {
  const all = (): NoiseVector[] => (JSON.parse(readFileSync(cacophony!, 'utf8')) as { vectors: NoiseVector[] }).vectors;
  const ik = (): NoiseVector => structuredClone(all().find((v) => v.protocol_name === 'Noise_IKpsk1_25519_ChaChaPoly_SHA512')!);
  const flip = (h: string): string => h.slice(0, -2) + (h.endsWith('00') ? '01' : '00');

  it('an intact vector passes; another suite is skipped; the file summary counts each', () => {
    expect(runVector(ik())).toEqual({ status: 'passed' });
    const other = { ...ik(), protocol_name: 'Noise_IKpsk1_25519_AESGCM_SHA256' };
    expect(runVector(other)).toEqual({ status: 'skipped', reason: 'other suite' });
    const bad = ik();
    bad.messages[0]!.ciphertext = flip(bad.messages[0]!.ciphertext);
    expect(runVectorFile({ vectors: [ik(), other, bad, ik()] })).toEqual({
      passed: 2,
      failed: 1,
      skipped: 1,
      failures: [{ protocolName: 'Noise_IKpsk1_25519_ChaChaPoly_SHA512', reason: expect.stringMatching(/^message 0: ciphertext [0-9a-f]+ != [0-9a-f]+$/) }],
    });
  });

  it('each kind of corruption is a failure with its reason', () => {
    const hs = ik();
    hs.messages[1]!.ciphertext = flip(hs.messages[1]!.ciphertext);
    expect(runVector(hs)).toMatchObject({ status: 'failed', reason: expect.stringMatching(/^message 1: ciphertext /) });
    const transport = ik();
    expect(transport.messages.length).toBeGreaterThan(2);
    transport.messages[3]!.ciphertext = flip(transport.messages[3]!.ciphertext);
    expect(runVector(transport)).toEqual({ status: 'failed', reason: 'transport message 3: ciphertext mismatch' });
    const hash = ik();
    hash.handshake_hash = flip(hash.handshake_hash!);
    expect(runVector(hash)).toMatchObject({ status: 'failed', reason: expect.stringMatching(/^handshake hash [0-9a-f]+ != /) });
    const noEphemeral = ik();
    delete (noEphemeral as Partial<NoiseVector>).resp_ephemeral;
    // the handshake wraps what went wrong in a typed error; the runner keeps its code and message
    expect(runVector(noEphemeral)).toEqual({ status: 'failed', reason: 'HANDSHAKE_FAILED: handshake failed: vector needs an ephemeral key it does not provide' });
    const badPsk = ik();
    badPsk.init_psks = [flip(badPsk.init_psks![0]!)];
    expect(runVector(badPsk)).toMatchObject({ status: 'failed' });
  });
});
