/**
 * The sender's sync with a relay (docs/RELAY.md §5): an envelope leaves the sender's outbox only
 * when the outbox holds a verified delivery receipt from every recipient, checked against its own
 * copy of the envelope, so that a relay that loses, drops or lies about envelopes cannot make a
 * message disappear. Works over a minimal store interface so that the Node `Outbox` (files) and
 * the web app's outbox (IndexedDB) share it.
 *
 * Pure: no `node:` imports.
 */
import { fromBase64, toHex } from '../protocol/bytes.js';
import type { Ed25519Verifier } from '../protocol/crypto.js';
import { PlushlinkError, isPlushlinkError, type ErrorCode } from '../protocol/errors.js';
import { peekVoiceMessage } from './envelope.js';
import type { FamilyPublicKey } from './family.js';
import { resolveRecipients, type FamilyDirectory, type RelayUploadResult } from './http-relay.js';
import {
  PER_MAILBOX_UPLOAD_PROBLEMS,
  envelopeHash,
  keyIdHexOf,
  mailboxIdOf,
  verifyDeliveryReceipt,
  type ReceiptEntry,
} from './relay-protocol.js';

/** What the sync needs of an outbox: its queued envelopes by message id. */
export interface DeliveryStore {
  /** Queued message ids, in the order to upload them (oldest first). */
  list(): Promise<ReadonlyArray<{ id: string }>>;
  /** The exact envelope bytes queued under `id`, or `undefined`. */
  get(id: string): Promise<Uint8Array | undefined>;
  /** Removes `id` durably; false when it was not there. */
  remove(id: string): Promise<boolean>;
}

/** What the sync needs of a relay ({@link HttpRelay} fits). */
export interface DeliveryRelay {
  listReceipts(options?: { signal?: AbortSignal; after?: string }): Promise<{ receipts: ReceiptEntry[]; more: boolean; next?: string }>;
  deleteReceipts(messageId: string, options?: { signal?: AbortSignal }): Promise<number>;
  upload(id: string, bytes: Uint8Array, options: { signal?: AbortSignal; to: readonly string[] }): Promise<RelayUploadResult>;
}

/** Why a receipt was not counted. */
export type InvalidReceiptReason =
  /** The recipient's keys are not a family member's. */
  | 'not-family'
  /** A family member, but not a recipient of this envelope. */
  | 'not-a-recipient'
  /** The receipt names a mailbox that is not the recipient's. */
  | 'wrong-mailbox'
  /** The signature does not verify over the outbox's own copy of the envelope. */
  | 'bad-signature';

/** A receipt that did not count. */
export interface InvalidReceipt {
  messageId: string;
  mailboxId: string;
  /** The recipient's Ed25519 key as the relay named it (64 hex). */
  recipient: string;
  reason: InvalidReceiptReason;
}

/** An envelope still waiting for receipts. */
export interface PendingDelivery {
  id: string;
  /** Mailbox ids whose receipt is missing. */
  missing: string[];
  /** Recipient key ids (hex) without a family member: never deliverable until the family knows them. */
  unresolved: string[];
}

/** A step of the sync that did not succeed (the envelope stays in the outbox). */
export interface FailedDelivery {
  id: string;
  /** `upload`: uploading to `mailboxes`; `receipts`: deleting the relay's receipts; `envelope`: the queued bytes; `remove`: the store. */
  stage: 'upload' | 'receipts' | 'envelope' | 'remove';
  mailboxes: string[];
  error: unknown;
}

/** Result of {@link syncOutbox}. */
export interface SyncOutboxReport {
  /** Receipted by every recipient: removed from the outbox (and their receipts from the relay). */
  delivered: string[];
  /** Uploaded now and new to the relay (`stored`). */
  uploaded: string[];
  /** Uploaded now, already held by the relay (`duplicate`). */
  duplicates: string[];
  /** Envelopes still in the outbox, with the mailboxes whose receipt is missing. */
  pending: PendingDelivery[];
  failed: FailedDelivery[];
  /** Receipts that did not count (a relay cannot forge delivery). */
  invalidReceipts: InvalidReceipt[];
  /** Message ids whose receipts were deleted on the relay because the outbox no longer holds them. */
  staleReceipts: string[];
  /**
   * False when the relay had more receipts than the sync could page through (the listing has no
   * cursor; see docs/MESSAGES.md §4.3): the unseen ones count as missing this time.
   */
  receiptsComplete: boolean;
}

