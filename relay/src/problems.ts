/**
 * Refusals as RFC 9457 problems (docs/RELAY.md §7): every error the relay answers with carries a
 * stable `code` that clients map back to a `PlushlinkError`.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isPlushlinkError } from 'plushlink/protocol';
import { RELAY_PROBLEMS, isRelayProblemCode, problemType, type RelayProblemCode } from 'plushlink/messages';
import { NonceReplayedError } from './store/types.js';

/** A refusal with a relay problem code. */
export class RelayProblem extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: RelayProblemCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'RelayProblem';
    this.statusCode = RELAY_PROBLEMS[code];
  }
}

/** Shorthand: `throw problem('RELAY_NOT_OWNER', '…')`. */
export function problem(code: RelayProblemCode, message: string, headers?: Record<string, string>): RelayProblem {
  return new RelayProblem(code, message, headers);
}

const TITLES: Record<RelayProblemCode, string> = {
  RELAY_UNSIGNED: 'Request not signed',
  RELAY_BAD_SIGNATURE: 'Bad request signature',
  RELAY_REPLAYED: 'Replayed request',
  RELAY_CLOCK_SKEW: 'Request time outside the accepted skew',
  RELAY_BAD_DIGEST: 'Content-Digest does not match the body',
  RELAY_BAD_REQUEST: 'Malformed request',
  RELAY_NOT_OWNER: 'Not the owner of this mailbox',
  RELAY_SENDER_NOT_ALLOWED: 'Sender not allowed by the mailbox owner',
  RELAY_SIGNER_NOT_SENDER: "Request signer is not the envelope's sender",
  RELAY_NO_MAILBOX: 'No such mailbox',
  RELAY_NOT_FOUND: 'Not found',
  RELAY_CONFLICT: 'Another envelope has this message id',
  RELAY_TOO_LARGE: 'Envelope too large',
  RELAY_BAD_ADDRESSING: "Addressed mailbox is not among the envelope's recipients",
  RELAY_BAD_ENVELOPE: 'Not a valid sealed envelope',
  RELAY_BAD_RECEIPT: 'Delivery receipt does not verify',
  RELAY_RATE_LIMITED_KEY: 'Too many requests from this key',
  RELAY_RATE_LIMITED_ADDRESS: 'Too many requests from this address',
  RELAY_QUOTA_COUNT: 'Mailbox holds too many envelopes',
  RELAY_QUOTA_BYTES: 'Mailbox holds too many bytes',
  RELAY_ERROR: 'Relay error',
};

/** Maps any error to a relay problem (Fastify's own errors included). */
export function toProblem(error: unknown): RelayProblem {
  if (error instanceof RelayProblem) return error;
  if (error instanceof NonceReplayedError) return problem('RELAY_REPLAYED', error.message);
  if (isPlushlinkError(error) && isRelayProblemCode(error.code)) return problem(error.code, error.message);
  const fe = error as Partial<FastifyError> & { validation?: unknown };
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return problem('RELAY_TOO_LARGE', 'the body exceeds the largest envelope this relay accepts');
  if (fe.validation !== undefined) return problem('RELAY_BAD_REQUEST', `request does not match the route's schema: ${fe.message ?? ''}`.trim());
  if (typeof fe.code === 'string' && fe.code.startsWith('FST_ERR_CTP')) return problem('RELAY_BAD_REQUEST', fe.message ?? 'bad body');
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return problem('RELAY_BAD_REQUEST', fe.message ?? 'bad request');
  }
  return problem('RELAY_ERROR', 'internal error');
}

/** Sends a problem+json answer. */
export function sendProblem(request: FastifyRequest, reply: FastifyReply, p: RelayProblem): FastifyReply {
  for (const [k, v] of Object.entries(p.headers)) void reply.header(k, v);
  return reply
    .code(p.statusCode)
    .type('application/problem+json')
    .send({ type: problemType(p.code), title: TITLES[p.code], status: p.statusCode, code: p.code, detail: p.message, instance: request.url.split('?')[0] });
}
