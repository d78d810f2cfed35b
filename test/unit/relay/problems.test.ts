/**
 * The relay's refusals (docs/RELAY.md §7): every error, the relay's own and Fastify's, becomes an
 * RFC 9457 problem with a stable code and the status of the table; nothing internal leaks into an
 * answer.
 */
import { describe, expect, it } from 'vitest';
import { RelayProblem } from '@plushlink/relay';
import { PlushlinkError } from '../../../src/index.js';
import { problem, toProblem } from '../../../relay/src/problems.js';
import { NonceReplayedError } from '../../../relay/src/store/types.js';

describe('relay problems (docs/RELAY.md §7)', () => {
  it('a RelayProblem carries its code, the status of the table, its headers (none by default) and its name', () => {
    const p = problem('RELAY_SENDER_NOT_ALLOWED', 'no');
    expect(p).toBeInstanceOf(RelayProblem);
    expect(p).toMatchObject({ code: 'RELAY_SENDER_NOT_ALLOWED', statusCode: 403, message: 'no', name: 'RelayProblem', headers: {} });
    expect(problem('RELAY_RATE_LIMITED_KEY', 'slow down', { 'retry-after': '7' }).headers).toEqual({ 'retry-after': '7' });
    expect(new RelayProblem('RELAY_QUOTA_BYTES', 'full').statusCode).toBe(507);
  });

  it('maps the relay’s own errors: a RelayProblem as it is, a spent nonce as RELAY_REPLAYED, a PlushlinkError with a relay code by that code', () => {
    const p = problem('RELAY_CONFLICT', 'x');
    expect(toProblem(p)).toBe(p);
    expect(new NonceReplayedError()).toMatchObject({ code: 'RELAY_REPLAYED', name: 'NonceReplayedError' });
    expect(toProblem(new NonceReplayedError())).toMatchObject({ code: 'RELAY_REPLAYED', statusCode: 401 });
    expect(toProblem(new PlushlinkError('RELAY_CLOCK_SKEW', 'late'))).toMatchObject({ code: 'RELAY_CLOCK_SKEW', statusCode: 401, message: 'late' });
    // A library error whose code is not a relay problem is the relay's failure, not the client's.
    expect(toProblem(new PlushlinkError('BAD_ENVELOPE', 'broken'))).toMatchObject({ code: 'RELAY_ERROR', statusCode: 500 });
  });

  it("maps Fastify's errors: an over-large body, a schema violation, a body parser's refusal, any other 4xx", () => {
    expect(toProblem({ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413, message: 'big' })).toMatchObject({ code: 'RELAY_TOO_LARGE', statusCode: 413 });
    const schema = toProblem({ validation: [], statusCode: 400, message: 'params/messageId must match pattern' });
    expect(schema).toMatchObject({ code: 'RELAY_BAD_REQUEST', statusCode: 400 });
    expect(schema.message).toContain('params/messageId must match pattern');
    // A schema violation is the client's by its validation details, whatever status it carries.
    expect(toProblem({ validation: [{ instancePath: '/to' }], message: 'querystring/to must match pattern' })).toMatchObject({ code: 'RELAY_BAD_REQUEST', statusCode: 400 });
    expect(toProblem({ code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415, message: 'Unsupported Media Type' })).toMatchObject({
      code: 'RELAY_BAD_REQUEST',
      statusCode: 400,
      message: 'Unsupported Media Type',
    });
    // A parser code without a 4xx status is still the client's fault.
    expect(toProblem({ code: 'FST_ERR_CTP_EMPTY_JSON_BODY' }).code).toBe('RELAY_BAD_REQUEST');
    // …but only a code that starts with the parser prefix.
    expect(toProblem({ code: 'X_FST_ERR_CTP' }).code).toBe('RELAY_ERROR');
    for (const status of [400, 404, 499]) expect(toProblem({ statusCode: status, message: 'm' }), String(status)).toMatchObject({ code: 'RELAY_BAD_REQUEST', message: 'm' });
    for (const status of [399, 500, 503]) expect(toProblem({ statusCode: status, message: 'm' }).code, String(status)).toBe('RELAY_ERROR');
    expect(toProblem({ statusCode: '404', message: 'm' }).code).toBe('RELAY_ERROR');
  });

  it('anything else is RELAY_ERROR, and its message does not reach the client', () => {
    for (const e of [new Error('SQLITE_CORRUPT at /var/lib/plushlink/relay.db'), new TypeError('x is undefined'), 'thrown string', { code: 'ECONNRESET' }]) {
      const p = toProblem(e);
      expect(p).toMatchObject({ code: 'RELAY_ERROR', statusCode: 500, message: 'internal error' });
    }
  });
});
