/**
 * A {@link DurableFileSystem} that records every operation it forwards to a real one, and checks
 * on the record that each atomic write and each durable delete was made in the order that makes
 * it durable (src/util/durable-fs.ts, docs/SECURITY.md): data written → file fsynced → closed →
 * renamed → directory fsynced; unlink → directory fsynced. A missing fsync is invisible to a
 * SIGKILL test (the page cache survives the process); only the order of the calls shows it.
 *
 * Stores that take a file system get a {@link RecordingFileSystem}; those that write by path
 * through the Node file system are recorded with {@link recordNodeFileSystem}, which routes the
 * methods of `nodeFileSystem` through a recorder until restored.
 */
import { basename, dirname } from 'node:path';
import { expect } from 'vitest';
import { nodeFileSystem, type DurableFileSystem, type WritableFile } from '../../src/util/durable-fs.js';

/** One recorded call, noted when it completed without error. */
export type FsOp =
  | { op: 'mkdirp'; path: string }
  | { op: 'readdir'; path: string }
  | { op: 'readFile'; path: string }
  | { op: 'stat'; path: string }
  | { op: 'create'; path: string }
  | { op: 'write'; path: string; bytes: Uint8Array }
  | { op: 'sync'; path: string }
  | { op: 'close'; path: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'unlink'; path: string }
  | { op: 'fsyncDir'; path: string };

/** The operations that change what is on disk (reads and mkdirp left out). */
const CHANGES = new Set<FsOp['op']>(['create', 'write', 'sync', 'close', 'rename', 'unlink', 'fsyncDir']);

/** Forwards to `inner` and records each completed call in {@link ops}. */
export class RecordingFileSystem implements DurableFileSystem {
  readonly ops: FsOp[] = [];

  constructor(readonly inner: DurableFileSystem = nodeFileSystem) {}

  /** The operations recorded since the last call, without the reads; clears the record. */
  take(): FsOp[] {
    const out = this.ops.filter((o) => CHANGES.has(o.op));
    this.ops.length = 0;
    return out;
  }

  async mkdirp(path: string): Promise<void> {
    await this.inner.mkdirp(path);
    this.ops.push({ op: 'mkdirp', path });
  }
  async readdir(path: string): Promise<string[]> {
    const r = await this.inner.readdir(path);
    this.ops.push({ op: 'readdir', path });
    return r;
  }
  async readFile(path: string): Promise<Uint8Array> {
    const r = await this.inner.readFile(path);
    this.ops.push({ op: 'readFile', path });
    return r;
  }
  async stat(path: string): Promise<{ size: number; mtimeMs: number; isFile: boolean }> {
    const r = await this.inner.stat(path);
    this.ops.push({ op: 'stat', path });
    return r;
  }
  async createExclusive(path: string): Promise<WritableFile> {
    const f = await this.inner.createExclusive(path);
    this.ops.push({ op: 'create', path });
    return {
      write: async (data) => {
        await f.write(data);
        this.ops.push({ op: 'write', path, bytes: Uint8Array.from(data) });
      },
      sync: async () => {
        await f.sync();
        this.ops.push({ op: 'sync', path });
      },
      close: async () => {
        await f.close();
        this.ops.push({ op: 'close', path });
      },
    };
  }
  async rename(from: string, to: string): Promise<void> {
    await this.inner.rename(from, to);
    this.ops.push({ op: 'rename', from, to });
  }
  async unlink(path: string): Promise<void> {
    await this.inner.unlink(path);
    this.ops.push({ op: 'unlink', path });
  }
  async fsyncDir(path: string): Promise<void> {
    await this.inner.fsyncDir(path);
    this.ops.push({ op: 'fsyncDir', path });
  }
}

/**
 * Routes every method of `nodeFileSystem` (the one `writeFileAtomicPath`, the toy's state file,
 * identity files and audio files use) through a recorder until `restore()`.
 */
export function recordNodeFileSystem(): { rec: RecordingFileSystem; restore(): void } {
  const original: DurableFileSystem = { ...nodeFileSystem };
  const rec = new RecordingFileSystem(original);
  Object.assign(nodeFileSystem, {
    mkdirp: (p: string) => rec.mkdirp(p),
    readdir: (p: string) => rec.readdir(p),
    readFile: (p: string) => rec.readFile(p),
    stat: (p: string) => rec.stat(p),
    createExclusive: (p: string) => rec.createExclusive(p),
    rename: (a: string, b: string) => rec.rename(a, b),
    unlink: (p: string) => rec.unlink(p),
    fsyncDir: (p: string) => rec.fsyncDir(p),
  } satisfies DurableFileSystem);
  return { rec, restore: () => Object.assign(nodeFileSystem, original) };
}

const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

/** The temp file name durable-fs uses for `target`: `.<name>.<12 hex>.tmp` in the same folder. */
function isTempFor(tmp: string, target: string): boolean {
  const name = basename(target);
  return dirname(tmp) === dirname(target) && basename(tmp).startsWith(`.${name}.`) && /^\.[^/]*\.[0-9a-f]{12}\.tmp$/.test(basename(tmp));
}

/**
 * Asserts that `ops` (from {@link RecordingFileSystem.take}) are exactly one atomic write per
 * entry of `targets`, in that order, each in the durable order: create the temp file beside the
 * target, write (one or more pieces), fsync it, close it, rename it over the target, fsync the
 * target's folder — nothing before, between or after. Returns the bytes written to each target.
 */
export function expectAtomicWrites(ops: FsOp[], targets: string[]): Uint8Array[] {
  const written: Uint8Array[] = [];
  let i = 0;
  for (const target of targets) {
    const create = ops[i];
    expect(create?.op, `atomic write of ${target}: first the temp file is created (ops: ${describe(ops)})`).toBe('create');
    const tmp = (create as { path: string }).path;
    expect(isTempFor(tmp, target), `${tmp} is a temp file beside ${target}`).toBe(true);
    i++;
    const pieces: Uint8Array[] = [];
    while (ops[i]?.op === 'write' && (ops[i] as { path: string }).path === tmp) pieces.push((ops[i++] as { bytes: Uint8Array }).bytes);
    expect(pieces.length, `atomic write of ${target}: data written to ${tmp}`).toBeGreaterThan(0);
    expect(ops.slice(i, i + 4), `atomic write of ${target}: after the data, exactly fsync, close, rename, folder fsync (ops: ${describe(ops)})`).toEqual([
      { op: 'sync', path: tmp },
      { op: 'close', path: tmp },
      { op: 'rename', from: tmp, to: target },
      { op: 'fsyncDir', path: dirname(target) },
    ]);
    i += 4;
    written.push(concat(pieces));
  }
  expect(ops.slice(i), `nothing after the atomic writes of ${targets.join(', ')}`).toEqual([]);
  return written;
}

/** Asserts that `ops` are exactly a durable delete of each path: unlink, then its folder fsynced. */
export function expectDurableUnlinks(ops: FsOp[], paths: string[]): void {
  expect(ops, `durable delete of ${paths.join(', ')}`).toEqual(paths.flatMap((p) => [{ op: 'unlink', path: p }, { op: 'fsyncDir', path: dirname(p) }]));
}

function describe(ops: FsOp[]): string {
  return ops.map((o) => (o.op === 'rename' ? `rename ${basename(o.from)}→${basename(o.to)}` : `${o.op} ${basename(o.path)}`)).join(', ');
}
