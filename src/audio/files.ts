/**
 * File I/O for WAV and Ogg Opus (Node only). Every write is the project's one atomic write
 * (util/durable-fs.ts): a temporary file in the same folder, fsynced and renamed into place, then
 * the folder fsynced, so a reader sees the old file or the new one, never half, also after a
 * power cut.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { PlushlinkError } from '../protocol/errors.js';
import { nodeFileSystem, openAtomicFile, writeFileAtomic, type AtomicFile } from '../util/durable-fs.js';
import { decodeWav, encodeWav, type WavAudio } from './wav.js';
import { OggOpusWriter, readOggOpus, writeOggOpus, type OggOpusFile, type OggOpusWriterOptions } from './ogg-opus.js';

/** `cannot write PATH: reason` — the reason from the file system error, so it is never lost. */
function writeError(path: string, e: unknown): PlushlinkError {
  const code = (e as { code?: unknown } | null)?.code;
  const why =
    code === 'ENOENT' ? 'its folder does not exist' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOSPC' ? 'no space left on the device' : e instanceof Error ? e.message : String(e);
  return new PlushlinkError('INTERNAL', `cannot write ${path}: ${why}`, typeof code === 'string' ? { errno: code } : undefined, { cause: e });
}

/** A whole file, atomically (the folder must exist). */
async function atomicWrite(path: string, bytes: Uint8Array): Promise<void> {
  await writeFileAtomic(nodeFileSystem, dirname(path), basename(path), bytes);
}

/** Reads a 16-bit PCM WAV file. @throws PlushlinkError `BAD_WAV` */
export async function readWavFile(path: string): Promise<WavAudio> {
  return decodeWav(new Uint8Array(await readFile(path)));
}

/** Writes 16-bit PCM as a WAV file (atomically). */
export async function writeWavFile(path: string, samples: Int16Array, sampleRate = 16000, channels = 1): Promise<void> {
  await atomicWrite(path, encodeWav(samples, sampleRate, channels));
}

/** Reads an Ogg Opus file. @throws PlushlinkError `BAD_OGG` */
export async function readOggOpusFile(path: string): Promise<OggOpusFile> {
  return readOggOpus(new Uint8Array(await readFile(path)));
}

/** Writes Opus packets as an Ogg Opus file (atomically). See {@link writeOggOpus}. */
export async function writeOggOpusFile(
  path: string,
  packets: Iterable<Uint8Array>,
  options: OggOpusWriterOptions & { sampleCount?: number } = {},
): Promise<void> {
  await atomicWrite(path, writeOggOpus(packets, options));
}

/**
 * Streams Opus packets into an Ogg Opus file as they arrive (e.g. a microphone recording). Pages
 * are written to a temporary file beside it (`.<name>.<random>.tmp`, util/durable-fs.ts
 * {@link openAtomicFile}) and {@link OggOpusFileWriter.finish} fsyncs it and renames it to
 * `path`; {@link OggOpusFileWriter.abort} removes it.
 */
export class OggOpusFileWriter {
  readonly path: string;
  readonly #writer: OggOpusWriter;
  #file: AtomicFile | undefined;
  /** The file's opening and every page write, in order; never rejects (errors go to #error). */
  #pending: Promise<void>;
  #error: unknown;
  #done = false;

  constructor(path: string, options: OggOpusWriterOptions = {}) {
    this.path = path;
    this.#pending = openAtomicFile(nodeFileSystem, dirname(path), basename(path)).then(
      (f) => {
        this.#file = f;
      },
      (e: unknown) => {
        this.#error ??= e;
      },
    );
    this.#writer = new OggOpusWriter((page) => {
      this.#pending = this.#pending.then(async () => {
        if (this.#error !== undefined || !this.#file) return;
        try {
          await this.#file.write(page);
        } catch (e) {
          this.#error ??= e;
        }
      });
    }, options);
  }

  /** Packets written so far. */
  get packetCount(): number {
    return this.#writer.packetCount;
  }

  /** Adds one Opus packet. @throws PlushlinkError `CODEC_ERROR` for invalid framing. */
  writePacket(packet: Uint8Array): void {
    this.#check();
    this.#writer.writePacket(packet);
  }

  /**
   * Ends the stream, flushes and renames the file into place.
   * @param sampleCount real 16 kHz sample count for end trimming (see `OggOpusWriter.end`).
   */
  async finish(sampleCount?: number): Promise<void> {
    this.#check();
    this.#writer.end(sampleCount); // throws BAD_AUDIO for a bad count: nothing changed, retry or abort
    this.#done = true;
    await this.#pending;
    try {
      if (this.#error !== undefined) throw this.#error;
      await this.#file!.commit();
    } catch (e) {
      await this.#file?.abort();
      throw e instanceof PlushlinkError ? e : writeError(this.path, e);
    }
  }

  /** Stops writing and removes the partial file. Idempotent. */
  async abort(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await this.#pending;
    await this.#file?.abort();
  }

  #check(): void {
    if (this.#done) throw new PlushlinkError('BAD_AUDIO', 'OggOpusFileWriter already finished');
    if (this.#error !== undefined) throw writeError(this.path, this.#error);
  }
}
