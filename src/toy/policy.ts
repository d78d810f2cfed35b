/**
 * The toy's access rule: who may do what on the reference toy, in one pure module (no timers,
 * no I/O, no state of its own). {@link ToyCore} asks these functions and carries out their
 * answer; the time, the persisted state and the pairing window are passed in.
 *
 * What it decides (docs/SECURITY.md §2, properties 1, 2 and 5, names the mechanism and its
 * tests; `test/unit/toy/policy.test.ts` tests this module alone):
 * - before a session, which message kinds a connection may send at all ({@link PRE_SESSION_KINDS},
 *   PROTOCOL.md §4, §11);
 * - whether a handshake message 1 is read: the pairing window and the backoff lock before any
 *   cryptography ({@link admitPairing}, {@link admitReconnect}, PROTOCOL.md §13.2, §13.4), the
 *   allow-list once message 1 yields the companion's key ({@link admitPairingCompanion},
 *   {@link admitReconnectCompanion}), and what a failed attempt costs ({@link pairingFailure});
 * - whether a pending pairing still holds when the companion confirms ({@link confirmationStale},
 *   PROTOCOL.md §6.4);
 * - whether a button hold opens a window: owner pairing, or guest pairing within the owner's
 *   grant ({@link windowOnHold}, PROTOCOL.md §13.2);
 * - inside a session, which requests a companion may make: a table per request type of the
 *   capability it needs and who may make it ({@link REQUEST_RULES}, {@link authorizeRequest},
 *   PROTOCOL.md §10.1, §13.9);
 * - who may learn the advertising key ({@link mayLearnAdvertisingKey}, PROTOCOL.md §10.4);
 * - what a factory reset keeps ({@link afterFactoryReset}, PROTOCOL.md §13.5).
 *
 * The owner and guest counts every rule needs are computed in one place, {@link counts}.
 */
import type { ControlMessage, ControlRequest } from '../protocol/control.js';
import type { ErrorCode } from '../protocol/errors.js';
import { Capability, type PairingRole } from '../protocol/handshake.js';
import { WireKind, type RefusalName } from '../protocol/wire.js';
import { emptyToyState, type RefusalKind, type ToyPairing, type ToyPersistentState } from './types.js';

// ---------------------------------------------------------------- the allow-list

/** The owner and guest counts of an allow-list. */
export interface PairingCounts {
  /** True when the list has an owner (at most one: the state schema refuses more). */
  hasOwner: boolean;
  guests: number;
}

/** Owner and guest counts of `state` (the only place they are computed). */
export function counts(state: Pick<ToyPersistentState, 'pairings'>): PairingCounts {
  let hasOwner = false;
  let guests = 0;
  for (const p of state.pairings) {
    if (p.role === 'owner') hasOwner = true;
    else guests++;
  }
  return { hasOwner, guests };
}

/** The pairing of the companion whose static key is `companionKey` (hex), if it is on the list. */
export function findPairing(state: Pick<ToyPersistentState, 'pairings'>, companionKey: string | undefined): ToyPairing | undefined {
  return companionKey === undefined ? undefined : state.pairings.find((p) => p.companionKey === companionKey);
}

/** True when a new companion (not on the list) can no longer be added: an owner and `maxGuests` guests. */
function listFull(c: PairingCounts, maxGuests: number): boolean {
  return c.hasOwner && c.guests >= maxGuests;
}

// ---------------------------------------------------------------- decisions

/** A refusal: what the toy counts (its log), what it answers on the air, and in how many seconds to retry. */
export interface Refusal {
  admit: false;
  /** The refusal counter it raises (`ToyCore.refusals`). */
  count: RefusalKind;
  /** The plaintext ERROR the toy answers before a session (PROTOCOL.md §4). */
  refusal: RefusalName;
  retryAfterSec: number;
  /** For the log only. */
  detail?: string;
}

/** A policy answer: admitted (with what the admission carries) or a {@link Refusal}. */
export type Decision<T extends object = object> = ({ admit: true } & T) | Refusal;

const ADMIT = { admit: true } as const;

function refuse(count: RefusalKind, refusal: RefusalName, retryAfterSec = 0, detail?: string): Refusal {
  return { admit: false, count, refusal, retryAfterSec, ...(detail !== undefined ? { detail } : {}) };
}

// ---------------------------------------------------------------- before a session

