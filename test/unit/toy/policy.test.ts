/**
 * The toy's access rule (src/toy/policy.ts) on its own: table-driven cases and fast-check
 * properties with a fixed seed. docs/SECURITY.md §2 (properties 1, 2, 5) names these tests.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ControlRequest } from '../../../src/protocol/control.js';
import { Capability, type PairingRole } from '../../../src/protocol/handshake.js';
import { WireKind } from '../../../src/protocol/wire.js';
import {
  admitInfoRequest,
  admitPairing,
  admitPairingCompanion,
  admitReconnect,
  admitReconnectCompanion,
  afterFactoryReset,
  allowedBeforeSession,
  authorizeRequest,
  backoffMs,
  BEFORE_SESSION_REFUSAL,
  confirmationStale,
  counts,
  isRequest,
  MAX_BACKOFF_MS,
  mayLearnAdvertisingKey,
  pairingFailure,
  PRE_SESSION_KINDS,
  reconnectFailure,
  REQUEST_RULES,
  windowOnHold,
  type RequestContext,
} from '../../../src/toy/policy.js';
import { emptyToyState, type ToyPairing, type ToyPersistentState } from '../../../src/toy/types.js';

const FC = { seed: 4242, numRuns: 300 };
const key = (n: number): string => n.toString(16).padStart(64, '0');
const pairing = (n: number, role: PairingRole): ToyPairing => ({ companionKey: key(n), role, displayName: `c${n}`, pairedAt: 0 });
const stateOf = (owner: boolean, guests: number, extra: Partial<ToyPersistentState> = {}): ToyPersistentState => ({
  ...emptyToyState(),
  pairings: [...(owner ? [pairing(1, 'owner')] : []), ...Array.from({ length: guests }, (_, i) => pairing(10 + i, 'guest'))],
  ...extra,
});
/** A deep-frozen copy: a policy function that tried to change its input would throw. */
const frozen = <T>(v: T): T => {
  const c = structuredClone(v);
  const freeze = (o: unknown): void => {
    if (o && typeof o === 'object') {
      Object.freeze(o);
      for (const x of Object.values(o)) freeze(x);
    }
  };
  freeze(c);
  return c;
};
const arbState = fc
  .record({ owner: fc.boolean(), guests: fc.integer({ min: 0, max: 6 }), failedAttempts: fc.nat(40), lockedUntil: fc.nat(10_000) })
  .map(({ owner, guests, failedAttempts, lockedUntil }) => stateOf(owner, guests, { failedAttempts, lockedUntil }));

describe('toy policy: the allow-list counts', () => {
  it('counts(state) gives the owner and the guests, for any list (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom<PairingRole>('owner', 'guest'), { maxLength: 8 }), (roles) => {
        const s = frozen({ ...emptyToyState(), pairings: roles.map((r, i) => pairing(i, r)) });
        expect(counts(s)).toEqual({ hasOwner: roles.includes('owner'), guests: roles.filter((r) => r === 'guest').length });
      }),
      FC,
    );
  });
});

describe('toy policy: before a session', () => {
  it('only PAIR_M1, RECONNECT_M1 and INFO_REQUEST may precede a session, of all 256 kind bytes', () => {
    const allowed = Array.from({ length: 256 }, (_, k) => k).filter(allowedBeforeSession);
    expect(allowed).toEqual([WireKind.PAIR_M1, WireKind.RECONNECT_M1, WireKind.INFO_REQUEST]);
    expect([...PRE_SESSION_KINDS].sort()).toEqual(allowed);
    expect(BEFORE_SESSION_REFUSAL).toMatchObject({ admit: false, count: 'control-before-session', refusal: 'NOT_AUTHENTICATED', retryAfterSec: 0 });
  });

  it('INFO_REQUEST is answered only inside the pairing window', () => {
    expect(admitInfoRequest(true)).toEqual({ admit: true });
    expect(admitInfoRequest(false)).toMatchObject({ admit: false, count: 'not-in-pairing-mode', refusal: 'NOT_IN_PAIRING_MODE' });
  });
});

