/**
 * Test rig for the relay: a relay on either back end (SQLite in a temp folder, or a throwaway
 * PostgreSQL), an injected clock, and signed requests through `app.inject` or real HTTP.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { createRelay, type RelayOptions, type RelayServer } from '@plushlink/relay';
import { openSqliteStore } from '../../relay/src/store/sqlite.js';
import { openPostgresStore } from '../../relay/src/store/postgres.js';
import type { RelayStore } from '../../relay/src/store/types.js';
import { toHex } from '../../src/protocol/bytes.js';
import {
  generateFamilyIdentity,
  isRelayProblemCode,
  mailboxIdOf,
  problemType,
  RELAY_PROBLEMS,
  relayPaths,
  sealVoiceMessage,
  signDeliveryReceipt,
  signRequest,
  type FamilyIdentity,
  type FamilyPublicKey,
  type SignRequestOptions,
} from '../../src/messages/index.js';
import { throwawayPostgres } from './postgres.js';

/** The back ends every relay suite runs on. */
export const BACKENDS = ['sqlite', 'postgres'] as const;
export type Backend = (typeof BACKENDS)[number];

/** A store factory for one back end; `skip` says why a back end is unavailable. */
export interface StoreFactory {
  open(): Promise<RelayStore>;
  /** A second store instance on the same database (a second relay process). */
  openAnother(): Promise<RelayStore>;
  cleanup(): Promise<void>;
}

