/**
 * The relay server: Fastify 5, every route schema-validated, every request except the health
 * check authenticated by its HTTP Message Signature (docs/RELAY.md §3), every refusal an RFC 9457
 * problem (§7). Storage is a {@link RelayStore} (SQLite or PostgreSQL).
 */
import { existsSync } from 'node:fs';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { DEFAULT_MAX_SKEW_S, verifyRequest } from 'plushlink/messages';
import { nativeEd25519Verify } from './native-ed25519.js';
import { problem, sendProblem, toProblem } from './problems.js';
import type { Quotas, RelayStore, SpentNonce } from './store/types.js';
import { mailboxRoutes } from './routes/mailboxes.js';
import { envelopeRoutes } from './routes/envelopes.js';
import { receiptRoutes } from './routes/receipts.js';
import { appRoutes } from './routes/app.js';

/** A per-key or per-address request budget. */
export interface RateBudget {
  /** Requests allowed per window. */
  max: number;
  /** Window length, ms. */
  windowMs: number;
}

/** Options of {@link createRelay}. */
export interface RelayOptions {
  /** The storage back end (see `openStore`). The relay closes it on {@link RelayServer.close}. */
  store: RelayStore;
  /** The relay's clock, ms since the Unix epoch (default `Date.now`); tests inject one. */
  now?: () => number;
  /** Largest accepted envelope, bytes (default 1 MiB). */
  maxEnvelopeBytes?: number;
  /** Per-mailbox quotas of pending envelopes (default 1000 envelopes, 64 MiB). */
  quotas?: Partial<Quotas>;
  /** How long an undelivered envelope is kept, ms (default 30 days). */
  ttlMs?: number;
  /** How long an uncollected receipt is kept, ms (default 60 days). */
  receiptTtlMs?: number;
  /** Accepted clock skew of a signature's `created`, each way, seconds (default 300). */
  maxSkewS?: number;
  /** Per-signing-key budget (default 600 per minute); `false` disables. */
  perKey?: RateBudget | false;
  /** Per-client-address budget (default 1200 per minute); `false` disables. */
  perAddress?: RateBudget | false;
  /** How often the relay deletes expired data itself, ms (default 60 s); 0 disables the timer. */
  sweepIntervalMs?: number;
  /** A built web app (web/dist) to serve at `/app/`; default: none. */
  appDir?: string;
  /** Fastify's logger (default off). */
  logger?: boolean;
  /** Trust `X-Forwarded-For` from a reverse proxy for the per-address limit (default false). */
  trustProxy?: boolean;
}

/** Resolved configuration, as the routes see it. */
export interface RelayConfig {
  maxEnvelopeBytes: number;
  quotas: Quotas;
  ttlMs: number;
  receiptTtlMs: number;
  maxSkewS: number;
}

/** What every route module gets. */
export interface RouteContext {
  store: RelayStore;
  now: () => number;
  config: RelayConfig;
}

/** The signer of an authenticated request. */
export interface Signer {
  keyId: string;
  publicKey: Uint8Array;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook on signed routes. */
    signer?: Signer;
    /** The body exactly as received (the Content-Digest covers it). */
    rawBody?: Buffer;
    /** A write route's nonce, not yet spent: the route's own write spends it (see {@link spendNonce}). */
    unspentNonce?: SpentNonce & { spent: boolean };
  }
  interface FastifyContextConfig {
    /** False for the few routes that need no signature (health, the web app's files). */
    signed?: boolean;
    /**
     * How the request's nonce is spent (docs/RELAY.md §3.3 step 6): `'in-write'` by the route's
     * own store write, in its transaction (upload, receipt, discard); otherwise by the
     * authentication hook, synced for every method but GET.
     */
    nonce?: 'in-write';
  }
}

