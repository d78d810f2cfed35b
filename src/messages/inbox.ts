/**
 * The recipient's side of the relay (docs/RELAY.md §5): fetch what is pending in the identity's
 * mailbox, open it (trusted senders only), store the sealed bytes durably, and only then
 * acknowledge it with a signed delivery receipt. Deduplicates by message id, so that a relay that
 * delivers again (after a wipe, or after an acknowledgement whose answer was lost) gets a receipt
 * again without the message being stored twice.
 *
 * Pure: no `node:` imports. `MemoryInboxStore` is here; the Node file store is `FileInboxStore`
 * in inbox-files.ts, the web app brings an IndexedDB one.
 */
import { EventEmitter } from 'eventemitter3';
import { bytesEqual, toHex } from '../protocol/bytes.js';
import { PlushlinkError, isPlushlinkError, type ErrorCode } from '../protocol/errors.js';
import { backoffDelay, defaultSleep, type SleepFn } from './backoff.js';
import { isRelayDownError } from './delivery.js';
import { openVoiceMessage, type OpenedVoiceMessage } from './envelope.js';
import type { FamilyIdentity, FamilyPublicKey } from './family.js';
import type { FamilyDirectory } from './http-relay.js';
import { ID_HEX_RE, MAX_WAIT_S, mailboxIdOf, signDeliveryReceipt, type PendingEntry } from './relay-protocol.js';

/** Where an inbox keeps the sealed envelopes it received, by message id. */
export interface InboxStore {
  has(id: string): Promise<boolean>;
  /** Stores the exact envelope bytes; the bytes are durable when this resolves. */
  put(id: string, bytes: Uint8Array): Promise<void>;
  get(id: string): Promise<Uint8Array | undefined>;
  /** Stored message ids. */
  list(): Promise<string[]>;
  /** Deletes a message; false when it was not there. */
  remove(id: string): Promise<boolean>;
}

/** An {@link InboxStore} in memory (tests, and browsers without IndexedDB). Not durable. */
export class MemoryInboxStore implements InboxStore {
  private readonly items = new Map<string, Uint8Array>();
  async has(id: string): Promise<boolean> {
    return this.items.has(id);
  }
  async put(id: string, bytes: Uint8Array): Promise<void> {
    this.items.set(id, Uint8Array.from(bytes));
  }
  async get(id: string): Promise<Uint8Array | undefined> {
    const b = this.items.get(id);
    return b === undefined ? undefined : Uint8Array.from(b);
  }
  async list(): Promise<string[]> {
    return [...this.items.keys()].sort();
  }
  async remove(id: string): Promise<boolean> {
    return this.items.delete(id);
  }
}

/** What an inbox needs of a relay ({@link HttpRelay} fits). */
export interface InboxRelay {
  /** The mailbox the relay client reads: must be the inbox identity's. */
  readonly mailboxId: string;
  ensureMailbox(options?: { signal?: AbortSignal }): Promise<{ created: boolean }>;
  getMailbox(options?: { signal?: AbortSignal }): Promise<{ senders: string[] }>;
  allowSender(key: string, options?: { signal?: AbortSignal }): Promise<boolean>;
  disallowSender(key: string, options?: { signal?: AbortSignal }): Promise<boolean>;
  listPending(options?: { waitS?: number; signal?: AbortSignal }): Promise<{ envelopes: PendingEntry[]; more: boolean }>;
  fetchEnvelope(messageId: string, options?: { signal?: AbortSignal }): Promise<Uint8Array>;
  acknowledge(messageId: string, signature: Uint8Array, options?: { signal?: AbortSignal }): Promise<boolean>;
  discard(messageId: string, options?: { signal?: AbortSignal }): Promise<boolean>;
}

/** Options of {@link Inbox}. */
export interface InboxOptions {
  /** The recipient: opens envelopes and signs receipts. */
  identity: FamilyIdentity;
  /** The relay client, for the same identity. */
  relay: InboxRelay;
  /** The family: the only trusted senders, and the mailbox's allow-list. */
  family: FamilyDirectory;
  /** Where received envelopes are kept. */
  store: InboxStore;
  /** Sleep between attempts of {@link Inbox.follow} (default: a timer). */
  sleep?: SleepFn;
  /** Jitter in [0, 1) for the follow loop's backoff (default `Math.random`). */
  jitter?: () => number;
  /** First delay of the follow loop after an error (default 1000 ms); doubles per error. */
  baseDelayMs?: number;
  /** Cap of that delay (default 60 000 ms). */
  maxDelayMs?: number;
}

