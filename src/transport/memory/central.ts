/** The central (companion side) of the in-memory radio. */
import { PlushlinkError } from '../../protocol/errors.js';
import type { Advertisement, Central, CentralConnectOptions, ScanOptions } from '../types.js';
import { checkInt, checkNumber, closedError, DEFAULT_MTU } from './checks.js';
import { Connection } from './connection.js';
import type { MemoryCentralLink } from './link.js';
import { ScanIterator } from './scan.js';
import type { MemoryCentralOptions } from './types.js';
import type { MemoryRadio } from './radio.js';

/** A central (companion side) on a {@link MemoryRadio}. Implements {@link Central}. */
export class MemoryCentral implements Central {
  /** Random id of this central, as seen by peripherals (`PeripheralLink.id`). */
  readonly id: string;
  /** @internal */
  readonly _mtu: number;
  /** @internal */
  readonly _scans = new Set<ScanIterator>();
  readonly #radio: MemoryRadio;
  readonly #conns = new Set<Connection>();
  readonly #intervalMs: number;
  readonly #writeQueueSize: number;
  #closed = false;

  /** @internal Use {@link MemoryRadio.createCentral}. */
  constructor(radio: MemoryRadio, id: string, options: MemoryCentralOptions) {
    this.#radio = radio;
    this.id = id;
    this._mtu = checkInt('mtu', options.mtu, 1, 65535, DEFAULT_MTU);
    this.#intervalMs = checkNumber('connectionIntervalMs', options.connectionIntervalMs, 0.001, 4000, radio._intervalMs);
    this.#writeQueueSize = checkInt('writeQueueSize', options.writeQueueSize, 1, 1 << 20, radio._writeQueueSize);
  }

  /** Yields advertisements: every current one at once, then on change and every advertising interval. */
  scan(options: ScanOptions = {}): AsyncIterableIterator<Advertisement> {
    const it = new ScanIterator(this.#radio, this, options.signal);
    if (this.#closed) it.finish();
    return it;
  }

  /**
   * Connects to an advertising peripheral. `timeoutMs` is simulated time. Rejects `NOT_FOUND`
   * (unknown or not advertising), `TIMEOUT`, `ABORTED`, `DISCONNECTED` (the peripheral dropped
   * the link during setup), `TRANSPORT_UNAVAILABLE` (closed).
   */
  async connect(id: string, options: CentralConnectOptions = {}): Promise<MemoryCentralLink> {
    if (this.#closed) throw closedError('central');
    if (options.signal?.aborted) throw new PlushlinkError('ABORTED', 'connect aborted');
    if (options.timeoutMs !== undefined) checkNumber('timeoutMs', options.timeoutMs, 0, 1e12, 0);
    const p = this.#radio._peripheral(id);
    if (!p || !p._advertising) throw new PlushlinkError('NOT_FOUND', `no advertising peripheral with id ${id}`, { id });
    const conn = new Connection(this.#radio, this, p, id, this.#writeQueueSize, p._notificationQueueSize, this.#intervalMs);
    this.#conns.add(conn);
    this.#radio._adopt(conn);
    return conn.start(options);
  }

  /** Open links of this central (connected or still connecting). */
  get links(): MemoryCentralLink[] {
    return [...this.#conns].map((c) => c.centralLink);
  }

  /** Ends scans, rejects pending connects (`TRANSPORT_UNAVAILABLE`) and disconnects every link. */
  close(): Promise<void> {
    this.#closed = true;
    for (const s of [...this._scans]) s.finish();
    for (const c of [...this.#conns]) c.disconnectFrom('central', 'closed', closedError('central'));
    return Promise.resolve();
  }

  /** @internal */
  _forget(conn: Connection): void {
    this.#conns.delete(conn);
  }
  /** @internal */
  _closeForRadio(): void {
    this.#closed = true;
    for (const s of [...this._scans]) s.finish();
  }
}
