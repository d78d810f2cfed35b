/**
 * The two public ends of an in-memory link: {@link MemoryCentralLink} (a `CentralLink`) and
 * {@link MemoryPeripheralLink} (a `PeripheralLink`), each with the link's stats and faults. Both
 * are views of one {@link Connection} (./connection.ts), which does the work.
 */
import { EventEmitter } from 'eventemitter3';
import { PlushlinkError } from '../../protocol/errors.js';
import type { CentralLink, CentralLinkEvents, NotifyingCharacteristic, PeripheralLink, PeripheralLinkEvents, WritableCharacteristic } from '../types.js';
import { disconnectedError } from './checks.js';
import type { Connection } from './connection.js';
import type { LinkFaults } from './faults.js';
import type { LinkStats } from './types.js';
/** The central end of an in-memory link. Implements {@link CentralLink}, plus stats and faults. */
export class MemoryCentralLink extends EventEmitter<CentralLinkEvents> implements CentralLink {
  readonly #conn: Connection;

  /** @internal */
  constructor(conn: Connection) {
    super();
    this.#conn = conn;
  }
  /** The peripheral's id (as advertised when connecting). */
  get id(): string {
    return this.#conn.targetId;
  }
  get mtu(): number {
    return this.#conn.mtu;
  }
  get connected(): boolean {
    return this.#conn.centralOpen && this.#conn.ready;
  }
  /** Counters of this link (a snapshot; shared with the peripheral end). */
  get stats(): LinkStats {
    return this.#conn.stats();
  }
  /** Faults of this link (shared with the peripheral end). */
  get faults(): LinkFaults {
    return this.#conn.faults;
  }
  /** Serial number of the link on its radio (matches {@link PduTrace.link}). */
  get serial(): number {
    return this.#conn.serial;
  }
  write(characteristic: WritableCharacteristic, value: Uint8Array): Promise<void> {
    return this.#conn.write(characteristic, value);
  }
  /** Subscriptions are made by `connect()`; this resolves at once while connected. */
  subscribe(characteristic: NotifyingCharacteristic): Promise<void> {
    if (!this.connected) return Promise.reject(disconnectedError('closed'));
    if (characteristic !== 'control' && characteristic !== 'microphone') {
      return Promise.reject(new PlushlinkError('BAD_FRAME', `cannot subscribe to ${String(characteristic)}`));
    }
    return Promise.resolve();
  }
  /** Disconnects now (reason `'local'`); the peripheral learns at the next connection event. */
  disconnect(): Promise<void> {
    this.#conn.disconnectFrom('central', 'local');
    return Promise.resolve();
  }
  /** Drops the link now on both sides (reason `'fault'`). */
  injectDisconnect(): void {
    this.#conn.dropBoth('fault');
  }
}

/** The peripheral end of an in-memory link. Implements {@link PeripheralLink}, plus stats and faults. */
export class MemoryPeripheralLink extends EventEmitter<PeripheralLinkEvents> implements PeripheralLink {
  readonly #conn: Connection;

  /** @internal */
  constructor(conn: Connection) {
    super();
    this.#conn = conn;
  }
  /** The central's id. */
  get id(): string {
    return this.#conn.central.id;
  }
  get mtu(): number {
    return this.#conn.mtu;
  }
  get connected(): boolean {
    return this.#conn.peripheralOpen && this.#conn.peripheralAnnounced;
  }
  /** Counters of this link (a snapshot; shared with the central end). */
  get stats(): LinkStats {
    return this.#conn.stats();
  }
  /** Faults of this link (shared with the central end). */
  get faults(): LinkFaults {
    return this.#conn.faults;
  }
  /** Serial number of the link on its radio. */
  get serial(): number {
    return this.#conn.serial;
  }
  /** True once the central subscribed to `characteristic`. */
  isSubscribed(characteristic: NotifyingCharacteristic): boolean {
    return this.#conn.subscribed[characteristic];
  }
  /**
   * Indication on control (settles on confirmation; one outstanding at a time) or notification
   * on microphone (settles at once; dropped and counted when the queue is full). Rejects
   * `BAD_FRAME` for values over `mtu − 3`, `NOT_SUBSCRIBED` before the central subscribed,
   * `DISCONNECTED` when the link is gone.
   */
  send(characteristic: NotifyingCharacteristic, value: Uint8Array): Promise<void> {
    return this.#conn.send(characteristic, value);
  }
  /** Drops the connection (reason `'local'`); the central learns at the next connection event. */
  disconnect(): void {
    this.#conn.disconnectFrom('peripheral', 'local');
  }
  /** Drops the link now on both sides (reason `'fault'`). */
  injectDisconnect(): void {
    this.#conn.dropBoth('fault');
  }
}