/** What {@link Inbox} reports about a received message. */
export interface ReceivedMessageInfo {
  id: string;
  /** The family member who sent it (a `trustedSenders` match). */
  sender: FamilyPublicKey;
  /** Creation time stated and signed by the sender, ms. */
  createdAt: number;
  audioLength: number;
  /** Envelope size, bytes. */
  size: number;
}

/** Envelope checks whose failure means the envelope will never open here: it is discarded. */
const REJECT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['BAD_ENVELOPE', 'BAD_SIGNATURE', 'UNTRUSTED_SENDER', 'NOT_A_RECIPIENT', 'TAMPERED']);

/** Result of {@link Inbox.sync}. */
export interface InboxSyncReport {
  /** Stored now. */
  received: string[];
  /** Already stored (same id and bytes): acknowledged again, not stored again. */
  duplicates: string[];
  /**
   * Envelopes that do not open (code of docs/MESSAGES.md §3.2), discarded on the relay; or, when
   * `discarded` is false, left pending (`UNKNOWN_VERSION`: a newer app may read it).
   * `RELAY_CONFLICT`: another envelope under an id already stored.
   */
  rejected: { id: string; code: ErrorCode; discarded: boolean }[];
  /** Ids whose receipt the relay holds now (or had already). */
  acknowledged: string[];
  /** Steps that failed; the envelope stays pending and the next sync tries again. */
  failed: { id: string; stage: 'fetch' | 'store' | 'acknowledge' | 'discard'; error: unknown }[];
  /** Allow-list changes (64-hex sender keys). */
  senders: { added: string[]; removed: string[] };
}

/** Events of an {@link Inbox}. */
export interface InboxEvents {
  /** A new message was stored durably. */
  message: (id: string, info: ReceivedMessageInfo) => void;
  /** A message already stored was delivered again (and acknowledged again). */
  duplicate: (id: string) => void;
  /** An envelope that does not open. */
  rejected: (id: string, code: ErrorCode) => void;
  /** A sync finished. */
  synced: (report: InboxSyncReport) => void;
  /** The follow loop failed and waits `delayMs` before the next attempt. */
  'sync-error': (error: unknown, delayMs: number) => void;
}

/** Options of {@link Inbox.sync}. */
export interface InboxSyncOptions {
  signal?: AbortSignal;
  /** Also ensure the mailbox and make its allow-list equal to the family (default true). */
  mailbox?: boolean;
}

/** Options of {@link Inbox.follow}. */
export interface FollowOptions {
  /** Ends the loop (the iterator returns; no error). */
  signal?: AbortSignal;
  /** Long-poll wait, seconds (default 25, at most 30). */
  waitS?: number;
  /** Re-check the mailbox and allow-list every this many polls (default 20). */
  fullSyncEvery?: number;
}

function familyOf(dir: FamilyDirectory): readonly FamilyPublicKey[] {
  return typeof dir === 'function' ? dir() : dir;
}

/**
 * A recipient's inbox over a relay. `sync` processes everything pending once; `follow` keeps
 * syncing (long poll) until aborted.
 */
export class Inbox extends EventEmitter<InboxEvents> {
  private running: Promise<unknown> = Promise.resolve();
  private readonly sleep: SleepFn;
  private readonly jitter: () => number;

  constructor(private readonly options: InboxOptions) {
    super();
    if (options.relay.mailboxId !== mailboxIdOf(options.identity)) {
      throw new PlushlinkError('BAD_PAYLOAD', 'the relay client reads another identity’s mailbox');
    }
    this.sleep = options.sleep ?? defaultSleep;
    this.jitter = options.jitter ?? Math.random;
  }

  /** The trusted senders now. */
  family(): readonly FamilyPublicKey[] {
    return familyOf(this.options.family);
  }

