/**
 * Address rotation of the bleno peripheral (PROTOCOL.md §12 "Address"), without hardware.
 *
 * The adapter runs over the real `@abandonware/bleno` 0.6 (lib/bleno.js and its HCI-socket
 * bindings, Hci, Gap and GATT code, loaded fresh for each test) whose native HCI socket is replaced
 * by a fake controller. The fake controller answers every command with Command Complete and keeps
 * the state that matters here the way the Core spec says a controller does: LE Set Random Address
 * and LE Set Advertising Parameters are refused (Command Disallowed) while advertising is enabled,
 * enabling with own-address type random needs a random address, an HCI reset forgets the random
 * address, and a connection stops advertising. It records what goes on the air (address and
 * advertising data at each advertising start or data change).
 */
import { EventEmitter } from 'node:events';
import { Module, createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  generateNonResolvablePrivateAddress,
  isNonResolvablePrivateAddress,
  leSetAdvertisingParametersCommand,
  leSetRandomAddressCommand,
} from '../../../src/transport/bleno/address.js';
import { buildAdvertisingPayload } from '../../../src/transport/bleno/advertising.js';
import { BlenoPeripheral, type BlenoLike } from '../../../src/transport/bleno/peripheral.js';
import type { PeripheralLink } from '../../../src/transport/types.js';
import { expectAddressMovesWithData, rotations } from '../../helpers/address-rotation.js';

const req = createRequire(import.meta.url);
const blenoLib = join(dirname(req.resolve('@abandonware/bleno/package.json')), 'lib');
const hciPath = join(blenoLib, 'hci-socket', 'hci.js');
const socketPath = createRequire(hciPath).resolve('@abandonware/bluetooth-hci-socket');

const PUBLIC_ADDRESS = '00:1a:7d:da:71:13';
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const leHex = (address: string): string => address.split(':').reverse().join('');
const msbText = (hciBytes: Uint8Array): string => [...hciBytes].reverse().map((b) => b.toString(16).padStart(2, '0')).join(':');

interface OnAir {
  address: string;
  type: 'public' | 'random';
  data: string;
}

/** The fake controller behind bleno's HCI socket (one instance per `new BluetoothHciSocket()`). */
class FakeController extends EventEmitter {
  writes: Buffer[] = [];
  advertising = false;
  randomAddress: Buffer | undefined;
  ownAddressType = 0;
  advData = Buffer.alloc(0);
  connected = false;
  air: OnAir[] = [];
  /** opcode → HCI status to answer the next such command with (instead of executing it). */
  refuse = new Map<number, number>();
  statuses: [number, number][] = [];

  bindRaw(): number {
    return 0;
  }
  bindUser(): number {
    return 0;
  }
  bindControl(): void {}
  start(): void {}
  stop(): void {}
  isDevUp(): boolean {
    return true;
  }
  setFilter(): void {}

  /** HCI commands written since `mark`, as hex. */
  commandsSince(mark: number): string[] {
    return this.writes.slice(mark).filter((w) => w[0] === 0x01).map(hex);
  }

  write(pkt: Buffer): void {
    this.writes.push(Buffer.from(pkt));
    if (pkt[0] !== 0x01) return; // ACL data: not modelled
    const opcode = pkt.readUInt16LE(1);
    const params = pkt.subarray(4, 4 + pkt[3]!);
    let status = 0;
    let result: number[] = [];
    const forced = this.refuse.get(opcode);
    if (forced !== undefined) {
      this.refuse.delete(opcode);
      status = forced;
    } else {
      switch (opcode) {
        case 0x0c03: // Reset
          this.advertising = false;
          this.randomAddress = undefined;
          this.ownAddressType = 0;
          break;
        case 0x1001: // Read Local Version: HCI 5.0
          result = [0x09, 0x00, 0x00, 0x09, 0x0a, 0x00, 0x00, 0x00];
          break;
        case 0x1009: // Read BD_ADDR
          result = [...Buffer.from(leHex(PUBLIC_ADDRESS), 'hex')];
          break;
        case 0x0c6c: // Read LE Host Supported
          result = [0x01, 0x00];
          break;
        case 0x2002: // LE Read Buffer Size
          result = [27, 0, 8];
          break;
        case 0x2005: // LE Set Random Address
          if (this.advertising) status = 0x0c;
          else this.randomAddress = Buffer.from(params);
          break;
        case 0x2006: // LE Set Advertising Parameters
          if (this.advertising) status = 0x0c;
          else this.ownAddressType = params[5]!;
          break;
        case 0x2008: // LE Set Advertising Data
          this.advData = Buffer.from(params.subarray(1, 1 + params[0]!));
          if (this.advertising) this.#onAir();
          break;
        case 0x200a: // LE Set Advertise Enable
          if (params[0] === 0x01) {
            if (this.ownAddressType === 1 && !this.randomAddress) status = 0x12;
            else {
              this.advertising = true;
              this.#onAir();
            }
          } else this.advertising = false;
          break;
      }
    }
    this.statuses.push([opcode, status]);
    const evt = Buffer.from([0x04, 0x0e, 4 + result.length, 0x01, opcode & 0xff, opcode >> 8, status, ...result]);
    setImmediate(() => this.emit('data', evt));
  }

