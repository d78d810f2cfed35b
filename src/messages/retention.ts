/**
 * Retention and deletion of a child's data on the companion: an age limit for local recordings
 * and queued voice messages, and {@link forgetAll}, which deletes recordings, the outbox, pairings
 * and family keys and reports what it removed.
 *
 * Deletion is `unlink`: on flash storage, overwriting in place does not reliably erase, so
 * plushlink does not pretend to; full-disk encryption of the device is what makes deleted blocks
 * unreadable. Every delete is durable (src/util/durable-fs.ts, docs/SECURITY.md): the unlink, then
 * an fsync of its folder, so that a deleted recording or key does not come back after a power cut.
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { hasErrno, nodeFileSystem, unlinkDurable, type DurableFileSystem } from '../util/durable-fs.js';
import { Outbox, type ExpiredEntry } from './outbox.js';

/** Configuration of {@link RetentionPolicy}. Omitting a folder or an age disables that part. */
export interface RetentionOptions {
  /** Folder of local recordings; every regular file under it (recursively) is a recording. */
  recordingsDir?: string;
  /** Maximum age of a recording (by file modification time), ms. */
  recordingsMaxAgeMs?: number;
  /** Outbox folder. */
  outboxDir?: string;
  /** Maximum age of a queued message (by its signed creation time), ms. */
  outboxMaxAgeMs?: number;
  /** File system for the deletes and the outbox part (default Node's). */
  fs?: DurableFileSystem;
}

/** What {@link RetentionPolicy.applyRetention} deleted. */
export interface RetentionReport {
  /** The `now` the ages were computed against. */
  now: number;
  recordings: { path: string; ageMs: number }[];
  outbox: ExpiredEntry[];
  /** Recordings and outbox entries still kept. */
  kept: { recordings: number; outbox: number };
}

async function walkFiles(dir: string): Promise<{ path: string; mtimeMs: number }[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) return [];
    throw e;
  }
  const out: { path: string; mtimeMs: number }[] = [];
  for (const name of names.sort()) {
    const p = join(dir, name);
    let st;
    try {
      st = await lstat(p);
    } catch (e) {
      if (hasErrno(e, 'ENOENT')) continue;
      throw e;
    }
    if (st.isDirectory()) out.push(...(await walkFiles(p)));
    else if (st.isFile()) out.push({ path: p, mtimeMs: st.mtimeMs });
  }
  return out;
}

/**
 * An age limit on local recordings and outbox entries. Call {@link applyRetention} periodically
 * (at app start and, say, hourly).
 */
export class RetentionPolicy {
  constructor(readonly options: RetentionOptions) {
    for (const k of ['recordingsMaxAgeMs', 'outboxMaxAgeMs'] as const) {
      const v = options[k];
      if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new RangeError(`${k} must be a non-negative number`);
    }
  }

  /** Deletes every recording and queued message older than its limit at `now` and reports. */
  async applyRetention(now: number = Date.now()): Promise<RetentionReport> {
    const o = this.options;
    const report: RetentionReport = { now, recordings: [], outbox: [], kept: { recordings: 0, outbox: 0 } };
    if (o.recordingsDir !== undefined) {
      for (const f of await walkFiles(o.recordingsDir)) {
        const ageMs = now - f.mtimeMs;
        if (o.recordingsMaxAgeMs !== undefined && ageMs > o.recordingsMaxAgeMs) {
          if (await unlinkDurable(o.fs ?? nodeFileSystem, dirname(f.path), f.path)) report.recordings.push({ path: f.path, ageMs });
        } else report.kept.recordings++;
      }
    }
    if (o.outboxDir !== undefined) {
      const outbox = await Outbox.open(o.outboxDir, { fs: o.fs ?? nodeFileSystem });
      if (o.outboxMaxAgeMs !== undefined) report.outbox = await outbox.applyRetention(now, o.outboxMaxAgeMs);
      report.kept.outbox = (await outbox.list()).length;
    }
    return report;
  }
}

/** Convenience: `new RetentionPolicy(options).applyRetention(now)`. */
export function applyRetention(now: number, options: RetentionOptions): Promise<RetentionReport> {
  return new RetentionPolicy(options).applyRetention(now);
}

