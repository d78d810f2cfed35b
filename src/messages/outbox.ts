/**
 * The durable outbox: sealed voice messages waiting for upload, one file per message id in a
 * folder, each written atomically. A message leaves the outbox only after a relay acknowledged
 * it; a crash at any point loses nothing, and the relay's deduplication by message id makes a
 * re-upload after a crash harmless.
 */
import { join } from 'node:path';
import { EventEmitter } from 'eventemitter3';
import { bytesEqual } from '../protocol/bytes.js';
import { PlushlinkError, isPlushlinkError, type ErrorCode } from '../protocol/errors.js';
import { inspectVoiceMessage, peekVoiceMessage } from './envelope.js';
import {
  hasErrno,
  nodeFileSystem,
  readIfExists,
  removeTempFiles,
  unlinkDurable,
  writeFileAtomic,
  type DurableFileSystem,
} from '../util/durable-fs.js';
import { ENVELOPE_FILE_RE, envelopeFileName, isMessageId, type Relay, type UploadResult } from './relay.js';
import { backoffDelay, defaultSleep, type SleepFn } from './backoff.js';
import { syncOutbox, type DeliveryEventSink, type DeliveryEvents, type DeliveryRelay, type SyncOutboxOptions, type SyncOutboxReport } from './delivery.js';

// The retry timing lives in a pure module (the browser's relay client shares it).
export { backoffDelay, defaultSleep, type SleepFn } from './backoff.js';

/** One message waiting in the outbox. */
export interface OutboxEntry {
  /** Message id (32 hex). */
  id: string;
  /** Path of the sealed file. */
  path: string;
  /** Size in bytes. */
  size: number;
  /** Creation time from the signed header (ms); the file's mtime when the file is unreadable. */
  createdAt: number;
  /** Set when the file does not parse as an envelope (never produced by the outbox itself). */
  error?: ErrorCode;
}

/** Result of {@link Outbox.add}. */
export interface OutboxAddResult {
  id: string;
  /** False when the outbox already held this exact envelope (idempotent add). */
  added: boolean;
}

/** Options of {@link Outbox.flush}. */
export interface FlushOptions {
  /** Aborts the flush (rejects with `ABORTED`; messages not yet acknowledged stay queued). */
  signal?: AbortSignal;
  /** Upload attempts per message in this flush (default 5). */
  maxAttempts?: number;
  /** Delay before the first retry (default 1000 ms); doubles per retry. */
  baseDelayMs?: number;
  /** Cap on one retry delay (default 60 000 ms). */
  maxDelayMs?: number;
  /**
   * After a message exhausted its attempts: false (default) stops the flush, as the relay is
   * probably unreachable; true goes on with the next message.
   */
  continueOnFailure?: boolean;
}

/** Result of {@link Outbox.flush}. */
export interface FlushReport {
  /** Ids the relay stored now (removed from the outbox). */
  uploaded: string[];
  /** Ids the relay already had (removed from the outbox). */
  duplicates: string[];
  /** Ids not acknowledged (still in the outbox), with the last error. */
  failed: { id: string; attempts: number; error: unknown }[];
  /** Messages still in the outbox when the flush ended. */
  remaining: number;
}

/** An entry deleted by retention. */
export interface ExpiredEntry {
  id: string;
  path: string;
  ageMs: number;
}

/** Options of {@link Outbox.sync}: those of {@link syncOutbox}; the outbox emits the events itself. */
export type OutboxSyncOptions = Omit<SyncOutboxOptions, 'events'>;

/** Events of an {@link Outbox} (those of {@link DeliveryEvents} during {@link Outbox.sync}). */
export interface OutboxEvents extends DeliveryEvents {
  /** A new message was written durably. */
  added: (id: string) => void;
  /** The relay acknowledged a message and it left the outbox. */
  uploaded: (id: string, result: UploadResult) => void;
  /** An upload failed; the outbox waits `delayMs` and tries again. */
  retry: (id: string, attempt: number, delayMs: number, error: unknown) => void;
  /** A message exhausted its attempts in this flush. */
  failed: (id: string, attempts: number, error: unknown) => void;
  /** Retention deleted a message that was never acknowledged. */
  expired: (id: string, ageMs: number) => void;
}