describe('toy policy: handshakes', () => {
  // [handshakeUsed, windowOpen, lockedUntil, now] → refusal (undefined: admitted)
  const pairingCases: [boolean, boolean, number, number, string | undefined, number][] = [
    [false, true, 0, 1000, undefined, 0],
    [false, true, 1000, 1000, undefined, 0], // the lock ends at lockedUntil
    [false, true, 3000, 1000, 'RATE_LIMITED', 2],
    [false, true, Number.NaN, 1000, 'RATE_LIMITED', Number.NaN], // an unreadable lock counts as locked
    [false, false, 0, 1000, 'NOT_IN_PAIRING_MODE', 0],
    [false, false, 3000, 1000, 'NOT_IN_PAIRING_MODE', 0], // the window is checked first
    [true, true, 0, 1000, 'BUSY', 0], // one handshake per connection, before anything else
    [true, false, 3000, 1000, 'BUSY', 0],
  ];
  it.each(pairingCases)('admitPairing(used %s, window %s, lockedUntil %s, now %s) → %s', (handshakeUsed, windowOpen, lockedUntil, now, refusal, retry) => {
    const d = admitPairing(frozen({ lockedUntil }), now, { windowOpen, handshakeUsed });
    if (refusal === undefined) expect(d).toEqual({ admit: true });
    else {
      expect(d).toMatchObject({ admit: false, refusal });
      if (!d.admit) expect(d.retryAfterSec).toEqual(retry);
    }
  });

  it('the refusals before the cryptography are counted as the toy logs them', () => {
    expect(admitPairing({ lockedUntil: 0 }, 0, { windowOpen: true, handshakeUsed: true })).toMatchObject({ count: 'bad-handshake', detail: 'one handshake per connection' });
    expect(admitPairing({ lockedUntil: 0 }, 0, { windowOpen: false, handshakeUsed: false })).toMatchObject({ count: 'not-in-pairing-mode' });
    expect(admitPairing({ lockedUntil: 5 }, 0, { windowOpen: true, handshakeUsed: false })).toMatchObject({ count: 'rate-limited' });
  });

  it('a reconnect is read whatever the window and the lock, once per connection', () => {
    expect(admitReconnect({ handshakeUsed: false })).toEqual({ admit: true });
    expect(admitReconnect({ handshakeUsed: true })).toStrictEqual({ admit: false, count: 'bad-handshake', refusal: 'BUSY', retryAfterSec: 0, detail: 'one handshake per connection' });
  });

  it('a refusal is exactly what the toy logs and answers: no detail field when it has none', () => {
    expect(admitInfoRequest(false)).toStrictEqual({ admit: false, count: 'not-in-pairing-mode', refusal: 'NOT_IN_PAIRING_MODE', retryAfterSec: 0 });
    expect(admitPairing({ lockedUntil: 0 }, 0, { windowOpen: false, handshakeUsed: false })).toStrictEqual({ admit: false, count: 'not-in-pairing-mode', refusal: 'NOT_IN_PAIRING_MODE', retryAfterSec: 0 });
    expect(admitPairing({ lockedUntil: 2500 }, 500, { windowOpen: true, handshakeUsed: false })).toStrictEqual({ admit: false, count: 'rate-limited', refusal: 'RATE_LIMITED', retryAfterSec: 2 });
    expect(BEFORE_SESSION_REFUSAL).toStrictEqual({ admit: false, count: 'control-before-session', refusal: 'NOT_AUTHENTICATED', retryAfterSec: 0 });
  });

  it('a reconnect is accepted for companions on the allow-list only', () => {
    const s = frozen(stateOf(true, 2));
    expect(admitReconnectCompanion(s, key(1))).toBe(true);
    expect(admitReconnectCompanion(s, key(11))).toBe(true);
    expect(admitReconnectCompanion(s, key(99))).toBe(false);
    expect(reconnectFailure('NOT_PAIRED')).toBe('not-paired');
    expect(reconnectFailure('DECRYPT_FAILED')).toBe('bad-handshake');
    expect(reconnectFailure(undefined)).toBe('bad-handshake');
  });

  // [owner?, guests, who pairs (a key on the list or a new one), maxGuests] → role or ALLOW_LIST_FULL
  const companionCases: [boolean, number, 'new' | 'owner' | 'guest', number, PairingRole | 'ALLOW_LIST_FULL'][] = [
    [false, 0, 'new', 4, 'owner'],
    [true, 0, 'new', 4, 'guest'],
    [true, 3, 'new', 4, 'guest'],
    [true, 4, 'new', 4, 'ALLOW_LIST_FULL'],
    [true, 4, 'guest', 4, 'guest'], // a companion on the list keeps its place
    [true, 4, 'owner', 4, 'owner'],
    [false, 4, 'new', 4, 'owner'], // guests without an owner (the owner removed itself): the next one owns
    [true, 0, 'new', 0, 'ALLOW_LIST_FULL'],
  ];
  it.each(companionCases)('admitPairingCompanion(owner %s, %s guests, %s companion, maxGuests %s) → %s', (owner, guests, who, maxGuests, expected) => {
    const s = frozen(stateOf(owner, guests));
    const k = who === 'owner' ? key(1) : who === 'guest' ? key(10) : key(99);
    const d = admitPairingCompanion(s, k, maxGuests);
    if (expected === 'ALLOW_LIST_FULL') expect(d).toMatchObject({ admit: false, count: 'allow-list-full', refusal: 'ALLOW_LIST_FULL' });
    else expect(d).toEqual({ admit: true, role: expected });
  });

  it('backoff: base · 2^(n−1), at most 5 min; the window closes at maxFailedAttempts failures', () => {
    expect([1, 2, 3, 4, 5, 6, 8, 9, 10, 40].map((n) => backoffMs(n, 1000))).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 128_000, 256_000, MAX_BACKOFF_MS, MAX_BACKOFF_MS]);
    const cfg = { backoffBaseMs: 1000, maxFailedAttempts: 5 };
    let state = { failedAttempts: 0 };
    let windowFailures = 0;
    const closes: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      const f = pairingFailure(frozen(state), windowFailures, 10_000, 'DECRYPT_FAILED', cfg);
      expect(f).toMatchObject({ count: 'wrong-setup-code', failedAttempts: i + 1, backoffMs: 1000 * 2 ** i, lockedUntil: 10_000 + 1000 * 2 ** i });
      state = { failedAttempts: f.failedAttempts };
      windowFailures = f.windowFailures;
      closes.push(f.closeWindow);
    }
    expect(closes).toEqual([false, false, false, false, true]);
    expect(pairingFailure({ failedAttempts: 0 }, 0, 0, 'BAD_PAYLOAD', cfg).count).toBe('bad-handshake');
    expect(pairingFailure({ failedAttempts: 0 }, 0, 0, undefined, cfg).count).toBe('bad-handshake');
  });

  it('a failure only ever raises the counters and the lock (fast-check)', () => {
    fc.assert(
      fc.property(arbState, fc.nat(10), fc.nat(1_000_000), fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 10 }), (s, wf, now, base, max) => {
        const f = pairingFailure(frozen(s), wf, now, 'DECRYPT_FAILED', { backoffBaseMs: base, maxFailedAttempts: max });
        expect(f.failedAttempts).toBe(s.failedAttempts + 1);
        expect(f.lockedUntil).toBeGreaterThan(now);
        expect(f.backoffMs).toBeLessThanOrEqual(MAX_BACKOFF_MS);
        expect(f.closeWindow).toBe(wf + 1 >= max);
      }),
      FC,
    );
  });
});

