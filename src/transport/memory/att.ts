/**
 * The ATT operations of one in-memory link, under the rules of ./radio.ts: one write request
 * (control) and one indication in flight at a time, each settled by its answer or failed by the
 * ATT timeout (which drops the link); writes without response (speaker) through a bounded queue
 * with backpressure; notifications (microphone) through a bounded queue that drops and counts
 * when full. Values are checked against the MTU before anything is queued.
 */
import { PlushlinkError } from '../../protocol/errors.js';
import type { NotifyingCharacteristic, WritableCharacteristic } from '../types.js';
import type { Air } from './air.js';
import { checkValue, disconnectedError } from './checks.js';
import type { Connection } from './connection.js';
import type { SimEvent, SimLoop } from './scheduler.js';
import type { LinkStats } from './types.js';

interface PendingOp {
  value: Uint8Array;
  resolve: () => void;
  reject: (e: unknown) => void;
  timeout?: SimEvent;
}

/** One ATT transaction kind: a queue and at most one operation in flight. */
interface Transaction {
  queue: PendingOp[];
  inFlight: PendingOp | undefined;
}

/** The ATT operations of one connection (both sides). */
export class AttOperations {
  private control: Transaction = { queue: [], inFlight: undefined };
  private indication: Transaction = { queue: [], inFlight: undefined };
  private speakerQueued = 0;
  private readonly speakerWaiters: PendingOp[] = [];
  private notifQueued = 0;

  constructor(
    private readonly conn: Connection,
    private readonly air: Air,
    private readonly s: LinkStats,
    private readonly writeQueueSize: number,
    private readonly notificationQueueSize: number,
  ) {}

  private get loop(): SimLoop {
    return this.conn.radio._loop;
  }

  /** The central writes `value` (control: a write request; speaker: a write without response). */
  write(characteristic: WritableCharacteristic, value: Uint8Array): Promise<void> {
    const conn = this.conn;
    if (!conn.centralOpen || !conn.ready) return Promise.reject(disconnectedError(conn.closeReason ?? 'local'));
    let v: Uint8Array;
    try {
      if (characteristic !== 'control' && characteristic !== 'speaker') {
        throw new PlushlinkError('BAD_FRAME', `cannot write to characteristic ${String(characteristic)}`);
      }
      v = checkValue(value, conn.mtu);
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

  /** The peripheral sends `value` (control: an indication; microphone: a notification). */
  send(characteristic: NotifyingCharacteristic, value: Uint8Array): Promise<void> {
    const conn = this.conn;
    if (!conn.peripheralOpen || !conn.peripheralAnnounced) return Promise.reject(disconnectedError(conn.closeReason ?? 'local'));
    let v: Uint8Array;
    try {
      if (characteristic !== 'control' && characteristic !== 'microphone') {
        throw new PlushlinkError('BAD_FRAME', `cannot send on characteristic ${String(characteristic)}`);
      }
      v = checkValue(value, conn.mtu);
      if (!conn.subscribed[characteristic]) {
        throw new PlushlinkError('NOT_SUBSCRIBED', `the central has not subscribed to ${characteristic}`, { characteristic });
      }
    } catch (e) {
      return Promise.reject(e);
    }
    if (characteristic === 'microphone') {
      if (conn.phase === 'closed') return Promise.resolve(); // lost with the link; the side learns soon
      if (this.notifQueued >= this.notificationQueueSize) {
        this.s.dropped++;
        this.s.droppedQueueFull++;
        return Promise.resolve();
      }
      this.notifQueued++;
      this.air.enqueue('down', { kind: 'notify', value: v });
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.indication.queue.push({ value: v, resolve, reject });
      this.pumpIndications();
    });
  }

  /** A write response arrived: the write request in flight is done, the next may go. */
  onWriteResponse(): void {
    this.onAnswer(this.control, () => this.pumpControl());
  }

  /** An indication's confirmation arrived: the indication in flight is done, the next may go. */
  onConfirmation(): void {
    this.onAnswer(this.indication, () => this.pumpIndications());
  }

  /** A write without response left the speaker queue (it reached the peripheral). */
  speakerDelivered(): void {
    this.speakerQueued--;
  }

  /** A notification left the microphone queue (it reached the central). */
  notificationDelivered(): void {
    this.notifQueued--;
  }

  /** Moves speaker writes waiting for room into the queue (settling each). */
  admitSpeaker(): void {
    if (this.conn.phase !== 'ready') return;
    while (this.speakerWaiters.length > 0 && this.speakerQueued < this.writeQueueSize) {
      const op = this.speakerWaiters.shift()!;
      this.speakerQueued++;
      this.air.enqueue('up', { kind: 'writeCmd', value: op.value });
      op.resolve();
    }
  }

  /** Sends the next queued indication when none is in flight (from the setup phase on). */
  pumpIndications(): void {
    if (this.indication.inFlight || (this.conn.phase !== 'ready' && this.conn.phase !== 'setup')) return;
    const op = this.indication.queue.shift();
    if (!op) return;
    this.indication.inFlight = op;
    op.timeout = this.loop.at(this.loop.now + this.conn.radio._attTimeoutUs, () => this.attTimeout(op, 'peripheral'));
    this.air.enqueue('down', { kind: 'indicate', value: op.value });
  }

  /** The link stopped: no ATT timeout may fire any more. */
  stopTimers(): void {
    this.loop.cancel(this.control.inFlight?.timeout);
    this.loop.cancel(this.indication.inFlight?.timeout);
  }

  /** Rejects every pending operation of one side with `err` (that side closed). */
  rejectSide(side: 'central' | 'peripheral', err: PlushlinkError): void {
    let ops: PendingOp[];
    if (side === 'central') {
      ops = [...(this.control.inFlight ? [this.control.inFlight] : []), ...this.control.queue, ...this.speakerWaiters];
      this.control = { queue: [], inFlight: undefined };
      this.speakerWaiters.length = 0;
    } else {
      ops = [...(this.indication.inFlight ? [this.indication.inFlight] : []), ...this.indication.queue];
      this.indication = { queue: [], inFlight: undefined };
    }
    for (const op of ops) {
      this.loop.cancel(op.timeout);
      op.reject(err);
    }
  }

  private pumpControl(): void {
    if (this.control.inFlight || this.conn.phase !== 'ready') return;
    const op = this.control.queue.shift();
    if (!op) return;
    this.control.inFlight = op;
    op.timeout = this.loop.at(this.loop.now + this.conn.radio._attTimeoutUs, () => this.attTimeout(op, 'central'));
    this.air.enqueue('up', { kind: 'write', value: op.value });
  }

  /** A write response or an indication confirmation: the operation in flight is done, the next may go. */
  private onAnswer(transaction: Transaction, next: () => void): void {
    const op = transaction.inFlight;
    if (!op) return;
    transaction.inFlight = undefined;
    this.loop.cancel(op.timeout);
    op.resolve();
    next();
  }

  private attTimeout(op: PendingOp, side: 'central' | 'peripheral'): void {
    op.timeout = undefined;
    if (side === 'central' && this.control.inFlight === op) this.control.inFlight = undefined;
    if (side === 'peripheral' && this.indication.inFlight === op) this.indication.inFlight = undefined;
    op.reject(new PlushlinkError('TIMEOUT', 'ATT transaction timed out', { side }));
    this.conn.dropBoth('timeout');
  }
}
