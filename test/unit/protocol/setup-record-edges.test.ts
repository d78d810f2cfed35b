/**
 * Edges of the setup-code / QR parsing (PROTOCOL.md §5.4, §5.5) and of the record layer
 * (PROTOCOL.md §8.1–§8.3) that the other protocol tests leave open.
 */
import { describe, expect, it } from 'vitest';
import { formatSetupQr, parseSetupInput, parseSetupQr, setupCodePsk } from '../../../src/protocol/setup-code.js';
import { EPOCH_SIZE, RECORD_HEADER_LEN, RecordReceiver, RecordSender, nextEpochKey } from '../../../src/protocol/record.js';
import { aeadSealWithHeader, pureCryptoBackend, useCryptoBackend } from '../../../src/protocol/crypto.js';
import { PlushlinkError } from '../../../src/protocol/errors.js';
import { codeOf, errorOf } from '../../helpers/errors.js';

const SECRET = '0123456789ABCDEFGHJKMN';
const TOY_KEY = new Uint8Array(32).map((_, i) => 200 - i);
const K = new Uint8Array(32).map((_, i) => 3 * i + 7);

/** §8.2: nonce = 4 zero bytes || counter as u64 little-endian. */
function nonceOf(counter: number): Uint8Array {
  const n = new Uint8Array(12);
  for (let i = 0; i < 8; i++) n[4 + i] = Math.floor(counter / 2 ** (8 * i)) % 256;
  return n;
}

/** §8.2: counter (u32 BE) || AEAD(key_(counter >> 24), nonce, ad = counter bytes, plaintext), built by hand. */
function recordByHand(key0: Uint8Array, counter: number, plaintext: Uint8Array): Uint8Array {
  let key = key0;
  for (let e = 0; e < Math.floor(counter / EPOCH_SIZE); e++) key = nextEpochKey(key);
  const header = new Uint8Array(RECORD_HEADER_LEN);
  new DataView(header.buffer).setUint32(0, counter, false);
  return aeadSealWithHeader(key, nonceOf(counter), header, plaintext);
}

describe('QR payload: matched whole (PROTOCOL.md §5.4)', () => {
  const qr = formatSetupQr({ secret: SECRET }, TOY_KEY);

  it('text before "PL" is refused as not a plushlink QR payload', () => {
    expect(codeOf(() => parseSetupQr(`X${qr}`))).toBe('BAD_QR_PAYLOAD');
    expect(codeOf(() => parseSetupQr(`#${qr}`))).toBe('BAD_QR_PAYLOAD');
    expect(codeOf(() => parseSetupQr(`0${qr}`))).toBe('BAD_QR_PAYLOAD');
  });

  it('surrounding whitespace is trimmed, also when the input is routed by parseSetupInput', () => {
    for (const input of [` ${qr}`, `\t\n ${qr}\r\n`, `  ${qr.toLowerCase()}  `]) {
      const got = parseSetupInput(input);
      expect(got.code).toEqual({ secret: SECRET });
      expect(got.toyPublicKey).toEqual(TOY_KEY);
    }
  });

  it('parseSetupInput treats input that does not begin (after whitespace) with PL<digits>: as a typed code', () => {
    // a typed code never contains ":"; so such input is a bad typed code, not a QR payload
    expect(codeOf(() => parseSetupInput(`#${qr}`))).toBe('BAD_SETUP_CODE');
    expect(codeOf(() => parseSetupInput(`X ${qr}`))).toBe('BAD_SETUP_CODE');
  });
});

describe('setup-code PSK (PROTOCOL.md §5.5)', () => {
  it('info is the toy static public key of 32 bytes: any other length is INVALID_KEY', () => {
    for (const n of [0, 31, 33, 64]) {
      expect(codeOf(() => setupCodePsk({ secret: SECRET }, new Uint8Array(n)))).toBe('INVALID_KEY');
    }
    expect(setupCodePsk({ secret: SECRET }, TOY_KEY)).toHaveLength(32);
  });
});