  #onAir(): void {
    const random = this.ownAddressType === 1;
    const entry: OnAir = {
      address: random ? msbText(this.randomAddress!) : PUBLIC_ADDRESS,
      type: random ? 'random' : 'public',
      data: hex(this.advData),
    };
    const last = this.air.at(-1);
    if (!last || last.address !== entry.address || last.data !== entry.data) this.air.push(entry);
  }

  /** A central connects (LE Connection Complete, role peripheral); the controller stops advertising. */
  connectCentral(handle = 0x0040, peer = '4a:11:22:33:44:55'): void {
    this.advertising = false;
    this.connected = true;
    const evt = Buffer.alloc(22);
    evt.set([0x04, 0x3e, 19, 0x01, 0x00], 0);
    evt.writeUInt16LE(handle, 5);
    evt.writeUInt8(0x01, 7); // role: peripheral
    evt.writeUInt8(0x01, 8); // peer address type: random
    Buffer.from(leHex(peer), 'hex').copy(evt, 9);
    evt.writeUInt16LE(24, 15);
    evt.writeUInt16LE(0, 17);
    evt.writeUInt16LE(500, 19);
    this.emit('data', evt);
  }

  /** The central leaves (Disconnection Complete, remote user terminated). */
  disconnectCentral(handle = 0x0040): void {
    this.connected = false;
    this.emit('data', Buffer.from([0x04, 0x05, 0x04, 0x00, handle & 0xff, handle >> 8, 0x13]));
  }
}

