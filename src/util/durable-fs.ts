/**
 * The small file-system surface the outbox and the folder relay use, and the atomic write built
 * on it. Injectable so that another platform (React Native) can supply its own, and so that the
 * crash tests can stop the process between any two operations.
 */
import { open, mkdir, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from '../protocol/crypto.js';
import { toHex } from '../protocol/bytes.js';

/** A file opened for writing by {@link DurableFileSystem.createExclusive}. */
export interface WritableFile {
  write(data: Uint8Array): Promise<void>;
  /** fsync: the data is on stable storage when this resolves. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * File operations needed for durable storage. Errors follow Node's convention: a missing file
 * rejects with an error whose `code` is `'ENOENT'`, an existing one (for `createExclusive`)
 * with `'EEXIST'`.
 */
export interface DurableFileSystem {
  /** Creates a directory and its parents; resolves if it exists. */
  mkdirp(path: string): Promise<void>;
  /** Names (not paths) of the entries of a directory. */
  readdir(path: string): Promise<string[]>;
  readFile(path: string): Promise<Uint8Array>;
  /** Metadata of a regular file. */
  stat(path: string): Promise<{ size: number; mtimeMs: number; isFile: boolean }>;
  /** Creates a new file (fails with EEXIST if present), mode 0600. */
  createExclusive(path: string): Promise<WritableFile>;
  /** Atomic rename within one directory (replaces the target). */
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** fsync of a directory, making renames and unlinks in it durable. */
  fsyncDir(path: string): Promise<void>;
}

/** The Node.js implementation of {@link DurableFileSystem}. */
export const nodeFileSystem: DurableFileSystem = {
  async mkdirp(path) {
    await mkdir(path, { recursive: true, mode: 0o700 });
  },
  readdir: (path) => readdir(path),
  async readFile(path) {
    const b = await readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  },
  async stat(path) {
    const s = await stat(path);
    return { size: s.size, mtimeMs: s.mtimeMs, isFile: s.isFile() };
  },
  async createExclusive(path) {
    const fh = await open(path, 'wx', 0o600);
    return {
      async write(data) {
        let off = 0;
        while (off < data.length) {
          const { bytesWritten } = await fh.write(data, off, data.length - off);
          off += bytesWritten;
        }
      },
      sync: () => fh.sync(),
      close: () => fh.close(),
    };
  },
  rename: (from, to) => rename(from, to),
  unlink: (path) => unlink(path),
  async fsyncDir(path) {
    let fh;
    try {
      fh = await open(path, 'r');
      await fh.sync();
    } catch (e) {
      // Some platforms cannot fsync a directory (Windows: EPERM/EISDIR); rename is still atomic.
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EBADF') throw e;
    } finally {
      await fh?.close();
    }
  },
};

/** Suffix of temporary files; anything named `.*.tmp` in a plushlink folder is crash debris. */
export const TEMP_SUFFIX = '.tmp';

/** True for names produced by {@link writeFileAtomic} as temporaries. */
export function isTempName(name: string): boolean {
  return name.startsWith('.') && name.endsWith(TEMP_SUFFIX);
}

/** True when `e` is a Node-style error with this `code`. */
export function hasErrno(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}

/**
 * A file being written atomically, opened by {@link openAtomicFile}: the data goes to a temp file
 * beside the target, and {@link AtomicFile.commit} makes it the target.
 */
export interface AtomicFile {
  /** Appends to the temp file. */
  write(data: Uint8Array): Promise<void>;
  /**
   * fsync the temp file, close it, rename it over the target, fsync the directory. On failure
   * before the rename the temp file is removed and the target is untouched.
   */
  commit(): Promise<void>;
  /** Closes and removes the temp file; the target is untouched. Idempotent. */
  abort(): Promise<void>;
}

/**
 * Opens a temp file in `dir` (`.<name>.<random>.tmp`, mode 0600, created exclusively) for an
 * atomic write of `dir/name` that may arrive in pieces (a recording). The one atomic write of
 * the project: {@link writeFileAtomic} is built on it. The order on disk is the one that makes
 * the rename durable and never exposes a partial file (docs/SECURITY.md): data written, file
 * fsynced, file closed, renamed, directory fsynced.
 */
export async function openAtomicFile(fs: DurableFileSystem, dir: string, name: string): Promise<AtomicFile> {
  const tmp = join(dir, `.${name}.${toHex(randomBytes(6))}${TEMP_SUFFIX}`);
  const file = await fs.createExclusive(tmp);
  let closed = false;
  let done = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await file.close();
  };
  const discard = async (): Promise<void> => {
    await close().catch(() => undefined);
    await fs.unlink(tmp).catch(() => undefined);
  };
  return {
    async write(data) {
      if (done) throw new Error(`atomic write of ${join(dir, name)} already ended`);
      await file.write(data);
    },
    async commit() {
      if (done) throw new Error(`atomic write of ${join(dir, name)} already ended`);
      done = true;
      try {
        try {
          await file.sync();
        } finally {
          await close();
        }
        await fs.rename(tmp, join(dir, name));
      } catch (e) {
        await discard();
        throw e;
      }
      await fs.fsyncDir(dir);
    },
    async abort() {
      if (done) return;
      done = true;
      await discard();
    },
  };
}

/**
 * Writes `data` to `dir/name` atomically: a temp file in the same directory
 * (`.<name>.<random>.tmp`), write, fsync, close, rename over the target, fsync the directory.
 * After a crash the target holds the old content or the new content, never a mix; only a temp
 * file may be left behind (see {@link removeTempFiles}).
 */
export async function writeFileAtomic(fs: DurableFileSystem, dir: string, name: string, data: Uint8Array): Promise<void> {
  const file = await openAtomicFile(fs, dir, name);
  try {
    await file.write(data);
  } catch (e) {
    await file.abort();
    throw e;
  }
  await file.commit();
}

/** Deletes temp files left by a crash in `dir`; returns their paths. */
export async function removeTempFiles(fs: DurableFileSystem, dir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await fs.readdir(dir)) {
    if (!isTempName(name)) continue;
    const p = join(dir, name);
    try {
      await fs.unlink(p);
      removed.push(p);
    } catch (e) {
      if (!hasErrno(e, 'ENOENT')) throw e;
    }
  }
  if (removed.length > 0) await fs.fsyncDir(dir);
  return removed;
}