/** The pairing store, as far as {@link forgetAll} needs it: clears and returns how many it removed. */
export interface ClearableStore {
  clear(): Promise<number>;
}

/** What {@link forgetAll} deletes. Everything is optional; absent paths are simply skipped. */
export interface ForgetAllOptions {
  /** Recordings folder: everything inside is deleted (the folder itself stays). */
  recordingsDir?: string;
  /** Outbox folder: everything inside is deleted, queued messages included (the folder stays). */
  outboxDir?: string;
  /** Family identity files (this device's secret keys, pinned family public keys). */
  familyKeyPaths?: string[];
  /** Other keystore files to delete (e.g. the pairing keystore file, when not using `pairingStore`). */
  keystorePaths?: string[];
  /** The pairing store; its `clear()` is called and its count reported. */
  pairingStore?: ClearableStore;
  /** File system for the deletes (default Node's). */
  fs?: DurableFileSystem;
}

/** Deleted files of one category. */
export interface RemovedFiles {
  count: number;
  paths: string[];
}

/** Report of {@link forgetAll}. */
export interface ForgetAllReport {
  recordings: RemovedFiles;
  outbox: RemovedFiles;
  familyKeys: RemovedFiles;
  keystores: RemovedFiles;
  /** Pairings removed by `pairingStore.clear()` (0 without a store). */
  pairings: { count: number };
  /** Total files deleted (all categories). */
  totalFiles: number;
  /** Anything that could not be deleted. Empty on full success. */
  errors: { path: string; message: string }[];
}

/**
 * Deletes a child's data on the companion: all recordings, the whole outbox (messages not yet
 * uploaded included), pairings and family keys. Best effort across categories: a failure in one
 * is recorded in `errors` and the others still run; check `errors.length === 0`.
 */
export async function forgetAll(options: ForgetAllOptions): Promise<ForgetAllReport> {
  const report: ForgetAllReport = {
    recordings: { count: 0, paths: [] },
    outbox: { count: 0, paths: [] },
    familyKeys: { count: 0, paths: [] },
    keystores: { count: 0, paths: [] },
    pairings: { count: 0 },
    totalFiles: 0,
    errors: [],
  };
  const fail = (path: string, e: unknown): void => {
    report.errors.push({ path, message: e instanceof Error ? e.message : String(e) });
  };
  const fs = options.fs ?? nodeFileSystem;

  const emptyDir = async (dir: string, into: RemovedFiles): Promise<void> => {
    let files: { path: string }[];
    try {
      files = await walkFiles(dir);
    } catch (e) {
      return fail(dir, e);
    }
    for (const f of files) {
      try {
        if (await unlinkDurable(fs, dirname(f.path), f.path)) into.paths.push(f.path);
      } catch (e) {
        fail(f.path, e);
      }
    }
    // Remove now-empty subfolders and anything else left (symlinks, sockets) inside, then make
    // those removals durable too.
    try {
      const left = await readdir(dir);
      for (const name of left) await rm(join(dir, name), { recursive: true, force: true });
      if (left.length > 0) await fs.fsyncDir(dir);
    } catch (e) {
      if (!hasErrno(e, 'ENOENT')) fail(dir, e);
    }
    into.count = into.paths.length;
  };

  const removeFiles = async (paths: string[] | undefined, into: RemovedFiles): Promise<void> => {
    for (const p of paths ?? []) {
      try {
        if (await unlinkDurable(fs, dirname(p), p)) into.paths.push(p);
      } catch (e) {
        fail(p, e);
      }
    }
    into.count = into.paths.length;
  };

  if (options.recordingsDir !== undefined) await emptyDir(options.recordingsDir, report.recordings);
  if (options.outboxDir !== undefined) await emptyDir(options.outboxDir, report.outbox);
  await removeFiles(options.familyKeyPaths, report.familyKeys);
  await removeFiles(options.keystorePaths, report.keystores);
  if (options.pairingStore) {
    try {
      report.pairings.count = await options.pairingStore.clear();
    } catch (e) {
      fail('<pairing store>', e);
    }
  }
  report.totalFiles = report.recordings.count + report.outbox.count + report.familyKeys.count + report.keystores.count;
  return report;
}
