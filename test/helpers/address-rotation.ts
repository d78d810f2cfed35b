/**
 * Shared by the address-rotation tests of every transport (test/unit/toy/address-rotation.test.ts,
 * test/unit/transport/bleno-address.test.ts): a scenario that makes the reference toy rotate many times,
 * and the check that no advertising state links two addresses (PROTOCOL.md §12 "Address").
 */
import { expect } from 'vitest';
import { ADV_SLOT_SECONDS } from '../../src/protocol/advertising.js';
import { toHex } from '../../src/protocol/bytes.js';
import { generateX25519KeyPair, randomBytes } from '../../src/protocol/crypto.js';
import { generateSetupCode } from '../../src/protocol/setup-code.js';
import { ReferenceToy } from '../../src/toy/reference-toy.js';
import { MemoryToyStorage } from '../../src/toy/storage.js';
import { emptyToyState, type ToyPersistentState } from '../../src/toy/types.js';
import type { Peripheral } from '../../src/transport/types.js';

export const SLOT_MS = ADV_SLOT_SECONDS * 1000;
export const T0 = Date.UTC(2026, 10, 28, 12, 0, 5);

/** One state on the air: the address and the service data (hex), undefined while not advertising. */
export interface OnAir {
  address: string;
  data: string | undefined;
}

/**
 * Checks a sequence of advertising states: (a) an address carries one service data for its whole
 * life (no old address with new data), (b) between two consecutive advertisements the address
 * changes exactly when the data changes (no new address with the old data). Returns the number of
 * distinct addresses that advertised.
 */
export function expectAddressMovesWithData(states: readonly OnAir[]): number {
  const on = states.filter((s): s is { address: string; data: string } => s.data !== undefined);
  const dataOf = new Map<string, string>();
  for (const s of on) {
    const d = dataOf.get(s.address);
    if (d === undefined) dataOf.set(s.address, s.data);
    else expect(s.data, `address ${s.address} carried two service data`).toBe(d);
  }
  for (let i = 1; i < on.length; i++) {
    const [prev, cur] = [on[i - 1]!, on[i]!];
    expect(prev.address === cur.address, `advertisements ${i - 1} → ${i}: ${JSON.stringify(prev)} → ${JSON.stringify(cur)}`).toBe(prev.data === cur.data);
  }
  return dataOf.size;
}

/** A toy owned by a (made-up) companion: its tag is keyed (HMAC of its advertising key and the slot). */
export function ownedState(): ToyPersistentState {
  return {
    ...emptyToyState(),
    pairings: [{ companionKey: toHex(randomBytes(32)), role: 'owner', displayName: 'parent', pairedAt: T0 }],
    advertisingKey: toHex(randomBytes(32)),
  };
}

/**
 * Runs a reference toy through rotations: 12 slots unowned (the pairing window opening and timing
 * out in between, a factory reset), then 12 slots owned. `step` lets the toy's ticks run.
 */
export async function rotations(peripheral: Peripheral, step: () => Promise<unknown>, owned: boolean): Promise<void> {
  const clock = { now: T0 };
  const toy = new ReferenceToy({
    peripheral,
    identity: generateX25519KeyPair(),
    setupCode: generateSetupCode(),
    clock: () => clock.now,
    tickMs: 10,
    storage: new MemoryToyStorage(owned ? ownedState() : undefined),
  });
  await toy.start();
  await step();
  for (let i = 0; i < 12; i++) {
    clock.now += SLOT_MS;
    await step();
    if (!owned && i % 3 === 0) {
      toy.pressButton('hold'); // the pairing flag goes up: new data, new address
      await step();
      clock.now += 121_000; // the window times out
      await step();
    }
    if (!owned && i === 7) {
      toy.pressButton('reset');
      await step();
    }
  }
  const stopped = toy.stop(); // the peripheral's close may wait on (fake) timers: keep them running
  await step();
  await stopped;
}

