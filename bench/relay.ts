/**
 * The relay section of the benchmark (`npm run bench -- --relay`; docs/BENCHMARK.md "Relay"):
 * uploads/s and fetch+ack/s of 20 KB envelopes, with p50/p99 latency, at 16, 64 and 256
 * concurrent clients, on SQLite and on PostgreSQL, each beside two baselines measured in the same
 * run on the same database:
 *
 * - raw storage: the same store operations on the same bytes, called directly in this process
 *   without HTTP (`putEnvelope`; `getEnvelope` + `acknowledge`), at the same concurrency;
 * - an empty route of the same server: `GET /v1/health` at the same concurrency.
 *
 * The relay runs in its own process (bench/relay-server.ts; rate limits off, everything else
 * default: SQLite WAL with synchronous=FULL, PostgreSQL pool of 10). Clients are closed loops over
 * real HTTP/1.1 on 127.0.0.1 (node:http, one keep-alive agent sized to the concurrency). Every
 * request is signed (docs/RELAY.md §3) in the client, inline, with the library's `signRequest` on
 * its node:crypto back end (as on Node; the section switches to it and back): that cost is part
 * of each client operation, and relayClientSignMs reports it beside the portable (pure-JS) back
 * end's that a browser pays. After the uploads of a level, every answered upload is fetched and
 * must come back byte for byte (else it counts as lost), then acknowledged with a valid receipt
 * (docs/RELAY.md §5).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openStore } from '../relay/src/store/index.js';
import type { RelayStore } from '../relay/src/store/types.js';
import { toHex } from '../src/protocol/bytes.js';
import { cryptoBackend, pureCryptoBackend, useCryptoBackend } from '../src/index.js';
import {
  envelopeHash,
  familyIdentityFromSecrets,
  mailboxIdOf,
  relayPaths,
  sealVoiceMessage,
  signDeliveryReceipt,
  signRequest,
  type FamilyIdentity,
} from '../src/messages/index.js';
import { nodeCryptoAvailable, nodeCryptoBackend } from '../src/crypto-node/index.js';
import { throwawayPostgres } from '../test/helpers/postgres.js';
import { ROOT } from './rig.js';
import { median, percentile, row, type Row } from './report.js';

/** The keys the relay section reports (the smoke test checks them). */
export const RELAY_KEYS = [
  'relayUploadsPerSecond',
  'relayFetchAcksPerSecond',
  'relayUploadLatencyMs',
  'relayFetchAckLatencyMs',
  'relayLost',
  'relayClientSignMs',
] as const;

/** Concurrent clients per level; `--relay-quick` (a smoke test, not for publishing) stops at 64. */
export const RELAY_LEVELS = [16, 64, 256] as const;
export const RELAY_QUICK_LEVELS = [16, 64] as const;
const ENVELOPE_BYTES = 20 * 1024;
/** Sender → recipient pairs; envelope k goes from sender k mod PAIRS to recipient k mod PAIRS. */
const PAIRS = 8;
const DAY = 24 * 60 * 60 * 1000;
const QUOTAS = { maxEnvelopes: 1000, maxBytes: 64 * 1024 * 1024 };

export interface RelayBenchOptions {
  quick: boolean;
  log: (s: string) => void;
}

export interface RelayBenchResult {
  rows: Row[];
  /** Back ends not measured here, with the reason. */
  skipped: Record<string, string>;
}

interface Party {
  id: FamilyIdentity;
  mailbox: string;
  keyHex: string;
}

interface Item {
  id: string;
  bytes: Uint8Array;
  hash: Uint8Array;
  from: Party;
  to: Party;
}

interface Phase {
  ops: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  failures: number;
}

function party(name: string, seed: number): Party {
  const id = familyIdentityFromSecrets(name, new Uint8Array(32).fill(seed), new Uint8Array(32).fill(seed + 1));
  return { id, mailbox: mailboxIdOf(id), keyHex: toHex(id.signPublicKey) };
}

