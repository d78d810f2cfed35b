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
 *
 * Files, as in ../bleno/: ./types.ts (noble's API as the adapter uses it, the options),
 * ./link.ts (one connection: {@link NobleCentralLink}), and this file (power-on, scan, connect).
 */
import { PlushlinkError } from '../../protocol/errors.js';
import { compactUuid } from '../gatt-layout.js';
import type { Advertisement, Central, CentralConnectOptions, CentralLink, ScanOptions } from '../types.js';
import { NobleCentralLink, SERVICE } from './link.js';
import { requireOptional, toUnavailable } from './optional-require.js';
import type { NobleCentralOptions, NobleLike, NoblePeripheralLike, NobleTimeouts } from './types.js';

export type {
  NobleCentralOptions,
  NobleCharacteristicLike,
  NobleEmitter,
  NobleLike,
  NoblePeripheralLike,
  NobleServiceLike,
} from './types.js';
export { NobleCentralLink } from './link.js';

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

function aborted(): PlushlinkError {
  return new PlushlinkError('ABORTED', 'aborted');
}

/** {@link Central} over noble. See the module comment for what it guards against. */
export class NobleCentral implements Central {
  #noble: NobleLike | undefined;
  readonly #opts: NobleTimeouts;
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
