/**
 * The relay's storage interface: everything the HTTP layer needs, as atomic operations, so that
 * the SQLite and PostgreSQL back ends are interchangeable and tested by one conformance suite
 * (docs/RELAY.md §6). A store holds public keys, key ids, envelope bytes, sizes and times, and no
 * secret of any kind.
 *
 * Conventions: ids are 32 lower-case hex characters, keys 64; times are milliseconds since the
 * Unix epoch, always passed in by the caller (the relay's injected clock), never read by a store.
 */

/** A mailbox: owned by one family identity. */
export interface MailboxRecord {
  /** `mailboxIdOf(owner)`, 32 hex. */
  mailboxId: string;
  /** The owner's box key id (`SHA-512(boxPublicKey)[0..16)`), 32 hex: envelopes name recipients by it. */
  keyId: string;
  /** The owner's Ed25519 public key, 64 hex: only requests signed by it manage or read the mailbox. */
  signPublicKey: string;
  /** The owner's X25519 public key, 64 hex (public; lets a sender's receipt be checked). */
  boxPublicKey: string;
  createdAt: number;
}

/** Per-mailbox limits, checked atomically with the write that would exceed them. */
export interface Quotas {
  maxEnvelopes: number;
  maxBytes: number;
}

/** An envelope to store and deliver. */
export interface NewEnvelope {
  messageId: string;
  /** The sender's Ed25519 public key, 64 hex (the envelope's signer and the request's signer). */
  sender: string;
  bytes: Uint8Array;
  /** SHA-512 of `bytes` (64 bytes): receipts are checked against it. */
  hash: Uint8Array;
  receivedAt: number;
  /** When undelivered copies are deleted by {@link RelayStore.expire}. */
  expiresAt: number;
  /** Mailboxes to deliver to (already checked: they exist, allow the sender, match the envelope). */
  to: string[];
}

/** Outcome of {@link RelayStore.putEnvelope}. */
export type PutEnvelopeResult =
  /** New bytes stored and delivered to `delivered`. */
  | { result: 'stored'; delivered: string[] }
  /** Same id and same bytes already held: delivered to those of `to` not already holding it. */
  | { result: 'duplicate'; delivered: string[] }
  /** Same id, other bytes: nothing changed. */
  | { result: 'conflict' }
  /** A mailbox would exceed a quota: nothing changed. */
  | { result: 'quota'; code: 'RELAY_QUOTA_COUNT' | 'RELAY_QUOTA_BYTES'; mailboxId: string };

/** One envelope waiting in a mailbox. */
export interface PendingEnvelope {
  messageId: string;
  size: number;
  receivedAt: number;
  sender: string;
}

/** A delivery as the acknowledging route needs it. */
export interface DeliveryRecord {
  messageId: string;
  mailboxId: string;
  sender: string;
  size: number;
  hash: Uint8Array;
}

/** A recipient's signed receipt, held for the envelope's sender. */
export interface ReceiptRecord {
  messageId: string;
  mailboxId: string;
  /** Sender of the envelope (who may read and delete this receipt), 64 hex. */
  sender: string;
  /** The recipient mailbox owner's Ed25519 public key, 64 hex. */
  recipient: string;
  /** The recipient mailbox owner's X25519 public key, 64 hex. */
  recipientBox: string;
  /** The 64-byte Ed25519 receipt signature (docs/RELAY.md §5). */
  signature: Uint8Array;
  at: number;
  /** When an uncollected receipt is deleted. */
  expiresAt: number;
}

/** Where a receipts listing resumes: the ordering key of the last receipt seen. */
export interface ReceiptCursor {
  at: number;
  messageId: string;
  mailboxId: string;
}

/**
 * A signed request's (keyid, nonce), spent inside the transaction of the request's own write
 * (docs/RELAY.md §3.3 step 6): one durable commit for the request instead of two.
 */
export interface SpentNonce {
  keyId: string;
  nonce: string;
  /** When the relay may forget it (created + 2 × skew), ms. */
  expiresAt: number;
}

/**
 * Thrown by a write given a {@link SpentNonce} that was already spent (a replay racing the
 * original): the write changed nothing. The HTTP layer answers RELAY_REPLAYED.
 */
export class NonceReplayedError extends Error {
  readonly code = 'RELAY_REPLAYED';
  constructor() {
    super('this signature nonce was already used');
    this.name = 'NonceReplayedError';
  }
}

/** Counts of what {@link RelayStore.expire} deleted. */
export interface ExpireReport {
  deliveries: number;
  envelopes: number;
  receipts: number;
  nonces: number;
}

/** Usage of one mailbox. */
export interface MailboxUsage {
  envelopes: number;
  bytes: number;
}

