/**
 * Scanning on the in-memory radio: a scan reports every current advertisement at once, then each
 * change, and every advertisement again each advertising interval (wall clock of the scheduler;
 * advertising is not part of the simulated link timing).
 */
import type { Advertisement } from '../types.js';
import type { MemoryCentral } from './central.js';
import type { MemoryPeripheral } from './peripheral.js';
import type { MemoryRadio } from './radio.js';

/** One running scan of a {@link MemoryCentral}. */
export class ScanIterator implements AsyncIterableIterator<Advertisement> {
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
