/**
 * The outbox's flush, events and races (src/messages/outbox.ts, docs/MESSAGES.md §4): the events
 * an app sees (added, uploaded, failed, expired, with their arguments), a file that disappears
 * between the listing and its read (skipped, never uploaded), a broken file whose time cannot be
 * read, the listing order whatever order the folder gives its names in, the relay getting the
 * caller's abort signal, and aborts at each point of a flush (between messages, on the last
 * attempt, during the backoff wait) — always `ABORTED` with what was done so far, the message
 * kept — as opposed to a backoff wait failing for another reason. Written for survivors of the
 * src/messages mutation run.
 */
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { utf8 } from '../../../src/protocol/bytes.js';
import { PlushlinkError } from '../../../src/protocol/errors.js';
import { nodeFileSystem, type DurableFileSystem } from '../../../src/util/durable-fs.js';
import { generateFamilyIdentity, Outbox, sealVoiceMessage, type Relay, type UploadResult } from '../../../src/messages/index.js';

const grandma = generateFamilyIdentity('Grandma');
const mia = generateFamilyIdentity('Mia');
const NOW = 1_767_225_600_000;
const seal = (createdAt: number, id?: string): Uint8Array => sealVoiceMessage({ audio: utf8('OggS'), from: grandma, to: [mia], createdAt, ...(id ? { messageId: id } : {}) });
const noSleep = { sleep: async () => undefined, jitter: () => 0 };

let root: string;
let dir: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'plushlink-outbox-flush-'));
  dir = join(root, 'outbox');
  mkdirSync(dir);
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

/** A relay that records each upload (id, whether it had bytes, the signal it got) and answers `answer`. */
function recordingRelay(answer: (id: string) => Promise<UploadResult> = async () => 'stored') {
  const calls: { id: string; bytes: boolean; signal: AbortSignal | undefined }[] = [];
  const relay: Relay = {
    upload: async (id, bytes, options) => {
      calls.push({ id, bytes: bytes instanceof Uint8Array, signal: options?.signal });
      return answer(id);
    },
  };
  return { relay, calls };
}

/** Node's file system, with some calls changed. */
const fsWith = (over: Partial<DurableFileSystem>): DurableFileSystem => ({ ...nodeFileSystem, ...over });
const enoent = (): Error => Object.assign(new Error('gone'), { code: 'ENOENT' });

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('outbox events', () => {
  it('added (new messages only), uploaded with the relay answer, failed with attempts and error, expired with the age', async () => {
    const box = await Outbox.open(dir, noSleep);
    const events: unknown[][] = [];
    for (const name of ['added', 'uploaded', 'failed', 'expired', 'retry'] as const) {
      box.on(name, (...args: unknown[]) => events.push([name, ...args]));
    }
    const a = seal(NOW, 'a'.repeat(32));
    const b = seal(NOW + 1, 'b'.repeat(32));
    await box.add(a);
    await box.add(a); // idempotent: no event
    await box.add(b);
    expect(events).toEqual([
      ['added', 'a'.repeat(32)],
      ['added', 'b'.repeat(32)],
    ]);
    events.length = 0;

    const down = new Error('relay down');
    const { relay } = recordingRelay(async (id) => {
      if (id === 'b'.repeat(32)) throw down;
      return 'duplicate';
    });
    await box.flush(relay, { maxAttempts: 2 });
    expect(events).toEqual([
      ['uploaded', 'a'.repeat(32), 'duplicate'],
      ['retry', 'b'.repeat(32), 1, 500, down],
      ['failed', 'b'.repeat(32), 2, down],
    ]);
    events.length = 0;

    expect(await box.applyRetention(NOW + 1 + 5000, 4000)).toHaveLength(1);
    expect(events).toEqual([['expired', 'b'.repeat(32), 5000]]);
  });

  it('a different envelope under a queued id: OUTBOX_ERROR naming the id', async () => {
    const box = await Outbox.open(dir);
    const id = 'c'.repeat(32);
    await box.add(seal(NOW, id));
    const e = await rejection(box.add(seal(NOW + 1, id)));
    expect(e).toBeInstanceOf(PlushlinkError);
    expect(e).toMatchObject({ code: 'OUTBOX_ERROR', detail: { id } });
  });
});

