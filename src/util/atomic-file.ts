/**
 * Atomic file replacement: write a temp file in the same folder, fsync it, rename it over
 * the target, fsync the folder. A crash at any point leaves the old or the new content,
 * never a torn file.
 */
import { open, rename, unlink, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o600: keys and voice data are private). */
  mode?: number;
}

/** Writes `data` to `path` atomically and durably. */
export async function writeFileAtomic(path: string, data: Uint8Array | string, options: AtomicWriteOptions = {}): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', options.mode ?? 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fsyncDir(dir);
}

/** fsyncs a directory so a rename in it is durable (best effort where the OS refuses). */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // some platforms cannot fsync a directory; the rename is still atomic
  } finally {
    await fh?.close().catch(() => {});
  }
}

/** True for the temp files {@link writeFileAtomic} leaves behind when a process dies mid-write. */
export function isAtomicTempFile(name: string): boolean {
  return name.startsWith('.') && name.endsWith('.tmp');
}
