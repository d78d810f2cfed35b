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
 *
 * **Address privacy.** bleno itself only ever advertises the dongle's public address. This adapter
 * advertises from a non-resolvable private address instead (from the first advertisement on,
 * option `privateAddress`) and implements {@link Peripheral.rotateAddress} by writing the HCI
 * commands bleno lacks on bleno's own HCI socket (`address.ts`; bleno 0.6 internals). Where those
 * internals are missing (another bleno version, macOS bindings) it logs that under
 * `DEBUG=plushlink:transport:bleno`, reports `addressRotation: 'unsupported'` and keeps working on
 * bleno's address.
 */
import createDebug from 'debug';
import { EventEmitter } from 'eventemitter3';
import { PlushlinkError } from '../../protocol/errors.js';
import { requireOptional, toUnavailable } from '../noble/optional-require.js';
import type { Peripheral, PeripheralEvents } from '../types.js';
import { MIN_ATT_MTU } from '../types.js';
import { HciAddressPrivacy } from './address.js';
import { buildAdvertisingPayload } from './advertising.js';
import { BlenoPeripheralLink, createPlushlinkService, withNeutralDeviceName, type BlenoClasses } from './link.js';

type Listener = (...args: any[]) => void;

const debug = createDebug('plushlink:transport:bleno');

/**
 * Where the toy's BLE address stands ({@link BlenoPeripheral.addressRotation}):
 * - `public`: bleno's default, the dongle's public address (before the adapter is ready, or with
 *   `privateAddress: false` until the first {@link BlenoPeripheral.rotateAddress});
 * - `random`: advertising from a fresh non-resolvable private address, rotated on request;
 * - `unsupported`: bleno's HCI internals are not as expected (another bleno version, non-Linux
 *   bindings): the toy keeps bleno's address and `rotateAddress()` changes nothing;
 * - `failed`: the controller refused LE Set Random Address or LE Set Advertising Parameters (the
 *   HCI status is in the debug log); the next rotation tries again.
 */