describe('record layer edges (PROTOCOL.md §8)', () => {
  it('a span of exactly one epoch (2^24 counters) is allowed and fills that epoch', () => {
    const s = new RecordSender(K);
    const r = new RecordReceiver(K);
    const a = s.seal(new Uint8Array([1]), EPOCH_SIZE);
    expect(s.counter).toBe(EPOCH_SIZE);
    expect(s.epoch).toBe(1);
    expect(r.open(a, EPOCH_SIZE)).toEqual({ counter: 0, plaintext: new Uint8Array([1]) });
    expect(r.lastCounter).toBe(EPOCH_SIZE - 1);
    // from inside an epoch it cannot fit: the sender jumps to the next boundary (§8.3)
    const b = s.seal(new Uint8Array([2]));
    const c = s.seal(new Uint8Array([3]), EPOCH_SIZE);
    expect(r.open(b).counter).toBe(EPOCH_SIZE);
    expect(r.open(c, EPOCH_SIZE).counter).toBe(2 * EPOCH_SIZE);
    expect(s.counter).toBe(3 * EPOCH_SIZE);
    expect(() => s.seal(new Uint8Array(1), EPOCH_SIZE + 1)).toThrow(RangeError);
  });

  it('counter 2^32 − 1 is refused RECORD_AUTH_FAILED even when it authenticates under key_255', () => {
    const max = 2 ** 32 - 1;
    const forged = recordByHand(K, max, new Uint8Array([9]));
    // the construction is right: the same construction one below opens
    const ok = recordByHand(K, max - 1, new Uint8Array([8]));
    expect(new RecordReceiver(K).open(ok).plaintext).toEqual(new Uint8Array([8]));
    const r = new RecordReceiver(K);
    expect(codeOf(() => r.open(forged))).toBe('RECORD_AUTH_FAILED');
    expect(r.lastCounter).toBe(-1);
  });

  it('REPLAYED_RECORD names the counter and the last accepted; RECORD_AUTH_FAILED keeps the DECRYPT_FAILED cause', () => {
    const s = new RecordSender(K);
    const r = new RecordReceiver(K);
    const a = s.seal(new Uint8Array([1]));
    const b = s.seal(new Uint8Array([2]), 5);
    r.open(b, 5);
    const replay = errorOf(() => r.open(a));
    expect(replay.code).toBe('REPLAYED_RECORD');
    expect(replay.detail).toEqual({ counter: 0, last: 5 });
    const c = s.seal(new Uint8Array([3]));
    c[RECORD_HEADER_LEN] = c[RECORD_HEADER_LEN]! ^ 0x80;
    const auth = errorOf(() => r.open(c));
    expect(auth.code).toBe('RECORD_AUTH_FAILED');
    expect(auth.cause).toBeInstanceOf(PlushlinkError);
    expect((auth.cause as PlushlinkError).code).toBe('DECRYPT_FAILED');
  });

  it('an error of the crypto back end that is not an authentication failure passes through unchanged', () => {
    const boom = new Error('back end broke');
    const r = new RecordReceiver(K);
    const a = new RecordSender(K).seal(new Uint8Array([1]));
    const prev = useCryptoBackend({
      ...pureCryptoBackend,
      aeadOpen: () => {
        throw boom;
      },
    });
    try {
      expect(() => r.open(a)).toThrow(boom);
    } finally {
      useCryptoBackend(prev);
    }
    expect(r.lastCounter).toBe(-1);
    expect(r.open(a).plaintext).toEqual(new Uint8Array([1]));
  });

  it('destroy() wipes the key: a destroyed sender no longer makes records the peer accepts, a destroyed receiver opens none', () => {
    const s = new RecordSender(K);
    const r = new RecordReceiver(K);
    expect(r.open(s.seal(new Uint8Array([1]))).counter).toBe(0);
    s.destroy();
    expect(codeOf(() => r.open(s.seal(new Uint8Array([2]))))).toBe('RECORD_AUTH_FAILED');

    const s2 = new RecordSender(K);
    const r2 = new RecordReceiver(K);
    const x = s2.seal(new Uint8Array([1]));
    r2.destroy();
    expect(codeOf(() => r2.open(x))).toBe('RECORD_AUTH_FAILED');
    // the caller's key array is the caller's: only the copies are wiped
    expect(K.some((b) => b !== 0)).toBe(true);
    expect(new RecordReceiver(K).open(x).counter).toBe(0);
  });
});
