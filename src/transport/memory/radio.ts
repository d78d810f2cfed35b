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
 */
import { EventEmitter } from 'eventemitter3';
import { PlushlinkError } from '../../protocol/errors.js';
import { randomBytes, type RandomSource } from '../../protocol/crypto.js';
import {
  MAX_ATT_MTU,
  MIN_ATT_MTU,
  type Advertisement,
  type Central,
  type CentralLink,
  type CentralLinkEvents,
  type CharacteristicName,
  type CentralConnectOptions,
  type NotifyingCharacteristic,
  type Peripheral,
  type PeripheralEvents,
  type PeripheralLink,
  type PeripheralLinkEvents,
  type ScanOptions,
  type WritableCharacteristic,
} from '../types.js';
import { defaultScheduler, SimLoop, type Scheduler, type SimEvent } from './scheduler.js';
import { seededRandom } from './prng.js';

// ---------------------------------------------------------------------------------------------
// Public option and stats types

/** Options of {@link MemoryRadio}. Every duration is in milliseconds of simulated time unless noted. */
export interface MemoryRadioOptions {
  /** Connection interval of every link (default 7.5; BLE allows 7.5..4000 in 1.25 steps). Centrals may override. */
  connectionIntervalMs?: number;
  /** Wall-clock milliseconds per simulated millisecond (default 1 = real time; 0 = as fast as possible). */
  timeScale?: number;
  /** Wall-clock timers (default: global setTimeout/setImmediate, looked up at call time). */
  scheduler?: Scheduler;
  /**
   * Seed of the PRNG behind fault injection and jitter (default: random; see {@link MemoryRadio.seed}).
   * It never feeds an address: addresses are privacy-relevant and come from the CSPRNG.
   */
  seed?: number;
  /**
   * Source of the bytes of every address this radio hands out (default: the CSPRNG). Only a test
   * that needs reproducible addresses passes one; nothing derives addresses from {@link seed}.
   */
  addressRandom?: RandomSource;
  /** PDUs per direction per connection event (default 4). */
  pdusPerEvent?: number;
  /** Default notification queue length per link (default 32); peripherals may override. */
  notificationQueueSize?: number;
  /** Default write-without-response queue length per link (default 16); centrals may override. */
  writeQueueSize?: number;
  /** Request/response exchanges that service discovery takes during `connect()` (default 2). */
  discoveryRoundTrips?: number;
  /** ATT transaction timeout for write requests and indications (default 30 000). */
  attTimeoutMs?: number;
  /**
   * How often a running scan re-reports every advertisement, in **wall-clock** ms of the
   * scheduler (default 100; 0 = only when an advertisement appears or changes). Advertising is
   * not part of the simulated link timing.
   */
  advertisingIntervalMs?: number;
  /** Initial radio-wide faults (see {@link RadioFaults}). */
  faults?: { notificationDropRate?: number; latencyMs?: number; jitterMs?: number };
}

/** Options of {@link MemoryRadio.createCentral}. */
export interface MemoryCentralOptions {
  /** ATT MTU this central asks for (default 247); the link uses min(central, peripheral) clamped to 23..517. */
  mtu?: number;
  /** Connection interval of this central's links (default: the radio's). */
  connectionIntervalMs?: number;
  /** Write-without-response queue length (default: the radio's). */
  writeQueueSize?: number;
}

/** Options of {@link MemoryRadio.createPeripheral}. */
export interface MemoryPeripheralOptions {
  /** ATT MTU this peripheral supports (default 247). */
  mtu?: number;
  /** RSSI reported to scanners, in dBm (default −60). */
  rssi?: number;
  /** Notification queue length per link (default: the radio's). */
  notificationQueueSize?: number;
  /**
   * Largest advertised service data in bytes (default 24: a legacy 31-byte advertisement minus
   * the flags AD and the service-data AD header with a 16-bit UUID). Longer data → `BAD_FRAME`.
   */
  maxServiceDataLength?: number;
}

/** Which way a PDU travels, for faults. */
export type LinkDirection = 'toPeripheral' | 'toCentral' | 'any';

/** A "disconnect after the n-th PDU" fault. */
export interface DisconnectAfterSpec {
  /** Which application PDUs to count (default `'any'`). */
  direction?: LinkDirection;
  /** Drop the link at the `count`-th counted PDU (≥ 1), counted from arming (link faults) or from connection (radio faults). */
  count: number;
  /** When true the `count`-th PDU is lost with the link; when false (default) it is delivered first. */
  lose?: boolean;
}

/** Why a link went away, as passed to `disconnect` listeners. */
export type DisconnectReason =
  /** This side called `disconnect()` (or aborted / timed out its own connect). */
  | 'local'
  /** The other side disconnected; learnt at the next connection event. */
  | 'remote'
  /** An injected fault (`injectDisconnect`, `disconnectAfter`). */
  | 'fault'
  /** An ATT transaction timed out (both sides). */
  | 'timeout'
  /** This side's central/peripheral or the whole radio was closed. */
  | 'closed';

