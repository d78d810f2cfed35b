/**
 * The library's client of a plushlink relay over HTTP (docs/RELAY.md §2–§3): every request signed
 * with the family identity's Ed25519 key (RFC 9421, {@link signRequest}), every answer parsed
 * against the contract's schemas ({@link parseAnswer}), every refusal an RFC 9457 problem mapped
 * to a {@link PlushlinkError} with the problem's code.
 *
 * Pure: the global `fetch` (injectable), `AbortSignal` and timers only, no `node:`; the browser app
 * uses this module as it is. {@link HttpRelay} also implements the outbox's `Relay` interface
 * (docs/MESSAGES.md §4.1), but the sender's sync over receipts is `syncOutbox` (delivery.ts).
 */
import { EventEmitter } from 'eventemitter3';
import * as v from 'valibot';
import { fromUtf8, toBase64, toHex, utf8 } from '../protocol/bytes.js';
import type { RandomSource } from '../protocol/crypto.js';
import { PlushlinkError, isPlushlinkError, type ErrorCode } from '../protocol/errors.js';
import { backoffDelay, defaultSleep, type SleepFn } from './backoff.js';
import { peekVoiceMessage } from './envelope.js';
import type { FamilyIdentity, FamilyPublicKey } from './family.js';
import { signRequest } from './http-signature.js';
import {
  CreateMailboxAnswer,
  DeleteMailboxAnswer,
  DeleteReceiptsAnswer,
  DiscardAnswer,
  HealthAnswer,
  ID_HEX_RE,
  KEY_HEX_RE,
  MAX_WAIT_S,
  MailboxAnswer,
  PendingAnswer,
  ProblemAnswer,
  ReceiptAnswer,
  ReceiptsAnswer,
  SenderAnswer,
  UploadAnswer,
  isRelayProblemCode,
  keyIdHexOf,
  mailboxIdOf,
  parseAnswer,
  relayPaths,
} from './relay-protocol.js';

/** The relay's acknowledgement of an upload (the same values as the outbox's `UploadResult`). */
export type RelayUploadResult = 'stored' | 'duplicate';

/** What {@link HttpRelay} passes to `fetch`. */
export interface FetchInit {
  method: string;
  headers: Record<string, string>;
  body?: Uint8Array;
  signal?: AbortSignal;
}

