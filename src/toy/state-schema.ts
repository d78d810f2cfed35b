/**
 * The schema of the toy's persistent state (PROTOCOL.md §13.1), checked with valibot wherever
 * a state enters the toy: when a storage loads it, before a storage writes it, and when
 * {@link ToyCore} is constructed from it (whatever the storage). A state that does not match is
 * refused with `KEYSTORE_CORRUPT`, never repaired: in particular the pairing backoff
 * (`failedAttempts`, `lockedUntil`) must be present and be non-negative integers, because a
 * missing or non-numeric counter would silently disable the brute-force limit (fail closed).
 */
import * as v from 'valibot';
import { utf8 } from '../protocol/bytes.js';
import { PlushlinkError } from '../protocol/errors.js';
import type { ToyPersistentState } from './types.js';

/** 32 bytes as 64 lower-case hex digits. */
const Hex32 = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'must be 32 bytes as 64 lower-case hex digits'));
/** A count or a time in ms: a non-negative safe integer. */
const Count = v.pipe(v.number(), v.safeInteger('must be an integer'), v.minValue(0, 'must not be negative'));
/** A display name as the toy keeps it: 1–32 bytes of UTF-8 (PROTOCOL.md §7). */
const DisplayName = v.pipe(
  v.string(),
  v.check((s) => {
    const n = utf8(s).length;
    return n >= 1 && n <= 32;
  }, 'must be 1–32 bytes of UTF-8'),
);

const Pairing = v.strictObject({
  companionKey: Hex32,
  role: v.picklist(['owner', 'guest']),
  displayName: DisplayName,
  pairedAt: Count,
});

/** The most pairings a file may hold (1 owner + guests; a toy's own bound is its `maxGuests`). */
const MAX_PAIRINGS = 64;

export const ToyStateSchema = v.pipe(
  v.strictObject({
    version: v.literal(1),
    pairings: v.pipe(v.array(Pairing), v.maxLength(MAX_PAIRINGS)),
    failedAttempts: Count,
    lockedUntil: Count,
    advertisingKey: v.optional(Hex32),
    volume: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(100)),
  }),
  v.check((s) => new Set(s.pairings.map((p) => p.companionKey)).size === s.pairings.length, 'a companion key appears twice in pairings'),
  v.check((s) => s.pairings.filter((p) => p.role === 'owner').length <= 1, 'more than one owner'),
  // The advertising key exists exactly while there are pairings (PROTOCOL.md §13.1).
  v.check((s) => (s.pairings.length > 0) === (s.advertisingKey !== undefined), 'the advertising key must be present exactly when there are pairings'),
);

/**
 * Validates a toy state (a parsed file, or a state handed to the toy) and returns a copy of it.
 * Throws `KEYSTORE_CORRUPT` naming the first problem and where it is.
 */
export function parseToyState(input: unknown, where = 'toy state'): ToyPersistentState {
  const r = v.safeParse(ToyStateSchema, input);
  if (!r.success) {
    const issue = r.issues[0];
    const path = issue.path?.map((p) => String(p.key)).join('.') || '(root)';
    throw new PlushlinkError('KEYSTORE_CORRUPT', `${where} is invalid at ${path}: ${issue.message}`, { path, issues: r.issues.length });
  }
  return structuredClone(r.output) as ToyPersistentState;
}
