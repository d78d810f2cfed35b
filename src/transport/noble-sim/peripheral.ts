/**
 * The rig's peripheral: bleno's own GATT server (`@abandonware/bleno/lib/hci-socket/gatt.js`, one
 * instance per connection, fed through `setAclStream`) serving the plushlink service built with
 * bleno's own `PrimaryService` / `Characteristic` classes, behind the simulated air. It is the
 * {@link BlenoPeripheral} equivalent: the same service factory, the same {@link BlenoPeripheralLink}.
 *
 * Unlike real bleno it can hold several centrals at once (`maxConnections`, default unlimited);
 * `maxConnections: 1` models real bleno (advertising stops while a central is connected).
 */
import { EventEmitter as NodeEventEmitter } from 'node:events';
import { EventEmitter } from 'eventemitter3';
import { PlushlinkError } from '../../protocol/errors.js';
import { buildAdvertisingPayload, type AdvertisingPayload } from '../bleno/advertising.js';
import { BlenoPeripheralLink, createPlushlinkService, withNeutralDeviceName, type BlenoClasses } from '../bleno/link.js';
import { requireOptional } from '../noble/optional-require.js';
import type { Peripheral, PeripheralEvents } from '../types.js';
import type { SimAir, SimAirPeripheral } from './air.js';
import { HCI_REASON } from './air.js';

/** bleno's GATT server class (internal API of bleno 0.6). */
interface BlenoGattServer extends NodeEventEmitter {
  maxMtu: number;
  _mtu: number;
  setServices(services: unknown[]): void;
  setAclStream(stream: unknown): void;
}

/** What bleno's GATT server needs from an ACL stream. */
class SimAclStream extends NodeEventEmitter {
  encrypted = false;
  readonly #write: (cid: number, data: Buffer) => void;
  constructor(write: (cid: number, data: Buffer) => void) {
    super();
    this.#write = write;
  }
  write(cid: number, data: Buffer): void {
    this.#write(cid, data);
  }
  push(cid: number | null, data: Buffer | null): void {
    if (data) this.emit('data', cid, data);
    else this.emit('end');
  }
}

interface Connection {
  acl: SimAclStream;
  gatt: BlenoGattServer;
  link: BlenoPeripheralLink;
}

/** Options of {@link SimBlenoPeripheral}. */
export interface SimBlenoPeripheralOptions {
  address: string;
  /** Draws the next address for {@link SimBlenoPeripheral.rotateAddress} (the rig: a fresh NRPA from the CSPRNG). */
  newAddress?: () => string;
  /** bleno's `maxMtu` (the largest ATT MTU the server accepts). Default 256 (bleno's default). */
  maxMtu?: number;
  /** Centrals connected at once. Default unlimited; 1 models real bleno. */
  maxConnections?: number;
  indicationTimeoutMs?: number;
  deviceName?: string;
}

/** A {@link Peripheral} made of bleno's GATT server code on the simulated air. */
export class SimBlenoPeripheral extends EventEmitter<PeripheralEvents> implements Peripheral, SimAirPeripheral {
  /** The peripheral's (random) BLE address; noble's peripheral id is this without colons. Changes with {@link rotateAddress}. */
  address: string;
  readonly #air: SimAir;
  readonly #newAddress: (() => string) | undefined;
  readonly #opts: Required<Omit<SimBlenoPeripheralOptions, 'address' | 'newAddress'>>;
  readonly #classes: BlenoClasses;
  readonly #Gatt: new () => BlenoGattServer;
  readonly #connections = new Map<number, Connection>();
  #payload: AdvertisingPayload | undefined;
  #closed = false;

