import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { utf8 } from '../../../src/protocol/bytes.js';
import {
  Outbox,
  RetentionPolicy,
  applyRetention,
  forgetAll,
  generateFamilyIdentity,
  saveFamilyIdentity,
  sealVoiceMessage,
} from '../../../src/messages/index.js';

const grandma = generateFamilyIdentity('Grandma');
const child = generateFamilyIdentity('Mia');
const tmp = (): string => mkdtempSync(join(tmpdir(), 'plushlink-retention-'));
const DAY = 86_400_000;
const NOW = 1_767_225_600_000;

function recording(dir: string, name: string, ageMs: number): string {
  const p = join(dir, name);
  writeFileSync(p, 'OggS fake recording');
  const t = (NOW - ageMs) / 1000;
  utimesSync(p, t, t);
  return p;
}

describe('retention', () => {
  it('deletes exactly the recordings and outbox entries older than their limits', async () => {
    const recordingsDir = tmp();
    const outboxDir = tmp();
    mkdirSync(join(recordingsDir, '2025-12'));
    const old1 = recording(recordingsDir, 'old.ogg', 31 * DAY);
    const old2 = recording(join(recordingsDir, '2025-12'), 'older.ogg', 60 * DAY);
    const fresh = recording(recordingsDir, 'fresh.ogg', 2 * DAY);
    const outbox = await Outbox.open(outboxDir);
    const oldMsg = await outbox.add(sealVoiceMessage({ audio: utf8('a'), from: grandma, to: [child], createdAt: NOW - 8 * DAY }));
    const newMsg = await outbox.add(sealVoiceMessage({ audio: utf8('b'), from: grandma, to: [child], createdAt: NOW - DAY }));

    const policy = new RetentionPolicy({ recordingsDir, recordingsMaxAgeMs: 30 * DAY, outboxDir, outboxMaxAgeMs: 7 * DAY });
    const report = await policy.applyRetention(NOW);
    expect(report.recordings.map((r) => r.path).sort()).toEqual([old1, old2].sort());
    expect(report.recordings.every((r) => r.ageMs > 30 * DAY)).toBe(true);
    expect(report.outbox.map((e) => e.id)).toEqual([oldMsg.id]);
    expect(report.kept).toEqual({ recordings: 1, outbox: 1 });
    expect(existsSync(old1) || existsSync(old2)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
    expect((await outbox.list()).map((e) => e.id)).toEqual([newMsg.id]);

    // idempotent; a later `now` expires the rest
    expect((await policy.applyRetention(NOW)).recordings).toEqual([]);
    const later = await applyRetention(NOW + 40 * DAY, { recordingsDir, recordingsMaxAgeMs: 30 * DAY, outboxDir, outboxMaxAgeMs: 7 * DAY });
    expect(later.recordings.map((r) => r.path)).toEqual([fresh]);
    expect(later.outbox.map((e) => e.id)).toEqual([newMsg.id]);
  });

  it('without a limit nothing is deleted; missing folders are fine; bad limits are refused', async () => {
    const recordingsDir = tmp();
    recording(recordingsDir, 'a.ogg', 1000 * DAY);
    const r = await applyRetention(NOW, { recordingsDir, outboxDir: join(tmp(), 'new-outbox') });
    expect(r.recordings).toEqual([]);
    expect(r.kept.recordings).toBe(1);
    const r2 = await applyRetention(NOW, { recordingsDir: join(tmp(), 'missing'), recordingsMaxAgeMs: 1 });
    expect(r2.recordings).toEqual([]);
    expect(() => new RetentionPolicy({ outboxMaxAgeMs: -1 })).toThrow(RangeError);
  });
});

describe('forgetAll', () => {
  it("deletes recordings, outbox, family keys, keystores and pairings, and reports each path", async () => {
    const base = tmp();
    const recordingsDir = join(base, 'recordings');
    const outboxDir = join(base, 'outbox');
    mkdirSync(join(recordingsDir, 'sub'), { recursive: true });
    const recs = [recording(recordingsDir, 'a.ogg', 0), recording(join(recordingsDir, 'sub'), 'b.ogg', 0)];
    const outbox = await Outbox.open(outboxDir);
    const m = await outbox.add(sealVoiceMessage({ audio: utf8('x'), from: grandma, to: [child] }));
    writeFileSync(join(outboxDir, '.left.plvm.aaaaaa.tmp'), 'crash debris');
    const famPath = join(base, 'keys', 'me.json');
    await saveFamilyIdentity(famPath, child);
    const keystore = join(base, 'pairings.json');
    writeFileSync(keystore, '{}');
    let cleared = 0;
    const pairingStore = { clear: async () => ((cleared += 1), 3) };

    const report = await forgetAll({
      recordingsDir,
      outboxDir,
      familyKeyPaths: [famPath, join(base, 'keys', 'absent.json')],
      keystorePaths: [keystore],
      pairingStore,
    });
    expect(report.errors).toEqual([]);
    expect(report.recordings.paths.sort()).toEqual(recs.sort());
    expect(report.recordings.count).toBe(2);
    expect(report.outbox.paths.sort()).toEqual([join(outboxDir, '.left.plvm.aaaaaa.tmp'), join(outboxDir, `${m.id}.plvm`)].sort());
    expect(report.familyKeys).toEqual({ count: 1, paths: [famPath] });
    expect(report.keystores).toEqual({ count: 1, paths: [keystore] });
    expect(report.pairings).toEqual({ count: 3 });
    expect(cleared).toBe(1);
    expect(report.totalFiles).toBe(6);
    expect(readdirSync(recordingsDir)).toEqual([]);
    expect(readdirSync(outboxDir)).toEqual([]);
    expect(existsSync(famPath) || existsSync(keystore)).toBe(false);

    const again = await forgetAll({ recordingsDir, outboxDir, familyKeyPaths: [famPath] });
    expect(again.totalFiles).toBe(0);
    expect(again.errors).toEqual([]);
  });

  it('keeps going when one part fails and reports the failure', async () => {
    const recordingsDir = tmp();
    recording(recordingsDir, 'a.ogg', 0);
    const report = await forgetAll({
      recordingsDir,
      pairingStore: { clear: async () => Promise.reject(new Error('store locked')) },
    });
    expect(report.recordings.count).toBe(1);
    expect(report.errors).toEqual([{ path: '<pairing store>', message: 'store locked' }]);
  });
});
