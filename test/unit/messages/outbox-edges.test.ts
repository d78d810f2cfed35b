/**
 * The outbox at its edges (src/messages/outbox.ts, docs/MESSAGES.md): an id that is not a message
 * id never reaches the file system (no path outside the folder is read or deleted), files that are
 * not envelopes are skipped or reported with their code and their file time, the listing order,
 * the retention bound, and flush's attempt count and its handling of an unreadable entry.
 * Written for survivors of the src/messages mutation run.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { utf8 } from '../../../src/protocol/bytes.js';
import { generateFamilyIdentity, Outbox, sealVoiceMessage, type Relay } from '../../../src/messages/index.js';

const grandma = generateFamilyIdentity('Grandma');
const mia = generateFamilyIdentity('Mia');
const NOW = 1_767_225_600_000;
const seal = (createdAt: number, id?: string): Uint8Array => sealVoiceMessage({ audio: utf8('OggS'), from: grandma, to: [mia], createdAt, ...(id ? { messageId: id } : {}) });

let root: string;
let dir: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'plushlink-outbox-edges-'));
  dir = join(root, 'outbox');
  mkdirSync(dir);
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('outbox: ids and files', () => {
  it('get and remove never touch a path that is not a message id in the folder', async () => {
    const outside = join(root, 'secret.plvm');
    writeFileSync(outside, 'not yours');
    const box = await Outbox.open(dir);
    for (const id of ['../secret', '../secret.plvm', 'A'.repeat(32), '0'.repeat(31), '']) {
      expect(await box.get(id), id).toBeUndefined();
      expect(await box.remove(id), id).toBe(false);
    }
    expect(existsSync(outside)).toBe(true);
  });

  it('list skips files not named as envelopes and reports a misnamed or broken envelope with its code and file time', async () => {
    const box = await Outbox.open(dir);
    const { id } = await box.add(seal(NOW));
    writeFileSync(join(dir, 'notes.txt'), 'x');
    writeFileSync(join(dir, `${'A'.repeat(32)}.plvm`), 'x');
    // a valid envelope under another id's name, and garbage under a valid name
    const other = 'b'.repeat(32);
    writeFileSync(join(dir, `${other}.plvm`), seal(NOW + 1));
    const garbage = 'c'.repeat(32);
    writeFileSync(join(dir, `${garbage}.plvm`), 'garbage');
    utimesSync(join(dir, `${other}.plvm`), 5, 5);
    utimesSync(join(dir, `${garbage}.plvm`), 3, 3);
    const list = await box.list();
    expect(list.map((e) => [e.id, e.error, e.createdAt])).toEqual([
      [garbage, 'BAD_ENVELOPE', 3000],
      [other, 'BAD_ENVELOPE', 5000],
      [id, undefined, NOW],
    ]);
  });

  it('list orders by signed creation time, then by id', async () => {
    const box = await Outbox.open(dir);
    const ids = ['3'.repeat(32), '1'.repeat(32), '2'.repeat(32)];
    for (const id of ids) await box.add(seal(NOW, id));
    await box.add(seal(NOW - 1, 'f'.repeat(32)));
    expect((await box.list()).map((e) => e.id)).toEqual(['f'.repeat(32), '1'.repeat(32), '2'.repeat(32), '3'.repeat(32)]);
  });

  it('retention deletes a message older than the limit, keeps one exactly at it', async () => {
    const box = await Outbox.open(dir);
    const { id: atLimit } = await box.add(seal(NOW - 1000));
    const { id: older } = await box.add(seal(NOW - 1001));
    expect((await box.applyRetention(NOW, 1000)).map((e) => [e.id, e.ageMs])).toEqual([[older, 1001]]);
    expect((await box.list()).map((e) => e.id)).toEqual([atLimit]);
  });
});

describe('outbox: flush', () => {
  const noSleep = { sleep: async () => undefined, jitter: () => 0 };

  it('tries exactly maxAttempts times, then reports the failure and keeps the message', async () => {
    const box = await Outbox.open(dir, noSleep);
    const { id } = await box.add(seal(NOW));
    let calls = 0;
    const relay: Relay = {
      upload: async () => {
        calls++;
        throw new Error('relay down');
      },
    };
    const report = await box.flush(relay, { maxAttempts: 3 });
    expect(calls).toBe(3);
    expect(report.failed.map((f) => [f.id, f.attempts])).toEqual([[id, 3]]);
    expect(report.remaining).toBe(1);
  });

  it('a broken entry is reported failed with 0 attempts, never uploaded, and the others still go', async () => {
    const box = await Outbox.open(dir, noSleep);
    const { id } = await box.add(seal(NOW));
    const broken = 'd'.repeat(32);
    writeFileSync(join(dir, `${broken}.plvm`), 'garbage');
    utimesSync(join(dir, `${broken}.plvm`), 1, 1);
    const uploaded: string[] = [];
    const relay: Relay = {
      upload: async (i) => {
        uploaded.push(i);
        return 'stored';
      },
    };
    const report = await box.flush(relay);
    expect(uploaded).toEqual([id]);
    expect(report.uploaded).toEqual([id]);
    expect(report.failed.map((f) => [f.id, f.attempts, (f.error as { code?: string }).code])).toEqual([[broken, 0, 'BAD_ENVELOPE']]);
    expect(report.remaining).toBe(1);
  });
});
