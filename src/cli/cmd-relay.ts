/**
 * `plushlink relay serve`: runs the relay (docs/RELAY.md) from the `@plushlink/relay` workspace
 * package, loaded only here so that the library itself carries no server or database driver.
 */
import type { Command } from 'commander';
import { PlushlinkError } from '../index.js';
import { interruptSignal, note, out, outJson, UsageError } from './common.js';

type RelayModule = typeof import('@plushlink/relay');

/** Loads `@plushlink/relay`, or explains how to get it. */
export async function loadRelayPackage(): Promise<RelayModule> {
  try {
    return await import('@plushlink/relay');
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new PlushlinkError('UNSUPPORTED', 'the relay is its own package: npm install @plushlink/relay (it brings Fastify, SQLite and PostgreSQL drivers)', undefined, { cause: e });
    }
    throw e;
  }
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--port must be 0..65535, got "${v}"`);
  return n;
}

export function registerRelayCommands(program: Command): void {
  const relay = program.command('relay').description('the relay that carries sealed voice messages between the family (docs/RELAY.md)');
  relay
    .command('serve')
    .description('run a relay: SQLite file by default, or PostgreSQL for several relay processes')
    .option('--db <file|url>', 'SQLite file, or postgres://… URL', 'plushlink-relay.db')
    .option('--host <address>', 'listen address (a reverse proxy terminates TLS in front)', '127.0.0.1')
    .option('--port <n>', 'listen port (0: any free one)', port, 8787)
    .option('--app-dir <dir>', "serve the relative's web app from this folder at /app/ (default: the built @plushlink/web, when installed)")
    .option('--max-envelope <bytes>', 'largest accepted envelope', (v) => Number(v), 1024 * 1024)
    .option('--ttl-days <n>', 'days an undelivered envelope is kept', (v) => Number(v), 30)
    .option('--json', 'print the listening address as JSON')
    .action(async (o: { db: string; host: string; port: number; appDir?: string; maxEnvelope: number; ttlDays: number; json?: boolean }) => {
      if (!Number.isInteger(o.maxEnvelope) || o.maxEnvelope < 1024) throw new UsageError('--max-envelope must be an integer ≥ 1024');
      if (!(o.ttlDays > 0)) throw new UsageError('--ttl-days must be positive');
      const mod = await loadRelayPackage();
      const appDir = o.appDir ?? (await mod.defaultAppDir());
      const serving = await mod.serveRelay({
        db: o.db,
        host: o.host,
        port: o.port,
        maxEnvelopeBytes: o.maxEnvelope,
        ttlMs: o.ttlDays * 24 * 60 * 60 * 1000,
        ...(appDir ? { appDir } : {}),
      });
      const where = /^postgres(ql)?:/.test(o.db) ? o.db.replace(/\/\/[^@/]*@/, '//…@') : o.db;
      if (o.json) outJson({ url: serving.url, store: serving.store, db: where, app: appDir ? `${serving.url}/app/` : null });
      else {
        out(`relay listening on ${serving.url} (${serving.store}: ${where})`);
        if (appDir) out(`web app at ${serving.url}/app/`);
        if (o.host !== '127.0.0.1' && o.host !== 'localhost' && o.host !== '::1') note('note: serve the relay behind TLS (a reverse proxy); request signatures protect integrity, not privacy of metadata');
      }
      const stop = interruptSignal();
      await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
      await serving.close();
      stop.dispose();
      note('relay stopped');
    });
}
