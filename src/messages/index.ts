/**
 * `plushlink/messages` — end-to-end sealed voice messages, family keys, the durable outbox, the
 * inbox, relays (a folder, or the HTTP relay of docs/RELAY.md), retention and deletion.
 * Format: docs/MESSAGES.md.
 *
 * File-system helpers (atomic writes, temporary names, errno checks) stay inside the library:
 * only the {@link DurableFileSystem} seam that the stores accept is public. Every name here is
 * pinned by test/unit/project/public-api.test.ts: adding one is a visible decision.
 *
 * @packageDocumentation
 */
export * from './family.js';
export * from './envelope.js';
export { nodeFileSystem, type DurableFileSystem, type WritableFile } from '../util/durable-fs.js';
export { FolderRelay, isMessageId, type FolderRelayOptions, type Relay, type UploadResult } from './relay.js';
export {
  Outbox,
  type ExpiredEntry,
  type FlushOptions,
  type FlushReport,
  type OutboxAddResult,
  type OutboxEntry,
  type OutboxEvents,
  type OutboxOptions,
  type OutboxSyncOptions,
  type SleepFn,
} from './outbox.js';
export * from './retention.js';
export * from './files.js';
export * from './http-signature.js';
export {
  RELAY_API_PREFIX,
  RELAY_PROBLEMS,
  PER_MAILBOX_UPLOAD_PROBLEMS,
  ID_HEX_RE,
  KEY_HEX_RE,
  RECEIPT_CURSOR_RE,
  MAX_LIST,
  MAX_WAIT_S,
  mailboxIdOf,
  keyIdHexOf,
  receiptMessage,
  envelopeHash,
  signDeliveryReceipt,
  verifyDeliveryReceipt,
  relayPaths,
  isRelayProblemCode,
  problemType,
  CreateMailboxBody,
  CreateMailboxAnswer,
  MailboxAnswer,
  SenderAnswer,
  UploadAnswer,
  PendingEntry,
  PendingAnswer,
  ReceiptBody,
  ReceiptAnswer,
  ReceiptEntry,
  DiscardAnswer,
  ReceiptsAnswer,
  DeleteReceiptsAnswer,
  DeleteMailboxAnswer,
  ProblemAnswer,
  HealthAnswer,
  type RelayProblemCode,
} from './relay-protocol.js';
export {
  HttpRelay,
  resolveRecipients,
  type FamilyDirectory,
  type FetchInit,
  type FetchLike,
  type FetchResponse,
  type HttpRelayEvents,
  type HttpRelayOptions,
  type ListPendingOptions,
  type RelayCallOptions,
  type RelayRequestInfo,
  type RelayUploadResult,
  type ResolvedRecipients,
  type UploadOptions,
} from './http-relay.js';
export {
  syncOutbox,
  type DeliveryEventSink,
  type DeliveryEvents,
  type DeliveryRelay,
  type DeliveryStore,
  type FailedDelivery,
  type InvalidReceipt,
  type InvalidReceiptReason,
  type PendingDelivery,
  type SyncOutboxOptions,
  type SyncOutboxReport,
} from './delivery.js';
export * from './inbox.js';
export * from './inbox-files.js';