/**
 * The storage back end of a relay. Every method is atomic. A write given a {@link SpentNonce}
 * spends it in its own transaction, first: when it was already spent the write throws
 * {@link NonceReplayedError} and changes nothing; otherwise the nonce commits with the write,
 * whatever its result.
 */
export interface RelayStore {
  /** `'sqlite'` or `'postgres'`. */
  readonly kind: string;
  /** Creates or migrates the schema. Idempotent. */
  init(): Promise<void>;
  /** Releases connections (and stops listening). */
  close(): Promise<void>;

  /**
   * Records a (keyid, nonce) pair until `expiresAt`. Resolves false if it was already recorded
   * (a replay). Must be atomic across every relay process sharing the store.
   *
   * With `durable: false` (default true) the commit does not wait for the disk (SQLite
   * `synchronous = NORMAL` for this commit, PostgreSQL `synchronous_commit = off`): the nonce is
   * seen by every process at once and survives a killed relay, but a power loss (SQLite) or a
   * database crash (PostgreSQL) before the next synced commit may forget it. The relay uses it
   * only for reads (docs/RELAY.md §3.3), whose replay returns what the owner may read anyway.
   */
  rememberNonce(keyId: string, nonce: string, expiresAt: number, options?: { durable?: boolean }): Promise<boolean>;
  /** True when (keyId, nonce) was spent (a read only: the relay's early look before a write that spends it). */
  nonceSpent(keyId: string, nonce: string): Promise<boolean>;

  /** Creates a mailbox; `'exists'` when this exact mailbox already exists. */
  createMailbox(mailbox: MailboxRecord): Promise<'created' | 'exists'>;
  getMailbox(mailboxId: string): Promise<MailboxRecord | undefined>;
  /** Deletes a mailbox with its allow-list and deliveries (envelopes left without a delivery go too). */
  deleteMailbox(mailboxId: string): Promise<boolean>;
  mailboxUsage(mailboxId: string): Promise<MailboxUsage>;

  /** Adds a sender to a mailbox's allow-list; false when already there. */
  allowSender(mailboxId: string, sender: string, at: number): Promise<boolean>;
  /** Removes a sender; false when not there. */
  disallowSender(mailboxId: string, sender: string): Promise<boolean>;
  listSenders(mailboxId: string): Promise<string[]>;
  isSenderAllowed(mailboxId: string, sender: string): Promise<boolean>;

  /** Stores an envelope and its deliveries, checking quotas, in one transaction. */
  putEnvelope(envelope: NewEnvelope, quotas: Quotas, nonce?: SpentNonce): Promise<PutEnvelopeResult>;
  /** Pending envelopes of a mailbox, oldest first, at most `limit`. */
  listPending(mailboxId: string, limit: number): Promise<PendingEnvelope[]>;
  /** The bytes of an envelope, only if it is pending for this mailbox. */
  getEnvelope(mailboxId: string, messageId: string): Promise<Uint8Array | undefined>;
  getDelivery(mailboxId: string, messageId: string): Promise<DeliveryRecord | undefined>;
  /**
   * Acknowledges a delivery: deletes it, stores the receipt for the sender, and deletes the
   * envelope's bytes when no delivery is left, in one transaction. False when there was no such
   * delivery (already acknowledged).
   */
  acknowledge(receipt: ReceiptRecord, nonce?: SpentNonce): Promise<boolean>;
  /**
   * Deletes a pending delivery without a receipt (the recipient refused an envelope that does
   * not open), and the envelope's bytes when no delivery is left, in one transaction. False when
   * there was no such delivery.
   */
  discard(mailboxId: string, messageId: string, nonce?: SpentNonce): Promise<boolean>;
  /**
   * Receipts waiting for a sender, ordered by (at, messageId, mailboxId), at most `limit`; with
   * `after`, only those ordered after it (the listing's cursor).
   */
  listReceipts(sender: string, limit: number, after?: ReceiptCursor): Promise<ReceiptRecord[]>;
  /** Deletes a sender's receipts of one message; resolves how many. */
  deleteReceipts(sender: string, messageId: string): Promise<number>;

  /** Deletes everything whose time is up at `now`: deliveries, orphaned envelopes, receipts, nonces. */
  expire(now: number): Promise<ExpireReport>;

  /**
   * Calls `listener` soon after an envelope is delivered to `mailboxId` by any relay process
   * sharing this store (PostgreSQL: LISTEN/NOTIFY). It may also fire when nothing new arrived
   * (after the listener reconnected, every subscriber is woken once): callers always look again.
   * Returns the unsubscribe function.
   */
  subscribe(mailboxId: string, listener: () => void): () => void;
}
