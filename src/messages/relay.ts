/**
 * The relay side of voice messages: the interface any relay (a cloud service, a shared folder)
 * implements for the outbox, and {@link FolderRelay}, an example that stores envelopes in a local
 * folder. A relay only ever sees sealed envelopes: ciphertext plus the public header.
 */
import { join } from 'node:path';
import { bytesEqual } from '../protocol/bytes.js';
import { PlushlinkError } from '../protocol/errors.js';
import { inspectVoiceMessage } from './envelope.js';
import { nodeFileSystem, readIfExists, removeTempFiles, writeFileAtomic, type DurableFileSystem } from '../util/durable-fs.js';

/** A relay's acknowledgement: `'stored'` now, or `'duplicate'` (it already held this message id). */
export type UploadResult = 'stored' | 'duplicate';

/**
 * What the outbox needs from a relay. `upload` resolves only once the relay has durably stored
 * the envelope (or already had it); a rejection means "not acknowledged" and the outbox retries.
 */
export interface Relay {
  upload(id: string, bytes: Uint8Array, options?: { signal?: AbortSignal }): Promise<UploadResult>;
}

/** File name of an envelope with this id, in outbox and relay folders alike. */
export function envelopeFileName(id: string): string {
  return `${id}.plvm`;
}

/** Matches {@link envelopeFileName} output; group 1 is the id. */
export const ENVELOPE_FILE_RE = /^([0-9a-f]{32})\.plvm$/;

/** Message ids are 32 lower-case hex characters. */
export function isMessageId(id: string): boolean {
  return typeof id === 'string' && /^[0-9a-f]{32}$/.test(id);
}

/** Options of {@link FolderRelay.open}. */
export interface FolderRelayOptions {
  /** File-system implementation (default: Node's). */
  fs?: DurableFileSystem;
}

/**
 * Example relay storing each envelope as `<id>.plvm` in a folder, written atomically. It checks
 * the envelope's signature and that `id` is the envelope's message id, deduplicates by id, and
 * refuses a different envelope under an id it already holds (`OUTBOX_ERROR`).
 */
export class FolderRelay implements Relay {
  private constructor(
    /** The folder holding the envelopes. */
    readonly dir: string,
    private readonly fs: DurableFileSystem,
  ) {}

  /** Creates the folder if needed and removes temp files a crash left behind. */
  static async open(dir: string, options: FolderRelayOptions = {}): Promise<FolderRelay> {
    const fs = options.fs ?? nodeFileSystem;
    await fs.mkdirp(dir);
    await removeTempFiles(fs, dir);
    return new FolderRelay(dir, fs);
  }

  /** Stores an envelope; see {@link Relay.upload}. */
  async upload(id: string, bytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<UploadResult> {
    if (options.signal?.aborted) throw new PlushlinkError('ABORTED', 'upload aborted');
    if (!isMessageId(id)) throw new PlushlinkError('BAD_ENVELOPE', 'message id must be 32 lower-case hex characters');
    const info = inspectVoiceMessage(bytes);
    if (info.messageId !== id) throw new PlushlinkError('BAD_ENVELOPE', 'id does not match the envelope message id');
    const name = envelopeFileName(id);
    const existing = await readIfExists(this.fs, join(this.dir, name));
    if (existing !== undefined) {
      if (bytesEqual(existing, bytes)) return 'duplicate';
      throw new PlushlinkError('OUTBOX_ERROR', 'relay already holds a different envelope with this message id', { id });
    }
    await writeFileAtomic(this.fs, this.dir, name, bytes);
    return 'stored';
  }

  /** Ids of the stored envelopes, sorted. */
  async list(): Promise<string[]> {
    const ids: string[] = [];
    for (const n of await this.fs.readdir(this.dir)) {
      const m = ENVELOPE_FILE_RE.exec(n);
      if (m) ids.push(m[1]!);
    }
    return ids.sort();
  }

  /** The stored envelope, or `undefined`. */
  async read(id: string): Promise<Uint8Array | undefined> {
    if (!isMessageId(id)) return undefined;
    return readIfExists(this.fs, join(this.dir, envelopeFileName(id)));
  }
}
