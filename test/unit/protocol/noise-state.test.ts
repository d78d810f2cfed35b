/**
 * The Noise state machines' rules that noise-api.test.ts and the vectors do not reach
 * (src/protocol/noise/, docs/PROTOCOL.md §6 and §6.1, the Noise spec rev 34):
 * - CipherState (§5.1): the nonce encoding `4 zero bytes || u64 little-endian n` above 2^32, the
 *   last usable nonce and the refusal after it, InitializeKey(empty);
 * - SymmetricState (§5.2 InitializeSymmetric): a protocol name of at most 64 bytes is padded to
 *   64, a longer one is hashed;
 * - HandshakeState (§5.3): whose turn it is through a whole handshake and after a failure, the
 *   message size limit of §3 (65535 bytes) on both sides, truncation, out-of-turn and after-the-end
 *   calls, split() only once finished and always the same states, remote keys of the wrong size.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { aeadOpen, aeadSeal, generateX25519KeyPair, randomBytes } from '../../../src/protocol/crypto.js';
import { CipherState, MAX_NONCE, chachaNonce } from '../../../src/protocol/noise/cipher-state.js';
import { HandshakeState, MAX_NOISE_MESSAGE } from '../../../src/protocol/noise/handshake-state.js';
import { SymmetricState } from '../../../src/protocol/noise/symmetric-state.js';
import { codeOrNameOf } from '../../helpers/errors.js';

const caught = (f: () => unknown): (Error & { code?: string }) | undefined => {
  try {
    f();
  } catch (e) {
    return e as Error & { code?: string };
  }
  return undefined;
};

/** The Noise ChaChaPoly nonce built independently of cipher-state.ts (Noise §5.1, PROTOCOL.md §6.1). */
const explicitNonce = (n: bigint): Uint8Array => {
  const out = new Uint8Array(12);
  new DataView(out.buffer).setBigUint64(4, n, true);
  return out;
};

