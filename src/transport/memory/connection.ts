/**
 * One connection of the in-memory radio, both its ends: its life — connect, the GATT setup
 * exchanges, teardown on either side — and the dispatch of each PDU that arrives, under the rules
 * of ./radio.ts. The PDUs travel through its air (./air.ts); its ATT operations are ./att.ts; an
 * application PDU that arrives is delivered by ./delivery.ts; its public ends are ./link.ts.
 */
import { PlushlinkError } from '../../protocol/errors.js';
import { MIN_ATT_MTU, type CentralConnectOptions, type NotifyingCharacteristic, type WritableCharacteristic } from '../types.js';
import { Air, type Dir, type LinkPhase, type Pdu, type SetupStep } from './air.js';
import { clampMtu, disconnectedError, emitSafely } from './checks.js';
import { armSpec, LinkFaults } from './faults.js';
import type { SimEvent, SimLoop } from './scheduler.js';
import { AttOperations } from './att.js';
import { ApplicationDelivery, type ApplicationPduKind } from './delivery.js';
import { MemoryCentralLink, MemoryPeripheralLink } from './link.js';
import { copyLinkStats, newLinkStats, type DisconnectReason, type LinkStats } from './types.js';
import type { MemoryCentral } from './central.js';
import type { MemoryPeripheral } from './peripheral.js';
import type { MemoryRadio } from './radio.js';

interface Deferred {
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** The connection (both ends of one link). */
export class Connection {
  readonly serial: number;
  readonly intervalUs: number;
  readonly faults: LinkFaults;
  readonly centralLink: MemoryCentralLink;
  readonly peripheralLink: MemoryPeripheralLink;
  mtu = MIN_ATT_MTU;
  phase: LinkPhase = 'connecting';
  centralOpen = true;
  peripheralOpen = true;
  peripheralAnnounced = false;
  /** True once `connect()` resolved. */
  ready = false;
  /** Why the link went down (first reason wins). */
  closeReason: DisconnectReason | undefined;
  private readonly air: Air;
  private readonly delivery: ApplicationDelivery;
  private readonly att: AttOperations;
  private readonly setupSteps: SetupStep[];
  private setupIndex = 0;
  private connect: (Deferred & { resolveLink: (l: MemoryCentralLink) => void }) | undefined;
  private connectTimeout: SimEvent | undefined;
  private establishEvent: SimEvent | undefined;
  private unlistenAbort: (() => void) | undefined;
  readonly subscribed: Record<NotifyingCharacteristic, boolean> = { control: false, microphone: false };
  private readonly s: LinkStats;

  constructor(
    readonly radio: MemoryRadio,
    readonly central: MemoryCentral,
    readonly peripheral: MemoryPeripheral,
    readonly targetId: string,
    writeQueueSize: number,
    notificationQueueSize: number,
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
    this.air = new Air(this);
    this.delivery = new ApplicationDelivery(this, this.air, this.s);
    this.att = new AttOperations(this, this.air, this.s, writeQueueSize, notificationQueueSize);
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
    this.air.anchorUs = this.loop.now;
    this.s.establishedAt = this.radio.now();
    this.s.connectionEvents++;
    this.s.setupEvents++;
    this.air.enqueue('up', { kind: 'setupReq', step: this.setupSteps[0]! });
  }

  private finishConnect(): void {
    this.cleanupConnectWatch();
    const c = this.connect;
    this.connect = undefined;
    this.phase = 'ready';
    this.ready = true;
    this.s.readyAt = this.radio.now();
    c?.resolveLink(this.centralLink);
    this.att.pumpIndications();
  }

  private cleanupConnectWatch(): void {
    this.loop.cancel(this.connectTimeout);
    this.connectTimeout = undefined;
    this.unlistenAbort?.();
    this.unlistenAbort = undefined;
  }

  // --- what arrives -------------------------------------------------------------------------------

  /** @internal (the air) A connection event happened. */
  countEvent(): void {
    this.s.connectionEvents++;
    if (this.phase !== 'ready') this.s.setupEvents++;
  }

  /** @internal (the air) A PDU reached the other end at a connection event. */
  deliver(dir: Dir, pdu: Pdu): void {
    switch (pdu.kind) {
      case 'setupReq':
        return this.onSetupRequest(pdu.step!);
      case 'setupRsp':
        return this.onSetupResponse();
      case 'writeRsp':
        return this.att.onWriteResponse();
      case 'confirm':
        return this.att.onConfirmation();
      case 'writeCmd':
        this.att.speakerDelivered();
        break;
      case 'notify':
        this.att.notificationDelivered();
        break;
    }
    this.delivery.deliver(dir, pdu.kind as ApplicationPduKind, pdu.value!);
    if (pdu.kind === 'writeCmd' && this.phase !== 'closed') this.att.admitSpeaker();
  }

  private onSetupRequest(step: SetupStep): void {
    this.air.enqueue('down', { kind: 'setupRsp', step });
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
    if (next) this.air.enqueue('up', { kind: 'setupReq', step: next });
    else this.finishConnect();
  }

  // --- ATT operations (./att.ts) -------------------------------------------------------------------

  write(characteristic: WritableCharacteristic, value: Uint8Array): Promise<void> {
    return this.att.write(characteristic, value);
  }

  send(characteristic: NotifyingCharacteristic, value: Uint8Array): Promise<void> {
    return this.att.send(characteristic, value);
  }

  // --- teardown ------------------------------------------------------------------------------------

  /** Stops all traffic; no PDU moves after this. */
  private stopAir(reason: DisconnectReason): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.closeReason = reason;
    this.air.stop();
    this.loop.cancel(this.establishEvent);
    this.establishEvent = undefined;
    this.loop.cancel(this.connectTimeout);
    this.connectTimeout = undefined;
    this.att.stopTimers();
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
      this.att.rejectSide('central', err);
      this.central._forget(this);
      if (pending) pending.reject(connectError ?? err);
      else emitSafely(() => this.centralLink.emit('disconnect', reason));
    } else {
      if (!this.peripheralOpen) return;
      this.peripheralOpen = false;
      this.att.rejectSide('peripheral', err);
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
    this.stopAir(reason);
    this.closeSide(side, reason, connectError);
    const other = side === 'central' ? 'peripheral' : 'central';
    if (other === 'central' ? !this.centralOpen : !this.peripheralOpen) return;
    if (wasConnecting) {
      this.closeSide(other, 'remote');
      return;
    }
    const now = this.loop.now;
    const next = this.air.nextEventAfter(now);
    this.radio._loop.at(next, () => this.closeSide(other, 'remote'));
  }
}