/** `n` sealed envelopes of exactly ENVELOPE_BYTES (set up once, reused by every phase). */
function sealPool(n: number, senders: Party[], recipients: Party[]): Item[] {
  let counter = 0;
  const random = (len: number): Uint8Array => {
    const out = new Uint8Array(len);
    for (let i = 0; i < len; i++) out[i] = (counter++ * 2654435761) >>> 24;
    return out;
  };
  const probe = sealVoiceMessage({ audio: new Uint8Array(1000), from: senders[0]!.id, to: [recipients[0]!.id], random });
  const audioLen = 1000 + ENVELOPE_BYTES - probe.length;
  const items: Item[] = [];
  for (let k = 0; k < n; k++) {
    const from = senders[k % PAIRS]!;
    const to = recipients[k % PAIRS]!;
    const audio = random(audioLen);
    const bytes = sealVoiceMessage({ audio, from: from.id, to: [to.id], createdAt: Date.UTC(2026, 11, 2), random });
    if (bytes.length !== ENVELOPE_BYTES) throw new Error(`envelope is ${bytes.length} bytes, not ${ENVELOPE_BYTES}`);
    items.push({ id: toHex(bytes.subarray(5, 21)), bytes, hash: envelopeHash(bytes), from, to });
  }
  return items;
}

/** Closed loop: `width` workers take the next item until none is left or `capMs` has passed. */
async function closedLoop<T>(items: readonly T[], width: number, capMs: number, op: (item: T) => Promise<boolean>): Promise<Phase & { done: T[] }> {
  const latencies: number[] = [];
  const done: T[] = [];
  let failures = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length && performance.now() - t0 < capMs) {
        const item = items[next++]!;
        const s = performance.now();
        let ok = false;
        try {
          ok = await op(item);
        } catch {
          ok = false;
        }
        latencies.push(performance.now() - s);
        if (ok) done.push(item);
        else failures++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const ops = latencies.length;
  return {
    ops,
    seconds,
    perSecond: ops / seconds,
    p50: ops ? percentile(latencies, 50) : NaN,
    p99: ops ? percentile(latencies, 99) : NaN,
    failures,
    done,
  };
}

interface Answer {
  status: number;
  body: Buffer;
}

class Client {
  readonly agent: http.Agent;
  constructor(
    readonly base: URL,
    width: number,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: width, maxFreeSockets: width });
  }

  request(method: string, path: string, headers: Record<string, string>, body?: Uint8Array): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: this.base.hostname, port: this.base.port, method, path, agent: this.agent, headers: body ? { ...headers, 'content-length': String(body.length) } : headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : undefined);
    });
  }

  signed(who: Party, method: string, path: string, body?: Uint8Array, type = 'application/octet-stream'): Promise<Answer> {
    const headers: Record<string, string> = { ...signRequest({ method, target: path, body: body ?? new Uint8Array(0) }, who.id) };
    if (body) headers['content-type'] = type;
    return this.request(method, path, headers, body);
  }

  close(): void {
    this.agent.destroy();
  }
}

async function startServer(db: string): Promise<{ url: URL; proc: ChildProcess }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/relay-server.ts')], {
    cwd: ROOT,
    env: { ...process.env, RELAY_DB: db },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^url (\S+)$/m.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.on('close', (code) => reject(new Error(`relay server exited (${code}): ${err}`)));
  });
  return { url: new URL(url), proc };
}

function stopServer(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('close', () => resolve());
    proc.kill('SIGTERM');
  });
}

interface LevelResult {
  c: number;
  rawUp: Phase;
  rawFetchAck: Phase;
  up: Phase;
  fetchAck: Phase;
  health: Phase;
  lost: number;
}