/**
 * The message kinds a connection may send before it has a session (PROTOCOL.md §4, §11): the
 * handshake kinds. Any other kind byte, known or not, is refused at its first fragment, before
 * anything is buffered.
 */
export const PRE_SESSION_KINDS: ReadonlySet<number> = new Set<number>([WireKind.PAIR_M1, WireKind.RECONNECT_M1, WireKind.INFO_REQUEST]);

/** True when a message of wire kind `kind` may be sent before a session. */
export function allowedBeforeSession(kind: number): boolean {
  return PRE_SESSION_KINDS.has(kind);
}

/** The answer to a control message of any other kind before a session: NOT_AUTHENTICATED, counted. */
export const BEFORE_SESSION_REFUSAL: Refusal = refuse('control-before-session', 'NOT_AUTHENTICATED');

/**
 * A speaker write before a session: dropped and counted, never answered (write without
 * response has no answer; PROTOCOL.md §11).
 */
export const SPEAKER_BEFORE_SESSION: RefusalKind = 'speaker-write';

/** INFO_REQUEST (the toy's key for a typed setup code) is answered only inside the pairing window. */
export function admitInfoRequest(windowOpen: boolean): Decision {
  return windowOpen ? ADMIT : refuse('not-in-pairing-mode', 'NOT_IN_PAIRING_MODE');
}

// ---------------------------------------------------------------- handshakes

/** What {@link admitPairing} and {@link admitReconnect} look at besides the persisted state. */
export interface HandshakeContext {
  /** The pairing window is open now. */
  windowOpen: boolean;
  /** This connection already read a message 1 (one handshake per connection). */
  handshakeUsed: boolean;
}

/**
 * Whether a pairing message 1 is read at all — decided before any cryptography, so that nothing
 * outside the window, or inside the backoff lock, costs the toy a DH or a failed attempt
 * (PROTOCOL.md §13.2).
 */
export function admitPairing(state: Pick<ToyPersistentState, 'lockedUntil'>, now: number, ctx: HandshakeContext): Decision {
  if (ctx.handshakeUsed) return refuse('bad-handshake', 'BUSY', 0, 'one handshake per connection');
  if (!ctx.windowOpen) return refuse('not-in-pairing-mode', 'NOT_IN_PAIRING_MODE');
  // Written so that an unreadable (NaN) lock counts as locked.
  if (!(now >= state.lockedUntil)) return refuse('rate-limited', 'RATE_LIMITED', (state.lockedUntil - now) / 1000);
  return ADMIT;
}

/**
 * Whether a reconnect message 1 is read at all: one handshake per connection. The allow-list is
 * checked once message 1 yields the companion's key ({@link admitReconnectCompanion}).
 */
export function admitReconnect(ctx: Pick<HandshakeContext, 'handshakeUsed'>): Decision {
  if (ctx.handshakeUsed) return refuse('bad-handshake', 'BUSY', 0, 'one handshake per connection');
  return ADMIT;
}

/**
 * Reconnect: whether the companion of static key `companionKey` (hex) is on the allow-list. Asked
 * as soon as message 1 yields the key, before the `ss` DH; an unknown companion is refused exactly
 * like a message 1 that does not authenticate (PROTOCOL.md §14.3).
 */
export function admitReconnectCompanion(state: Pick<ToyPersistentState, 'pairings'>, companionKey: string): boolean {
  return findPairing(state, companionKey) !== undefined;
}

/**
 * Pairing: the role a companion gets once message 1 yields its key (hex), or ALLOW_LIST_FULL.
 * A companion already on the list keeps its role; a new one is the owner of a toy without one,
 * else a guest while there is room for one. Nothing changes yet: message 1 may be a replay; the
 * pairing takes effect at the confirmation ({@link confirmationStale}).
 */
export function admitPairingCompanion(state: Pick<ToyPersistentState, 'pairings'>, companionKey: string, maxGuests: number): Decision<{ role: PairingRole }> {
  const existing = findPairing(state, companionKey);
  if (existing) return { admit: true, role: existing.role };
  const c = counts(state);
  if (listFull(c, maxGuests)) return refuse('allow-list-full', 'ALLOW_LIST_FULL');
  return { admit: true, role: c.hasOwner ? 'guest' : 'owner' };
}

/** The largest backoff after failed pairing attempts (PROTOCOL.md §13.2). */
export const MAX_BACKOFF_MS = 5 * 60_000;