/** What {@link HttpRelay} reads of a `fetch` response (a WHATWG `Response` fits). */
export interface FetchResponse {
  status: number;
  headers: { get(name: string): string | null };
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** A `fetch` function (the global one fits). */
export type FetchLike = (url: string, init: FetchInit) => Promise<FetchResponse>;

/** The family directory: a list, or a function returning the current list. */
export type FamilyDirectory = readonly FamilyPublicKey[] | (() => readonly FamilyPublicKey[]);

/** Options of {@link HttpRelay}. */
export interface HttpRelayOptions {
  /** The relay's origin, e.g. `http://127.0.0.1:8787` (a path prefix is kept and signed as sent). */
  url: string;
  /** The identity that signs every request and owns the mailbox `mailboxIdOf(identity)`. */
  identity: FamilyIdentity;
  /** Family directory: turns an envelope's recipient key ids into mailbox ids for `upload`. */
  family?: FamilyDirectory;
  /** `fetch` (default: the global one). */
  fetch?: FetchLike;
  /** Clock, ms since the Unix epoch: the signature's `created` (default `Date.now`). */
  now?: () => number;
  /** Sleep between retries (default: a timer). */
  sleep?: SleepFn;
  /** Jitter in [0, 1): a retry delay is scaled by 0.5 + 0.5·jitter() (default `Math.random`). */
  jitter?: () => number;
  /** Randomness for the signature nonces (default: the platform's). */
  random?: RandomSource;
  /** Attempts per request, first one included (default 4). */
  maxAttempts?: number;
  /** Delay before the first retry (default 500 ms); doubles per retry. */
  baseDelayMs?: number;
  /**
   * Cap on one retry delay (default 30 000 ms). A `Retry-After` longer than this is not waited
   * for: the request fails with the relay's code and `detail.retryAfterMs`.
   */
  maxDelayMs?: number;
  /** Time limit of one attempt, ms, on top of a long poll's wait (default 60 000; 0: none). */
  timeoutMs?: number;
}

/** Options every call takes. */
export interface RelayCallOptions {
  /** Aborts the call at once with `ABORTED` (also while waiting to retry). */
  signal?: AbortSignal;
}

/** Options of {@link HttpRelay.upload}. */
export interface UploadOptions extends RelayCallOptions {
  /** Mailbox ids to deliver to (default: every recipient of the envelope, through `family`). */
  to?: readonly string[];
}

/** Options of {@link HttpRelay.listPending}. */
export interface ListPendingOptions extends RelayCallOptions {
  /** Long poll: with nothing pending, the relay holds the answer up to this many seconds (1..30). */
  waitS?: number;
}

/** One request as the events describe it. */
export interface RelayRequestInfo {
  method: string;
  /** Path and query as sent. */
  path: string;
  /** 1 for the first attempt. */
  attempt: number;
}

/** Events of an {@link HttpRelay} (for progress displays; nothing depends on them). */
export interface HttpRelayEvents {
  /** An attempt is about to be sent. */
  request: (info: RelayRequestInfo) => void;
  /** An attempt was answered (any status). */
  response: (info: RelayRequestInfo & { status: number }) => void;
  /** An attempt failed and is retried after `delayMs`. */
  retry: (info: RelayRequestInfo & { delayMs: number; error: PlushlinkError }) => void;
  /** Upload progress of an envelope, in bytes (`fetch` reports only the start and the end). */
  'upload-progress': (progress: { id: string; sent: number; total: number }) => void;
  /** The relay acknowledged an upload. */
  uploaded: (info: { id: string; result: RelayUploadResult; mailboxes: string[] }) => void;
}

/** Statuses whose refusal is worth another attempt (docs/RELAY.md §2, §7). */
function retryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/** `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date; undefined when absent or invalid. */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const s = value.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isFinite(t) ? Math.max(0, t - nowMs) : undefined;
}

function aborted(what: string): PlushlinkError {
  return new PlushlinkError('ABORTED', `${what} aborted`);
}

/** Resolves with `p`, or rejects as soon as `signal` aborts (whether or not `p` ever settles). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal, onAbort: () => unknown): Promise<T> {
  p.catch(() => undefined); // a late rejection after an abort is not unhandled
  if (signal.aborted) return Promise.reject(onAbort());
  return new Promise<T>((resolve, reject) => {
    const listener = (): void => reject(onAbort());
    signal.addEventListener('abort', listener, { once: true });
    p.then(
      (x) => {
        signal.removeEventListener('abort', listener);
        resolve(x);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', listener);
        reject(e);
      },
    );
  });
}

function familyOf(dir: FamilyDirectory | undefined): readonly FamilyPublicKey[] {
  if (dir === undefined) return [];
  return typeof dir === 'function' ? dir() : dir;
}

/** Result of {@link resolveRecipients}. */
export interface ResolvedRecipients {
  /** Recipient key id (hex) → the mailbox id of the family member with that box key. */
  mailboxes: Map<string, string>;
  /** Recipient key id (hex) → that family member. */
  members: Map<string, FamilyPublicKey>;
  /** Recipient key ids (hex) no family member has. */
  unresolved: string[];
}

/** Maps an envelope's recipient key ids to family members and their mailbox ids (docs/RELAY.md §1). */
export function resolveRecipients(recipientKeyIds: readonly string[], family: FamilyDirectory | undefined): ResolvedRecipients {
  const byKeyId = new Map<string, FamilyPublicKey>();
  for (const m of familyOf(family)) {
    const k = keyIdHexOf(m.boxPublicKey);
    if (!byKeyId.has(k)) byKeyId.set(k, m);
  }
  const out: ResolvedRecipients = { mailboxes: new Map(), members: new Map(), unresolved: [] };
  for (const k of recipientKeyIds) {
    const m = byKeyId.get(k);
    if (m === undefined) out.unresolved.push(k);
    else {
      out.members.set(k, m);
      out.mailboxes.set(k, mailboxIdOf(m));
    }
  }
  return out;
}