  /** Stored message ids. */
  list(): Promise<string[]> {
    return this.options.store.list();
  }

  /** Deletes a stored message. */
  remove(id: string): Promise<boolean> {
    return this.options.store.remove(id);
  }

  /**
   * Opens a stored message (audio bytes and header); `NOT_FOUND` when the store does not hold it.
   * The sender must still be in the family (`UNTRUSTED_SENDER` otherwise).
   */
  async open(id: string): Promise<OpenedVoiceMessage<FamilyPublicKey>> {
    const bytes = ID_HEX_RE.test(id) ? await this.options.store.get(id) : undefined;
    if (bytes === undefined) throw new PlushlinkError('NOT_FOUND', 'no such message in the inbox', { id });
    return openVoiceMessage(bytes, this.options.identity, { trustedSenders: this.family() });
  }

  /**
   * One pass: ensures the mailbox and its allow-list (= the family's sign keys: missing ones added,
   * others removed), then for every pending envelope: fetch, open (trusted senders only, the
   * message id must match), store durably, acknowledge with a signed receipt. An envelope already
   * stored is acknowledged again without being stored again; one that does not open is discarded
   * and reported with its code. Stops with the error when the relay is down. Runs one at a time.
   */
  sync(options: InboxSyncOptions = {}): Promise<InboxSyncReport> {
    const run = this.running.then(() => this.doSync(options));
    this.running = run.catch(() => undefined);
    return run;
  }

  private async doSync(options: InboxSyncOptions): Promise<InboxSyncReport> {
    const { relay } = this.options;
    const { signal } = options;
    const call = signal ? { signal } : {};
    const report: InboxSyncReport = { received: [], duplicates: [], rejected: [], acknowledged: [], failed: [], senders: { added: [], removed: [] } };
    if (options.mailbox !== false) {
      await relay.ensureMailbox(call);
      const wanted = [...new Set(this.family().map((m) => toHex(m.signPublicKey)))];
      const current = new Set((await relay.getMailbox(call)).senders);
      for (const k of wanted) {
        if (!current.has(k)) {
          await relay.allowSender(k, call);
          report.senders.added.push(k);
        }
      }
      for (const k of current) {
        if (!wanted.includes(k)) {
          await relay.disallowSender(k, call);
          report.senders.removed.push(k);
        }
      }
    }
    const seen = new Set<string>();
    for (;;) {
      const page = await relay.listPending(call);
      let progress = false;
      for (const entry of page.envelopes) {
        if (seen.has(entry.messageId)) continue;
        seen.add(entry.messageId);
        if (await this.receive(entry.messageId, report, call)) progress = true;
      }
      if (!page.more || !progress) break;
    }
    this.emit('synced', report);
    return report;
  }