async function measureBackend(
  store: string,
  db: string,
  pool: Item[],
  senders: Party[],
  recipients: Party[],
  opts: RelayBenchOptions,
): Promise<{ levels: LevelResult[]; lost: number; answered: number }> {
  // Each timed phase stops taking new operations after this long (the fetch+ack phases process
  // every upload of their level, so that nothing is left behind and lost is counted on all).
  const capMs = opts.quick ? 300 : 1500;
  const { url, proc } = await startServer(db);
  let raw: RelayStore | undefined;
  try {
    // Mailboxes and allow-lists, over HTTP.
    const setup = new Client(url, 4);
    for (let i = 0; i < PAIRS; i++) {
      const r = recipients[i]!;
      const body = new TextEncoder().encode(JSON.stringify({ signPublicKey: r.keyHex, boxPublicKey: toHex(r.id.boxPublicKey) }));
      const a = await setup.signed(r, 'PUT', relayPaths.mailbox(r.mailbox), body, 'application/json');
      if (a.status !== 201 && a.status !== 200) throw new Error(`mailbox setup: ${a.status} ${a.body.toString()}`);
      const b = await setup.signed(r, 'PUT', relayPaths.sender(r.mailbox, senders[i]!.keyHex));
      if (b.status !== 200) throw new Error(`allow-list setup: ${b.status} ${b.body.toString()}`);
    }
    setup.close();
    raw = openStore(db);
    await raw.init();
    const rawStore = raw;

    const rawPut = async (it: Item): Promise<boolean> => {
      const t = Date.now();
      const r = await rawStore.putEnvelope({ messageId: it.id, sender: it.from.keyHex, bytes: it.bytes, hash: it.hash, receivedAt: t, expiresAt: t + 30 * DAY, to: [it.to.mailbox] }, QUOTAS);
      return r.result === 'stored';
    };
    const receipts = new Map<Item, Uint8Array>();
    const receiptOf = (it: Item): Uint8Array => {
      let r = receipts.get(it);
      if (!r) receipts.set(it, (r = signDeliveryReceipt(it.to.id, it.id, it.bytes)));
      return r;
    };
    const rawFetchAck = async (it: Item): Promise<boolean> => {
      const bytes = await rawStore.getEnvelope(it.to.mailbox, it.id);
      if (!bytes || bytes.length !== it.bytes.length) return false;
      const t = Date.now();
      return rawStore.acknowledge({
        messageId: it.id,
        mailboxId: it.to.mailbox,
        sender: it.from.keyHex,
        recipient: it.to.keyHex,
        recipientBox: toHex(it.to.id.boxPublicKey),
        signature: receiptOf(it),
        at: t,
        expiresAt: t + 60 * DAY,
      });
    };
    const upload = (client: Client) => async (it: Item): Promise<boolean> => {
      const a = await client.signed(it.from, 'PUT', relayPaths.upload(it.id, [it.to.mailbox]), it.bytes);
      return a.status === 201 || a.status === 200;
    };
    let lost = 0;
    const fetchAck = (client: Client) => async (it: Item): Promise<boolean> => {
      const got = await client.signed(it.to, 'GET', relayPaths.envelope(it.to.mailbox, it.id));
      if (got.status !== 200 || !got.body.equals(Buffer.from(it.bytes))) {
        lost++;
        return false;
      }
      const body = new TextEncoder().encode(JSON.stringify({ signature: Buffer.from(receiptOf(it)).toString('base64') }));
      const a = await client.signed(it.to, 'POST', relayPaths.receipt(it.to.mailbox, it.id), body, 'application/json');
      return a.status === 200 && (JSON.parse(a.body.toString()) as { acknowledged?: boolean }).acknowledged === true;
    };
    const health = (client: Client) => async (): Promise<boolean> => (await client.request('GET', relayPaths.health(), {})).status === 200;

    // Warm-up (JIT, connections, caches): not measured.
    const warm = pool.slice(0, opts.quick ? 16 : 32);
    await closedLoop(warm, 8, 60_000, rawPut);
    await closedLoop(warm, 8, 60_000, rawFetchAck);
    const warmClient = new Client(url, 8);
    await closedLoop(warm, 8, 60_000, upload(warmClient));
    await closedLoop(warm, 8, 60_000, fetchAck(warmClient));
    warmClient.close();
    lost = 0;

    const levels: LevelResult[] = [];
    let answered = 0;
    let lostTotal = 0;
    for (const c of opts.quick ? RELAY_QUICK_LEVELS : RELAY_LEVELS) {
      const items = pool;
      const rawUp = await closedLoop(items, c, capMs, rawPut);
      // Every stored item is fetched and acknowledged (no time cap), so that the next phase starts empty.
      const rawFA = await closedLoop(rawUp.done, c, Number.POSITIVE_INFINITY, rawFetchAck);
      const client = new Client(url, c);
      const up = await closedLoop(items, c, capMs, upload(client));
      lost = 0;
      const fa = await closedLoop(up.done, c, Number.POSITIVE_INFINITY, fetchAck(client));
      const healthPhase = await closedLoop(items, c, capMs, health(client));
      client.close();
      answered += up.done.length;
      lostTotal += lost;
      levels.push({ c, rawUp, rawFetchAck: rawFA, up, fetchAck: fa, health: healthPhase, lost });
      opts.log(
        `  ${store} ${c} clients: upload ${up.perSecond.toFixed(0)}/s (raw ${rawUp.perSecond.toFixed(0)}/s, health ${healthPhase.perSecond.toFixed(0)}/s), ` +
          `fetch+ack ${fa.perSecond.toFixed(0)}/s (raw ${rawFA.perSecond.toFixed(0)}/s), p99 ${up.p99.toFixed(1)} / ${fa.p99.toFixed(1)} ms, lost ${lost}` +
          (up.failures + fa.failures + rawUp.failures + rawFA.failures + healthPhase.failures > 0
            ? `, FAILED operations: ${up.failures} uploads, ${fa.failures} fetch+acks, ${rawUp.failures + rawFA.failures} raw, ${healthPhase.failures} health`
            : ''),
      );
    }
    return { levels, lost: lostTotal, answered };
  } finally {
    await raw?.close();
    await stopServer(proc);
  }
}

