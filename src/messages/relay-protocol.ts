/**
 * The relay's wire contract, shared by the relay server, {@link HttpRelay} and the web app:
 * mailbox ids, delivery receipts, the JSON bodies of every route (as valibot schemas, so that
 * whatever crosses the network is parsed, never trusted) and the problem codes. Pure: no I/O, no
 * `node:`. Specified in docs/RELAY.md.
 */
import * as v from 'valibot';
import { concatBytes, fromHex, toHex, utf8 } from '../protocol/bytes.js';
import { ed25519Sign, sha512, withEd25519Policy, type Ed25519Verifier } from '../protocol/crypto.js';
import { PlushlinkError, type ErrorCode } from '../protocol/errors.js';
import { keyIdOf, type FamilyIdentity, type FamilyPublicKey } from './family.js';

/** Version prefix of every route. */
export const RELAY_API_PREFIX = '/v1';

const MAILBOX_CONTEXT = utf8('plushlink/mailbox/v1\0');
const RECEIPT_CONTEXT = utf8('plushlink/delivery-receipt/v1\0');

/**
 * A mailbox id: `hex(SHA-512("plushlink/mailbox/v1\0" ‖ signPublicKey ‖ boxPublicKey)[0..16))`
 * (docs/RELAY.md §4.1). It binds both keys, so nobody can open a mailbox for someone else's box
 * key under their own signing key.
 */
export function mailboxIdOf(key: Pick<FamilyPublicKey, 'signPublicKey' | 'boxPublicKey'>): string {
  if (key.signPublicKey.length !== 32 || key.boxPublicKey.length !== 32) {
    throw new PlushlinkError('INVALID_KEY', 'family public keys must be 32 bytes each');
  }
  return toHex(sha512(concatBytes(MAILBOX_CONTEXT, key.signPublicKey, key.boxPublicKey)).subarray(0, 16));
}

/** 32 lower-case hex characters: message ids, mailbox ids and key ids. */
export const ID_HEX_RE = /^[0-9a-f]{32}$/;
/** 64 lower-case hex characters: Ed25519 and X25519 public keys. */
export const KEY_HEX_RE = /^[0-9a-f]{64}$/;

/**
 * The bytes a recipient signs to say "I hold this envelope" (docs/RELAY.md §5):
 * `"plushlink/delivery-receipt/v1\0" ‖ messageId (16) ‖ mailboxId (16) ‖ SHA-512(envelope) (64)`.
 */
export function receiptMessage(messageId: string, mailboxId: string, envelopeHash: Uint8Array): Uint8Array {
  if (!ID_HEX_RE.test(messageId) || !ID_HEX_RE.test(mailboxId)) throw new PlushlinkError('BAD_PAYLOAD', 'ids must be 32 lower-case hex characters');
  if (envelopeHash.length !== 64) throw new PlushlinkError('BAD_PAYLOAD', 'envelope hash must be 64 bytes');
  return concatBytes(RECEIPT_CONTEXT, fromHex(messageId), fromHex(mailboxId), envelopeHash);
}

/** SHA-512 of the envelope bytes, as receipts bind it. */
export function envelopeHash(envelope: Uint8Array): Uint8Array {
  return sha512(envelope);
}

/** Signs a delivery receipt for `envelope`, received in `recipient`'s own mailbox. */
export function signDeliveryReceipt(recipient: FamilyIdentity, messageId: string, envelope: Uint8Array): Uint8Array {
  return ed25519Sign(recipient.signSecretKey, receiptMessage(messageId, mailboxIdOf(recipient), envelopeHash(envelope)));
}

/**
 * True when `signature` is `recipient`'s receipt for the envelope whose SHA-512 is `hash`.
 * `verify` defaults to the installed back end's Ed25519; the relay injects a native one. Either
 * runs under the library's Ed25519 policy (PROTOCOL §18: small-order keys, non-canonical S refused).
 */
export function verifyDeliveryReceipt(
  recipient: Pick<FamilyPublicKey, 'signPublicKey' | 'boxPublicKey'>,
  messageId: string,
  hash: Uint8Array,
  signature: Uint8Array,
  verify?: Ed25519Verifier,
): boolean {
  return withEd25519Policy(verify)(recipient.signPublicKey, receiptMessage(messageId, mailboxIdOf(recipient), hash), signature);
}