/** A running (or ready to run) relay. */
export interface RelayServer {
  /** The Fastify instance (for `inject` in tests). */
  readonly app: FastifyInstance;
  /** The store it uses. */
  readonly store: RelayStore;
  /** Listens (default 127.0.0.1, an ephemeral port) and resolves the base URL. */
  listen(options?: { host?: string; port?: number }): Promise<string>;
  /** Deletes everything whose time is up now; the timer calls it too. */
  sweep(): Promise<import('./store/types.js').ExpireReport>;
  /** Stops listening, ends waiting long polls, stops the sweeper and closes the store. */
  close(): Promise<void>;
}

const DAY = 24 * 60 * 60 * 1000;

/** The relay's version, as `GET /v1/health` reports it. */
export const RELAY_VERSION = '0.1.0';

/**
 * The nonce a write route passes to its store write, which spends it in the same transaction
 * (RelayStore, SpentNonce). Marks it spent once the write returned; a route that ends without
 * that write has it spent by the relay before it answers.
 */
export async function spendNonce<T>(request: FastifyRequest, write: (nonce: SpentNonce | undefined) => Promise<T>): Promise<T> {
  const n = request.unspentNonce;
  if (!n || n.spent) return write(undefined);
  const value = await write({ keyId: n.keyId, nonce: n.nonce, expiresAt: n.expiresAt });
  n.spent = true;
  return value;
}

/** The signed request's authenticated signer (routes marked signed only). */
export function signerOf(request: FastifyRequest): Signer {
  if (!request.signer) throw problem('RELAY_UNSIGNED', 'request is not signed');
  return request.signer;
}

