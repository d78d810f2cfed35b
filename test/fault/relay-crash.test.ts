/**
 * Crash test of the relay (docs/RELAY.md §2 "Upload", "Receipt", §5) on SQLite and on PostgreSQL.
 * A relay runs as a child process (test/fault/helpers/relay-crash-child.ts, bundled once to plain
 * JS and run with `node`) on one database that outlives it. This process drives rounds of
 * concurrent signed uploads, fetch+receipt pairs and listings over real HTTP on 127.0.0.1, and the
 * relay is SIGKILLed once per round, at 30 seeded points per back end:
 *
 * - even rounds: the test kills it right after the N-th answered request of the round (N seeded);
 * - odd rounds: it kills itself inside its k-th `putEnvelope` or `acknowledge` (k seeded): before
 *   the operation, before or after one of the first statements / queries of its transaction,
 *   before or after its COMMIT, or once the operation has resolved but before the answer is sent
 *   (see the child's header); every kind for uploads and for receipts.
 *
 * After each kill, with the relay down, the database itself is read and checked against what the
 * relay answered:
 * - every upload answered 201 is there (its deliveries and its exact bytes) unless a receipt for
 *   it was answered `acknowledged: true`; such a delivery is gone and its receipt is held;
 * - every stored envelope parses and verifies with `inspectVoiceMessage`, its size and SHA-512
 *   columns match its bytes, and no envelope is held without a pending delivery (bytes go with the
 *   last delivery, §2 "Receipt");
 * - an unanswered upload is delivered to all of its mailboxes or to none; an unanswered receipt
 *   either removed the delivery and stored the receipt, or did neither; nothing else appears.
 * Then the relay restarts on the same database and the same is checked over HTTP: every mailbox
 * lists exactly its pending envelopes, each fetches with identical bytes, acknowledged ones answer
 * `RELAY_NOT_FOUND`, and every sender lists exactly its receipts, each a valid signature (the
 * sender then collects them, as an outbox does).
 *
 * Kill points are chosen by counts (requests answered, store operations, statements), never by
 * time; load is bounded (20–32 operations per round, envelopes of 1–4 KB of audio). Without
 * PostgreSQL server binaries the PostgreSQL half is skipped (test/helpers/postgres.ts), unless
 * PLUSHLINK_REQUIRE_PG=1. RELAY_CRASH_DEBUG=1 prints each round's progress on stderr.
 */
