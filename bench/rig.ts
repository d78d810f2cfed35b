/**
 * Toys and companions on the in-memory radio, as the bench builds them (same wiring as
 * `test/helpers/rig.ts`, including a fixed address, so a companion finds the toy where it looked).
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Companion } from '../src/companion/companion.js';
import { MemoryKeystore } from '../src/companion/keystore.js';
import type { ToySession } from '../src/companion/session.js';
import { generateX25519KeyPair, type X25519KeyPair } from '../src/protocol/crypto.js';
import { formatSetupCode, formatSetupQr, generateSetupCode, type SetupCode } from '../src/protocol/setup-code.js';
import { ReferenceToy, type MicrophoneSource } from '../src/toy/reference-toy.js';
import { MemoryToyStorage } from '../src/toy/storage.js';
import type { ToyConfig } from '../src/toy/types.js';
import { MemoryCentralLink, type LinkStats, type MemoryCentral, type MemoryPeripheral, type MemoryRadio } from '../src/transport/memory/index.js';
import { decodeWav } from '../src/audio/wav.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The fixture speech clips (16 kHz mono WAV). */
export const SPEECH_CLIPS = ['toy-hello', 'toy-goodnight', 'child-question'] as const;

export function readSpeech(name: (typeof SPEECH_CLIPS)[number]): Int16Array {
  const wav = decodeWav(new Uint8Array(readFileSync(join(ROOT, 'fixtures/audio', `${name}.wav`))));
  if (wav.sampleRate !== 16000 || wav.channels !== 1) throw new Error(`${name}.wav is not 16 kHz mono`);
  return wav.samples;
}

export interface BenchToy {
  toy: ReferenceToy;
  peripheral: MemoryPeripheral;
  identity: X25519KeyPair;
  setup: SetupCode;
  qr: string;
  code: string;
}

export async function makeToy(radio: MemoryRadio, opts: { mtu?: number; config?: ToyConfig; tickMs?: number; microphone?: MicrophoneSource } = {}): Promise<BenchToy> {
  const peripheral = radio.createPeripheral({ mtu: opts.mtu ?? 247 });
  const identity = generateX25519KeyPair();
  const setup = generateSetupCode();
  const toy = new ReferenceToy({ peripheral, identity, setupCode: setup, storage: new MemoryToyStorage(), config: opts.config, tickMs: opts.tickMs, rotateAddress: false, ...(opts.microphone ? { microphone: opts.microphone } : {}) });
  await toy.start();
  return { toy, peripheral, identity, setup, qr: formatSetupQr(setup, identity.publicKey), code: formatSetupCode(setup) };
}

export interface BenchCompanion {
  app: Companion;
  central: MemoryCentral;
}

export async function makeCompanion(radio: MemoryRadio, opts: { mtu?: number; name?: string } = {}): Promise<BenchCompanion> {
  const central = radio.createCentral({ mtu: opts.mtu ?? 247 });
  const app = await Companion.open({ central, keystore: new MemoryKeystore(), displayName: opts.name ?? 'bench', handshakeTimeoutMs: 10_000 });
  return { app, central };
}

/** The radio link under a session (the bench runs on the memory radio only). */
export function memoryLinkOf(s: ToySession): MemoryCentralLink {
  const l = s.link.link;
  if (!(l instanceof MemoryCentralLink)) throw new Error('the bench needs the in-memory radio');
  return l;
}

export function statsOf(s: ToySession): LinkStats {
  return memoryLinkOf(s).stats;
}

/** Pairs with the QR code: presses the toy's button first. */
export async function pairQr(t: BenchToy, c: BenchCompanion, name = 'bear'): Promise<ToySession> {
  t.toy.pressButton('hold');
  return c.app.pair(t.peripheral.id, t.qr, { name });
}