export type BlenoAddressRotation = 'public' | 'random' | 'unsupported' | 'failed';

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
  /**
   * Advertise from a fresh non-resolvable private address from the first advertisement on
   * (default true). With false, the dongle's public address is used until the first
   * {@link BlenoPeripheral.rotateAddress}.
   */
  privateAddress?: boolean;
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
  /** Random-address control over bleno's HCI socket; undefined before init or when unsupported. */
  #privacy: HciAddressPrivacy | undefined;
  #addressRotation: BlenoAddressRotation = 'public';
  /** advertise / stopAdvertising / rotateAddress run one after the other (HCI command order). */
  #queue: Promise<unknown> = Promise.resolve();
  /** Set by a rotation, cleared by the next {@link advertise}: until then nothing goes on the air. */
  #awaitingData = false;

  constructor(options: BlenoPeripheralOptions = {}) {
    super();
    this.#bleno = options.bleno;
    this.#opts = {
      deviceName: options.deviceName ?? 'plushlink',
      poweredOnTimeoutMs: options.poweredOnTimeoutMs ?? 10_000,
      operationTimeoutMs: options.operationTimeoutMs ?? 5_000,
      indicationTimeoutMs: options.indicationTimeoutMs ?? 10_000,
      privateAddress: options.privateAddress ?? true,
    };
  }

  /** Where the BLE address stands; see {@link BlenoAddressRotation}. */
  get addressRotation(): BlenoAddressRotation {
    return this.#addressRotation;
  }

  /** The random address the toy advertises from (or will, at the next advertising start); undefined on bleno's own address. */
  get address(): string | undefined {
    return this.#privacy?.pending ?? this.#privacy?.current;
  }

  /**
   * Starts advertising, or replaces the advertised service data (at most 10 bytes). A rotation that
   * was left pending because a central was connected takes effect first (advertising off, new
   * address, advertising on with this data).
   */
  async advertise(serviceData: Uint8Array): Promise<void> {
    const { advertisement, scanResponse } = buildAdvertisingPayload(serviceData);
    await this.#serial(async () => {
      const bleno = await this.#ensureReady();
      if (this.#privacy?.pending) {
        await this.#stopForAddressChange(bleno);
        this.#privacy.apply({ disableFirst: false });
      }
      this.#awaitingData = false;
      await this.#call('advertisingStart', (cb) => bleno.startAdvertisingWithEIRData(advertisement, scanResponse, cb));
    });
  }

  /** Stops advertising. */
  async stopAdvertising(): Promise<void> {
    if (!this.#ready) return;
    await this.#serial(async () => {
      const bleno = await this.#ensureReady();
      await this.#call('advertisingStop', (cb) => bleno.stopAdvertising(() => cb()));
    });
  }

  /**
   * Moves to a fresh non-resolvable private address (PROTOCOL.md §12 "Address"); resolves with it.
   *
   * With no central connected: advertising is stopped, the controller gets the new address (LE Set
   * Random Address, LE Set Advertising Parameters with own-address type random) and advertising
   * stays **off** until the next {@link advertise} — which the reference toy calls right after with
   * the new slot's tag — so the new address never goes on the air with the old tag.
   *
   * With a central connected the connection is kept untouched and the new address is pending: it
   * takes effect with the next {@link advertise}. bleno's own restart when the central leaves is
   * held back until then, so the new address never goes on the air with the old data.
   *
   * Never rejects: where bleno's internals are not as expected it resolves with bleno's address
   * (`''` when unknown) and {@link addressRotation} says `unsupported`.
   */
  rotateAddress(): Promise<string> {
    return this.#serial(async () => {
      let bleno: BlenoLike;
      try {
        bleno = await this.#ensureReady();
      } catch (e) {
        debug('rotateAddress: the adapter is not ready (%s); address unchanged', (e as Error).message);
        return '';
      }
      const privacy = this.#privacy;
      if (!privacy) return blenoAddress(bleno);
      const next = privacy.prepare();
      this.#awaitingData = true;
      this.#addressRotation = 'random'; // until the controller refuses a command of this rotation
      if (this.#link?.connected) {
        debug('rotateAddress: a central is connected; %s takes effect at the next advertising start', next);
        return next;
      }
      await this.#stopForAddressChange(bleno);
      privacy.apply({ disableFirst: false });
      return next;
    });
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
      this.#privacy?.detach();
      this.#privacy = undefined;
    }
  }

  /** Runs `op` after every earlier advertising operation settled. */
  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(op, op);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** bleno's stopAdvertising before an address change; a failure is logged, not thrown (the address commands follow anyway). */
  async #stopForAddressChange(bleno: BlenoLike): Promise<void> {
    try {
      await this.#call('advertisingStop', (cb) => bleno.stopAdvertising(() => cb()));
    } catch (e) {
      debug('stopping advertising before the address change failed: %s', (e as Error).message);
    }
  }

  /** Attaches the random-address control to bleno's HCI layer (fail soft) and, by default, leaves the public address at once. */
  #setUpAddressPrivacy(bleno: BlenoLike): void {
    let privacy: HciAddressPrivacy | undefined;
    try {
      privacy = HciAddressPrivacy.attach(bleno, {
        onCommandFailed: () => {
          this.#addressRotation = 'failed';
        },
        holdAdvertising: () => this.#awaitingData,
      });
    } catch (e) {
      debug('address rotation unsupported: %s', (e as Error).message);
    }
    this.#privacy = privacy;
    if (!privacy) {
      this.#addressRotation = 'unsupported';
      return;
    }
    if (this.#opts.privateAddress) {
      privacy.prepare();
      // Nothing of ours is advertising yet; the explicit disable covers a bleno left advertising.
      privacy.apply({ disableFirst: true });
      this.#addressRotation = 'random';
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
    this.#setUpAddressPrivacy(b);
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

/** bleno's own (public) address where it reports one, else ''. */
function blenoAddress(bleno: BlenoLike): string {
  const a = (bleno as { address?: unknown }).address;
  return typeof a === 'string' && a !== 'unknown' ? a : '';
}
