/**
 * Builds the in-process "air" the demo and `simulate-toy --in-process` run on: the in-memory
 * radio, or noble-sim (real noble + real bleno GATT code, no hardware).
 */
import { MemoryRadio } from '../transport/memory/index.js';
import { createNobleSimRadio } from '../transport/noble-sim/index.js';
import type { Central, Peripheral } from '../transport/types.js';

export type InProcessTransport = 'memory' | 'noble-sim';

export interface Air {
  kind: InProcessTransport;
  peripheral: Peripheral;
  /** The transport id centrals use to reach the toy now (it rotates with the advertising tag). */
  toyId: string;
  newCentral(opts?: { mtu?: number }): Central;
  /** Round trips counted by the radio on the most recent link (memory only). */
  lastLinkRoundTrips?(): number | undefined;
  close(): Promise<void>;
}

export async function createAir(kind: InProcessTransport, opts: { mtu?: number; connectionIntervalMs?: number } = {}): Promise<Air> {
  if (kind === 'memory') {
    const radio = new MemoryRadio({ connectionIntervalMs: opts.connectionIntervalMs ?? 7.5, advertisingIntervalMs: 50 });
    const peripheral = radio.createPeripheral({ mtu: opts.mtu ?? 247 });
    return {
      kind,
      peripheral,
      get toyId() {
        return peripheral.id; // the address rotates with the advertising tag
      },
      newCentral: (o = {}) => radio.createCentral({ mtu: o.mtu ?? opts.mtu ?? 247 }),
      close: () => radio.close(),
    };
  }
  const sim = createNobleSimRadio({ latencyMs: 1, centralMaxMtu: opts.mtu ?? 247, peripheralMaxMtu: opts.mtu ?? 247 });
  let first = true;
  return {
    kind,
    peripheral: sim.peripheral,
    get toyId() {
      return sim.peripheral.address.replace(/:/g, '').toLowerCase(); // the address rotates with the advertising tag
    },
    newCentral: () => {
      if (first) {
        first = false;
        return sim.central;
      }
      return sim.createCentral();
    },
    close: () => sim.close(),
  };
}
