/**
 * PROTOCOL.md §5, docs/SECURITY.md property 2: setup codes. Every single-symbol substitution of a typed code is
 * detected (Luhn mod 32 guarantees it; checked exhaustively over random codes), adjacent
 * transpositions are detected at a measured rate, typing is case/separator tolerant, the QR
 * payload round-trips and pins the key, and every parse error names what is wrong.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CROCKFORD_ALPHABET } from '../../src/protocol/base32.js';
import { bytesEqual } from '../../src/protocol/bytes.js';
import { PlushlinkError } from '../../src/protocol/errors.js';
import {
  QR_PREFIX,
  SETUP_CODE_SYMBOLS,
  formatSetupCode,
  formatSetupQr,
  parseSetupCode,
  parseSetupInput,
  parseSetupQr,
  setupCodePsk,
  type SetupCode,
} from '../../src/protocol/setup-code.js';

const SEED = 42;
const ALPHA = CROCKFORD_ALPHABET.split('');
const symbol = fc.constantFrom(...ALPHA);
const setupCode = fc.array(symbol, { minLength: SETUP_CODE_SYMBOLS, maxLength: SETUP_CODE_SYMBOLS }).map((s): SetupCode => ({ secret: s.join('') }));
const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

function errorCode(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(PlushlinkError);
    return (e as PlushlinkError).code;
  }
}

const symbolsOf = (formatted: string): string => formatted.replace(/-/g, '');
const regroup = (symbols: string): string => symbols.match(/.{1,4}/g)!.join('-');

describe('typed setup codes', () => {
  it('format → parse round-trips: six groups of four, 24 symbols', () => {
    fc.assert(
      fc.property(setupCode, (c) => {
        const f = formatSetupCode(c);
        expect(f).toMatch(/^([0-9A-HJKMNP-TV-Z]{4}-){5}[0-9A-HJKMNP-TV-Z]{4}$/);
        expect(parseSetupCode(f)).toEqual(c);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('every single-symbol substitution is detected with BAD_CHECKSUM (exhaustive per code)', () => {
    let checked = 0;
    fc.assert(
      fc.property(setupCode, (c) => {
        const s = symbolsOf(formatSetupCode(c));
        for (let i = 0; i < s.length; i++) {
          for (const x of ALPHA) {
            if (x === s[i]) continue;
            const typo = regroup(s.slice(0, i) + x + s.slice(i + 1));
            expect(errorCode(() => parseSetupCode(typo)), `substitution at ${i}: ${typo}`).toBe('BAD_CHECKSUM');
            checked++;
          }
        }
      }),
      { seed: SEED, numRuns: 60 },
    );
    expect(checked).toBe(60 * 24 * 31);
  });

  it('adjacent transpositions are detected at a high rate (measured)', () => {
    let swaps = 0;
    let detected = 0;
    let luhnOnly = 0;
    fc.assert(
      fc.property(setupCode, (c) => {
        const s = symbolsOf(formatSetupCode(c));
        for (let i = 0; i + 1 < s.length; i++) {
          if (s[i] === s[i + 1]) continue;
          const t = s.slice(0, i) + s[i + 1] + s[i] + s.slice(i + 2);
          swaps++;
          const code = errorCode(() => parseSetupCode(regroup(t)));
          if (code === 'BAD_CHECKSUM') detected++;
          else {
            expect(code).toBeUndefined();
            luhnOnly++;
          }
        }
      }),
      { seed: SEED, numRuns: 400 },
    );
    const rate = detected / swaps;
    console.info(`[setup-code] adjacent transpositions detected: ${detected}/${swaps} = ${(100 * rate).toFixed(3)}%`);
    // Luhn mod 32 misses only swaps of the pair (0, Z) (values 0 and 31) inside the secret:
    // 2/(32·31) ≈ 0.2 % of random adjacent pairs; the second check symbol (5 bits of a hash)
    // catches 31/32 of those, so the expected miss rate is ≈ 0.006 %.
    expect(rate).toBeGreaterThan(0.999);
    expect(luhnOnly).toBe(swaps - detected);
  });

  it('the one transposition Luhn mod 32 cannot see (0 ↔ Z) is still caught by the hash symbol ≈ 31/32 of the time', () => {
    let n = 0;
    let caught = 0;
    fc.assert(
      fc.property(setupCode, fc.integer({ min: 0, max: SETUP_CODE_SYMBOLS - 2 }), fc.boolean(), (c, i, order) => {
        const pair = order ? '0Z' : 'Z0';
        const secret = c.secret.slice(0, i) + pair + c.secret.slice(i + 2);
        const s = symbolsOf(formatSetupCode({ secret }));
        const swapped = s.slice(0, i) + pair[1] + pair[0] + s.slice(i + 2);
        // Luhn's check symbol is blind to this swap
        expect(s.slice(-2, -1)).toBe(symbolsOf(formatSetupCode({ secret: swapped.slice(0, SETUP_CODE_SYMBOLS) })).slice(-2, -1));
        n++;
        if (errorCode(() => parseSetupCode(swapped)) === 'BAD_CHECKSUM') caught++;
      }),
      { seed: SEED, numRuns: 640 },
    );
    console.info(`[setup-code] (0,Z) transpositions caught by the hash symbol: ${caught}/${n} = ${((100 * caught) / n).toFixed(1)}%`);
    expect(caught / n).toBeGreaterThan(0.9);
    expect(caught).toBeLessThan(n); // the hash symbol is 5 bits: some must slip through, or this test measures nothing
  });

  it('typing is tolerant: case, spaces, dashes, tabs anywhere; O reads as 0, I and L as 1', () => {
    fc.assert(
      fc.property(setupCode, fc.array(fc.tuple(fc.nat(), fc.constantFrom('-', ' ', '\t', '--', '  ')), { maxLength: 10 }), fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }), (c, seps, lower) => {
        let s = symbolsOf(formatSetupCode(c))
          .split('')
          .map((ch, i) => (lower[i] ? ch.toLowerCase() : ch))
          .map((ch) => (ch === '0' && lower[0] ? 'O' : ch === '1' && lower[1] ? (lower[2] ? 'l' : 'I') : ch))
          .join('');
        for (const [pos, sep] of seps) {
          const p = pos % (s.length + 1);
          s = s.slice(0, p) + sep + s.slice(p);
        }
        expect(parseSetupCode(s)).toEqual(c);
        expect(parseSetupInput(s)).toEqual({ code: c });
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('errors name what is wrong: BAD_LENGTH, BAD_SETUP_CODE (character), BAD_CHECKSUM', () => {
    fc.assert(
      fc.property(setupCode, fc.integer({ min: 0, max: 40 }), fc.constantFrom('U', 'u', '*', '#', '.', 'é', '\n', '_'), fc.nat(), (c, len, bad, pos) => {
        const s = symbolsOf(formatSetupCode(c));
        const sized = (s + s).slice(0, len);
        if (len !== 24) {
          const e = errorCode(() => parseSetupCode(sized));
          expect(e).toBe('BAD_LENGTH');
        }
        const p = pos % s.length;
        expect(errorCode(() => parseSetupCode(s.slice(0, p) + bad + s.slice(p + 1)))).toBe('BAD_SETUP_CODE');
      }),
      { seed: SEED, numRuns: 300 },
    );
    try {
      parseSetupCode('ABCD-EFGH');
      expect.fail('short code parsed');
    } catch (e) {
      expect((e as PlushlinkError).code).toBe('BAD_LENGTH');
      expect((e as PlushlinkError).detail).toEqual({ got: 8, expected: 24 });
    }
  });

  it('the PSK depends on every symbol and on the toy key', () => {
    fc.assert(
      fc.property(setupCode, key32, key32, fc.nat(), (c, k1, k2, pos) => {
        const p = pos % SETUP_CODE_SYMBOLS;
        const other = { secret: c.secret.slice(0, p) + (c.secret[p] === '0' ? '1' : '0') + c.secret.slice(p + 1) };
        expect(bytesEqual(setupCodePsk(c, k1), setupCodePsk(other, k1))).toBe(false);
        if (!bytesEqual(k1, k2)) expect(bytesEqual(setupCodePsk(c, k1), setupCodePsk(c, k2))).toBe(false);
        expect(setupCodePsk(c, k1)).toHaveLength(32);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
});

describe('QR payloads', () => {
  it('round-trip, pin the key, stay in the QR alphanumeric set, and parse case-insensitively', () => {
    fc.assert(
      fc.property(setupCode, key32, (c, k) => {
        const qr = formatSetupQr(c, k);
        expect(qr.startsWith(QR_PREFIX)).toBe(true);
        expect(qr).toMatch(/^[0-9A-Z $%*+\-./:]+$/);
        const back = parseSetupQr(qr);
        expect(back.code).toEqual(c);
        expect(bytesEqual(back.toyPublicKey, k)).toBe(true);
        expect(parseSetupQr(`  ${qr.toLowerCase()}\n`).code).toEqual(c);
        const viaInput = parseSetupInput(qr);
        expect(viaInput.code).toEqual(c);
        expect(bytesEqual(viaInput.toyPublicKey!, k)).toBe(true);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('any substitution after the prefix fails (BAD_CHECKSUM, or BAD_SETUP_CODE for a foreign character)', () => {
    fc.assert(
      fc.property(setupCode, key32, fc.nat(), fc.constantFrom(...ALPHA, 'U', '!'), (c, k, pos, x) => {
        const qr = formatSetupQr(c, k);
        const p = QR_PREFIX.length + (pos % (qr.length - QR_PREFIX.length));
        if (qr[p] === x) return;
        const bad = qr.slice(0, p) + x + qr.slice(p + 1);
        const e = errorCode(() => parseSetupQr(bad));
        expect(e).toBe(ALPHA.includes(x) ? 'BAD_CHECKSUM' : 'BAD_SETUP_CODE');
      }),
      { seed: SEED, numRuns: 400 },
    );
  });

  it('errors name what is wrong: UNKNOWN_VERSION (PL2:), BAD_LENGTH, BAD_QR_PAYLOAD', () => {
    fc.assert(
      fc.property(setupCode, key32, fc.integer({ min: 2, max: 999 }), fc.nat(), (c, k, v, cut) => {
        const qr = formatSetupQr(c, k);
        const body = qr.slice(QR_PREFIX.length);
        const e = (() => {
          try {
            parseSetupQr(`PL${v}:${body}`);
          } catch (err) {
            return err as PlushlinkError;
          }
          return undefined;
        })();
        expect(e?.code).toBe('UNKNOWN_VERSION');
        expect(e?.detail).toEqual({ version: v });
        expect(errorCode(() => parseSetupInput(`PL${v}:${body}`))).toBe('UNKNOWN_VERSION');
        const short = qr.slice(0, QR_PREFIX.length + (cut % body.length));
        expect(errorCode(() => parseSetupQr(short))).toBe('BAD_LENGTH');
        expect(errorCode(() => parseSetupQr(qr + '0'))).toBe('BAD_LENGTH');
        expect(errorCode(() => parseSetupQr(body))).toBe('BAD_QR_PAYLOAD');
        expect(errorCode(() => parseSetupQr(`XX1:${body}`))).toBe('BAD_QR_PAYLOAD');
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('arbitrary strings never throw anything but typed errors', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 120 }), fc.string({ maxLength: 40 }).map((s) => `PL1:${s}`)), (s) => {
        for (const f of [parseSetupCode, parseSetupQr, parseSetupInput]) {
          try {
            f(s);
          } catch (e) {
            expect(e).toBeInstanceOf(PlushlinkError);
          }
        }
      }),
      { seed: SEED, numRuns: 500 },
    );
  });
});
