/**
 * The simulated air of the noble-sim rig: advertising, connection set-up and an ACL loopback with
 * latency, packet hooks and disconnect injection, between fake HCI controllers.
 *
 * The central side is a fake HCI object that noble's own HCI bindings (`lib/hci-socket/bindings.js`)
 * and noble's own GAP (`lib/hci-socket/gap.js`) drive; the peripheral side hands ATT PDUs to
 * bleno's own GATT server (`lib/hci-socket/gatt.js`). Only the controller is simulated.
 */
import { EventEmitter } from 'node:events';

/** Direction of an ATT PDU on a simulated link. */
export type SimDirection = 'central-to-peripheral' | 'peripheral-to-central';

/** One L2CAP PDU (ATT is CID 4) about to cross a simulated link. */
export interface SimPacket {
  direction: SimDirection;
  /** Connection handle (the same number on both sides). */
  handle: number;
  centralAddress: string;
  peripheralAddress: string;
  cid: number;
  /** The PDU; the first byte is the ATT opcode for CID 4. Do not mutate. */
  data: Uint8Array;
}

/** What to do with a packet: deliver it (default), drop it silently, or drop the link now. */
export type SimPacketVerdict = 'deliver' | 'drop' | 'disconnect';

/** HCI disconnect reasons used by the rig. */
export const HCI_REASON = {
  SUPERVISION_TIMEOUT: 0x08,
  REMOTE_USER_TERMINATED: 0x13,
  LOCAL_HOST_TERMINATED: 0x16,
  UNKNOWN_CONNECTION_ID: 0x02,
} as const;

/** Packet and byte counters of the air. */
export interface SimStats {
  packets: Record<SimDirection, number>;
  bytes: Record<SimDirection, number>;
  dropped: number;
  connections: number;
  disconnections: number;
}

/** A peripheral attached to the air. */
export interface SimAirPeripheral {
  readonly address: string;
  /** Current advertising PDUs, or undefined when not advertising (or not connectable now). */
  advertising(): { advertisement: Buffer; scanResponse: Buffer } | undefined;
  /** A central connected (called before the central learns of it). */
  onConnect(handle: number, centralAddress: string): void;
  onAcl(handle: number, cid: number, data: Buffer): void;
  onDisconnect(handle: number, reason: number): void;
}

interface Link {
  handle: number;
  central: SimCentralHci;
  peripheral: SimAirPeripheral;
  /** The peripheral's address when the link was made (a link keeps it across address rotations). */
  peripheralAddress: string;
  alive: boolean;
}

/**
 * One advertising event of a simulated peripheral: its address and the advertising PDU it sends
 * (undefined: it stopped advertising). Reported at every advertising interval while scanning,
 * and at once whenever a peripheral's advertising changes, so every state a scanner could see is
 * reported.
 */
export interface SimAdvertisingEvent {
  address: string;
  advertisement: Buffer | undefined;
}

/** Options of {@link SimAir}. */
export interface SimAirOptions {
  latencyMs?: number;
  advertisingIntervalMs?: number;
  rssi?: number;
  onPacket?: (packet: SimPacket) => SimPacketVerdict | void;
}

/** The shared medium. */
export class SimAir {
  readonly latencyMs: number;
  readonly advertisingIntervalMs: number;
  readonly rssi: number;
  readonly stats: SimStats = {
    packets: { 'central-to-peripheral': 0, 'peripheral-to-central': 0 },
    bytes: { 'central-to-peripheral': 0, 'peripheral-to-central': 0 },
    dropped: 0,
    connections: 0,
    disconnections: 0,
  };
  onPacket: ((packet: SimPacket) => SimPacketVerdict | void) | undefined;
  /** Sees every advertising event (see {@link SimAdvertisingEvent}); may be replaced at any time. */
  onAdvertising: ((event: SimAdvertisingEvent) => void) | undefined;
  readonly #peripherals = new Map<string, SimAirPeripheral>();
  readonly #centrals = new Set<SimCentralHci>();
  readonly #links = new Map<number, Link>();
  readonly #pending = new Map<SimCentralHci, string>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #immediates = new Set<ReturnType<typeof setImmediate>>();
  #ticker: ReturnType<typeof setInterval> | undefined;
  #nextHandle = 0x40;
  #closed = false;

  constructor(options: SimAirOptions = {}) {
    this.latencyMs = options.latencyMs ?? 0;
    this.advertisingIntervalMs = options.advertisingIntervalMs ?? 20;
    this.rssi = options.rssi ?? -50;
    this.onPacket = options.onPacket;
  }