  constructor(air: SimAir, options: SimBlenoPeripheralOptions) {
    super();
    this.#air = air;
    this.address = options.address;
    this.#newAddress = options.newAddress;
    this.#opts = {
      maxMtu: options.maxMtu ?? 256,
      maxConnections: options.maxConnections ?? Number.POSITIVE_INFINITY,
      indicationTimeoutMs: options.indicationTimeoutMs ?? 10_000,
      deviceName: options.deviceName ?? 'plushlink',
    };
    this.#Gatt = requireOptional<new () => BlenoGattServer>('@abandonware/bleno', '@abandonware/bleno/lib/hci-socket/gatt.js');
    this.#classes = {
      PrimaryService: requireOptional('@abandonware/bleno', '@abandonware/bleno/lib/primary-service.js'),
      Characteristic: requireOptional('@abandonware/bleno', '@abandonware/bleno/lib/characteristic.js'),
    };
    air.addPeripheral(this);
  }

  /** Starts advertising, or replaces the advertised service data. */
  async advertise(serviceData: Uint8Array): Promise<void> {
    if (this.#closed) throw new PlushlinkError('DISCONNECTED', 'the peripheral is closed');
    this.#payload = buildAdvertisingPayload(serviceData);
    this.#air.advertisingChanged(this);
  }

  async stopAdvertising(): Promise<void> {
    this.#payload = undefined;
    this.#air.advertisingChanged(this);
  }

  /**
   * Moves to a fresh random address (PROTOCOL.md §12 "Address"), as the bleno adapter does: the
   * advertisement stops, and the new address goes on the air only with the service data of the
   * next {@link advertise}, so it never carries the data of the old one. Live links are kept.
   */
  async rotateAddress(): Promise<string> {
    if (this.#closed) throw new PlushlinkError('DISCONNECTED', 'the peripheral is closed');
    if (!this.#newAddress) throw new PlushlinkError('TRANSPORT_UNAVAILABLE', 'this simulated peripheral has no address source');
    const old = this.address;
    if (this.#payload) {
      this.#payload = undefined;
      this.#air.advertisingChanged(this);
    }
    this.address = this.#newAddress();
    this.#air.renamePeripheral(this, old);
    return this.address;
  }

  /** Stops advertising and drops every central. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#payload = undefined;
    for (const c of [...this.#connections.values()]) c.link.disconnect();
    this.#air.removePeripheral(this);
  }

  /** The connected centrals' links. */
  get links(): BlenoPeripheralLink[] {
    return [...this.#connections.values()].map((c) => c.link);
  }

  // ---- SimAirPeripheral ----

  /** @internal */
  advertising(): AdvertisingPayload | undefined {
    if (this.#closed || this.#connections.size >= this.#opts.maxConnections) return undefined;
    return this.#payload;
  }

  /** @internal */
  onConnect(handle: number, centralAddress: string): void {
    const air = this.#air;
    const acl = new SimAclStream((cid, data) => air.send(handle, 'peripheral', cid, data));
    const gatt = withNeutralDeviceName(this.#opts.deviceName, () => new this.#Gatt());
    gatt.maxMtu = this.#opts.maxMtu;
    const link = new BlenoPeripheralLink(centralAddress, {
      getMtu: () => gatt._mtu,
      disconnect: () => air.disconnect(handle, HCI_REASON.REMOTE_USER_TERMINATED, 'peripheral'),
      indicationTimeoutMs: this.#opts.indicationTimeoutMs,
    });
    const service = createPlushlinkService(this.#classes, () => link);
    withNeutralDeviceName(this.#opts.deviceName, () => gatt.setServices([service]));
    gatt.setAclStream(acl);
    this.#connections.set(handle, { acl, gatt, link });
    if (this.#connections.size >= this.#opts.maxConnections) this.#air.advertisingChanged(this); // a full peripheral stops advertising
    this.emit('connect', link);
  }

  /** @internal */
  onAcl(handle: number, cid: number, data: Buffer): void {
    this.#connections.get(handle)?.acl.push(cid, data);
  }

  /** @internal */
  onDisconnect(handle: number, reason: number): void {
    const c = this.#connections.get(handle);
    if (!c) return;
    this.#connections.delete(handle);
    c.acl.push(null, null); // bleno's GATT server unsubscribes everything on end
    c.gatt.removeAllListeners();
    c.link.handleDisconnected(reason === HCI_REASON.SUPERVISION_TIMEOUT ? 'supervision-timeout' : reason === HCI_REASON.LOCAL_HOST_TERMINATED ? 'local' : 'remote');
    this.#air.advertisingChanged(this);
  }
}
