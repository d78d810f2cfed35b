/** The peripheral (toy side) of the in-memory radio. */
import { EventEmitter } from 'eventemitter3';
import { PlushlinkError } from '../../protocol/errors.js';
import type { Peripheral, PeripheralEvents } from '../types.js';
import { checkInt, checkNumber, closedError, DEFAULT_MTU } from './checks.js';
import type { Connection } from './connection.js';
import type { MemoryPeripheralLink } from './link.js';
import type { MemoryPeripheralOptions } from './types.js';
import type { MemoryRadio } from './radio.js';

/** A peripheral (toy side) on a {@link MemoryRadio}. Implements {@link Peripheral}. */
export class MemoryPeripheral extends EventEmitter<PeripheralEvents> implements Peripheral {
  /** @internal */
  _advertising = false;
  /** @internal */
  _serviceData: Uint8Array = new Uint8Array(0);
  /** @internal */
  readonly _mtu: number;
  /** @internal */
  readonly _rssi: number;
  /** @internal */
  readonly _notificationQueueSize: number;
  readonly #maxServiceData: number;
  readonly #radio: MemoryRadio;
  readonly #conns = new Set<Connection>();
  #id: string;
  #closed = false;

  /** @internal Use {@link MemoryRadio.createPeripheral}. */
  constructor(radio: MemoryRadio, id: string, options: MemoryPeripheralOptions) {
    super();
    this.#radio = radio;
    this.#id = id;
    this._mtu = checkInt('mtu', options.mtu, 1, 65535, DEFAULT_MTU);
    this._rssi = checkNumber('rssi', options.rssi, -127, 20, -60);
    this._notificationQueueSize = checkInt('notificationQueueSize', options.notificationQueueSize, 1, 1 << 20, radio._notificationQueueSize);
    this.#maxServiceData = checkInt('maxServiceDataLength', options.maxServiceDataLength, 0, 1650, 24);
  }

  /** Current (random) address; changes with {@link rotateAddress}. */
  get id(): string {
    return this.#id;
  }

  /** True while advertising. */
  get advertising(): boolean {
    return this._advertising;
  }

  /** Open links of this peripheral (announced by `connect`). */
  get links(): MemoryPeripheralLink[] {
    return [...this.#conns].filter((c) => c.peripheralOpen && c.peripheralAnnounced).map((c) => c.peripheralLink);
  }

  /** Starts advertising or replaces the service data; scanners see it at once. Rejects `BAD_FRAME` when too long. */
  async advertise(serviceData: Uint8Array): Promise<void> {
    if (this.#closed) throw closedError('peripheral');
    if (!(serviceData instanceof Uint8Array)) throw new PlushlinkError('BAD_FRAME', 'service data must be a Uint8Array');
    if (serviceData.length > this.#maxServiceData) {
      throw new PlushlinkError('BAD_FRAME', `service data of ${serviceData.length} bytes exceeds ${this.#maxServiceData}`, {
        length: serviceData.length,
        max: this.#maxServiceData,
      });
    }
    this._serviceData = serviceData.slice();
    this._advertising = true;
    this.#radio._announce(this);
  }

  /** Stops advertising (existing links stay up). */
  async stopAdvertising(): Promise<void> {
    this._advertising = false;
    this.#radio._announce(this);
  }

  /**
   * Switches to a new random address (BLE privacy; PROTOCOL.md §12 "Address"). Advertising stops
   * with the old address, and the new one goes on the air only with the service data of the next
   * {@link advertise}: the new address never carries the old data, nor the old address new data.
   * Existing links are unaffected. Returns the new id.
   */
  rotateAddress(): string {
    const old = this.#id;
    if (this._advertising) {
      this._advertising = false;
      this.#radio._announce(this);
    }
    this.#id = this.#radio._newAddress();
    this.#radio._rename(this, old);
    return this.#id;
  }

  /** Stops advertising and disconnects every link (the centrals learn at their next connection event). */
  async close(): Promise<void> {
    this._advertising = false;
    this.#radio._announce(this);
    this.#closed = true;
    for (const c of [...this.#conns]) c.disconnectFrom('peripheral', 'closed');
  }

  /** @internal */
  _adopt(conn: Connection): void {
    this.#conns.add(conn);
  }
  /** @internal */
  _forget(conn: Connection): void {
    this.#conns.delete(conn);
  }
  /** @internal */
  _closeForRadio(): void {
    this.#closed = true;
    this._advertising = false;
  }
}
