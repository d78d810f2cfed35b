/**
 * An in-memory relay behind a `fetch` function, implementing docs/RELAY.md (§2 routes, §3
 * signatures in the order of §3.3, §4 allow-lists, §5 receipts) for the unit and property tests
 * of the library's clients. A test double only: the real server (`relay/`) has its own tests.
 *
 * Deterministic: no timers. A long poll (`wait=S`) is held until an envelope is delivered to the
 * mailbox, {@link FakeRelay.releaseWaiters} is called, or the request is aborted — never by time.
 * Faults are queued with {@link FakeRelay.fault}: a network failure before the relay sees the
 * request, a lost answer after it processed it, or a canned refusal.
 */
import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import * as v from 'valibot';
import { bytesEqual, fromBase64, fromHex, fromUtf8, toHex } from '../../src/protocol/bytes.js';
import { sha512 } from '../../src/protocol/crypto.js';
import { isPlushlinkError } from '../../src/protocol/errors.js';
import { inspectVoiceMessage } from '../../src/messages/envelope.js';
import type { FetchInit, FetchLike, FetchResponse } from '../../src/messages/http-relay.js';
import { verifyRequest } from '../../src/messages/http-signature.js';
import {
  CreateMailboxBody,
  ID_HEX_RE,
  KEY_HEX_RE,
  MAX_LIST,
  MAX_WAIT_S,
  RELAY_PROBLEMS,
  ReceiptBody,
  keyIdHexOf,
  mailboxIdOf,
  problemType,
  verifyDeliveryReceipt,
  type RelayProblemCode,
} from '../../src/messages/relay-protocol.js';

const SPKI_ED25519 = fromHex('302a300506032b6570032100');
const keyCache = new Map<string, KeyObject>();

/** Ed25519 verification with node:crypto, as the real relay does it (docs/RELAY.md §3.3 step 5). */
export function nativeVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  const hex = toHex(publicKey);
  let key = keyCache.get(hex);
  if (!key) {
    const der = new Uint8Array(SPKI_ED25519.length + 32);
    der.set(SPKI_ED25519);
    der.set(publicKey, SPKI_ED25519.length);
    try {
      key = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
    } catch {
      return false;
    }
    keyCache.set(hex, key);
  }
  try {
    return nodeVerify(null, message, key, signature);
  } catch {
    return false;
  }
}

interface Mailbox {
  signPublicKey: string;
  boxPublicKey: string;
  keyId: string;
  senders: Set<string>;
}

interface StoredEnvelope {
  bytes: Uint8Array;
  hash: Uint8Array;
  sender: string;
}

interface Delivery {
  messageId: string;
  receivedAt: number;
  seq: number;
}

/** A receipt held for its sender. */
export interface FakeReceipt {
  sender: string;
  messageId: string;
  mailboxId: string;
  recipient: string;
  recipientBox: string;
  signature: string;
  at: number;
  seq: number;
}

/** A request as the fault matchers and the log see it. */
export interface FakeRequest {
  method: string;
  /** Path and query as sent. */
  path: string;
}

/** One logged request. */
export type FakeLogEntry = FakeRequest & { status: number | 'network' | 'lost'; signer?: string };

/** What a queued fault does. */
export type FaultAction =
  /** The relay never sees the request; `fetch` rejects (a network failure). */
  | { kind: 'network' }
  /** The relay processes the request, then the answer is lost; `fetch` rejects. */
  | { kind: 'lose-answer' }
  /** The relay answers this problem without processing the request. */
  | { kind: 'problem'; code: RelayProblemCode | string; status?: number; retryAfter?: string }
  /** The relay answers these raw bytes without processing the request. */
  | { kind: 'raw'; status: number; contentType?: string; body: string; retryAfter?: string };

/** Options of {@link FakeRelay}. */
export interface FakeRelayOptions {
  /** The relay's clock, ms (default `Date.now`). */
  now?: () => number;
  /** Largest envelope, bytes (default 1 MiB). */
  maxEnvelopeBytes?: number;
  /** Per-mailbox quota (default 1000 envelopes, 64 MiB). */
  quota?: { envelopes: number; bytes: number };
  /** Entries per listing (default 100, docs/RELAY.md §2). */
  maxList?: number;
  /** Accepted clock skew, s (default 300). */
  maxSkewS?: number;
}

