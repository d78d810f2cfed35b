/**
 * The crypto seam's own checks (src/protocol/crypto.ts, docs/PROTOCOL.md §1 and §18), apart from
 * what the primitives compute (the Wycheproof and cross-back-end suites do that): which back ends
 * it takes, the sizes every primitive insists on, the bounds of HKDF's output, and the Ed25519
 * policy's own rules — S < L read over all 32 bytes, the sizes, a verifier that throws — as seen
 * through a verifier that accepts everything, so that only the policy can refuse.
 */
import { describe, expect, it } from 'vitest';
import {
  aeadOpen,
  aeadSeal,
  aeadSealWithHeader,
  cryptoBackend,
  ed25519KeyPairFromSeed,
  ed25519Sign,
  HKDF_MAX_LEN,
  hkdfSha512,
  isLowOrderX25519Key,
  useCryptoBackend,
  withEd25519Policy,
  type CryptoBackend,
} from '../../../src/protocol/crypto.js';
import { pureCryptoBackend } from '../../../src/protocol/crypto-pure.js';
import { CRYPTO_BACKENDS, useCryptoBackendInSuite } from '../../helpers/backends.js';
import { ED25519_ORDER, scalarBytes } from '../../helpers/ed25519-torsion.js';
import { codeOf } from '../../helpers/errors.js';

/** L + k (k may be negative) as 32 little-endian bytes. */
const lPlus = (k: number): Uint8Array => scalarBytes(ED25519_ORDER + BigInt(k));

const KEY = new Uint8Array(32).fill(3);
const NONCE = new Uint8Array(12).fill(4);

describe('useCryptoBackend: only a whole, named back end', () => {
  it('refuses a missing back end and each missing primitive with INVALID_KEY, keeping the one in use', () => {
    const before = cryptoBackend().name;
    for (const b of [undefined, null] as unknown as CryptoBackend[]) expect(codeOf(() => useCryptoBackend(b))).toBe('INVALID_KEY');
    for (const m of Object.keys(pureCryptoBackend).filter((k) => typeof pureCryptoBackend[k as keyof CryptoBackend] === 'function')) {
      const partial = { ...pureCryptoBackend, [m]: undefined } as unknown as CryptoBackend;
      expect(codeOf(() => useCryptoBackend(partial)), m).toBe('INVALID_KEY');
    }
    expect(cryptoBackend().name).toBe(before);
  });

  it('refuses a back end without a name (absent, empty or not a string) with INVALID_KEY', () => {
    const before = cryptoBackend().name;
    for (const name of [undefined, '', 7]) {
      const nameless = { ...pureCryptoBackend, name } as unknown as CryptoBackend;
      expect(codeOf(() => useCryptoBackend(nameless)), String(name)).toBe('INVALID_KEY');
    }
    expect(cryptoBackend().name).toBe(before);
    // A named copy is taken, and hands back the one it replaced.
    const previous = useCryptoBackend({ ...pureCryptoBackend, name: 'copy' });
    try {
      expect(cryptoBackend().name).toBe('copy');
    } finally {
      useCryptoBackend(previous);
    }
    expect(cryptoBackend().name).toBe(before);
  });
});

