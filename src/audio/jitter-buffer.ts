/**
 * Jitter buffer for the microphone path. Pure logic: no timers, no I/O. The caller pushes frames
 * tagged with a uint32 sequence number (wrapping) as they arrive; the buffer returns, in strict
 * sequence order, every output that became ready: a received frame, or a run of lost frames.
 *
 * Policy:
 * - Frames in order are released at once (no added latency when nothing is missing).
 * - A missing frame is declared lost once a frame at least `depth` sequence numbers later has
 *   arrived (e.g. depth 3 = 60 ms of reordering tolerance at 20 ms frames).
 * - At most `window` frames are held: a frame `window` or more ahead of the next expected one
 *   forces the buffer forward (held frames released, the rest declared lost).
 * - A frame whose sequence number was already released is dropped and counted: as a duplicate
 *   when it was released as a frame, as late when it had been declared lost.
 * - Lost runs are one marker `{ kind: 'lost', seq, count }`, so even a huge jump costs O(window).
 * - With a playout clock, call {@link JitterBuffer.forceNext} when a frame is due and none is
 *   ready; at the end of a stream, {@link JitterBuffer.flush}.
 * Every sequence number from the first expected one up to the last one released is output exactly
 * once, as a frame or inside a lost run.
 */
import { PlushlinkError } from '../protocol/errors.js';

/** One output of the {@link JitterBuffer}, in strict sequence order. */
export type JitterOutput<T> =
  | { kind: 'frame'; seq: number; data: T }
  /** `count` consecutive frames starting at `seq` (mod 2^32) are lost: conceal them. */
  | { kind: 'lost'; seq: number; count: number };

/** Options of {@link JitterBuffer}. */
export interface JitterBufferOptions {
  /** Frames to wait past a missing one before declaring it lost (≥ 0). Default 3. */
  depth?: number;
  /** Most frames held, i.e. the largest reordering span (> depth, ≤ 65536). Default 64. */
  window?: number;
  /** Sequence number of the first expected frame. Default: that of the first frame pushed. */
  firstSeq?: number;
}

/** Counters of a {@link JitterBuffer}. */
export interface JitterBufferStats {
  /** Distinct frames accepted. */
  received: number;
  /** Frames dropped because the same sequence number was already held or released. */
  duplicates: number;
  /** Frames dropped because their sequence number had already been declared lost. */
  late: number;
  /** Frames declared lost (sum of lost-run counts). */
  lost: number;
  /** Frames released as `kind: 'frame'`. */
  released: number;
}

const U32 = 0x1_0000_0000;

function checkSeq(seq: number): number {
  if (!Number.isInteger(seq) || seq < 0 || seq >= U32) {
    throw new PlushlinkError('BAD_AUDIO', 'frame sequence number must be a uint32', { seq });
  }
  return seq;
}

/** Jitter buffer over frames of type `T` (an Opus packet by default). See the module comment. */
export class JitterBuffer<T = Uint8Array> {
  readonly depth: number;
  readonly window: number;
  readonly stats: JitterBufferStats = { received: 0, duplicates: 0, late: 0, lost: 0, released: 0 };
  #next: number | undefined;
  /** Held frames, keyed by sequence number; all within [next, next + window). */
  #held = new Map<number, T>();
  /** Offset from `next` of the highest held frame (valid when held is non-empty). */
  #highestOff = -1;
  /** Sequence numbers recently released as frames (≤ window entries, oldest first). */
  #recent = new Map<number, true>();

  constructor(options: JitterBufferOptions = {}) {
    const depth = options.depth ?? 3;
    const window = options.window ?? 64;
    if (!Number.isInteger(depth) || depth < 0) throw new PlushlinkError('BAD_AUDIO', 'depth must be an integer ≥ 0', { depth });
    if (!Number.isInteger(window) || window <= depth || window > 65536) {
      throw new PlushlinkError('BAD_AUDIO', 'window must be an integer in (depth, 65536]', { window, depth });
    }
    this.depth = depth;
    this.window = window;
    if (options.firstSeq !== undefined) this.#next = checkSeq(options.firstSeq);
  }

  /** Sequence number of the next frame to be released (undefined before the first push). */
  get nextSeq(): number | undefined {
    return this.#next;
  }

  /** Number of frames held (waiting for a missing earlier frame). Never exceeds `window`. */
  get size(): number {
    return this.#held.size;
  }