/** ms per request of the library's `signRequest` on a 20 KB upload, on the current back end and on the portable one. */
function signingCost(pool: Item[], quick: boolean): { current: number; portable: number } {
  const n = quick ? 10 : 40;
  const it = pool[0]!;
  const target = relayPaths.upload(it.id, [it.to.mailbox]);
  const sign = (): void => void signRequest({ method: 'PUT', target, body: it.bytes }, it.from.id);
  const rounds = (reps: number): number => {
    sign(); // warm-up
    const per: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t = performance.now();
      for (let i = 0; i < reps; i++) sign();
      per.push((performance.now() - t) / reps);
    }
    return median(per);
  };
  const current = rounds(n * 10);
  const previous = useCryptoBackend(pureCryptoBackend);
  try {
    return { current, portable: rounds(n) };
  } finally {
    useCryptoBackend(previous);
  }
}

type Target = { db: string; stop: () => Promise<void> } | { skip: string };

export async function benchRelay(opts: RelayBenchOptions): Promise<RelayBenchResult> {
  // The clients run the library on node:crypto, as on Node (the relay process does too).
  const previousBackend = nodeCryptoAvailable() ? useCryptoBackend(nodeCryptoBackend) : undefined;
  // The PostgreSQL cluster (or database) is prepared by other processes while this one seals.
  const postgres: Promise<Target> = throwawayPostgres().then((pg) => ('skip' in pg ? pg : { db: pg.url, stop: () => pg.stop() }));
  const settled = postgres.then(
    (t) => t,
    () => undefined,
  );
  try {
    const senders = Array.from({ length: PAIRS }, (_, i) => party(`sender${i}`, 40 + 2 * i));
    const recipients = Array.from({ length: PAIRS }, (_, i) => party(`recipient${i}`, 80 + 2 * i));
    // Every level draws from the same envelopes (acknowledged ones are deleted, so they upload
    // again); more than the largest level has clients, so that all have a request in flight.
    const poolSize = opts.quick ? 96 : 384;
    const t0 = performance.now();
    const pool = sealPool(poolSize, senders, recipients);
    opts.log(`  sealed ${poolSize} envelopes of ${ENVELOPE_BYTES} bytes in ${((performance.now() - t0) / 1000).toFixed(1)} s (setup, not measured)`);
    const rows: Row[] = [];
    const skipped: Record<string, string> = {};

    const backends: Array<{ store: string; open: () => Promise<Target> }> = [
      {
        store: 'sqlite',
        open: async () => {
          const dir = mkdtempSync(join(tmpdir(), 'plushlink-bench-relay-'));
          return { db: join(dir, 'relay.db'), stop: async () => rmSync(dir, { recursive: true, force: true }) };
        },
      },
      { store: 'postgres', open: () => postgres },
    ];
    for (const b of backends) {
      const target = await b.open();
      if ('skip' in target) {
        skipped[b.store] = target.skip;
        opts.log(`  ${b.store}: unavailable (${target.skip}): the ${b.store} rows are skipped`);
        continue;
      }
      try {
        const r = await measureBackend(b.store, target.db, pool, senders, recipients, opts);
        for (const l of r.levels) rows.push(...levelRows(b.store, l));
        rows.push(
          row({
            key: 'relayLost',
            variant: b.store,
            value: r.lost,
            unit: 'envelopes',
            baselines: { 'uploads answered 201/200': r.answered },
            goal: { op: '==', target: 0 },
            how: 'every upload the relay answered 201/200, at every level, fetched afterwards by its recipient: lost = not 200 or not byte-identical',
            extra: { answered: r.answered },
          }),
        );
      } finally {
        await target.stop();
      }
    }

    const sign = signingCost(pool, opts.quick);
    rows.push(
      row({
        key: 'relayClientSignMs',
        variant: `PUT 20 KB, ${cryptoBackend().name}`,
        value: sign.current,
        unit: 'ms/request',
        baselines: { 'portable back end (tweetnacl, @noble; browsers)': sign.portable },
        how: "client cost of signing one upload (RFC 9421 signature + Content-Digest of the 20 KB body) with the library's signRequest, on the back end the load generator used (case) and on the portable one; median of 5 rounds",
      }),
    );
    return { rows, skipped };
  } finally {
    // Stopped already when measured; this stops a cluster left running by a failure before.
    const t = await settled;
    if (t && !('skip' in t)) await t.stop();
    if (previousBackend) useCryptoBackend(previousBackend);
  }
}

