/** A toy and a companion on one in-memory radio, for integration, attack and fault tests. */
import { MemoryRadio, type MemoryPeripheral, type MemoryRadioOptions } from '../../src/transport/memory/index.js';
import { ReferenceToy, type ReferenceToyOptions } from '../../src/toy/reference-toy.js';
import { MemoryToyStorage } from '../../src/toy/storage.js';
import { Companion, type CompanionOptions } from '../../src/companion/companion.js';
import { MemoryKeystore } from '../../src/companion/keystore.js';
import { generateX25519KeyPair, type X25519KeyPair } from '../../src/protocol/crypto.js';
import { formatSetupCode, formatSetupQr, generateSetupCode, type SetupCode } from '../../src/protocol/setup-code.js';
import type { ToyConfig } from '../../src/toy/types.js';

export interface Rig {
  radio: MemoryRadio;
  toy: ReferenceToy;
  storage: MemoryToyStorage;
  code: string;
  qr: string;
  toyId: string;
  /** The toy's peripheral on the radio (its open links, address). */
  peripheral: MemoryPeripheral;
  /** The toy's static key pair (for tests that forge or restart a toy). */
  identity: X25519KeyPair;
  /** The toy's setup code. */
  setup: SetupCode;
  newCompanion(name?: string, mtu?: number, options?: Partial<CompanionOptions>): Promise<Companion>;
  close(): Promise<void>;
}

export async function makeRig(opts: { radio?: MemoryRadioOptions; toyMtu?: number; config?: ToyConfig; toy?: Partial<ReferenceToyOptions> } = {}): Promise<Rig> {
  const radio = new MemoryRadio({ connectionIntervalMs: 1, timeScale: 0, advertisingIntervalMs: 20, ...opts.radio });
  const peripheral = radio.createPeripheral({ mtu: opts.toyMtu ?? 247 });
  const identity = generateX25519KeyPair();
  const setup = generateSetupCode();
  const storage = new MemoryToyStorage();
  const toy = new ReferenceToy({ peripheral, identity, setupCode: setup, storage, config: opts.config, rotateAddress: false, ...opts.toy });
  await toy.start();
  const companions: Companion[] = [];
  return {
    radio,
    toy,
    storage,
    code: formatSetupCode(setup),
    qr: formatSetupQr(setup, identity.publicKey),
    toyId: peripheral.id,
    peripheral,
    identity,
    setup,
    async newCompanion(name = 'parent', mtu = 247, options = {}) {
      const c = await Companion.open({ central: radio.createCentral({ mtu }), keystore: new MemoryKeystore(), displayName: name, handshakeTimeoutMs: 2000, ...options });
      companions.push(c);
      return c;
    },
    async close() {
      await toy.stop();
      await radio.close();
    },
  };
}