/** Options of {@link Outbox.open}. */
export interface OutboxOptions {
  /** File-system implementation (default: Node's). */
  fs?: DurableFileSystem;
  /** Sleep between retries (default: a timer). Inject for tests. */
  sleep?: SleepFn;
  /** Jitter in [0, 1): the delay is scaled by 0.5 + 0.5·jitter() (default Math.random). */
  jitter?: () => number;
}

/**
 * A folder of sealed voice messages waiting for upload. Open with {@link Outbox.open}.
 *
 * Files are `<id>.plvm`; temp files `.<name>.<rand>.tmp` are crash debris and removed on open.
 * Flushes are serialised; `add` may run concurrently with a flush.
 */
export class Outbox extends EventEmitter<OutboxEvents> {
  private flushing: Promise<unknown> = Promise.resolve();

  private constructor(
    /** The outbox folder. */
    readonly dir: string,
    private readonly fs: DurableFileSystem,
    private readonly sleep: SleepFn,
    private readonly jitter: () => number,
  ) {
    super();
  }

  /** Opens (creating if needed) an outbox folder and deletes temp files left by a crash. */
  static async open(dir: string, options: OutboxOptions = {}): Promise<Outbox> {
    const fs = options.fs ?? nodeFileSystem;
    await fs.mkdirp(dir);
    await removeTempFiles(fs, dir);
    return new Outbox(dir, fs, options.sleep ?? defaultSleep, options.jitter ?? Math.random);
  }

  private pathOf(id: string): string {
    return join(this.dir, envelopeFileName(id));
  }

  /**
   * Queues a sealed envelope. It is verified first (structure and signature: `BAD_ENVELOPE`,
   * `UNKNOWN_VERSION`, `BAD_SIGNATURE`), then written atomically; when this resolves the message
   * is durable. Adding the same envelope again is a no-op (`added: false`); a different envelope
   * under an id already queued is refused with `OUTBOX_ERROR`.
   */
  async add(sealed: Uint8Array): Promise<OutboxAddResult> {
    const { messageId: id } = inspectVoiceMessage(sealed);
    const existing = await readIfExists(this.fs, this.pathOf(id));
    if (existing !== undefined) {
      if (bytesEqual(existing, sealed)) return { id, added: false };
      throw new PlushlinkError('OUTBOX_ERROR', 'the outbox holds a different envelope with this message id', { id });
    }
    await writeFileAtomic(this.fs, this.dir, envelopeFileName(id), sealed);
    this.emit('added', id);
    return { id, added: true };
  }

  /** The queued envelope with this id, or `undefined`. */
  async get(id: string): Promise<Uint8Array | undefined> {
    if (!isMessageId(id)) return undefined;
    return readIfExists(this.fs, this.pathOf(id));
  }

