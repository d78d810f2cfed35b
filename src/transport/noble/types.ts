/**
 * The parts of noble's API the noble adapter uses (any noble with the same API fits, such as the
 * `@stoprocent/noble` fork), and the adapter's options.
 */

/** A listener of noble's Node-style events. */
export type Listener = (...args: any[]) => void;

/** A Node-style event emitter as noble's objects are. */
export interface NobleEmitter {
  on(event: string, listener: Listener): unknown;
  removeListener(event: string, listener: Listener): unknown;
  listenerCount?(event: string): number;
}

/** The part of noble's `Characteristic` this adapter uses. */
export interface NobleCharacteristicLike extends NobleEmitter {
  uuid: string;
  properties?: string[];
  write(data: Buffer, withoutResponse: boolean): void;
  subscribe(): void;
}

/** The part of noble's `Service` this adapter uses. */
export interface NobleServiceLike extends NobleEmitter {
  uuid: string;
  discoverCharacteristics(characteristicUuids: string[]): void;
}

/** The part of noble's `Peripheral` this adapter uses. */
export interface NoblePeripheralLike extends NobleEmitter {
  id: string;
  state?: string;
  rssi?: number;
  mtu?: number | null;
  advertisement?: {
    serviceUuids?: string[];
    serviceData?: { uuid: string; data: Buffer | Uint8Array }[];
  };
  connect(): void;
  cancelConnect?(): void;
  disconnect(): void;
  discoverServices(serviceUuids: string[]): void;
}

/** The part of the noble instance this adapter uses. */
export interface NobleLike extends NobleEmitter {
  readonly state: string;
  startScanning(serviceUuids?: string[], allowDuplicates?: boolean): void;
  stopScanning(): void;
  /** noble's internal peripheral cache (used only to connect to an id not seen by this adapter's scans). */
  _peripherals?: Record<string, NoblePeripheralLike | undefined>;
}

/** Options of {@link NobleCentral}. */
export interface NobleCentralOptions {
  /** A noble instance; by default `@abandonware/noble` is created (lazily) on first use. */
  noble?: NobleLike;
  /** Default connect timeout (link + MTU + discovery + subscriptions). Default 15 000 ms. */
  connectTimeoutMs?: number;
  /** Timeout of one GATT operation (write with response, subscribe, discovery step). Default 5 000 ms. */
  gattTimeoutMs?: number;
  /** How long to wait for the adapter to power on. Default 10 000 ms. */
  poweredOnTimeoutMs?: number;
  /** How long a local disconnect waits for the controller's confirmation. Default 2 000 ms. */
  disconnectTimeoutMs?: number;
}

/** The timeouts a {@link NobleCentralOptions} resolves to (what each link uses). */
export type NobleTimeouts = Required<Omit<NobleCentralOptions, 'noble'>>;
