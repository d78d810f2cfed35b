/**
 * How late timers fire on this event loop, as seen by the speaker's batch deadlines
 * (docs/PROTOCOL.md §9): the batch deadline is set this much before the latency budget ends, so
 * the hand-off lands within the budget including the jitter, instead of the jitter adding to it.
 * The allowance is the largest lateness of the last `window` timers plus a margin for sealing and
 * the link write, never less than `minMs` and never more than half the budget.
 */
export class JitterAllowance {
  private readonly samples: number[] = [];

  constructor(
    /** Assumed lateness before any timer was observed (a busy event loop: a few ms). */
    private readonly initialMs = 4,
    private readonly window = 32,
    /** Added for sealing the record and starting the write. */
    private readonly marginMs = 1,
    private readonly minMs = 2,
  ) {}

  /** Notes how late (ms; ≤ 0 for on time) a timer fired after the time it was set for. */
  record(latenessMs: number): void {
    if (!Number.isFinite(latenessMs)) return;
    this.samples.push(Math.max(0, latenessMs));
    if (this.samples.length > this.window) this.samples.shift();
  }

  /** The margin a deadline within `budgetMs` keeps. */
  allowanceMs(budgetMs: number): number {
    const observed = this.samples.length ? Math.max(...this.samples) : this.initialMs;
    return Math.min(budgetMs / 2, Math.max(this.minMs, observed + this.marginMs));
  }
}