  /** Queued messages, oldest first (by signed creation time, then id). */
  async list(): Promise<OutboxEntry[]> {
    const out: OutboxEntry[] = [];
    for (const name of await this.fs.readdir(this.dir)) {
      const m = ENVELOPE_FILE_RE.exec(name);
      if (!m) continue;
      const id = m[1]!;
      const path = join(this.dir, name);
      const bytes = await readIfExists(this.fs, path);
      if (bytes === undefined) continue; // removed meanwhile
      try {
        // Structural check only: every file here was signature-checked by add(), and the relay
        // checks again on upload. (Verifying on every listing would cost an Ed25519 verify each.)
        const info = peekVoiceMessage(bytes);
        if (info.messageId !== id) throw new PlushlinkError('BAD_ENVELOPE', 'file name does not match message id');
        out.push({ id, path, size: bytes.length, createdAt: info.createdAt });
      } catch (e) {
        const st = await this.fs.stat(path).catch(() => undefined);
        out.push({
          id,
          path,
          size: bytes.length,
          createdAt: st?.mtimeMs ?? 0,
          error: isPlushlinkError(e) ? e.code : 'INTERNAL',
        });
      }
    }
    return out.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Removes a queued message (durably). Returns false when it was not there. */
  async remove(id: string): Promise<boolean> {
    if (!isMessageId(id)) return false;
    return unlinkDurable(this.fs, this.dir, this.pathOf(id));
  }

  /**
   * Uploads every queued message to `relay`, oldest first, retrying failures with exponential
   * backoff. A message is removed only after `relay.upload` resolved (`'stored'` or
   * `'duplicate'`). Entries that do not verify are reported as failed and left in place.
   * Concurrent calls run one after the other. Rejects with `ABORTED` when `signal` aborts.
   */
  flush(relay: Relay, options: FlushOptions = {}): Promise<FlushReport> {
    const run = this.flushing.then(() => this.doFlush(relay, options));
    this.flushing = run.catch(() => undefined);
    return run;
  }

  /**
   * Syncs with a relay that returns delivery receipts (an `HttpRelay`), docs/RELAY.md §5 and
   * docs/MESSAGES.md §4.3: a message leaves the outbox only once every recipient's receipt
   * verified against the outbox's own copy; every other message is (re)uploaded to the mailboxes
   * whose receipt is missing. See {@link syncOutbox}. Runs one at a time with {@link flush}.
   */
  sync(relay: DeliveryRelay, options: OutboxSyncOptions): Promise<SyncOutboxReport> {
    const emit = this.emit.bind(this) as (event: string, ...args: unknown[]) => boolean;
    const events: DeliveryEventSink = { emit: (event, ...args) => emit(event, ...args) };
    const run = this.flushing.then(() => syncOutbox(this, relay, { ...options, events }));
    this.flushing = run.catch(() => undefined);
    return run;
  }

  private async doFlush(relay: Relay, options: FlushOptions): Promise<FlushReport> {
    const { signal } = options;
    const maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    const baseDelayMs = options.baseDelayMs ?? 1000;
    const maxDelayMs = options.maxDelayMs ?? 60_000;
    const report: FlushReport = { uploaded: [], duplicates: [], failed: [], remaining: 0 };
    const aborted = (): PlushlinkError => new PlushlinkError('ABORTED', 'outbox flush aborted', { report });

    for (const entry of await this.list()) {
      if (signal?.aborted) throw aborted();
      if (entry.error !== undefined) {
        report.failed.push({ id: entry.id, attempts: 0, error: new PlushlinkError(entry.error, 'queued file does not parse as an envelope') });
        continue;
      }
      const bytes = await readIfExists(this.fs, entry.path);
      if (bytes === undefined) continue;
      let result: UploadResult | undefined;
      let lastError: unknown;
      let attempts = 0;
      while (attempts < maxAttempts) {
        attempts++;
        try {
          result = await relay.upload(entry.id, bytes, signal ? { signal } : {});
          break;
        } catch (e) {
          if (signal?.aborted) throw aborted();
          lastError = e;
          if (attempts >= maxAttempts) break;
          const delay = backoffDelay(attempts, baseDelayMs, maxDelayMs, this.jitter());
          this.emit('retry', entry.id, attempts, delay, e);
          try {
            await this.sleep(delay, signal);
          } catch (se) {
            if (signal?.aborted) throw aborted();
            throw se;
          }
        }
      }
      if (result === undefined) {
        report.failed.push({ id: entry.id, attempts, error: lastError });
        this.emit('failed', entry.id, attempts, lastError);
        if (!options.continueOnFailure) break;
        continue;
      }
      // Acknowledged: now (and only now) the message may leave the outbox.
      await this.remove(entry.id);
      (result === 'stored' ? report.uploaded : report.duplicates).push(entry.id);
      this.emit('uploaded', entry.id, result);
    }
    report.remaining = (await this.list()).length;
    return report;
  }

  /**
   * Deletes queued messages older than `maxAgeMs` at time `now` (age from the signed creation
   * time), whether or not they were uploaded. Returns what it deleted.
   */
  async applyRetention(now: number, maxAgeMs: number): Promise<ExpiredEntry[]> {
    const expired: ExpiredEntry[] = [];
    for (const e of await this.list()) {
      const ageMs = now - e.createdAt;
      if (ageMs > maxAgeMs && (await this.remove(e.id))) {
        expired.push({ id: e.id, path: e.path, ageMs });
        this.emit('expired', e.id, ageMs);
      }
    }
    return expired;
  }
}