/** Events of a sync. */
export interface DeliveryEvents {
  /** A valid receipt: `mailboxId` holds `messageId`. */
  receipt: (messageId: string, mailboxId: string) => void;
  /** A receipt that did not count. */
  'invalid-receipt': (receipt: InvalidReceipt) => void;
  /** Every recipient holds `id`; it left the outbox. */
  delivered: (id: string) => void;
  /** `id` was (re)uploaded to `mailboxes`. */
  sent: (id: string, result: RelayUploadResult, mailboxes: string[]) => void;
  /** Uploading `id` to `mailboxes` failed; it stays in the outbox. */
  'send-failed': (id: string, mailboxes: string[], error: unknown) => void;
}

/** Where a sync emits its events (an `EventEmitter<DeliveryEvents>` fits). */
export interface DeliveryEventSink {
  emit<K extends keyof DeliveryEvents>(event: K, ...args: Parameters<DeliveryEvents[K]>): unknown;
}

/** Options of {@link syncOutbox}. */
export interface SyncOutboxOptions {
  /** The family directory: who the recipients are and which receipts count. */
  family: FamilyDirectory;
  /** Aborts the sync (rejects with `ABORTED`, `detail.report` the partial report). */
  signal?: AbortSignal;
  /** Receives the sync's events. */
  events?: DeliveryEventSink;
  /**
   * After an error that says the relay is down (unreachable, 5xx, rate-limited, our clock or
   * signature refused): false (default) stops uploading, true tries the next envelope anyway.
   * Refusals of one envelope or one mailbox never stop the sync.
   */
  continueOnFailure?: boolean;
  /** Most receipt listings one sync makes (default 50). */
  maxReceiptPages?: number;
  /** Ed25519 verification for receipts (default: the installed back end's; under the library's policy either way). */
  verify?: Ed25519Verifier;
}

/** Errors after which the next upload would fail just the same. */
const RELAY_DOWN: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'RELAY_UNAVAILABLE',
  'RELAY_ERROR',
  'RELAY_RATE_LIMITED_KEY',
  'RELAY_RATE_LIMITED_ADDRESS',
  'RELAY_CLOCK_SKEW',
  'RELAY_UNSIGNED',
  'RELAY_BAD_SIGNATURE',
  'RELAY_BAD_DIGEST',
  'RELAY_REPLAYED',
]);

/** True when `e` says the relay as a whole is not usable right now (see {@link SyncOutboxOptions.continueOnFailure}). */
export function isRelayDownError(e: unknown): boolean {
  return !isPlushlinkError(e) || RELAY_DOWN.has(e.code);
}

interface Loaded {
  bytes: Uint8Array;
  hash: Uint8Array;
  /** Recipient key ids, hex, in envelope order. */
  recipients: string[];
}

/**
 * One sync of a sender's outbox with a relay (docs/RELAY.md §5):
 *
 * 1. collects the relay's receipts (all pages) and verifies each against the outbox's own copy of
 *    the envelope: the recipient must be a family member whose key id is among the envelope's
 *    recipients, the mailbox theirs, the signature theirs over this envelope's hash; anything
 *    else is reported in `invalidReceipts` and does not count;
 * 2. an envelope with a valid receipt from every recipient is removed from the store, and only
 *    then are its receipts deleted on the relay (a crash in between repeats this step: receipts
 *    of an envelope the store no longer holds are deleted as `staleReceipts`);
 * 3. every other envelope is (re)uploaded to exactly the mailboxes whose receipt is missing. If
 *    the relay refuses an upload because of one mailbox (no mailbox, sender not allowed, quota),
 *    each mailbox is tried on its own so the others still get it.
 */