/**
 * Deletes `path` (in folder `dir`) durably: unlink, then fsync the folder. False when it was not
 * there (no fsync needed: nothing changed).
 */
export async function unlinkDurable(fs: DurableFileSystem, dir: string, path: string): Promise<boolean> {
  try {
    await fs.unlink(path);
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) return false;
    throw e;
  }
  await fs.fsyncDir(dir);
  return true;
}

/** Reads a file, or `undefined` when it does not exist. */
export async function readIfExists(fs: DurableFileSystem, path: string): Promise<Uint8Array | undefined> {
  try {
    return await fs.readFile(path);
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) return undefined;
    throw e;
  }
}

/** {@link writeFileAtomic} on the Node file system by path (creates the folder, mode 0700; file mode 0600). */
export async function writeFileAtomicPath(path: string, data: Uint8Array | string): Promise<void> {
  const dir = dirname(path);
  await nodeFileSystem.mkdirp(dir);
  await writeFileAtomic(nodeFileSystem, dir, basename(path), typeof data === 'string' ? new TextEncoder().encode(data) : data);
}

/**
 * Reads a whole UTF-8 file by path, or `undefined` when it does not exist; first deletes the
 * temp files that a crash during {@link writeFileAtomicPath} to this path left beside it
 * (`.<name>.<random>.tmp`, older than `staleAfterMs` so that a write in progress in another
 * process is not touched). They may hold secrets (keystore, toy flash): they must not pile up.
 */
export async function readTextFileIfExists(path: string, staleAfterMs = 60_000): Promise<string | undefined> {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.`;
  let names: string[] = [];
  try {
    names = await nodeFileSystem.readdir(dir);
  } catch (e) {
    if (!hasErrno(e, 'ENOENT')) throw e;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !isTempName(name)) continue;
    const p = join(dir, name);
    try {
      if (Date.now() - (await nodeFileSystem.stat(p)).mtimeMs >= staleAfterMs) await nodeFileSystem.unlink(p);
    } catch (e) {
      if (!hasErrno(e, 'ENOENT')) throw e;
    }
  }
  const bytes = await readIfExists(nodeFileSystem, path);
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
}