/** A sender's Ed25519 public key as the routes name it (64 hex). */
function senderKeyHex(key: Uint8Array | Pick<FamilyPublicKey, 'signPublicKey'> | string): string {
  const hex = typeof key === 'string' ? key : toHex(key instanceof Uint8Array ? key : key.signPublicKey);
  if (!KEY_HEX_RE.test(hex)) throw new PlushlinkError('INVALID_KEY', 'a sender key is 32 bytes (64 lower-case hex characters)');
  return hex;
}

function checkId(id: string, what: string): string {
  if (typeof id !== 'string' || !ID_HEX_RE.test(id)) throw new PlushlinkError('BAD_PAYLOAD', `${what} must be 32 lower-case hex characters`);
  return id;
}

interface CallOptions {
  body?: Uint8Array;
  contentType?: string;
  signal?: AbortSignal;
  /** Added to the attempt's time limit (a long poll's wait). */
  extraTimeoutMs?: number;
  /** Unsigned (only `GET /v1/health`). */
  unsigned?: boolean;
}

interface Answer {
  status: number;
  headers: FetchResponse['headers'];
  body: Uint8Array;
}

/**
 * A relay over HTTP, as the identity `identity` (docs/RELAY.md). Every request is signed (fresh
 * nonce per attempt) and retried with exponential backoff and jitter on network errors, 5xx and
 * 429 (honouring `Retry-After`), never on another 4xx. Errors are {@link PlushlinkError}s: the
 * relay's problem code (one of `RELAY_PROBLEMS`, else `RELAY_ERROR`), `RELAY_UNAVAILABLE` for a
 * network failure or time-out, `RELAY_ERROR` for an answer outside the contract, `ABORTED`.
 */
