/** Types of the reference toy: configuration, persistent state, actions, statistics. */
import type { NotifyingCharacteristic, WritableCharacteristic } from '../protocol/gatt.js';
import type { PairingRole } from '../protocol/handshake.js';

/** One companion on the toy's allow-list. */
export interface ToyPairing {
  /** The companion's static X25519 public key, hex. */
  companionKey: string;
  role: PairingRole;
  displayName: string;
  /** ms since the Unix epoch. */
  pairedAt: number;
}

/** What the toy keeps across power cycles (the toy's flash). */
export interface ToyPersistentState {
  version: 1;
  pairings: ToyPairing[];
  /** Failed pairing attempts since the last success (drives the backoff). */
  failedAttempts: number;
  /** No pairing attempt is accepted before this time (ms since the epoch). */
  lockedUntil: number;
  /**
   * The toy's advertising key (hex), created at the first pairing, replaced by a fresh one at
   * every removal that leaves pairings, erased when the list empties and by factory reset.
   */
  advertisingKey?: string;
  volume: number;
}

export function emptyToyState(): ToyPersistentState {
  return { version: 1, pairings: [], failedAttempts: 0, lockedUntil: 0, volume: 70 };
}

/** Everything the toy core asks its driver to do. */
export type ToyAction =
  | { type: 'send'; connection: string; characteristic: NotifyingCharacteristic; value: Uint8Array }
  | { type: 'disconnect'; connection: string; reason: string }
  /**
   * (Re-)advertise with this service data. `newAddress`: the service data differs from the
   * previous advertisement (a new slot's tag, a flag, a new or erased key), so the driver should
   * first move to a new BLE address — otherwise the old address would link the old and the new
   * data (PROTOCOL.md §12).
   */
  | { type: 'advertise'; serviceData: Uint8Array; newAddress?: boolean }
  | { type: 'persist'; state: ToyPersistentState }
  | { type: 'play'; frames: Uint8Array[] }
  | { type: 'microphone'; active: boolean }
  | { type: 'log'; event: ToyLogEvent };

/** Notable events, for logs, demos and tests. */
export type ToyLogEvent =
  | { kind: 'refused'; connection: string; what: RefusalKind; detail?: string }
  | { kind: 'paired'; connection: string; role: PairingRole; displayName: string }
  | { kind: 'session'; connection: string; mode: 'pair' | 'reconnect'; displayName: string }
  | { kind: 'pairing-window'; open: boolean; reason: string }
  | { kind: 'factory-reset' }
  /** A pairing was removed; the advertising key was rotated (pairings remain) or erased (none remain). */
  | { kind: 'removed'; companionKey: string; by: string; advertisingKey: 'rotated' | 'erased' };

/** What a refusal was about. */
export type RefusalKind =
  | 'speaker-write'
  | 'control-before-session'
  | 'not-in-pairing-mode'
  | 'rate-limited'
  | 'wrong-setup-code'
  | 'bad-handshake'
  | 'not-paired'
  | 'allow-list-full'
  | 'replayed-record'
  | 'record-auth-failed'
  | 'handshake-timeout'
  | 'malformed'
  | 'not-owner';

/** Counters of refused inputs (each refusal changed nothing). */
export type ToyRefusalCounts = Record<RefusalKind, number>;

/** Toy configuration. Times are milliseconds. */
export interface ToyConfig {
  firmwareVersion?: string;
  model?: string;
  capabilities?: number;
  /** Pairing window length after the button hold (default 120 000). */
  pairingWindowMs?: number;
  /** Failed attempts that close the window (default 5). */
  maxFailedAttempts?: number;
  /** Base of the exponential backoff after a failed pairing attempt (default 1000; doubles per failure, max 5 min). */
  backoffBaseMs?: number;
  /** A connection that has no session after this long is closed (default 5000). */
  handshakeDeadlineMs?: number;
  /** Guests besides the owner (default 4). */
  maxGuests?: number;
  /** How long after the owner's `allow-guest-pairing` a button hold opens a guest window (default 300 000). */
  guestGrantMs?: number;
  /** Speaker buffer (default 400). */
  speakerBufferMs?: number;
  /** Audio buffered before playback starts (default 100: one 80 ms record plus air jitter). */
  speakerPrebufferMs?: number;
  /** Microphone batching latency budget (default 60): frames per record ≤ budget/20 + 1. */
  micLatencyBudgetMs?: number;
  /** How often the toy reports its speaker state while playing (default 100). */
  speakerStatusIntervalMs?: number;
}

export type { NotifyingCharacteristic, WritableCharacteristic };
