/**
 * File-level helpers over the messages API, shaped for the CLI commands
 * `plushlink message seal|open`, `plushlink outbox list|flush` and `plushlink forget-all`
 * (the CLI itself lives in src/cli/; it only parses arguments and prints these results).
 */
import { readFile } from 'node:fs/promises';
import { dirname, basename } from 'node:path';
import { utf8, fromUtf8 } from '../protocol/bytes.js';
import { PlushlinkError } from '../protocol/errors.js';
import { voiceMessageAudio } from '../audio/input.js';
import { openVoiceMessage, peekMessageId, sealVoiceMessage, type OpenedVoiceMessage } from './envelope.js';
import {
  familyPublicKey,
  generateFamilyIdentity,
  parseFamilyIdentity,
  parseFamilyKeyCode,
  serializeFamilyIdentity,
  type FamilyIdentity,
  type FamilyPublicKey,
} from './family.js';
import { nodeFileSystem, readIfExists, writeFileAtomic } from '../util/durable-fs.js';
import { Outbox, type FlushOptions, type FlushReport, type OutboxEntry, type OutboxOptions } from './outbox.js';
import { FolderRelay, type Relay } from './relay.js';

/** Writes an identity file atomically (mode 0600). Refuses to overwrite unless `overwrite`. */
export async function saveFamilyIdentity(path: string, identity: FamilyIdentity, options: { overwrite?: boolean } = {}): Promise<void> {
  if (!options.overwrite && (await readIfExists(nodeFileSystem, path)) !== undefined) {
    throw new PlushlinkError('OUTBOX_ERROR', `identity file already exists: ${path}`);
  }
  await nodeFileSystem.mkdirp(dirname(path));
  await writeFileAtomic(nodeFileSystem, dirname(path), basename(path), utf8(serializeFamilyIdentity(identity)));
}

/** Reads an identity file written by {@link saveFamilyIdentity}. */
export async function loadFamilyIdentity(path: string): Promise<FamilyIdentity> {
  const bytes = await readIfExists(nodeFileSystem, path);
  if (bytes === undefined) throw new PlushlinkError('NOT_FOUND', `no identity file at ${path}`);
  let text: string;
  try {
    text = fromUtf8(bytes);
  } catch {
    throw new PlushlinkError('KEYSTORE_CORRUPT', 'identity file is not UTF-8');
  }
  return parseFamilyIdentity(text);
}

/** Loads the identity at `path`, or creates and saves a new one named `name`. */
export async function loadOrCreateFamilyIdentity(path: string, name: string): Promise<FamilyIdentity> {
  try {
    return await loadFamilyIdentity(path);
  } catch (e) {
    if (!(e instanceof PlushlinkError && e.code === 'NOT_FOUND')) throw e;
  }
  const id = generateFamilyIdentity(name);
  await saveFamilyIdentity(path, id);
  return id;
}

/** Options of {@link sealMessageFile} (`plushlink message seal`). */
export interface SealMessageFileOptions {
  /** Ogg Opus or WAV file to seal (WAV is encoded as voice; see `voiceMessageAudio`). */
  audioPath: string;
  /** Sender identity file. */
  identityPath: string;
  /** Recipients: family key codes (`PLFK:…`) or public keys. */
  recipients: ReadonlyArray<string | FamilyPublicKey>;
  /** Where to write the envelope (atomically). Optional when `outboxDir` is given. */
  outputPath?: string;
  /** Also (or only) queue the envelope in this outbox. */
  outboxDir?: string;
}

/** Seals an audio file; writes it to `outputPath` and/or queues it. Returns the id and size. */
export async function sealMessageFile(options: SealMessageFileOptions): Promise<{ id: string; size: number; outputPath?: string; queued: boolean }> {
  if (options.outputPath === undefined && options.outboxDir === undefined) {
    throw new PlushlinkError('BAD_PAYLOAD', 'give an output path or an outbox folder');
  }
  const from = await loadFamilyIdentity(options.identityPath);
  const to = options.recipients.map((r) => (typeof r === 'string' ? parseFamilyKeyCode(r) : familyPublicKey(r)));
  // WAV is encoded as voice; Ogg Opus is checked whole (src/audio/input.ts), before sealing
  const audio = await voiceMessageAudio(new Uint8Array(await readFile(options.audioPath)));
  const sealed = sealVoiceMessage({ audio, from, to });
  let id = '';
  if (options.outboxDir !== undefined) {
    const outbox = await Outbox.open(options.outboxDir);
    id = (await outbox.add(sealed)).id;
  }
  if (options.outputPath !== undefined) {
    await nodeFileSystem.mkdirp(dirname(options.outputPath));
    await writeFileAtomic(nodeFileSystem, dirname(options.outputPath), basename(options.outputPath), sealed);
  }
  if (id === '') id = peekMessageId(sealed);
  const out: { id: string; size: number; outputPath?: string; queued: boolean } = { id, size: sealed.length, queued: options.outboxDir !== undefined };
  if (options.outputPath !== undefined) out.outputPath = options.outputPath;
  return out;
}

/** Options of {@link openMessageFile} (`plushlink message open`). */
export interface OpenMessageFileOptions {
  /** Envelope file. */
  envelopePath: string;
  /** Recipient identity file. */
  identityPath: string;
  /** Where to write the audio (atomically); omit to only verify and return it. */
  outputPath?: string;
  /** Accept only these senders (family key codes or public keys); `UNTRUSTED_SENDER` otherwise. */
  trustedSenders?: ReadonlyArray<string | FamilyPublicKey>;
}

/** Opens an envelope file; optionally writes the audio out. */
export async function openMessageFile(options: OpenMessageFileOptions): Promise<OpenedVoiceMessage<FamilyPublicKey>> {
  const me = await loadFamilyIdentity(options.identityPath);
  const bytes = await readIfExists(nodeFileSystem, options.envelopePath);
  if (bytes === undefined) throw new PlushlinkError('NOT_FOUND', `no envelope at ${options.envelopePath}`);
  const trusted = options.trustedSenders?.map((t) => (typeof t === 'string' ? parseFamilyKeyCode(t) : t));
  const opened = openVoiceMessage<FamilyPublicKey>(bytes, me, trusted ? { trustedSenders: trusted } : {});
  if (options.outputPath !== undefined) {
    await nodeFileSystem.mkdirp(dirname(options.outputPath));
    await writeFileAtomic(nodeFileSystem, dirname(options.outputPath), basename(options.outputPath), opened.audio);
  }
  return opened;
}

/** `plushlink outbox list`: the queued messages, oldest first. */
export async function listOutbox(outboxDir: string): Promise<OutboxEntry[]> {
  return (await Outbox.open(outboxDir)).list();
}

/**
 * `plushlink outbox flush`: uploads the outbox to `relay` (a {@link Relay} or a folder path, which
 * becomes a {@link FolderRelay}).
 */
export async function flushOutbox(
  outboxDir: string,
  relay: Relay | string,
  options: FlushOptions & OutboxOptions = {},
): Promise<FlushReport> {
  const outbox = await Outbox.open(outboxDir, options);
  const r = typeof relay === 'string' ? await FolderRelay.open(relay) : relay;
  return outbox.flush(r, options);
}