interface RealBleno extends BlenoLike {
  _bindings: { _hci: { _socket: FakeController; setAdvertisingParameters(): void; setAdvertiseEnable(on: boolean): void; reset(): void; emit(e: string, ...a: unknown[]): boolean; address: string; addressType: string } };
  address: string;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/**
 * Loads bleno's lib/bleno.js fresh with `@abandonware/bluetooth-hci-socket` replaced by
 * {@link FakeController}, then puts the require cache back as it was.
 */
function loadBlenoOverFakeController(): { bleno: RealBleno; HciClass: { prototype: { setAdvertisingParameters(this: unknown): void } } } {
  const saved = new Map<string, NodeJS.Module>();
  const ours = (k: string): boolean => k.startsWith(blenoLib + sep) || k === socketPath;
  for (const k of Object.keys(req.cache)) {
    if (ours(k)) {
      saved.set(k, req.cache[k]!);
      delete req.cache[k];
    }
  }
  const stub = new Module(socketPath);
  stub.filename = socketPath;
  stub.loaded = true;
  stub.exports = FakeController;
  req.cache[socketPath] = stub;
  const exitBefore = new Set(process.listeners('exit'));
  const sigintBefore = new Set(process.listeners('SIGINT'));
  try {
    const Bleno = req(join(blenoLib, 'bleno.js')) as new () => RealBleno;
    const HciClass = req(hciPath);
    const bleno = new Bleno();
    cleanups.push(() => {
      for (const l of process.listeners('exit')) if (!exitBefore.has(l)) process.removeListener('exit', l);
      for (const l of process.listeners('SIGINT')) if (!sigintBefore.has(l)) process.removeListener('SIGINT', l);
    });
    return { bleno, HciClass };
  } finally {
    for (const k of Object.keys(req.cache)) if (ours(k)) delete req.cache[k];
    for (const [k, m] of saved) req.cache[k] = m;
  }
}

async function settle(rounds = 30): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** bleno powered on over a fake controller (HCI user channel: no device polling timer). */
async function poweredBleno() {
  const { bleno, HciClass } = loadBlenoOverFakeController();
  const prev = process.env.HCI_CHANNEL_USER;
  process.env.HCI_CHANNEL_USER = '1';
  const on = new Promise<void>((resolve) => {
    const f = (s: string): void => {
      if (s === 'poweredOn') {
        bleno.removeListener('stateChange', f);
        resolve();
      }
    };
    bleno.on('stateChange', f); // makes bleno initialise its bindings
  });
  if (prev === undefined) delete process.env.HCI_CHANNEL_USER;
  else process.env.HCI_CHANNEL_USER = prev;
  await on;
  const hci = bleno._bindings._hci;
  return { bleno, hci, ctrl: hci._socket, HciClass };
}

const tag = (n: number): Uint8Array => new Uint8Array([0x01, n, n, n, n, n, n, n, n, n]);
const advHex = (serviceData: Uint8Array): string => hex(buildAdvertisingPayload(serviceData).advertisement);

async function toyOnRealBleno(options: { privateAddress?: boolean } = {}) {
  const rig = await poweredBleno();
  const p = new BlenoPeripheral({ bleno: rig.bleno, operationTimeoutMs: 1000, ...options });
  cleanups.push(() => void p.close());
  const links: PeripheralLink[] = [];
  p.on('connect', (l) => links.push(l));
  return { ...rig, p, links };
}

// Expected HCI commands (hex): type 01, opcode LE, length, parameters.
const ENABLE_OFF = '010a200100';
const ENABLE_ON = '010a200101';
const setRandom = (address: string): string => `01052006${leHex(address)}`;
// 100 ms = 160 × 0.625 ms (0x00a0) min and max, ADV_IND, own type, direct type 0, direct address 0, channels 0x07, filter 0
const params = (ownType: number, interval = 'a000'): string =>
  `0106200f${interval}${interval}00${ownType.toString(16).padStart(2, '0')}00${'00'.repeat(6)}0700`;

describe('non-resolvable private addresses', () => {
  it('draws 46 random bits with the two most significant bits 0b00, never all 0 / all 1 / an avoided address', () => {
    const draws = [
      [0x00, 0, 0, 0, 0, 0], // random part all 0
      [0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // 0x3f ff ff ff ff ff: random part all 1
      [0xc1, 0x02, 0x03, 0x04, 0x05, 0x06], // → 01:02:03:04:05:06, avoided below
      [0xfa, 0xbb, 0xcc, 0xdd, 0xee, 0x0f], // → 3a:bb:cc:dd:ee:0f
    ];
    const random = (n: number): Uint8Array => {
      expect(n).toBe(6);
      return Uint8Array.from(draws.shift()!);
    };
    const a = generateNonResolvablePrivateAddress(['01:02:03:04:05:06'], random);
    expect(a.text).toBe('3a:bb:cc:dd:ee:0f');
    expect(hex(a.hci)).toBe('0feeddccbb3a'); // HCI order: least significant byte first
    expect(hex(leSetRandomAddressCommand(a.hci))).toBe('010520060feeddccbb3a');
    expect(draws).toHaveLength(0);
  });

  it('from the CSPRNG: valid and different every time', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const a = generateNonResolvablePrivateAddress();
      expect(isNonResolvablePrivateAddress(a.text)).toBe(true);
      expect(msbText(a.hci)).toBe(a.text);
      seen.add(a.text);
    }
    expect(seen.size).toBe(500);
    expect(isNonResolvablePrivateAddress('00:00:00:00:00:00')).toBe(false);
    expect(isNonResolvablePrivateAddress('3f:ff:ff:ff:ff:ff')).toBe(false);
    expect(isNonResolvablePrivateAddress('40:12:34:56:78:9a')).toBe(false); // resolvable (0b01)
    expect(isNonResolvablePrivateAddress('c0:12:34:56:78:9a')).toBe(false); // static (0b11)
    expect(isNonResolvablePrivateAddress('3f:ff:ff:ff:ff:fe')).toBe(true);
  });
});

