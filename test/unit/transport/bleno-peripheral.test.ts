/**
 * BlenoPeripheral against a scripted bleno object (bleno's own PrimaryService/Characteristic
 * classes, events emitted the way bleno's HCI bindings emit them). The full GATT path through
 * bleno's real GATT server is covered by test/integration/noble-sim-transport.test.ts.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { isPlushlinkError } from '../../../src/protocol/errors.js';
import { buildAdvertisingPayload, MAX_ADVERTISED_SERVICE_DATA } from '../../../src/transport/bleno/advertising.js';
import { BlenoPeripheral, type BlenoLike } from '../../../src/transport/bleno/peripheral.js';
import { CHARACTERISTIC_UUIDS, PLUSHLINK_SERVICE_UUID, compactUuid } from '../../../src/transport/gatt-layout.js';
import type { PeripheralLink } from '../../../src/transport/types.js';

const req = createRequire(import.meta.url);
const Characteristic = req('@abandonware/bleno/lib/characteristic.js');
const PrimaryService = req('@abandonware/bleno/lib/primary-service.js');
// noble's own advertising parser, to check the payload as a central reads it
const NobleGap = req('@abandonware/noble/lib/hci-socket/gap.js');

type Char = EventEmitter & { uuid: string; properties: string[] };

class FakeBleno extends EventEmitter {
  state = 'unknown';
  PrimaryService = PrimaryService;
  Characteristic = Characteristic;
  services: { uuid: string; characteristics: Char[] }[] = [];
  deviceNameDuringSetServices: string | undefined;
  adverts: [Buffer, Buffer][] = [];
  disconnects = 0;
  stops = 0;
  setServices(services: { uuid: string; characteristics: Char[] }[], cb?: (e?: Error | null) => void): void {
    this.services = services;
    this.deviceNameDuringSetServices = process.env.BLENO_DEVICE_NAME;
    setImmediate(() => cb?.(null));
  }
  startAdvertisingWithEIRData(a: Buffer, s: Buffer, cb?: (e?: Error | null) => void): void {
    this.adverts.push([a, s]);
    setImmediate(() => cb?.(null));
  }
  stopAdvertising(cb?: () => void): void {
    this.stops++;
    setImmediate(() => cb?.());
  }
  disconnect(): void {
    this.disconnects++;
  }
  char(name: keyof typeof CHARACTERISTIC_UUIDS): Char {
    const c = this.services[0]!.characteristics.find((x) => x.uuid === compactUuid(CHARACTERISTIC_UUIDS[name]));
    if (!c) throw new Error(`no ${name}`);
    return c;
  }
}

async function ready(opts: { indicationTimeoutMs?: number } = {}) {
  const bleno = new FakeBleno();
  const p = new BlenoPeripheral({ bleno: bleno as unknown as BlenoLike, ...opts });
  const adv = p.advertise(new Uint8Array([1, 2, 3]));
  setTimeout(() => {
    bleno.state = 'poweredOn';
    bleno.emit('stateChange', 'poweredOn');
  }, 5);
  await adv;
  const links: PeripheralLink[] = [];
  p.on('connect', (l) => links.push(l));
  return { bleno, p, links };
}

function write(c: Char, data: number[], offset = 0): Promise<number> {
  return new Promise((resolve) => c.emit('writeRequest', Buffer.from(data), offset, false, resolve));
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(isPlushlinkError(e)).toBe(true);
    return (e as { code: string }).code;
  }
  return 'resolved';
}

describe('advertising payload', () => {
  it('flags + 128-bit service data in the advertisement, the service UUID in the scan response, nothing else', () => {
    const { advertisement, scanResponse } = buildAdvertisingPayload(new Uint8Array([9, 8, 7]));
    expect(advertisement.length).toBeLessThanOrEqual(31);
    const gap = new NobleGap(new EventEmitter());
    const ad = gap.parseServices('aa:bb:cc:dd:ee:ff', advertisement, false, 0x00);
    gap._discoveries = { 'aa:bb:cc:dd:ee:ff': { advertisement: ad } };
    const full = gap.parseServices('aa:bb:cc:dd:ee:ff', scanResponse, true, 0x04);
    expect(full.serviceUuids).toEqual([compactUuid(PLUSHLINK_SERVICE_UUID)]);
    expect(full.serviceData).toEqual([{ uuid: compactUuid(PLUSHLINK_SERVICE_UUID), data: Buffer.from([9, 8, 7]) }]);
    expect(full.localName).toBeUndefined();
    expect(full.manufacturerData).toBeUndefined();
    expect(full.txPowerLevel).toBeUndefined();
    // AD types present: 0x01 flags, 0x21 service data; 0x07 UUID list in the scan response
    const types = (b: Buffer): number[] => {
      const out: number[] = [];
      for (let i = 0; i < b.length; i += b[i]! + 1) out.push(b[i + 1]!);
      return out;
    };
    expect(types(advertisement)).toEqual([0x01, 0x21]);
    expect(types(scanResponse)).toEqual([0x07]);
  });

  it(`service data over ${MAX_ADVERTISED_SERVICE_DATA} bytes does not fit and is refused`, () => {
    expect(buildAdvertisingPayload(new Uint8Array(MAX_ADVERTISED_SERVICE_DATA)).advertisement.length).toBe(31);
    expect(() => buildAdvertisingPayload(new Uint8Array(MAX_ADVERTISED_SERVICE_DATA + 1))).toThrow(/at most 10/);
  });
});

describe('BlenoPeripheral over bleno', () => {
  it('waits for poweredOn, sets the service layout with a neutral device name, advertises', async () => {
    const { bleno } = await ready();
    expect(bleno.deviceNameDuringSetServices).toBe('plushlink');
    expect(process.env.BLENO_DEVICE_NAME).toBeUndefined();
    expect(bleno.services).toHaveLength(1);
    expect(bleno.services[0]!.uuid).toBe(compactUuid(PLUSHLINK_SERVICE_UUID));
    expect(bleno.char('control').properties).toEqual(['write', 'indicate']);
    expect(bleno.char('speaker').properties).toEqual(['writeWithoutResponse']);
    expect(bleno.char('microphone').properties).toEqual(['notify']);
    expect(bleno.adverts[0]).toEqual(Object.values(buildAdvertisingPayload(new Uint8Array([1, 2, 3]))));
  });

  it('a connection becomes a link: writes, subscriptions, MTU, indications in order, notifications', async () => {
    const { bleno, links } = await ready();
    bleno.emit('accept', '11:22:33:44:55:66');
    expect(links).toHaveLength(1);
    const link = links[0]!;
    expect(link.id).toBe('11:22:33:44:55:66');
    expect(link.mtu).toBe(23);
    bleno.emit('mtuChange', 185);
    expect(link.mtu).toBe(185);
    const events: string[] = [];
    link.on('write', (c, v) => events.push(`write ${c} ${[...v]}`));
    link.on('subscribe', (c) => events.push(`sub ${c}`));
    link.on('unsubscribe', (c) => events.push(`unsub ${c}`));
    expect(await write(bleno.char('control'), [1, 2])).toBe(0);
    expect(await write(bleno.char('speaker'), [3])).toBe(0);
    expect(await write(bleno.char('speaker'), [3], 5)).toBe(0x07); // offsets are refused
    expect(await write(bleno.char('control'), new Array(183).fill(0))).toBe(0x0d); // > mtu − 3
    expect(await code(link.send('control', new Uint8Array([1])))).toBe('NOT_SUBSCRIBED');
    const sent: string[] = [];
    bleno.char('control').emit('subscribe', 182, (d: Buffer) => sent.push(`ind ${[...d]}`));
    bleno.char('microphone').emit('subscribe', 182, (d: Buffer) => sent.push(`notify ${[...d]}`));
    const a = link.send('control', new Uint8Array([10]));
    const b = link.send('control', new Uint8Array([11]));
    await link.send('microphone', new Uint8Array([20]));
    // the second indication waits for the first confirmation
    expect(sent).toEqual(['ind 10', 'notify 20']);
    bleno.char('control').emit('indicate');
    await a;
    await new Promise((r) => setImmediate(r));
    expect(sent).toEqual(['ind 10', 'notify 20', 'ind 11']);
    bleno.char('control').emit('indicate');
    await b;
    expect(await code(link.send('microphone', new Uint8Array(183)))).toBe('BAD_FRAME');
    bleno.char('microphone').emit('unsubscribe');
    expect(await code(link.send('microphone', new Uint8Array([1])))).toBe('NOT_SUBSCRIBED');
    expect(events).toEqual(['write control 1,2', 'write speaker 3', 'sub control', 'sub microphone', 'unsub microphone']);
  });

  it('disconnects: pending indications reject, a new central gets a new link, close detaches', async () => {
    const { bleno, links, p } = await ready({ indicationTimeoutMs: 50 });
    bleno.emit('accept', 'aa');
    const l1 = links[0]!;
    bleno.char('control').emit('subscribe', 20, () => undefined);
    const pending = l1.send('control', new Uint8Array([1]));
    const reasons: string[] = [];
    l1.on('disconnect', (r) => reasons.push(r));
    bleno.emit('disconnect', 'aa');
    expect(await code(pending)).toBe('DISCONNECTED');
    expect(reasons).toEqual(['remote']);
    expect(l1.connected).toBe(false);
    // writes after the link ended are refused by the service
    expect(await write(bleno.char('control'), [1])).toBe(0x0e);

    bleno.emit('accept', 'bb');
    const l2 = links[1]!;
    bleno.char('control').emit('subscribe', 20, () => undefined);
    // no confirmation: TIMEOUT and the link is dropped
    expect(await code(l2.send('control', new Uint8Array([1])))).toBe('TIMEOUT');
    expect(bleno.disconnects).toBe(1);
    expect(l2.connected).toBe(false);
    l2.disconnect(); // idempotent
    expect(bleno.disconnects).toBe(1);

    const before = bleno.eventNames().map((e) => [e, bleno.listenerCount(e)]);
    expect(before.length).toBeGreaterThan(0);
    await p.close();
    expect(bleno.stops).toBe(1);
    expect(bleno.listenerCount('accept') + bleno.listenerCount('disconnect') + bleno.listenerCount('mtuChange')).toBe(0);
    expect(await code(p.advertise(new Uint8Array([1])))).toBe('DISCONNECTED');
  });

  it('an adapter that never powers on gives TRANSPORT_UNAVAILABLE', async () => {
    const bleno = new FakeBleno();
    const p = new BlenoPeripheral({ bleno: bleno as unknown as BlenoLike, poweredOnTimeoutMs: 30 });
    expect(await code(p.advertise(new Uint8Array([1])))).toBe('TRANSPORT_UNAVAILABLE');
  });
});
