/**
 * The in-memory radio: a simulated BLE "air" shared by in-process peripherals (toys) and
 * centrals (companions). It implements the transport interfaces of `../types.ts` and behaves
 * like BLE where it matters to the protocol above it:
 *
 * - **Simulated time.** A discrete-event loop keeps a simulated clock ({@link MemoryRadio.now}).
 *   Every link has connection events on a fixed grid (`anchor + k · interval`); a PDU queued at
 *   simulated time `t` travels at the first connection event strictly after `t` (and not before
 *   its injected latency has passed). Idle periods and application CPU time cost no simulated
 *   time. Wall-clock pacing is `timeScale` (1 = real time, 0 = as fast as possible).
 * - **Order.** Each direction is one FIFO; at most `pdusPerEvent` PDUs per direction per
 *   connection event, central → peripheral first (the central transmits first in an event).
 * - **ATT rules.** One outstanding write request (control) and one outstanding indication at a
 *   time; a write request resolves when its response arrives (one event after the peripheral got
 *   the value); an indication resolves when the confirmation arrives. Writes without response
 *   (speaker) go into a bounded queue with backpressure; notifications (microphone) into a bounded
 *   queue that drops (and counts) when full. Values longer than `mtu − 3` are refused
 *   (`BAD_FRAME`): real stacks truncate or fail, we are strict so fragmentation is exercised.
 * - **Connection setup.** Establishment (one interval after `connect()`), then request/response
 *   exchanges: MTU exchange, `discoveryRoundTrips` discovery exchanges, the control CCCD write
 *   and the microphone CCCD write. The peripheral's `connect` event fires when the MTU request
 *   arrives (so `link.mtu` is final); `subscribe` fires at each CCCD write; the central's
 *   `connect()` resolves when the last CCCD response arrives.
 * - **Faults**, settable at run time: notification drop rate (seeded PRNG), latency and jitter,
 *   disconnect after the n-th PDU, injected disconnects, ATT timeouts.
 *
 * ### Round trips and flights (see {@link LinkStats})
 * Only application PDUs count (values written to control/speaker, indications on control,
 * notifications on microphone) — not setup exchanges, write responses or confirmations. A
 * *flight* is a maximal run of application PDUs in one direction, in delivery order; a *round
 * trip* is counted each time a peripheral → central PDU is delivered after a central →
 * peripheral one. A handshake of k flights that the central starts therefore counts
 * `floor(k / 2)` round trips and `k` flights, however many fragments each flight needs.
 *
 * ### Files
 * - ./types.ts: options, events and {@link LinkStats}
 * - ./faults.ts: {@link RadioFaults} and {@link LinkFaults}
 * - the link engine: ./connection.ts (one connection's life: connect, setup, teardown), ./air.ts
 *   (its PDU queues and connection events), ./att.ts (its ATT operations and queues),
 *   ./delivery.ts (what an application PDU does when it arrives: faults, counting, trace) and
 *   ./link.ts (its two public ends)
 * - ./scan.ts: scanning
 * - ./central.ts, ./peripheral.ts: the two sides
 * - this file: the radio that owns them, its clock and its addresses
 */
import { EventEmitter } from 'eventemitter3';
import { randomBytes, type RandomSource } from '../../protocol/crypto.js';
import { checkInt, checkNumber, closedError, emitSafely } from './checks.js';
import { MemoryCentral } from './central.js';
import { RadioFaults } from './faults.js';
import type { Connection } from './connection.js';
import { MemoryPeripheral } from './peripheral.js';
import { seededRandom } from './prng.js';
import { defaultScheduler, SimLoop, type Scheduler } from './scheduler.js';
import type { MemoryCentralOptions, MemoryPeripheralOptions, MemoryRadioEvents, MemoryRadioOptions } from './types.js';

/**
 * One shared simulated "air". Create peripherals and centrals on it; close it to release every
 * timer. See the module documentation for the timing model and how round trips are counted.
 */
export class MemoryRadio extends EventEmitter<MemoryRadioEvents> {
  /** The PRNG seed in use (log it to reproduce a fault run). */
  readonly seed: number;
  /** Radio-wide faults, settable at run time. */
  readonly faults = new RadioFaults();
  /** @internal */
  readonly _loop: SimLoop;
  /** @internal */
  readonly _scheduler: Scheduler;
  /** @internal */
  readonly _intervalMs: number;
  /** @internal */
  readonly _pdusPerEvent: number;
  /** @internal */
  readonly _notificationQueueSize: number;
  /** @internal */
  readonly _writeQueueSize: number;
  /** @internal */
  readonly _discoveryRoundTrips: number;
  /** @internal */
  readonly _attTimeoutUs: number;
  /** @internal */
  readonly _advertisingIntervalMs: number;
  /** @internal */
  readonly _faultRandom: () => number;
  readonly #addressRandom: RandomSource;
  readonly #peripherals = new Map<string, MemoryPeripheral>();
  readonly #centrals = new Set<MemoryCentral>();
  readonly #conns = new Set<Connection>();
  readonly #ids = new Set<string>();
  #closed = false;
  #serial = 0;