export async function syncOutbox(store: DeliveryStore, relay: DeliveryRelay, options: SyncOutboxOptions): Promise<SyncOutboxReport> {
  const { signal, events } = options;
  const maxPages = Math.max(1, options.maxReceiptPages ?? 50);
  const report: SyncOutboxReport = {
    delivered: [],
    uploaded: [],
    duplicates: [],
    pending: [],
    failed: [],
    invalidReceipts: [],
    staleReceipts: [],
    receiptsComplete: true,
  };
  const call = signal ? { signal } : {};
  const checkAbort = (): void => {
    if (signal?.aborted) throw new PlushlinkError('ABORTED', 'outbox sync aborted', { report });
  };
  const family: readonly FamilyPublicKey[] = typeof options.family === 'function' ? options.family() : options.family;

  // Envelopes of the store, loaded once. null: not in the store; undefined entry: not loaded yet.
  const cache = new Map<string, Loaded | null>();
  const load = async (id: string): Promise<Loaded | null> => {
    const hit = cache.get(id);
    if (hit !== undefined) return hit;
    const bytes = await store.get(id);
    let loaded: Loaded | null = null;
    if (bytes !== undefined) {
      try {
        const info = peekVoiceMessage(bytes);
        if (info.messageId !== id) throw new PlushlinkError('BAD_ENVELOPE', 'queued envelope does not carry its id');
        loaded = { bytes, hash: envelopeHash(bytes), recipients: info.recipients.map(toHex) };
      } catch (e) {
        report.failed.push({ id, stage: 'envelope', mailboxes: [], error: e });
        loaded = null;
        cache.set(id, null);
        return null;
      }
    }
    cache.set(id, loaded);
    return loaded;
  };

  /** message id → recipient key ids (hex) with a valid receipt. */
  const receipted = new Map<string, Set<string>>();
  const settled = new Set<string>(); // delivered or stale: receipts handled
  const judged = new Set<string>(); // receipts already looked at

  /** The recipient key id a receipt stands for, or why it does not count. */
  const judge = (r: ReceiptEntry, env: Loaded): { keyId: string } | { reason: InvalidReceiptReason } => {
    const member = family.find((m) => toHex(m.signPublicKey) === r.recipient && toHex(m.boxPublicKey) === r.recipientBox);
    if (member === undefined) return { reason: 'not-family' };
    const keyId = keyIdHexOf(member.boxPublicKey);
    if (!env.recipients.includes(keyId)) return { reason: 'not-a-recipient' };
    if (mailboxIdOf(member) !== r.mailboxId) return { reason: 'wrong-mailbox' };
    let sig: Uint8Array;
    try {
      sig = fromBase64(r.signature);
    } catch {
      return { reason: 'bad-signature' };
    }
    return verifyDeliveryReceipt(member, r.messageId, env.hash, sig, options.verify) ? { keyId } : { reason: 'bad-signature' };
  };

  const isComplete = (env: Loaded, id: string): boolean => {
    const got = receipted.get(id);
    return got !== undefined && env.recipients.every((k) => got.has(k));
  };

  try {
    // Steps 1 and 2, page by page (the listing's cursor, docs/RELAY.md §2); the sync settles
    // what it can after each page.
    let after: string | undefined;
    for (let page = 1; ; page++) {
      checkAbort();
      const { receipts, more, next } = await relay.listReceipts(after ? { ...call, after } : call);
      let progress = false;
      const touched = new Set<string>();
      for (const r of receipts) {
        // One verdict per distinct receipt (not per mailbox: a relay must not hide a valid one behind a bad one).
        const key = `${r.messageId}/${r.mailboxId}/${r.recipient}/${r.recipientBox}/${r.signature}`;
        if (judged.has(key) || settled.has(r.messageId)) continue;
        judged.add(key);
        touched.add(r.messageId);
        const env = await load(r.messageId);
        if (env === null) continue; // not (or no longer) in the outbox: stale, handled below
        const verdict = judge(r, env);
        if ('reason' in verdict) {
          const bad: InvalidReceipt = { messageId: r.messageId, mailboxId: r.mailboxId, recipient: r.recipient, reason: verdict.reason };
          report.invalidReceipts.push(bad);
          events?.emit('invalid-receipt', bad);
          continue;
        }
        let set = receipted.get(r.messageId);
        if (!set) receipted.set(r.messageId, (set = new Set()));
        set.add(verdict.keyId);
        events?.emit('receipt', r.messageId, r.mailboxId);
      }
      for (const id of touched) {
        if (settled.has(id)) continue;
        checkAbort();
        const env = await load(id);
        if (env !== null && !isComplete(env, id)) continue;
        if (env !== null) {
          // Every recipient holds it: first the outbox lets go, then the relay's receipts go.
          try {
            await store.remove(id);
          } catch (e) {
            report.failed.push({ id, stage: 'remove', mailboxes: [], error: e });
            continue;
          }
          cache.set(id, null);
          report.delivered.push(id);
          events?.emit('delivered', id);
        } else if (report.failed.some((f) => f.id === id && f.stage === 'envelope')) {
          continue; // unreadable queued bytes: keep its receipts
        } else {
          report.staleReceipts.push(id);
        }
        settled.add(id);
        progress = true;
        try {
          await relay.deleteReceipts(id, call);
        } catch (e) {
          if (signal?.aborted) throw e;
          // The envelope is gone from the outbox; the next sync deletes these as stale.
          report.failed.push({ id, stage: 'receipts', mailboxes: [], error: e });
        }
      }
      if (!more) break;
      // A relay without a cursor: later pages appear only once earlier receipts are deleted.
      after = next;
      if ((!progress && next === undefined) || page >= maxPages) {
        report.receiptsComplete = false;
        break;
      }
    }

    // Step 3: (re)upload what is missing.
    let relayDown = false;
    for (const { id } of await store.list()) {
      checkAbort();
      if (settled.has(id)) continue;
      const env = await load(id);
      if (env === null) continue;
      const got = receipted.get(id) ?? new Set<string>();
      const resolved = resolveRecipients(env.recipients, family);
      const missing = [...new Set(env.recipients.filter((k) => !got.has(k) && resolved.mailboxes.has(k)).map((k) => resolved.mailboxes.get(k)!))];
      const pending: PendingDelivery = { id, missing, unresolved: resolved.unresolved };
      report.pending.push(pending);
      if (missing.length === 0 || relayDown) continue;
      const results = await uploadTo(relay, id, env.bytes, missing, call, report, events);
      if (results.down && !options.continueOnFailure) relayDown = true;
    }
  } catch (e) {
    if (signal?.aborted) throw new PlushlinkError('ABORTED', 'outbox sync aborted', { report }, { cause: e });
    throw e;
  }
  return report;
}

