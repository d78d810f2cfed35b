/**
 * A throwaway PostgreSQL database for the relay's tests (docs/RELAY.md: the PostgreSQL back end).
 *
 * 1. `PLUSHLINK_PG_URL` set (CI: scripts/ci-postgres.sh): a fresh, uniquely named database on that
 *    server per call, dropped by `stop()`, so parallel test files and a second `npm test` at the
 *    same time never share one.
 * 2. Otherwise, PostgreSQL server binaries in /usr/lib/postgresql/<version>/bin: a throwaway
 *    cluster in a temp folder (trust authentication on loopback only, `listen_addresses =
 *    127.0.0.1` on a free port, its socket in the temp folder, fsync on), stopped and removed by
 *    `stop()` (or when the test process exits). initdb refuses to run as root, so as root the
 *    cluster belongs to the `postgres` user (`runuser -u postgres --`).
 * 3. Otherwise `{ skip }` with the reason, unless `PLUSHLINK_REQUIRE_PG=1` (CI never skips), in
 *    which case it throws.
 *
 * Under a mutation run (`PLUSHLINK_MUTATION` set by scripts/mutation.ts) it is always `{ skip }`.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** A database to use, and how to get rid of it. */
export interface ThrowawayPostgres {
  /** `postgres://…` URL of a fresh, empty database. */
  url: string;
  stop(): Promise<void>;
}

/** Why PostgreSQL tests are skipped here. */
export interface PostgresSkip {
  skip: string;
}

export const PG_MISSING_MESSAGE = 'PostgreSQL server binaries not found: apt-get install postgresql (CI installs and starts it)';

/** True when `PLUSHLINK_REQUIRE_PG=1`: an unavailable PostgreSQL is a failure, not a skip. */
export const PG_REQUIRED = process.env.PLUSHLINK_REQUIRE_PG === '1';

function unavailable(reason: string): PostgresSkip {
  if (PG_REQUIRED) throw new Error(`PLUSHLINK_REQUIRE_PG=1 but PostgreSQL is unavailable: ${reason}`);
  console.warn(`[plushlink tests] ${reason}: the PostgreSQL relay tests are SKIPPED.`);
  return { skip: reason };
}

/** Returns a fresh PostgreSQL database, or why there is none here. */
export async function throwawayPostgres(): Promise<ThrowawayPostgres | PostgresSkip> {
  // A mutation run (scripts/mutation.ts) mutates the SQLite back end only: a PostgreSQL server is a
  // child process that cannot see the active mutant, so it would only cost every worker time.
  if (process.env.PLUSHLINK_MUTATION !== undefined) return { skip: 'mutation run: the PostgreSQL back end is not mutated (scripts/mutation.ts)' };
  const serverUrl = process.env.PLUSHLINK_PG_URL?.trim();
  if (serverUrl) return freshDatabase(serverUrl);
  const bin = serverBinaries();
  if (!bin) return unavailable(PG_MISSING_MESSAGE);
  try {
    return await throwawayCluster(bin);
  } catch (e) {
    return unavailable(`PostgreSQL could not start from ${bin}: ${(e as Error).message}`);
  }
}

/** A uniquely named database: process id and random bytes (the test fork and the run). */
function uniqueName(): string {
  return `plushlink_test_${process.pid}_${randomBytes(6).toString('hex')}`;
}

async function freshDatabase(serverUrl: string): Promise<ThrowawayPostgres> {
  const name = uniqueName();
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let stopped = false;
  return {
    url: url.toString(),
    async stop() {
      if (stopped) return;
      stopped = true;
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        // WITH (FORCE): connections a failed test left open do not keep it alive (PostgreSQL 13+).
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** The newest /usr/lib/postgresql/<version>/bin that has initdb, pg_ctl and postgres. */
function serverBinaries(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = join(root, v, 'bin');
    if (['initdb', 'pg_ctl', 'postgres'].every((t) => existsSync(join(bin, t)))) return bin;
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

interface RunAs {
  /** argv prefix: [] or ['runuser', '-u', 'postgres', '--']. */
  prefix: string[];
  uid?: number;
  gid?: number;
}

function runAs(): RunAs {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return { prefix: [] };
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { prefix: ['runuser', '-u', 'postgres', '--'], uid, gid };
}

function run(as: RunAs, argv: string[], timeoutMs = 120_000): Promise<string> {
  const full = [...as.prefix, ...argv];
  return new Promise((resolve, reject) => {
    execFile(full[0]!, full.slice(1), { encoding: 'utf8', timeout: timeoutMs, cwd: '/' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${argv.map((a) => a.split('/').pop()).join(' ')} failed: ${error.message}\n${stderr || stdout}`));
      else resolve(stdout);
    });
  });
}

async function throwawayCluster(bin: string): Promise<ThrowawayPostgres> {
  const as = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'plushlink-pg-'));
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  const pgCtl = join(bin, 'pg_ctl');
  let started = false;

  const removeNow = (): void => {
    if (started) {
      try {
        const argv = [...as.prefix, pgCtl, 'stop', '-D', data, '-m', 'immediate', '-w'];
        execFileSync(argv[0]!, argv.slice(1), { stdio: 'ignore', timeout: 30_000 });
      } catch {
        // already stopped
      }
      started = false;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // A test process that dies without stop() still takes its cluster with it.
  const onExit = (): void => removeNow();
  process.once('exit', onExit);

  try {
    if (as.uid !== undefined && as.gid !== undefined) chownSync(dir, as.uid, as.gid);
    // --no-sync only skips initdb's own final fsync of the template files (the server runs with fsync on).
    await run(as, [join(bin, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync']);
    const hba = ['# throwaway test cluster: trust, loopback only', 'local all all trust', 'host all all 127.0.0.1/32 trust', ''].join('\n');
    // The files exist (owned by the cluster's user): replacing their contents keeps the owner.
    writeFileSync(join(data, 'pg_hba.conf'), hba);

    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const conf = [
        `listen_addresses = '127.0.0.1'`,
        `port = ${port}`,
        `unix_socket_directories = '${dir}'`,
        `shared_buffers = 16MB`,
        `max_connections = 60`,
        `fsync = on`,
        `synchronous_commit = on`,
        `full_page_writes = on`,
        `dynamic_shared_memory_type = posix`,
        `log_min_messages = warning`,
        '',
      ].join('\n');
      writeFileSync(join(data, 'postgresql.auto.conf'), conf);
      try {
        await run(as, [pgCtl, 'start', '-D', data, '-l', log, '-w', '-t', '120']);
        started = true;
        const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
        let stopped = false;
        return {
          url,
          async stop() {
            if (stopped) return;
            stopped = true;
            process.removeListener('exit', onExit);
            try {
              await run(as, [pgCtl, 'stop', '-D', data, '-m', 'fast', '-w', '-t', '60']);
              started = false;
            } finally {
              removeNow();
            }
          },
        };
      } catch (e) {
        lastError = e; // most likely the port was taken in between: try another
      }
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  } catch (e) {
    process.removeListener('exit', onExit);
    removeNow();
    throw e;
  }
}
