/** Setup codes: entropy, human form, typo detection, QR payload, PSK (PROTOCOL.md "Setup codes"). */
import { describe, expect, it } from 'vitest';
import {
  SETUP_CODE_BITS,
  formatSetupCode,
  formatSetupQr,
  generateSetupCode,
  parseSetupCode,
  parseSetupInput,
  parseSetupQr,
  setupCodeCheck,
  setupCodePsk,
  setupCodesEqual,
  toyKeyFingerprint,
} from '../../../src/protocol/setup-code.js';
import { codeOf } from '../../helpers/errors.js';

const SECRET = '0123456789ABCDEFGHJKMN';
const KEY = new Uint8Array(32).map((_, i) => i);

describe('setup codes', () => {
  it('carry at least 100 random bits and differ each time', () => {
    expect(SETUP_CODE_BITS).toBeGreaterThanOrEqual(100);
    const seen = new Set(Array.from({ length: 200 }, () => generateSetupCode().secret));
    expect(seen.size).toBe(200);
    for (const s of seen) expect(s).toMatch(/^[0-9A-HJKMNP-TV-Z]{22}$/);
  });
  it('format as six groups of four with two check symbols', () => {
    const f = formatSetupCode({ secret: SECRET });
    expect(f).toBe(`0123-4567-89AB-CDEF-GHJK-MN${setupCodeCheck(SECRET)}`);
    expect(parseSetupCode(f)).toEqual({ secret: SECRET });
    expect(parseSetupCode(f.toLowerCase().replace(/-/g, ' '))).toEqual({ secret: SECRET });
    expect(parseSetupCode(f.replace(/0/g, 'o').replace(/1/g, 'l'))).toEqual({ secret: SECRET });
  });
  it('name the error: BAD_LENGTH, BAD_SETUP_CODE, BAD_CHECKSUM', () => {
    const f = formatSetupCode({ secret: SECRET });
    expect(codeOf(() => parseSetupCode(f.slice(0, -1)))).toBe('BAD_LENGTH');
    expect(codeOf(() => parseSetupCode(`${f}0`))).toBe('BAD_LENGTH');
    expect(codeOf(() => parseSetupCode(''))).toBe('BAD_LENGTH');
    expect(codeOf(() => parseSetupCode(f.replace('A', 'U')))).toBe('BAD_SETUP_CODE');
    expect(codeOf(() => parseSetupCode(f.replace('A', 'B')))).toBe('BAD_CHECKSUM');
    expect(codeOf(() => parseSetupCode(f.replace('01', '10')))).toBe('BAD_CHECKSUM');
  });
  it('QR payload: PL1: + secret + key + check, pins the key; errors named', () => {
    const qr = formatSetupQr({ secret: SECRET }, KEY);
    expect(qr).toMatch(/^PL1:[0-9A-HJKMNP-TV-Z]{78}$/);
    expect(parseSetupQr(qr)).toEqual({ code: { secret: SECRET }, toyPublicKey: KEY });
    expect(parseSetupInput(qr).toyPublicKey).toEqual(KEY);
    expect(codeOf(() => parseSetupQr(qr.replace('PL1:', 'PL2:')))).toBe('UNKNOWN_VERSION');
    expect(codeOf(() => parseSetupQr(qr.slice(0, -1)))).toBe('BAD_LENGTH');
    expect(codeOf(() => parseSetupQr(`${qr.slice(0, -1)}${qr.endsWith('0') ? '1' : '0'}`))).toBe('BAD_CHECKSUM');
    expect(codeOf(() => parseSetupQr('hello'))).toBe('BAD_QR_PAYLOAD');
    expect(codeOf(() => formatSetupQr({ secret: SECRET }, new Uint8Array(31)))).toBe('INVALID_KEY');
  });
  it('PSK is 32 bytes bound to code and toy key; fingerprint is 4 groups of 4', () => {
    const a = setupCodePsk({ secret: SECRET }, KEY);
    expect(a).toHaveLength(32);
    expect(setupCodePsk({ secret: SECRET }, KEY)).toEqual(a);
    expect(setupCodePsk({ secret: SECRET.replace('0', '1') }, KEY)).not.toEqual(a);
    expect(toyKeyFingerprint(KEY)).toMatch(/^([0-9A-HJKMNP-TV-Z]{4}-){3}[0-9A-HJKMNP-TV-Z]{4}$/);
    expect(setupCodesEqual({ secret: SECRET }, { secret: SECRET })).toBe(true);
    expect(setupCodesEqual({ secret: SECRET }, { secret: SECRET.replace('0', '1') })).toBe(false);
  });
});
