/**
 * noble-sim: real noble and real bleno GATT code, in-process, with no Bluetooth hardware.
 *
 * - Central: a real {@link NobleCentral} over a real noble (`@abandonware/noble/with-bindings`)
 *   whose bindings are noble's own HCI bindings (`lib/hci-socket/bindings.js`) and GAP
 *   (`lib/hci-socket/gap.js`), driven by a fake HCI controller. noble's ATT client runs unchanged:
 *   MTU exchange, discovery, CCCD writes, writes with and without response, notifications,
 *   indications and their confirmations. Advertising PDUs are parsed by noble's own GAP.
 * - Peripheral: bleno's own GATT server (`lib/hci-socket/gatt.js`, `setAclStream`) serving the
 *   plushlink service built with bleno's own classes, one server per connection.
 * - Between them: an ACL loopback with one-way latency, MTU limits on both sides, a packet hook
 *   (drop, or drop the link at any chosen PDU) and disconnect injection.
 *
 * Everything the rig starts is stopped by {@link NobleSimRadio.close}: timers, and the SIGINT/exit
 * handlers noble's HCI bindings install.
 */
import { EventEmitter as NodeEventEmitter } from 'node:events';
import Module, { createRequire } from 'node:module';
import { NobleCentral, type NobleCentralOptions, type NobleLike } from '../noble/central.js';
import { requireOptional } from '../noble/optional-require.js';
import { HCI_REASON, SimAir, SimCentralHci, type SimAdvertisingEvent, type SimPacket, type SimPacketVerdict, type SimStats } from './air.js';
import { SimBlenoPeripheral } from './peripheral.js';
import { generateNonResolvablePrivateAddress } from '../bleno/address.js';

export { HCI_REASON, SimAir, SimCentralHci, SimBlenoPeripheral };
export type { SimAdvertisingEvent, SimPacket, SimPacketVerdict, SimStats };

/** Options of {@link createNobleSimRadio}. */
export interface NobleSimOptions {
  /** One-way latency of every PDU in ms. Default 0 (delivered on the next macrotask). */
  latencyMs?: number;
  /**
   * The ATT MTU the central asks for. Default 256, what noble 1.9.2-26 always asks for; other
   * values are modelled by rewriting noble's MTU request in the fake controller.
   */
  centralMaxMtu?: number;
  /** bleno's `maxMtu`. Default 256 (bleno's default). */
  peripheralMaxMtu?: number;
  /** Centrals a peripheral accepts at once. Default unlimited; 1 models real bleno. */
  maxConnections?: number;
  /** Advertising interval in ms. Default 20. */
  advertisingIntervalMs?: number;
  /** RSSI reported in advertisements. Default −50. */
  rssi?: number;
  /** Sees every PDU before it crosses; return `drop` or `disconnect` to inject faults. */
  onPacket?: (packet: SimPacket) => SimPacketVerdict | void;
  /** Timeouts of the {@link NobleCentral}s the rig creates. */
  central?: Omit<NobleCentralOptions, 'noble'>;
  /** Indication confirmation timeout of the peripheral links. Default 10 000 ms. */
  indicationTimeoutMs?: number;
}

/** The rig. */
export interface NobleSimRadio {
  /** A real NobleCentral over simulated noble (the first central). */
  readonly central: NobleCentral;
  /** The toy side: bleno's GATT server on the air (the first peripheral). */
  readonly peripheral: SimBlenoPeripheral;
  /** The air: stats, links, packet hook (`air.onPacket` may be replaced at any time). */
  readonly air: SimAir;
  /** Another central with its own noble and address (e.g. a stranger's phone). */
  createCentral(options?: Omit<NobleCentralOptions, 'noble'>): NobleCentral;
  /** Another peripheral with its own address. */
  createPeripheral(): SimBlenoPeripheral;
  /** Live links. */
  links(): { handle: number; centralAddress: string; peripheralAddress: string }[];
  /** Injects a link loss (default: supervision timeout) on every live link; in-flight PDUs are lost. */
  disconnectAll(reason?: number): void;
  /** Injects a link loss on one link. */
  disconnect(handle: number, reason?: number): void;
  /** Closes every central and peripheral, stops every timer and removes noble's process handlers. */
  close(): Promise<void>;
}

type NobleBindingsCtor = { prototype: object };
type GapCtor = new (hci: SimCentralHci) => object;

/**
 * A fresh non-resolvable private address from the CSPRNG for every simulated device, as a
 * privacy-respecting stack would use: nothing on the simulated air is predictable from an
 * earlier address (PROTOCOL.md §12 "Address").
 */
function freshAddress(used: Set<string>): string {
  const a = generateNonResolvablePrivateAddress([...used]).text;
  used.add(a);
  return a;
}

/**
 * Loads noble's HCI bindings module. It requires `./hci.js`, which requires the native
 * `@abandonware/bluetooth-hci-socket` addon at load time; the rig never uses that class, so when
 * the addon is missing or did not build (no compiler on the machine), `./hci.js` is stubbed for
 * this one load and both cache entries are removed again, so a later real noble load is unaffected.
 */