function levelRows(store: string, l: LevelResult): Row[] {
  const v = `${store}/${l.c}`;
  const common = 'case = back end / concurrent closed-loop clients over HTTP/1.1 keep-alive on 127.0.0.1, 20 KB envelopes';
  const phaseExtra = (p: Phase, prefix: string): Record<string, number> => ({
    [`${prefix}Ops`]: p.ops,
    [`${prefix}Seconds`]: p.seconds,
    [`${prefix}P50Ms`]: p.p50,
    [`${prefix}P99Ms`]: p.p99,
    [`${prefix}Failures`]: p.failures,
  });
  const rows: Row[] = [
    row({
      key: 'relayUploadsPerSecond',
      variant: v,
      value: l.up.perSecond,
      unit: 'uploads/s',
      baselines: { 'raw putEnvelope': l.rawUp.perSecond, 'GET /v1/health': l.health.perSecond },
      goal: { op: '>=', target: 0.5 * l.rawUp.perSecond },
      how: `${common}: signed PUT /v1/envelopes/{id}, answered 201; goal 50 % of the raw-storage baseline (the store's putEnvelope on the same bytes in-process, same concurrency, same database); health = the empty route of the same server`,
      extra: { ratioToRaw: l.up.perSecond / l.rawUp.perSecond, ...phaseExtra(l.up, 'http'), ...phaseExtra(l.rawUp, 'raw'), ...phaseExtra(l.health, 'health') },
    }),
    row({
      key: 'relayFetchAcksPerSecond',
      variant: v,
      value: l.fetchAck.perSecond,
      unit: 'fetch+ack/s',
      baselines: { 'raw getEnvelope+acknowledge': l.rawFetchAck.perSecond, 'GET /v1/health': l.health.perSecond },
      goal: { op: '>=', target: 0.5 * l.rawFetchAck.perSecond },
      how: `${common}: per envelope its recipient's signed GET …/envelopes/{id} (bytes compared) then POST …/receipt with a valid receipt, answered acknowledged; raw = the store's getEnvelope + acknowledge in-process; goal 50 % of raw`,
      extra: { ratioToRaw: l.fetchAck.perSecond / l.rawFetchAck.perSecond, ...phaseExtra(l.fetchAck, 'http'), ...phaseExtra(l.rawFetchAck, 'raw') },
    }),
  ];
  for (const q of ['p50', 'p99'] as const) {
    rows.push(
      row({
        key: 'relayUploadLatencyMs',
        variant: `${v}/${q}`,
        value: l.up[q],
        unit: 'ms',
        baselines: { 'raw putEnvelope': l.rawUp[q], 'GET /v1/health': l.health[q] },
        ...(q === 'p99' && l.c === 64 ? { goal: { op: '<=' as const, target: 50 } } : {}),
        how: 'client-observed time of one upload (signing + request + answer), case = back end / clients / percentile (nearest rank); baselines at the same concurrency; goal p99 ≤ 50 ms at 64 clients',
      }),
      row({
        key: 'relayFetchAckLatencyMs',
        variant: `${v}/${q}`,
        value: l.fetchAck[q],
        unit: 'ms',
        baselines: { 'raw getEnvelope+acknowledge': l.rawFetchAck[q], 'GET /v1/health': l.health[q] },
        ...(q === 'p99' && l.c === 64 ? { goal: { op: '<=' as const, target: 50 } } : {}),
        how: 'client-observed time of one fetch + receipt (two signed requests), case = back end / clients / percentile (nearest rank); baselines at the same concurrency; goal p99 ≤ 50 ms at 64 clients',
      }),
    );
  }
  return rows;
}
