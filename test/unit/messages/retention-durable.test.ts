/**
 * Retention and forgetAll delete durably (src/messages/retention.ts, src/util/durable-fs.ts,
 * docs/SECURITY.md): each unlink is followed by an fsync of its folder, so that a recording, a
 * queued message or a family key deleted for the child's privacy does not come back after a power
 * cut. A SIGKILL test cannot see a missing folder fsync (the page cache survives the process);
 * the order of the calls, recorded, shows it.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyRetention, forgetAll } from '../../../src/messages/index.js';
import { expectDurableUnlinks, RecordingFileSystem } from '../../helpers/recording-fs.js';

const DAY = 86_400_000;
const NOW = 1_767_225_600_000;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'plushlink-retention-durable-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(path: string, ageMs = 0): string {
  writeFileSync(path, 'OggS fake recording');
  const t = (NOW - ageMs) / 1000;
  utimesSync(path, t, t);
  return path;
}

describe('retention and forgetAll: durable deletes', () => {
  it('applyRetention: each expired recording unlinked, then its own folder fsynced; a kept one untouched', async () => {
    const rec = join(dir, 'rec');
    mkdirSync(join(rec, '2025-12'), { recursive: true });
    const old = file(join(rec, 'a-old.ogg'), 31 * DAY);
    const older = file(join(rec, '2025-12', 'b-older.ogg'), 60 * DAY);
    const fresh = file(join(rec, 'fresh.ogg'), DAY);
    const fs = new RecordingFileSystem();
    const report = await applyRetention(NOW, { recordingsDir: rec, recordingsMaxAgeMs: 30 * DAY, fs });
    expect(report.recordings.map((r) => r.path)).toEqual([older, old]);
    expectDurableUnlinks(fs.take(), [older, old]);
    expect(existsSync(fresh)).toBe(true);
    // Nothing left to expire: no delete, no fsync.
    await applyRetention(NOW, { recordingsDir: rec, recordingsMaxAgeMs: 30 * DAY, fs });
    expect(fs.take()).toEqual([]);
  });

  it('forgetAll: recordings, outbox files, family keys and keystores each unlinked then their folder fsynced; removed subfolders fsynced in the emptied folder', async () => {
    const rec = join(dir, 'rec');
    const outbox = join(dir, 'outbox');
    const keys = join(dir, 'keys');
    mkdirSync(join(rec, 'sub'), { recursive: true });
    mkdirSync(outbox);
    mkdirSync(keys);
    const r1 = file(join(rec, 'r1.ogg'));
    const r2 = file(join(rec, 'sub', 'r2.ogg'));
    const o1 = file(join(outbox, 'm1.plm'));
    const k1 = file(join(keys, 'family.json'));
    const ks = file(join(keys, 'keystore.json'));
    const fs = new RecordingFileSystem();
    const report = await forgetAll({ recordingsDir: rec, outboxDir: outbox, familyKeyPaths: [k1, join(keys, 'absent.json')], keystorePaths: [ks], fs });
    expect(report.errors).toEqual([]);
    expect(report.totalFiles).toBe(5);
    const ops = fs.take();
    // Recordings: both files durably, then the emptied subfolder removed and the folder fsynced.
    expectDurableUnlinks(ops.slice(0, 4), [r1, r2]);
    expect(ops[4]).toEqual({ op: 'fsyncDir', path: rec });
    // Outbox (nothing else left in it: no second fsync), then the keys; a missing key file costs nothing.
    expectDurableUnlinks(ops.slice(5), [o1, k1, ks]);
    expect(existsSync(join(rec, 'sub'))).toBe(false);
    expect(existsSync(rec) && existsSync(outbox)).toBe(true);
  });

  it('forgetAll: a folder fsync that fails is reported as an error for that file, and the other deletes go on', async () => {
    const keys = join(dir, 'keys');
    mkdirSync(keys);
    const k1 = file(join(keys, 'a.json'));
    const k2 = file(join(keys, 'b.json'));
    const fs = new RecordingFileSystem();
    let fsyncs = 0;
    const inner = fs.inner;
    const failing = new RecordingFileSystem({
      ...inner,
      fsyncDir: async (p) => {
        if (fsyncs++ === 0) throw Object.assign(new Error('EIO: fsync failed'), { code: 'EIO' });
        await inner.fsyncDir(p);
      },
    });
    const report = await forgetAll({ familyKeyPaths: [k1, k2], fs: failing });
    expect(report.errors).toEqual([{ path: k1, message: 'EIO: fsync failed' }]);
    expect(report.familyKeys).toEqual({ count: 1, paths: [k2] });
    expect(existsSync(k1) || existsSync(k2)).toBe(false);
  });
});
