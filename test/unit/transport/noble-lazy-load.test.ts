/**
 * Lazy loading: importing the adapters never touches Bluetooth, and a missing optional package
 * gives TRANSPORT_UNAVAILABLE naming it. The missing package is simulated by making Node's module
 * resolution fail for it, exactly as `require` fails when the package is not installed.
 */
import Module from 'node:module';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

type Resolve = (request: string, ...rest: unknown[]) => string;
const M = Module as unknown as { _resolveFilename: Resolve };
const original = M._resolveFilename;
const missing = new Set<string>();
const attempts: string[] = [];

beforeEach(() => {
  vi.resetModules();
  attempts.length = 0;
  M._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
    for (const pkg of missing) {
      if (request === pkg || request.startsWith(`${pkg}/`)) {
        attempts.push(request);
        const e = new Error(`Cannot find module '${request}'`) as Error & { code: string };
        e.code = 'MODULE_NOT_FOUND';
        throw e;
      }
    }
    return original.call(this, request, ...rest);
  };
});

afterEach(() => {
  M._resolveFilename = original;
  missing.clear();
});

/** The modules are re-imported after vi.resetModules(), so compare by name and code, not class. */
function isUnavailable(e: unknown): boolean {
  const x = e as { name?: string; code?: string };
  return x?.name === 'PlushlinkError' && x.code === 'TRANSPORT_UNAVAILABLE';
}

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<unknown> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

describe('optional Bluetooth packages', () => {
  it('the resolution hook really hides the package', () => {
    missing.add('@abandonware/noble');
    const req = Module.createRequire(import.meta.url);
    expect(() => req('@abandonware/noble/with-bindings')).toThrow(/Cannot find module/);
  });

  it('importing the adapters and the rig does not load noble or bleno', async () => {
    missing.add('@abandonware/noble');
    missing.add('@abandonware/bleno');
    const central = await import('../../../src/transport/noble/central.js');
    const peripheral = await import('../../../src/transport/bleno/peripheral.js');
    const sim = await import('../../../src/transport/noble-sim/index.js');
    expect(typeof central.NobleCentral).toBe('function');
    expect(typeof peripheral.BlenoPeripheral).toBe('function');
    expect(typeof sim.createNobleSimRadio).toBe('function');
    // constructing does not load them either
    new central.NobleCentral();
    new peripheral.BlenoPeripheral();
    expect(attempts).toEqual([]);
  });

  it('a real central without noble installed fails with TRANSPORT_UNAVAILABLE naming @abandonware/noble', async () => {
    missing.add('@abandonware/noble');
    const { NobleCentral } = await import('../../../src/transport/noble/central.js');
    const c = new NobleCentral();
    const e = await rejection(c.connect('aabbccddeeff'));
    expect(isUnavailable(e)).toBe(true);
    expect((e as Error).message).toContain('@abandonware/noble');
    expect((e as { detail: { package: string } }).detail.package).toBe('@abandonware/noble');
    const it = c.scan()[Symbol.asyncIterator]();
    const e2 = await rejection(it.next());
    expect(isUnavailable(e2)).toBe(true);
    expect(attempts[0]).toBe('@abandonware/noble/with-bindings');
  });

  it('a real peripheral without bleno installed fails with TRANSPORT_UNAVAILABLE naming @abandonware/bleno', async () => {
    missing.add('@abandonware/bleno');
    const { BlenoPeripheral } = await import('../../../src/transport/bleno/peripheral.js');
    const e = await rejection(new BlenoPeripheral().advertise(new Uint8Array([1])));
    expect(isUnavailable(e)).toBe(true);
    expect((e as Error).message).toContain('@abandonware/bleno');
  });

  it('the rig without noble or bleno fails with TRANSPORT_UNAVAILABLE', async () => {
    const { createNobleSimRadio } = await import('../../../src/transport/noble-sim/index.js');
    missing.add('@abandonware/noble');
    const e = await rejection(() => createNobleSimRadio());
    expect(isUnavailable(e)).toBe(true);
    expect((e as Error).message).toContain('@abandonware/noble');
    missing.clear();
    missing.add('@abandonware/bleno');
    const e2 = await rejection(() => createNobleSimRadio());
    expect(isUnavailable(e2)).toBe(true);
    expect((e2 as Error).message).toContain('@abandonware/bleno');
  });

  it('the rig still runs when the native HCI socket addon is missing (no compiler on the machine)', async () => {
    const req = Module.createRequire(import.meta.url);
    for (const k of Object.keys(req.cache)) {
      if (k.includes('bluetooth-hci-socket') || k.includes('noble/lib/hci-socket')) delete req.cache[k];
    }
    missing.add('@abandonware/bluetooth-hci-socket');
    const { createNobleSimRadio } = await import('../../../src/transport/noble-sim/index.js');
    const radio = createNobleSimRadio();
    try {
      expect(attempts).toContain('@abandonware/bluetooth-hci-socket');
      const got: number[] = [];
      radio.peripheral.on('connect', (l) => l.on('write', (_c, v) => got.push(v[0]!)));
      await radio.peripheral.advertise(new Uint8Array([1]));
      const link = await radio.central.connect(radio.peripheral.address.replace(/:/g, ''));
      await link.write('control', new Uint8Array([42]));
      expect(got).toEqual([42]);
      // the stub did not stay in the module cache
      const hci = req.resolve('@abandonware/noble/lib/hci-socket/hci.js');
      expect(req.cache[hci]).toBeUndefined();
    } finally {
      await radio.close();
    }
  });
});