class Refusal extends Error {
  constructor(
    readonly code: RelayProblemCode,
    detail: string,
  ) {
    super(detail);
  }
}

function refuse(code: RelayProblemCode, detail: string): never {
  throw new Refusal(code, detail);
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

function problemResponse(code: string, status: number, detail: string, retryAfter?: string): Response {
  const headers: Record<string, string> = { 'content-type': 'application/problem+json' };
  if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
  const type = code in RELAY_PROBLEMS ? problemType(code as RelayProblemCode) : 'about:blank';
  return new Response(JSON.stringify({ type, title: code, status, code, detail }), { status, headers });
}

function abortError(): Error {
  const e = new Error('This operation was aborted');
  e.name = 'AbortError';
  return e;
}

/** The in-memory relay. Use {@link FakeRelay.fetch} as the clients' `fetch`. */
export class FakeRelay {
  readonly mailboxes = new Map<string, Mailbox>();
  readonly envelopes = new Map<string, StoredEnvelope>();
  /** mailboxId → messageId → delivery. */
  readonly deliveries = new Map<string, Map<string, Delivery>>();
  receipts: FakeReceipt[] = [];
  private readonly nonces = new Set<string>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly faults: { match: (r: FakeRequest) => boolean; action: FaultAction }[] = [];
  private seq = 0;
  /** Every request that reached the fetch function, with its outcome. */
  readonly log: FakeLogEntry[] = [];
  private readonly now: () => number;
  private readonly maxEnvelopeBytes: number;
  private readonly quota: { envelopes: number; bytes: number };
  /** Entries per listing; tests may change it. */
  maxList: number;
  private readonly maxSkewS: number;
  /** Requests being held by a long poll right now. */
  holding = 0;

  constructor(options: FakeRelayOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxEnvelopeBytes = options.maxEnvelopeBytes ?? 1024 * 1024;
    this.quota = options.quota ?? { envelopes: 1000, bytes: 64 * 1024 * 1024 };
    this.maxList = options.maxList ?? MAX_LIST;
    this.maxSkewS = options.maxSkewS ?? 300;
  }

  /** Queues a fault for the next request matching `match` (default: any request). */
  fault(action: FaultAction, match: (r: FakeRequest) => boolean = () => true): void {
    this.faults.push({ match, action });
  }

  /** Drops every queued fault. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Faults still queued. */
  get pendingFaults(): number {
    return this.faults.length;
  }

  /** Loses everything: mailboxes, allow-lists, envelopes, deliveries, receipts, nonces. */
  wipe(): void {
    this.mailboxes.clear();
    this.envelopes.clear();
    this.deliveries.clear();
    this.receipts = [];
    this.nonces.clear();
  }

  /** Answers every held long poll now (as if its wait ran out). */
  releaseWaiters(): void {
    for (const set of this.waiters.values()) for (const w of [...set]) w();
  }

  /** Ids pending in a mailbox. */
  pendingIn(mailboxId: string): string[] {
    return [...(this.deliveries.get(mailboxId)?.keys() ?? [])];
  }

  readonly fetch: FetchLike = async (url: string, init: FetchInit): Promise<FetchResponse> => {
    if (init.signal?.aborted) throw abortError();
    const u = new URL(url);
    const req: FakeRequest = { method: init.method.toUpperCase(), path: u.pathname + u.search };
    const i = this.faults.findIndex((f) => f.match(req));
    const fault = i >= 0 ? this.faults.splice(i, 1)[0]!.action : undefined;
    if (fault?.kind === 'network') {
      this.log.push({ ...req, status: 'network' });
      throw new TypeError('fetch failed');
    }
    if (fault?.kind === 'problem') {
      const status = fault.status ?? (RELAY_PROBLEMS as Record<string, number>)[fault.code] ?? 500;
      this.log.push({ ...req, status });
      return problemResponse(fault.code, status, 'injected', fault.retryAfter);
    }
    if (fault?.kind === 'raw') {
      this.log.push({ ...req, status: fault.status });
      const headers: Record<string, string> = {};
      if (fault.contentType) headers['content-type'] = fault.contentType;
      if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
      return new Response(fault.body, { status: fault.status, headers });
    }
    const entry: FakeLogEntry = { ...req, status: 0 };
    this.log.push(entry);
    let res: Response;
    try {
      res = await this.handle(req, init, entry);
    } catch (e) {
      if (e instanceof Refusal) res = problemResponse(e.code, RELAY_PROBLEMS[e.code], e.message);
      else if (e instanceof Error && e.name === 'AbortError') throw e;
      else res = problemResponse('RELAY_ERROR', 500, String(e));
    }
    entry.status = res.status;
    if (fault?.kind === 'lose-answer') {
      entry.status = 'lost';
      throw new TypeError('fetch failed (answer lost)');
    }
    return res;
  };

  private authenticate(req: FakeRequest, init: FetchInit, body: Uint8Array): string {
    const headers = init.headers;
    try {
      const r = verifyRequest({ method: req.method, target: req.path, body }, headers, {
        now: Math.floor(this.now() / 1000),
        maxSkewS: this.maxSkewS,
        verify: nativeVerify,
      });
      const key = `${r.keyId} ${r.nonce}`;
      if (this.nonces.has(key)) refuse('RELAY_REPLAYED', 'nonce already used');
      this.nonces.add(key);
      return r.keyId;
    } catch (e) {
      if (isPlushlinkError(e) && e.code in RELAY_PROBLEMS) refuse(e.code as RelayProblemCode, e.message);
      throw e;
    }
  }

  private owned(mailboxId: string, signer: string): Mailbox {
    const m = this.mailboxes.get(mailboxId);
    if (!m) refuse('RELAY_NO_MAILBOX', 'no such mailbox');
    if (m.signPublicKey !== signer) refuse('RELAY_NOT_OWNER', 'not the owner of this mailbox');
    return m;
  }

  private jsonBody<S extends v.GenericSchema>(schema: S, body: Uint8Array): v.InferOutput<S> {
    let value: unknown;
    try {
      value = JSON.parse(fromUtf8(body));
    } catch {
      refuse('RELAY_BAD_REQUEST', 'body is not JSON');
    }
    const r = v.safeParse(schema, value);
    if (!r.success) refuse('RELAY_BAD_REQUEST', 'body does not match the route');
    return r.output;
  }

  private gc(messageId: string): void {
    for (const d of this.deliveries.values()) if (d.has(messageId)) return;
    this.envelopes.delete(messageId);
  }

  private usage(mailboxId: string): { envelopes: number; bytes: number } {
    let envelopes = 0;
    let bytes = 0;
    for (const id of this.deliveries.get(mailboxId)?.keys() ?? []) {
      envelopes++;
      bytes += this.envelopes.get(id)?.bytes.length ?? 0;
    }
    return { envelopes, bytes };
  }

  private pendingList(mailboxId: string): Delivery[] {
    return [...(this.deliveries.get(mailboxId)?.values() ?? [])].sort((a, b) => a.receivedAt - b.receivedAt || a.seq - b.seq);
  }

  private async hold(mailboxId: string, signal: AbortSignal | undefined): Promise<void> {
    let set = this.waiters.get(mailboxId);
    if (!set) this.waiters.set(mailboxId, (set = new Set()));
    const waiters = set;
    this.holding++;
    try {
      await new Promise<void>((resolve, reject) => {
        const done = (): void => {
          waiters.delete(done);
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = (): void => {
          waiters.delete(done);
          reject(abortError());
        };
        waiters.add(done);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    } finally {
      this.holding--;
    }
  }

  private wake(mailboxId: string): void {
    for (const w of [...(this.waiters.get(mailboxId) ?? [])]) w();
  }

  private async handle(req: FakeRequest, init: FetchInit, entry: { signer?: string }): Promise<Response> {
    const body = init.body ?? new Uint8Array(0);
    const q = req.path.indexOf('?');
    const path = q < 0 ? req.path : req.path.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : req.path.slice(q + 1));
    const seg = path.split('/').slice(1);
    if (seg[0] !== 'v1') refuse('RELAY_NOT_FOUND', 'no such route');
    const m = req.method;

    if (m === 'GET' && path === '/v1/health') return json(200, { ok: true, version: 'fake', store: 'memory' });

    const signer = this.authenticate(req, init, body);
    entry.signer = signer;
    const id = (s: string | undefined): string => {
      if (s === undefined || !ID_HEX_RE.test(s)) refuse('RELAY_BAD_REQUEST', 'malformed id');
      return s;
    };

    // /v1/mailboxes/{id}[...]
    if (seg[1] === 'mailboxes' && seg.length >= 3) {
      const mailboxId = id(seg[2]);
      if (seg.length === 3) {
        if (m === 'PUT') {
          const b = this.jsonBody(CreateMailboxBody, body);
          if (mailboxIdOf({ signPublicKey: fromHex(b.signPublicKey), boxPublicKey: fromHex(b.boxPublicKey) }) !== mailboxId) {
            refuse('RELAY_BAD_REQUEST', 'keys do not hash to the mailbox id');
          }
          if (b.signPublicKey !== signer) refuse('RELAY_NOT_OWNER', 'a mailbox is created by its own identity');
          const keyId = keyIdHexOf(fromHex(b.boxPublicKey));
          if (this.mailboxes.has(mailboxId)) return json(200, { mailboxId, keyId, created: false });
          this.mailboxes.set(mailboxId, { signPublicKey: b.signPublicKey, boxPublicKey: b.boxPublicKey, keyId, senders: new Set() });
          return json(201, { mailboxId, keyId, created: true });
        }
        const mb = this.owned(mailboxId, signer);
        if (m === 'GET') {
          const u = this.usage(mailboxId);
          return json(200, { mailboxId, keyId: mb.keyId, ...u, quota: { ...this.quota }, senders: [...mb.senders].sort() });
        }
        if (m === 'DELETE') {
          const ids = this.pendingIn(mailboxId);
          this.mailboxes.delete(mailboxId);
          this.deliveries.delete(mailboxId);
          for (const x of ids) this.gc(x);
          return json(200, { deleted: true });
        }
      }
      if (seg[3] === 'senders' && seg.length === 5) {
        const key = seg[4]!;
        if (!KEY_HEX_RE.test(key)) refuse('RELAY_BAD_REQUEST', 'malformed key');
        const mb = this.owned(mailboxId, signer);
        if (m === 'PUT') {
          const changed = !mb.senders.has(key);
          mb.senders.add(key);
          return json(200, { changed });
        }
        if (m === 'DELETE') return json(200, { changed: mb.senders.delete(key) });
      }
      if (seg[3] === 'envelopes') {
        this.owned(mailboxId, signer);
        if (seg.length === 4 && m === 'GET') {
          let waitS = 0;
          if (query.has('wait')) {
            const w = query.get('wait')!;
            if (!/^\d+$/.test(w) || Number(w) < 1 || Number(w) > MAX_WAIT_S) refuse('RELAY_BAD_REQUEST', 'wait must be 1..30');
            waitS = Number(w);
          }
          if (waitS > 0 && this.pendingList(mailboxId).length === 0) await this.hold(mailboxId, init.signal);
          if (!this.mailboxes.has(mailboxId)) refuse('RELAY_NO_MAILBOX', 'mailbox deleted meanwhile');
          const all = this.pendingList(mailboxId);
          const envelopes = all.slice(0, this.maxList).map((d) => {
            const e = this.envelopes.get(d.messageId)!;
            return { messageId: d.messageId, size: e.bytes.length, receivedAt: d.receivedAt, sender: e.sender };
          });
          return json(200, { envelopes, more: all.length > this.maxList });
        }
        const messageId = id(seg[4]);
        const d = this.deliveries.get(mailboxId)?.get(messageId);
        if (seg.length === 5 && m === 'GET') {
          if (!d) refuse('RELAY_NOT_FOUND', 'no such envelope');
          return new Response(this.envelopes.get(messageId)!.bytes as Uint8Array<ArrayBuffer>, {
            status: 200,
            headers: { 'content-type': 'application/octet-stream' },
          });
        }
        if (seg.length === 5 && m === 'DELETE') {
          if (!d) refuse('RELAY_NOT_FOUND', 'no such envelope');
          this.deliveries.get(mailboxId)!.delete(messageId);
          this.gc(messageId);
          return json(200, { discarded: true });
        }
        if (seg.length === 6 && seg[5] === 'receipt' && m === 'POST') {
          const b = this.jsonBody(ReceiptBody, body);
          if (!d) refuse('RELAY_NOT_FOUND', 'no such envelope');
          const mb = this.mailboxes.get(mailboxId)!;
          const env = this.envelopes.get(messageId)!;
          const sig = fromBase64(b.signature);
          const owner = { signPublicKey: fromHex(mb.signPublicKey), boxPublicKey: fromHex(mb.boxPublicKey) };
          if (!verifyDeliveryReceipt(owner, messageId, env.hash, sig, nativeVerify)) refuse('RELAY_BAD_RECEIPT', 'receipt does not verify');
          this.deliveries.get(mailboxId)!.delete(messageId);
          this.receipts = this.receipts.filter((r) => !(r.messageId === messageId && r.mailboxId === mailboxId));
          this.receipts.push({
            sender: env.sender,
            messageId,
            mailboxId,
            recipient: mb.signPublicKey,
            recipientBox: mb.boxPublicKey,
            signature: b.signature,
            at: this.now(),
            seq: this.seq++,
          });
          this.gc(messageId);
          return json(200, { acknowledged: true });
        }
      }
    }

    if (seg[1] === 'envelopes' && seg.length === 3 && m === 'PUT') {
      const messageId = id(seg[2]);
      const toRaw = query.get('to');
      const to = toRaw === null ? [] : toRaw.split(',');
      if (to.length < 1 || to.length > 64 || new Set(to).size !== to.length || to.some((x) => !ID_HEX_RE.test(x))) {
        refuse('RELAY_BAD_REQUEST', 'to must list 1..64 distinct mailbox ids');
      }
      if (body.length > this.maxEnvelopeBytes) refuse('RELAY_TOO_LARGE', 'envelope too large');
      let info;
      try {
        info = inspectVoiceMessage(body);
      } catch {
        refuse('RELAY_BAD_ENVELOPE', 'not a valid envelope');
      }
      if (info.messageId !== messageId) refuse('RELAY_BAD_ENVELOPE', 'message id does not match');
      const sender = toHex(info.sender);
      if (sender !== signer) refuse('RELAY_SIGNER_NOT_SENDER', 'the request signer is not the envelope sender');
      const recipients = new Set(info.recipients.map(toHex));
      for (const mb of to) {
        const box = this.mailboxes.get(mb);
        if (!box) refuse('RELAY_NO_MAILBOX', `no mailbox ${mb}`);
        if (!recipients.has(box.keyId)) refuse('RELAY_BAD_ADDRESSING', `${mb} is not a recipient`);
        if (!box.senders.has(sender)) refuse('RELAY_SENDER_NOT_ALLOWED', `${mb} does not allow this sender`);
      }
      const existing = this.envelopes.get(messageId);
      if (existing && !bytesEqual(existing.bytes, body)) refuse('RELAY_CONFLICT', 'another envelope has this id');
      const fresh = to.filter((mb) => !this.deliveries.get(mb)?.has(messageId));
      for (const mb of fresh) {
        const u = this.usage(mb);
        if (u.envelopes + 1 > this.quota.envelopes) refuse('RELAY_QUOTA_COUNT', `${mb} is full`);
        if (u.bytes + body.length > this.quota.bytes) refuse('RELAY_QUOTA_BYTES', `${mb} is full`);
      }
      if (!existing) this.envelopes.set(messageId, { bytes: Uint8Array.from(body), hash: sha512(body), sender });
      const at = this.now();
      for (const mb of fresh) {
        let dm = this.deliveries.get(mb);
        if (!dm) this.deliveries.set(mb, (dm = new Map()));
        dm.set(messageId, { messageId, receivedAt: at, seq: this.seq++ });
      }
      for (const mb of fresh) this.wake(mb);
      return json(existing ? 200 : 201, { result: existing ? 'duplicate' : 'stored', mailboxes: fresh });
    }

    if (seg[1] === 'receipts') {
      if (seg.length === 2 && m === 'GET') {
        const mine = this.receipts.filter((r) => r.sender === signer).sort((a, b) => a.at - b.at || a.seq - b.seq);
        const receipts = mine.slice(0, this.maxList).map(({ sender: _s, seq: _q, ...r }) => r);
        return json(200, { receipts, more: mine.length > this.maxList });
      }
      if (seg.length === 3 && m === 'DELETE') {
        const messageId = id(seg[2]);
        const before = this.receipts.length;
        this.receipts = this.receipts.filter((r) => !(r.sender === signer && r.messageId === messageId));
        return json(200, { removed: before - this.receipts.length });
      }
    }
    refuse('RELAY_NOT_FOUND', 'no such route');
  }
}
