/**
 * A toy and companions on noble-sim: the same shape as {@link makeRig} (test/helpers/rig.ts), but
 * every byte crosses real noble (HCI bindings, GAP, ATT client) and real bleno (GATT server) code
 * over the simulated ACL loopback. Nothing here uses the in-memory link.
 *
 * The ATT MTU is a property of the whole rig (`mtu`: both noble's request and bleno's `maxMtu`),
 * because noble-sim applies the central's MTU to every central it creates.
 */
import { Companion, type CompanionOptions } from '../../src/companion/companion.js';
import { MemoryKeystore } from '../../src/companion/keystore.js';
import { generateX25519KeyPair, type X25519KeyPair } from '../../src/protocol/crypto.js';
import { formatSetupCode, formatSetupQr, generateSetupCode, type SetupCode } from '../../src/protocol/setup-code.js';
import { ReferenceToy, type ReferenceToyOptions } from '../../src/toy/reference-toy.js';
import { MemoryToyStorage } from '../../src/toy/storage.js';
import type { ToyConfig } from '../../src/toy/types.js';
import type { NobleCentral } from '../../src/transport/noble/central.js';
import { createNobleSimRadio, type NobleSimOptions, type NobleSimRadio } from '../../src/transport/noble-sim/index.js';
import type { Central } from '../../src/transport/types.js';

export interface NobleSimRig {
  radio: NobleSimRadio;
  toy: ReferenceToy;
  storage: MemoryToyStorage;
  identity: X25519KeyPair;
  setup: SetupCode;
  /** The typed setup code (`XXXX-…`). */
  code: string;
  /** The QR payload (setup code + the toy's key). */
  qr: string;
  /** The toy's transport id as noble reports it now (its address without colons). */
  readonly toyId: string;
  /** The ATT MTU every link of this rig negotiates. */
  mtu: number;
  /** A central of its own (the first call returns the rig's first central): a new phone. */
  newCentral(): NobleCentral;
  /** A companion on a new phone, or on `central` when given (e.g. a recording wrapper); `options` override the defaults (a clock…). */
  newCompanion(name?: string, central?: Central, options?: Partial<CompanionOptions>): Promise<Companion>;
  close(): Promise<void>;
}

export interface NobleSimRigOptions {
  /** ATT MTU of every link (default 247). */
  mtu?: number;
  /** One-way latency of every PDU (default 1 ms). */
  latencyMs?: number;
  config?: ToyConfig;
  toy?: Partial<ReferenceToyOptions>;
  /** Further noble-sim options (packet hook, …). */
  sim?: Omit<NobleSimOptions, 'centralMaxMtu' | 'peripheralMaxMtu' | 'latencyMs'>;
}

export async function makeNobleSimRig(opts: NobleSimRigOptions = {}): Promise<NobleSimRig> {
  const mtu = opts.mtu ?? 247;
  const radio = createNobleSimRadio({
    latencyMs: opts.latencyMs ?? 1,
    centralMaxMtu: mtu,
    peripheralMaxMtu: mtu,
    central: { connectTimeoutMs: 5_000, gattTimeoutMs: 2_000 },
    ...opts.sim,
  });
  const identity = generateX25519KeyPair();
  const setup = generateSetupCode();
  const storage = new MemoryToyStorage();
  // As on the memory rig, the toy keeps its address unless a test asks for rotation (toy.rotateAddress).
  const toy = new ReferenceToy({ peripheral: radio.peripheral, identity, setupCode: setup, storage, config: opts.config, rotateAddress: false, ...opts.toy });
  await toy.start();
  let firstCentralUsed = false;
  const newCentral = (): NobleCentral => {
    if (!firstCentralUsed) {
      firstCentralUsed = true;
      return radio.central;
    }
    return radio.createCentral();
  };
  return {
    radio,
    toy,
    storage,
    identity,
    setup,
    code: formatSetupCode(setup),
    qr: formatSetupQr(setup, identity.publicKey),
    get toyId() {
      return radio.peripheral.address.replace(/:/g, '').toLowerCase();
    },
    mtu,
    newCentral,
    async newCompanion(name = 'parent', central?: Central, options: Partial<CompanionOptions> = {}) {
      return Companion.open({ central: central ?? newCentral(), keystore: new MemoryKeystore(), displayName: name, handshakeTimeoutMs: 2000, connectTimeoutMs: 5000, ...options });
    },
    async close() {
      await toy.stop().catch(() => undefined);
      await radio.close();
    },
  };
}

/** The suite's one polling wait (test/helpers/until.ts). */
export { until } from './until.js';
