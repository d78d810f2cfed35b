/**
 * The central (companion) adapter over `@abandonware/noble` (or any noble with the same API, such
 * as the `@stoprocent/noble` fork, passed in as `new NobleCentral({ noble })`).
 *
 * What this adapter guards against (all observed in noble 1.9.2-26):
 * - an ATT error response never settles noble's write/subscribe callbacks, and a peer that never
 *   answers stalls noble's ATT queue for good: every GATT operation has its own timeout, after
 *   which the operation rejects with `TIMEOUT` and the link is dropped (its ATT bearer is unusable);
 * - noble matches completions to requests per characteristic by event: operations on one
 *   characteristic are serialised;
 * - `peripheral.mtu` is null until the MTU exchange finished and stale after a reconnect: it is
 *   cleared before connecting and read after discovery (noble exchanges the MTU first), else 23;
 * - write without response has no size check: values over mtu − 3 are refused (the protocol layer
 *   fragments; pacing the speaker stream is the companion's job);
 * - noble caches peripheral objects (and any listener left on them) across connections: every
 *   listener this adapter adds is removed on disconnect, and services and characteristics are
 *   discovered afresh on every connection.
 */
import { EventEmitter } from 'eventemitter3';
import { PlushlinkError } from '../../protocol/errors.js';
import { attPayload } from '../../protocol/gatt.js';
import { CHARACTERISTIC_UUIDS, PLUSHLINK_SERVICE_UUID, compactUuid } from '../gatt-layout.js';
import type {
  Advertisement,
  Central,
  CentralLink,
  CentralLinkEvents,
  CharacteristicName,
  CentralConnectOptions,
  NotifyingCharacteristic,
  ScanOptions,
  WritableCharacteristic,
} from '../types.js';
import { MAX_ATT_MTU, MIN_ATT_MTU } from '../types.js';
import { requireOptional, toUnavailable } from './optional-require.js';

type Listener = (...args: any[]) => void;

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

const SERVICE = compactUuid(PLUSHLINK_SERVICE_UUID);
const CHAR_UUIDS: Record<CharacteristicName, string> = {
  control: compactUuid(CHARACTERISTIC_UUIDS.control),
  speaker: compactUuid(CHARACTERISTIC_UUIDS.speaker),
  microphone: compactUuid(CHARACTERISTIC_UUIDS.microphone),
};

/** Creates the default noble (HCI sockets on Linux, CoreBluetooth on macOS, WinRT on Windows). */
function createDefaultNoble(): NobleLike {
  const withBindings = requireOptional<(bindings: unknown) => NobleLike>('@abandonware/noble', '@abandonware/noble/with-bindings');
  const resolveBindings = requireOptional<(options?: object) => unknown>(
    '@abandonware/noble',
    '@abandonware/noble/lib/resolve-bindings',
  );
  try {
    return withBindings(resolveBindings({}));
  } catch (e) {
    throw toUnavailable('@abandonware/noble', 'bindings', e);
  }
}

/** HCI disconnect reasons, as strings for `disconnect` events. */
function reasonString(reason: unknown): string {
  switch (reason) {
    case 0x08:
      return 'supervision-timeout';
    case 0x13:
      return 'remote-user-terminated';
    case 0x16:
      return 'local-host-terminated';
    case 0x3e:
      return 'connection-failed-to-be-established';
    default:
      return typeof reason === 'number' ? `hci-0x${reason.toString(16).padStart(2, '0')}` : String(reason ?? 'unknown');
  }
}

function disconnected(reason?: string): PlushlinkError {
  return new PlushlinkError('DISCONNECTED', reason ? `the link is disconnected (${reason})` : 'the link is disconnected', reason ? { reason } : undefined);
}

function aborted(): PlushlinkError {
  return new PlushlinkError('ABORTED', 'aborted');
}

/** {@link Central} over noble. See the module comment for what it guards against. */
export class NobleCentral implements Central {
  #noble: NobleLike | undefined;
  readonly #opts: Required<Omit<NobleCentralOptions, 'noble'>>;
  #closed = false;
  #scanners = 0;
  readonly #wakers = new Set<() => void>();
  readonly #known = new Map<string, NoblePeripheralLike>();
  readonly #links = new Set<NobleCentralLink>();

