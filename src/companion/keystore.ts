/**
 * The companion's keystore: its static identity and the toys it has paired. A
 * {@link FileKeystore} writes atomically (temp file, fsync, rename, fsync dir) with mode 0600;
 * every load and save is checked against {@link KeystoreSchema}, and a file that does not match
 * raises `KEYSTORE_CORRUPT` and is left untouched for the user to inspect.
 */
import * as v from 'valibot';
import { fromHex, toHex, utf8 } from '../protocol/bytes.js';
import { x25519KeyPairFromSecret } from '../protocol/crypto.js';
import { PlushlinkError } from '../protocol/errors.js';
import type { PairingRole } from '../protocol/handshake.js';
import { toyKeyFingerprint } from '../protocol/setup-code.js';
import { basename, dirname } from 'node:path';
import { nodeFileSystem, readTextFileIfExists, unlinkDurable, writeFileAtomic, type DurableFileSystem } from '../util/durable-fs.js';

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

/** 32 bytes as 64 lower-case hex digits. */
const Hex32 = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'must be 32 bytes as 64 lower-case hex digits'));
/** 1–32 bytes of UTF-8 (the hello's display name and firmware version, PROTOCOL.md §7). */
const Text32 = v.pipe(
  v.string(),
  v.check((s) => {
    const n = utf8(s).length;
    return n >= 1 && n <= 32;
  }, 'must be 1–32 bytes of UTF-8'),
);
/** A check that is false, never throwing, when a field it reads is malformed (reported by its own schema). */
const safely =
  <T>(f: (x: T) => boolean) =>
  (x: T): boolean => {
    try {
      return f(x);
    } catch {
      return false;
    }
  };
const Uint = (max: number) => v.pipe(v.number(), v.safeInteger('must be an integer'), v.minValue(0, 'must not be negative'), v.maxValue(max));

const PairedToySchema = v.pipe(
  v.strictObject({
    id: v.string(),
    name: v.pipe(v.string(), v.minLength(1), v.maxLength(256)),
    toyPublicKey: Hex32,
    advertisingKey: Hex32,
    role: v.picklist(['owner', 'guest']),
    firmwareVersion: Text32,
    capabilities: Uint(0xffffffff),
    speakerBufferMs: Uint(0xffff),
    pairedAt: Uint(Number.MAX_SAFE_INTEGER),
    lastTransportId: v.optional(v.pipe(v.string(), v.maxLength(256))),
  }),
  // The id is the fingerprint of the pinned key (PROTOCOL.md §5.6), never a free label.
  v.check(safely((t) => t.id === toyKeyFingerprint(fromHex(t.toyPublicKey))), 'the toy id is not the fingerprint of its key'),
);

/**
 * The keystore file's schema (valibot): every field typed and bounded, the identity's public key
 * the one its secret key gives, each toy's id the fingerprint of its pinned key, no toy twice.
 */
export const KeystoreSchema = v.pipe(
  v.strictObject({
    version: v.literal(1),
    identity: v.pipe(
      v.strictObject({ publicKey: Hex32, secretKey: Hex32 }),
      v.check(safely((i) => toHex(x25519KeyPairFromSecret(fromHex(i.secretKey)).publicKey) === i.publicKey), 'the public key does not belong to the secret key'),
    ),
    displayName: Text32,
    toys: v.array(PairedToySchema),
  }),
  v.check((d) => new Set(d.toys.map((t) => t.id)).size === d.toys.length, 'a toy appears twice'),
);

/** Validates keystore data; throws `KEYSTORE_CORRUPT` naming the first problem. Returns a copy. */
export function parseKeystore(input: unknown, where = 'keystore'): KeystoreData {
  const r = v.safeParse(KeystoreSchema, input);
  if (!r.success) {
    const issue = r.issues[0];
    const path = issue.path?.map((p) => String(p.key)).join('.') || '(root)';
    throw new PlushlinkError('KEYSTORE_CORRUPT', `${where} is invalid at ${path}: ${issue.message}`, { path });
  }
  return structuredClone(r.output) as KeystoreData;
}

/** In-memory keystore (tests, demo). */
export class MemoryKeystore implements Keystore {
  private data: KeystoreData | undefined;
  async load(): Promise<KeystoreData | undefined> {
    return this.data ? structuredClone(this.data) : undefined;
  }
  async save(data: KeystoreData): Promise<void> {
    this.data = parseKeystore(data);
  }
  async clear(): Promise<number> {
    const n = this.data?.toys.length ?? 0;
    this.data = undefined;
    return n;
  }
}

/** Options of {@link FileKeystore}. */
export interface FileKeystoreOptions {
  /**
   * The file system its atomic writes go through (default Node's): a platform's own, or a test's
   * that stops the process between two operations.
   */
  fs?: DurableFileSystem;
}

/** A JSON file keystore, written atomically with mode 0600. */
export class FileKeystore implements Keystore {
  readonly #fs: DurableFileSystem;
  constructor(
    readonly path: string,
    options: FileKeystoreOptions = {},
  ) {
    this.#fs = options.fs ?? nodeFileSystem;
  }

  async load(): Promise<KeystoreData | undefined> {
    const text = await readTextFileIfExists(this.path);
    if (text === undefined) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new PlushlinkError('KEYSTORE_CORRUPT', `keystore ${this.path} is corrupt (${(e as Error).message}); it was left untouched`, { path: this.path });
    }
    return parseKeystore(json, `keystore ${this.path} (left untouched)`);
  }

  async save(data: KeystoreData): Promise<void> {
    const text = JSON.stringify(parseKeystore(data), null, 2) + '\n';
    const dir = dirname(this.path);
    await this.#fs.mkdirp(dir);
    await writeFileAtomic(this.#fs, dir, basename(this.path), new TextEncoder().encode(text));
  }

  /** Deletes the file durably (unlink, then fsync of its folder: forgetting must survive a power cut). */
  async clear(): Promise<number> {
    const d = await this.load().catch(() => undefined);
    await unlinkDurable(this.#fs, dirname(this.path), this.path);
    return d?.toys.length ?? 0;
  }
}
