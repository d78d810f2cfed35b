/**
 * `openStore` (relay/src/store/index.ts, docs/RELAY.md §10): `--db` names a PostgreSQL database by
 * a URL that starts with its scheme, otherwise a SQLite file at the path as given (trimmed), and
 * `./plushlink-relay.db` when it is missing or blank.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SQLITE_PATH, isPostgresUrl, openStore } from '../../../relay/src/store/index.js';

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

  it('a SQLite file at the trimmed path; the default file when the name is missing or blank', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plushlink-open-store-'));
    const cwd = process.cwd();
    try {
      const path = join(dir, 'named.db');
      const named = openStore(`  ${path}\n`);
      expect(named.kind).toBe('sqlite');
      await named.close();
      expect(existsSync(path)).toBe(true);
      process.chdir(dir);
      for (const db of [undefined, '', '   ']) {
        rmSync(join(dir, DEFAULT_SQLITE_PATH), { force: true });
        const s = openStore(db);
        await s.close();
        expect(existsSync(join(dir, DEFAULT_SQLITE_PATH)), JSON.stringify(db)).toBe(true);
      }
    } finally {
      process.chdir(cwd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