import { afterAll, describe, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { fromBase64, toHex } from '../../src/protocol/bytes.js';
import {
  envelopeHash,
  familyIdentityFromSecrets,
  inspectVoiceMessage,
  mailboxIdOf,
  relayPaths,
  sealVoiceMessage,
  signDeliveryReceipt,
  signRequest,
  verifyDeliveryReceipt,
} from '../../src/messages/index.js';
import { seededRandom } from '../../src/transport/memory/prng.js';
import { installNodeCrypto } from '../../src/crypto-node/index.js';
import type { Member } from '../helpers/relay.js';
import { throwawayPostgres } from '../helpers/postgres.js';
import { bundleChild, type ChildCommand } from './helpers/bundle-child.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHILD_TS = fileURLToPath(new URL('./helpers/relay-crash-child.ts', import.meta.url));
const ROUNDS = 30;
const WORKERS = 6;
const MAX_PENDING = 40;
/** Generous bounds against a hung child (never a verdict on speed). */
const START_TIMEOUT_MS = 90_000;
const REQUEST_TIMEOUT_MS = 60_000;
const debug = process.env.RELAY_CRASH_DEBUG === '1' ? (s: string): void => void process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${s}\n`) : (): void => {};

type Backend = 'sqlite' | 'postgres';

function fixedMember(name: string, seed: number): Member {
  const id = familyIdentityFromSecrets(name, new Uint8Array(32).fill(seed), new Uint8Array(32).fill(seed + 1));
  return { id, pub: { name, signPublicKey: id.signPublicKey, boxPublicKey: id.boxPublicKey }, mailbox: mailboxIdOf(id) };
}

const RECIPIENTS = [fixedMember('Mia', 21), fixedMember('Leo', 23)];
const SENDERS = [fixedMember('Grandma', 31), fixedMember('Grandpa', 33), fixedMember('Aunt', 35)];
/** Sealing, request signatures and receipts use the library on node:crypto, as it runs on Node. */
installNodeCrypto();
const verifyReceipt = (d: { rcpt: Member; msg: { id: string; hash: Uint8Array } }, signature: Uint8Array): boolean =>
  verifyDeliveryReceipt(d.rcpt.pub, d.msg.id, d.msg.hash, signature);

// ---- the model: what the relay answered ------------------------------------------------------

interface Msg {
  id: string;
  bytes: Uint8Array;
  hash: Uint8Array;
  sender: Member;
  to: Member[];
}

type DState =
  /** The upload was answered (or the database showed it): the delivery must be there. */
  | 'pending'
  /** A receipt was answered `acknowledged: true` (or the database showed it): gone, receipt held. */
  | 'acked'
  /** An unanswered upload that the database showed did not happen: must never appear. */
  | 'absent'
  | 'unknown-upload'
  | 'unknown-ack';

interface Delivery {
  key: string;
  msg: Msg;
  rcpt: Member;
  state: DState;
  /** Receipt collected (deleted) by the sender: must be gone from the relay. */
  collected: boolean;
  /** Fetched with identical bytes from a restarted relay. */
  fetched: boolean;
  /** Checked over HTTP that an acknowledged delivery answers RELAY_NOT_FOUND. */
  goneChecked: boolean;
  /** An ack of it is running in this round (listings may or may not show it). */
  acking: boolean;
}

const keyOf = (mailbox: string, id: string): string => `${mailbox}/${id}`;

class Model {
  readonly msgs = new Map<string, Msg>();
  readonly deliveries = new Map<string, Delivery>();
  /** Uploads planned so far (the next one is `sealedMessage(uploads)`). */
  uploads = 0;

  add(msg: Msg): void {
    this.msgs.set(msg.id, msg);
    for (const rcpt of msg.to) {
      const key = keyOf(rcpt.mailbox, msg.id);
      this.deliveries.set(key, { key, msg, rcpt, state: 'unknown-upload', collected: false, fetched: false, goneChecked: false, acking: false });
    }
  }

  of(msg: Msg): Delivery[] {
    return msg.to.map((r) => this.deliveries.get(keyOf(r.mailbox, msg.id))!);
  }

  inState(state: DState): Delivery[] {
    return [...this.deliveries.values()].filter((d) => d.state === state);
  }
}

// ---- the relay child -------------------------------------------------------------------------

interface Answer {
  status: number;
  bytes: Uint8Array;
  json?: Record<string, unknown>;
}

/** Every relay child still running, killed when the suite ends (also when a test failed). */
const LIVE = new Set<ChildProcess>();

class RelayChild {
  url = '';
  stderr = '';
  alive = true;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly proc: ChildProcess) {
    LIVE.add(proc);
    proc.on('exit', () => {
      this.alive = false;
      LIVE.delete(proc);
    });
    // 'close': after the exit and after its stdout and stderr are read to the end.
    this.exited = new Promise((resolve) => {
      proc.on('close', (code, signal) => {
        this.alive = false;
        resolve({ code, signal });
      });
    });
    proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  static async start(cmd: ChildCommand, db: string, env: Record<string, string>): Promise<RelayChild> {
    const proc = spawn(process.execPath, cmd.argv, {
      cwd: ROOT,
      env: { ...process.env, RELAY_DB: db, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const child = new RelayChild(proc);
    let out = '';
    child.url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`relay child did not start: ${child.stderr}`)), START_TIMEOUT_MS);
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /^url (\S+)$/m.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      void child.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`relay child exited before listening (${code ?? signal}): ${child.stderr}`));
      });
    });
    return child;
  }

  kill(): void {
    if (this.alive) this.proc.kill('SIGKILL');
  }

  /** `crash <k> <op> <step> <when>` if the child killed itself. */
  crashLine(): string | undefined {
    return /^crash \d+ .+$/m.exec(this.stderr)?.[0];
  }
}

/** One signed request; undefined when it was not answered (connection lost, relay dead). */
async function send(
  child: RelayChild,
  who: Member,
  method: 'GET' | 'PUT' | 'POST' | 'DELETE',
  target: string,
  body?: Uint8Array | object,
  onAnswer?: () => void,
): Promise<Answer | undefined> {
  if (!child.alive) return undefined;
  let payload: Uint8Array | undefined;
  const headers: Record<string, string> = {};
  if (body instanceof Uint8Array) {
    payload = body;
    headers['content-type'] = 'application/octet-stream';
  } else if (body !== undefined) {
    payload = new TextEncoder().encode(JSON.stringify(body));
    headers['content-type'] = 'application/json';
  }
  Object.assign(headers, signRequest({ method, target, body: payload ?? new Uint8Array(0) }, who.id));
  try {
    const res = await fetch(child.url + target, {
      method,
      headers,
      ...(payload ? { body: payload } : {}),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const bytes = new Uint8Array(await res.arrayBuffer());
    const type = res.headers.get('content-type') ?? '';
    const json = type.includes('json') ? (JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>) : undefined;
    onAnswer?.();
    return { status: res.status, bytes, json };
  } catch {
    return undefined;
  }
}

// ---- the database as the crash left it ------------------------------------------------------

interface DbState {
  envelopes: Map<string, { sender: string; bytes: Uint8Array; hash: Uint8Array; size: number }>;
  deliveries: Set<string>;
  receipts: Map<string, { sender: string; recipient: string; signature: Uint8Array }>;
}

function readSqlite(path: string): DbState {
  const db = new Database(path);
  try {
    db.pragma('busy_timeout = 30000');
    const state: DbState = { envelopes: new Map(), deliveries: new Set(), receipts: new Map() };
    for (const r of db.prepare('SELECT message_id, sender, bytes, hash, size FROM envelopes').all() as Array<{
      message_id: string;
      sender: string;
      bytes: Buffer;
      hash: Buffer;
      size: number;
    }>) {
      state.envelopes.set(r.message_id, { sender: r.sender, bytes: new Uint8Array(r.bytes), hash: new Uint8Array(r.hash), size: r.size });
    }
    for (const r of db.prepare('SELECT mailbox_id, message_id FROM deliveries').all() as Array<{ mailbox_id: string; message_id: string }>) {
      state.deliveries.add(keyOf(r.mailbox_id, r.message_id));
    }
    for (const r of db.prepare('SELECT message_id, mailbox_id, sender, recipient, signature FROM receipts').all() as Array<{
      message_id: string;
      mailbox_id: string;
      sender: string;
      recipient: string;
      signature: Buffer;
    }>) {
      state.receipts.set(keyOf(r.mailbox_id, r.message_id), { sender: r.sender, recipient: r.recipient, signature: new Uint8Array(r.signature) });
    }
    return state;
  } finally {
    db.close();
  }
}

async function readPostgres(url: string): Promise<DbState> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    // The killed relay's sessions end once the server has finished what they had sent (a COMMIT
    // may still be running): wait for them, so that the state read is final.
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const r = await c.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
      if ((r.rows[0] as { n: number }).n === 0) break;
      if (Date.now() > deadline) throw new Error('the killed relay still has PostgreSQL sessions');
      await new Promise((r2) => setTimeout(r2, 25));
    }
    const state: DbState = { envelopes: new Map(), deliveries: new Set(), receipts: new Map() };
    const e = await c.query('SELECT message_id, sender, bytes, hash, size FROM envelopes');
    for (const r of e.rows as Array<{ message_id: string; sender: string; bytes: Buffer; hash: Buffer; size: number }>) {
      state.envelopes.set(r.message_id, { sender: r.sender, bytes: new Uint8Array(r.bytes), hash: new Uint8Array(r.hash), size: Number(r.size) });
    }
    const d = await c.query('SELECT mailbox_id, message_id FROM deliveries');
    for (const r of d.rows as Array<{ mailbox_id: string; message_id: string }>) state.deliveries.add(keyOf(r.mailbox_id, r.message_id));
    const rc = await c.query('SELECT message_id, mailbox_id, sender, recipient, signature FROM receipts');
    for (const r of rc.rows as Array<{ message_id: string; mailbox_id: string; sender: string; recipient: string; signature: Buffer }>) {
      state.receipts.set(keyOf(r.mailbox_id, r.message_id), { sender: r.sender, recipient: r.recipient, signature: new Uint8Array(r.signature) });
    }
    return state;
  } finally {
    await c.end();
  }
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/** Checks the database against the model and resolves the model's unknowns. */
function checkDatabase(model: Model, db: DbState, problems: string[]): void {
  // Envelopes: whole, verifiable, the bytes that were uploaded, never without a delivery.
  for (const [id, row] of db.envelopes) {
    const msg = model.msgs.get(id);
    if (!msg) {
      problems.push(`envelope ${id} was never uploaded`);
      continue;
    }
    if (row.size !== row.bytes.length) problems.push(`envelope ${id}: size column ${row.size} ≠ ${row.bytes.length} bytes`);
    if (!same(row.bytes, msg.bytes)) problems.push(`envelope ${id}: stored bytes differ from the upload (${row.bytes.length} vs ${msg.bytes.length})`);
    if (!same(row.hash, envelopeHash(row.bytes))) problems.push(`envelope ${id}: hash column is not SHA-512 of its bytes`);
    if (row.sender !== toHex(msg.sender.id.signPublicKey)) problems.push(`envelope ${id}: wrong sender`);
    try {
      const info = inspectVoiceMessage(row.bytes);
      if (info.messageId !== id || info.size !== row.bytes.length) problems.push(`envelope ${id}: header says ${info.messageId}, ${info.size} bytes`);
    } catch (e) {
      problems.push(`envelope ${id} does not verify: ${String(e)}`);
    }
    if (!msg.to.some((r) => db.deliveries.has(keyOf(r.mailbox, id)))) problems.push(`envelope ${id} held with no pending delivery (half-acknowledged)`);
  }
  for (const key of db.deliveries) {
    const d = model.deliveries.get(key);
    if (!d) problems.push(`delivery ${key} was never uploaded`);
    else if (!db.envelopes.has(d.msg.id)) problems.push(`delivery ${key} without its envelope`);
  }

  // Unanswered uploads: to all of their mailboxes or to none.
  for (const msg of model.msgs.values()) {
    const ds = model.of(msg);
    if (!ds.some((d) => d.state === 'unknown-upload')) continue;
    const present = ds.filter((d) => db.deliveries.has(d.key));
    if (present.length === 0) {
      for (const d of ds) d.state = 'absent';
      if (db.envelopes.has(msg.id)) problems.push(`unanswered upload ${msg.id}: bytes stored without deliveries`);
    } else {
      if (present.length !== ds.length) problems.push(`unanswered upload ${msg.id} half done: ${present.length}/${ds.length} deliveries`);
      for (const d of ds) d.state = db.deliveries.has(d.key) ? 'pending' : 'absent';
    }
  }

  for (const d of model.deliveries.values()) {
    const inD = db.deliveries.has(d.key);
    const inR = db.receipts.has(d.key);
    if (d.state === 'unknown-ack') {
      if (inD === inR) problems.push(`unanswered receipt ${d.key} half done: delivery ${inD ? 'still there' : 'gone'}, receipt ${inR ? 'stored' : 'missing'}`);
      d.state = inD ? 'pending' : 'acked';
    }
    if (d.state === 'pending' && !inD) problems.push(`LOST: answered upload ${d.key} is not there`);
    if (d.state === 'pending' && inR) problems.push(`pending ${d.key} has a receipt`);
    if (d.state === 'acked' && inD) problems.push(`acknowledged ${d.key} is back`);
    if (d.state === 'acked' && !d.collected && !inR) problems.push(`receipt of acknowledged ${d.key} is missing`);
    if (d.state === 'acked' && d.collected && inR) problems.push(`collected receipt ${d.key} is back`);
    if (d.state === 'absent' && (inD || inR)) problems.push(`unanswered upload ${d.key} appeared later`);
  }
  for (const [key, r] of db.receipts) {
    const d = model.deliveries.get(key);
    if (!d) {
      problems.push(`receipt ${key} for nothing uploaded`);
      continue;
    }
    if (r.sender !== toHex(d.msg.sender.id.signPublicKey) || r.recipient !== toHex(d.rcpt.id.signPublicKey)) problems.push(`receipt ${key}: wrong parties`);
    if (!verifyReceipt(d, r.signature)) problems.push(`receipt ${key}: signature does not verify`);
  }
}

// ---- one back end ----------------------------------------------------------------------------

type Op = { kind: 'upload'; msg: Msg } | { kind: 'ack'; d: Delivery } | { kind: 'list'; who: Member };

interface KillPlan {
  /** Child environment (self-kill inside the store), or empty. */
  env: Record<string, string>;
  /** Kill after this many answered requests of the round (test-side kill), or 0. */
  afterAnswers: number;
  label: string;
  /** The child's `crash …` line this plan must produce (self-kills). */
  crash?: string;
}

function byteSource(rnd: () => number): (n: number) => Uint8Array {
  return (n) => Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
}

/**
 * Upload k of a campaign: sender, recipients (one or both), 1–4 KB of audio and message id seeded
 * by k. Both back ends upload the same envelopes, each sealed once.
 */
const SEALED = new Map<number, Msg>();
function sealedMessage(k: number): Msg {
  const cached = SEALED.get(k);
  if (cached) return cached;
  const rnd = seededRandom(0x5eed_0000 + k);
  const bytes = byteSource(rnd);
  const sender = SENDERS[Math.floor(rnd() * SENDERS.length)]!;
  const pick = Math.floor(rnd() * 3);
  const to = pick === 2 ? [...RECIPIENTS] : [RECIPIENTS[pick]!];
  const audio = bytes(1000 + Math.floor(rnd() * 3000));
  const messageId = bytes(16);
  const env = sealVoiceMessage({ audio, from: sender.id, to: to.map((m) => m.pub), messageId, createdAt: Date.UTC(2026, 11, 2) + k, random: bytes });
  const msg: Msg = { id: toHex(messageId), bytes: env, hash: envelopeHash(env), sender, to };
  SEALED.set(k, msg);
  return msg;
}

/** The round's operations, from the model after the last check. */
function planOps(model: Model, rnd: () => number): Op[] {
  const free = model.inState('pending');
  let pending = free.length;
  const ops: Op[] = [];
  const n = 20 + Math.floor(rnd() * 13);
  for (let i = 0; i < n; i++) {
    const x = rnd();
    if (free.length > 0 && (x < 0.35 || pending >= MAX_PENDING)) {
      const d = free.splice(Math.floor(rnd() * free.length), 1)[0]!;
      ops.push({ kind: 'ack', d });
      pending--;
    } else if (x < 0.88) {
      const msg = sealedMessage(model.uploads++);
      ops.push({ kind: 'upload', msg });
      pending += msg.to.length;
    } else {
      ops.push({ kind: 'list', who: RECIPIENTS[Math.floor(rnd() * RECIPIENTS.length)]! });
    }
  }
  return ops;
}

/**
 * Odd rounds kill inside the store. Uploads and receipts alternate, and each gets every kind of
 * point in turn, by construction: before the operation (step 0), early in its transaction (steps
 * 1–3: BEGIN and the first reads and writes), at its COMMIT (before it: must roll back; after it:
 * committed, never answered), and after it resolved but before the answer (`done`).
 */
function planKill(round: number, ops: Op[], rnd: () => number): KillPlan {
  const requests = ops.reduce((s, o) => s + (o.kind === 'ack' ? 2 : 1), 0);
  const acks = ops.filter((o) => o.kind === 'ack').length;
  const uploads = ops.filter((o) => o.kind === 'upload').length;
  if (round % 2 === 0 || uploads + acks === 0) {
    const n = 1 + Math.floor(rnd() * Math.min(requests, 24));
    return { env: {}, afterAnswers: n, label: `after answer ${n}` };
  }
  const s = (round - 1) / 2;
  const op = acks > 0 && (s % 2 === 1 || uploads === 0) ? 'acknowledge' : 'putEnvelope';
  const k = 1 + Math.floor(rnd() * Math.min(op === 'acknowledge' ? acks : uploads, 12));
  const phase = Math.floor(s / 2) % 4;
  const step = phase === 0 ? '0' : phase === 1 ? String(1 + Math.floor(rnd() * 3)) : phase === 2 ? 'commit' : '99';
  const when = phase === 0 ? 'before' : phase === 3 ? 'after' : rnd() < 0.5 ? 'before' : 'after';
  const shown = step === '99' ? 'done' : step;
  return {
    env: { CRASH_OP: String(k), CRASH_OP_KIND: op, CRASH_STEP: step, CRASH_WHEN: when },
    afterAnswers: 0,
    label: `${op} #${k} step ${shown} ${when}`,
    crash: `crash ${k} ${op} ${shown} ${when}`,
  };
}

