/**
 * The link engine of the in-memory radio: one {@link Connection} holds both ends of a link and
 * moves its PDUs at connection events, under the timing model, ATT rules and round-trip counting
 * described in ./radio.ts; {@link MemoryCentralLink} and {@link MemoryPeripheralLink} are its two
 * public ends.
 */
import { EventEmitter } from 'eventemitter3';
import { PlushlinkError } from '../../protocol/errors.js';
import {
  MIN_ATT_MTU,
  type CentralConnectOptions,
  type CentralLink,
  type CentralLinkEvents,
  type CharacteristicName,
  type NotifyingCharacteristic,
  type PeripheralLink,
  type PeripheralLinkEvents,
  type WritableCharacteristic,
} from '../types.js';
import { checkValue, clampMtu, disconnectedError, emitSafely } from './checks.js';
import { armSpec, LinkFaults } from './faults.js';
import type { SimEvent, SimLoop } from './scheduler.js';
import { copyLinkStats, newLinkStats, type DisconnectReason, type LinkStats, type PduTrace } from './types.js';
import type { MemoryCentral } from './central.js';
import type { MemoryPeripheral } from './peripheral.js';
import type { MemoryRadio } from './radio.js';

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

/** The four kinds of application PDU (the only ones that count as flights, round trips and PDUs for faults). */
type ApplicationPduKind = 'write' | 'writeCmd' | 'indicate' | 'notify';

/** How one kind of application PDU is delivered: to whom, on which characteristic, counted where, answered with what. */
type ApplicationPdu =
  | {
      to: 'peripheral';
      characteristic: WritableCharacteristic;
      trace: PduTrace['kind'];
      counter: 'writesWithResponse' | 'writesWithoutResponse';
      answer?: 'writeRsp';
    }
  | {
      to: 'central';
      characteristic: NotifyingCharacteristic;
      trace: PduTrace['kind'];
      counter: 'indications' | 'notifications';
      answer?: 'confirm';
    };

const APPLICATION_PDUS: Readonly<Record<ApplicationPduKind, ApplicationPdu>> = {
  write: { to: 'peripheral', characteristic: 'control', trace: 'write', counter: 'writesWithResponse', answer: 'writeRsp' },
  writeCmd: { to: 'peripheral', characteristic: 'speaker', trace: 'writeWithoutResponse', counter: 'writesWithoutResponse' },
  indicate: { to: 'central', characteristic: 'control', trace: 'indication', counter: 'indications', answer: 'confirm' },
  notify: { to: 'central', characteristic: 'microphone', trace: 'notification', counter: 'notifications' },
};

/** The connection (both ends of one link). */
export class Connection {
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
    this.s = newLinkStats(radio.now());
    for (const spec of radio.faults._nextConnect.splice(0)) this.faults._armed.push(armSpec(spec));
    peripheral._adopt(this);
  }

  private get loop(): SimLoop {
    return this.radio._loop;
  }

  stats(): LinkStats {
    return copyLinkStats(this.s);
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

  /** A PDU reached the other end at a connection event. */
  private deliver(dir: Dir, pdu: Pdu): void {
    switch (pdu.kind) {
      case 'setupReq':
        return this.onSetupRequest(pdu.step!);
      case 'setupRsp':
        return this.onSetupResponse();
      case 'writeRsp':
        return this.onAnswer(this.control, () => this.pumpControl());
      case 'confirm':
        return this.onAnswer(this.indication, () => this.pumpIndications());
      case 'writeCmd':
        this.speakerQueued--;
        break;
      case 'notify':
        this.notifQueued--;
        break;
    }
    this.deliverApplication(dir, pdu.value!, APPLICATION_PDUS[pdu.kind as ApplicationPduKind]);
    if (pdu.kind === 'writeCmd' && this.phase !== 'closed') this.admitSpeaker();
  }

  private onSetupRequest(step: SetupStep): void {
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
  }

  private onSetupResponse(): void {
    this.setupIndex++;
    const next = this.setupSteps[this.setupIndex];
    if (next) this.enqueue('up', { kind: 'setupReq', step: next });
    else this.finishConnect();
  }

  /** A write response or an indication confirmation: the operation in flight is done, the next may go. */
  private onAnswer(transaction: { inFlight: PendingOp | undefined }, next: () => void): void {
    const op = transaction.inFlight;
    if (!op) return;
    transaction.inFlight = undefined;
    this.loop.cancel(op.timeout);
    op.resolve();
    next();
  }

  /**
   * One application PDU (see {@link APPLICATION_PDUS}) reaches its receiver: armed disconnects
   * count it (and may lose it with the link, or drop the link after it), a notification may be
   * lost to the injected drop rate, then it is counted, answered (write response, confirmation),
   * traced and handed to the receiving end.
   */
  private deliverApplication(dir: Dir, value: Uint8Array, pdu: ApplicationPdu): void {
    const f = this.faultCheck(dir);
    if (f === 'lose') return this.dropBoth('fault');
    if (pdu.counter === 'notifications' && this.lostInAir()) {
      this.s.dropped++;
      this.s.droppedInjected++;
      this.trace(dir, pdu.characteristic, pdu.trace, value, true);
    } else {
      this.s[pdu.counter]++;
      if (pdu.to === 'peripheral') {
        this.s.writes++;
        this.s.bytesToPeripheral[pdu.characteristic] += value.length;
      } else {
        this.s.bytesToCentral[pdu.characteristic] += value.length;
      }
      this.countFlight(dir);
      if (pdu.answer) this.enqueue(dir === 'up' ? 'down' : 'up', { kind: pdu.answer });
      this.trace(dir, pdu.characteristic, pdu.trace, value, false);
      if (pdu.to === 'peripheral') emitSafely(() => this.peripheralLink.emit('write', pdu.characteristic, value));
      else emitSafely(() => this.centralLink.emit('data', pdu.characteristic, value));
    }
    if (f === 'drop-after') this.dropBoth('fault');
  }

  /** The injected notification drop rate (seeded PRNG, drawn only when the rate is above 0). */
  private lostInAir(): boolean {
    const { drop } = this.effective();
    return drop > 0 && this.radio._faultRandom() < drop;
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
