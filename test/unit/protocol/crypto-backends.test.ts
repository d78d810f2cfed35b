/**
 * The crypto seam (src/protocol/crypto.ts) and its two back ends (docs/PROTOCOL.md §18): the
 * portable one (tweetnacl, @noble/*) and Node's `node:crypto` (OpenSSL, src/crypto-node/).
 *
 * - Both give the same bytes for the same inputs, for every primitive (fast-check, fixed seed),
 *   including the edges where the libraries differ underneath: Node's 1024-byte HKDF `info`
 *   limit, an empty HKDF input key, HMAC keys longer than a block, empty AEAD plaintexts.
 * - The policy is the seam's, so it is identical: the same error codes for the same bad input,
 *   the all-zero X25519 result refused whether the library returns it (tweetnacl) or refuses it
 *   itself (OpenSSL), a non-canonical Ed25519 S refused before either library sees it.
 * - `src/protocol/` imports nothing from `node:` and nothing of the Node back end.
 * The public vectors run against both back ends in their own files (Wycheproof, Noise, own).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { installNodeCrypto, nodeCryptoBackend } from '../../../src/crypto-node/index.js';
import { toHex } from '../../../src/protocol/bytes.js';
import {
  aeadOpen,
  aeadSeal,
  aeadSealWithHeader,
  cryptoBackend,
  ed25519KeyPairFromSeed,
  ed25519Sign,
  ed25519Verify,
  hkdfSha512,
  hmacSha512,
  noiseHkdf,
  pureCryptoBackend,
  sha512,
  useCryptoBackend,
  x25519,
  x25519PublicKey,
  type CryptoBackend,
} from '../../../src/protocol/crypto.js';
import { isPlushlinkError } from '../../../src/protocol/errors.js';
import { malleate } from '../../helpers/ed25519-torsion.js';
import { CRYPTO_BACKENDS } from '../../helpers/backends.js';
import { PROJECT_ROOT } from '../../helpers/shared.js';

const FC = { seed: 1717, numRuns: 60 };

/** Runs `fn` with back end `b` in the seam; returns its result or the PlushlinkError code it threw. */
function on<T>(b: CryptoBackend, fn: () => T): T | { code: string } {
  const prev = useCryptoBackend(b);
  try {
    return fn();
  } catch (e) {
    if (isPlushlinkError(e)) return { code: e.code };
    throw e;
  } finally {
    useCryptoBackend(prev);
  }
}

/** The outcome on both back ends, as comparable text (hex, boolean or error code). */
function both(fn: () => Uint8Array | Uint8Array[] | boolean): [string, string] {
  const show = (r: Uint8Array | Uint8Array[] | boolean | { code: string }): string =>
    r instanceof Uint8Array ? toHex(r) : Array.isArray(r) ? r.map(toHex).join('|') : typeof r === 'boolean' ? String(r) : `error ${r.code}`;
  return [show(on(pureCryptoBackend, fn)), show(on(nodeCryptoBackend, fn))];
}

function expectSame(fn: () => Uint8Array | Uint8Array[] | boolean): string {
  const [pure, node] = both(fn);
  expect(node).toBe(pure);
  return pure;
}

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });

/** Low-order points of Curve25519 (RFC 7748 §6.1 refusal; Bernstein's list, as little-endian u). */
const LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bc3ea3e5e2c7b8c0c16c33b5e1d7e8f1b19b8b1d2e4b2c5d4c7d1e6f57',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