async function runRound(child: RelayChild, model: Model, ops: Op[], plan: KillPlan, problems: string[]): Promise<'killed' | 'finished'> {
  let answered = 0;
  let killedByTest = false;
  const onAnswer = (): void => {
    answered++;
    if (plan.afterAnswers > 0 && answered === plan.afterAnswers) {
      killedByTest = true;
      child.kill();
    }
  };
  const runOp = async (op: Op): Promise<void> => {
    if (op.kind === 'upload') {
      const { msg } = op;
      model.add(msg);
      const a = await send(child, msg.sender, 'PUT', relayPaths.upload(msg.id, msg.to.map((m) => m.mailbox)), msg.bytes, onAnswer);
      if (!a) return; // unanswered: stays unknown until the database shows it
      if (a.status === 201 && a.json?.result === 'stored') for (const d of model.of(msg)) d.state = 'pending';
      else problems.push(`upload ${msg.id} answered ${a.status} ${JSON.stringify(a.json)}`);
    } else if (op.kind === 'ack') {
      const { d } = op;
      d.acking = true;
      const got = await send(child, d.rcpt, 'GET', relayPaths.envelope(d.rcpt.mailbox, d.msg.id), undefined, onAnswer);
      if (!got) return;
      if (got.status !== 200 || !same(got.bytes, d.msg.bytes)) {
        problems.push(`fetch of pending ${d.key} answered ${got.status} with ${got.bytes.length} bytes (${got.json?.code ?? 'other bytes'})`);
        return;
      }
      const signature = Buffer.from(signDeliveryReceipt(d.rcpt.id, d.msg.id, got.bytes)).toString('base64');
      d.state = 'unknown-ack';
      const a = await send(child, d.rcpt, 'POST', relayPaths.receipt(d.rcpt.mailbox, d.msg.id), { signature }, onAnswer);
      if (!a) return;
      if (a.status === 200 && a.json?.acknowledged === true) d.state = 'acked';
      else problems.push(`receipt ${d.key} answered ${a.status} ${JSON.stringify(a.json)}`);
    } else {
      const ackedBefore = new Set(model.inState('acked').map((d) => d.key));
      const a = await send(child, op.who, 'GET', relayPaths.pending(op.who.mailbox), undefined, onAnswer);
      if (!a) return;
      if (a.status !== 200) {
        problems.push(`listing answered ${a.status}`);
        return;
      }
      for (const e of (a.json?.envelopes ?? []) as Array<{ messageId: string; size: number; sender: string }>) {
        const key = keyOf(op.who.mailbox, e.messageId);
        const d = model.deliveries.get(key);
        if (!d) problems.push(`listing shows ${key}, never uploaded`);
        else if (e.size !== d.msg.bytes.length || e.sender !== toHex(d.msg.sender.id.signPublicKey)) problems.push(`listing of ${key}: wrong size or sender`);
        else if (ackedBefore.has(key)) problems.push(`listing shows acknowledged ${key}`);
      }
    }
  };
  let next = 0;
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (child.alive && next < ops.length) await runOp(ops[next++]!);
    }),
  );
  for (const o of ops) if (o.kind === 'ack') o.d.acking = false;
  // Requests fail fast once the relay is gone, possibly before its exit is reported: wait for it
  // (killing it if the planned point was not reached, which does not happen while it lives).
  if (!killedByTest && !child.crashLine()) child.kill();
  await child.exited;
  return killedByTest || child.crashLine() ? 'killed' : 'finished';
}