describe.each(CRYPTO_BACKENDS)('sizes and bounds the seam insists on [$name back end]', (backend) => {
  useCryptoBackendInSuite(backend);

  it('isLowOrderX25519Key takes only 32-byte keys (INVALID_KEY otherwise)', () => {
    for (const n of [0, 31, 33]) expect(codeOf(() => isLowOrderX25519Key(new Uint8Array(n))), String(n)).toBe('INVALID_KEY');
    expect(isLowOrderX25519Key(new Uint8Array(32).fill(9))).toBe(false);
  });

  it('HKDF-SHA-512 gives 0 to 255 · 64 bytes and refuses any other length', () => {
    expect(hkdfSha512(KEY, undefined, new Uint8Array(0), 0)).toEqual(new Uint8Array(0));
    expect(hkdfSha512(KEY, undefined, new Uint8Array(0), 1)).toHaveLength(1);
    expect(hkdfSha512(KEY, undefined, new Uint8Array(0), HKDF_MAX_LEN)).toHaveLength(HKDF_MAX_LEN);
    for (const n of [-1, HKDF_MAX_LEN + 1, 1.5, Number.NaN]) expect(codeOf(() => hkdfSha512(KEY, undefined, new Uint8Array(0), n)), String(n)).toBe('INVALID_KEY');
  });

  it('every AEAD entry point takes only a 32-byte key and a 12-byte nonce (INVALID_KEY otherwise)', () => {
    const sealed = aeadSeal(KEY, NONCE, new Uint8Array(0), new Uint8Array(5));
    const calls: [string, (key: Uint8Array, nonce: Uint8Array) => unknown][] = [
      ['aeadSeal', (k, n) => aeadSeal(k, n, new Uint8Array(0), new Uint8Array(5))],
      ['aeadSealWithHeader', (k, n) => aeadSealWithHeader(k, n, Uint8Array.of(1, 2), new Uint8Array(5))],
      ['aeadOpen', (k, n) => aeadOpen(k, n, new Uint8Array(0), sealed)],
    ];
    for (const [name, call] of calls) {
      expect(codeOf(() => call(KEY, NONCE)), name).toBeUndefined();
      for (const k of [new Uint8Array(31), new Uint8Array(33)]) expect(codeOf(() => call(k, NONCE)), `${name} key ${k.length}`).toBe('INVALID_KEY');
      for (const n of [new Uint8Array(11), new Uint8Array(13)]) expect(codeOf(() => call(KEY, n)), `${name} nonce ${n.length}`).toBe('INVALID_KEY');
    }
  });

  it('aeadOpen: shorter than the tag, or not authentic, is DECRYPT_FAILED', () => {
    const sealed = aeadSeal(KEY, NONCE, new Uint8Array(0), new Uint8Array(5));
    expect(codeOf(() => aeadOpen(KEY, NONCE, new Uint8Array(0), sealed.subarray(0, 15)))).toBe('DECRYPT_FAILED');
    const bent = Uint8Array.from(sealed);
    bent[0]! ^= 1;
    expect(codeOf(() => aeadOpen(KEY, NONCE, new Uint8Array(0), bent))).toBe('DECRYPT_FAILED');
    expect(aeadOpen(KEY, NONCE, new Uint8Array(0), sealed)).toEqual(new Uint8Array(5));
  });
});

describe('the Ed25519 policy under a verifier that accepts everything (PROTOCOL §18)', () => {
  const acceptAll = withEd25519Policy(() => true);
  const { publicKey } = ed25519KeyPairFromSeed(new Uint8Array(32).fill(1));
  const message = Uint8Array.of(1, 2, 3);
  const withS = (s: Uint8Array): Uint8Array => {
    const sig = new Uint8Array(64).fill(0x22);
    sig.set(s, 32);
    return sig;
  };

  it('S is compared with L over all 32 bytes: L − 1 and other S < L pass, L and above are refused', () => {
    // L − 1 differs from L only in its lowest byte, so a comparison that stops early gets it wrong.
    expect(acceptAll(publicKey, message, withS(lPlus(-1)))).toBe(true);
    expect(acceptAll(publicKey, message, withS(lPlus(-256)))).toBe(true);
    expect(acceptAll(publicKey, message, withS(new Uint8Array(32)))).toBe(true);
    const justUnderTop = new Uint8Array(32).fill(0xff);
    justUnderTop[31] = 0x0f; // 2^252 − 1 < L
    expect(acceptAll(publicKey, message, withS(justUnderTop))).toBe(true);
    for (const k of [0, 1, 256, 1 << 16]) expect(acceptAll(publicKey, message, withS(lPlus(k))), `L + ${k}`).toBe(false);
    const top = new Uint8Array(32);
    top[31] = 0x11; // above L in the highest byte
    expect(acceptAll(publicKey, message, withS(top))).toBe(false);
  });

  it('a key of other than 32 bytes or a signature of other than 64 bytes is refused before the verifier is asked', () => {
    let asked = 0;
    const counting = withEd25519Policy(() => {
      asked++;
      return true;
    });
    const sig = withS(new Uint8Array(32));
    expect(counting(publicKey, message, sig)).toBe(true);
    expect(asked).toBe(1);
    for (const [k, s] of [
      [publicKey.subarray(0, 31), sig],
      [Uint8Array.of(...publicKey, 0), sig],
      [publicKey, sig.subarray(0, 63)],
      [publicKey, Uint8Array.of(...sig, 0)],
    ] as const) {
      expect(counting(k, message, s), `${k.length}/${s.length}`).toBe(false);
    }
    expect(asked).toBe(1);
  });

  it('a verifier that throws, or answers anything but true, is a refusal', () => {
    const sig = withS(new Uint8Array(32));
    expect(
      withEd25519Policy(() => {
        throw new Error('broken');
      })(publicKey, message, sig),
    ).toBe(false);
    expect(withEd25519Policy((() => 1) as unknown as () => boolean)(publicKey, message, sig)).toBe(false);
    // The policed default really verifies: a real signature passes, the same one bent does not.
    const pair = ed25519KeyPairFromSeed(new Uint8Array(32).fill(2));
    const real = ed25519Sign(pair.secretKey, message);
    expect(withEd25519Policy()(pair.publicKey, message, real)).toBe(true);
    real[0]! ^= 1;
    expect(withEd25519Policy()(pair.publicKey, message, real)).toBe(false);
  });
});
