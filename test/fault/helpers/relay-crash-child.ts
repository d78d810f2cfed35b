/**
 * Child process of test/fault/relay-crash.test.ts: a relay (docs/RELAY.md) on the database named
 * by RELAY_DB (a SQLite file, or a `postgres://` URL), listening on 127.0.0.1 on a free port,
 * rate limits off. It can SIGKILL itself at a seeded point inside the store (docs/RELAY.md §5:
 * an acknowledged write survives a crash, and no operation is ever half done):
 *
 *   CRASH_OP_KIND   `putEnvelope` (an upload) or `acknowledge` (a receipt)
 *   CRASH_OP=k      the k-th call of that store operation in this process (1-based); 0 or
 *                   unset: never
 *   CRASH_STEP=j    0: before the operation starts; j ≥ 1: at its j-th write step, which is a
 *                   `Statement.run` of better-sqlite3 (SQLite: BEGIN IMMEDIATE, the writes,
 *                   COMMIT; better-sqlite3 runs the transaction's own statements that way too)
 *                   or a `Client.query` of pg (PostgreSQL: BEGIN, the locks, reads and writes,
 *                   COMMIT); `commit`: at the step that is the COMMIT. An operation with fewer
 *                   steps dies once it has resolved instead (committed, not yet answered):
 *                   reported as step `done`.
 *   CRASH_WHEN      `before` the step runs, or `after` it (for PostgreSQL: once the query has
 *                   been handed to the socket, before its answer, so an `after` of COMMIT may or
 *                   may not commit)
 *
 * Only the write steps of the armed operation count (AsyncLocalStorage tells its steps from those
 * of concurrent requests). Stdout: `url <base URL>` once listening. Stderr: `crash <k> <op>
 * <step> <when>` right before the self-kill (a pipe write is synchronous on Linux), preceded by
 * `steps <n>` when the operation ran to its end.
 * SIGTERM closes the relay and exits 0.
 */
// As the `plushlink` command runs the relay: node:crypto is the library's crypto back end.
import '../../../src/crypto-node/install.js';
import { AsyncLocalStorage } from 'node:async_hooks';
import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createRelay } from '../../../relay/src/app.js';
import type { RelayStore } from '../../../relay/src/store/types.js';

const db = process.env.RELAY_DB ?? '';
const crashKind = process.env.CRASH_OP_KIND ?? 'putEnvelope';
const crashOp = Number(process.env.CRASH_OP ?? 0);
const atCommit = process.env.CRASH_STEP === 'commit';
const crashStep = atCommit ? -1 : Number(process.env.CRASH_STEP ?? 0);
const crashWhen = process.env.CRASH_WHEN === 'after' ? 'after' : 'before';

const armed = new AsyncLocalStorage<{ op: string }>();
let steps = 0;

function die(op: string, step: number | 'commit' | 'done', when: string): never {
  writeSync(2, `crash ${crashOp} ${op} ${step} ${when}\n`);
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}

/**
 * Wraps a write-step function of the driver so that the armed operation can die around step j
 * (or its COMMIT: `sqlOf` reads the statement's SQL).
 */
function hookStep<F extends (...args: never[]) => unknown>(original: F, sqlOf: (self: unknown, args: unknown[]) => string): F {
  return function (this: unknown, ...args: never[]) {
    const a = armed.getStore();
    if (!a || crashStep === 0) return original.apply(this, args);
    steps++;
    const here = atCommit ? /^\s*COMMIT\b/i.test(sqlOf(this, args)) : steps === crashStep;
    const label = atCommit ? 'commit' : steps;
    if (here && crashWhen === 'before') die(a.op, label, 'before');
    const result = original.apply(this, args);
    if (here && crashWhen === 'after') die(a.op, label, 'after');
    return result;
  } as F;
}

/**
 * The one driver this relay needs (both are CommonJS; the other is never loaded). The store
 * imports the same module instance, whose prototype is patched here.
 */
const load = createRequire(import.meta.url);

async function openStore(): Promise<RelayStore> {
  if (/^postgres(?:ql)?:\/\//i.test(db)) {
    const pg = load('pg') as typeof import('pg');
    const proto = pg.Client.prototype as unknown as { query: (...args: never[]) => unknown };
    // query(text, …) or query({ text, … }).
    proto.query = hookStep(proto.query, (_self, args) => {
      const q = args[0] as string | { text?: string } | undefined;
      return typeof q === 'string' ? q : (q?.text ?? '');
    });
    const { openPostgresStore } = await import('../../../relay/src/store/postgres.js');
    return openPostgresStore({ url: db, applicationName: 'plushlink-relay-crash' });
  }
  const Database = load('better-sqlite3') as typeof import('better-sqlite3');
  const probe = new Database(':memory:');
  // Every prepared statement of the process shares this prototype (the store's too).
  const proto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as { run: (...args: never[]) => unknown };
  proto.run = hookStep(proto.run, (self) => String((self as { source?: string }).source ?? ''));
  probe.close();
  const { openSqliteStore } = await import('../../../relay/src/store/sqlite.js');
  return openSqliteStore({ path: db });
}

let calls = 0;
function crashing<A extends unknown[], R>(op: string, fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    if (op !== crashKind || ++calls !== crashOp) return fn(...args);
    if (crashStep === 0) die(op, 0, 'before');
    await armed.run({ op }, () => fn(...args));
    // How many write steps the operation had: the test checks that the driver hook saw them.
    writeSync(2, `steps ${steps}\n`);
    return die(op, 'done', 'after');
  };
}

async function main(): Promise<void> {
  if (!db) throw new Error('RELAY_DB is not set');
  const inner = await openStore();
  const store: RelayStore = {
    ...inner,
    putEnvelope: crashing('putEnvelope', inner.putEnvelope.bind(inner)),
    acknowledge: crashing('acknowledge', inner.acknowledge.bind(inner)),
  };
  const relay = await createRelay({ store, sweepIntervalMs: 0, perKey: false, perAddress: false });
  const url = await relay.listen({ host: '127.0.0.1', port: 0 });
  process.once('SIGTERM', () => {
    relay.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
  writeSync(1, `url ${url}\n`);
}

main().catch((e: unknown) => {
  writeSync(2, `error ${String((e as Error)?.stack ?? e)}\n`);
  process.exit(1);
});
