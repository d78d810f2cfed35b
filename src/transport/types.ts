/**
 * The GATT transport interface every adapter implements: the in-memory radio (tests, demo),
 * noble-sim (real noble + real bleno GATT code, in-process) and the real noble / bleno
 * adapters. The protocol layers above see only these types.
 *
 * The plushlink service has three characteristics (see docs/PROTOCOL.md):
 * - `control`: write (with response) from the central, indicate to the central
 * - `speaker`: write without response from the central
 * - `microphone`: notify to the central
 */
import type { EventEmitter } from 'eventemitter3';
import type { CharacteristicName, NotifyingCharacteristic, WritableCharacteristic } from '../protocol/gatt.js';

// The characteristic names and the ATT MTU bounds are wire rules (PROTOCOL.md §2): they live in
// src/protocol/gatt.ts, where the sans-IO toy core takes them from; re-exported for the adapters.
export type { CharacteristicName, NotifyingCharacteristic, WritableCharacteristic };
export { MIN_ATT_MTU, MAX_ATT_MTU } from '../protocol/gatt.js';

/** One advertisement seen while scanning. */
export interface Advertisement {
  /** Transport-specific peripheral id (a BLE address or a noble uuid); not stable across the toy's address rotation. */
  id: string;
  /** Signal strength in dBm where known. */
  rssi?: number;
  /** The service data advertised under the plushlink service UUID (see PROTOCOL.md, "Advertising"). */
  serviceData: Uint8Array;
}

/** Events of a central-side link. */
export interface CentralLinkEvents {
  /** An indication (control) or notification (microphone) arrived. */
  data: (characteristic: NotifyingCharacteristic, value: Uint8Array) => void;
  /** The link is gone (remote disconnect, supervision timeout, or local `disconnect()`). */
  disconnect: (reason: string) => void;
}

/** A connection from the central's (companion's) side. */
export interface CentralLink extends EventEmitter<CentralLinkEvents> {
  /** Peripheral id this link is connected to. */
  readonly id: string;
  /** Negotiated ATT MTU (23..517). One write or notification carries at most `mtu − 3` bytes. */
  readonly mtu: number;
  /** False once the link is disconnected. */
  readonly connected: boolean;
  /**
   * Writes one ATT value (at most `mtu − 3` bytes). `control` is written with response (the
   * promise settles when the peripheral acknowledged), `speaker` without response (settles
   * when the value was handed to the radio). Rejects with `DISCONNECTED` or `TIMEOUT`.
   */
  write(characteristic: WritableCharacteristic, value: Uint8Array): Promise<void>;
  /** Enables indications (control) or notifications (microphone). */
  subscribe(characteristic: NotifyingCharacteristic): Promise<void>;
  /** Disconnects; idempotent. */
  disconnect(): Promise<void>;
}

/** Options of {@link Central.scan}. */
export interface ScanOptions {
  signal?: AbortSignal;
}

/** Options of {@link Central.connect} (the transport link; {@link Companion.connect} takes the companion's `ConnectOptions`). */
export interface CentralConnectOptions {
  signal?: AbortSignal;
  /** Give up connecting (link + MTU exchange + discovery + subscriptions) after this long. */
  timeoutMs?: number;
}

/** The central (companion) side of a transport. */
export interface Central {
  /** Yields plushlink advertisements until the signal aborts or the iterator is returned. */
  scan(options?: ScanOptions): AsyncIterable<Advertisement>;
  /** Connects, negotiates the MTU, discovers the plushlink service and subscribes to control and microphone. */
  connect(id: string, options?: CentralConnectOptions): Promise<CentralLink>;
  /** Releases the adapter (stops scanning, disconnects all links). */
  close(): Promise<void>;
}

/** Events of a peripheral-side link. */
export interface PeripheralLinkEvents {
  /** The central wrote a value to `control` or `speaker`. */
  write: (characteristic: WritableCharacteristic, value: Uint8Array) => void;
  /** The central subscribed to `control` or `microphone`. */
  subscribe: (characteristic: NotifyingCharacteristic) => void;
  /** The central unsubscribed. */
  unsubscribe: (characteristic: NotifyingCharacteristic) => void;
  /** The link is gone. */
  disconnect: (reason: string) => void;
}

/** A connection from the peripheral's (toy's) side. */
export interface PeripheralLink extends EventEmitter<PeripheralLinkEvents> {
  /** Opaque id of the connected central (transport-specific; not an identity). */
  readonly id: string;
  /** Negotiated ATT MTU. */
  readonly mtu: number;
  readonly connected: boolean;
  /**
   * Sends one value (at most `mtu − 3` bytes): an indication on `control` (settles when the
   * central confirmed), a notification on `microphone` (settles when queued; a full queue
   * may drop it, as BLE stacks do). Rejects with `DISCONNECTED` when the link is gone.
   */
  send(characteristic: NotifyingCharacteristic, value: Uint8Array): Promise<void>;
  /** Drops the connection; idempotent. */
  disconnect(): void;
}

/** Events of a peripheral. */
export interface PeripheralEvents {
  connect: (link: PeripheralLink) => void;
}

/** The peripheral (toy) side of a transport. */
export interface Peripheral extends EventEmitter<PeripheralEvents> {
  /** Starts advertising, or replaces the advertised service data (see PROTOCOL.md). */
  advertise(serviceData: Uint8Array): Promise<void>;
  /** Stops advertising. */
  stopAdvertising(): Promise<void>;
  /**
   * Optional: moves to a fresh random BLE address drawn from a CSPRNG (privacy; the toy calls it
   * whenever its advertised service data changes, so that no stable field stays on the air).
   * Contract (PROTOCOL.md §12 "Address"): advertising stops with the old address, and the new
   * address goes on the air only with the service data of the next {@link advertise} — the new
   * address never carries the old data, nor the old address the new data. Live links are kept.
   * The reference toy also stops advertising itself before calling it, and never advertises
   * while a rotation is in progress.
   */
  rotateAddress?(): string | Promise<string>;
  /** Stops advertising and disconnects every link. */
  close(): Promise<void>;
}
