/**
 * Typed errors. Every error plushlink throws is a {@link PlushlinkError} with a stable
 * `code` string; callers switch on `code`, never on `message`.
 */

/** Every stable error code plushlink can raise. Codes never change meaning once released. */
export type ErrorCode =
  // crypto / handshake core
  | 'LOW_ORDER_POINT'
  | 'INVALID_KEY'
  | 'DECRYPT_FAILED'
  | 'MESSAGE_TOO_SHORT'
  | 'MESSAGE_TOO_LONG'
  | 'HANDSHAKE_STATE'
  | 'HANDSHAKE_FAILED'
  | 'NONCE_EXHAUSTED'
  | 'UNSUPPORTED_PROTOCOL'
  | 'MISSING_KEY'
  | 'BAD_PAYLOAD'
  | 'UNKNOWN_VERSION'
  | 'WRONG_ROLE'
  // setup codes
  | 'BAD_SETUP_CODE'
  | 'BAD_CHECKSUM'
  | 'BAD_LENGTH'
  | 'BAD_QR_PAYLOAD'
  // record layer / framing / control
  | 'BAD_FRAME'
  | 'REASSEMBLY_OVERFLOW'
  | 'BAD_RECORD'
  | 'REPLAYED_RECORD'
  | 'RECORD_AUTH_FAILED'
  | 'REKEY_REQUIRED'
  | 'BAD_CONTROL_MESSAGE'
  | 'SESSION_CLOSED'
  // toy / companion
  | 'NOT_IN_PAIRING_MODE'
  | 'WRONG_SETUP_CODE'
  | 'NOT_PAIRED'
  | 'NOT_AUTHENTICATED'
  | 'NOT_OWNER'
  | 'ALLOW_LIST_FULL'
  | 'RATE_LIMITED'
  | 'BUSY'
  | 'UNSUPPORTED'
  | 'TOY_KEY_MISMATCH'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'DISCONNECTED'
  | 'TRANSPORT_UNAVAILABLE'
  | 'NOT_SUBSCRIBED'
  | 'KEYSTORE_CORRUPT'
  | 'NOT_FOUND'
  // audio
  | 'BAD_AUDIO'
  | 'BAD_OGG'
  | 'BAD_WAV'
  | 'CODEC_ERROR'
  // messages
  | 'BAD_ENVELOPE'
  | 'BAD_SIGNATURE'
  | 'NOT_A_RECIPIENT'
  | 'TAMPERED'
  | 'UNTRUSTED_SENDER'
  | 'OUTBOX_ERROR'
  // relay (docs/RELAY.md §7: every refusal of the relay carries one of these)
  | 'RELAY_UNSIGNED'
  | 'RELAY_BAD_SIGNATURE'
  | 'RELAY_BAD_DIGEST'
  | 'RELAY_REPLAYED'
  | 'RELAY_CLOCK_SKEW'
  | 'RELAY_BAD_REQUEST'
  | 'RELAY_NOT_OWNER'
  | 'RELAY_NO_MAILBOX'
  | 'RELAY_SENDER_NOT_ALLOWED'
  | 'RELAY_SIGNER_NOT_SENDER'
  | 'RELAY_BAD_ADDRESSING'
  | 'RELAY_BAD_ENVELOPE'
  | 'RELAY_CONFLICT'
  | 'RELAY_TOO_LARGE'
  | 'RELAY_QUOTA_COUNT'
  | 'RELAY_QUOTA_BYTES'
  | 'RELAY_RATE_LIMITED_KEY'
  | 'RELAY_RATE_LIMITED_ADDRESS'
  | 'RELAY_NOT_FOUND'
  | 'RELAY_BAD_RECEIPT'
  | 'RELAY_UNAVAILABLE'
  | 'RELAY_ERROR'
  | 'INTERNAL';

/** Base class of every error plushlink throws. */
export class PlushlinkError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** Extra structured detail (never secret material). */
  readonly detail: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, detail?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PlushlinkError';
    this.code = code;
    this.detail = detail;
  }
}

/** True when `e` is a {@link PlushlinkError}, optionally with the given code. */
export function isPlushlinkError(e: unknown, code?: ErrorCode): e is PlushlinkError {
  return e instanceof PlushlinkError && (code === undefined || e.code === code);
}
