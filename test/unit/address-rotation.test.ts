import { describe, expect, it } from 'vitest';
import { MemoryRadio } from '../../src/transport/memory/index.js';
import { ReferenceToy } from '../../src/toy/reference-toy.js';
import { generateX25519KeyPair } from '../../src/protocol/crypto.js';
import { generateSetupCode } from '../../src/protocol/setup-code.js';
import { ADV_SLOT_SECONDS } from '../../src/protocol/advertising.js';

describe('the BLE address rotates with the advertising tag', () => {
  it('a new slot brings a new tag and a new address; within a slot both stay', async () => {
    const radio = new MemoryRadio({ connectionIntervalMs: 1, timeScale: 0 });
    const peripheral = radio.createPeripheral();
    let now = Date.UTC(2026, 10, 28, 12, 0, 5);
    const toy = new ReferenceToy({ peripheral, identity: generateX25519KeyPair(), setupCode: generateSetupCode(), clock: () => now, tickMs: 5 });
    await toy.start();
    const sample = async () => {
      await new Promise((r) => setTimeout(r, 40));
      return { id: peripheral.id, data: Buffer.from((peripheral as unknown as { _serviceData: Uint8Array })._serviceData).toString('hex') };
    };
    const seen: { id: string; data: string }[] = [await sample()];
    for (let i = 0; i < 6; i++) {
      now += 60_000; // same slot
      const same = await sample();
      expect(same).toEqual(seen.at(-1));
      now += ADV_SLOT_SECONDS * 1000; // next slot
      seen.push(await sample());
    }
    expect(new Set(seen.map((s) => s.id)).size).toBe(seen.length);
    expect(new Set(seen.map((s) => s.data)).size).toBe(seen.length);
    await toy.stop();
    await radio.close();
  });

  it('can be turned off', async () => {
    const radio = new MemoryRadio({ connectionIntervalMs: 1, timeScale: 0 });
    const peripheral = radio.createPeripheral();
    let now = Date.UTC(2026, 10, 28, 12, 0, 5);
    const toy = new ReferenceToy({ peripheral, identity: generateX25519KeyPair(), setupCode: generateSetupCode(), clock: () => now, tickMs: 5, rotateAddress: false });
    await toy.start();
    const id = peripheral.id;
    now += 3 * ADV_SLOT_SECONDS * 1000;
    await new Promise((r) => setTimeout(r, 40));
    expect(peripheral.id).toBe(id);
    await toy.stop();
    await radio.close();
  });
});
