/**
 * The CLI's simulated toy: a {@link ReferenceToy} whose identity and setup code live in a JSON
 * file (mode 0600) and whose "flash" (pairings, advertising key, volume, backoff) lives next to
 * it in `<file>.flash.json` through {@link FileToyStorage}. Used by `simulate-toy`, `label` and by
 * every companion command run with `--transport memory|noble-sim`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PlushlinkError, formatSetupCode, parseSetupCode, toyKeyFingerprint, type SetupCode } from '../index.js';
import {
  FileToyStorage,
  ReferenceToy,
  formatSetupQr,
  generateSetupCode,
  generateX25519KeyPair,
  x25519KeyPairFromSecret,
  type MicrophoneSource,
  type Peripheral,
  type ToyLogEvent,
  type X25519KeyPair,
} from '../toy.js';
import { OpusEncoder, readOggOpus } from '../audio/index.js';
import { writeFileAtomicPath } from '../util/durable-fs.js';
import { parseAdvertisement } from '../protocol/advertising.js';
import { log } from './common.js';

/** What a toy's label shows (and the QR encodes). */
export interface ToyLabel {
  /** The human setup code, `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`. */
  code: string;
  /** The QR payload (`PL1:...`): the setup code and the toy's pinned public key. */
  qr: string;
  /** The toy key fingerprint, `XXXX-XXXX-XXXX-XXXX`. */
  fingerprint: string;
}

/** A toy's identity: its static key pair and setup code (what the factory writes). */
export interface ToyIdentity {
  identity: X25519KeyPair;
  setupCode: SetupCode;
  label: ToyLabel;
}

interface ToyIdentityFile {
  version: 1;
  kind: 'plushlink-simulated-toy';
  publicKey: string;
  secretKey: string;
  setupCode: string;
  qr: string;
  fingerprint: string;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The label of an identity. */
export function labelOf(identity: X25519KeyPair, setupCode: SetupCode): ToyLabel {
  return {
    code: formatSetupCode(setupCode),
    qr: formatSetupQr(setupCode, identity.publicKey),
    fingerprint: toyKeyFingerprint(identity.publicKey),
  };
}

/** A fresh identity (not stored). */
export function freshToyIdentity(): ToyIdentity {
  const identity = generateX25519KeyPair();
  const setupCode = generateSetupCode();
  return { identity, setupCode, label: labelOf(identity, setupCode) };
}

/** Where the toy's flash lives for the identity file `path`. */
export function flashPathOf(path: string): string {
  return `${path}.flash.json`;
}

/** Loads the identity file at `path`; `undefined` when it does not exist; `KEYSTORE_CORRUPT` when damaged. */
export async function loadToyIdentity(path: string): Promise<ToyIdentity | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const f = JSON.parse(text) as ToyIdentityFile;
    if (f.version !== 1 || f.kind !== 'plushlink-simulated-toy' || !/^[0-9a-f]{64}$/.test(f.secretKey)) throw new Error('unexpected structure');
    const identity = x25519KeyPairFromSecret(Uint8Array.from(Buffer.from(f.secretKey, 'hex')));
    if (hex(identity.publicKey) !== f.publicKey) throw new Error('the public key does not match the secret key');
    const setupCode = parseSetupCode(f.setupCode);
    return { identity, setupCode, label: labelOf(identity, setupCode) };
  } catch (e) {
    throw new PlushlinkError('KEYSTORE_CORRUPT', `toy identity file ${path} is damaged (${(e as Error).message}); it was left untouched`, { path });
  }
}

/** Loads the identity file at `path`, or creates it (atomically, mode 0600). */
export async function loadOrCreateToyIdentity(path: string): Promise<{ toy: ToyIdentity; created: boolean }> {
  const existing = await loadToyIdentity(path);
  if (existing) return { toy: existing, created: false };
  const toy = freshToyIdentity();
  const file: ToyIdentityFile = {
    version: 1,
    kind: 'plushlink-simulated-toy',
    publicKey: hex(toy.identity.publicKey),
    secretKey: hex(toy.identity.secretKey),
    setupCode: toy.label.code,
    qr: toy.label.qr,
    fingerprint: toy.label.fingerprint,
  };
  await writeFileAtomicPath(path, JSON.stringify(file, null, 2) + '\n');
  log.toy('created toy identity %s (%s)', path, toy.label.fingerprint);
  return { toy, created: true };
}

/** Finds a file of the source checkout (fixtures are not part of the npm package). */
function findUp(rel: string): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = join(dir, rel);
    if (existsSync(p)) return p;
    dir = resolve(dir, '..');
  }
  return undefined;
}

/** A short spoken-like test signal (a gliding tone with an envelope), 16 kHz mono, as Opus frames. */
function syntheticVoice(seconds: number): Uint8Array[] {
  const enc = new OpusEncoder({});
  try {
    const frames: Uint8Array[] = [];
    const n = Math.round((seconds * 1000) / 20);
    let phase = 0;
    for (let k = 0; k < n; k++) {
      const pcm = new Int16Array(320);
      for (let i = 0; i < 320; i++) {
        const t = (k * 320 + i) / 16000;
        phase += (2 * Math.PI * (180 + 60 * Math.sin(2 * Math.PI * 0.7 * t))) / 16000;
        pcm[i] = Math.round(6000 * Math.abs(Math.sin(Math.PI * 2.5 * t)) * Math.sin(phase));
      }
      frames.push(enc.encode(pcm));
    }
    return frames;
  } finally {
    enc.free();
  }
}

