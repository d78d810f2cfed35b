/**
 * The public option, event and stats types of the in-memory radio ({@link MemoryRadio}); the
 * timing model they refer to is described in ./radio.ts.
 */
import type { RandomSource } from '../../protocol/crypto.js';
import type { CharacteristicName, NotifyingCharacteristic, WritableCharacteristic } from '../types.js';
import type { Scheduler } from './scheduler.js';
import type { MemoryRadio } from './radio.js';

/** Options of {@link MemoryRadio}. Every duration is in milliseconds of simulated time unless noted. */
export interface MemoryRadioOptions {
  /** Connection interval of every link (default 7.5; BLE allows 7.5..4000 in 1.25 steps). Centrals may override. */
  connectionIntervalMs?: number;
  /** Wall-clock milliseconds per simulated millisecond (default 1 = real time; 0 = as fast as possible). */
  timeScale?: number;
  /** Wall-clock timers (default: global setTimeout/setImmediate, looked up at call time). */
  scheduler?: Scheduler;
  /**
   * Seed of the PRNG behind fault injection and jitter (default: random; see {@link MemoryRadio.seed}).
   * It never feeds an address: addresses are privacy-relevant and come from the CSPRNG.
   */
  seed?: number;
  /**
   * Source of the bytes of every address this radio hands out (default: the CSPRNG). Only a test
   * that needs reproducible addresses passes one; nothing derives addresses from {@link seed}.
   */
  addressRandom?: RandomSource;
  /** PDUs per direction per connection event (default 4). */
  pdusPerEvent?: number;
  /** Default notification queue length per link (default 32); peripherals may override. */
  notificationQueueSize?: number;
  /** Default write-without-response queue length per link (default 16); centrals may override. */
  writeQueueSize?: number;
  /** Request/response exchanges that service discovery takes during `connect()` (default 2). */
  discoveryRoundTrips?: number;
  /** ATT transaction timeout for write requests and indications (default 30 000). */
  attTimeoutMs?: number;
  /**
   * How often a running scan re-reports every advertisement, in **wall-clock** ms of the
   * scheduler (default 100; 0 = only when an advertisement appears or changes). Advertising is
   * not part of the simulated link timing.
   */
  advertisingIntervalMs?: number;
  /** Initial radio-wide faults (see {@link RadioFaults}). */
  faults?: { notificationDropRate?: number; latencyMs?: number; jitterMs?: number };
}

/** Options of {@link MemoryRadio.createCentral}. */
export interface MemoryCentralOptions {
  /** ATT MTU this central asks for (default 247); the link uses min(central, peripheral) clamped to 23..517. */
  mtu?: number;
  /** Connection interval of this central's links (default: the radio's). */
  connectionIntervalMs?: number;
  /** Write-without-response queue length (default: the radio's). */
  writeQueueSize?: number;
}

/** Options of {@link MemoryRadio.createPeripheral}. */
export interface MemoryPeripheralOptions {
  /** ATT MTU this peripheral supports (default 247). */
  mtu?: number;
  /** RSSI reported to scanners, in dBm (default −60). */
  rssi?: number;
  /** Notification queue length per link (default: the radio's). */
  notificationQueueSize?: number;
  /**
   * Largest advertised service data in bytes (default 24: a legacy 31-byte advertisement minus
   * the flags AD and the service-data AD header with a 16-bit UUID). Longer data → `BAD_FRAME`.
   */
  maxServiceDataLength?: number;
}

/** Which way a PDU travels, for faults. */
export type LinkDirection = 'toPeripheral' | 'toCentral' | 'any';

/** A "disconnect after the n-th PDU" fault. */
export interface DisconnectAfterSpec {
  /** Which application PDUs to count (default `'any'`). */
  direction?: LinkDirection;
  /** Drop the link at the `count`-th counted PDU (≥ 1), counted from arming (link faults) or from connection (radio faults). */
  count: number;
  /** When true the `count`-th PDU is lost with the link; when false (default) it is delivered first. */
  lose?: boolean;
}

/** Why a link went away, as passed to `disconnect` listeners. */
export type DisconnectReason =
  /** This side called `disconnect()` (or aborted / timed out its own connect). */
  | 'local'
  /** The other side disconnected; learnt at the next connection event. */
  | 'remote'
  /** An injected fault (`injectDisconnect`, `disconnectAfter`). */
  | 'fault'
  /** An ATT transaction timed out (both sides). */
  | 'timeout'
  /** This side's central/peripheral or the whole radio was closed. */
  | 'closed';