/** Quiescent checks over HTTP on a restarted relay; the senders collect their receipts. */
async function pool<T>(items: readonly T[], width: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function verifyOverHttp(child: RelayChild, model: Model, rnd: () => number, problems: string[]): Promise<void> {
  const must = async (who: Member, method: 'GET' | 'DELETE', target: string): Promise<Answer | undefined> => {
    const a = await send(child, who, method, target);
    if (!a) problems.push(`${method} ${target} unanswered by a running relay`);
    return a;
  };
  for (const r of RECIPIENTS) {
    const expected = new Set(model.inState('pending').filter((d) => d.rcpt === r).map((d) => d.msg.id));
    const a = await must(r, 'GET', relayPaths.pending(r.mailbox));
    if (!a) return;
    const listed = (a.json?.envelopes ?? []) as Array<{ messageId: string }>;
    if (a.json?.more !== false) problems.push(`${r.pub.name}: listing has more than one page (${expected.size} pending)`);
    const got = new Set(listed.map((e) => e.messageId));
    for (const id of expected) if (!got.has(id)) problems.push(`LOST: pending ${keyOf(r.mailbox, id)} not listed after restart`);
    for (const id of got) if (!expected.has(id)) problems.push(`listed after restart but not pending: ${keyOf(r.mailbox, id)}`);
  }
  // Fetch every pending delivery not fetched after an earlier restart, and a seeded sample of the
  // others (the database check above compared every stored byte already).
  const pending = model.inState('pending');
  const fresh = pending.filter((d) => !d.fetched);
  const again = pending.filter((d) => d.fetched).sort(() => rnd() - 0.5).slice(0, 6);
  const gone = model.inState('acked').filter((d) => !d.goneChecked);
  await pool([...fresh, ...again, ...gone], 4, async (d) => {
    const a = await must(d.rcpt, 'GET', relayPaths.envelope(d.rcpt.mailbox, d.msg.id));
    if (!a) return;
    if (d.state === 'pending') {
      if (a.status !== 200 || !same(a.bytes, d.msg.bytes)) problems.push(`LOST: pending ${d.key} fetched ${a.status}, ${a.bytes.length} bytes`);
      d.fetched = true;
    } else {
      if (a.status !== 404 || a.json?.code !== 'RELAY_NOT_FOUND') problems.push(`acknowledged ${d.key} fetched ${a.status}`);
      d.goneChecked = true;
    }
  });
  for (const s of SENDERS) {
    const mine = model.inState('acked').filter((d) => d.msg.sender === s && !d.collected);
    const a = await must(s, 'GET', relayPaths.receipts());
    if (!a) return;
    if (a.json?.more !== false) problems.push(`${s.pub.name}: receipts have more than one page`);
    const listed = (a.json?.receipts ?? []) as Array<{ messageId: string; mailboxId: string; signature: string }>;
    const byKey = new Map(listed.map((r) => [keyOf(r.mailboxId, r.messageId), r]));
    for (const d of mine) {
      const r = byKey.get(d.key);
      if (!r) problems.push(`receipt of acknowledged ${d.key} not listed for ${s.pub.name}`);
      else if (!verifyReceipt(d, fromBase64(r.signature))) problems.push(`listed receipt ${d.key} does not verify`);
    }
    if (byKey.size !== mine.length) problems.push(`${s.pub.name} lists ${byKey.size} receipts, expected ${mine.length}`);
    // Collect the receipts of messages that every recipient acknowledged (docs/RELAY.md §5 step 1).
    const done = [...model.msgs.values()].filter((m) => m.sender === s && model.of(m).every((d) => d.state === 'acked' && !d.collected));
    for (const m of done) {
      const del = await must(s, 'DELETE', relayPaths.receiptsOf(m.id));
      if (!del) return;
      if (del.status !== 200 || del.json?.removed !== m.to.length) problems.push(`collecting receipts of ${m.id} answered ${del.status} ${JSON.stringify(del.json)}`);
      for (const d of model.of(m)) d.collected = true;
    }
  }
}

async function crashCampaign(backend: Backend, db: string, read: () => Promise<DbState>, cmd: ChildCommand): Promise<{ problems: string[]; kills: string[] }> {
  const model = new Model();
  const problems: string[] = [];
  const kills: string[] = [];
  const seedBase = backend === 'sqlite' ? 7_000 : 9_000;

  // Round 0's child also sets up the mailboxes and allow-lists.
  let rnd = seededRandom(seedBase);
  let ops = planOps(model, rnd);
  let plan = planKill(0, ops, rnd);
  let child = await RelayChild.start(cmd, db, plan.env);
  for (const r of RECIPIENTS) {
    const a = await send(child, r, 'PUT', relayPaths.mailbox(r.mailbox), { signPublicKey: toHex(r.id.signPublicKey), boxPublicKey: toHex(r.id.boxPublicKey) });
    if (a?.status !== 201) throw new Error(`mailbox setup answered ${a?.status}`);
    for (const s of SENDERS) {
      const b = await send(child, r, 'PUT', relayPaths.sender(r.mailbox, toHex(s.id.signPublicKey)));
      if (b?.status !== 200) throw new Error(`allow-list setup answered ${b?.status}`);
    }
  }

  for (let round = 0; round < ROUNDS; round++) {
    const before = problems.length;
    const label = plan.label;
    debug(`${backend} round ${round} ${label}: ${ops.length} ops`);
    const outcome = await runRound(child, model, ops, plan, problems);
    debug(`${backend} round ${round}: ${outcome} ${child.crashLine() ?? ''}`);
    const crash = child.crashLine();
    if (plan.crash && crash !== plan.crash) problems.push(`the relay did not kill itself as planned (${crash ?? 'no crash line'}): ${child.stderr.slice(0, 500)}`);
    const steps = /^steps (\d+)$/m.exec(child.stderr);
    if (crash?.includes(' done ') && plan.env.CRASH_STEP !== '0' && !(Number(steps?.[1]) > 0)) {
      problems.push(`the driver hook counted no write step (${steps?.[0] ?? 'no count'})`);
    }
    if (outcome === 'finished') problems.push(`the relay was not killed at the planned point: ${child.stderr.slice(0, 500)}`);
    kills.push(crash ? crash.replace(/^crash /, 'self ') : plan.label);
    checkDatabase(model, await read(), problems);

    const last = round === ROUNDS - 1;
    rnd = seededRandom(seedBase + round + 1);
    debug(`${backend} round ${round}: database checked, ${problems.length - before} problems`);
    if (!last) {
      ops = planOps(model, rnd);
      plan = planKill(round + 1, ops, rnd);
    }
    debug(`${backend} round ${round}: next round planned`);
    child = await RelayChild.start(cmd, db, last ? {} : plan.env);
    debug(`${backend} round ${round}: relay restarted`);
    await verifyOverHttp(child, model, rnd, problems);
    debug(`${backend} round ${round}: verified over HTTP, ${problems.length - before} problems`);
    for (let i = before; i < problems.length; i++) problems[i] = `[${backend} round ${round}, ${label}] ${problems[i]}`;
  }
  child.proc.kill('SIGTERM');
  const end = await child.exited;
  if (end.code !== 0) problems.push(`relay did not close cleanly: ${end.code ?? end.signal} ${child.stderr.slice(0, 500)}`);
  return { problems, kills };
}

describe('relay crash safety (relay process SIGKILLed at 30 seeded points per back end)', () => {
  let cmd: Promise<ChildCommand> | undefined;
  const command = (): Promise<ChildCommand> => (cmd ??= bundleChild(ROOT, CHILD_TS));
  afterAll(async () => {
    for (const p of LIVE) p.kill('SIGKILL');
    (await cmd)?.cleanup();
  });

  it.concurrent.for(['sqlite', 'postgres'] as const)(
    'on %s: answered uploads and receipts survive, nothing is half done',
    { timeout: 600_000 },
    async (backend, { expect, skip, onTestFinished }) => {
      const t0 = Date.now();
      const cpu0 = process.cpuUsage();
      let db: string;
      let read: () => Promise<DbState>;
      if (backend === 'sqlite') {
        const dir = mkdtempSync(join(tmpdir(), 'plushlink-relay-crash-'));
        onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
        db = join(dir, 'relay.db');
        const path = db;
        read = async () => readSqlite(path);
      } else {
        const p = await throwawayPostgres();
        if ('skip' in p) return skip(p.skip);
        onTestFinished(() => p.stop());
        db = p.url;
        read = () => readPostgres(p.url);
      }
      const c = await command();

      const { problems, kills } = await crashCampaign(backend, db, read, c);
      expect(problems).toEqual([]);
      const self = kills.filter((k) => k.startsWith('self '));
      const byTest = kills.filter((k) => k.startsWith('after answer '));
      expect(self.length + byTest.length).toBeGreaterThanOrEqual(30);
      expect(byTest.length).toBeGreaterThanOrEqual(15);
      expect(self.length).toBeGreaterThanOrEqual(15);
      // Every kind of self-kill happened, to uploads and to receipts (each as planned, checked above).
      for (const op of ['putEnvelope', 'acknowledge']) {
        for (const point of [/ 0 before$/, / [1-3] (before|after)$/, / commit (before|after)$/, / done after$/]) {
          expect(self.some((k) => k.includes(` ${op} `) && point.test(k)), `${op} killed at ${point}`).toBe(true);
        }
      }
      const cpu = process.cpuUsage(cpu0);
      console.log(
        `relay crash test on ${backend}: ${kills.length} kills (${byTest.length} after an answered request, ${self.length} inside the store: ` +
          `${self.map((k) => k.replace(/^self \d+ /, '')).join('; ')}), ${Date.now() - t0} ms, ` +
          `test process CPU ${Math.round((cpu.user + cpu.system) / 1000)} ms (both back ends)`,
      );
    },
  );
});
