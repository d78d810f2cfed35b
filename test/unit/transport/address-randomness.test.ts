/**
 * Privacy-relevant random values come from the CSPRNG on every transport (PROTOCOL.md §12
 * "Address", SECURITY.md property 6): one observed address must not predict the next ones.
 * Reproducible addresses exist only where a test asks for them explicitly (`addressRandom`); the
 * memory radio's `seed` drives fault injection and jitter, never an address.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryRadio } from '../../../src/transport/memory/index.js';
import { createNobleSimRadio, type NobleSimRadio } from '../../../src/transport/noble-sim/index.js';
import { isNonResolvablePrivateAddress } from '../../../src/transport/bleno/address.js';

const radios: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const r of radios.splice(0)) await r.close();
});

/** The addresses a memory-radio peripheral goes through: its first and `n` rotations. */
function memoryAddresses(radio: MemoryRadio, n: number): string[] {
  const p = radio.createPeripheral();
  const out = [p.id];
  for (let i = 0; i < n; i++) out.push(p.rotateAddress());
  return out;
}

describe('addresses come from the CSPRNG', () => {
  it('memory radio: two radios with the same seed draw unrelated addresses (the seed is for faults only)', async () => {
    const a = new MemoryRadio({ timeScale: 0, seed: 7 });
    const b = new MemoryRadio({ timeScale: 0, seed: 7 });
    radios.push(a, b);
    const fromA = memoryAddresses(a, 30);
    const fromB = memoryAddresses(b, 30);
    // Same seed, same calls: with a seeded generator these lists are identical.
    expect(fromB.filter((x) => fromA.includes(x))).toEqual([]);
    const centralA = a.createCentral().id;
    const centralB = b.createCentral().id;
    expect(centralA).not.toBe(centralB);
    for (const id of [...fromA, ...fromB, centralA, centralB]) expect(id).toMatch(/^[0-9a-f]{12}$/);
    expect(new Set(fromA).size).toBe(fromA.length);
  });

  it('memory radio: reproducible addresses only when a test asks for them (addressRandom)', async () => {
    const counter = (): ((n: number) => Uint8Array) => {
      let k = 0;
      return (n) => Uint8Array.from({ length: n }, (_, i) => (k * 7 + i + 1) & 0xff, k++);
    };
    const a = new MemoryRadio({ timeScale: 0, addressRandom: counter() });
    const b = new MemoryRadio({ timeScale: 0, addressRandom: counter() });
    radios.push(a, b);
    expect(memoryAddresses(a, 5)).toEqual(memoryAddresses(b, 5));
  });

  it('noble-sim: every rig gives its peripherals and centrals fresh random addresses, and rotation draws another', async () => {
    const rigs: NobleSimRadio[] = [createNobleSimRadio(), createNobleSimRadio()];
    radios.push(...rigs);
    const peripherals = rigs.flatMap((r) => [r.peripheral.address, r.createPeripheral().address]);
    expect(new Set(peripherals).size).toBe(peripherals.length);
    for (const a of peripherals) expect(isNonResolvablePrivateAddress(a), a).toBe(true);
    const rotated = await rigs[0]!.peripheral.rotateAddress();
    expect(isNonResolvablePrivateAddress(rotated)).toBe(true);
    expect(peripherals).not.toContain(rotated);
    expect(rigs[0]!.peripheral.address).toBe(rotated);
  });

  it('no source file draws randomness from Math.random, and the seeded generator feeds only fault injection', () => {
    const root = fileURLToPath(new URL('../../../src', import.meta.url));
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts')) files.push(p);
      }
    };
    walk(root);
    const uses = (re: RegExp): string[] => files.filter((f) => re.test(readFileSync(f, 'utf8'))).map((f) => f.slice(root.length + 1));
    expect(uses(/Math\.random\s*\(/)).toEqual([]);
    expect(uses(/seededRandom\s*\(/).sort()).toEqual(['transport/memory/prng.ts', 'transport/memory/radio.ts']);
    const radio = readFileSync(join(root, 'transport/memory/radio.ts'), 'utf8');
    expect([...radio.matchAll(/seededRandom\s*\(/g)]).toHaveLength(1);
    expect(radio).toMatch(/_faultRandom = seededRandom\(/);
  });
});