/** Builds a relay on a store. Call `listen()` to serve, or use `app.inject()`. */
export async function createRelay(options: RelayOptions): Promise<RelayServer> {
  const store = options.store;
  const now = options.now ?? Date.now;
  const config: RelayConfig = {
    maxEnvelopeBytes: options.maxEnvelopeBytes ?? 1024 * 1024,
    quotas: { maxEnvelopes: options.quotas?.maxEnvelopes ?? 1000, maxBytes: options.quotas?.maxBytes ?? 64 * 1024 * 1024 },
    ttlMs: options.ttlMs ?? 30 * DAY,
    receiptTtlMs: options.receiptTtlMs ?? 60 * DAY,
    maxSkewS: options.maxSkewS ?? DEFAULT_MAX_SKEW_S,
  };
  await store.init();

  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: config.maxEnvelopeBytes,
    trustProxy: options.trustProxy ?? false,
    // Route parameters are hex ids: nothing to decode; keep URLs as sent for the signature base.
    routerOptions: { ignoreTrailingSlash: false, caseSensitive: true },
    // Refuse unknown fields instead of silently dropping them (Fastify's default strips them).
    ajv: { customOptions: { removeAdditional: false, allErrors: false } },
  });

  // Bodies are kept raw: the Content-Digest is over the bytes as sent.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (req, body, done) => {
    req.rawBody = body as Buffer;
    done(null, body);
  });
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    req.rawBody = body as Buffer;
    try {
      done(null, JSON.parse((body as Buffer).toString('utf8')));
    } catch {
      done(problem('RELAY_BAD_REQUEST', 'body is not valid JSON'), undefined);
    }
  });

  app.setErrorHandler((error, request, reply) => {
    const p = toProblem(error);
    if (p.code === 'RELAY_ERROR') request.log.error({ err: error }, 'relay error');
    return sendProblem(request, reply, p);
  });
  app.setNotFoundHandler((request, reply) => sendProblem(request, reply, problem('RELAY_NOT_FOUND', 'no such route')));

  const perAddress = options.perAddress === undefined ? { max: 1200, windowMs: 60_000 } : options.perAddress;
  const perKey = options.perKey === undefined ? { max: 600, windowMs: 60_000 } : options.perKey;
  await app.register(rateLimit, {
    global: perAddress !== false,
    max: perAddress === false ? 1_000_000 : perAddress.max,
    timeWindow: perAddress === false ? 60_000 : perAddress.windowMs,
    keyGenerator: (req) => `address:${req.ip}`,
    errorResponseBuilder: (_req, ctx) =>
      problem('RELAY_RATE_LIMITED_ADDRESS', `more than ${ctx.max} requests from this address; retry after ${ctx.after}`, {
        'retry-after': String(Math.max(1, Math.ceil(ctx.ttl / 1000))),
      }),
  });
  const keyLimiter = perKey === false ? undefined : app.createRateLimit({ max: perKey.max, timeWindow: perKey.windowMs, keyGenerator: (req) => `key:${req.signer?.keyId ?? ''}` });

  const waiters = new Set<() => void>();
  const ctx: RouteContext & { waiters: Set<() => void> } = { store, now, config, waiters };
  await app.register(
    async (v1) => {
      // Authentication (docs/RELAY.md §3.3), before schema validation so that nothing about a
      // route's rules is revealed to an unsigned request.
      v1.addHook('preValidation', async (request) => {
        if (request.routeOptions.config.signed === false) return;
        const result = verifyRequest(
          { method: request.method, target: request.url, body: request.rawBody ?? new Uint8Array(0) },
          request.headers,
          { now: Math.floor(now() / 1000), maxSkewS: config.maxSkewS, verify: nativeEd25519Verify },
        );
        const expiresAt = (result.created + 2 * config.maxSkewS) * 1000;
        if (request.routeOptions.config.nonce === 'in-write') {
          // Spent by the route's write, in its transaction (one synced commit per upload or
          // receipt); a replay is refused here already when the original was answered.
          if (await store.nonceSpent(result.keyId, result.nonce)) throw problem('RELAY_REPLAYED', 'this signature nonce was already used');
          request.unspentNonce = { keyId: result.keyId, nonce: result.nonce, expiresAt, spent: false };
        } else {
          // A read's nonce commits without waiting for the disk (RelayStore.rememberNonce).
          const fresh = await store.rememberNonce(result.keyId, result.nonce, expiresAt, { durable: request.method !== 'GET' });
          if (!fresh) throw problem('RELAY_REPLAYED', 'this signature nonce was already used');
        }
        request.signer = { keyId: result.keyId, publicKey: result.publicKey };
        if (keyLimiter) {
          const limit = await keyLimiter(request);
          if (!limit.isAllowed && limit.isExceeded) {
            throw problem('RELAY_RATE_LIMITED_KEY', `more than ${limit.max} requests from this key`, {
              'retry-after': String(Math.max(1, Math.ceil(limit.ttl / 1000))),
            });
          }
        }
      });

      // A write route that answered without its store write (a refusal, an error) spends its
      // nonce now, synced, before the answer leaves: no answered request can be replayed.
      v1.addHook('onSend', async (request) => {
        const n = request.unspentNonce;
        if (!n || n.spent) return;
        n.spent = true;
        await store.rememberNonce(n.keyId, n.nonce, n.expiresAt);
      });

      v1.get('/health', { config: { signed: false } }, async () => ({ ok: true, version: RELAY_VERSION, store: store.kind }));
      await mailboxRoutes(v1, ctx);
      await envelopeRoutes(v1, ctx);
      await receiptRoutes(v1, ctx);
    },
    { prefix: '/v1' },
  );
  if (options.appDir !== undefined) {
    if (!existsSync(options.appDir)) throw new Error(`web app folder not found: ${options.appDir}`);
    await appRoutes(app, options.appDir);
  }

  const sweep = () => store.expire(now());
  const interval = options.sweepIntervalMs ?? 60_000;
  let timer: ReturnType<typeof setInterval> | undefined;
  if (interval > 0) {
    timer = setInterval(() => {
      sweep().catch((err: unknown) => app.log.error({ err }, 'sweep failed'));
    }, interval);
    timer.unref();
  }

  let closed = false;
  return {
    app,
    store,
    async listen(o = {}) {
      return app.listen({ host: o.host ?? '127.0.0.1', port: o.port ?? 0 });
    },
    sweep,
    async close() {
      if (closed) return;
      closed = true;
      if (timer) clearInterval(timer);
      for (const wake of [...waiters]) wake();
      await app.close();
      await store.close();
    },
  };
}