describe('toy policy: confirmation', () => {
  const ctx = { windowOpen: true, windowSerial: 3, maxGuests: 2 };
  // [owner?, guests, pending role, pending window, companion (new or on the list), ctx change] → stale
  const cases: [string, boolean, number, PairingRole, number, 'new' | 'guest', Partial<typeof ctx>, boolean][] = [
    ['first owner, same window', false, 0, 'owner', 3, 'new', {}, false],
    ['the window timed out', false, 0, 'owner', 3, 'new', { windowOpen: false }, true],
    ['a later window is open', false, 0, 'owner', 2, 'new', {}, true],
    ['another became owner meanwhile', true, 0, 'owner', 3, 'new', {}, true],
    ['a guest, the owner was removed meanwhile', false, 1, 'guest', 3, 'new', {}, true],
    ['a guest with room', true, 1, 'guest', 3, 'new', {}, false],
    ['a guest, the list filled meanwhile', true, 2, 'guest', 3, 'new', {}, true],
    ['a companion already on the list, list full', true, 2, 'guest', 3, 'guest', {}, false],
    ['a companion already on the list, window closed', true, 2, 'guest', 3, 'guest', { windowOpen: false }, true],
  ];
  it.each(cases)('%s', (_name, owner, guests, role, window, who, change, stale) => {
    const s = frozen(stateOf(owner, guests));
    expect(confirmationStale(s, { role, window }, who === 'guest' ? key(10) : key(99), { ...ctx, ...change })).toBe(stale);
  });
});