describe.skipIf(process.platform !== 'linux')('BlenoPeripheral address rotation over real bleno 0.6 HCI code', () => {
  it('advertising parameters: the same fields as bleno writes, own-address type random; BLENO_ADVERTISING_INTERVAL is honoured', async () => {
    const { HciClass } = loadBlenoOverFakeController();
    let blenos: Buffer | undefined;
    HciClass.prototype.setAdvertisingParameters.call({ _socket: { write: (b: Buffer) => (blenos = b) } });
    expect(hex(leSetAdvertisingParametersCommand(0))).toBe(hex(blenos!));
    expect(hex(leSetAdvertisingParametersCommand(1))).toBe(params(1));
    const ours = leSetAdvertisingParametersCommand(1);
    expect([...ours].map((b, i) => (b === blenos![i] ? '.' : i)).filter((x) => x !== '.')).toEqual([9]);
    // 40 ms = 64 × 0.625 ms
    expect(hex(leSetAdvertisingParametersCommand(1, { BLENO_ADVERTISING_INTERVAL: '40' }))).toBe(params(1, '4000'));
  });

  it('advertises from a fresh NRPA from the start, rotates with exact HCI commands, never puts a new address on the air with the old tag', async () => {
    const { p, ctrl, hci, bleno, links } = await toyOnRealBleno();
    await p.advertise(tag(1));
    expect(p.addressRotation).toBe('random');
    const first = p.address!;
    expect(isNonResolvablePrivateAddress(first)).toBe(true);
    expect(hci.address).toBe(first);
    expect(hci.addressType).toBe('random');

    const addresses = [first];
    for (const n of [2, 3, 4]) {
      const mark = ctrl.writes.length;
      const next = await p.rotateAddress();
      expect(isNonResolvablePrivateAddress(next)).toBe(true);
      expect(addresses).not.toContain(next);
      addresses.push(next);
      expect(p.address).toBe(next);
      // advertising off (bleno's stopAdvertising), LE Set Random Address, parameters with own-address type random
      expect(ctrl.commandsSince(mark)).toEqual([ENABLE_OFF, setRandom(next), params(1)]);
      await settle();
      expect(ctrl.advertising).toBe(false); // off until the new tag is set
      const mark2 = ctrl.writes.length;
      await p.advertise(tag(n));
      expect(ctrl.commandsSince(mark2)).toContain(ENABLE_ON);
      expect(ctrl.advertising).toBe(true);
    }
    await settle();
    expect(ctrl.statuses.filter(([, s]) => s !== 0)).toEqual([]); // the controller accepted every command
    expect(ctrl.air).toEqual(
      [1, 2, 3, 4].map((n, i) => ({ address: addresses[i], type: 'random', data: advHex(tag(n)) })),
    );
    expect(ctrl.air.some((a) => a.address === PUBLIC_ADDRESS)).toBe(false);
    expect(p.addressRotation).toBe('random');

    // a central connects to the random address: bleno accepts it as usual, its SMP code gets the random local address
    ctrl.connectCentral();
    expect(links).toHaveLength(1);
    expect(links[0]!.connected).toBe(true);
    const smp = (bleno._bindings as unknown as { _aclStream: { _smp: { _rat: Buffer; _ra: Buffer } } })._aclStream._smp;
    expect(hex(smp._rat)).toBe('01');
    expect(msbText(smp._ra)).toBe(addresses.at(-1));
  });

  it("bleno's own later setAdvertisingParameters (adapter re-initialised, controller reset) keeps own-address type random", async () => {
    const { p, ctrl, hci, bleno } = await toyOnRealBleno();
    await p.advertise(tag(1));
    const addr = await p.rotateAddress();
    await p.advertise(tag(2));
    await settle();

    let mark = ctrl.writes.length;
    // as bleno calls it (Hci#processCmdCompleteEvent, Read Local Version): advertising off, then the parameters
    hci.setAdvertiseEnable(false);
    hci.setAdvertisingParameters();
    expect(ctrl.commandsSince(mark)).toEqual([ENABLE_OFF, setRandom(addr), params(1)]);
    await settle(); // (its Command Complete reports poweredOn)

    // hciconfig down/up: bleno sees poweredOff, the controller is reset, bleno re-initialises and
    // writes advertise-enable off + its advertising parameters again.
    hci.emit('stateChange', 'poweredOff');
    mark = ctrl.writes.length;
    hci.reset();
    await settle();
    expect(bleno.state).toBe('poweredOn');
    const cmds = ctrl.commandsSince(mark);
    expect(cmds).not.toContain(params(0));
    expect(cmds.slice(cmds.indexOf(ENABLE_OFF))).toEqual([ENABLE_OFF, setRandom(addr), params(1)]);
    expect(ctrl.ownAddressType).toBe(1);
    expect(msbText(ctrl.randomAddress!)).toBe(addr);
    expect(hci.address).toBe(addr); // bleno re-read the public address; new connections are to the random one
    expect(hci.addressType).toBe('random');
    await p.advertise(tag(3));
    await settle();
    expect(ctrl.air.at(-1)).toEqual({ address: addr, type: 'random', data: advHex(tag(3)) });
    expect(ctrl.statuses.filter(([, s]) => s !== 0)).toEqual([]);
  });

  it('a connected central keeps its link; when it leaves, bleno does not restart advertising on the new address with the old data, but waits for the new data', async () => {
    const { p, ctrl, links } = await toyOnRealBleno();
    await p.advertise(tag(1));
    const before = p.address!;
    ctrl.connectCentral();
    expect(links).toHaveLength(1);
    const link = links[0]!;
    expect(link.connected).toBe(true);

    const mark = ctrl.writes.length;
    const next = await p.rotateAddress();
    expect(next).not.toBe(before);
    expect(p.address).toBe(next);
    expect(ctrl.commandsSince(mark)).toEqual([]); // nothing touches the controller during the connection
    expect(link.connected).toBe(true);
    expect(msbText(ctrl.randomAddress!)).toBe(before);

    ctrl.disconnectCentral();
    await settle();
    expect(link.connected).toBe(false);
    // bleno's restartAdvertising (setAdvertiseEnable(true)) is held back: nothing goes on the air
    expect(ctrl.commandsSince(mark)).toEqual([]);
    expect(ctrl.advertising).toBe(false);
    expect(ctrl.air.at(-1)).toEqual({ address: before, type: 'random', data: advHex(tag(1)) });

    await p.advertise(tag(2));
    await settle();
    const cmds = ctrl.commandsSince(mark);
    expect(cmds.slice(0, 3)).toEqual([ENABLE_OFF, setRandom(next), params(1)]);
    expect(cmds).toContain(ENABLE_ON);
    expect(ctrl.air.at(-1)).toEqual({ address: next, type: 'random', data: advHex(tag(2)) });
    expect(ctrl.air.filter((a) => a.address === next).map((a) => a.data)).toEqual([advHex(tag(2))]);
    expect(ctrl.statuses.filter(([, s]) => s !== 0)).toEqual([]);
  });

  it('the reference toy over real bleno: every advertising start and data change links no two addresses (unowned and owned toy)', async () => {
    const unowned = await toyOnRealBleno();
    const owned = await toyOnRealBleno();
    // The toy's ticks and the fake controller's events run on fake timers: no step depends on speed.
    vi.useFakeTimers();
    try {
      const step = () => vi.advanceTimersByTimeAsync(50);
      await rotations(unowned.p, step, false);
      await rotations(owned.p, step, true);
    } finally {
      vi.useRealTimers();
    }
    let addresses = 0;
    for (const { ctrl } of [unowned, owned]) {
      addresses += expectAddressMovesWithData(ctrl.air.map((a) => ({ address: a.address, data: a.data })));
      expect(ctrl.air.some((a) => a.address === PUBLIC_ADDRESS)).toBe(false);
      expect(ctrl.statuses.filter(([, s]) => s !== 0)).toEqual([]);
    }
    expect(addresses).toBeGreaterThanOrEqual(2 * 12 + 4 * 2 + 1);
  });

  it('a rotation during a connection takes effect at the next advertise() (the new tag), the link is kept', async () => {
    const { p, ctrl, links } = await toyOnRealBleno();
    await p.advertise(tag(1));
    ctrl.connectCentral();
    const link = links[0]!;
    const mark = ctrl.writes.length;
    const next = await p.rotateAddress();
    expect(ctrl.commandsSince(mark)).toEqual([]);
    await p.advertise(tag(2));
    await settle();
    const cmds = ctrl.commandsSince(mark);
    expect(cmds.slice(0, 3)).toEqual([ENABLE_OFF, setRandom(next), params(1)]);
    expect(cmds).toContain(ENABLE_ON);
    expect(cmds.some((c) => c.startsWith('010604'))).toBe(false); // no HCI Disconnect
    expect(link.connected).toBe(true);
    expect(ctrl.air.at(-1)).toEqual({ address: next, type: 'random', data: advHex(tag(2)) });
    expect(ctrl.air.filter((a) => a.address === next).map((a) => a.data)).toEqual([advHex(tag(2))]);
  });

  it('privateAddress: false starts on the public address; the first rotation leaves it', async () => {
    const { p, ctrl } = await toyOnRealBleno({ privateAddress: false });
    await p.advertise(tag(1));
    expect(p.addressRotation).toBe('public');
    expect(p.address).toBeUndefined();
    const next = await p.rotateAddress();
    await p.advertise(tag(2));
    await settle();
    expect(ctrl.air).toEqual([
      { address: PUBLIC_ADDRESS, type: 'public', data: advHex(tag(1)) },
      { address: next, type: 'random', data: advHex(tag(2)) },
    ]);
  });

  it('a controller that refuses LE Set Random Address gives addressRotation "failed", no crash; the next rotation tries again', async () => {
    const { p, ctrl } = await toyOnRealBleno();
    await p.advertise(tag(1));
    ctrl.refuse.set(0x2005, 0x0c);
    await p.rotateAddress();
    await settle();
    expect(p.addressRotation).toBe('failed');
    await p.advertise(tag(2)); // still advertises (from the previous random address)
    const next = await p.rotateAddress();
    await p.advertise(tag(3));
    await settle();
    expect(p.addressRotation).toBe('random');
    expect(ctrl.air.at(-1)).toEqual({ address: next, type: 'random', data: advHex(tag(3)) });
  });

  it('close() removes the patches from bleno\'s Hci instance', async () => {
    const { p, hci, HciClass } = await toyOnRealBleno();
    await p.advertise(tag(1));
    expect(Object.prototype.hasOwnProperty.call(hci, 'setAdvertisingParameters')).toBe(true);
    await p.close();
    for (const m of ['setAdvertisingParameters', 'setAdvertiseEnable', 'processCmdCompleteEvent']) {
      expect(Object.prototype.hasOwnProperty.call(hci, m)).toBe(false);
    }
    expect(Object.getPrototypeOf(hci)).toBe(HciClass.prototype);
  });
});