/** Routes (paths relative to the origin). Ids are validated by the caller. */
export const relayPaths = {
  health: () => `${RELAY_API_PREFIX}/health`,
  mailbox: (mailboxId: string) => `${RELAY_API_PREFIX}/mailboxes/${mailboxId}`,
  sender: (mailboxId: string, signPublicKeyHex: string) => `${RELAY_API_PREFIX}/mailboxes/${mailboxId}/senders/${signPublicKeyHex}`,
  senders: (mailboxId: string) => `${RELAY_API_PREFIX}/mailboxes/${mailboxId}/senders`,
  upload: (messageId: string, to: readonly string[]) => `${RELAY_API_PREFIX}/envelopes/${messageId}?to=${to.join(',')}`,
  pending: (mailboxId: string, waitS = 0) => `${RELAY_API_PREFIX}/mailboxes/${mailboxId}/envelopes${waitS > 0 ? `?wait=${waitS}` : ''}`,
  envelope: (mailboxId: string, messageId: string) => `${RELAY_API_PREFIX}/mailboxes/${mailboxId}/envelopes/${messageId}`,
  receipt: (mailboxId: string, messageId: string) => `${RELAY_API_PREFIX}/mailboxes/${mailboxId}/envelopes/${messageId}/receipt`,
  receipts: (after?: string) => `${RELAY_API_PREFIX}/receipts${after ? `?after=${after}` : ''}`,
  receiptsOf: (messageId: string) => `${RELAY_API_PREFIX}/receipts/${messageId}`,
} as const;

/** Longest long poll a client may ask for, seconds. */
export const MAX_WAIT_S = 30;
/** Most entries one listing returns. */
export const MAX_LIST = 100;

const idHex = v.pipe(v.string(), v.regex(ID_HEX_RE));
const keyHex = v.pipe(v.string(), v.regex(KEY_HEX_RE));
const count = v.pipe(v.number(), v.integer(), v.minValue(0));

/** Body of `PUT /v1/mailboxes/{mailboxId}`. */
export const CreateMailboxBody = v.strictObject({ signPublicKey: keyHex, boxPublicKey: keyHex });
/** Answer of `PUT /v1/mailboxes/{mailboxId}`. */
export const CreateMailboxAnswer = v.object({ mailboxId: idHex, keyId: idHex, created: v.boolean() });
/** Answer of `GET /v1/mailboxes/{mailboxId}`. */
export const MailboxAnswer = v.object({
  mailboxId: idHex,
  keyId: idHex,
  envelopes: count,
  bytes: count,
  quota: v.object({ envelopes: count, bytes: count }),
  senders: v.array(keyHex),
});
/** Answer of `PUT`/`DELETE /v1/mailboxes/{mailboxId}/senders/{key}`. */
export const SenderAnswer = v.object({ changed: v.boolean() });
/** Answer of `PUT /v1/envelopes/{messageId}?to=…`. */
export const UploadAnswer = v.object({ result: v.picklist(['stored', 'duplicate']), mailboxes: v.array(idHex) });
/** One pending envelope in a listing. */
export const PendingEntry = v.object({ messageId: idHex, size: count, receivedAt: count, sender: keyHex });
/** Answer of `GET /v1/mailboxes/{mailboxId}/envelopes`. */
export const PendingAnswer = v.object({ envelopes: v.array(PendingEntry), more: v.boolean() });
/** Body of `POST …/envelopes/{messageId}/receipt`. */
export const ReceiptBody = v.strictObject({ signature: v.pipe(v.string(), v.regex(/^[A-Za-z0-9+/]{86}==$/)) });
/** Answer of `POST …/receipt`. */
export const ReceiptAnswer = v.object({ acknowledged: v.boolean() });
/** One receipt waiting for its sender. */
export const ReceiptEntry = v.object({
  messageId: idHex,
  mailboxId: idHex,
  recipient: keyHex,
  recipientBox: keyHex,
  signature: v.pipe(v.string(), v.regex(/^[A-Za-z0-9+/]{86}==$/)),
  at: count,
});
/** Answer of `DELETE /v1/mailboxes/{mailboxId}/envelopes/{messageId}`. */
export const DiscardAnswer = v.object({ discarded: v.boolean() });
/** Answer of `GET /v1/receipts`. */
export const ReceiptsAnswer = v.object({ receipts: v.array(ReceiptEntry), more: v.boolean(), next: v.optional(v.pipe(v.string(), v.regex(/^\d{1,16}-[0-9a-f]{32}-[0-9a-f]{32}$/))) });
/** The receipts listing's cursor: `<at>-<messageId>-<mailboxId>` of the last receipt of a page. */
export const RECEIPT_CURSOR_RE = /^(\d{1,16})-([0-9a-f]{32})-([0-9a-f]{32})$/;
/** Answer of `DELETE /v1/receipts/{messageId}`. */
export const DeleteReceiptsAnswer = v.object({ removed: count });
/** An RFC 9457 problem as the relay sends it. */
export const ProblemAnswer = v.object({
  type: v.string(),
  title: v.string(),
  status: v.number(),
  code: v.string(),
  detail: v.optional(v.string()),
});

