/** FileKeystore and FileToyStorage on a real file system: round trip, mode 0600, crash debris. */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileKeystore } from '../../../src/companion/keystore.js';
import { FileToyStorage } from '../../../src/toy/storage.js';
import { keystoreVersion } from '../../fault/helpers/keystore-shared.js';

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A temp file as a crash during an atomic write leaves it, `ageMs` old. */
function debris(name: string, ageMs: number): string {
  const p = join(dir, name);
  writeFileSync(p, '{"half":');
  const t = (Date.now() - ageMs) / 1000;
  utimesSync(p, t, t);
  return p;
}

describe('FileKeystore', () => {
  it('round-trips with mode 0600 and removes only its own stale temp files when it loads', async () => {
    dir = mkdtempSync(join(tmpdir(), 'plushlink-ks-'));
    const ks = new FileKeystore(join(dir, 'keystore.json'));
    expect(await ks.load()).toBeUndefined();
    await ks.save(keystoreVersion(3));
    expect(statSync(join(dir, 'keystore.json')).mode & 0o777).toBe(0o600);
    debris('.keystore.json.0a1b2c3d4e5f.tmp', 10 * 60_000); // a crash 10 minutes ago
    debris('.keystore.json.ffffffffffff.tmp', 1_000); // a write in progress elsewhere
    debris('.other.json.0a1b2c3d4e5f.tmp', 10 * 60_000); // someone else's file
    expect((await ks.load())?.displayName).toBe('version 3');
    expect(readdirSync(dir).sort()).toEqual(['.keystore.json.ffffffffffff.tmp', '.other.json.0a1b2c3d4e5f.tmp', 'keystore.json']);
  });

  it('a corrupt file gives KEYSTORE_CORRUPT and is left as it is', async () => {
    dir = mkdtempSync(join(tmpdir(), 'plushlink-ks-'));
    writeFileSync(join(dir, 'keystore.json'), '{"version":1,');
    const ks = new FileKeystore(join(dir, 'keystore.json'));
    await expect(ks.load()).rejects.toMatchObject({ code: 'KEYSTORE_CORRUPT' });
    expect(readdirSync(dir)).toEqual(['keystore.json']);
  });
});

describe('FileToyStorage', () => {
  it('round-trips with mode 0600 and removes its stale temp files when it loads', async () => {
    dir = mkdtempSync(join(tmpdir(), 'plushlink-toy-'));
    const st = new FileToyStorage(join(dir, 'toy.flash.json'));
    expect(await st.load()).toBeUndefined();
    const state = { version: 1, pairings: [], failedAttempts: 0, lockedUntil: 0, volume: 50 } as unknown as Parameters<FileToyStorage['save']>[0];
    await st.save(state);
    expect(statSync(join(dir, 'toy.flash.json')).mode & 0o777).toBe(0o600);
    debris('.toy.flash.json.0a1b2c3d4e5f.tmp', 10 * 60_000);
    expect(await st.load()).toEqual(state);
    expect(readdirSync(dir)).toEqual(['toy.flash.json']);
  });
});
