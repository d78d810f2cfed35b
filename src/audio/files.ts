/**
 * File I/O for WAV and Ogg Opus (Node only). Whole-file writes go to a temporary file in the same
 * folder and are renamed into place, so a reader sees the old file or the new one, never half.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from '../protocol/crypto.js';
import { toHex } from '../protocol/bytes.js';
import { PlushlinkError } from '../protocol/errors.js';
import { decodeWav, encodeWav, type WavAudio } from './wav.js';
import { OggOpusWriter, readOggOpus, writeOggOpus, type OggOpusFile, type OggOpusWriterOptions } from './ogg-opus.js';

/** `cannot write PATH: reason` — the reason from the file system error, so it is never lost. */
function writeError(path: string, e: unknown): PlushlinkError {
  const code = (e as { code?: unknown } | null)?.code;
  const why =
    code === 'ENOENT' ? 'its folder does not exist' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOSPC' ? 'no space left on the device' : e instanceof Error ? e.message : String(e);
  return new PlushlinkError('INTERNAL', `cannot write ${path}: ${why}`, typeof code === 'string' ? { errno: code } : undefined, { cause: e });
}

function tmpName(path: string): string {
  return `${path}.${toHex(randomBytes(6))}.partial`;
}

async function atomicWrite(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = tmpName(path);
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
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
 * are written to `<path>.<random>.partial` and the file is renamed to `path` by
 * {@link OggOpusFileWriter.finish}; {@link OggOpusFileWriter.abort} removes it.
 */
export class OggOpusFileWriter {
  readonly path: string;
  readonly #tmp: string;
  readonly #stream: WriteStream;
  readonly #writer: OggOpusWriter;
  #error: unknown;
  #done = false;

  constructor(path: string, options: OggOpusWriterOptions = {}) {
    this.path = path;
    this.#tmp = tmpName(path);
    this.#stream = createWriteStream(this.#tmp, { flags: 'wx' });
    this.#stream.on('error', (e) => {
      this.#error ??= e;
    });
    this.#writer = new OggOpusWriter((page) => {
      this.#stream.write(page);
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
    try {
      await this.#close();
      if (this.#error) throw this.#error;
      await rename(this.#tmp, this.path);
    } catch (e) {
      await rm(this.#tmp, { force: true });
      throw e instanceof PlushlinkError ? e : writeError(this.path, e);
    }
  }

  /** Stops writing and removes the partial file. Idempotent. */
  async abort(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await this.#close().catch(() => undefined);
    await rm(this.#tmp, { force: true });
  }

  #check(): void {
    if (this.#done) throw new PlushlinkError('BAD_AUDIO', 'OggOpusFileWriter already finished');
    if (this.#error) throw writeError(this.path, this.#error);
  }

  #close(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#stream.closed) {
        resolve();
        return;
      }
      this.#stream.end((err?: Error | null) => (err ? reject(err) : resolve()));
    });
  }
}
