/**
 * The Node file store of an {@link Inbox}: one `<messageId>.plvm` file per received envelope,
 * written atomically (temp file, fsync, rename, folder fsync) like the outbox (docs/MESSAGES.md
 * §4), so a `put` that resolved survives a crash and a crash never leaves a broken file.
 * Node-only (the browser app keeps its inbox in IndexedDB).
 */
import { join } from 'node:path';
import { hasErrno, nodeFileSystem, readIfExists, removeTempFiles, unlinkDurable, writeFileAtomic, type DurableFileSystem } from '../util/durable-fs.js';
import { PlushlinkError } from '../protocol/errors.js';
import type { InboxStore } from './inbox.js';
import { ENVELOPE_FILE_RE, envelopeFileName, isMessageId } from './relay.js';

/** Options of {@link FileInboxStore.open}. */
export interface FileInboxStoreOptions {
  /** File-system implementation (default: Node's). */
  fs?: DurableFileSystem;
}

/** A folder of received envelopes. Open with {@link FileInboxStore.open}. */
export class FileInboxStore implements InboxStore {
  private constructor(
    /** The inbox folder. */
    readonly dir: string,
    private readonly fs: DurableFileSystem,
  ) {}

  /** Opens (creating if needed) an inbox folder and deletes temp files left by a crash. */
  static async open(dir: string, options: FileInboxStoreOptions = {}): Promise<FileInboxStore> {
    const fs = options.fs ?? nodeFileSystem;
    await fs.mkdirp(dir);
    await removeTempFiles(fs, dir);
    return new FileInboxStore(dir, fs);
  }

  private pathOf(id: string): string {
    if (!isMessageId(id)) throw new PlushlinkError('BAD_PAYLOAD', 'message id must be 32 lower-case hex characters');
    return join(this.dir, envelopeFileName(id));
  }

  async has(id: string): Promise<boolean> {
    if (!isMessageId(id)) return false;
    try {
      return (await this.fs.stat(this.pathOf(id))).isFile;
    } catch (e) {
      if (hasErrno(e, 'ENOENT')) return false;
      throw e;
    }
  }

  /** Writes `<id>.plvm` atomically; durable when this resolves. */
  async put(id: string, bytes: Uint8Array): Promise<void> {
    this.pathOf(id);
    await writeFileAtomic(this.fs, this.dir, envelopeFileName(id), bytes);
  }

  async get(id: string): Promise<Uint8Array | undefined> {
    if (!isMessageId(id)) return undefined;
    return readIfExists(this.fs, this.pathOf(id));
  }

  async list(): Promise<string[]> {
    const ids: string[] = [];
    for (const name of await this.fs.readdir(this.dir)) {
      const m = ENVELOPE_FILE_RE.exec(name);
      if (m) ids.push(m[1]!);
    }
    return ids.sort();
  }

  /** Deletes a message durably (unlink, folder fsync); false when it was not there. */
  async remove(id: string): Promise<boolean> {
    if (!isMessageId(id)) return false;
    return unlinkDurable(this.fs, this.dir, this.pathOf(id));
  }
}