  /** Handles one pending envelope; true when it left the mailbox (acknowledged or discarded). */
  private async receive(id: string, report: InboxSyncReport, call: { signal?: AbortSignal }): Promise<boolean> {
    const { relay, store, identity } = this.options;
    const failed = (stage: InboxSyncReport['failed'][number]['stage'], error: unknown): false => {
      if (call.signal?.aborted || isPlushlinkError(error, 'ABORTED')) throw error;
      if (isRelayDownError(error) && stage !== 'store') throw error;
      report.failed.push({ id, stage, error });
      return false;
    };
    let bytes: Uint8Array;
    try {
      bytes = await relay.fetchEnvelope(id, call);
    } catch (e) {
      if (isPlushlinkError(e, 'RELAY_NOT_FOUND')) return true; // gone meanwhile
      return failed('fetch', e);
    }

    const reject = async (code: ErrorCode, discard = true): Promise<boolean> => {
      if (discard) {
        try {
          await relay.discard(id, call);
        } catch (e) {
          if (!isPlushlinkError(e, 'RELAY_NOT_FOUND')) return failed('discard', e);
        }
      }
      report.rejected.push({ id, code, discarded: discard });
      this.emit('rejected', id, code);
      return discard;
    };

    const stored = (await store.has(id)) ? await store.get(id) : undefined;
    if (stored !== undefined) {
      // Delivered again (a relay wipe, a lost acknowledgement): the same bytes are acknowledged
      // again and not stored again; other bytes under a stored id are refused.
      if (!bytesEqual(stored, bytes)) return reject('RELAY_CONFLICT');
      report.duplicates.push(id);
      this.emit('duplicate', id);
    } else {
      let opened: OpenedVoiceMessage<FamilyPublicKey>;
      try {
        opened = openVoiceMessage(bytes, identity, { trustedSenders: this.family() });
        if (opened.messageId !== id) throw new PlushlinkError('BAD_ENVELOPE', 'the envelope carries another message id', { id });
      } catch (e) {
        if (isPlushlinkError(e) && REJECT_CODES.has(e.code)) return reject(e.code);
        if (isPlushlinkError(e, 'UNKNOWN_VERSION')) return reject(e.code, false);
        throw e;
      }
      opened.audio.fill(0);
      try {
        await store.put(id, bytes);
      } catch (e) {
        return failed('store', e);
      }
      report.received.push(id);
      this.emit('message', id, {
        id,
        sender: opened.trustedSender!,
        createdAt: opened.createdAt,
        audioLength: opened.audioLength,
        size: opened.size,
      });
    }

    // Durable first, receipt second (docs/RELAY.md §5).
    try {
      await relay.acknowledge(id, signDeliveryReceipt(identity, id, bytes), call);
    } catch (e) {
      // Not pending any more: an earlier acknowledgement whose answer was lost, or a wipe (the
      // sender then uploads again and this inbox acknowledges the new delivery).
      if (!isPlushlinkError(e, 'RELAY_NOT_FOUND')) return failed('acknowledge', e);
    }
    report.acknowledged.push(id);
    return true;
  }

  /**
   * Keeps the inbox in sync until `signal` aborts: a full sync, then long polls
   * (`listPending({ waitS })`), syncing again whenever something new is pending; after an error
   * it waits with exponential backoff and starts over with a full sync. Yields each sync's report;
   * returns (without an error) when aborted.
   */
  async *follow(options: FollowOptions = {}): AsyncGenerator<InboxSyncReport, void, undefined> {
    const { signal } = options;
    const call = signal ? { signal } : {};
    const waitS = Math.max(1, Math.min(MAX_WAIT_S, options.waitS ?? 25));
    const fullSyncEvery = Math.max(1, options.fullSyncEvery ?? 20);
    const baseDelayMs = this.options.baseDelayMs ?? 1000;
    const maxDelayMs = this.options.maxDelayMs ?? 60_000;
    let full = true;
    let errors = 0;
    let idle = 0;
    let polls = 0;
    while (!signal?.aborted) {
      try {
        const report = await this.sync({ ...call, mailbox: full });
        full = false;
        errors = 0;
        // Left pending on purpose or after a failure: the relay lists them at once, so waiting
        // for "something pending" would spin. Only ids not in this set end the wait.
        const stuck = new Set([...report.failed.map((f) => f.id), ...report.rejected.filter((r) => !r.discarded).map((r) => r.id)]);
        yield report;
        for (;;) {
          if (signal?.aborted) return;
          const pending = await this.options.relay.listPending({ ...call, waitS });
          polls++;
          if (polls % fullSyncEvery === 0) {
            full = true;
            break;
          }
          if (pending.envelopes.some((e) => !stuck.has(e.messageId))) {
            idle = 0;
            break;
          }
          if (pending.envelopes.length > 0) {
            // Only stuck ones: wait (growing) before polling again, then retry them.
            idle++;
            await this.sleep(backoffDelay(idle, baseDelayMs, maxDelayMs, this.jitter()), signal);
            break;
          }
        }
      } catch (e) {
        if (signal?.aborted) return;
        errors++;
        full = true;
        const delayMs = backoffDelay(errors, baseDelayMs, maxDelayMs, this.jitter());
        this.emit('sync-error', e, delayMs);
        try {
          await this.sleep(delayMs, signal);
        } catch {
          if (signal?.aborted) return;
        }
      }
    }
  }

  /** Runs {@link follow} until `signal` aborts, for callers that only listen to the events. */
  async run(options: FollowOptions = {}): Promise<void> {
    for await (const _ of this.follow(options)) {
      // the events carry everything
    }
  }
}
