/** What `plushlink relay serve` runs: a store chosen by `--db`, a relay, a listening socket. */
import { createRelay, type RelayOptions } from './app.js';
import { openStore } from './store/index.js';

/** Options of {@link serveRelay}. */
export interface ServeOptions extends Omit<RelayOptions, 'store'> {
  /** A SQLite file path (default `./plushlink-relay.db`) or a `postgres://` URL. */
  db?: string;
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Port (default 8787; 0 for any free one). */
  port?: number;
}

/** A relay that is listening. */
export interface ServingRelay {
  url: string;
  /** `'sqlite'` or `'postgres'`. */
  store: string;
  close(): Promise<void>;
}

/** Opens the store, starts the relay and listens. */
export async function serveRelay(options: ServeOptions = {}): Promise<ServingRelay> {
  const { db, host, port, ...relayOptions } = options;
  const store = openStore(db);
  const relay = await createRelay({ ...relayOptions, store });
  try {
    const url = await relay.listen({ host: host ?? '127.0.0.1', port: port ?? 8787 });
    return { url, store: store.kind, close: () => relay.close() };
  } catch (e) {
    await relay.close();
    throw e;
  }
}

/**
 * The built web app of `@plushlink/web` (its `dist/` folder), when that package is installed
 * and built; undefined otherwise.
 */
export async function defaultAppDir(): Promise<string | undefined> {
  const { createRequire } = await import('node:module');
  const { dirname, join } = await import('node:path');
  const { existsSync } = await import('node:fs');
  try {
    const pkg = createRequire(import.meta.url).resolve('@plushlink/web/package.json');
    const dist = join(dirname(pkg), 'dist');
    return existsSync(join(dist, 'index.html')) ? dist : undefined;
  } catch {
    return undefined;
  }
}
