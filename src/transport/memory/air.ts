/**
 * The air of one in-memory link: a FIFO of PDUs per direction, each eligible once its injected
 * latency and jitter have passed, moved at connection events on the link's grid
 * (`anchor + k · interval`), at most `pdusPerEvent` per direction per event, central → peripheral
 * first (the timing model of ./radio.ts). What a PDU does when it arrives is the connection's
 * business (./connection.ts, ./delivery.ts).
 */
import type { LinkFaults } from './faults.js';
import type { MemoryRadio } from './radio.js';
import type { SimEvent, SimLoop } from './scheduler.js';

/** `up`: central → peripheral; `down`: peripheral → central. */
export type Dir = 'up' | 'down';
/** The GATT setup exchanges of a new link, in order (see ./radio.ts, "Connection setup"). */
export type SetupStep = 'mtu' | 'discover' | 'cccd-control' | 'cccd-microphone';
export type PduKind = 'setupReq' | 'setupRsp' | 'write' | 'writeRsp' | 'writeCmd' | 'indicate' | 'confirm' | 'notify';

export interface Pdu {
  kind: PduKind;
  value?: Uint8Array;
  step?: SetupStep;
  enqueuedAt: number;
  eligibleAt: number;
}

/** The life of a link, as the air sees it: nothing moves while connecting or once closed. */
export type LinkPhase = 'connecting' | 'setup' | 'ready' | 'closed';

/** What the air needs of its connection. */
export interface AirHost {
  readonly radio: MemoryRadio;
  readonly faults: LinkFaults;
  readonly intervalUs: number;
  readonly phase: LinkPhase;
  /** A connection event happened (counted in the link's stats). */
  countEvent(): void;
  /** A PDU reached the other end at a connection event. */
  deliver(dir: Dir, pdu: Pdu): void;
}

/** The faults in force on a link: its own overrides, else the radio's. */
export function effectiveFaults(radio: MemoryRadio, faults: LinkFaults): { drop: number; latency: number; jitter: number } {
  const rf = radio.faults;
  return {
    drop: faults.notificationDropRate ?? rf.notificationDropRate,
    latency: faults.latencyMs ?? rf.latencyMs,
    jitter: faults.jitterMs ?? rf.jitterMs,
  };
}

/** The two PDU queues of one link and its connection events. */
export class Air {
  /** Time of the first connection event (simulated µs); the grid is `anchor + k · interval`. */
  anchorUs = 0;
  private readonly queues: Record<Dir, Pdu[]> = { up: [], down: [] };
  private readonly lastEligible: Record<Dir, number> = { up: 0, down: 0 };
  private event: SimEvent | undefined;

  constructor(private readonly host: AirHost) {}

  private get loop(): SimLoop {
    return this.host.radio._loop;
  }

  /** Queues a PDU in `dir`, eligible after the injected latency and jitter (never before the one queued ahead of it). */
  enqueue(dir: Dir, pdu: Omit<Pdu, 'enqueuedAt' | 'eligibleAt'>): void {
    if (this.host.phase === 'closed' || this.host.phase === 'connecting') return;
    const now = this.loop.now;
    const { latency, jitter } = effectiveFaults(this.host.radio, this.host.faults);
    let eligible = now + Math.round(latency * 1000 + (jitter > 0 ? this.host.radio._faultRandom() * jitter * 1000 : 0));
    eligible = Math.max(eligible, this.lastEligible[dir]);
    this.lastEligible[dir] = eligible;
    this.queues[dir].push({ ...pdu, enqueuedAt: now, eligibleAt: eligible });
    this.scheduleEvent();
  }

  /** The first connection event strictly after `now` (where the other side learns of a disconnect). */
  nextEventAfter(now: number): number {
    const anchor = this.anchorUs;
    return anchor + (Math.floor((now - anchor) / this.host.intervalUs) + 1) * this.host.intervalUs;
  }

  /** Stops all traffic: no PDU moves after this. */
  stop(): void {
    this.loop.cancel(this.event);
    this.event = undefined;
    this.queues.up.length = 0;
    this.queues.down.length = 0;
  }

  private gridAtOrAfter(t: number): number {
    if (t <= this.anchorUs) return this.anchorUs;
    return this.anchorUs + Math.ceil((t - this.anchorUs) / this.host.intervalUs) * this.host.intervalUs;
  }

  private scheduleEvent(): void {
    if (this.host.phase === 'closed') return;
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
    if (this.host.phase === 'closed') return;
    const now = this.loop.now;
    this.host.countEvent();
    const perEvent = this.host.radio._pdusPerEvent;
    for (const dir of ['up', 'down'] as const) {
      let n = 0;
      while (n < perEvent && (this.host.phase as LinkPhase) !== 'closed') {
        const h = this.queues[dir][0];
        if (!h || h.enqueuedAt >= now || h.eligibleAt > now) break;
        this.queues[dir].shift();
        n++;
        this.host.deliver(dir, h);
      }
    }
    this.scheduleEvent();
  }
}
