/**
 * Typed errors. Every error plushlink throws is a {@link PlushlinkError} with a stable
 * `code` string; callers switch on `code`, never on `message`.
 *
 * One catalogue for every layer (so that `code` is one stable namespace across the library, the
 * relay and the web app), grouped by the layer that raises each code — the layers of
 * docs/ARCHITECTURE.md. A group's codes are raised first by its layer; a layer above may pass
 * one on or raise it again with its own meaning for the caller (the companion raises a toy's
 * refusal, e.g. NOT_IN_PAIRING_MODE, under the same code; docs/PROTOCOL.md §15 maps the wire's
 * refusal and result codes to these).
 */

/** Every stable error code plushlink can raise. Codes never change meaning once released. */
export type ErrorCode =
  // protocol/ (handshake.ts, noise/, crypto.ts): the crypto and handshake core
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
  // protocol/ (setup-code.ts, base32.ts): setup codes and QR labels
  | 'BAD_SETUP_CODE'
  | 'BAD_CHECKSUM'
  | 'BAD_LENGTH'
  | 'BAD_QR_PAYLOAD'
  // protocol/ (fragment.ts, record.ts, channel.ts, control.ts, wire.ts): fragmentation, the record
  // layer and the control messages; BAD_FRAME is also a transport/ adapter's refusal of a value
  // longer than the ATT payload (gatt.ts, attPayload)
  | 'BAD_FRAME'
  | 'REASSEMBLY_OVERFLOW'
  | 'BAD_RECORD'
  | 'REPLAYED_RECORD'
  | 'RECORD_AUTH_FAILED'
  | 'REKEY_REQUIRED'
  | 'BAD_CONTROL_MESSAGE'
  | 'SESSION_CLOSED'
  // toy/ and companion/ (the access rule's refusals, toy/policy.ts, and the companion's view of them,
  // carried on the wire as refusal and result codes: protocol/wire.ts, protocol/control.ts);
  // transport/: TIMEOUT, ABORTED, DISCONNECTED, TRANSPORT_UNAVAILABLE, NOT_SUBSCRIBED, NOT_FOUND
  // (no such peripheral or service); companion/ and toy/ storage: KEYSTORE_CORRUPT
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
  // audio/ (Opus, Ogg, WAV); protocol/audio-record.ts raises BAD_AUDIO for an audio payload
  | 'BAD_AUDIO'
  | 'BAD_OGG'
  | 'BAD_WAV'
  | 'CODEC_ERROR'
  // messages/: sealed voice messages, family keys, outbox, inbox
  | 'BAD_ENVELOPE'
  | 'BAD_SIGNATURE'
  | 'NOT_A_RECIPIENT'
  | 'TAMPERED'
  | 'UNTRUSTED_SENDER'
  | 'OUTBOX_ERROR'
  // relay/ (the @plushlink/relay workspace) and messages/ relay clients (docs/RELAY.md §7: every
  // refusal of the relay carries one of these; the clients raise them from its answers)
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
  // any layer: a bug, never an input's fault
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
