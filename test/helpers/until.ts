/**
 * The one polling wait of the test suite. It resolves `true` once `cond()` holds and **throws**
 * (naming `what`) when it never does, so `await until(…)` can never pass silently.
 *
 * The time limit is a hang guard, not a verdict: a test's outcome must not depend on machine
 * speed, so the limit is at least {@link HANG_GUARD_MS} whatever a caller passes (a caller's `ms`
 * can only lengthen it). A test that needs "not within N ms" uses a fake clock, not this.
 */

/** The least time any wait is given before it is declared hung (a loaded 2-core CI machine). */
export const HANG_GUARD_MS = 60_000;

/** Polls `cond` (every few ms, wall clock) until it holds; throws after max(`ms`, {@link HANG_GUARD_MS}). */
export async function until(cond: () => boolean, ms = HANG_GUARD_MS, what = 'condition'): Promise<true> {
  const limit = Math.max(ms, HANG_GUARD_MS);
  const end = Date.now() + limit;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} not reached within ${limit} ms (a hang guard)`);
    await new Promise((r) => setTimeout(r, 2));
  }
  return true;
}
