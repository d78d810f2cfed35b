/**
 * Request signatures (docs/RELAY.md §3): for any request, the signed request verifies, and any
 * change of method, target or body, or a created time outside the skew, is refused with the code
 * of §3.3. Also: the strict base64 codec has exactly one encoding per byte string.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64, fromBase64Url, toBase64, toBase64Url } from '../../src/protocol/bytes.js';
import { isPlushlinkError } from '../../src/index.js';
import { generateFamilyIdentity, signRequest, verifyRequest } from '../../src/messages/index.js';

const signer = generateFamilyIdentity('prop');
const NOW = 1_764_676_800;

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    return isPlushlinkError(e) ? e.code : 'THREW';
  }
}

const segment = fc.stringMatching(/^[a-z0-9]{1,12}$/);
const requestArb = fc.record({
  method: fc.constantFrom('GET', 'PUT', 'POST', 'DELETE'),
  path: fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => '/' + s.join('/')),
  query: fc.option(fc.stringMatching(/^[a-z]{1,5}=[a-z0-9,]{0,20}$/), { nil: undefined }),
  body: fc.uint8Array({ maxLength: 300 }),
});

describe('request signatures, for any request', () => {
  it('verify what was signed and refuse any change', () => {
    fc.assert(
      fc.property(requestArb, fc.nat(), fc.integer({ min: -600, max: 600 }), (r, pick, skew) => {
        const target = r.query === undefined ? r.path : `${r.path}?${r.query}`;
        const headers = signRequest({ method: r.method, target, body: r.body }, signer, { created: NOW + skew });
        const verify = (req: { method: string; target: string; body: Uint8Array }, now = NOW) => codeOf(() => verifyRequest(req, headers, { now }));
        expect(verify({ method: r.method, target, body: r.body })).toBe(Math.abs(skew) <= 300 ? undefined : 'RELAY_CLOCK_SKEW');
        const within = NOW + skew; // verify changes at the signer's own time
        const otherMethod = r.method === 'GET' ? 'PUT' : 'GET';
        expect(verify({ method: otherMethod, target, body: r.body }, within)).toBe('RELAY_BAD_SIGNATURE');
        expect(verify({ method: r.method, target: target + 'x', body: r.body }, within)).toBe('RELAY_BAD_SIGNATURE');
        expect(verify({ method: r.method, target: r.query === undefined ? `${target}?` : r.path, body: r.body }, within)).toBe(
          r.query === undefined ? undefined : 'RELAY_BAD_SIGNATURE',
        );
        const body = Uint8Array.from(r.body.length ? r.body : [0]);
        if (r.body.length) body[pick % body.length] = body[pick % body.length]! ^ 0x01;
        expect(verify({ method: r.method, target, body }, within)).toBe('RELAY_BAD_DIGEST');
      }),
      { seed: 42, numRuns: 50 },
    );
  });
});

describe('strict base64', () => {
  it('round-trips and has one encoding per byte string', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        expect(fromBase64(toBase64(b))).toEqual(b);
        expect(fromBase64Url(toBase64Url(b))).toEqual(b);
        expect(toBase64(b)).toBe(Buffer.from(b).toString('base64'));
        expect(toBase64Url(b)).toBe(Buffer.from(b).toString('base64url'));
      }),
      { seed: 42, numRuns: 300 },
    );
    for (const bad of ['A', 'AA=', 'AB==', 'A===', '====', 'AA!=', 'QQ=a']) expect(() => fromBase64(bad), bad).toThrow();
  });
});
