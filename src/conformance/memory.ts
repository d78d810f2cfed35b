/**
 * The conformance run's in-process target: the reference toy on the in-memory radio, on a fake
 * clock that moves only when the run advances it (so the backoff, the handshake deadline and the
 * advertising slot cost no waiting), with a `settle` that runs the radio until it is idle instead
 * of waiting for answers — no verdict depends on machine speed. Also the base of the broken toys
 * the run is checked against (test/helpers/broken-toys.ts).
 */
import { generateX25519KeyPair, type X25519KeyPair } from '../protocol/crypto.js';
import { formatSetupCode, formatSetupQr, generateSetupCode, type SetupCode } from '../protocol/setup-code.js';
import { ReferenceToy, type MicrophoneSource } from '../toy/reference-toy.js';
import { MemoryToyStorage } from '../toy/storage.js';
import type { ToyConfig } from '../toy/types.js';
import { MemoryRadio } from '../transport/memory/index.js';
import type { Peripheral } from '../transport/types.js';
import type { ConformanceClock, ConformanceOptions } from './types.js';

/** What {@link memoryConformanceTarget} builds a toy from. */
export interface MemoryToyParts {
  peripheral: Peripheral;
  identity: X25519KeyPair;
  setupCode: SetupCode;
  clock: () => number;
  storage: MemoryToyStorage;
  microphone: MicrophoneSource;
  config?: ToyConfig;
}

export interface MemoryTargetOptions {
  /** Builds the toy (default: a {@link ReferenceToy}); tests pass broken variants. */
  createToy?: (parts: MemoryToyParts) => ReferenceToy;
  /** Wraps the toy's peripheral (tests: rewrite what it advertises or sends). */
  wrapPeripheral?: (p: Peripheral, clock: () => number) => Peripheral;
  config?: ToyConfig;
  /** Start of the fake clock (ms since the epoch; default 2026-12-01T12:00:05Z). */
  startAt?: number;
}

/** A running in-memory target: the options to pass to `runConformance`, and the parts. */
export interface MemoryTarget {
  options: Pick<ConformanceOptions, 'central' | 'centralWithMtu' | 'code' | 'qr' | 'pressButton' | 'resetToy' | 'clock' | 'settle' | 'target'>;
  toy: ReferenceToy;
  radio: MemoryRadio;
  /** The toy's transport id now (it moves with the advertised data, PROTOCOL.md §12): the run's `toyId`. */
  toyId(): string;
  close(): Promise<void>;
}

/** Starts the reference toy (or `createToy`'s) on a fresh in-memory radio with a fake clock. */
export async function memoryConformanceTarget(o: MemoryTargetOptions = {}): Promise<MemoryTarget> {
  const radio = new MemoryRadio({ connectionIntervalMs: 1, timeScale: 0, advertisingIntervalMs: 20 });
  const raw = radio.createPeripheral({ mtu: 247 });
  let now = o.startAt ?? Date.UTC(2026, 11, 1, 12, 0, 5);
  const peripheral = o.wrapPeripheral ? o.wrapPeripheral(raw, () => now) : raw;
  const parts: MemoryToyParts = {
    peripheral,
    identity: generateX25519KeyPair(),
    setupCode: generateSetupCode(),
    clock: () => now,
    storage: new MemoryToyStorage(),
    // 10 frames, then the source ends (PROTOCOL.md §13.7: MIC_STATUS off follows)
    microphone: () => Array.from({ length: 10 }, (_, i) => Uint8Array.of(0xf8, 0xff, 0xfe, i)),
    config: o.config,
  };
  const toy = o.createToy
    ? o.createToy(parts)
    : new ReferenceToy({ peripheral, identity: parts.identity, setupCode: parts.setupCode, clock: parts.clock, storage: parts.storage, microphone: parts.microphone, config: o.config, tickMs: 2 });
  await toy.start();
  // The toy ticks on a wall-clock interval; `advance` returns once it has ticked at the new time.
  let tickedAt = -Infinity;
  const core = toy.core;
  const tick = core.tick.bind(core);
  core.tick = (t: number) => {
    tickedAt = Math.max(tickedAt, t);
    return tick(t);
  };
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) {
      await radio.settle();
      await toy.flush();
    }
  };
  const clock: ConformanceClock = {
    now: () => now,
    simulated: true,
    async advance(ms: number) {
      now += ms;
      while (tickedAt < now) await new Promise((r) => setTimeout(r, 1));
      await settle();
    },
  };
  return {
    options: {
      central: radio.createCentral({ mtu: 247 }),
      centralWithMtu: (mtu) => radio.createCentral({ mtu }),
      code: formatSetupCode(parts.setupCode),
      qr: formatSetupQr(parts.setupCode, parts.identity.publicKey),
      pressButton: async () => {
        toy.pressButton('hold');
        await settle();
      },
      resetToy: async () => {
        toy.pressButton('reset');
        await settle();
      },
      clock,
      settle,
      target: 'reference toy on the in-memory radio',
    },
    toy,
    radio,
    toyId: () => raw.id,
    async close() {
      await toy.stop();
      await radio.close();
    },
  };
}