  /** Runs `fn` after the link latency (next macrotask when 0), in FIFO order. */
  schedule(fn: () => void, delayMs = this.latencyMs): void {
    if (this.#closed) return;
    if (delayMs <= 0) {
      const im = setImmediate(() => {
        this.#immediates.delete(im);
        fn();
      });
      this.#immediates.add(im);
    } else {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        fn();
      }, delayMs);
      this.#timers.add(t);
    }
  }

  addCentral(c: SimCentralHci): void {
    this.#centrals.add(c);
  }

  addPeripheral(p: SimAirPeripheral): void {
    this.#peripherals.set(p.address, p);
  }

  /** A peripheral moved to a new address (`p.address`); its links keep the one they were made with. */
  renamePeripheral(p: SimAirPeripheral, oldAddress: string): void {
    if (this.#peripherals.get(oldAddress) === p) this.#peripherals.delete(oldAddress);
    this.#peripherals.set(p.address, p);
    this.advertisingChanged(p);
  }

  removePeripheral(p: SimAirPeripheral): void {
    this.#peripherals.delete(p.address);
    for (const l of [...this.#links.values()]) if (l.peripheral === p) this.disconnect(l.handle, HCI_REASON.REMOTE_USER_TERMINATED, 'peripheral');
  }

  /** A peripheral's advertising changed (new data, stopped, new address): reported as an advertising event at once. */
  advertisingChanged(p: SimAirPeripheral): void {
    if (this.#closed) return;
    this.onAdvertising?.({ address: p.address, advertisement: p.advertising()?.advertisement });
    this.update();
  }

  /** Called when scanning or advertising changed: runs the advertising ticker only when useful. */
  update(): void {
    if (this.#closed) return;
    const scanning = [...this.#centrals].some((c) => c.scanning);
    const advertising = [...this.#peripherals.values()].some((p) => p.advertising());
    const want = (scanning && advertising) || this.#pending.size > 0;
    if (want && !this.#ticker) {
      this.#ticker = setInterval(() => this.#tick(), this.advertisingIntervalMs);
      this.#ticker.unref?.();
      this.schedule(() => this.#tick(), 0);
    } else if (!want && this.#ticker) {
      clearInterval(this.#ticker);
      this.#ticker = undefined;
    }
  }

  /** One advertising event: reports to scanners (ADV_IND then SCAN_RSP), and pending connections. */
  #tick(): void {
    for (const p of this.#peripherals.values()) {
      const adv = p.advertising();
      if (!adv) continue;
      for (const [c, address] of [...this.#pending]) {
        if (address === p.address) {
          this.#pending.delete(c);
          this.#establish(c, p);
        }
      }
      this.onAdvertising?.({ address: p.address, advertisement: adv.advertisement });
      for (const c of this.#centrals) {
        if (!c.scanning) continue;
        c.emit('leAdvertisingReport', 0, 0x00, p.address, 'random', Buffer.from(adv.advertisement), this.rssi);
        c.emit('leAdvertisingReport', 0, 0x04, p.address, 'random', Buffer.from(adv.scanResponse), this.rssi);
      }
    }
    this.update();
  }

  /** HCI LE Create Connection: completes at the peripheral's next advertising event. */
  createConnection(c: SimCentralHci, address: string): void {
    this.#pending.set(c, address);
    this.update();
  }

  /** HCI LE Create Connection Cancel. */
  cancelConnection(c: SimCentralHci): void {
    const address = this.#pending.get(c);
    if (address === undefined) return;
    this.#pending.delete(c);
    this.schedule(() => c.emit('leConnComplete', HCI_REASON.UNKNOWN_CONNECTION_ID, 0, 0, 'random', address, 0, 0, 0, 0));
    this.update();
  }

  #establish(c: SimCentralHci, p: SimAirPeripheral): void {
    const handle = this.#nextHandle++;
    const link: Link = { handle, central: c, peripheral: p, peripheralAddress: p.address, alive: true };
    this.#links.set(handle, link);
    this.stats.connections++;
    this.schedule(() => {
      if (!link.alive) return;
      p.onConnect(handle, c.address);
      c.emit('leConnComplete', 0, handle, 0, 'random', link.peripheralAddress, 24, 0, 500, 0);
    });
  }

  /** Sends an L2CAP PDU across link `handle`. */
  send(handle: number, from: 'central' | 'peripheral', cid: number, data: Buffer): void {
    const link = this.#links.get(handle);
    if (!link?.alive) return;
    const direction: SimDirection = from === 'central' ? 'central-to-peripheral' : 'peripheral-to-central';
    const copy = Buffer.from(data);
    const verdict = this.onPacket?.({
      direction,
      handle,
      centralAddress: link.central.address,
      peripheralAddress: link.peripheralAddress,
      cid,
      data: copy,
    });
    if (verdict === 'drop') {
      this.stats.dropped++;
      return;
    }
    if (verdict === 'disconnect') {
      this.stats.dropped++;
      this.disconnect(handle, HCI_REASON.SUPERVISION_TIMEOUT, 'air');
      return;
    }
    this.stats.packets[direction]++;
    this.stats.bytes[direction] += copy.length;
    this.schedule(() => {
      if (!link.alive) return;
      if (from === 'central') link.peripheral.onAcl(handle, cid, copy);
      else link.central.emit('aclDataPkt', handle, cid, copy);
    });
  }

  /**
   * Ends link `handle`. `by` is the side that asked (`air` = injected: both sides see `reason`, and
   * packets in flight are lost); a local host sees 0x16 and the remote side `reason`.
   */
  disconnect(handle: number, reason: number, by: 'central' | 'peripheral' | 'air'): void {
    const link = this.#links.get(handle);
    if (!link) return;
    this.#links.delete(handle);
    this.stats.disconnections++;
    const finish = (): void => {
      link.alive = false;
      const centralReason = by === 'central' ? HCI_REASON.LOCAL_HOST_TERMINATED : reason;
      const peripheralReason = by === 'peripheral' ? HCI_REASON.LOCAL_HOST_TERMINATED : reason;
      link.peripheral.onDisconnect(handle, peripheralReason);
      link.central.emit('disconnComplete', handle, centralReason);
      this.update();
    };
    if (by === 'air') {
      link.alive = false;
      this.schedule(finish, 0);
    } else this.schedule(finish); // packets sent before the disconnect still arrive
  }

  /** Handles of the live links. */
  links(): { handle: number; centralAddress: string; peripheralAddress: string }[] {
    return [...this.#links.values()].map((l) => ({
      handle: l.handle,
      centralAddress: l.central.address,
      peripheralAddress: l.peripheralAddress,
    }));
  }

  /** Number of live links of a peripheral. */
  linkCount(p: SimAirPeripheral): number {
    let n = 0;
    for (const l of this.#links.values()) if (l.peripheral === p) n++;
    return n;
  }

  /** Stops every timer; no event fires afterwards. */
  close(): void {
    this.#closed = true;
    if (this.#ticker) clearInterval(this.#ticker);
    this.#ticker = undefined;
    for (const t of this.#timers) clearTimeout(t);
    for (const i of this.#immediates) clearImmediate(i);
    this.#timers.clear();
    this.#immediates.clear();
    this.#pending.clear();
    this.#links.clear();
  }
}

/**
 * A fake HCI controller for noble's HCI bindings and GAP: the methods they call and the events
 * they listen to (`stateChange`, `addressChange`, `leScanParametersSet`, `leScanEnableSet`,
 * `leAdvertisingReport`, `leConnComplete`, `aclDataPkt`, `disconnComplete`, `rssiRead`).
 */
export class SimCentralHci extends EventEmitter {
  readonly address: string;
  readonly addressType = 'random';
  scanning = false;
  readonly #air: SimAir;
  readonly #maxMtu: number | undefined;

  constructor(air: SimAir, address: string, maxMtu?: number) {
    super();
    this.#air = air;
    this.address = address;
    this.#maxMtu = maxMtu;
    air.addCentral(this);
  }

  init(): void {
    this.#air.schedule(() => {
      this.emit('addressChange', this.address);
      this.emit('stateChange', 'poweredOn');
    }, 0);
  }

  setScanParameters(): void {
    this.#air.schedule(() => this.emit('leScanParametersSet'), 0);
  }

  setScanEnabled(enabled: boolean): void {
    this.scanning = enabled;
    this.#air.schedule(() => this.emit('leScanEnableSet', 0), 0);
    this.#air.update();
  }

  setCodedPhySupport(): void {}

  createLeConn(address: string): void {
    this.#air.createConnection(this, address);
  }

  cancelConnect(): void {
    this.#air.cancelConnection(this);
  }

  disconnect(handle: number): void {
    this.#air.disconnect(handle, HCI_REASON.REMOTE_USER_TERMINATED, 'central');
  }

  writeAclDataPkt(handle: number, cid: number, data: Buffer): void {
    // noble 1.9.2-26 always asks for an ATT MTU of 256; the rig rewrites the request to model a
    // central stack with another maximum (e.g. 23, or 517 as phones and @stoprocent/noble ask).
    if (this.#maxMtu !== undefined && cid === 4 && data[0] === 0x02 && data.length === 3) {
      data = Buffer.from(data);
      data.writeUInt16LE(this.#maxMtu, 1);
    }
    this.#air.send(handle, 'central', cid, data);
  }

  readRssi(handle: number): void {
    this.#air.schedule(() => this.emit('rssiRead', handle, this.#air.rssi), 0);
  }

  connUpdateLe(): void {}
  reset(): void {}
  startLeEncryption(): void {}
}