describe('fail soft when bleno is not as expected', () => {
  class MinimalBleno extends EventEmitter {
    state = 'poweredOn';
    address = '00:11:22:33:44:55';
    PrimaryService = class {};
    Characteristic = class {};
    adverts = 0;
    constructor(readonly _bindings?: unknown) {
      super();
    }
    setServices(_s: unknown[], cb?: (e?: Error | null) => void): void {
      setImmediate(() => cb?.(null));
    }
    startAdvertisingWithEIRData(_a: Buffer, _s: Buffer, cb?: (e?: Error | null) => void): void {
      this.adverts++;
      setImmediate(() => cb?.(null));
    }
    stopAdvertising(cb?: () => void): void {
      setImmediate(() => cb?.());
    }
    disconnect(): void {}
  }

  for (const [what, bindings] of [
    ['no _bindings (e.g. another bleno version)', undefined],
    ['bindings without _hci (e.g. the macOS bindings)', {}],
    ['an Hci without a socket', { _hci: { setAdvertisingParameters() {}, setAdvertiseEnable() {} } }],
  ] as const) {
    it(`${what}: addressRotation "unsupported", rotateAddress resolves with bleno's address, advertising works`, async () => {
      const bleno = new MinimalBleno(bindings);
      const p = new BlenoPeripheral({ bleno: bleno as unknown as BlenoLike });
      await p.advertise(tag(1));
      expect(p.addressRotation).toBe('unsupported');
      await expect(p.rotateAddress()).resolves.toBe('00:11:22:33:44:55');
      await p.advertise(tag(2));
      expect(bleno.adverts).toBe(2);
      expect(p.address).toBeUndefined();
    });
  }

  it('an adapter that never powers on: rotateAddress resolves (the following advertise reports the failure)', async () => {
    const bleno = new MinimalBleno();
    bleno.state = 'unknown';
    const p = new BlenoPeripheral({ bleno: bleno as unknown as BlenoLike, poweredOnTimeoutMs: 20 });
    await expect(p.rotateAddress()).resolves.toBe('');
    await expect(p.advertise(tag(1))).rejects.toMatchObject({ code: 'TRANSPORT_UNAVAILABLE' });
  });
});