/**
 * Counters of one link, shared by both ends. Counted at delivery (arrival at the receiver).
 * Times are simulated milliseconds ({@link MemoryRadio.now}).
 */
export interface LinkStats {
  /** Simulated time `connect()` was called. */
  connectStartedAt: number;
  /** Simulated time the link layer connected (first connection event), or null. */
  establishedAt: number | null;
  /** Simulated time `connect()` resolved (MTU, discovery and subscriptions done), or null. */
  readyAt: number | null;
  /** Simulated time the link went down, or null. */
  disconnectedAt: number | null;
  /** Connection events that ran (idle events are skipped by the simulation), setup included. */
  connectionEvents: number;
  /** Of {@link connectionEvents}, those before the link was ready. */
  setupEvents: number;
  /** Values delivered central → peripheral (control + speaker). */
  writes: number;
  /** Of {@link writes}, write requests on control. */
  writesWithResponse: number;
  /** Of {@link writes}, writes without response on speaker. */
  writesWithoutResponse: number;
  /** Indications delivered on control. */
  indications: number;
  /** Notifications delivered on microphone. */
  notifications: number;
  /** Notifications lost: {@link droppedQueueFull} + {@link droppedInjected}. */
  dropped: number;
  /** Notifications refused because the link's notification queue was full. */
  droppedQueueFull: number;
  /** Notifications lost to the injected drop rate. */
  droppedInjected: number;
  /** Maximal runs of application PDUs in one direction (see module docs). */
  flights: number;
  /** Central → peripheral followed by peripheral → central transitions (see module docs). */
  roundTrips: number;
  /** Payload bytes delivered to the peripheral, per characteristic. */
  bytesToPeripheral: Record<WritableCharacteristic, number>;
  /** Payload bytes delivered to the central, per characteristic (dropped notifications excluded). */
  bytesToCentral: Record<NotifyingCharacteristic, number>;
}

/** One application PDU as seen on the air (radio `pdu` event), for traces and recordings. */
export interface PduTrace {
  /** Simulated time of delivery, ms. */
  time: number;
  /** Serial number of the link on this radio (1, 2, ...). */
  link: number;
  direction: 'toPeripheral' | 'toCentral';
  characteristic: CharacteristicName;
  kind: 'write' | 'writeWithoutResponse' | 'indication' | 'notification';
  /** The delivered bytes (do not mutate). */
  value: Uint8Array;
  /** True when the drop fault discarded this notification. */
  dropped: boolean;
}

/** Events of {@link MemoryRadio}. */
export interface MemoryRadioEvents {
  /** Every application PDU that reached the receiving radio. */
  pdu: (trace: PduTrace) => void;
  /**
   * What a peripheral puts on the air changed: it started advertising, replaced its service data,
   * stopped (`serviceData` undefined), or moved to a new address (which stops it until its next
   * `advertise`). Every advertisement a scanner can ever report is one of these states, so a test
   * that checks them all checks every advertising event.
   */
  advertising: (event: AdvertisingEvent) => void;
}

/** One state of a peripheral's advertising (see {@link MemoryRadioEvents.advertising}). */
export interface AdvertisingEvent {
  /** The peripheral's address at that moment. */
  address: string;
  /** The service data on the air, or undefined when the peripheral does not advertise. */
  serviceData: Uint8Array | undefined;
  /** Simulated radio time (ms). */
  at: number;
}

// ---------------------------------------------------------------------------------------------
// Helpers

const DEFAULT_MTU = 247;

function disconnectedError(reason: DisconnectReason): PlushlinkError {
  return new PlushlinkError('DISCONNECTED', `link disconnected (${reason})`, { reason });
}

function closedError(what: string): PlushlinkError {
  return new PlushlinkError('TRANSPORT_UNAVAILABLE', `${what} is closed`);
}

function emitSafely(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    // A throwing listener is the application's bug; surface it without corrupting radio state.
    queueMicrotask(() => {
      throw e;
    });
  }
}