/** The backoff after the `failedAttempts`-th failed attempt since the last success: `base · 2^(n−1)`, at most 5 min. */
export function backoffMs(failedAttempts: number, baseMs: number): number {
  return Math.min(MAX_BACKOFF_MS, baseMs * 2 ** (failedAttempts - 1));
}

/** What a failed pairing message 1 (wrong code or malformed) costs; see {@link pairingFailure}. */
export interface PairingFailure {
  /** The refusal counter it raises: `wrong-setup-code` when message 1 did not authenticate, else `bad-handshake`. */
  count: RefusalKind;
  /** The new persisted counters (persist both). */
  failedAttempts: number;
  lockedUntil: number;
  /** The backoff, also the ERROR's retry-after. */
  backoffMs: number;
  /** Failures in the current window. */
  windowFailures: number;
  /** The window closes (`maxFailedAttempts` failures in it). */
  closeWindow: boolean;
}

/**
 * A failed pairing message 1: one more failed attempt, a lock of {@link backoffMs}, and the window
 * closes after `maxFailedAttempts` failures in it (PROTOCOL.md §13.2). `errorCode` is the code the
 * read failed with (`DECRYPT_FAILED`: the setup code was wrong).
 */
export function pairingFailure(
  state: Pick<ToyPersistentState, 'failedAttempts'>,
  windowFailures: number,
  now: number,
  errorCode: ErrorCode | undefined,
  cfg: { backoffBaseMs: number; maxFailedAttempts: number },
): PairingFailure {
  const failedAttempts = state.failedAttempts + 1;
  const backoff = backoffMs(failedAttempts, cfg.backoffBaseMs);
  const failures = windowFailures + 1;
  return {
    count: errorCode === 'DECRYPT_FAILED' ? 'wrong-setup-code' : 'bad-handshake',
    failedAttempts,
    lockedUntil: now + backoff,
    backoffMs: backoff,
    windowFailures: failures,
    closeWindow: failures >= cfg.maxFailedAttempts,
  };
}

/**
 * A failed reconnect message 1: always HANDSHAKE_FAILED on the air (an unknown companion must not
 * learn that it found this toy, PROTOCOL.md §14.3); counted apart for the toy's own log.
 */
export function reconnectFailure(errorCode: ErrorCode | undefined): RefusalKind {
  return errorCode === 'NOT_PAIRED' ? 'not-paired' : 'bad-handshake';
}

// ---------------------------------------------------------------- confirmation

/** A pairing waiting for the companion's confirmation (PROTOCOL.md §6.4). */
export interface PendingPairing {
  role: PairingRole;
  /** The window (its serial number) message 1 was read in. */
  window: number;
}

/**
 * True when a pending pairing can no longer be committed at the companion's confirmation: the
 * window admits one pairing, so one that confirms after its window closed (timed out, or closed
 * by another pairing's confirmation — even if a later window is open now), or with a role or a
 * list size that no longer holds, is dropped, never committed (PROTOCOL.md §6.4).
 */
export function confirmationStale(
  state: Pick<ToyPersistentState, 'pairings'>,
  pending: PendingPairing,
  companionKey: string | undefined,
  ctx: { windowOpen: boolean; windowSerial: number; maxGuests: number },
): boolean {
  if (!ctx.windowOpen || pending.window !== ctx.windowSerial) return true;
  if (findPairing(state, companionKey)) return false;
  const c = counts(state);
  return (pending.role === 'owner') === c.hasOwner || listFull(c, ctx.maxGuests);
}

// ---------------------------------------------------------------- the button

/**
 * Whether a button hold opens the pairing window: always on a toy without an owner; on a toy with
 * one only before `guestGrantUntil`, the end of the owner's ALLOW_GUEST_PAIRING grant
 * (PROTOCOL.md §13.2). The reason is for the log.
 */
export function windowOnHold(state: Pick<ToyPersistentState, 'pairings'>, now: number, guestGrantUntil: number): { open: boolean; reason: string } {
  const { hasOwner } = counts(state);
  if (hasOwner && now >= guestGrantUntil) return { open: false, reason: 'the toy has an owner who has not allowed guest pairing' };
  return { open: true, reason: hasOwner ? 'guest pairing' : 'owner pairing' };
}

/** A factory reset erases everything but the pairing backoff: a reset must not reset a guesser's penalty. */
export function afterFactoryReset(state: Pick<ToyPersistentState, 'failedAttempts' | 'lockedUntil'>): ToyPersistentState {
  return { ...emptyToyState(), failedAttempts: state.failedAttempts, lockedUntil: state.lockedUntil };
}