function loadNobleHciBindings(): NobleBindingsCtor {
  const pkg = '@abandonware/noble';
  try {
    return requireOptional<NobleBindingsCtor>(pkg, `${pkg}/lib/hci-socket/bindings.js`);
  } catch (e) {
    const req = createRequire(import.meta.url);
    let hciPath: string;
    let bindingsPath: string;
    let status: unknown;
    try {
      hciPath = req.resolve(`${pkg}/lib/hci-socket/hci.js`);
      bindingsPath = req.resolve(`${pkg}/lib/hci-socket/bindings.js`);
      status = req(`${pkg}/lib/hci-socket/hci-status.json`);
    } catch {
      throw e; // noble itself is missing: TRANSPORT_UNAVAILABLE naming it
    }
    const StubHci = Object.assign(
      function StubHci(): never {
        throw new Error('noble-sim never opens a real HCI socket');
      },
      { STATUS_MAPPER: status },
    );
    const stub = new Module(hciPath);
    stub.filename = hciPath;
    stub.loaded = true;
    stub.exports = StubHci;
    req.cache[hciPath] = stub;
    delete req.cache[bindingsPath];
    try {
      return req(bindingsPath) as NobleBindingsCtor;
    } finally {
      delete req.cache[hciPath];
      delete req.cache[bindingsPath];
    }
  }
}

/**
 * Builds a noble instance whose bindings are noble's own HCI bindings over `hci`. The bindings'
 * constructor (which opens a real HCI socket) is bypassed: its fields are set as it would set
 * them (noble 1.9.2-26), with the fake controller and noble's own GAP in place of the real ones.
 */
function createSimNoble(hci: SimCentralHci, cleanups: (() => void)[]): NobleLike {
  const pkg = '@abandonware/noble';
  const NobleBindings = loadNobleHciBindings();
  const Gap = requireOptional<GapCtor>(pkg, `${pkg}/lib/hci-socket/gap.js`);
  const withBindings = requireOptional<(bindings: unknown) => NobleLike>(pkg, `${pkg}/with-bindings`);

  const bindings = Object.create(NobleBindings.prototype) as NodeEventEmitter & Record<string, unknown>;
  (NodeEventEmitter as unknown as (this: unknown) => void).call(bindings);
  Object.assign(bindings, {
    _state: null,
    _addresses: {},
    _addresseTypes: {},
    _connectable: {},
    _isExtended: false,
    scannable: {},
    _pendingConnectionUuid: null,
    _connectionQueue: [],
    _handles: {},
    _gatts: {},
    _aclStreams: {},
    _signalings: {},
    _hci: hci,
    _gap: new Gap(hci),
  });
  const init = bindings.init as (this: unknown) => void;
  bindings.init = function simInit(this: unknown): void {
    const before = { SIGINT: new Set<unknown>(process.listeners('SIGINT')), exit: new Set<unknown>(process.listeners('exit')) };
    init.call(this);
    // noble's HCI bindings install process handlers (SIGINT → exit, exit → disconnect all): remove them on close.
    for (const ev of ['SIGINT', 'exit'] as const) {
      const now: ((...a: any[]) => void)[] = ev === 'SIGINT' ? process.listeners('SIGINT') : process.listeners('exit');
      for (const fn of now) {
        if (!before[ev].has(fn)) cleanups.push(() => process.removeListener(ev, fn));
      }
    }
  };
  return withBindings(bindings);
}

/** Creates the noble-sim rig. Synchronous; nothing runs until a central scans or connects. */
export function createNobleSimRadio(options: NobleSimOptions = {}): NobleSimRadio {
  const air = new SimAir({
    latencyMs: options.latencyMs,
    advertisingIntervalMs: options.advertisingIntervalMs,
    rssi: options.rssi,
    onPacket: options.onPacket,
  });
  const cleanups: (() => void)[] = [];
  const centrals: NobleCentral[] = [];
  const peripherals: SimBlenoPeripheral[] = [];
  const used = new Set<string>();

  const createCentral = (centralOptions: Omit<NobleCentralOptions, 'noble'> = options.central ?? {}): NobleCentral => {
    const hci = new SimCentralHci(air, freshAddress(used), options.centralMaxMtu === 256 ? undefined : options.centralMaxMtu);
    const noble = createSimNoble(hci, cleanups);
    const central = new NobleCentral({ ...centralOptions, noble });
    centrals.push(central);
    cleanups.push(() => {
      hci.removeAllListeners();
      (noble as unknown as NodeEventEmitter).removeAllListeners();
    });
    return central;
  };
  const createPeripheral = (): SimBlenoPeripheral => {
    const p = new SimBlenoPeripheral(air, {
      address: freshAddress(used),
      newAddress: () => freshAddress(used),
      maxMtu: options.peripheralMaxMtu,
      maxConnections: options.maxConnections,
      indicationTimeoutMs: options.indicationTimeoutMs,
    });
    peripherals.push(p);
    return p;
  };

  const central = createCentral();
  const peripheral = createPeripheral();
  let closed: Promise<void> | undefined;

  return {
    central,
    peripheral,
    air,
    createCentral,
    createPeripheral,
    links: () => air.links(),
    disconnectAll: (reason = HCI_REASON.SUPERVISION_TIMEOUT) => {
      for (const l of air.links()) air.disconnect(l.handle, reason, 'air');
    },
    disconnect: (handle, reason = HCI_REASON.SUPERVISION_TIMEOUT) => air.disconnect(handle, reason, 'air'),
    close: () => {
      closed ??= (async () => {
        await Promise.all(centrals.map((c) => c.close()));
        await Promise.all(peripherals.map((p) => p.close()));
        air.close();
        for (const fn of cleanups.splice(0)) fn();
      })();
      return closed;
    },
  };
}
