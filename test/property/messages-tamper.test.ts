import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { toHex, utf8 } from '../../src/protocol/bytes.js';
import { PlushlinkError } from '../../src/protocol/errors.js';
import { ENVELOPE_LAYOUT, familyIdentityFromSecrets, openVoiceMessage, sealVoiceMessage } from '../../src/messages/index.js';

const seed = (b: number) => new Uint8Array(32).fill(b);
const sender = familyIdentityFromSecrets('Grandma', seed(1), seed(2));
const child = familyIdentityFromSecrets('Mia', seed(3), seed(4));
const parent = familyIdentityFromSecrets('Papa', seed(5), seed(6));
const audio = utf8('OggSOpus'); // small, so every position is cheap to try
const env = sealVoiceMessage({ audio, from: sender, to: [child, parent], createdAt: 1_767_225_600_000 });

/** The documented code for a modification at byte `i` (docs/MESSAGES.md, "Order of checks"). */
function expectedCode(i: number, modified: Uint8Array): string {
  const L = ENVELOPE_LAYOUT;
  if (i < L.version) return 'BAD_ENVELOPE'; // magic
  if (i === L.version) return 'UNKNOWN_VERSION';
  if (i >= L.recipientCount && i < L.keyIds) return 'BAD_ENVELOPE'; // count / content length → length mismatch
  if (i >= L.createdAt && i < L.createdAt + 8) {
    const t = new DataView(modified.buffer, modified.byteOffset).getBigUint64(L.createdAt);
    if (t > BigInt(Number.MAX_SAFE_INTEGER)) return 'BAD_ENVELOPE'; // creation time out of range
  }
  return 'BAD_SIGNATURE'; // every other byte is under the signature
}

function outcome(bytes: Uint8Array, who = child): string {
  try {
    const o = openVoiceMessage(bytes, who);
    return toHex(o.audio) === toHex(audio) ? 'opened' : 'WRONG SUCCESS';
  } catch (e) {
    return e instanceof PlushlinkError ? e.code : `crash: ${String(e)}`;
  }
}

describe('tampering with a sealed voice message', () => {
  it('the untouched envelope opens', () => {
    expect(outcome(env)).toBe('opened');
    expect(outcome(env, parent)).toBe('opened');
  });

  it('changing the byte at every position gives the documented error, never a success', () => {
    const failures: string[] = [];
    const masks = [0x01, 0x80, 0xff, 0x5a];
    for (let i = 0; i < env.length; i++) {
      const mask = masks[i % masks.length]!;
      const b = Uint8Array.from(env);
      b[i]! ^= mask;
      const got = outcome(b);
      if (got !== expectedCode(i, b)) failures.push(`byte ${i} ^ ${mask}: ${got}, expected ${expectedCode(i, b)}`);
    }
    expect(failures).toEqual([]);
  });

  it('every bit of the creation time and the top byte follow the documented rule', () => {
    const L = ENVELOPE_LAYOUT;
    for (const i of [L.createdAt, L.createdAt + 1, L.createdAt + 7]) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const b = Uint8Array.from(env);
        b[i]! ^= mask;
        expect(outcome(b)).toBe(expectedCode(i, b));
      }
    }
  });

  it('random multi-byte corruption, truncation and extension never open', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.nat(env.length - 1), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 8, maxLength: 8 }),
        fc.nat(env.length - 1),
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        (positions, masks, cut, extra) => {
          const b = Uint8Array.from(env);
          positions.forEach((p, k) => (b[p]! ^= masks[k]!));
          const r1 = outcome(b);
          expect(['BAD_ENVELOPE', 'UNKNOWN_VERSION', 'BAD_SIGNATURE']).toContain(r1);
          // truncation keeps the version byte when cut > 4
          expect(outcome(env.subarray(0, cut))).toBe('BAD_ENVELOPE');
          const ext = new Uint8Array(env.length + extra.length);
          ext.set(env);
          ext.set(extra, env.length);
          expect(outcome(ext)).toBe('BAD_ENVELOPE');
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });

  it('arbitrary garbage never opens and never throws anything but a typed error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (g, withMagic) => {
        const b = Uint8Array.from(g);
        if (withMagic && b.length >= 5) {
          b.set(utf8('PLVM'), 0);
          b[4] = 1;
        }
        expect(['BAD_ENVELOPE', 'UNKNOWN_VERSION', 'BAD_SIGNATURE']).toContain(outcome(b));
      }),
      { seed: 42, numRuns: 300 },
    );
  });
});