  /**
   * Adds a frame that arrived. Returns the outputs that became ready, in order (possibly none).
   * Duplicates and late frames are dropped and counted in {@link JitterBuffer.stats}.
   * @throws PlushlinkError `BAD_AUDIO` when `seq` is not a uint32.
   */
  push(seq: number, data: T): JitterOutput<T>[] {
    checkSeq(seq);
    this.#next ??= seq;
    const d = this.#off(seq);
    if (d < 0) {
      if (this.#recent.has(seq) && -d <= this.window) this.stats.duplicates++;
      else this.stats.late++;
      return [];
    }
    if (this.#held.has(seq)) {
      this.stats.duplicates++;
      return [];
    }
    const out: JitterOutput<T>[] = [];
    if (d >= this.window) this.#releaseUntil((seq - this.window + 1) >>> 0, out);
    this.#held.set(seq, data);
    this.stats.received++;
    const off = this.#off(seq);
    if (off > this.#highestOff) this.#highestOff = off;
    this.#drain(out);
    return out;
  }

  /**
   * For a playout clock: the frame at {@link JitterBuffer.nextSeq} is due now. If it is held it is
   * released (it normally already was); otherwise it is declared lost. Any frames that then follow
   * in order are released too. Returns [] before the first frame is expected.
   */
  forceNext(): JitterOutput<T>[] {
    if (this.#next === undefined) return [];
    const out: JitterOutput<T>[] = [];
    this.#releaseUntil((this.#next + 1) >>> 0, out);
    this.#drain(out);
    return out;
  }

  /**
   * End of stream: releases every held frame, with lost runs for the gaps between them. After it,
   * {@link JitterBuffer.nextSeq} follows the highest frame received.
   */
  flush(): JitterOutput<T>[] {
    const out: JitterOutput<T>[] = [];
    if (this.#next !== undefined && this.#held.size > 0) this.#releaseUntil((this.#next + this.#highestOff + 1) >>> 0, out);
    return out;
  }

  /** Forgets all state (a new stream); statistics are kept. */
  reset(firstSeq?: number): void {
    this.#held.clear();
    this.#recent.clear();
    this.#highestOff = -1;
    this.#next = firstSeq === undefined ? undefined : checkSeq(firstSeq);
  }

  /** Signed distance from `next` to `seq` in serial-number arithmetic (−2^31 ≤ d < 2^31). */
  #off(seq: number): number {
    return ((seq - this.#next!) | 0);
  }

  /** Releases in order while the next frame is held, or is missing and provably lost (depth). */
  #drain(out: JitterOutput<T>[]): void {
    while (this.#held.size > 0) {
      if (this.#held.has(this.#next!)) {
        this.#releaseFrame(out);
        continue;
      }
      if (this.#highestOff < this.depth) return;
      const lostUpTo = this.#highestOff - this.depth + 1; // offsets [0, lostUpTo) are lost unless held
      const first = this.#firstHeldOff(lostUpTo);
      this.#releaseLost(Math.min(first, lostUpTo), out);
    }
  }

  /** Releases everything before `target` (frames held, the rest lost). */
  #releaseUntil(target: number, out: JitterOutput<T>[]): void {
    let remaining = (target - this.#next!) >>> 0;
    while (remaining > 0) {
      if (this.#held.has(this.#next!)) {
        this.#releaseFrame(out);
        remaining--;
        continue;
      }
      // held frames all lie within `window` of next: none found there means none before target
      const limit = Math.min(remaining, this.window);
      const f = this.#firstHeldOff(limit);
      const n = f < limit ? f : remaining;
      this.#releaseLost(n, out);
      remaining -= n;
    }
  }

  /** Offset of the first held frame in [1, limit), or `limit` if none. */
  #firstHeldOff(limit: number): number {
    if (this.#held.size === 0) return limit;
    for (let i = 1; i < limit; i++) if (this.#held.has((this.#next! + i) >>> 0)) return i;
    return limit;
  }

  #releaseFrame(out: JitterOutput<T>[]): void {
    const seq = this.#next!;
    const data = this.#held.get(seq) as T;
    this.#held.delete(seq);
    out.push({ kind: 'frame', seq, data });
    this.stats.released++;
    this.#recent.set(seq, true);
    if (this.#recent.size > this.window) this.#recent.delete(this.#recent.keys().next().value!);
    this.#advance(1);
  }

  #releaseLost(count: number, out: JitterOutput<T>[]): void {
    const prev = out[out.length - 1];
    if (prev?.kind === 'lost') prev.count += count; // adjacent runs in one batch: one marker
    else out.push({ kind: 'lost', seq: this.#next!, count });
    this.stats.lost += count;
    this.#advance(count);
  }

  #advance(n: number): void {
    this.#next = (this.#next! + n) >>> 0;
    this.#highestOff = this.#held.size === 0 ? -1 : this.#highestOff - n;
  }
}