/**
 * What the simulated toy's microphone hears: the Ogg Opus file `path`, else the bundled
 * `fixtures/audio/child-question.opus` of a source checkout, else a synthetic 4 s signal.
 */
export function microphoneSource(path?: string): MicrophoneSource {
  let packets: Uint8Array[];
  const file = path ?? findUp('fixtures/audio/child-question.opus');
  if (file) {
    const ogg = readOggOpus(new Uint8Array(readFileSync(file)));
    if (ogg.head.channels !== 1) throw new PlushlinkError('BAD_AUDIO', `${file}: the toy's microphone is mono`);
    packets = ogg.packets;
  } else {
    packets = syntheticVoice(4);
  }
  return () => packets;
}

/** Describes a toy log event in one line. */
export function describeToyEvent(e: ToyLogEvent): string {
  switch (e.kind) {
    case 'refused':
      return `refused ${e.what} from ${e.connection}${e.detail ? ` (${e.detail})` : ''}`;
    case 'paired':
      return `paired "${e.displayName}" as ${e.role}`;
    case 'session':
      return `session with "${e.displayName}" (${e.mode === 'pair' ? 'pairing' : 'reconnect'})`;
    case 'pairing-window':
      return e.open ? `pairing window open (${e.reason})` : `pairing window closed (${e.reason})`;
    case 'factory-reset':
      return 'factory reset: every pairing and the advertising key are erased';
    case 'removed':
      return `pairing ${e.companionKey.slice(0, 16)}… removed by ${e.by}`;
  }
}

/** Options of {@link startSimToy}. */
export interface SimToyOptions {
  peripheral: Peripheral;
  /** The identity file; its flash is `<statePath>.flash.json`. */
  statePath: string;
  /** Ogg Opus file the microphone plays (default: see {@link microphoneSource}). */
  microphone?: string;
  /** Called for every toy event (after DEBUG logging). */
  onEvent?: (e: ToyLogEvent) => void;
  /** Called when the toy's driver reports an error (e.g. the adapter could not advertise). */
  onError?: (e: Error) => void;
  /** Called with the toy's advertisement each time it changes. */
  onAdvertise?: (a: { pairing: boolean; owned: boolean; tag: string }) => void;
}

/** A running simulated toy. */
export interface SimToy {
  toy: ReferenceToy;
  label: ToyLabel;
  /** True when this run created the identity file. */
  created: boolean;
  /** Settles when the first advertisement is on the air (rejects when the adapter cannot advertise). */
  advertising: Promise<void>;
  stop(): Promise<void>;
}

/** Starts the reference toy from a state file on `peripheral`. */
export async function startSimToy(opts: SimToyOptions): Promise<SimToy> {
  const { toy: id, created } = await loadOrCreateToyIdentity(opts.statePath);
  const peripheral = opts.peripheral;
  // Observe what the toy advertises (for logs, `simulate-toy` output and tests).
  const advertise = peripheral.advertise.bind(peripheral);
  let lastAd = '';
  let firstAd: Promise<void> | undefined;
  peripheral.advertise = (serviceData: Uint8Array) => {
    let changed: { pairing: boolean; owned: boolean; tag: string } | undefined;
    try {
      const info = parseAdvertisement(serviceData);
      const key = `${info.pairing}/${info.owned}/${hex(info.tag)}`;
      if (key !== lastAd) {
        lastAd = key;
        changed = { pairing: info.pairing, owned: info.owned, tag: hex(info.tag) };
      }
    } catch {
      /* not ours to judge */
    }
    const p = advertise(serviceData);
    if (changed) {
      const c = changed;
      // reported once the adapter accepted it
      p.then(
        () => {
          log.toy('advertising pairing=%s owned=%s tag=%s', c.pairing, c.owned, c.tag);
          opts.onAdvertise?.(c);
        },
        () => undefined,
      );
    }
    firstAd ??= p;
    return p;
  };
  const toy = new ReferenceToy({
    peripheral,
    identity: id.identity,
    setupCode: id.setupCode,
    storage: new FileToyStorage(flashPathOf(opts.statePath)),
    microphone: microphoneSource(opts.microphone),
  });
  toy.on('log', (e) => {
    log.toy(describeToyEvent(e));
    opts.onEvent?.(e);
  });
  toy.on('error', (e) => {
    log.toy('error: %s', e.message);
    opts.onError?.(e);
  });
  toy.on('play', (frames) => log.toy('speaker played %d frame(s)', frames.length));
  toy.on('microphone', (on) => log.toy('microphone %s', on ? 'on' : 'off'));
  await toy.start();
  let stopped: Promise<void> | undefined;
  const advertising = firstAd ?? Promise.resolve();
  advertising.catch(() => undefined);
  return {
    toy,
    label: id.label,
    created,
    advertising,
    stop: () => (stopped ??= toy.stop()),
  };
}
