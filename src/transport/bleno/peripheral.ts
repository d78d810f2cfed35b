/**
 * The peripheral (toy) adapter over `@abandonware/bleno`, for the reference toy on a Linux board
 * with a BLE dongle (`plushlink simulate-toy`).
 *
 * **Running on a real dongle.** bleno talks to the controller through a raw HCI socket, which needs
 * the `CAP_NET_RAW` and `CAP_NET_ADMIN` capabilities (run as root, or once:
 * `sudo setcap cap_net_raw,cap_net_admin+eip $(readlink -f $(which node))`), and BlueZ's
 * `bluetoothd` must not own the adapter (`sudo systemctl stop bluetooth && sudo hciconfig hci0 up`,
 * or give bleno its own dongle with `BLENO_HCI_DEVICE_ID=1`). The central (noble) needs the same
 * capabilities on its machine or a second dongle (`NOBLE_HCI_DEVICE_ID`).
 *
 * **One central at a time.** bleno's HCI bindings hold a single connection: the controller stops
 * advertising when a central connects and bleno restarts advertising when it leaves. While a
 * stranger is connected the owner cannot connect; the toy's handshake deadline bounds that.
 */
import { EventEmitter } from 'eventemitter3';
import { PlushlinkError } from '../../protocol/errors.js';
import { requireOptional, toUnavailable } from '../noble/optional-require.js';
import type { Peripheral, PeripheralEvents } from '../types.js';
import { MIN_ATT_MTU } from '../types.js';
import { buildAdvertisingPayload } from './advertising.js';
import { BlenoPeripheralLink, createPlushlinkService, withNeutralDeviceName, type BlenoClasses } from './link.js';

type Listener = (...args: any[]) => void;

/** The part of bleno's API this adapter uses (the default export of `@abandonware/bleno`). */
export interface BlenoLike extends BlenoClasses {
  readonly state: string;
  on(event: string, listener: Listener): unknown;
  removeListener(event: string, listener: Listener): unknown;
  setServices(services: unknown[], callback?: (error?: Error | null) => void): void;
  startAdvertisingWithEIRData(advertisementData: Buffer, scanData: Buffer, callback?: (error?: Error | null) => void): void;
  stopAdvertising(callback?: () => void): void;
  disconnect(): void;
}

/** Options of {@link BlenoPeripheral}. */
export interface BlenoPeripheralOptions {
  /** A bleno instance; by default `@abandonware/bleno` is loaded when first needed. */
  bleno?: BlenoLike;
  /** The Generic Access device name bleno's GATT server exposes. Default `plushlink` (never the host name). */
  deviceName?: string;
  /** How long to wait for the adapter to power on. Default 10 000 ms. */
  poweredOnTimeoutMs?: number;
  /** How long to wait for bleno's callbacks (services set, advertising started). Default 5 000 ms. */
  operationTimeoutMs?: number;
  /** How long an indication waits for the central's confirmation. Default 10 000 ms. */
  indicationTimeoutMs?: number;
}

/**
 * {@link Peripheral} over bleno: the plushlink service layout (see `gatt-layout.ts`), advertising the
 * service UUID and service data only (no local name), one {@link BlenoPeripheralLink} per
 * connected central (bleno allows one at a time).
 */
export class BlenoPeripheral extends EventEmitter<PeripheralEvents> implements Peripheral {
  readonly #opts: Required<Omit<BlenoPeripheralOptions, 'bleno'>>;
  #bleno: BlenoLike | undefined;
  #ready: Promise<BlenoLike> | undefined;
  #link: BlenoPeripheralLink | undefined;
  #mtu = MIN_ATT_MTU;
  #closed = false;
  readonly #listeners: [string, Listener][] = [];