describe('CipherState nonces (Noise §5.1, PROTOCOL.md §6.1)', () => {
  it('nonce(n) = 4 zero bytes || u64 little-endian n, also above 2^32 and for bigint counters', () => {
    for (const n of [0, 1, 0xff, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, 0x1234_5678_9abc, 2 ** 53 - 2, 2 ** 53 - 1]) {
      expect(chachaNonce(n), String(n)).toEqual(explicitNonce(BigInt(n)));
    }
    expect(chachaNonce(2n ** 32n + 5n)).toEqual(explicitNonce(2n ** 32n + 5n));
    // the nonce REKEY uses (§11.3): 2^64 − 1, only reachable as a bigint
    expect(chachaNonce(2n ** 64n - 1n)).toEqual(Uint8Array.of(0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
  });

  it('a counter that is not an integer has no nonce: a fraction, NaN or Infinity is a RangeError, never some other nonce', () => {
    // Infinity read as a 32-bit value would be 0: a second use of nonce 0 under the same key
    for (const bad of [1.5, 2 ** 32 + 0.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(codeOrNameOf(() => chachaNonce(bad)), String(bad)).toBe('RangeError');
  });

  it('a counter outside 0…2^64 − 1 is a RangeError, never wrapped onto another nonce (−1 would be REKEY’s, 2^64 would be 0)', () => {
    for (const bad of [-1, -(2 ** 53), -1n, 2n ** 64n, 2n ** 64n + 1n, 2 ** 64]) expect(codeOrNameOf(() => chachaNonce(bad)), String(bad)).toBe('RangeError');
    expect(chachaNonce(0n)).toEqual(explicitNonce(0n));
    expect(chachaNonce(2n ** 53n)).toEqual(explicitNonce(2n ** 53n));
  });

  it('a CipherState at a counter above 2^32 seals with exactly that nonce, and its peer opens it', () => {
    const k = randomBytes(32);
    const ad = Uint8Array.of(1, 2);
    const pt = Uint8Array.of(3, 4, 5);
    for (const n of [2 ** 32 + 5, 2 ** 40 + 1]) {
      const send = new CipherState(k);
      send.setNonce(n);
      const ct = send.encryptWithAd(ad, pt);
      expect(ct).toEqual(aeadSeal(k, explicitNonce(BigInt(n)), ad, pt));
      expect(send.nonce).toBe(n + 1);
      const recv = new CipherState(k);
      recv.setNonce(n);
      expect(recv.decryptWithAd(ad, ct)).toEqual(pt);
      expect(recv.nonce).toBe(n + 1);
    }
  });

  it('the last nonce used is MAX_NONCE − 1 = 2^53 − 2; at MAX_NONCE both directions refuse with NONCE_EXHAUSTED and do not advance', () => {
    // Noise §5.1 reserves 2^64 − 1 and signals an error once n reaches it; plushlink's counter is a
    // JS safe integer, so it stops earlier, at 2^53 − 1 (cipher-state.ts MAX_NONCE).
    expect(MAX_NONCE).toBe(2 ** 53 - 1);
    const k = randomBytes(32);
    const ad = new Uint8Array(0);
    const send = new CipherState(k);
    const recv = new CipherState(k);
    send.setNonce(MAX_NONCE - 1);
    recv.setNonce(MAX_NONCE - 1);
    const last = send.encryptWithAd(ad, Uint8Array.of(7));
    expect(last).toEqual(aeadSeal(k, explicitNonce(2n ** 53n - 2n), ad, Uint8Array.of(7)));
    expect(recv.decryptWithAd(ad, last)).toEqual(Uint8Array.of(7));
    expect([send.nonce, recv.nonce]).toEqual([MAX_NONCE, MAX_NONCE]);

    expect(codeOrNameOf(() => send.encryptWithAd(ad, Uint8Array.of(8)))).toBe('NONCE_EXHAUSTED');
    expect(send.nonce).toBe(MAX_NONCE);
    // even a ciphertext that would authenticate at that nonce is refused, not opened
    const wouldOpen = aeadSeal(k, explicitNonce(2n ** 53n - 1n), ad, Uint8Array.of(8));
    expect(aeadOpen(k, explicitNonce(2n ** 53n - 1n), ad, wouldOpen)).toEqual(Uint8Array.of(8));
    expect(codeOrNameOf(() => recv.decryptWithAd(ad, wouldOpen))).toBe('NONCE_EXHAUSTED');
    expect(recv.nonce).toBe(MAX_NONCE);
    // REKEY keeps the nonce (§11.3), so it does not lift the limit
    send.rekey();
    expect(codeOrNameOf(() => send.encryptWithAd(ad, Uint8Array.of(8)))).toBe('NONCE_EXHAUSTED');
  });

  it('InitializeKey(empty) drops the key and resets the nonce: data passes through again (§5.1)', () => {
    const cs = new CipherState(randomBytes(32));
    cs.encryptWithAd(new Uint8Array(0), Uint8Array.of(1));
    expect(cs.nonce).toBe(1);
    cs.initializeKey(undefined);
    expect(cs.hasKey()).toBe(false);
    expect(cs.key).toBeUndefined();
    expect(cs.nonce).toBe(0);
    expect(cs.encryptWithAd(new Uint8Array(0), Uint8Array.of(9, 9))).toEqual(Uint8Array.of(9, 9));
  });
});

describe('SymmetricState: the initial h from the protocol name (Noise §5.2, PROTOCOL.md §6.1)', () => {
  // Random names: symmetric-state.ts caches the initial h per name, so each run computes it anew.
  const nameOf = (bytes: number): string => `Noise_${Buffer.from(randomBytes(64)).toString('hex')}`.slice(0, bytes);

  it('a name of at most 64 bytes is h itself, zero-padded to 64; ck starts equal to h', () => {
    for (const len of [36, 63, 64]) {
      const name = nameOf(len);
      expect(name.length).toBe(len);
      const expected = new Uint8Array(64);
      expected.set(Buffer.from(name, 'ascii'));
      expect(new SymmetricState(name).handshakeHash, String(len)).toEqual(expected);
    }
  });

  it('a name of 65 bytes or more is hashed: h = SHA-512(name)', () => {
    for (const len of [65, 100]) {
      const name = nameOf(len);
      expect(name.length).toBe(len);
      const expected = new Uint8Array(createHash('sha512').update(name, 'ascii').digest());
      expect(new SymmetricState(name).handshakeHash, String(len)).toEqual(expected);
    }
  });
});

const NN = 'Noise_NN_25519_ChaChaPoly_SHA512';
const XX = 'Noise_XX_25519_ChaChaPoly_SHA512';
const IK = 'Noise_IK_25519_ChaChaPoly_SHA512';

const turns = (...hs: HandshakeState[]): [boolean, number][] => hs.map((h) => [h.isMyTurn, h.messageIndex]);

describe('HandshakeState turns (Noise §5.3)', () => {
  it('isMyTurn and messageIndex follow an XX handshake on both sides; at the end nobody writes', () => {
    const init = new HandshakeState({ protocolName: XX, initiator: true, s: generateX25519KeyPair() });
    const resp = new HandshakeState({ protocolName: XX, initiator: false, s: generateX25519KeyPair() });
    expect(turns(init, resp)).toEqual([
      [true, 0],
      [false, 0],
    ]);
    const m1 = init.writeMessage();
    // the responder has not read message 1 yet: it is nobody's turn to write
    expect(turns(init, resp)).toEqual([
      [false, 1],
      [false, 0],
    ]);
    resp.readMessage(m1);
    expect(turns(init, resp)).toEqual([
      [false, 1],
      [true, 1],
    ]);
    init.readMessage(resp.writeMessage());
    expect(turns(init, resp)).toEqual([
      [true, 2],
      [false, 2],
    ]);
    resp.readMessage(init.writeMessage());
    expect(turns(init, resp)).toEqual([
      [false, 3],
      [false, 3],
    ]);
    expect(init.finished && resp.finished).toBe(true);
  });

  it('out of turn: writing the message the peer writes, or reading one this party writes, is WRONG_ROLE', () => {
    const init = new HandshakeState({ protocolName: NN, initiator: true });
    const resp = new HandshakeState({ protocolName: NN, initiator: false });
    expect(codeOrNameOf(() => resp.writeMessage())).toBe('WRONG_ROLE');
    expect(codeOrNameOf(() => init.readMessage(new Uint8Array(32)))).toBe('WRONG_ROLE');
    expect(resp.messageIndex).toBe(0);
    expect(init.messageIndex).toBe(0);
    // Like any failure, it ends the handshake: every later call is HANDSHAKE_STATE (the header's promise).
    for (const h of [init, resp]) {
      expect(h.isMyTurn).toBe(false);
      expect(codeOrNameOf(() => h.writeMessage())).toBe('HANDSHAKE_STATE');
      expect(codeOrNameOf(() => h.readMessage(new Uint8Array(32)))).toBe('HANDSHAKE_STATE');
    }
  });

  it('after the last message both write and read are HANDSHAKE_STATE', () => {
    const init = new HandshakeState({ protocolName: NN, initiator: true });
    const resp = new HandshakeState({ protocolName: NN, initiator: false });
    resp.readMessage(init.writeMessage());
    init.readMessage(resp.writeMessage());
    for (const h of [init, resp]) {
      expect(codeOrNameOf(() => h.writeMessage())).toBe('HANDSHAKE_STATE');
      expect(codeOrNameOf(() => h.readMessage(new Uint8Array(48)))).toBe('HANDSHAKE_STATE');
    }
  });

  it('a failed write (own static missing for `s`: MISSING_KEY) ends the handshake: not my turn, not finished, every call HANDSHAKE_STATE', () => {
    const init = new HandshakeState({ protocolName: XX, initiator: true }); // no s: XX sends it in message 3
    const resp = new HandshakeState({ protocolName: XX, initiator: false, s: generateX25519KeyPair() });
    resp.readMessage(init.writeMessage());
    init.readMessage(resp.writeMessage());
    expect(init.isMyTurn).toBe(true);
    expect(codeOrNameOf(() => init.writeMessage())).toBe('MISSING_KEY');
    expect(init.isMyTurn).toBe(false);
    expect(init.finished).toBe(false);
    expect(init.messageIndex).toBe(2);
    expect(codeOrNameOf(() => init.writeMessage())).toBe('HANDSHAKE_STATE');
    expect(codeOrNameOf(() => init.split())).toBe('HANDSHAKE_STATE');
  });

  it('a failed read ends the handshake the same way (PROTOCOL.md §6.2: the state is discarded)', () => {
    const init = new HandshakeState({ protocolName: NN, initiator: true });
    const resp = new HandshakeState({ protocolName: NN, initiator: false });
    resp.readMessage(init.writeMessage());
    const m2 = resp.writeMessage(Uint8Array.of(1));
    m2[m2.length - 1]! ^= 1;
    expect(codeOrNameOf(() => init.readMessage(m2))).toBe('DECRYPT_FAILED');
    expect([init.isMyTurn, init.finished, init.messageIndex]).toEqual([false, false, 1]);
    expect(codeOrNameOf(() => init.readMessage(m2))).toBe('HANDSHAKE_STATE');
    expect(codeOrNameOf(() => init.split())).toBe('HANDSHAKE_STATE');
  });

  it('an error from checkRemoteStatic that is not typed becomes HANDSHAKE_FAILED with that error as cause', () => {
    const refusal = new Error('unknown companion');
    const init = new HandshakeState({ protocolName: XX, initiator: true, s: generateX25519KeyPair() });
    const resp = new HandshakeState({
      protocolName: XX,
      initiator: false,
      s: generateX25519KeyPair(),
      checkRemoteStatic: () => {
        throw refusal;
      },
    });
    resp.readMessage(init.writeMessage());
    init.readMessage(resp.writeMessage());
    const err = caught(() => resp.readMessage(init.writeMessage()));
    expect(err).toMatchObject({ code: 'HANDSHAKE_FAILED' });
    expect(err!.cause).toBe(refusal);
    expect(resp.finished).toBe(false);
  });
});

describe('HandshakeState split (Noise §5.3 Split, PROTOCOL.md §6.1)', () => {
  it('only once finished; a second call returns the same cipher states, so no nonce is used twice', () => {
    const init = new HandshakeState({ protocolName: NN, initiator: true });
    const resp = new HandshakeState({ protocolName: NN, initiator: false });
    expect(codeOrNameOf(() => init.split())).toBe('HANDSHAKE_STATE');
    resp.readMessage(init.writeMessage());
    expect(codeOrNameOf(() => resp.split())).toBe('HANDSHAKE_STATE');
    init.readMessage(resp.writeMessage());
    const a = init.split();
    const ct1 = a.send.encryptWithAd(new Uint8Array(0), Uint8Array.of(1));
    const b = init.split();
    expect(b.send).toBe(a.send);
    expect(b.receive).toBe(a.receive);
    expect(b.send.nonce).toBe(1);
    const ct2 = b.send.encryptWithAd(new Uint8Array(0), Uint8Array.of(1));
    expect(ct2).not.toEqual(ct1);
    const r = resp.split();
    expect(r.receive.decryptWithAd(new Uint8Array(0), ct1)).toEqual(Uint8Array.of(1));
    expect(r.receive.decryptWithAd(new Uint8Array(0), ct2)).toEqual(Uint8Array.of(1));
  });
});

describe('HandshakeState message sizes (Noise §3: at most 65535 bytes; PROTOCOL.md §6.2)', () => {
  // NN message 1 is `e` (32 bytes) and the payload in clear (no key yet): 32 + payload bytes.
  const ePlus = MAX_NOISE_MESSAGE - 32;

  it('writes and reads a message of exactly 65535 bytes', () => {
    expect(MAX_NOISE_MESSAGE).toBe(65535);
    const init = new HandshakeState({ protocolName: NN, initiator: true });
    const resp = new HandshakeState({ protocolName: NN, initiator: false });
    const payload = new Uint8Array(ePlus).fill(0x5a);
    const m1 = init.writeMessage(payload);
    expect(m1.length).toBe(65535);
    expect(resp.readMessage(m1)).toEqual(payload);
  });

  it('one byte more: the writer refuses MESSAGE_TOO_LONG (and is done), the reader too', () => {
    const init = new HandshakeState({ protocolName: NN, initiator: true });
    expect(codeOrNameOf(() => init.writeMessage(new Uint8Array(ePlus + 1)))).toBe('MESSAGE_TOO_LONG');
    expect([init.isMyTurn, init.messageIndex]).toEqual([false, 0]);
    const resp = new HandshakeState({ protocolName: NN, initiator: false });
    expect(codeOrNameOf(() => resp.readMessage(new Uint8Array(65536)))).toBe('MESSAGE_TOO_LONG');
    expect(resp.messageIndex).toBe(0);
  });

  it('a message that holds exactly its keys reads (empty payload); one byte short of a key is MESSAGE_TOO_SHORT', () => {
    const resp = new HandshakeState({ protocolName: NN, initiator: false });
    const e = generateX25519KeyPair().publicKey;
    expect(resp.readMessage(e)).toEqual(new Uint8Array(0));
    expect(resp.messageIndex).toBe(1);

    // IK message 1: e (32) || encrypted s (48) || payload tag (16); cut inside the encrypted s
    const toy = generateX25519KeyPair();
    const i = new HandshakeState({ protocolName: IK, initiator: true, s: generateX25519KeyPair(), rs: toy.publicKey });
    const m1 = i.writeMessage();
    expect(m1.length).toBe(96);
    for (const cut of [31, 40, 79]) {
      const r = new HandshakeState({ protocolName: IK, initiator: false, s: toy });
      expect(codeOrNameOf(() => r.readMessage(m1.subarray(0, cut))), String(cut)).toBe('MESSAGE_TOO_SHORT');
    }
  });
});

describe('HandshakeState refuses remote keys of the wrong size and names a missing pre-message key', () => {
  it('rs or re that is not 32 bytes: INVALID_KEY at construction', () => {
    const s = generateX25519KeyPair();
    for (const len of [31, 33]) {
      expect(codeOrNameOf(() => new HandshakeState({ protocolName: IK, initiator: true, s, rs: new Uint8Array(len).fill(9) })), `rs ${len}`).toBe('INVALID_KEY');
      expect(codeOrNameOf(() => new HandshakeState({ protocolName: NN, initiator: true, re: new Uint8Array(len).fill(9) })), `re ${len}`).toBe('INVALID_KEY');
    }
  });

  it("the IK responder without its own static: MISSING_KEY naming the local party's s", () => {
    const err = caught(() => new HandshakeState({ protocolName: IK, initiator: false }));
    expect(err).toMatchObject({ code: 'MISSING_KEY' });
    expect(err!.message).toMatch(/pre-message key "s" of the local party/);
  });
});