export class HttpRelay extends EventEmitter<HttpRelayEvents> {
  /** This identity's mailbox id. */
  readonly mailboxId: string;
  /** The identity's sign public key, 64 hex. */
  readonly keyHex: string;
  private readonly base: string;
  private readonly basePath: string;
  private readonly fetchFn: FetchLike;
  private readonly now: () => number;
  private readonly sleep: SleepFn;
  private readonly jitter: () => number;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly options: HttpRelayOptions) {
    super();
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new PlushlinkError('BAD_PAYLOAD', 'relay url must be an absolute http(s) URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new PlushlinkError('BAD_PAYLOAD', 'relay url must be http or https');
    this.base = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.mailboxId = mailboxIdOf(options.identity);
    this.keyHex = toHex(options.identity.signPublicKey);
    this.fetchFn =
      options.fetch ??
      ((u, init) => {
        if (typeof globalThis.fetch !== 'function') throw new PlushlinkError('RELAY_UNAVAILABLE', 'no fetch in this environment');
        return globalThis.fetch(u, init as RequestInit);
      });
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? defaultSleep;
    this.jitter = options.jitter ?? Math.random;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 4);
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** The family directory as it is now. */
  family(): readonly FamilyPublicKey[] {
    return familyOf(this.options.family);
  }

  // ---------------------------------------------------------------------------------------------
  // Transport

  private async problemOf(answer: Answer, info: RelayRequestInfo): Promise<PlushlinkError> {
    const type = (answer.headers.get('content-type') ?? '').toLowerCase();
    const base = { status: answer.status, method: info.method, path: info.path };
    if (type.startsWith('application/problem+json')) {
      let json: unknown;
      try {
        json = JSON.parse(fromUtf8(answer.body));
      } catch {
        json = undefined;
      }
      const p = v.safeParse(ProblemAnswer, json);
      if (p.success) {
        const code: ErrorCode = isRelayProblemCode(p.output.code) ? p.output.code : 'RELAY_ERROR';
        return new PlushlinkError(code, `relay refused ${info.method} ${info.path}: ${p.output.detail ?? p.output.title}`, {
          ...base,
          problem: p.output.code,
          title: p.output.title,
          ...(p.output.detail !== undefined ? { problemDetail: p.output.detail } : {}),
        });
      }
      return new PlushlinkError('RELAY_ERROR', `relay answered ${answer.status} with a malformed problem`, base);
    }
    // Not the relay's own problem: a proxy or load balancer in between.
    const code: ErrorCode = answer.status === 502 || answer.status === 503 || answer.status === 504 ? 'RELAY_UNAVAILABLE' : 'RELAY_ERROR';
    return new PlushlinkError(code, `relay answered ${answer.status} without a problem document`, base);
  }

  /** One request with retries; resolves with a 2xx answer. */
  private async call(method: string, route: string, o: CallOptions = {}): Promise<Answer> {
    const { signal } = o;
    const path = this.basePath + route;
    const body = o.body ?? new Uint8Array(0);
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw aborted(`${method} ${path}`);
      const info: RelayRequestInfo = { method, path, attempt };
      const headers: Record<string, string> = { accept: 'application/json, application/problem+json, application/octet-stream' };
      if (!o.unsigned) {
        const sig = signRequest({ method, target: path, body }, this.options.identity, {
          created: Math.floor(this.now() / 1000),
          ...(this.options.random ? { random: this.options.random } : {}),
        });
        Object.assign(headers, sig);
      }
      if (o.contentType !== undefined) headers['content-type'] = o.contentType;

      const ctrl = new AbortController();
      const onUserAbort = (): void => ctrl.abort();
      signal?.addEventListener('abort', onUserAbort, { once: true });
      const limit = this.timeoutMs > 0 ? this.timeoutMs + (o.extraTimeoutMs ?? 0) : 0;
      let timedOut = false;
      const timer =
        limit > 0
          ? setTimeout(() => {
              timedOut = true;
              ctrl.abort();
            }, limit)
          : undefined;
      const cut = (): Error => new Error(timedOut ? 'timed out' : 'aborted');
      let answer: Answer | undefined;
      let netError: PlushlinkError | undefined;
      try {
        this.emit('request', info);
        const init: FetchInit = { method, headers, signal: ctrl.signal };
        if (o.body !== undefined) init.body = body;
        // Raced against the signal: an abort or time-out ends the call even if `fetch` ignores it.
        const res = await raceAbort(Promise.resolve().then(() => this.fetchFn(this.base + path, init)), ctrl.signal, cut);
        const bytes = new Uint8Array(await raceAbort<ArrayBuffer>(Promise.resolve().then(() => res.arrayBuffer()), ctrl.signal, cut));
        answer = { status: res.status, headers: res.headers, body: bytes };
      } catch (e) {
        if (signal?.aborted) throw aborted(`${method} ${path}`);
        netError = new PlushlinkError(
          'RELAY_UNAVAILABLE',
          timedOut ? `${method} ${path} timed out` : `${method} ${path}: the relay is unreachable`,
          { method, path, attempt },
          { cause: e },
        );
      } finally {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onUserAbort);
      }
      let error: PlushlinkError;
      let retryAfterMs: number | undefined;
      if (answer === undefined) {
        error = netError ?? new PlushlinkError('RELAY_UNAVAILABLE', `${method} ${path}: the relay is unreachable`, { method, path, attempt });
      } else {
        this.emit('response', { ...info, status: answer.status });
        if (answer.status >= 200 && answer.status < 300) return answer;
        error = await this.problemOf(answer, info);
        if (!retryableStatus(answer.status)) throw error;
        retryAfterMs = parseRetryAfter(answer.headers.get('retry-after'), this.now());
      }

      if (attempt >= this.maxAttempts) throw error;
      let delayMs: number;
      if (retryAfterMs !== undefined) {
        if (retryAfterMs > this.maxDelayMs) {
          throw new PlushlinkError(error.code, error.message, { ...error.detail, retryAfterMs }, { cause: error.cause });
        }
        delayMs = retryAfterMs;
      } else {
        delayMs = backoffDelay(attempt, this.baseDelayMs, this.maxDelayMs, this.jitter());
      }
      this.emit('retry', { ...info, delayMs, error });
      try {
        await this.sleep(delayMs, signal);
      } catch (e) {
        if (signal?.aborted) throw aborted(`${method} ${path}`);
        throw e;
      }
    }
  }

  private async json<S extends v.GenericSchema>(schema: S, method: string, route: string, o: CallOptions & { json?: unknown } = {}): Promise<v.InferOutput<S>> {
    const call: CallOptions = { ...o };
    if (o.json !== undefined) {
      call.body = utf8(JSON.stringify(o.json));
      call.contentType = 'application/json';
    }
    const answer = await this.call(method, route, call);
    const what = `${method} ${route.replace(/\?.*$/, '')}`;
    const type = (answer.headers.get('content-type') ?? '').toLowerCase();
    if (!type.startsWith('application/json')) {
      throw new PlushlinkError('RELAY_ERROR', `the relay's answer to ${what} is not JSON`, { contentType: type });
    }
    let value: unknown;
    try {
      value = JSON.parse(fromUtf8(answer.body));
    } catch {
      throw new PlushlinkError('RELAY_ERROR', `the relay's answer to ${what} is not valid JSON`);
    }
    return parseAnswer(schema, value, what);
  }

  // ---------------------------------------------------------------------------------------------
  // Routes (docs/RELAY.md §2)

  /** `GET /v1/health` (unsigned). */
  async health(options: RelayCallOptions = {}): Promise<HealthAnswer> {
    return this.json(HealthAnswer, 'GET', relayPaths.health(), { ...options, unsigned: true });
  }

  /** Creates this identity's mailbox (idempotent). Resolves whether it was created now. */
  async ensureMailbox(options: RelayCallOptions = {}): Promise<{ mailboxId: string; created: boolean }> {
    const { identity } = this.options;
    const a = await this.json(CreateMailboxAnswer, 'PUT', relayPaths.mailbox(this.mailboxId), {
      ...options,
      json: { signPublicKey: toHex(identity.signPublicKey), boxPublicKey: toHex(identity.boxPublicKey) },
    });
    if (a.mailboxId !== this.mailboxId || a.keyId !== keyIdHexOf(identity.boxPublicKey)) {
      throw new PlushlinkError('RELAY_ERROR', 'the relay answered for another mailbox', { mailboxId: a.mailboxId });
    }
    return { mailboxId: a.mailboxId, created: a.created };
  }

  /** This identity's mailbox: usage, quota and allow-list. */
  async getMailbox(options: RelayCallOptions = {}): Promise<MailboxAnswer> {
    const a = await this.json(MailboxAnswer, 'GET', relayPaths.mailbox(this.mailboxId), options);
    if (a.mailboxId !== this.mailboxId) throw new PlushlinkError('RELAY_ERROR', 'the relay answered for another mailbox', { mailboxId: a.mailboxId });
    return a;
  }

  /** Deletes this identity's mailbox with its deliveries and allow-list. */
  async deleteMailbox(options: RelayCallOptions = {}): Promise<boolean> {
    return (await this.json(DeleteMailboxAnswer, 'DELETE', relayPaths.mailbox(this.mailboxId), options)).deleted;
  }

  /** Allows a sender to deliver to this mailbox; false when it already was allowed. */
  async allowSender(key: Uint8Array | Pick<FamilyPublicKey, 'signPublicKey'> | string, options: RelayCallOptions = {}): Promise<boolean> {
    return (await this.json(SenderAnswer, 'PUT', relayPaths.sender(this.mailboxId, senderKeyHex(key)), options)).changed;
  }

  /** Removes a sender from the allow-list; false when it was not on it. */
  async disallowSender(key: Uint8Array | Pick<FamilyPublicKey, 'signPublicKey'> | string, options: RelayCallOptions = {}): Promise<boolean> {
    return (await this.json(SenderAnswer, 'DELETE', relayPaths.sender(this.mailboxId, senderKeyHex(key)), options)).changed;
  }

  /** The mailbox ids of an envelope's recipients, through the family directory. */
  mailboxesOf(envelope: Uint8Array): { mailboxes: string[]; unresolved: string[] } {
    const info = peekVoiceMessage(envelope);
    const r = resolveRecipients(info.recipients.map(toHex), this.options.family);
    return { mailboxes: [...new Set(r.mailboxes.values())], unresolved: r.unresolved };
  }

  /**
   * Uploads an envelope (`PUT /v1/envelopes/{id}?to=…`) to `to`, by default every recipient's
   * mailbox (an unresolvable recipient key id is `RELAY_BAD_ADDRESSING` with
   * `detail.unresolved`, sent nowhere). Resolves with the relay's answer.
   */
  async uploadEnvelope(id: string, bytes: Uint8Array, options: UploadOptions = {}): Promise<{ result: RelayUploadResult; mailboxes: string[] }> {
    checkId(id, 'message id');
    const info = peekVoiceMessage(bytes);
    if (info.messageId !== id) throw new PlushlinkError('BAD_ENVELOPE', 'id does not match the envelope message id', { id });
    let to: string[];
    if (options.to !== undefined) {
      to = [...new Set(options.to)];
      for (const m of to) checkId(m, 'mailbox id');
    } else {
      const r = this.mailboxesOf(bytes);
      if (r.unresolved.length > 0) {
        throw new PlushlinkError('RELAY_BAD_ADDRESSING', 'recipient key ids not in the family directory: their mailboxes are unknown', {
          id,
          unresolved: r.unresolved,
        });
      }
      to = r.mailboxes;
    }
    if (to.length < 1 || to.length > 64) throw new PlushlinkError('BAD_PAYLOAD', 'an upload goes to 1..64 mailboxes', { count: to.length });
    this.emit('upload-progress', { id, sent: 0, total: bytes.length });
    const a = await this.json(UploadAnswer, 'PUT', relayPaths.upload(id, to), {
      body: bytes,
      contentType: 'application/octet-stream',
      ...(options.signal ? { signal: options.signal } : {}),
    });
    this.emit('upload-progress', { id, sent: bytes.length, total: bytes.length });
    this.emit('uploaded', { id, result: a.result, mailboxes: a.mailboxes });
    return a;
  }

  /** Uploads an envelope; the outbox's `Relay` contract (docs/MESSAGES.md §4.1). See {@link uploadEnvelope}. */
  async upload(id: string, bytes: Uint8Array, options: UploadOptions = {}): Promise<RelayUploadResult> {
    return (await this.uploadEnvelope(id, bytes, options)).result;
  }

  /** Pending envelopes of this mailbox, oldest first (at most 100; `more` says whether there are more). */
  async listPending(options: ListPendingOptions = {}): Promise<PendingAnswer> {
    const waitS = Math.max(0, Math.min(MAX_WAIT_S, Math.floor(options.waitS ?? 0)));
    return this.json(PendingAnswer, 'GET', relayPaths.pending(this.mailboxId, waitS), {
      extraTimeoutMs: waitS * 1000,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /** The bytes of an envelope pending in this mailbox (`RELAY_NOT_FOUND` otherwise). Unverified. */
  async fetchEnvelope(messageId: string, options: RelayCallOptions = {}): Promise<Uint8Array> {
    const a = await this.call('GET', relayPaths.envelope(this.mailboxId, checkId(messageId, 'message id')), options);
    return a.body;
  }

  /** Acknowledges an envelope with this identity's delivery receipt signature (docs/RELAY.md §5). */
  async acknowledge(messageId: string, signature: Uint8Array, options: RelayCallOptions = {}): Promise<boolean> {
    if (signature.length !== 64) throw new PlushlinkError('BAD_PAYLOAD', 'a receipt signature is 64 bytes');
    return (
      await this.json(ReceiptAnswer, 'POST', relayPaths.receipt(this.mailboxId, checkId(messageId, 'message id')), {
        ...options,
        json: { signature: toBase64(signature) },
      })
    ).acknowledged;
  }

  /** Drops a pending envelope without a receipt (one that does not open). */
  async discard(messageId: string, options: RelayCallOptions = {}): Promise<boolean> {
    return (await this.json(DiscardAnswer, 'DELETE', relayPaths.envelope(this.mailboxId, checkId(messageId, 'message id')), options)).discarded;
  }

  /** Delivery receipts waiting for this identity as a sender, oldest first (at most 100). Unverified. */
  async listReceipts(options: RelayCallOptions & { after?: string } = {}): Promise<ReceiptsAnswer> {
    return this.json(ReceiptsAnswer, 'GET', relayPaths.receipts(options.after), options);
  }

  /** Deletes this sender's receipts of one message; resolves how many. */
  async deleteReceipts(messageId: string, options: RelayCallOptions = {}): Promise<number> {
    return (await this.json(DeleteReceiptsAnswer, 'DELETE', relayPaths.receiptsOf(checkId(messageId, 'message id')), options)).removed;
  }
}