describe('toy policy: the button', () => {
  const cases: [boolean, number, number, boolean, string][] = [
    [false, 0, 0, true, 'owner pairing'],
    [false, 1000, 0, true, 'owner pairing'],
    [true, 0, 500, true, 'guest pairing'], // within the owner's grant
    [true, 500, 500, false, 'the toy has an owner who has not allowed guest pairing'], // the grant ends at guestGrantUntil
    [true, 0, 0, false, 'the toy has an owner who has not allowed guest pairing'],
  ];
  it.each(cases)('windowOnHold(owner %s, now %s, grant until %s) → open %s', (owner, now, grantUntil, open, reason) => {
    expect(windowOnHold(frozen(stateOf(owner, 1)), now, grantUntil)).toEqual({ open, reason });
  });

  it('a factory reset keeps the backoff and nothing else', () => {
    const s = frozen(stateOf(true, 3, { failedAttempts: 7, lockedUntil: 12345, advertisingKey: key(5), volume: 3 }));
    expect(afterFactoryReset(s)).toEqual({ ...emptyToyState(), failedAttempts: 7, lockedUntil: 12345 });
  });
});

describe('toy policy: requests inside a session', () => {
  const ALL = Capability.SPEAKER | Capability.MICROPHONE | Capability.BATTERY | Capability.VOLUME;
  const needs: Record<ControlRequest['type'], number | undefined> = {
    'speaker-start': Capability.SPEAKER,
    'speaker-end': Capability.SPEAKER,
    'speaker-stop': Capability.SPEAKER,
    'mic-start': Capability.MICROPHONE,
    'mic-stop': Capability.MICROPHONE,
    'set-volume': Capability.VOLUME,
    'get-battery': Capability.BATTERY,
    'get-info': undefined,
    'list-pairings': undefined,
    'remove-pairing': undefined,
    'allow-guest-pairing': undefined,
    confirm: undefined,
  };

  it('the table names the capability of PROTOCOL.md §13.9 and who may send of §10.1, for every request type', () => {
    const doc = readFileSync(new URL('../../../docs/PROTOCOL.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('### 10.1 Types'), doc.indexOf('### 10.2'));
    const rows = [...section.matchAll(/^\| `0x[0-9A-F]{2}` \| ([A-Z_]+) \| C→T \| [^|]* \| ([^|]*) \|/gm)];
    expect(rows.length).toBe(Object.keys(REQUEST_RULES).length);
    for (const [, name, who] of rows) {
      const type = name!.toLowerCase().replace(/_/g, '-') as ControlRequest['type'];
      const rule = REQUEST_RULES[type];
      expect(rule, name).toBeDefined();
      const expected = who!.startsWith('owner only') ? 'owner' : who!.includes('itself only') ? 'owner-or-self' : 'anyone';
      expect(rule.who, name).toBe(expected);
      expect(rule.capability, name).toBe(needs[type]);
    }
  });

  it('toy-to-companion types are not requests', () => {
    expect(isRequest({ type: 'get-info', id: 1 })).toBe(true);
    expect(isRequest({ type: 'goodbye', id: 0, reason: 1 })).toBe(false);
    expect(isRequest({ type: 'result', id: 1, status: 'OK', body: new Uint8Array(0) })).toBe(false);
    expect(isRequest({ type: 'mic-status', id: 0, active: false, nextFrame: 0 })).toBe(false);
    expect(isRequest({ type: 'advertising-key', id: 0, advertisingKey: new Uint8Array(32) })).toBe(false);
  });

  /** An independent statement of the rule, to check authorizeRequest against for every input. */
  function expected(type: ControlRequest['type'], ctx: RequestContext): string {
    const cap = needs[type];
    if (cap !== undefined && !(ctx.capabilities & cap)) return 'UNSUPPORTED';
    if (type === 'list-pairings' || type === 'allow-guest-pairing') return ctx.role === 'owner' ? 'allow' : 'NOT_OWNER';
    if (type === 'remove-pairing') {
      // who before what (PROTOCOL.md §13.5): a guest naming anyone but itself learns nothing of the list
      if (ctx.role !== 'owner' && ctx.target !== 'self') return 'NOT_OWNER';
      return ctx.target === undefined || ctx.target === 'none' ? 'NOT_FOUND' : 'allow';
    }
    return 'allow';
  }

  it('authorizeRequest over every type × capability set × role × target', () => {
    let n = 0;
    for (const type of Object.keys(needs) as ControlRequest['type'][]) {
      for (let capabilities = 0; capabilities <= ALL; capabilities++) {
        for (const role of ['owner', 'guest', undefined] as const) {
          for (const target of ['none', 'self', 'other', undefined] as const) {
            const ctx = { capabilities, role, ...(target ? { target } : {}) };
            expect(authorizeRequest(type, frozen(ctx)), `${type} ${JSON.stringify(ctx)}`).toBe(expected(type, ctx));
            n++;
          }
        }
      }
    }
    expect(n).toBe(12 * 16 * 3 * 4);
  });

  it('a guest never gets an owner-only request through, whatever the capabilities (fast-check)', () => {
    fc.assert(
      fc.property(fc.constantFrom<ControlRequest['type']>('list-pairings', 'allow-guest-pairing'), fc.nat(0xffffffff), (type, capabilities) => {
        expect(authorizeRequest(type, { capabilities, role: 'guest' })).toBe('NOT_OWNER');
        expect(authorizeRequest(type, { capabilities, role: undefined })).toBe('NOT_OWNER');
      }),
      FC,
    );
  });

  it('only companions on the allow-list may learn the advertising key', () => {
    const s = frozen(stateOf(true, 1));
    expect(mayLearnAdvertisingKey(s, key(1))).toBe(true);
    expect(mayLearnAdvertisingKey(s, key(10))).toBe(true);
    expect(mayLearnAdvertisingKey(s, key(99))).toBe(false);
    expect(mayLearnAdvertisingKey(s, undefined)).toBe(false);
  });
});

describe('toy policy: a pure module', () => {
  it('imports only protocol/ and the toy types, and has no timer, clock or I/O', () => {
    // Under mutation testing (scripts/mutation.ts) the sandbox's copy is instrumented: read the project's own file.
    const root = process.env.PLUSHLINK_SOURCE_ROOT;
    const src = readFileSync(root ? `${root}/src/toy/policy.ts` : new URL('../../../src/toy/policy.ts', import.meta.url), 'utf8');
    const imports = [...src.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
    for (const i of imports) expect(i).toMatch(/^\.\.\/protocol\/[a-z-]+\.js$|^\.\/types\.js$/);
    expect(src).not.toMatch(/setTimeout|setInterval|Date\.now|performance\.now|Math\.random|process\./);
  });

  it('never changes the state it is asked about (fast-check, frozen inputs)', () => {
    fc.assert(
      fc.property(arbState, fc.nat(20_000), fc.boolean(), fc.nat(5), (s, now, windowOpen, maxGuests) => {
        const f = frozen(s);
        admitPairing(f, now, { windowOpen, handshakeUsed: false });
        admitPairingCompanion(f, key(99), maxGuests);
        confirmationStale(f, { role: 'guest', window: 1 }, key(99), { windowOpen, windowSerial: 1, maxGuests });
        windowOnHold(f, now, now + 1);
        afterFactoryReset(f);
        counts(f);
        expect(f).toEqual(s);
      }),
      FC,
    );
  });
});