describe('outbox files that change underfoot', () => {
  it('list skips a file named in the folder that is gone when read', async () => {
    const gone = `${'d'.repeat(32)}.plvm`;
    const box = await Outbox.open(dir, {
      fs: fsWith({
        readdir: async (p) => [...(await nodeFileSystem.readdir(p)), gone],
        readFile: async (p) => (basename(p) === gone ? Promise.reject(enoent()) : nodeFileSystem.readFile(p)),
      }),
    });
    const { id } = await box.add(seal(NOW));
    expect((await box.list()).map((e) => e.id)).toEqual([id]);
  });

  it('a broken file whose time cannot be read is listed with time 0 and its code', async () => {
    const broken = 'e'.repeat(32);
    writeFileSync(join(dir, `${broken}.plvm`), 'garbage');
    const box = await Outbox.open(dir, { fs: fsWith({ stat: async () => Promise.reject(enoent()) }) });
    expect((await box.list()).map((e) => [e.id, e.createdAt, e.error])).toEqual([[broken, 0, 'BAD_ENVELOPE']]);
  });

  it('a message removed while the flush runs is skipped: never uploaded, not failed', async () => {
    const box = await Outbox.open(dir, noSleep);
    const first = (await box.add(seal(NOW))).id;
    const second = (await box.add(seal(NOW + 1))).id;
    const { relay, calls } = recordingRelay(async (id) => {
      if (id === first) unlinkSync(join(dir, `${second}.plvm`)); // e.g. retention, or the app removing it
      return 'stored';
    });
    const report = await box.flush(relay);
    expect(calls.map((c) => [c.id, c.bytes])).toEqual([[first, true]]);
    expect(report).toEqual({ uploaded: [first], duplicates: [], failed: [], remaining: 0 });
  });

  it('list orders equal creation times by id whatever order the folder names them in', async () => {
    const ids = ['1', '2', '3', '4'].map((c) => c.repeat(32));
    for (const reverse of [true, false]) {
      const sub = join(root, reverse ? 'desc' : 'asc');
      const box = await Outbox.open(sub, {
        fs: fsWith({
          readdir: async (p) => {
            const names = (await nodeFileSystem.readdir(p)).sort();
            return reverse ? names.reverse() : names;
          },
        }),
      });
      for (const id of ids) await box.add(seal(NOW, id));
      expect((await box.list()).map((e) => e.id), reverse ? 'names given descending' : 'names given ascending').toEqual(ids);
    }
  });
});

describe('outbox flush and abort', () => {
  it('the relay gets the caller’s abort signal', async () => {
    const box = await Outbox.open(dir, noSleep);
    await box.add(seal(NOW));
    const { relay, calls } = recordingRelay();
    const ac = new AbortController();
    await box.flush(relay, { signal: ac.signal });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.signal).toBe(ac.signal);
  });

  it('an abort between two messages: ABORTED with what was uploaded, the next one neither uploaded nor removed', async () => {
    const box = await Outbox.open(dir, noSleep);
    const first = (await box.add(seal(NOW))).id;
    const second = (await box.add(seal(NOW + 1))).id;
    const ac = new AbortController();
    box.on('uploaded', () => ac.abort());
    const { relay, calls } = recordingRelay(); // a relay that does not look at the signal
    const e = await rejection(box.flush(relay, { signal: ac.signal }));
    expect(e).toMatchObject({ code: 'ABORTED' });
    expect((e as PlushlinkError).detail).toMatchObject({ report: { uploaded: [first], failed: [] } });
    expect(calls.map((c) => c.id)).toEqual([first]);
    expect((await box.list()).map((x) => x.id)).toEqual([second]);
  });

  it('an abort during the last attempt is ABORTED, not a failure report', async () => {
    const box = await Outbox.open(dir, noSleep);
    await box.add(seal(NOW));
    const ac = new AbortController();
    const { relay } = recordingRelay(async () => {
      ac.abort();
      throw new Error('connection reset');
    });
    expect(await rejection(box.flush(relay, { signal: ac.signal, maxAttempts: 1 }))).toMatchObject({ code: 'ABORTED' });
    expect(await box.list()).toHaveLength(1);
  });

  it('an abort during the backoff wait is ABORTED whatever the sleep rejects with, and nothing is tried after it', async () => {
    const ac = new AbortController();
    const box = await Outbox.open(dir, {
      jitter: () => 0,
      sleep: async () => {
        ac.abort();
        throw new Error('timer cancelled');
      },
    });
    await box.add(seal(NOW));
    const { relay, calls } = recordingRelay(async () => {
      throw new Error('relay down');
    });
    expect(await rejection(box.flush(relay, { signal: ac.signal }))).toMatchObject({ code: 'ABORTED' });
    expect(calls).toHaveLength(1);
  });

  it('a backoff wait that fails without an abort ends the flush with that error (with or without a signal)', async () => {
    const broken = new Error('no timers here');
    const box = await Outbox.open(dir, { jitter: () => 0, sleep: async () => Promise.reject(broken) });
    await box.add(seal(NOW));
    for (const signal of [new AbortController().signal, undefined]) {
      const { relay, calls } = recordingRelay(async () => {
        throw new Error('relay down');
      });
      expect(await rejection(box.flush(relay, signal ? { signal } : {}))).toBe(broken);
      expect(calls).toHaveLength(1);
    }
    expect(await box.list()).toHaveLength(1);
  });
});
