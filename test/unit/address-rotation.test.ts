import { describe, expect, it } from 'vitest';
import { MemoryRadio } from '../../src/transport/memory/index.js';
import { ReferenceToy } from '../../src/toy/reference-toy.js';
import { generateX25519KeyPair } from '../../src/protocol/crypto.js';
import { generateSetupCode } from '../../src/protocol/setup-code.js';
import { ADV_SLOT_SECONDS } from '../../src/protocol/advertising.js';

/** A running toy on the in-memory radio whose clock the test sets; `sample` waits for its ticks and reads its address and service data. */
async function runningToy() {
  const radio = new MemoryRadio({ connectionIntervalMs: 1, timeScale: 0 });
  const peripheral = radio.createPeripheral();
  const clock = { now: Date.UTC(2026, 10, 28, 12, 0, 5) };
  const toy = new ReferenceToy({ peripheral, identity: generateX25519KeyPair(), setupCode: generateSetupCode(), clock: () => clock.now, tickMs: 5 });
  await toy.start();
  const sample = async () => {
    await new Promise((r) => setTimeout(r, 40));
    return { id: peripheral.id, data: Buffer.from((peripheral as unknown as { _serviceData: Uint8Array })._serviceData).toString('hex') };
  };
  const stop = async () => {
    await toy.stop();
    await radio.close();
  };
  return { toy, clock, sample, stop };
}

describe('the BLE address rotates with the advertising tag', () => {
  it('a new slot brings a new tag and a new address; within a slot both stay', async () => {
    const { clock, sample, stop } = await runningToy();
    const seen: { id: string; data: string }[] = [await sample()];
    for (let i = 0; i < 6; i++) {
      clock.now += 60_000; // same slot
      const same = await sample();
      expect(same).toEqual(seen.at(-1));
      clock.now += ADV_SLOT_SECONDS * 1000; // next slot
      seen.push(await sample());
    }
    expect(new Set(seen.map((s) => s.id)).size).toBe(seen.length);
    expect(new Set(seen.map((s) => s.data)).size).toBe(seen.length);
    await stop();
  });

  it('within a slot, every change of the service data (the pairing window opens, times out) comes with a new address', async () => {
    const { toy, clock, sample, stop } = await runningToy();
    const idle = await sample();
    toy.pressButton('hold'); // the pairing flag goes up, in the same slot
    const pairing = await sample();
    expect(pairing.data.slice(0, 2)).toBe('01');
    expect(pairing.id).not.toBe(idle.id);
    clock.now += 121_000; // the window times out, still the same slot
    const closed = await sample();
    expect(closed.data.slice(0, 2)).toBe('00');
    expect(closed.id).not.toBe(pairing.id);
    expect(new Set([idle.id, pairing.id, closed.id]).size).toBe(3);
    await stop();
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