/**
 * Counters of one link, shared by both ends. Counted at delivery (arrival at the receiver).
 * Times are simulated milliseconds ({@link MemoryRadio.now}).
 */
export interface LinkStats {
  /** Simulated time `connect()` was called. */
  connectStartedAt: number;
  /** Simulated time the link layer connected (first connection event), or null. */
  establishedAt: number | null;
  /** Simulated time `connect()` resolved (MTU, discovery and subscriptions done), or null. */
  readyAt: number | null;
  /** Simulated time the link went down, or null. */
  disconnectedAt: number | null;
  /** Connection events that ran (idle events are skipped by the simulation), setup included. */
  connectionEvents: number;
  /** Of {@link connectionEvents}, those before the link was ready. */
  setupEvents: number;
  /** Values delivered central → peripheral (control + speaker). */
  writes: number;
  /** Of {@link writes}, write requests on control. */
  writesWithResponse: number;
  /** Of {@link writes}, writes without response on speaker. */
  writesWithoutResponse: number;
  /** Indications delivered on control. */
  indications: number;
  /** Notifications delivered on microphone. */
  notifications: number;
  /** Notifications lost: {@link droppedQueueFull} + {@link droppedInjected}. */
  dropped: number;
  /** Notifications refused because the link's notification queue was full. */
  droppedQueueFull: number;
  /** Notifications lost to the injected drop rate. */
  droppedInjected: number;
  /** Maximal runs of application PDUs in one direction (see module docs). */
  flights: number;
  /** Central → peripheral followed by peripheral → central transitions (see module docs). */
  roundTrips: number;
  /** Payload bytes delivered to the peripheral, per characteristic. */
  bytesToPeripheral: Record<WritableCharacteristic, number>;
  /** Payload bytes delivered to the central, per characteristic (dropped notifications excluded). */
  bytesToCentral: Record<NotifyingCharacteristic, number>;
}

/** One application PDU as seen on the air (radio `pdu` event), for traces and recordings. */
export interface PduTrace {
  /** Simulated time of delivery, ms. */
  time: number;
  /** Serial number of the link on this radio (1, 2, ...). */
  link: number;
  direction: 'toPeripheral' | 'toCentral';
  characteristic: CharacteristicName;
  kind: 'write' | 'writeWithoutResponse' | 'indication' | 'notification';
  /** The delivered bytes (do not mutate). */
  value: Uint8Array;
  /** True when the drop fault discarded this notification. */
  dropped: boolean;
}

/** Events of {@link MemoryRadio}. */
export interface MemoryRadioEvents {
  /** Every application PDU that reached the receiving radio. */
  pdu: (trace: PduTrace) => void;
  /**
   * What a peripheral puts on the air changed: it started advertising, replaced its service data,
   * stopped (`serviceData` undefined), or moved to a new address (which stops it until its next
   * `advertise`). Every advertisement a scanner can ever report is one of these states, so a test
   * that checks them all checks every advertising event.
   */
  advertising: (event: AdvertisingEvent) => void;
}

/** One state of a peripheral's advertising (see {@link MemoryRadioEvents.advertising}). */
export interface AdvertisingEvent {
  /** The peripheral's address at that moment. */
  address: string;
  /** The service data on the air, or undefined when the peripheral does not advertise. */
  serviceData: Uint8Array | undefined;
  /** Simulated radio time (ms). */
  at: number;
}

/** Fresh zeroed counters of a link that `connect()` started at `connectStartedAt`. */
export function newLinkStats(connectStartedAt: number): LinkStats {
  return {
    connectStartedAt,
    establishedAt: null,
    readyAt: null,
    disconnectedAt: null,
    connectionEvents: 0,
    setupEvents: 0,
    writes: 0,
    writesWithResponse: 0,
    writesWithoutResponse: 0,
    indications: 0,
    notifications: 0,
    dropped: 0,
    droppedQueueFull: 0,
    droppedInjected: 0,
    flights: 0,
    roundTrips: 0,
    bytesToPeripheral: { control: 0, speaker: 0 },
    bytesToCentral: { control: 0, microphone: 0 },
  };
}

/** A copy of `s` that later deliveries do not change. */
export function copyLinkStats(s: LinkStats): LinkStats {
  return { ...s, bytesToPeripheral: { ...s.bytesToPeripheral }, bytesToCentral: { ...s.bytesToCentral } };
}
