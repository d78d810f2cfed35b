/**
 * `openStore` (relay/src/store/index.ts, docs/RELAY.md §10): `--db` names a PostgreSQL database by
 * a URL that starts with its scheme, otherwise a SQLite file at the path as given (trimmed), and
 * `./plushlink-relay.db` when it is missing or blank (relative to the working directory).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SQLITE_PATH, isPostgresUrl, openStore, storeTarget } from '../../../relay/src/store/index.js';

describe('openStore', () => {
  it('a PostgreSQL URL only when the string starts with the scheme', () => {
    expect(isPostgresUrl('postgres://h/db')).toBe(true);
    expect(isPostgresUrl('PostgreSQL://h/db')).toBe(true);
    expect(isPostgresUrl('backups/postgres://h/db')).toBe(false);
    expect(isPostgresUrl('postgres:/h/db')).toBe(false);
  });

  it('connects to the database the URL names (surrounding blanks trimmed)', async () => {
    const s = openStore(' postgres://relay@127.0.0.1:1/relay\n');
    expect(s.kind).toBe('postgres');
    try {
      await expect(s.init()).rejects.toThrow(/127\.0\.0\.1:1\b/);
    } finally {
      await s.close();
    }
  });

  it('names a SQLite file at the trimmed path, the default file when the name is missing or blank', () => {
    expect(storeTarget('  data/relay.db\n')).toEqual({ kind: 'sqlite', path: 'data/relay.db' });
    expect(storeTarget(' postgresql://h/db ')).toEqual({ kind: 'postgres', url: 'postgresql://h/db' });
    for (const db of [undefined, '', '   ', '\n\t']) {
      expect(storeTarget(db), JSON.stringify(db)).toEqual({ kind: 'sqlite', path: DEFAULT_SQLITE_PATH });
    }
  });

  it('creates the SQLite file it names; without a name, the default file in the working directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plushlink-open-store-'));
    try {
      const path = join(dir, 'named.db');
      const named = openStore(`  ${path}\n`);
      expect(named.kind).toBe('sqlite');
      await named.close();
      expect(existsSync(path)).toBe(true);
      // The working directory is per process (workers cannot change it): a child opens the default.
      const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
      const storeModule = pathToFileURL(resolve('relay/src/store/index.ts')).href;
      for (const db of [undefined, '', '   ']) {
        rmSync(join(dir, DEFAULT_SQLITE_PATH), { force: true });
        const script = `const m = await import(${JSON.stringify(storeModule)}); await m.openStore(${db === undefined ? 'undefined' : JSON.stringify(db)}).close();`;
        const child = spawnSync(process.execPath, ['--import', tsxLoader, '--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8' });
        expect(child.status, child.stderr).toBe(0);
        expect(existsSync(join(dir, DEFAULT_SQLITE_PATH)), JSON.stringify(db)).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