/** Prepares a back end, or returns the reason it is skipped here. */
export async function prepareBackend(backend: Backend): Promise<StoreFactory | { skip: string }> {
  if (backend === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'plushlink-relay-'));
    const path = join(dir, 'relay.db');
    return {
      open: async () => openSqliteStore({ path }),
      openAnother: async () => openSqliteStore({ path }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const pg = await throwawayPostgres();
  if ('skip' in pg) return pg;
  return {
    open: async () => openPostgresStore({ url: pg.url }),
    openAnother: async () => openPostgresStore({ url: pg.url }),
    cleanup: () => pg.stop(),
  };
}

/** A settable clock, ms. Starts at a fixed date so that runs are reproducible. */
export class TestClock {
  t = Date.UTC(2026, 11, 2, 12, 0, 0);
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** A relay on a store with a test clock. Rate limits off unless asked for. */
export async function startRelay(store: RelayStore, clock: TestClock, options: Partial<RelayOptions> = {}): Promise<RelayServer> {
  return createRelay({ store, now: clock.now, sweepIntervalMs: 0, perKey: false, perAddress: false, ...options });
}

/** A signed request's parts, for `app.inject`. */
export interface SignedInject {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  url: string;
  headers: Record<string, string>;
  payload?: Buffer;
}

/** Builds a signed request: JSON bodies for objects, octet-stream for bytes. */
export function signed(
  identity: FamilyIdentity,
  method: SignedInject['method'],
  target: string,
  body?: Uint8Array | object,
  options: SignRequestOptions & { clock?: TestClock } = {},
): SignedInject {
  let bytes: Uint8Array | undefined;
  const headers: Record<string, string> = {};
  if (body instanceof Uint8Array) {
    bytes = body;
    headers['content-type'] = 'application/octet-stream';
  } else if (body !== undefined) {
    bytes = new TextEncoder().encode(JSON.stringify(body));
    headers['content-type'] = 'application/json';
  }
  const created = options.created ?? Math.floor((options.clock?.now() ?? Date.now()) / 1000);
  const sig = signRequest({ method, target, body: bytes ?? new Uint8Array(0) }, identity, { ...options, created });
  Object.assign(headers, sig);
  return { method, url: target, headers, ...(bytes ? { payload: Buffer.from(bytes) } : {}) };
}

/** A family member in a test: identity, public key, mailbox id. */
export interface Member {
  id: FamilyIdentity;
  pub: FamilyPublicKey;
  mailbox: string;
}

export function member(name: string): Member {
  const id = generateFamilyIdentity(name);
  return { id, pub: { name, signPublicKey: id.signPublicKey, boxPublicKey: id.boxPublicKey }, mailbox: mailboxIdOf(id) };
}

/**
 * Checks an answer of the relay against docs/RELAY.md §7: every refusal (status ≥ 400) is an
 * `application/problem+json` document with exactly the RFC 9457 members the relay sends, a known
 * code whose status it carries, the type derived from that code, a title and a detail that say
 * something, and the request's path (no query) as instance. Returns the problem's code.
 */
export function expectProblemDocument(res: { statusCode: number; headers: Record<string, unknown>; json(): unknown }, target: string): string | undefined {
  if (res.statusCode < 400) return undefined;
  expect(String(res.headers['content-type']), `${res.statusCode} ${target}`).toContain('application/problem+json');
  const body = res.json() as Record<string, unknown>;
  expect(Object.keys(body).sort(), target).toEqual(['code', 'detail', 'instance', 'status', 'title', 'type']);
  const code = body.code;
  expect(typeof code === 'string' && isRelayProblemCode(code), `${String(code)} is a relay problem code`).toBe(true);
  const known = code as keyof typeof RELAY_PROBLEMS;
  expect(body.status, known).toBe(res.statusCode);
  expect(RELAY_PROBLEMS[known], known).toBe(res.statusCode);
  expect(body.type, known).toBe(problemType(known));
  for (const member of ['title', 'detail'] as const) {
    expect(typeof body[member] === 'string' && (body[member] as string).trim().length > 0, `${known}: a ${member} that says something`).toBe(true);
  }
  expect(body.instance, known).toBe(target.split('?')[0]);
  return known;
}

/** Thin signed client over `app.inject` (status + parsed JSON or bytes). */
export class InjectClient {
  constructor(
    readonly relay: RelayServer,
    readonly clock: TestClock,
  ) {}

  async call(who: FamilyIdentity, method: SignedInject['method'], target: string, body?: Uint8Array | object, options: SignRequestOptions = {}) {
    const req = signed(who, method, target, body, { ...options, clock: this.clock });
    const res = await this.relay.app.inject(req);
    expectProblemDocument(res, target);
    const type = String(res.headers['content-type'] ?? '');
    const json = type.includes('json') ? (res.json() as Record<string, unknown>) : undefined;
    return { status: res.statusCode, json, body: res.rawPayload, headers: res.headers, code: json?.code as string | undefined };
  }

  createMailbox(m: Member) {
    return this.call(m.id, 'PUT', relayPaths.mailbox(m.mailbox), { signPublicKey: toHex(m.id.signPublicKey), boxPublicKey: toHex(m.id.boxPublicKey) });
  }

  allow(owner: Member, sender: Member) {
    return this.call(owner.id, 'PUT', relayPaths.sender(owner.mailbox, toHex(sender.id.signPublicKey)));
  }

  upload(from: Member, envelope: Uint8Array, messageId: string, to: Member[]) {
    return this.call(from.id, 'PUT', relayPaths.upload(messageId, to.map((m) => m.mailbox)), envelope);
  }

  list(owner: Member, waitS = 0) {
    return this.call(owner.id, 'GET', relayPaths.pending(owner.mailbox, waitS));
  }

  fetch(owner: Member, messageId: string) {
    return this.call(owner.id, 'GET', relayPaths.envelope(owner.mailbox, messageId));
  }

  receipt(owner: Member, messageId: string, envelope: Uint8Array) {
    const sig = signDeliveryReceipt(owner.id, messageId, envelope);
    return this.call(owner.id, 'POST', relayPaths.receipt(owner.mailbox, messageId), { signature: Buffer.from(sig).toString('base64') });
  }
}

/** Seals `audio` (default: a few bytes) from one member to others. */
export function envelope(from: Member, to: Member[], audio: Uint8Array = new Uint8Array(200).fill(7), createdAt = Date.UTC(2026, 11, 2)): { bytes: Uint8Array; id: string } {
  const bytes = sealVoiceMessage({ audio, from: from.id, to: to.map((m) => m.pub), createdAt });
  return { bytes, id: toHex(bytes.subarray(5, 21)) };
}
