/**
 * The relay's storage back ends (docs/RELAY.md; the interface is ./types.ts): `--db` names either
 * a PostgreSQL database (`postgres://…` or `postgresql://…`, shared by any number of relay
 * processes) or a SQLite file (one relay process), `./plushlink-relay.db` by default.
 */
import { openPostgresStore } from './postgres.js';
import { openSqliteStore } from './sqlite.js';
import type { RelayStore } from './types.js';

export type * from './types.js';
export { openPostgresStore, DELIVERY_CHANNEL, POSTGRES_SCHEMA_VERSION, type PostgresStoreOptions } from './postgres.js';
export { openSqliteStore, SQLITE_SCHEMA_VERSION, type SqliteConnectionSettings, type SqliteRelayStore, type SqliteStoreOptions } from './sqlite.js';

/** The SQLite file used when `--db` is not given. */
export const DEFAULT_SQLITE_PATH = './plushlink-relay.db';

/** True when `db` names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(db);
}

/**
 * Opens the store `db` names (not yet initialised: call `init()`): PostgreSQL for a
 * `postgres://` / `postgresql://` URL, otherwise a SQLite file at that path
 * ({@link DEFAULT_SQLITE_PATH} when `db` is undefined or empty).
 */
export function openStore(db: string | undefined): RelayStore {
  const target = storeTarget(db);
  return target.kind === 'postgres' ? openPostgresStore({ url: target.url }) : openSqliteStore({ path: target.path });
}

/** Where `openStore(db)` keeps its data: the trimmed `db`, or {@link DEFAULT_SQLITE_PATH} when blank. */
export type StoreTarget = { kind: 'postgres'; url: string } | { kind: 'sqlite'; path: string };

/** The store `db` names, without opening it (see {@link openStore}). */
export function storeTarget(db: string | undefined): StoreTarget {
  const target = db?.trim() ? db.trim() : DEFAULT_SQLITE_PATH;
  return isPostgresUrl(target) ? { kind: 'postgres', url: target } : { kind: 'sqlite', path: target };
}