export type PendingEntry = v.InferOutput<typeof PendingEntry>;
export type ReceiptEntry = v.InferOutput<typeof ReceiptEntry>;
export type MailboxAnswer = v.InferOutput<typeof MailboxAnswer>;

/** Every problem code a relay sends, with its HTTP status (docs/RELAY.md §7). */
export const RELAY_PROBLEMS = Object.freeze({
  RELAY_UNSIGNED: 401,
  RELAY_BAD_SIGNATURE: 401,
  RELAY_REPLAYED: 401,
  RELAY_CLOCK_SKEW: 401,
  RELAY_BAD_DIGEST: 400,
  RELAY_BAD_REQUEST: 400,
  RELAY_NOT_OWNER: 403,
  RELAY_SENDER_NOT_ALLOWED: 403,
  RELAY_SIGNER_NOT_SENDER: 403,
  RELAY_NO_MAILBOX: 404,
  RELAY_NOT_FOUND: 404,
  RELAY_CONFLICT: 409,
  RELAY_TOO_LARGE: 413,
  RELAY_BAD_ADDRESSING: 422,
  RELAY_BAD_ENVELOPE: 422,
  RELAY_BAD_RECEIPT: 422,
  RELAY_RATE_LIMITED_KEY: 429,
  RELAY_RATE_LIMITED_ADDRESS: 429,
  RELAY_QUOTA_COUNT: 507,
  RELAY_QUOTA_BYTES: 507,
  RELAY_ERROR: 500,
} as const satisfies Partial<Record<ErrorCode, number>>);

/** A code the relay may send. */
export type RelayProblemCode = keyof typeof RELAY_PROBLEMS;

/** True when `code` is one of {@link RELAY_PROBLEMS}. */
export function isRelayProblemCode(code: unknown): code is RelayProblemCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(RELAY_PROBLEMS, code);
}

/** The RFC 9457 `type` URI of a code. */
export function problemType(code: RelayProblemCode): string {
  return `urn:plushlink:relay:problem:${code.toLowerCase().replace(/_/g, '-')}`;
}

/** Parses untrusted JSON against a schema; a mismatch is `RELAY_ERROR` (the relay broke its contract). */
export function parseAnswer<S extends v.GenericSchema>(schema: S, value: unknown, what: string): v.InferOutput<S> {
  const r = v.safeParse(schema, value);
  if (!r.success) throw new PlushlinkError('RELAY_ERROR', `the relay's answer to ${what} does not match its contract`, { issues: r.issues.slice(0, 3).map((i) => i.message) });
  return r.output;
}

/** The recipient key id (hex) of a family key, as envelopes and mailboxes name it. */
export function keyIdHexOf(boxPublicKey: Uint8Array): string {
  return toHex(keyIdOf(boxPublicKey));
}

/** Answer of `GET /v1/health`. */
export const HealthAnswer = v.object({ ok: v.literal(true), version: v.string(), store: v.string() });
/** Answer of `DELETE /v1/mailboxes/{mailboxId}`. */
export const DeleteMailboxAnswer = v.object({ deleted: v.boolean() });

export type HealthAnswer = v.InferOutput<typeof HealthAnswer>;
export type PendingAnswer = v.InferOutput<typeof PendingAnswer>;
export type ReceiptsAnswer = v.InferOutput<typeof ReceiptsAnswer>;
export type CreateMailboxAnswer = v.InferOutput<typeof CreateMailboxAnswer>;

/** Problem codes that name one mailbox of an upload's `to` list (docs/RELAY.md §2, "Upload"). */
export const PER_MAILBOX_UPLOAD_PROBLEMS: readonly RelayProblemCode[] = Object.freeze([
  'RELAY_NO_MAILBOX',
  'RELAY_SENDER_NOT_ALLOWED',
  'RELAY_BAD_ADDRESSING',
  'RELAY_QUOTA_COUNT',
  'RELAY_QUOTA_BYTES',
] as const);