/** Uploads to `to` in one request; when one mailbox spoils it, to each mailbox on its own. */
async function uploadTo(
  relay: DeliveryRelay,
  id: string,
  bytes: Uint8Array,
  to: string[],
  call: { signal?: AbortSignal },
  report: SyncOutboxReport,
  events: DeliveryEventSink | undefined,
): Promise<{ down: boolean }> {
  const results: RelayUploadResult[] = [];
  let down = false;
  const attempt = async (mailboxes: string[]): Promise<unknown> => {
    try {
      const result = await relay.upload(id, bytes, { ...call, to: mailboxes });
      results.push(result);
      events?.emit('sent', id, result, mailboxes);
      return undefined;
    } catch (e) {
      if (call.signal?.aborted) throw e;
      return e;
    }
  };
  const fail = (mailboxes: string[], e: unknown): void => {
    report.failed.push({ id, stage: 'upload', mailboxes, error: e });
    events?.emit('send-failed', id, mailboxes, e);
    if (isRelayDownError(e)) down = true;
  };
  const e = await attempt(to);
  if (e !== undefined) {
    const perMailbox = isPlushlinkError(e) && (PER_MAILBOX_UPLOAD_PROBLEMS as readonly string[]).includes(e.code);
    if (!perMailbox || to.length === 1) fail(to, e);
    else {
      for (const m of to) {
        const e1 = await attempt([m]);
        if (e1 !== undefined) fail([m], e1);
        if (down) break;
      }
    }
  }
  if (results.includes('stored')) report.uploaded.push(id);
  else if (results.includes('duplicate')) report.duplicates.push(id);
  return { down };
}
