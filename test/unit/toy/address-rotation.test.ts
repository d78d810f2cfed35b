/**
 * The BLE address changes exactly with the advertised service data (PROTOCOL.md §12 "Address"):
 * no advertisement ever carries the new address with the old data, or the old address with the
 * new data, on any transport. The tests record **every** advertising event — each state a
 * scanner could ever see, transients included — not samples taken some time later, and run the
 * reference toy through more than twenty rotations: new slots, the pairing window opening and
 * timing out, a factory reset, an owned phase with a keyed tag.
 *
 * The toy's clock and every timer are fake (vitest fake timers): nothing depends on the speed of
 * the machine. (The bleno adapter runs the same scenario in test/unit/transport/bleno-address.test.ts.)
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { toHex } from '../../../src/protocol/bytes.js';
import { generateX25519KeyPair } from '../../../src/protocol/crypto.js';
import { generateSetupCode } from '../../../src/protocol/setup-code.js';
import { ReferenceToy } from '../../../src/toy/reference-toy.js';
import { MemoryRadio } from '../../../src/transport/memory/index.js';
import { createNobleSimRadio } from '../../../src/transport/noble-sim/index.js';
import type { Advertisement } from '../../../src/transport/types.js';
import { expectAddressMovesWithData, rotations, SLOT_MS, T0, type OnAir } from '../../helpers/address-rotation.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('the BLE address changes exactly with the service data, at every advertising event', () => {
  it('memory radio: every advertising state, and every scan report, links no two addresses (unowned and owned toy)', async () => {
    vi.useFakeTimers();
    const radio = new MemoryRadio({ connectionIntervalMs: 1, timeScale: 0, advertisingIntervalMs: 5 });
    const states: OnAir[] = [];
    radio.on('advertising', (e) => states.push({ address: e.address, data: e.serviceData && toHex(e.serviceData) }));
    const reports: OnAir[] = [];
    const scan = radio.createCentral().scan()[Symbol.asyncIterator]();
    let scanning = true;
    const reading = (async () => {
      while (scanning) {
        const r = await scan.next();
        if (r.done) return;
        const ad: Advertisement = r.value;
        reports.push({ address: ad.id, data: toHex(ad.serviceData) });
      }
    })();
    const step = () => vi.advanceTimersByTimeAsync(50);
    await rotations(radio.createPeripheral(), step, false);
    const unowned = states.length;
    await rotations(radio.createPeripheral(), step, true);
    scanning = false;
    await scan.return!();
    await reading;
    await radio.close();

    const addresses = expectAddressMovesWithData(states.slice(0, unowned)) + expectAddressMovesWithData(states.slice(unowned));
    expect(addresses).toBeGreaterThanOrEqual(2 * 12 + 4 * 2 + 1); // a new address for every slot and every flag change
    // The scanner saw many of them, and what it saw is as unlinkable (it interleaves two toys: check per toy).
    const first = new Set(states.slice(0, unowned).map((s) => s.address));
    expectAddressMovesWithData(reports.filter((r) => first.has(r.address)));
    expectAddressMovesWithData(reports.filter((r) => !first.has(r.address)));
    expect(new Set(reports.map((r) => r.address)).size).toBeGreaterThan(20);
  });

  it('noble-sim: every advertising event (ADV_IND at each interval and at each change) links no two addresses', async () => {
    vi.useFakeTimers();
    const sim = createNobleSimRadio();
    const states: OnAir[] = [];
    sim.air.onAdvertising = (e) => states.push({ address: e.address, data: e.advertisement?.toString('hex') });
    const step = () => vi.advanceTimersByTimeAsync(50);
    await rotations(sim.peripheral, step, false);
    const unowned = states.length;
    await rotations(sim.createPeripheral(), step, true);
    vi.useRealTimers();
    await sim.close();
    const addresses = expectAddressMovesWithData(states.slice(0, unowned)) + expectAddressMovesWithData(states.slice(unowned));
    expect(addresses).toBeGreaterThanOrEqual(2 * 12 + 4 * 2 + 1);
  });

  it('a toy that is told not to rotate keeps its address (rotateAddress: false)', async () => {
    vi.useFakeTimers();
    const radio = new MemoryRadio({ connectionIntervalMs: 1, timeScale: 0 });
    const peripheral = radio.createPeripheral();
    let now = T0;
    const toy = new ReferenceToy({ peripheral, identity: generateX25519KeyPair(), setupCode: generateSetupCode(), clock: () => now, tickMs: 5, rotateAddress: false });
    await toy.start();
    const id = peripheral.id;
    now += 3 * SLOT_MS;
    await vi.advanceTimersByTimeAsync(40);
    expect(peripheral.id).toBe(id);
    await toy.stop();
    await radio.close();
  });
});
