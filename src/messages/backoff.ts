/**
 * Retry timing shared by the outbox and the relay clients: exponential backoff with jitter and an
 * abortable sleep. Pure: no `node:` imports (the browser app uses it through {@link HttpRelay}).
 */
import { PlushlinkError } from '../protocol/errors.js';

/** Sleep used between retries; must reject (with `ABORTED`) when `signal` aborts. */
export type SleepFn = (ms: number, signal?: AbortSignal) => Promise<void>;

/** The default {@link SleepFn}: a timer that rejects with `ABORTED` on abort. */
export const defaultSleep: SleepFn = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new PlushlinkError('ABORTED', 'aborted'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new PlushlinkError('ABORTED', 'aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Retry delay before attempt `retry + 1` (retry ≥ 1): min(max, base·2^(retry−1)) scaled by
 * 0.5 + 0.5·jitter (docs/MESSAGES.md §4).
 */
export function backoffDelay(retry: number, baseDelayMs: number, maxDelayMs: number, jitter: number): number {
  const d = Math.min(maxDelayMs, baseDelayMs * 2 ** (retry - 1));
  return Math.round(d * (0.5 + 0.5 * jitter));
}