// ---------------------------------------------------------------- inside a session

/**
 * Who may make a request: `anyone` with a session (owner or guest: a removal or a reset ends the
 * sessions of those no longer on the list), the `owner` only, or `owner-or-self` (the owner on
 * any pairing, a guest on its own).
 */
export type Who = 'anyone' | 'owner' | 'owner-or-self';

/** The access rule of one request type. */
export interface RequestRule {
  /** The capability bit (toy hello, PROTOCOL.md §7) it needs; a toy without it answers UNSUPPORTED. */
  capability?: number;
  who: Who;
}

/**
 * The access rule of every request a companion may make (PROTOCOL.md §10.1 "who", §13.9). A
 * control message type not in this table (the toy→companion types) is not a request: dropped.
 */
export const REQUEST_RULES: Readonly<Record<ControlRequest['type'], RequestRule>> = Object.freeze({
  confirm: { who: 'anyone' },
  'speaker-start': { capability: Capability.SPEAKER, who: 'anyone' },
  'speaker-end': { capability: Capability.SPEAKER, who: 'anyone' },
  'speaker-stop': { capability: Capability.SPEAKER, who: 'anyone' },
  'mic-start': { capability: Capability.MICROPHONE, who: 'anyone' },
  'mic-stop': { capability: Capability.MICROPHONE, who: 'anyone' },
  'set-volume': { capability: Capability.VOLUME, who: 'anyone' },
  'get-battery': { capability: Capability.BATTERY, who: 'anyone' },
  'get-info': { who: 'anyone' },
  'list-pairings': { who: 'owner' },
  'remove-pairing': { who: 'owner-or-self' },
  'allow-guest-pairing': { who: 'owner' },
});

/** True when `m` is a request a companion may send the toy (its type has a {@link REQUEST_RULES} entry). */
export function isRequest(m: ControlMessage): m is ControlRequest {
  return Object.prototype.hasOwnProperty.call(REQUEST_RULES, m.type);
}

/** What a request is asked about: the toy's capabilities, the requester's role, and the pairing it names. */
export interface RequestContext {
  capabilities: number;
  /** The requester's role on the allow-list (undefined: not on it). */
  role: PairingRole | undefined;
  /**
   * For a request that names a pairing (`owner-or-self`): `none` when no pairing has that key id,
   * `self` when it is the requester's own, else `other`.
   */
  target?: 'none' | 'self' | 'other';
}

/** The verdict on a request: carry it out, or answer RESULT with this status (NOT_OWNER is also counted as `not-owner`). */
export type RequestVerdict = 'allow' | 'UNSUPPORTED' | 'NOT_FOUND' | 'NOT_OWNER';

/**
 * Whether the toy carries out a request, in this order: the capability it needs (UNSUPPORTED),
 * who may make it (NOT_OWNER), the pairing it names (NOT_FOUND). A guest naming any pairing but
 * its own gets NOT_OWNER whether or not that pairing exists: NOT_FOUND would tell it who else is
 * on the allow-list, which only the owner may list (PROTOCOL.md §13.5).
 */
export function authorizeRequest(type: ControlRequest['type'], ctx: RequestContext): RequestVerdict {
  const rule = REQUEST_RULES[type];
  if (rule.capability !== undefined && (ctx.capabilities & rule.capability) === 0) return 'UNSUPPORTED';
  switch (rule.who) {
    case 'anyone':
      return 'allow';
    case 'owner':
      return ctx.role === 'owner' ? 'allow' : 'NOT_OWNER';
    case 'owner-or-self':
      if (ctx.role !== 'owner' && ctx.target !== 'self') return 'NOT_OWNER';
      return ctx.target === undefined || ctx.target === 'none' ? 'NOT_FOUND' : 'allow';
  }
}

/** The refusal counter a NOT_OWNER verdict raises. */
export const NOT_OWNER_REFUSAL: RefusalKind = 'not-owner';

/**
 * Who may learn the toy's advertising key: a companion on the allow-list only — a pending new
 * pairing is not on it until it confirms (PROTOCOL.md §6.3, §10.4).
 */
export function mayLearnAdvertisingKey(state: Pick<ToyPersistentState, 'pairings'>, companionKey: string | undefined): boolean {
  return findPairing(state, companionKey) !== undefined;
}