  constructor(options: BlenoPeripheralOptions = {}) {
    super();
    this.#bleno = options.bleno;
    this.#opts = {
      deviceName: options.deviceName ?? 'plushlink',
      poweredOnTimeoutMs: options.poweredOnTimeoutMs ?? 10_000,
      operationTimeoutMs: options.operationTimeoutMs ?? 5_000,
      indicationTimeoutMs: options.indicationTimeoutMs ?? 10_000,
    };
  }

  /** Starts advertising, or replaces the advertised service data (at most 10 bytes). */
  async advertise(serviceData: Uint8Array): Promise<void> {
    const { advertisement, scanResponse } = buildAdvertisingPayload(serviceData);
    const bleno = await this.#ensureReady();
    await this.#call('advertisingStart', (cb) => bleno.startAdvertisingWithEIRData(advertisement, scanResponse, cb));
  }

  /** Stops advertising. */
  async stopAdvertising(): Promise<void> {
    if (!this.#ready) return;
    const bleno = await this.#ensureReady();
    await this.#call('advertisingStop', (cb) => bleno.stopAdvertising(() => cb()));
  }

  /** Stops advertising, drops the connected central and detaches from bleno. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      if (this.#ready) await this.stopAdvertising().catch(() => undefined);
    } finally {
      this.#closed = true;
      this.#link?.disconnect();
      this.#link = undefined;
      const bleno = this.#bleno;
      if (bleno) for (const [ev, fn] of this.#listeners.splice(0)) bleno.removeListener(ev, fn);
    }
  }

  #ensureReady(): Promise<BlenoLike> {
    if (this.#closed) return Promise.reject(new PlushlinkError('DISCONNECTED', 'the peripheral is closed'));
    this.#ready ??= this.#init();
    return this.#ready;
  }

  async #init(): Promise<BlenoLike> {
    let bleno = this.#bleno;
    if (!bleno) {
      // bleno's index.js opens the HCI socket at import: this throws EAFNOSUPPORT without Bluetooth.
      bleno = requireOptional<BlenoLike>('@abandonware/bleno');
      this.#bleno = bleno;
    }
    const b = bleno;
    this.#listen(b, 'accept', (address: string) => this.#onAccept(String(address)));
    this.#listen(b, 'mtuChange', (mtu: number) => {
      this.#mtu = mtu;
    });
    this.#listen(b, 'disconnect', () => this.#onDisconnect('remote'));
    await this.#poweredOn(b);
    const service = createPlushlinkService(b, () => this.#link);
    await this.#call('servicesSet', (cb) => withNeutralDeviceName(this.#opts.deviceName, () => b.setServices([service], cb)));
    return b;
  }

  #listen(bleno: BlenoLike, event: string, fn: Listener): void {
    bleno.on(event, fn);
    this.#listeners.push([event, fn]);
  }

  #poweredOn(bleno: BlenoLike): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onState = (state: string): void => {
        if (state === 'poweredOn') done();
        else if (state === 'unsupported' || state === 'unauthorized') done(state);
      };
      const timer = setTimeout(() => done('timeout'), this.#opts.poweredOnTimeoutMs);
      const done = (failure?: string): void => {
        clearTimeout(timer);
        bleno.removeListener('stateChange', onState);
        if (failure === undefined) resolve();
        else
          reject(
            toUnavailable(
              '@abandonware/bleno',
              'adapter',
              new Error(
                failure === 'timeout'
                  ? `the Bluetooth adapter did not power on within ${this.#opts.poweredOnTimeoutMs} ms`
                  : `the Bluetooth adapter is ${failure} (bleno needs CAP_NET_RAW/CAP_NET_ADMIN and an adapter not held by bluetoothd)`,
              ),
            ),
          );
      };
      // Adding a stateChange listener is what makes bleno initialise its HCI bindings.
      bleno.on('stateChange', onState);
      if (bleno.state === 'poweredOn') done();
    });
  }

  /** Runs a bleno call with a callback, bounded by the operation timeout. */
  #call(what: string, run: (cb: (error?: Error | null) => void) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => finish(new PlushlinkError('TIMEOUT', `bleno did not report ${what} in time`)), this.#opts.operationTimeoutMs);
      const finish = (e?: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (e) reject(e instanceof PlushlinkError ? e : toUnavailable('@abandonware/bleno', what, e));
        else resolve();
      };
      try {
        run((error) => finish(error ?? undefined));
      } catch (e) {
        finish(e);
      }
    });
  }

  #onAccept(address: string): void {
    this.#link?.handleDisconnected('replaced');
    this.#mtu = MIN_ATT_MTU;
    const link = new BlenoPeripheralLink(address, {
      getMtu: () => this.#mtu,
      disconnect: () => this.#bleno?.disconnect(),
      indicationTimeoutMs: this.#opts.indicationTimeoutMs,
    });
    this.#link = link;
    link.once('disconnect', () => {
      if (this.#link === link) this.#link = undefined;
    });
    this.emit('connect', link);
  }

  #onDisconnect(reason: string): void {
    const link = this.#link;
    this.#link = undefined;
    link?.handleDisconnected(reason);
  }
}