function checkNumber(name: string, v: number | undefined, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new RangeError(`${name} must be a number in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

function checkInt(name: string, v: number | undefined, min: number, max: number, dflt: number): number {
  const n = checkNumber(name, v, min, max, dflt);
  if (!Number.isInteger(n)) throw new RangeError(`${name} must be an integer, got ${n}`);
  return n;
}

function checkValue(value: unknown, mtu: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new PlushlinkError('BAD_FRAME', 'value must be a Uint8Array');
  if (value.length > mtu - 3) {
    throw new PlushlinkError('BAD_FRAME', `value of ${value.length} bytes exceeds ATT payload mtu − 3 = ${mtu - 3}`, {
      length: value.length,
      max: mtu - 3,
    });
  }
  return value.slice();
}

function clampMtu(a: number, b: number): number {
  return Math.min(MAX_ATT_MTU, Math.max(MIN_ATT_MTU, Math.min(a, b)));
}

interface Deferred {
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface PendingOp extends Deferred {
  value: Uint8Array;
  timeout?: SimEvent;
}

type Dir = 'up' | 'down';
type SetupStep = 'mtu' | 'discover' | 'cccd-control' | 'cccd-microphone';
type PduKind = 'setupReq' | 'setupRsp' | 'write' | 'writeRsp' | 'writeCmd' | 'indicate' | 'confirm' | 'notify';

interface Pdu {
  kind: PduKind;
  value?: Uint8Array;
  step?: SetupStep;
  enqueuedAt: number;
  eligibleAt: number;
}

interface ArmedDisconnect {
  direction: LinkDirection;
  remaining: number;
  lose: boolean;
}

function armSpec(spec: DisconnectAfterSpec): ArmedDisconnect {
  const direction = spec.direction ?? 'any';
  if (direction !== 'toPeripheral' && direction !== 'toCentral' && direction !== 'any') {
    throw new RangeError(`direction must be toPeripheral, toCentral or any`);
  }
  const count = checkInt('count', spec.count, 1, Number.MAX_SAFE_INTEGER, 1);
  return { direction, remaining: count, lose: spec.lose === true };
}

function checkRate(p: number): number {
  return checkNumber('notificationDropRate', p, 0, 1, 0);
}

// ---------------------------------------------------------------------------------------------
// Faults

/**
 * Radio-wide faults, settable at run time. Rates and delays apply live to every link that has
 * no override of its own ({@link LinkFaults}).
 */
export class RadioFaults {
  private _dropRate = 0;
  private _latencyMs = 0;
  private _jitterMs = 0;
  /** @internal */
  readonly _nextConnect: DisconnectAfterSpec[] = [];

  /** Probability in [0, 1] that a notification is lost in the air (seeded PRNG). */
  get notificationDropRate(): number {
    return this._dropRate;
  }
  set notificationDropRate(p: number) {
    this._dropRate = checkRate(p);
  }
  /** Extra delay before a PDU may travel (ms, simulated); order per direction is kept. */
  get latencyMs(): number {
    return this._latencyMs;
  }
  set latencyMs(ms: number) {
    this._latencyMs = checkNumber('latencyMs', ms, 0, 1e9, 0);
  }
  /** Uniform random extra delay in [0, jitterMs) added to the latency (ms, simulated). */
  get jitterMs(): number {
    return this._jitterMs;
  }
  set jitterMs(ms: number) {
    this._jitterMs = checkNumber('jitterMs', ms, 0, 1e9, 0);
  }

  /**
   * Arms a one-shot "disconnect after the n-th PDU" fault on the **next** `connect()` of any
   * central on this radio (it counts that link's application PDUs from its first one; setup
   * exchanges never count). Several calls arm several specs on that same next link.
   */
  disconnectAfter(spec: DisconnectAfterSpec): void {
    armSpec(spec);
    this._nextConnect.push({ ...spec });
  }

  /** Clears every radio-wide fault. */
  clear(): void {
    this._dropRate = 0;
    this._latencyMs = 0;
    this._jitterMs = 0;
    this._nextConnect.length = 0;
  }
}

/** Faults of one link (shared by both ends); `undefined` overrides mean "use the radio's". */
export class LinkFaults {
  /** @internal */
  readonly _armed: ArmedDisconnect[] = [];
  private _dropRate: number | undefined;
  private _latencyMs: number | undefined;
  private _jitterMs: number | undefined;

  /** @internal */
  constructor(private readonly conn: Connection) {}

  /** Per-link notification drop probability (undefined = the radio's). */
  get notificationDropRate(): number | undefined {
    return this._dropRate;
  }
  set notificationDropRate(p: number | undefined) {
    this._dropRate = p === undefined ? undefined : checkRate(p);
  }
  /** Per-link latency in simulated ms (undefined = the radio's). */
  get latencyMs(): number | undefined {
    return this._latencyMs;
  }
  set latencyMs(ms: number | undefined) {
    this._latencyMs = ms === undefined ? undefined : checkNumber('latencyMs', ms, 0, 1e9, 0);
  }
  /** Per-link jitter in simulated ms (undefined = the radio's). */
  get jitterMs(): number | undefined {
    return this._jitterMs;
  }
  set jitterMs(ms: number | undefined) {
    this._jitterMs = ms === undefined ? undefined : checkNumber('jitterMs', ms, 0, 1e9, 0);
  }

  /** Drops the link at the `count`-th application PDU in `direction` from now on (see {@link DisconnectAfterSpec}). */
  disconnectAfter(spec: DisconnectAfterSpec): void {
    this._armed.push(armSpec(spec));
  }

  /** Drops the link now, on both sides at once (reason `'fault'`, like a supervision timeout). */
  injectDisconnect(): void {
    this.conn.dropBoth('fault');
  }

  /** Clears the overrides and armed disconnects of this link. */
  clear(): void {
    this._armed.length = 0;
    this._dropRate = this._latencyMs = this._jitterMs = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// The connection (both ends of one link)

class Connection {
  readonly serial: number;
  readonly intervalUs: number;
  readonly faults: LinkFaults;
  readonly centralLink: MemoryCentralLink;
  readonly peripheralLink: MemoryPeripheralLink;
  mtu = MIN_ATT_MTU;
  phase: 'connecting' | 'setup' | 'ready' | 'closed' = 'connecting';
  centralOpen = true;
  peripheralOpen = true;
  peripheralAnnounced = false;
  /** True once `connect()` resolved. */
  ready = false;
  /** Why the link went down (first reason wins). */
  closeReason: DisconnectReason | undefined;
  private anchorUs = 0;
  private readonly queues: Record<Dir, Pdu[]> = { up: [], down: [] };
  private readonly lastEligible: Record<Dir, number> = { up: 0, down: 0 };
  private event: SimEvent | undefined;
  private readonly setupSteps: SetupStep[];
  private setupIndex = 0;
  private connect: (Deferred & { resolveLink: (l: MemoryCentralLink) => void }) | undefined;
  private connectTimeout: SimEvent | undefined;
  private establishEvent: SimEvent | undefined;
  private unlistenAbort: (() => void) | undefined;
  private control: { queue: PendingOp[]; inFlight: PendingOp | undefined } = { queue: [], inFlight: undefined };
  private indication: { queue: PendingOp[]; inFlight: PendingOp | undefined } = { queue: [], inFlight: undefined };
  private speakerQueued = 0;
  private readonly speakerWaiters: PendingOp[] = [];
  private notifQueued = 0;
  readonly subscribed: Record<NotifyingCharacteristic, boolean> = { control: false, microphone: false };
  private lastDir: Dir | undefined;
  private readonly s: LinkStats;

  constructor(
    readonly radio: MemoryRadio,
    readonly central: MemoryCentral,
    readonly peripheral: MemoryPeripheral,
    readonly targetId: string,
    private readonly writeQueueSize: number,
    private readonly notificationQueueSize: number,
    intervalMs: number,
  ) {
    this.serial = radio._nextSerial();
    this.intervalUs = Math.round(intervalMs * 1000);
    this.faults = new LinkFaults(this);
    this.centralLink = new MemoryCentralLink(this);
    this.peripheralLink = new MemoryPeripheralLink(this);
    const discovery = radio._discoveryRoundTrips;
    this.setupSteps = ['mtu', ...Array<SetupStep>(discovery).fill('discover'), 'cccd-control', 'cccd-microphone'];
    this.s = {
      connectStartedAt: radio.now(),
      establishedAt: null,
      readyAt: null,
      disconnectedAt: null,
      connectionEvents: 0,
      setupEvents: 0,
      writes: 0,
      writesWithResponse: 0,
      writesWithoutResponse: 0,
      indications: 0,
      notifications: 0,
      dropped: 0,
      droppedQueueFull: 0,
      droppedInjected: 0,
      flights: 0,
      roundTrips: 0,
      bytesToPeripheral: { control: 0, speaker: 0 },
      bytesToCentral: { control: 0, microphone: 0 },
    };
    for (const spec of radio.faults._nextConnect.splice(0)) this.faults._armed.push(armSpec(spec));
    peripheral._adopt(this);
  }

  private get loop(): SimLoop {
    return this.radio._loop;
  }

  stats(): LinkStats {
    return { ...this.s, bytesToPeripheral: { ...this.s.bytesToPeripheral }, bytesToCentral: { ...this.s.bytesToCentral } };
  }

  // --- connect ---------------------------------------------------------------------------------

  start(options: CentralConnectOptions): Promise<MemoryCentralLink> {
    return new Promise<MemoryCentralLink>((resolve, reject) => {
      this.connect = { resolve: () => undefined, resolveLink: resolve, reject };
      const { signal, timeoutMs } = options;
      if (signal) {
        const onAbort = (): void => {
          this.disconnectFrom('central', 'local', new PlushlinkError('ABORTED', 'connect aborted'));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        this.unlistenAbort = () => signal.removeEventListener('abort', onAbort);
      }
      if (timeoutMs !== undefined) {
        this.connectTimeout = this.loop.at(this.loop.now + Math.round(timeoutMs * 1000), () => {
          this.connectTimeout = undefined;
          this.disconnectFrom('central', 'local', new PlushlinkError('TIMEOUT', `connect timed out after ${timeoutMs} ms`));
        });
      }
      this.establishEvent = this.loop.at(this.loop.now + this.intervalUs, () => this.establish());
    });
  }

  private establish(): void {
    this.establishEvent = undefined;
    if (this.phase !== 'connecting') return;
    const p = this.peripheral;
    if (!p._advertising || p.id !== this.targetId) {
      this.stopAir('local');
      this.closeSide('peripheral', 'remote');
      this.closeSide('central', 'local', new PlushlinkError('NOT_FOUND', `peripheral ${this.targetId} is not advertising`));
      return;
    }
    this.phase = 'setup';
    this.anchorUs = this.loop.now;
    this.s.establishedAt = this.radio.now();
    this.s.connectionEvents++;
    this.s.setupEvents++;
    this.enqueue('up', { kind: 'setupReq', step: this.setupSteps[0]! });
  }

  private finishConnect(): void {
    this.cleanupConnectWatch();
    const c = this.connect;
    this.connect = undefined;
    this.phase = 'ready';
    this.ready = true;
    this.s.readyAt = this.radio.now();
    c?.resolveLink(this.centralLink);
    this.pumpIndications();
  }

  private cleanupConnectWatch(): void {
    this.loop.cancel(this.connectTimeout);
    this.connectTimeout = undefined;
    this.unlistenAbort?.();
    this.unlistenAbort = undefined;
  }

  // --- air ---------------------------------------------------------------------------------------

  private effective(): { drop: number; latency: number; jitter: number } {
    const rf = this.radio.faults;
    const lf = this.faults;
    return {
      drop: lf.notificationDropRate ?? rf.notificationDropRate,
      latency: lf.latencyMs ?? rf.latencyMs,
      jitter: lf.jitterMs ?? rf.jitterMs,
    };
  }

  private enqueue(dir: Dir, pdu: Omit<Pdu, 'enqueuedAt' | 'eligibleAt'>): void {
    if (this.phase === 'closed' || this.phase === 'connecting') return;
    const now = this.loop.now;
    const { latency, jitter } = this.effective();
    let eligible = now + Math.round(latency * 1000 + (jitter > 0 ? this.radio._faultRandom() * jitter * 1000 : 0));
    eligible = Math.max(eligible, this.lastEligible[dir]);
    this.lastEligible[dir] = eligible;
    this.queues[dir].push({ ...pdu, enqueuedAt: now, eligibleAt: eligible });
    this.scheduleEvent();
  }

  private gridAtOrAfter(t: number): number {
    if (t <= this.anchorUs) return this.anchorUs;
    return this.anchorUs + Math.ceil((t - this.anchorUs) / this.intervalUs) * this.intervalUs;
  }

  private scheduleEvent(): void {
    if (this.phase === 'closed') return;
    const now = this.loop.now;
    let target = Infinity;
    for (const dir of ['up', 'down'] as const) {
      const h = this.queues[dir][0];
      if (!h) continue;
      target = Math.min(target, this.gridAtOrAfter(Math.max(h.enqueuedAt + 1, h.eligibleAt, now + 1)));
    }
    if (target === Infinity) return;
    if (this.event && !this.event.cancelled) {
      if (this.event.timeUs <= target) return;
      this.loop.cancel(this.event);
    }
    this.event = this.loop.at(target, () => this.onConnectionEvent());
  }

  private onConnectionEvent(): void {
    this.event = undefined;
    if (this.phase === 'closed') return;
    const now = this.loop.now;
    this.s.connectionEvents++;
    if (this.phase !== 'ready') this.s.setupEvents++;
    const perEvent = this.radio._pdusPerEvent;
    for (const dir of ['up', 'down'] as const) {
      let n = 0;
      while (n < perEvent && (this.phase as string) !== 'closed') {
        const h = this.queues[dir][0];
        if (!h || h.enqueuedAt >= now || h.eligibleAt > now) break;
        this.queues[dir].shift();
        n++;
        this.deliver(dir, h);
      }
    }
    this.scheduleEvent();
  }

  /** Counts an application PDU against armed disconnects. Returns 'lose' | 'drop-after' | 'ok'. */
  private faultCheck(dir: Dir): 'lose' | 'drop-after' | 'ok' {
    const d = dir === 'up' ? 'toPeripheral' : 'toCentral';
    let result: 'lose' | 'drop-after' | 'ok' = 'ok';
    for (const a of this.faults._armed) {
      if (a.remaining <= 0 || (a.direction !== 'any' && a.direction !== d)) continue;
      a.remaining--;
      if (a.remaining === 0) result = a.lose ? 'lose' : result === 'lose' ? 'lose' : 'drop-after';
    }
    return result;
  }

  private countFlight(dir: Dir): void {
    if (dir !== this.lastDir) {
      this.s.flights++;
      if (dir === 'down' && this.lastDir === 'up') this.s.roundTrips++;
      this.lastDir = dir;
    }
  }

  private trace(dir: Dir, characteristic: CharacteristicName, kind: PduTrace['kind'], value: Uint8Array, dropped: boolean): void {
    if (this.radio.listenerCount('pdu') === 0) return;
    const t: PduTrace = {
      time: this.radio.now(),
      link: this.serial,
      direction: dir === 'up' ? 'toPeripheral' : 'toCentral',
      characteristic,
      kind,
      value,
      dropped,
    };
    emitSafely(() => this.radio.emit('pdu', t));
  }

  private deliver(dir: Dir, pdu: Pdu): void {
    switch (pdu.kind) {
      case 'setupReq': {
        const step = pdu.step!;
        this.enqueue('down', { kind: 'setupRsp', step });
        if (step === 'mtu') {
          this.mtu = clampMtu(this.central._mtu, this.peripheral._mtu);
          this.peripheralAnnounced = true;
          emitSafely(() => this.peripheral.emit('connect', this.peripheralLink));
        } else if (step === 'cccd-control' || step === 'cccd-microphone') {
          const ch: NotifyingCharacteristic = step === 'cccd-control' ? 'control' : 'microphone';
          this.subscribed[ch] = true;
          emitSafely(() => this.peripheralLink.emit('subscribe', ch));
        }
        return;
      }
      case 'setupRsp': {
        this.setupIndex++;
        const next = this.setupSteps[this.setupIndex];
        if (next) this.enqueue('up', { kind: 'setupReq', step: next });
        else this.finishConnect();
        return;
      }
      case 'write': {
        const f = this.faultCheck(dir);
        if (f === 'lose') return this.dropBoth('fault');
        const v = pdu.value!;
        this.s.writes++;
        this.s.writesWithResponse++;
        this.s.bytesToPeripheral.control += v.length;
        this.countFlight(dir);
        this.enqueue('down', { kind: 'writeRsp' });
        this.trace(dir, 'control', 'write', v, false);
        emitSafely(() => this.peripheralLink.emit('write', 'control', v));
        if (f === 'drop-after') this.dropBoth('fault');
        return;
      }
      case 'writeRsp': {
        const op = this.control.inFlight;
        if (!op) return;
        this.control.inFlight = undefined;
        this.loop.cancel(op.timeout);
        op.resolve();
        this.pumpControl();
        return;
      }
      case 'writeCmd': {
        this.speakerQueued--;
        const f = this.faultCheck(dir);
        if (f === 'lose') return this.dropBoth('fault');
        const v = pdu.value!;
        this.s.writes++;
        this.s.writesWithoutResponse++;
        this.s.bytesToPeripheral.speaker += v.length;
        this.countFlight(dir);
        this.trace(dir, 'speaker', 'writeWithoutResponse', v, false);
        emitSafely(() => this.peripheralLink.emit('write', 'speaker', v));
        if (f === 'drop-after') return this.dropBoth('fault');
        this.admitSpeaker();
        return;
      }
      case 'indicate': {
        const f = this.faultCheck(dir);
        if (f === 'lose') return this.dropBoth('fault');
        const v = pdu.value!;
        this.s.indications++;
        this.s.bytesToCentral.control += v.length;
        this.countFlight(dir);
        this.enqueue('up', { kind: 'confirm' });
        this.trace(dir, 'control', 'indication', v, false);
        emitSafely(() => this.centralLink.emit('data', 'control', v));
        if (f === 'drop-after') this.dropBoth('fault');
        return;
      }
      case 'confirm': {
        const op = this.indication.inFlight;
        if (!op) return;
        this.indication.inFlight = undefined;
        this.loop.cancel(op.timeout);
        op.resolve();
        this.pumpIndications();
        return;
      }
      case 'notify': {
        this.notifQueued--;
        const f = this.faultCheck(dir);
        if (f === 'lose') return this.dropBoth('fault');
        const v = pdu.value!;
        const { drop } = this.effective();
        if (drop > 0 && this.radio._faultRandom() < drop) {
          this.s.dropped++;
          this.s.droppedInjected++;
          this.trace(dir, 'microphone', 'notification', v, true);
        } else {
          this.s.notifications++;
          this.s.bytesToCentral.microphone += v.length;
          this.countFlight(dir);
          this.trace(dir, 'microphone', 'notification', v, false);
          emitSafely(() => this.centralLink.emit('data', 'microphone', v));
        }
        if (f === 'drop-after') this.dropBoth('fault');
        return;
      }
    }
  }

  // --- ATT operations ------------------------------------------------------------------------------

  write(characteristic: WritableCharacteristic, value: Uint8Array): Promise<void> {
    if (!this.centralOpen || !this.ready) return Promise.reject(disconnectedError(this.closeReason ?? 'local'));
    let v: Uint8Array;
    try {
      if (characteristic !== 'control' && characteristic !== 'speaker') {
        throw new PlushlinkError('BAD_FRAME', `cannot write to characteristic ${String(characteristic)}`);
      }
      v = checkValue(value, this.mtu);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<void>((resolve, reject) => {
      const op: PendingOp = { value: v, resolve, reject };
      if (characteristic === 'control') {
        this.control.queue.push(op);
        this.pumpControl();
      } else {
        this.speakerWaiters.push(op);
        this.admitSpeaker();
      }
    });
  }

  private pumpControl(): void {
    if (this.control.inFlight || this.phase !== 'ready') return;
    const op = this.control.queue.shift();
    if (!op) return;
    this.control.inFlight = op;
    op.timeout = this.loop.at(this.loop.now + this.radio._attTimeoutUs, () => this.attTimeout(op, 'central'));
    this.enqueue('up', { kind: 'write', value: op.value });
  }

  private admitSpeaker(): void {
    if (this.phase !== 'ready') return;
    while (this.speakerWaiters.length > 0 && this.speakerQueued < this.writeQueueSize) {
      const op = this.speakerWaiters.shift()!;
      this.speakerQueued++;
      this.enqueue('up', { kind: 'writeCmd', value: op.value });
      op.resolve();
    }
  }

  send(characteristic: NotifyingCharacteristic, value: Uint8Array): Promise<void> {
    if (!this.peripheralOpen || !this.peripheralAnnounced) return Promise.reject(disconnectedError(this.closeReason ?? 'local'));
    let v: Uint8Array;
    try {
      if (characteristic !== 'control' && characteristic !== 'microphone') {
        throw new PlushlinkError('BAD_FRAME', `cannot send on characteristic ${String(characteristic)}`);
      }
      v = checkValue(value, this.mtu);
      if (!this.subscribed[characteristic]) {
        throw new PlushlinkError('NOT_SUBSCRIBED', `the central has not subscribed to ${characteristic}`, { characteristic });
      }
    } catch (e) {
      return Promise.reject(e);
    }
    if (characteristic === 'microphone') {
      if (this.phase === 'closed') return Promise.resolve(); // lost with the link; the side learns soon
      if (this.notifQueued >= this.notificationQueueSize) {
        this.s.dropped++;
        this.s.droppedQueueFull++;
        return Promise.resolve();
      }
      this.notifQueued++;
      this.enqueue('down', { kind: 'notify', value: v });
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.indication.queue.push({ value: v, resolve, reject });
      this.pumpIndications();
    });
  }

  private pumpIndications(): void {
    if (this.indication.inFlight || (this.phase !== 'ready' && this.phase !== 'setup')) return;
    const op = this.indication.queue.shift();
    if (!op) return;
    this.indication.inFlight = op;
    op.timeout = this.loop.at(this.loop.now + this.radio._attTimeoutUs, () => this.attTimeout(op, 'peripheral'));
    this.enqueue('down', { kind: 'indicate', value: op.value });
  }

  private attTimeout(op: PendingOp, side: 'central' | 'peripheral'): void {
    op.timeout = undefined;
    if (side === 'central' && this.control.inFlight === op) this.control.inFlight = undefined;
    if (side === 'peripheral' && this.indication.inFlight === op) this.indication.inFlight = undefined;
    op.reject(new PlushlinkError('TIMEOUT', 'ATT transaction timed out', { side }));
    this.dropBoth('timeout');
  }

  // --- teardown ------------------------------------------------------------------------------------

  /** Stops all traffic; no PDU moves after this. */
  private stopAir(reason: DisconnectReason): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.closeReason = reason;
    this.loop.cancel(this.event);
    this.event = undefined;
    this.loop.cancel(this.establishEvent);
    this.establishEvent = undefined;
    this.loop.cancel(this.connectTimeout);
    this.connectTimeout = undefined;
    this.loop.cancel(this.control.inFlight?.timeout);
    this.loop.cancel(this.indication.inFlight?.timeout);
    this.queues.up.length = 0;
    this.queues.down.length = 0;
    this.s.disconnectedAt = this.radio.now();
  }

  /** Closes one side now: rejects its pending operations and emits its `disconnect`. */
  closeSide(side: 'central' | 'peripheral', reason: DisconnectReason, connectError?: PlushlinkError): void {
    const err = disconnectedError(reason);
    if (side === 'central') {
      if (!this.centralOpen) return;
      this.centralOpen = false;
      const pending = this.connect;
      this.connect = undefined;
      this.cleanupConnectWatch();
      const ops = [...(this.control.inFlight ? [this.control.inFlight] : []), ...this.control.queue, ...this.speakerWaiters];
      this.control = { queue: [], inFlight: undefined };
      this.speakerWaiters.length = 0;
      for (const op of ops) {
        this.loop.cancel(op.timeout);
        op.reject(err);
      }
      this.central._forget(this);
      if (pending) pending.reject(connectError ?? err);
      else emitSafely(() => this.centralLink.emit('disconnect', reason));
    } else {
      if (!this.peripheralOpen) return;
      this.peripheralOpen = false;
      const ops = [...(this.indication.inFlight ? [this.indication.inFlight] : []), ...this.indication.queue];
      this.indication = { queue: [], inFlight: undefined };
      for (const op of ops) {
        this.loop.cancel(op.timeout);
        op.reject(err);
      }
      this.peripheral._forget(this);
      if (this.peripheralAnnounced) emitSafely(() => this.peripheralLink.emit('disconnect', reason));
    }
    if (!this.centralOpen && !this.peripheralOpen) this.radio._forget(this);
  }

  /** Drops the link on both sides at once (fault, timeout, radio closed). */
  dropBoth(reason: DisconnectReason): void {
    this.stopAir(reason);
    this.closeSide('central', reason);
    this.closeSide('peripheral', reason);
  }

  /**
   * One side disconnects: it closes now with `reason`; the other side learns at the next
   * connection event (reason `'remote'`).
   */
  disconnectFrom(side: 'central' | 'peripheral', reason: DisconnectReason, connectError?: PlushlinkError): void {
    const wasConnecting = this.phase === 'connecting';
    const anchor = this.anchorUs;
    this.stopAir(reason);
    this.closeSide(side, reason, connectError);
    const other = side === 'central' ? 'peripheral' : 'central';
    if (other === 'central' ? !this.centralOpen : !this.peripheralOpen) return;
    if (wasConnecting) {
      this.closeSide(other, 'remote');
      return;
    }
    const now = this.loop.now;
    const next = anchor + (Math.floor((now - anchor) / this.intervalUs) + 1) * this.intervalUs;
    this.radio._loop.at(next, () => this.closeSide(other, 'remote'));
  }
}

// ---------------------------------------------------------------------------------------------
// Links

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

// ---------------------------------------------------------------------------------------------
// Scanning

class ScanIterator implements AsyncIterableIterator<Advertisement> {
  private readonly pending = new Map<string, Advertisement>();
  private waiter: ((r: IteratorResult<Advertisement>) => void) | undefined;
  private started = false;
  private done = false;
  private timer: unknown = undefined;
  private unlistenAbort: (() => void) | undefined;

  constructor(
    private readonly radio: MemoryRadio,
    private readonly central: MemoryCentral,
    private readonly signal: AbortSignal | undefined,
  ) {
    if (signal?.aborted) this.done = true;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Advertisement> {
    return this;
  }

  private start(): void {
    this.started = true;
    if (this.signal) {
      const onAbort = (): void => this.finish();
      this.signal.addEventListener('abort', onAbort, { once: true });
      this.unlistenAbort = () => this.signal?.removeEventListener('abort', onAbort);
    }
    this.central._scans.add(this);
    for (const p of this.radio._advertisers()) this.push(p);
    this.armTimer();
  }

  private armTimer(): void {
    const every = this.radio._advertisingIntervalMs;
    if (every <= 0 || this.done) return;
    this.timer = this.radio._scheduler.setTimeout(() => {
      this.timer = undefined;
      if (this.done) return;
      for (const p of this.radio._advertisers()) this.push(p);
      this.armTimer();
    }, every);
  }

  /** Reports `p`'s current advertisement (or forgets it when it stopped advertising). */
  push(p: MemoryPeripheral): void {
    if (this.done || !this.started) return;
    if (!p._advertising) {
      for (const [k, ad] of this.pending) if (ad.id === p.id || k === p.id) this.pending.delete(k);
      return;
    }
    const ad: Advertisement = { id: p.id, rssi: p._rssi, serviceData: p._serviceData.slice() };
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: ad, done: false });
      return;
    }
    this.pending.delete(ad.id);
    this.pending.set(ad.id, ad);
  }

  /** Forgets a pending advertisement under an address the peripheral no longer uses. */
  forget(id: string): void {
    this.pending.delete(id);
  }

  next(): Promise<IteratorResult<Advertisement>> {
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    if (!this.started) this.start();
    const first = this.pending.entries().next();
    if (!first.done) {
      this.pending.delete(first.value[0]);
      return Promise.resolve({ value: first.value[1], done: false });
    }
    if (this.waiter) return Promise.reject(new Error('scan iterator: next() called while another next() is pending'));
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  return(): Promise<IteratorResult<Advertisement>> {
    this.finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    this.pending.clear();
    if (this.timer !== undefined) this.radio._scheduler.clearTimeout(this.timer);
    this.timer = undefined;
    this.unlistenAbort?.();
    this.unlistenAbort = undefined;
    this.central._scans.delete(this);
    const w = this.waiter;
    this.waiter = undefined;
    w?.({ value: undefined, done: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Central and peripheral

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

// ---------------------------------------------------------------------------------------------
// The radio

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