  constructor(options: MemoryRadioOptions = {}) {
    super();
    this._intervalMs = checkNumber('connectionIntervalMs', options.connectionIntervalMs, 0.001, 4000, 7.5);
    const timeScale = checkNumber('timeScale', options.timeScale, 0, 1e6, 1);
    this._pdusPerEvent = checkInt('pdusPerEvent', options.pdusPerEvent, 1, 1000, 4);
    this._notificationQueueSize = checkInt('notificationQueueSize', options.notificationQueueSize, 1, 1 << 20, 32);
    this._writeQueueSize = checkInt('writeQueueSize', options.writeQueueSize, 1, 1 << 20, 16);
    this._discoveryRoundTrips = checkInt('discoveryRoundTrips', options.discoveryRoundTrips, 0, 100, 2);
    this._attTimeoutUs = Math.round(checkNumber('attTimeoutMs', options.attTimeoutMs, 1, 1e9, 30_000) * 1000);
    this._advertisingIntervalMs = checkNumber('advertisingIntervalMs', options.advertisingIntervalMs, 0, 1e9, 100);
    this._scheduler = options.scheduler ?? defaultScheduler;
    if (options.seed !== undefined && !Number.isInteger(options.seed)) throw new RangeError('seed must be an integer');
    const sb = randomBytes(4);
    this.seed = options.seed ?? ((sb[0]! | (sb[1]! << 8) | (sb[2]! << 16) | (sb[3]! << 24)) >>> 0);
    this._faultRandom = seededRandom(this.seed);
    this.#addressRandom = options.addressRandom ?? randomBytes;
    this._loop = new SimLoop(this._scheduler, timeScale);
    const f = options.faults ?? {};
    if (f.notificationDropRate !== undefined) this.faults.notificationDropRate = f.notificationDropRate;
    if (f.latencyMs !== undefined) this.faults.latencyMs = f.latencyMs;
    if (f.jitterMs !== undefined) this.faults.jitterMs = f.jitterMs;
  }

  /** Simulated radio time in milliseconds since the radio was created. */
  now(): number {
    return this._loop.now / 1000;
  }

  /**
   * Resolves once no simulated event is pending and none appeared after a wall-clock tick (so
   * the application's reactions to the last delivery have run). Scans do not count. Handy in
   * tests: `await radio.settle()` runs the air until everything in flight has landed.
   */
  async settle(): Promise<void> {
    for (;;) {
      await this._loop.whenIdle();
      await new Promise<void>((r) => this._scheduler.setTimeout(r, 0));
      if (this._loop.idle || this.#closed) return;
    }
  }

  /** True once {@link close} ran. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Creates a peripheral with a fresh random address. */
  createPeripheral(options: MemoryPeripheralOptions = {}): MemoryPeripheral {
    if (this.#closed) throw closedError('radio');
    const p = new MemoryPeripheral(this, this._newAddress(), options);
    this.#peripherals.set(p.id, p);
    return p;
  }

  /** Creates a central with a fresh random id. */
  createCentral(options: MemoryCentralOptions = {}): MemoryCentral {
    if (this.#closed) throw closedError('radio');
    const c = new MemoryCentral(this, this._newAddress(), options);
    this.#centrals.add(c);
    return c;
  }

  /**
   * Drops every link on both sides (reason `'closed'`), ends every scan, closes every central
   * and peripheral and clears every timer. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of this.#centrals) c._closeForRadio();
    for (const p of this.#peripherals.values()) p._closeForRadio();
    for (const conn of [...this.#conns]) conn.dropBoth('closed');
    this._loop.close();
  }

  /** @internal */
  _nextSerial(): number {
    return ++this.#serial;
  }
  /**
   * @internal A fresh address: 48 bits from the address source (the CSPRNG unless a test injected
   * one), never one this radio handed out before.
   */
  _newAddress(): string {
    for (;;) {
      const b = this.#addressRandom(6);
      let s = '';
      for (let i = 0; i < 6; i++) s += (b[i] ?? 0).toString(16).padStart(2, '0');
      if (!this.#ids.has(s)) {
        this.#ids.add(s);
        return s;
      }
    }
  }
  /** @internal */
  _peripheral(id: string): MemoryPeripheral | undefined {
    return this.#peripherals.get(id);
  }
  /** @internal */
  *_advertisers(): Iterable<MemoryPeripheral> {
    for (const p of this.#peripherals.values()) if (p._advertising) yield p;
  }
  /** @internal */
  _announce(p: MemoryPeripheral): void {
    emitSafely(() => this.emit('advertising', { address: p.id, serviceData: p._advertising ? p._serviceData.slice() : undefined, at: this.now() }));
    for (const c of this.#centrals) for (const s of c._scans) s.push(p);
  }
  /** @internal */
  _rename(p: MemoryPeripheral, oldId: string): void {
    this.#peripherals.delete(oldId);
    this.#peripherals.set(p.id, p);
    for (const c of this.#centrals) for (const s of c._scans) s.forget(oldId);
    this._announce(p);
  }
  /** @internal */
  _adopt(conn: Connection): void {
    this.#conns.add(conn);
  }
  /** @internal */
  _forget(conn: Connection): void {
    this.#conns.delete(conn);
  }
}