  constructor(options: NobleCentralOptions = {}) {
    this.#noble = options.noble;
    this.#opts = {
      connectTimeoutMs: options.connectTimeoutMs ?? 15_000,
      gattTimeoutMs: options.gattTimeoutMs ?? 5_000,
      poweredOnTimeoutMs: options.poweredOnTimeoutMs ?? 10_000,
      disconnectTimeoutMs: options.disconnectTimeoutMs ?? 2_000,
    };
  }

  /** The noble instance in use (created on first use when none was injected). */
  get noble(): NobleLike {
    this.#noble ??= createDefaultNoble();
    return this.#noble;
  }

  async #ready(): Promise<NobleLike> {
    if (this.#closed) throw new PlushlinkError('DISCONNECTED', 'the central is closed');
    const noble = this.noble;
    let state: string;
    try {
      state = noble.state; // noble initialises its bindings on this read
    } catch (e) {
      throw toUnavailable('@abandonware/noble', 'bindings', e);
    }
    if (state === 'poweredOn') return noble;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => done('did not power on in time'), this.#opts.poweredOnTimeoutMs);
      const onState = (s: string): void => {
        if (s === 'poweredOn') done();
        else if (s === 'unsupported' || s === 'unauthorized') done(`is ${s} (noble needs CAP_NET_RAW/CAP_NET_ADMIN on Linux)`);
      };
      const done = (failure?: string): void => {
        clearTimeout(timer);
        noble.removeListener('stateChange', onState);
        if (failure) reject(toUnavailable('@abandonware/noble', 'adapter', new Error(`the Bluetooth adapter ${failure}`)));
        else resolve();
      };
      noble.on('stateChange', onState);
      if (noble.state === 'poweredOn') done();
    });
    return noble;
  }

  /**
   * Scans for plushlink toys (filtered by the plushlink service UUID). Yields an advertisement
   * when a toy is first seen and whenever its service data changes (the rotating tag).
   */
  scan(options: ScanOptions = {}): AsyncIterable<Advertisement> {
    return { [Symbol.asyncIterator]: () => this.#scanIterator(options.signal) };
  }

  #scanIterator(signal: AbortSignal | undefined): AsyncIterator<Advertisement> {
    const queue: Advertisement[] = [];
    const last = new Map<string, string>();
    let waiting: ((r: IteratorResult<Advertisement>) => void) | undefined;
    let failure: unknown;
    let state: 'idle' | 'starting' | 'running' | 'done' = 'idle';
    let noble: NobleLike | undefined;

    const finish = (): void => {
      if (state === 'done') return;
      const wasRunning = state === 'running';
      state = 'done';
      signal?.removeEventListener('abort', wake);
      this.#wakers.delete(wake);
      if (noble) {
        noble.removeListener('discover', onDiscover);
        if (wasRunning) this.#stopScan(noble);
      }
      const w = waiting;
      waiting = undefined;
      w?.({ done: true, value: undefined });
    };
    const wake = (): void => {
      if (signal?.aborted || this.#closed) finish();
    };
    const onDiscover = (p: NoblePeripheralLike): void => {
      const ad = toAdvertisement(p);
      if (!ad) return;
      this.#known.set(p.id, p);
      const key = Buffer.from(ad.serviceData).toString('hex');
      if (last.get(ad.id) === key) return;
      last.set(ad.id, key);
      if (waiting) {
        const w = waiting;
        waiting = undefined;
        w({ done: false, value: ad });
      } else queue.push(ad);
    };
    const start = async (): Promise<void> => {
      state = 'starting';
      signal?.addEventListener('abort', wake);
      this.#wakers.add(wake);
      try {
        if (signal?.aborted) return finish();
        const n = await this.#ready();
        if (state !== 'starting') return;
        noble = n;
        n.on('discover', onDiscover);
        this.#startScan(n);
        state = 'running';
      } catch (e) {
        failure = e;
        finish();
      }
    };

    return {
      next: async (): Promise<IteratorResult<Advertisement>> => {
        if (state === 'idle') await start();
        if (failure !== undefined) {
          const e = failure;
          failure = undefined;
          throw e;
        }
        const ad = queue.shift();
        if (ad) return { done: false, value: ad };
        if (state === 'done') return { done: true, value: undefined };
        return new Promise((resolve) => {
          waiting = resolve;
        });
      },
      return: async (): Promise<IteratorResult<Advertisement>> => {
        finish();
        return { done: true, value: undefined };
      },
    };
  }

  #startScan(noble: NobleLike): void {
    if (this.#scanners++ === 0) {
      try {
        noble.startScanning([SERVICE], true);
      } catch (e) {
        this.#scanners--;
        throw toUnavailable('@abandonware/noble', 'scan', e);
      }
    }
  }

  #stopScan(noble: NobleLike): void {
    if (--this.#scanners === 0) {
      try {
        noble.stopScanning();
      } catch {
        /* the adapter is gone; nothing to stop */
      }
    }
  }

  /** Finds a peripheral by id: seen by a scan, known to noble, or scanned for until the deadline. */
  async #find(id: string, deadline: number, signal: AbortSignal | undefined): Promise<NoblePeripheralLike> {
    const noble = await this.#ready();
    const cached = this.#known.get(id) ?? noble._peripherals?.[id];
    if (cached) return cached;
    const ctl = new AbortController();
    const onAbort = (): void => ctl.abort();
    signal?.addEventListener('abort', onAbort);
    const timer = setTimeout(() => ctl.abort(), Math.max(0, deadline - Date.now()));
    try {
      for await (const ad of this.scan({ signal: ctl.signal })) {
        if (ad.id === id) {
          const p = this.#known.get(id);
          if (p) return p;
        }
      }
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
    if (signal?.aborted) throw aborted();
    throw new PlushlinkError('TIMEOUT', `peripheral ${id} was not found before the connect deadline`, { id });
  }

  /**
   * Connects to a plushlink toy: link, MTU exchange, discovery of the plushlink service, and
   * subscriptions to control (indications) and microphone (notifications). Rejects with
   * `TIMEOUT`, `ABORTED`, `DISCONNECTED`, `NOT_FOUND` (no plushlink service) or
   * `TRANSPORT_UNAVAILABLE`.
   */
  async connect(id: string, options: CentralConnectOptions = {}): Promise<CentralLink> {
    const { signal } = options;
    const timeoutMs = options.timeoutMs ?? this.#opts.connectTimeoutMs;
    if (signal?.aborted) throw aborted();
    const deadline = Date.now() + timeoutMs;
    const peripheral = await this.#find(id, deadline, signal);
    if (signal?.aborted) throw aborted();
    for (const l of this.#links) {
      if (l.id === id) throw new PlushlinkError('INTERNAL', `already connected or connecting to ${id}`, { id });
    }
    const link = new NobleCentralLink(peripheral, this.#opts);
    this.#links.add(link);
    link.once('disconnect', () => this.#links.delete(link));
    const timer = setTimeout(
      () => link.fail(new PlushlinkError('TIMEOUT', `connecting to ${id} took longer than ${timeoutMs} ms`, { id })),
      Math.max(0, deadline - Date.now()),
    );
    const onAbort = (): void => link.fail(aborted());
    signal?.addEventListener('abort', onAbort);
    try {
      await link.open();
      return link;
    } catch (e) {
      this.#links.delete(link);
      void link.disconnect();
      throw e;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Stops scanning, disconnects every link. The noble instance itself stays usable. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of [...this.#wakers]) w();
    await Promise.all([...this.#links].map((l) => l.disconnect()));
  }
}

function toAdvertisement(p: NoblePeripheralLike): Advertisement | undefined {
  const adv = p.advertisement ?? {};
  const sd = adv.serviceData?.find((d) => compactUuid(d.uuid) === SERVICE);
  const listed = adv.serviceUuids?.some((u) => compactUuid(u) === SERVICE) ?? false;
  if (!sd && !listed) return undefined;
  const ad: Advertisement = { id: p.id, serviceData: sd ? new Uint8Array(sd.data) : new Uint8Array(0) };
  if (typeof p.rssi === 'number') ad.rssi = p.rssi;
  return ad;
}

/** Serialises async operations. */
class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#tail.then(fn, fn);
    this.#tail = p.catch(() => undefined);
    return p;
  }
}

/** A connection to one toy over noble. Created by {@link NobleCentral.connect}. */
export class NobleCentralLink extends EventEmitter<CentralLinkEvents> implements CentralLink {
  readonly id: string;
  readonly #p: NoblePeripheralLike;
  readonly #opts: Required<Omit<NobleCentralOptions, 'noble'>>;
  #mtu = MIN_ATT_MTU;
  #state: 'new' | 'connecting' | 'open' | 'closed' = 'new';
  #controllerConnected = false;
  #failure: PlushlinkError | undefined;
  readonly #chars: Partial<Record<CharacteristicName, NobleCharacteristicLike>> = {};
  readonly #queues: Record<CharacteristicName, SerialQueue> = {
    control: new SerialQueue(),
    speaker: new SerialQueue(),
    microphone: new SerialQueue(),
  };
  readonly #pending = new Set<(e: PlushlinkError) => void>();
  readonly #tracked: [NobleEmitter, string, Listener][] = [];
  #disconnecting: Promise<void> | undefined;

  /** @internal */
  constructor(peripheral: NoblePeripheralLike, opts: Required<Omit<NobleCentralOptions, 'noble'>>) {
    super();
    this.id = peripheral.id;
    this.#p = peripheral;
    this.#opts = opts;
  }

  /** Negotiated ATT MTU (23..517). */
  get mtu(): number {
    return this.#mtu;
  }

  get connected(): boolean {
    return this.#state === 'open';
  }

  #track(emitter: NobleEmitter, event: string, fn: Listener): void {
    emitter.on(event, fn);
    this.#tracked.push([emitter, event, fn]);
  }

  /**
   * Waits for `event` on `emitter` after running `start`, bounded by `timeoutMs`; rejects on link
   * failure. `map` turns the event arguments into the result (and may throw).
   */
  #op<T>(what: string, emitter: NobleEmitter, event: string, start: () => void, map: (...args: any[]) => T, timeoutMs = this.#opts.gattTimeoutMs): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#state === 'closed') return reject(this.#failure ?? disconnected());
      let timer: ReturnType<typeof setTimeout> | undefined;
      const cleanup = (): void => {
        if (timer) clearTimeout(timer);
        emitter.removeListener(event, onEvent);
        this.#pending.delete(fail);
      };
      const onEvent = (...args: any[]): void => {
        cleanup();
        try {
          resolve(map(...args));
        } catch (e) {
          reject(e);
        }
      };
      const fail = (e: PlushlinkError): void => {
        cleanup();
        reject(e);
      };
      timer = setTimeout(() => {
        const e = new PlushlinkError('TIMEOUT', `${what} timed out after ${timeoutMs} ms`, { operation: what });
        fail(e);
        // noble's ATT queue is stuck behind an unanswered request: the link is unusable.
        this.fail(e);
      }, timeoutMs);
      emitter.on(event, onEvent);
      this.#pending.add(fail);
      try {
        start();
      } catch (e) {
        fail(e instanceof PlushlinkError ? e : new PlushlinkError('DISCONNECTED', `${what} failed: ${String((e as Error)?.message ?? e)}`, undefined, { cause: e }));
      }
    });
  }

  /** @internal Connect, discover, subscribe. */
  async open(): Promise<void> {
    this.#state = 'connecting';
    const p = this.#p;
    if ('mtu' in p) p.mtu = null; // never read a previous connection's MTU
    await this.#op(
      'connect',
      p,
      'connect',
      () => p.connect(),
      (error?: Error | null) => {
        if (error) throw new PlushlinkError('DISCONNECTED', `connect failed: ${error.message}`, { id: this.id }, { cause: error });
      },
      2_147_483_647, // bounded by the connect deadline, not the GATT timeout
    );
    this.#controllerConnected = true;
    if (this.#state !== 'connecting') throw this.#failure ?? disconnected();
    this.#track(p, 'disconnect', (reason: unknown) => {
      this.#controllerConnected = false;
      this.#closed(reasonString(reason));
    });

    const service = await this.#op('discover services', p, 'servicesDiscover', () => p.discoverServices([SERVICE]), (services: NobleServiceLike[]) => {
      const s = services?.find((x) => compactUuid(x.uuid) === SERVICE);
      if (!s) throw new PlushlinkError('NOT_FOUND', 'the peripheral has no plushlink service', { id: this.id });
      return s;
    });
    const wanted = Object.values(CHAR_UUIDS);
    const chars = await this.#op(
      'discover characteristics',
      service,
      'characteristicsDiscover',
      () => service.discoverCharacteristics(wanted),
      (cs: NobleCharacteristicLike[]) => cs ?? [],
    );
    for (const name of Object.keys(CHAR_UUIDS) as CharacteristicName[]) {
      const c = chars.find((x) => compactUuid(x.uuid) === CHAR_UUIDS[name]);
      if (!c) throw new PlushlinkError('NOT_FOUND', `the plushlink service lacks the ${name} characteristic`, { id: this.id });
      this.#chars[name] = c;
    }
    // noble exchanges the MTU before anything else, so it is known once discovery answered.
    const mtu = typeof p.mtu === 'number' ? p.mtu : MIN_ATT_MTU;
    this.#mtu = Math.min(MAX_ATT_MTU, Math.max(MIN_ATT_MTU, mtu));

    for (const name of ['control', 'microphone'] as const) {
      this.#track(this.#chars[name]!, 'data', (data: Buffer, isNotification: boolean) => {
        if (isNotification && this.#state === 'open') this.emit('data', name, new Uint8Array(data));
      });
    }
    this.#state = 'open';
    await this.subscribe('control');
    await this.subscribe('microphone');
  }

  /**
   * Writes one value of at most mtu − 3 bytes: `control` with response, `speaker` without.
   * Rejects with `BAD_FRAME`, `DISCONNECTED` or `TIMEOUT` (the link is then dropped).
   */
  write(characteristic: WritableCharacteristic, value: Uint8Array): Promise<void> {
    if (this.#state !== 'open') return Promise.reject(this.#failure ?? disconnected());
    if (value.length > attPayload(this.#mtu)) {
      return Promise.reject(
        new PlushlinkError('BAD_FRAME', `value of ${value.length} bytes exceeds mtu − 3 = ${attPayload(this.#mtu)}`, {
          length: value.length,
          mtu: this.#mtu,
        }),
      );
    }
    const c = this.#chars[characteristic]!;
    const data = Buffer.from(value);
    const withoutResponse = characteristic === 'speaker';
    return this.#queues[characteristic].run(() =>
      this.#op(`write ${characteristic}`, c, 'write', () => c.write(data, withoutResponse), () => undefined),
    );
  }

  /** Enables indications (control) or notifications (microphone); connect already did both. */
  subscribe(characteristic: NotifyingCharacteristic): Promise<void> {
    if (this.#state !== 'open') return Promise.reject(this.#failure ?? disconnected());
    const c = this.#chars[characteristic]!;
    return this.#queues[characteristic].run(() =>
      this.#op(`subscribe ${characteristic}`, c, 'notify', () => c.subscribe(), () => undefined),
    );
  }

  /** Disconnects; idempotent. Emits `disconnect` with reason `local`. */
  disconnect(): Promise<void> {
    this.#disconnecting ??= this.#state === 'closed' ? Promise.resolve() : this.#disconnectNow('local', disconnected('local'));
    return this.#disconnecting;
  }

  /** @internal Fails the link (timeout, abort): pending operations reject with `error`, the link drops. */
  fail(error: PlushlinkError): void {
    if (this.#state === 'closed') return;
    this.#failure = error;
    this.#disconnecting ??= this.#disconnectNow(error.code === 'TIMEOUT' ? 'timeout' : error.code === 'ABORTED' ? 'aborted' : 'local', error);
  }

  async #disconnectNow(reason: string, error: PlushlinkError): Promise<void> {
    const p = this.#p;
    const wasControllerConnected = this.#controllerConnected;
    const wasConnecting = this.#state === 'connecting' && !wasControllerConnected;
    this.#closed(reason, error);
    if (wasConnecting) {
      // The controller may complete the connection before the cancel lands: then drop it.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.#opts.disconnectTimeoutMs);
        function done(): void {
          clearTimeout(timer);
          p.removeListener('connect', onConnect);
          resolve();
        }
        function onConnect(err?: Error | null): void {
          if (!err) {
            try {
              p.disconnect();
            } catch {
              /* already gone */
            }
          }
          done();
        }
        p.on('connect', onConnect);
        try {
          if (p.cancelConnect) p.cancelConnect();
          else p.disconnect();
        } catch {
          done();
        }
      });
      return;
    }
    if (!wasControllerConnected) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.#opts.disconnectTimeoutMs);
      function done(): void {
        clearTimeout(timer);
        p.removeListener('disconnect', done);
        resolve();
      }
      p.on('disconnect', done);
      try {
        p.disconnect();
      } catch {
        done();
      }
    });
    this.#controllerConnected = false;
  }

  /** Tears down: listeners off, pending operations rejected, `disconnect` emitted once (if it was open). */
  #closed(reason: string, error?: PlushlinkError): void {
    if (this.#state === 'closed') return;
    const wasOpen = this.#state === 'open';
    this.#state = 'closed';
    this.#failure ??= error ?? disconnected(reason);
    for (const [em, ev, fn] of this.#tracked.splice(0)) em.removeListener(ev, fn);
    const err = this.#failure;
    for (const fail of [...this.#pending]) fail(err);
    if (wasOpen) this.emit('disconnect', reason);
  }
}
