/**
 * The companion's keystore: its static identity and the toys it has paired. A
 * {@link FileKeystore} writes atomically (temp file, fsync, rename, fsync dir) with mode 0600;
 * a corrupt file raises `KEYSTORE_CORRUPT` and is left untouched for the user to inspect.
 */
import { PlushlinkError } from '../protocol/errors.js';
import type { PairingRole } from '../protocol/handshake.js';
import { readTextFileIfExists, writeFileAtomicPath } from '../util/durable-fs.js';

/** A toy this companion has paired. */
export interface PairedToy {
  /** Stable local id: the toy key fingerprint (`XXXX-XXXX-XXXX-XXXX`). */
  id: string;
  /** A name for people (defaults to "toy <first fingerprint group>"). */
  name: string;
  /** The toy's static X25519 public key, hex (pinned). */
  toyPublicKey: string;
  /** The toy's advertising key, hex (resolves its rotating tags). */
  advertisingKey: string;
  role: PairingRole;
  firmwareVersion: string;
  capabilities: number;
  speakerBufferMs: number;
  /** ms since the Unix epoch. */
  pairedAt: number;
  /** The transport id it was last seen under (changes as the toy rotates its address). */
  lastTransportId?: string;
}

export interface KeystoreData {
  version: 1;
  /** The companion's static X25519 key pair, hex. */
  identity: { publicKey: string; secretKey: string };
  displayName: string;
  toys: PairedToy[];
}

export interface Keystore {
  /** Returns the stored data, undefined when nothing is stored yet; throws `KEYSTORE_CORRUPT`. */
  load(): Promise<KeystoreData | undefined>;
  save(data: KeystoreData): Promise<void>;
  /** Removes everything (forget-all); returns how many toys were forgotten. */
  clear(): Promise<number>;
}

function validate(d: unknown): KeystoreData {
  const x = d as KeystoreData;
  const hex64 = /^[0-9a-f]{64}$/;
  if (!x || x.version !== 1 || !x.identity || !hex64.test(x.identity.publicKey) || !hex64.test(x.identity.secretKey) || !Array.isArray(x.toys)) {
    throw new Error('unexpected structure');
  }
  for (const t of x.toys) {
    if (!hex64.test(t.toyPublicKey) || !hex64.test(t.advertisingKey) || typeof t.id !== 'string') throw new Error('bad toy entry');
  }
  return x;
}

/** In-memory keystore (tests, demo). */
export class MemoryKeystore implements Keystore {
  private data: KeystoreData | undefined;
  async load(): Promise<KeystoreData | undefined> {
    return this.data ? structuredClone(this.data) : undefined;
  }
  async save(data: KeystoreData): Promise<void> {
    this.data = structuredClone(validate(data));
  }
  async clear(): Promise<number> {
    const n = this.data?.toys.length ?? 0;
    this.data = undefined;
    return n;
  }
}

/** A JSON file keystore, written atomically with mode 0600. */
export class FileKeystore implements Keystore {
  constructor(readonly path: string) {}

  async load(): Promise<KeystoreData | undefined> {
    const text = await readTextFileIfExists(this.path);
    if (text === undefined) return undefined;
    try {
      return validate(JSON.parse(text));
    } catch (e) {
      throw new PlushlinkError('KEYSTORE_CORRUPT', `keystore ${this.path} is corrupt (${(e as Error).message}); it was left untouched`, { path: this.path });
    }
  }

  async save(data: KeystoreData): Promise<void> {
    await writeFileAtomicPath(this.path, JSON.stringify(validate(data), null, 2) + '\n');
  }

  async clear(): Promise<number> {
    const d = await this.load().catch(() => undefined);
    const { rm } = await import('node:fs/promises');
    await rm(this.path, { force: true });
    return d?.toys.length ?? 0;
  }
}
