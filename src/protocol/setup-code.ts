/**
 * Per-toy setup codes (PROTOCOL.md "Setup codes and QR labels").
 *
 * - Secret: 22 Crockford base32 symbols = 110 random bits.
 * - Human form: the 22 symbols plus 2 check symbols, in six groups of four:
 *   `XXXX-XXXX-XXXX-XXXX-XXXX-XXCC`. Check symbol 1 is Luhn mod 32 over the 22 symbols
 *   (catches every single-symbol error and most adjacent swaps); check symbol 2 is the low
 *   5 bits of the first byte of SHA-512("plushlink/1 setup-code check:" || the 22 symbols).
 *   Typing is forgiving: case, spaces and dashes are ignored, O reads as 0, I and L as 1.
 * - QR payload: `PL1:` + 22 secret symbols + 52 symbols of the toy's static X25519 public key
 *   + 4 check symbols (the first 20 bits of SHA-512 over everything before them). It pins the
 *   toy's key. Every character is in the QR alphanumeric set.
 * - Noise PSK: HKDF-SHA-512(ikm = ASCII of the 22 symbols, salt = "plushlink/1 setup-code psk",
 *   info = toy static public key, 32 bytes).
 */
import { CROCKFORD_ALPHABET, base32Decode, base32Encode, crockfordValue } from './base32.js';
import { bytesEqual, utf8 } from './bytes.js';
import { hkdfSha512, randomBytes, sha512, type RandomSource } from './crypto.js';
import { PlushlinkError } from './errors.js';

/** Number of secret symbols (5 bits each: 110 bits). */
export const SETUP_CODE_SYMBOLS = 22;
/** Entropy of a setup code in bits. */
export const SETUP_CODE_BITS = SETUP_CODE_SYMBOLS * 5;
/** The QR payload prefix of version 1. */
export const QR_PREFIX = 'PL1:';
const QR_KEY_SYMBOLS = 52;
const QR_CHECK_SYMBOLS = 4;
const CHECK_LABEL = 'plushlink/1 setup-code check:';
const PSK_SALT = utf8('plushlink/1 setup-code psk');
const FINGERPRINT_LABEL = utf8('plushlink/1 toy key fingerprint:');

/** A parsed setup code: the 22 canonical secret symbols. */
export interface SetupCode {
  /** The 22 canonical Crockford symbols (upper case, no separators). */
  readonly secret: string;
}

/** What a QR label holds: the setup code and the toy's pinned static public key. */
export interface SetupQr {
  code: SetupCode;
  toyPublicKey: Uint8Array;
}

function luhn32(symbols: string): number {
  let factor = 2;
  let sum = 0;
  for (let i = symbols.length - 1; i >= 0; i--) {
    let addend = factor * crockfordValue(symbols[i]!);
    factor = factor === 2 ? 1 : 2;
    addend = Math.floor(addend / 32) + (addend % 32);
    sum += addend;
  }
  return (32 - (sum % 32)) % 32;
}

/** The two check symbols of a 22-symbol secret. */
export function setupCodeCheck(secret: string): string {
  const c1 = luhn32(secret);
  const c2 = sha512(utf8(CHECK_LABEL + secret))[0]! & 31;
  return CROCKFORD_ALPHABET[c1]! + CROCKFORD_ALPHABET[c2]!;
}

/** Generates a fresh setup code with 110 bits from `random`. */
export function generateSetupCode(random: RandomSource = randomBytes): SetupCode {
  const secret = base32Encode(random(14)).slice(0, SETUP_CODE_SYMBOLS);
  return { secret };
}

/** The human form: `XXXX-XXXX-XXXX-XXXX-XXXX-XXCC`. */
export function formatSetupCode(code: SetupCode): string {
  const all = code.secret + setupCodeCheck(code.secret);
  return all.match(/.{4}/g)!.join('-');
}

function canonicalSymbols(input: string, what: string): string {
  let out = '';
  for (const ch of input) {
    if (ch === '-' || ch === ' ' || ch === '\t') continue;
    const v = crockfordValue(ch);
    if (v < 0) throw new PlushlinkError('BAD_SETUP_CODE', `${what}: character "${ch}" is not allowed (use 0-9 and A-Z without I, L, O, U)`);
    out += CROCKFORD_ALPHABET[v];
  }
  return out;
}

/**
 * Parses a typed setup code. Throws `BAD_SETUP_CODE` (bad character), `BAD_LENGTH`
 * (not 24 symbols) or `BAD_CHECKSUM`.
 */
