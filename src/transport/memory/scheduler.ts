/**
 * Timer plumbing of the in-memory radio: an injectable wall-clock {@link Scheduler} and the
 * discrete-event loop ({@link SimLoop}) that keeps the simulated radio clock.
 */

/**
 * Wall-clock timers the radio uses. The default resolves the global `setTimeout` /
 * `setImmediate` at call time, so vitest fake timers installed after import are honoured.
 * Inject your own to drive the radio from a test clock.
 */
export interface Scheduler {
  /** Calls `callback` once after about `ms` wall-clock milliseconds (0 = as soon as possible). */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a handle returned by {@link Scheduler.setTimeout}; ignores unknown or fired handles. */
  clearTimeout(handle: unknown): void;
}

type Handle = { kind: 'immediate'; h: ReturnType<typeof setImmediate> } | { kind: 'timeout'; h: ReturnType<typeof setTimeout> };

/** The default {@link Scheduler}: `setImmediate` for zero delays (where it exists), else `setTimeout`. */
export const defaultScheduler: Scheduler = {
  setTimeout(callback, ms) {
    if (ms <= 0 && typeof setImmediate === 'function') return { kind: 'immediate', h: setImmediate(callback) } satisfies Handle;
    return { kind: 'timeout', h: setTimeout(callback, Math.max(0, ms)) } satisfies Handle;
  },
  clearTimeout(handle) {
    const h = handle as Handle | undefined;
    if (!h || typeof h !== 'object') return;
    if (h.kind === 'immediate') clearImmediate(h.h);
    else clearTimeout(h.h);
  },
};

/** One scheduled simulation event. */
export interface SimEvent {
  /** Simulated time of the event, in microseconds. */
  readonly timeUs: number;
  /** Tie-breaker: events at the same time run in scheduling order. */
  readonly seq: number;
  /** Set by {@link SimLoop.cancel}; a cancelled event never runs and never advances the clock. */
  cancelled: boolean;
  readonly run: () => void;
}

/**
 * A discrete-event loop over simulated time (integer microseconds). Events run one per
 * wall-clock timer tick, in (time, seq) order; the simulated clock jumps to each event's time,
 * so idle periods and application CPU time cost no simulated time. `timeScale` maps simulated
 * to wall-clock time (1 = real time, 0 = as fast as possible).
 */
export class SimLoop {
  private nowUs = 0;
  private seq = 0;
  private readonly heap: SimEvent[] = [];
  private timer: unknown = undefined;
  private armedFor: SimEvent | undefined = undefined;
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly scheduler: Scheduler,
    private readonly timeScale: number,
  ) {}

  /** Current simulated time in microseconds. */
  get now(): number {
    return this.nowUs;
  }

  /** True when no wall-clock timer is armed (nothing pending). */
  get idle(): boolean {
    return this.timer === undefined;
  }

  /** Resolves the next time no event is pending (at once when already idle or closed). */
  whenIdle(): Promise<void> {
    if (this.idle || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Schedules `run` at simulated time `timeUs` (clamped to now). After {@link close}, returns a dead event. */
  at(timeUs: number, run: () => void): SimEvent {
    const ev: SimEvent = { timeUs: Math.max(this.nowUs, Math.round(timeUs)), seq: this.seq++, cancelled: this.closed, run };
    if (this.closed) return ev;
    this.push(ev);
    this.arm();
    return ev;
  }

  /** Cancels an event (idempotent). */
  cancel(ev: SimEvent | undefined): void {
    if (!ev || ev.cancelled) return;
    ev.cancelled = true;
    this.arm();
  }

  /** Drops every pending event and the wall-clock timer; later {@link at} calls are no-ops. */
  close(): void {
    this.closed = true;
    for (const ev of this.heap) ev.cancelled = true;
    this.heap.length = 0;
    this.disarm();
    this.flushIdle();
  }

  private flushIdle(): void {
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  private disarm(): void {
    if (this.timer !== undefined) this.scheduler.clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = undefined;
  }

  private arm(): void {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop();
    const head = this.heap[0];
    if (!head) {
      this.disarm();
      this.flushIdle();
      return;
    }
    if (this.armedFor === head && this.timer !== undefined) return;
    this.disarm();
    const delayMs = ((head.timeUs - this.nowUs) / 1000) * this.timeScale;
    this.armedFor = head;
    this.timer = this.scheduler.setTimeout(() => this.fire(head), delayMs);
  }

  private fire(expected: SimEvent): void {
    this.timer = undefined;
    this.armedFor = undefined;
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop();
    const head = this.heap[0];
    if (head !== expected || !head) {
      this.arm();
      return;
    }
    this.pop();
    if (head.timeUs > this.nowUs) this.nowUs = head.timeUs;
    try {
      head.run();
    } catch (e) {
      queueMicrotask(() => {
        throw e;
      });
    }
    if (!this.closed) this.arm();
  }

  private less(a: SimEvent, b: SimEvent): boolean {
    return a.timeUs < b.timeUs || (a.timeUs === b.timeUs && a.seq < b.seq);
  }

  private push(ev: SimEvent): void {
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): SimEvent | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