describe('the crypto seam', () => {
  it('starts on the portable back end; installNodeCrypto switches to node:crypto and says so', () => {
    expect(cryptoBackend().name).toBe('pure-js');
    const prev = useCryptoBackend(pureCryptoBackend);
    try {
      const info = installNodeCrypto();
      expect(info.name).toBe('node');
      expect(cryptoBackend()).toEqual(info);
      expect(info.description).toMatch(/^node:crypto \(OpenSSL [0-9]/);
    } finally {
      useCryptoBackend(prev);
    }
    expect(cryptoBackend().name).toBe('pure-js');
  });

  it('a record sealed with its header in front is the header, then exactly what aeadSeal gives, on both back ends; a back end that ignores the header room is caught', () => {
    const key = new Uint8Array(32).fill(4);
    const nonce = new Uint8Array(12).fill(5);
    const header = Uint8Array.from([0, 0, 1, 2]);
    for (const pt of [new Uint8Array(0), new Uint8Array(121).fill(6)]) {
      const whole = expectSame(() => aeadSealWithHeader(key, nonce, header, pt));
      expect(whole).toBe(toHex(header) + toHex(on(pureCryptoBackend, () => aeadSeal(key, nonce, header, pt)) as Uint8Array));
    }
    const careless: CryptoBackend = { ...pureCryptoBackend, name: 'careless', aeadSeal: (k, n, ad, p) => pureCryptoBackend.aeadSeal(k, n, ad, p) };
    expect(on(careless, () => aeadSealWithHeader(key, nonce, header, new Uint8Array(3)))).toEqual({ code: 'INTERNAL' });
  });

  it('refuses a back end that lacks a primitive, and keeps the one in use', () => {
    const { ed25519Verify: _dropped, ...partial } = nodeCryptoBackend;
    let code: string | undefined;
    try {
      useCryptoBackend(partial as unknown as CryptoBackend);
    } catch (e) {
      code = isPlushlinkError(e) ? e.code : String(e);
    }
    expect(code).toBe('INVALID_KEY');
    expect(cryptoBackend().name).toBe('pure-js');
  });
});

describe('both back ends give the same bytes (fast-check, fixed seed)', () => {
  it('X25519 and its public keys', () => {
    fc.assert(
      fc.property(bytes(32, 32), bytes(32, 32), (sk, pk) => {
        expectSame(() => x25519PublicKey(sk));
        expectSame(() => x25519(sk, pk));
      }),
      FC,
    );
  });

  it('SHA-512 over lengths around the 128-byte block and its padding', () => {
    for (const n of [0, 1, 111, 112, 127, 128, 129, 239, 240, 256, 1000]) expectSame(() => sha512(new Uint8Array(n).fill(n & 0xff)));
    fc.assert(fc.property(bytes(0, 400), (d) => void expectSame(() => sha512(d))), FC);
    // in two parts (MixHash): the same as over the concatenation
    fc.assert(
      fc.property(bytes(0, 200), bytes(0, 200), (a, b2) => {
        const whole = Uint8Array.from([...a, ...b2]);
        expect(expectSame(() => sha512(a, b2))).toBe(expectSame(() => sha512(whole)));
      }),
      FC,
    );
  });

  it('HMAC-SHA-512 with keys shorter and longer than a block', () => {
    fc.assert(fc.property(bytes(0, 200), bytes(0, 300), (k, d) => void expectSame(() => hmacSha512(k, d))), FC);
  });

  it('HKDF-SHA-512 (empty or absent salt, empty key, info past Node’s 1024-byte limit, 0..16320 bytes) and the Noise HKDF', () => {
    fc.assert(
      fc.property(bytes(0, 80), fc.option(bytes(0, 80), { nil: undefined }), bytes(0, 1100), fc.integer({ min: 0, max: 400 }), (ikm, salt, info, len) => {
        expectSame(() => hkdfSha512(ikm, salt, info, len));
      }),
      FC,
    );
    const ikm = new Uint8Array(0);
    expectSame(() => hkdfSha512(ikm, undefined, new Uint8Array(2000).fill(3), 64));
    expectSame(() => hkdfSha512(ikm, new Uint8Array(0), new Uint8Array(0), 16320));
    expect(expectSame(() => hkdfSha512(new Uint8Array(5), undefined, new Uint8Array(0), 16321))).toBe('error INVALID_KEY');
    expect(expectSame(() => hkdfSha512(new Uint8Array(5), undefined, new Uint8Array(0), -1))).toBe('error INVALID_KEY');
    fc.assert(fc.property(bytes(64, 64), bytes(0, 64), fc.constantFrom(2 as const, 3 as const), (ck, k, n) => void expectSame(() => noiseHkdf(ck, k, n))), FC);
  });

  it('ChaCha20-Poly1305 seal and open (empty and longer plaintexts and AD)', () => {
    fc.assert(
      fc.property(bytes(32, 32), bytes(12, 12), bytes(0, 64), bytes(0, 600), (key, nonce, ad, pt) => {
        const sealed = expectSame(() => aeadSeal(key, nonce, ad, pt));
        expect(sealed.length).toBe(2 * (pt.length + 16));
        expect(expectSame(() => aeadOpen(key, nonce, ad, aeadSeal(key, nonce, ad, pt)))).toBe(toHex(pt));
      }),
      FC,
    );
  });

  it('Ed25519 key pairs, signatures and verification', () => {
    fc.assert(
      fc.property(bytes(32, 32), bytes(0, 300), (seed, msg) => {
        expectSame(() => ed25519KeyPairFromSeed(seed).secretKey);
        const kp = ed25519KeyPairFromSeed(seed);
        const sig = ed25519Sign(kp.secretKey, msg);
        expectSame(() => ed25519Sign(kp.secretKey, msg));
        expect(expectSame(() => ed25519Verify(kp.publicKey, msg, sig))).toBe('true');
        const other = Uint8Array.from(msg.length ? msg : [0]);
        other[0] = other[0]! ^ 1;
        expect(expectSame(() => ed25519Verify(kp.publicKey, msg.length ? other : new Uint8Array([9]), sig))).toBe('false');
      }),
      { ...FC, numRuns: 30 },
    );
  });
});

describe('one policy (PROTOCOL §18), the same refusal on both back ends', () => {
  const k32 = new Uint8Array(32).fill(1);
  const n12 = new Uint8Array(12);
  const none = new Uint8Array(0);
  const cases: [string, () => Uint8Array | Uint8Array[] | boolean, string][] = [
    ['X25519 secret of 31 bytes', () => x25519(new Uint8Array(31), k32), 'error INVALID_KEY'],
    ['X25519 public of 33 bytes', () => x25519(k32, new Uint8Array(33)), 'error INVALID_KEY'],
    ['X25519 public key of a 16-byte secret', () => x25519PublicKey(new Uint8Array(16)), 'error INVALID_KEY'],
    ['AEAD seal with a 16-byte key', () => aeadSeal(new Uint8Array(16), n12, none, none), 'error INVALID_KEY'],
    ['AEAD seal with an 8-byte nonce', () => aeadSeal(k32, new Uint8Array(8), none, none), 'error INVALID_KEY'],
    ['AEAD seal with a 24-byte nonce (no silent XChaCha)', () => aeadSeal(k32, new Uint8Array(24), none, none), 'error INVALID_KEY'],
    ['AEAD open with a 13-byte nonce', () => aeadOpen(k32, new Uint8Array(13), none, new Uint8Array(16)), 'error INVALID_KEY'],
    ['AEAD open of 15 bytes', () => aeadOpen(k32, n12, none, new Uint8Array(15)), 'error DECRYPT_FAILED'],
    ['AEAD open of a zero tag', () => aeadOpen(k32, n12, none, new Uint8Array(16)), 'error DECRYPT_FAILED'],
    ['Ed25519 seed of 31 bytes', () => ed25519KeyPairFromSeed(new Uint8Array(31)).publicKey, 'error INVALID_KEY'],
    ['Ed25519 sign with a 32-byte secret key', () => ed25519Sign(k32, none), 'error INVALID_KEY'],
    ['Ed25519 verify with a 31-byte key', () => ed25519Verify(new Uint8Array(31), none, new Uint8Array(64)), 'false'],
    ['Ed25519 verify of a 65-byte signature', () => ed25519Verify(k32, none, new Uint8Array(65)), 'false'],
    ['Ed25519 verify of garbage (not a point)', () => ed25519Verify(new Uint8Array(32).fill(0xff), none, new Uint8Array(64).fill(1)), 'false'],
  ];
  it.each(cases)('%s', (_name, fn, expected) => {
    expect(expectSame(fn)).toBe(expected);
  });

  it('every low-order X25519 public key is refused with LOW_ORDER_POINT by both (tweetnacl returns zeros, OpenSSL refuses)', () => {
    // The raw libraries differ: that is why the check lives in the seam.
    expect(toHex(pureCryptoBackend.x25519(k32, new Uint8Array(32))!)).toBe('00'.repeat(32));
    expect(nodeCryptoBackend.x25519(k32, new Uint8Array(32))).toBeUndefined();
    fc.assert(
      fc.property(bytes(32, 32), fc.constantFrom(...LOW_ORDER), fc.boolean(), (sk, lo, highBit) => {
        const pk = Uint8Array.from(Buffer.from(lo, 'hex'));
        if (highBit) pk[31]! |= 0x80; // the top bit is masked (RFC 7748 §5): still low order
        const r = expectSame(() => x25519(sk, pk));
        if (r.startsWith('error')) expect(r).toBe('error LOW_ORDER_POINT');
      }),
      FC,
    );
    // The first two and the last two are low order for every scalar.
    for (const lo of [LOW_ORDER[0]!, LOW_ORDER[1]!, LOW_ORDER[4]!, LOW_ORDER[5]!]) {
      expect(expectSame(() => x25519(k32, Uint8Array.from(Buffer.from(lo, 'hex'))))).toBe('error LOW_ORDER_POINT');
    }
  });

  it('a signature with S + L (malleated) is refused by both; tweetnacl alone would accept it', () => {
    const kp = ed25519KeyPairFromSeed(new Uint8Array(32).fill(7));
    const msg = new Uint8Array([1, 2, 3]);
    const sig = ed25519Sign(kp.secretKey, msg);
    const mal = malleate(sig);
    expect(pureCryptoBackend.ed25519Verify(kp.publicKey, msg, mal)).toBe(true);
    expect(expectSame(() => ed25519Verify(kp.publicKey, msg, mal))).toBe('false');
    expect(expectSame(() => ed25519Verify(kp.publicKey, msg, sig))).toBe('true');
  });
});

describe('the node:crypto back end', () => {
  it('reuses an imported secret only while its array holds the same bytes (a wiped or changed key is re-read)', () => {
    const peer = new Uint8Array(32).fill(9);
    const sk = new Uint8Array(32).fill(5);
    const first = toHex(on(nodeCryptoBackend, () => x25519(sk, peer)) as Uint8Array);
    sk[1] = 6; // (byte 0 loses its low 3 bits to clamping)
    const second = on(nodeCryptoBackend, () => x25519(sk, peer)) as Uint8Array;
    expect(toHex(second)).not.toBe(first);
    expect(toHex(second)).toBe(toHex(on(pureCryptoBackend, () => x25519(sk, peer)) as Uint8Array));
    const seedKey = ed25519KeyPairFromSeed(new Uint8Array(32).fill(1)).secretKey;
    const s1 = toHex(on(nodeCryptoBackend, () => ed25519Sign(seedKey, new Uint8Array(1))) as Uint8Array);
    seedKey.set(ed25519KeyPairFromSeed(new Uint8Array(32).fill(2)).secretKey);
    const s2 = toHex(on(nodeCryptoBackend, () => ed25519Sign(seedKey, new Uint8Array(1))) as Uint8Array);
    expect(s2).not.toBe(s1);
    expect(s2).toBe(toHex(on(pureCryptoBackend, () => ed25519Sign(seedKey, new Uint8Array(1))) as Uint8Array));
  });

  it('returns arrays of its own, never views of Node’s shared buffer pool', () => {
    const prev = useCryptoBackend(nodeCryptoBackend);
    try {
      for (const out of [sha512(new Uint8Array(3)), hmacSha512(new Uint8Array(3), new Uint8Array(3)), aeadOpen(new Uint8Array(32), new Uint8Array(12), new Uint8Array(0), aeadSeal(new Uint8Array(32), new Uint8Array(12), new Uint8Array(0), new Uint8Array(5)))]) {
        expect(Object.getPrototypeOf(out)).toBe(Uint8Array.prototype);
        expect(out.byteOffset).toBe(0);
        expect(out.buffer.byteLength).toBe(out.length);
      }
    } finally {
      useCryptoBackend(prev);
    }
  });
});

describe('src/protocol stays pure', () => {
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
    });
  it('no module under src/protocol/ imports node: built-ins or the Node back end', () => {
    const protocol = files(join(PROJECT_ROOT, 'src', 'protocol'));
    expect(protocol.length).toBeGreaterThan(10);
    for (const f of protocol) {
      const text = readFileSync(f, 'utf8');
      const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!);
      for (const s of specifiers) {
        expect(s.startsWith('node:'), `${f} imports ${s}`).toBe(false);
        expect(s.includes('crypto-node'), `${f} imports ${s}`).toBe(false);
        expect(['crypto', 'fs', 'path', 'os', 'buffer', 'process'].includes(s), `${f} imports ${s}`).toBe(false);
      }
    }
  });

  it('package.json picks the back end by export condition: `node` installs node:crypto first, every other runtime gets the pure entry', () => {
    const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string> | string> };
    const src = (dist: string): string => join(PROJECT_ROOT, dist.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'));
    const subpaths = [
      ['.', './dist/src/index.js'],
      ['./protocol', './dist/src/protocol/index.js'],
      ['./messages', './dist/src/messages/index.js'],
      ['./toy', './dist/src/toy.js'],
      ['./audio', './dist/src/audio/index.js'],
      ['./testing', './dist/src/testing.js'],
    ] as const;
    // every subpath of the package is listed here (so none reaches the seam without the node entry)
    expect(Object.keys(pkg.exports).filter((k) => k !== './package.json').sort()).toEqual(subpaths.map(([sub]) => sub).sort());
    for (const [sub, pure] of subpaths) {
      const e = pkg.exports[sub] as Record<string, string>;
      expect(e.import, sub).toBe(pure);
      expect(Object.keys(e).indexOf('node'), `${sub}: "node" comes before "import"`).toBeLessThan(Object.keys(e).indexOf('import'));
      expect(e.node, sub).toMatch(/^\.\/dist\/src\/crypto-node\/entry(-protocol|-messages|-toy|-audio|-testing)?\.js$/);
      const entry = readFileSync(src(e.node!), 'utf8');
      // the Node entry installs the back end before anything else, then re-exports exactly the pure entry
      const imports = [...entry.matchAll(/^(?:import|export \*) .*?['"]([^'"]+)['"];$/gm)].map((m) => m[1]!);
      expect(imports[0]).toBe('./install.js');
      expect(join(PROJECT_ROOT, 'src', 'crypto-node', imports[1]!.replace(/\.js$/, '.ts'))).toBe(src(pure));
    }
  });

  it('the vector suites list both back ends', () => {
    expect(CRYPTO_BACKENDS.map((b) => b.name)).toEqual(['pure-js', 'node']);
  });
});