export function parseSetupCode(input: string): SetupCode {
  const s = canonicalSymbols(input, 'setup code');
  const want = SETUP_CODE_SYMBOLS + 2;
  if (s.length !== want) {
    throw new PlushlinkError('BAD_LENGTH', `setup code has ${s.length} symbols, expected ${want} (six groups of four)`, { got: s.length, expected: want });
  }
  const secret = s.slice(0, SETUP_CODE_SYMBOLS);
  if (setupCodeCheck(secret) !== s.slice(SETUP_CODE_SYMBOLS)) {
    throw new PlushlinkError('BAD_CHECKSUM', 'setup code checksum does not match: a symbol was mistyped');
  }
  return { secret };
}

function qrCheck(body: string): string {
  return base32Encode(sha512(utf8(body)).slice(0, 3)).slice(0, QR_CHECK_SYMBOLS);
}

/** The QR payload string of a toy's label. */
export function formatSetupQr(code: SetupCode, toyPublicKey: Uint8Array): string {
  if (toyPublicKey.length !== 32) throw new PlushlinkError('INVALID_KEY', 'toy public key must be 32 bytes');
  const body = QR_PREFIX + code.secret + base32Encode(toyPublicKey);
  return body + qrCheck(body);
}

/**
 * Parses a QR payload. Throws `BAD_QR_PAYLOAD` (not a plushlink QR), `UNKNOWN_VERSION`,
 * `BAD_LENGTH`, `BAD_SETUP_CODE` (bad character) or `BAD_CHECKSUM`.
 */
export function parseSetupQr(input: string): SetupQr {
  const text = input.trim().toUpperCase();
  const m = /^PL(\d+):(.*)$/s.exec(text);
  if (!m) throw new PlushlinkError('BAD_QR_PAYLOAD', 'not a plushlink QR payload (expected "PL1:...")');
  if (m[1] !== '1') throw new PlushlinkError('UNKNOWN_VERSION', `QR payload version ${m[1]} is not supported (this library reads version 1)`, { version: Number(m[1]) });
  const rest = m[2]!;
  const want = SETUP_CODE_SYMBOLS + QR_KEY_SYMBOLS + QR_CHECK_SYMBOLS;
  if (rest.length !== want) throw new PlushlinkError('BAD_LENGTH', `QR payload has ${rest.length} symbols after the prefix, expected ${want}`);
  for (const ch of rest) {
    if (!CROCKFORD_ALPHABET.includes(ch)) throw new PlushlinkError('BAD_SETUP_CODE', `QR payload: character "${ch}" is not allowed`);
  }
  const body = QR_PREFIX + rest.slice(0, want - QR_CHECK_SYMBOLS);
  if (qrCheck(body) !== rest.slice(want - QR_CHECK_SYMBOLS)) throw new PlushlinkError('BAD_CHECKSUM', 'QR payload checksum does not match');
  const secret = rest.slice(0, SETUP_CODE_SYMBOLS);
  const toyPublicKey = base32Decode(rest.slice(SETUP_CODE_SYMBOLS, SETUP_CODE_SYMBOLS + QR_KEY_SYMBOLS), 32);
  return { code: { secret }, toyPublicKey };
}

/** Accepts either a typed setup code or a QR payload. */
export function parseSetupInput(input: string): { code: SetupCode; toyPublicKey?: Uint8Array } {
  return /^\s*PL\d+:/i.test(input) ? parseSetupQr(input) : { code: parseSetupCode(input) };
}

/** The Noise PSK of the pairing handshake, bound to the toy's static public key. */
export function setupCodePsk(code: SetupCode, toyPublicKey: Uint8Array): Uint8Array {
  if (toyPublicKey.length !== 32) throw new PlushlinkError('INVALID_KEY', 'toy public key must be 32 bytes');
  return hkdfSha512(utf8(code.secret), PSK_SALT, toyPublicKey, 32);
}

/** A short human fingerprint of a toy key: 16 symbols in four groups (80 bits). */
export function toyKeyFingerprint(toyPublicKey: Uint8Array): string {
  const h = sha512(new Uint8Array([...FINGERPRINT_LABEL, ...toyPublicKey]));
  return base32Encode(h.slice(0, 10)).match(/.{4}/g)!.join('-');
}

/** Constant-time comparison of two setup codes. */
export function setupCodesEqual(a: SetupCode, b: SetupCode): boolean {
  return bytesEqual(utf8(a.secret), utf8(b.secret));
}
