/**
 * BLE address privacy for the bleno peripheral (PROTOCOL.md §12 "Address").
 *
 * `@abandonware/bleno` (0.6) never sets a random address: its HCI layer
 * (`lib/hci-socket/hci.js`, `Hci#setAdvertisingParameters`) hard-codes own-address type 0x00
 * (public), so a toy on bleno would advertise the dongle's public address forever. This module
 * reaches bleno's `Hci` instance (`bleno._bindings._hci`, bleno 0.6 on Linux) and writes the
 * missing HCI commands on its socket itself:
 *
 * - LE Set Advertising Enable (0x200a) off: legacy advertising can change neither the random
 *   address nor the advertising parameters while it is enabled;
 * - LE Set Random Address (0x2005) with a fresh non-resolvable private address (NRPA);
 * - LE Set Advertising Parameters (0x2006) with bleno's own values but own-address type 0x01
 *   (random).
 *
 * It also patches three methods of that one `Hci` instance (never the class) so that bleno's own
 * later commands keep the random address: see {@link HciAddressPrivacy.attach}. Everything here is
 * bleno-internal API; when the object graph is not the expected one, {@link HciAddressPrivacy.attach}
 * returns `undefined` and the caller keeps bleno's address (fail soft).
 */
import { randomBytes } from 'node:crypto';
import createDebug from 'debug';

const debug = createDebug('plushlink:transport:bleno');

const HCI_COMMAND_PKT = 0x01;
/** OGF 0x04 (informational) << 10 | OCF 0x0009. */
const HCI_READ_BD_ADDR = 0x1009;
/** OGF 0x08 (LE controller) << 10 | OCF. */
export const HCI_LE_SET_RANDOM_ADDRESS = 0x2005;
export const HCI_LE_SET_ADVERTISING_PARAMETERS = 0x2006;
export const HCI_LE_SET_ADVERTISE_ENABLE = 0x200a;

/** Own-address types of LE Set Advertising Parameters. */
export const OWN_ADDRESS_PUBLIC = 0x00;
export const OWN_ADDRESS_RANDOM = 0x01;

/** A BLE device address in both of its spellings. */
export interface BleAddress {
  /** `aa:bb:cc:dd:ee:ff`, most significant byte first (as bleno, noble and `btmon` print it). */
  text: string;
  /** The 6 bytes in HCI order (little-endian: least significant byte first). */
  hci: Buffer;
}

/** Formats 6 bytes given most significant byte first. */
function addressText(msbFirst: Uint8Array): string {
  return [...msbFirst].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** True when `text` (`aa:bb:..`, MSB first) is a non-resolvable private address. */
export function isNonResolvablePrivateAddress(text: string): boolean {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(text)) return false;
  const b = text.split(':').map((x) => parseInt(x, 16));
  if ((b[0]! & 0xc0) !== 0x00) return false; // the two most significant bits are 0b00
  const random = [b[0]! & 0x3f, ...b.slice(1)];
  const allZero = random.every((x) => x === 0);
  const allOne = random[0] === 0x3f && random.slice(1).every((x) => x === 0xff);
  return !allZero && !allOne;
}

/**
 * A fresh non-resolvable private address (Core spec Vol 6 Part B §1.3.2.2): 46 random bits from
 * the CSPRNG, the two most significant bits 0b00, the random part neither all 0 nor all 1, and
 * none of `avoid` (the public address, the address in use). `random` is injectable for tests.
 */
export function generateNonResolvablePrivateAddress(
  avoid: readonly (string | undefined)[] = [],
  random: (n: number) => Uint8Array = randomBytes,
): BleAddress {
  const avoided = new Set(avoid.filter((a): a is string => !!a).map((a) => a.toLowerCase()));
  for (let attempt = 0; attempt < 64; attempt++) {
    const msbFirst = Uint8Array.from(random(6).subarray(0, 6));
    if (msbFirst.length !== 6) break;
    msbFirst[0] = msbFirst[0]! & 0x3f;
    const text = addressText(msbFirst);
    if (!isNonResolvablePrivateAddress(text) || avoided.has(text)) continue;
    return { text, hci: Buffer.from(msbFirst).reverse() };
  }
  throw new Error('the random source gave no usable non-resolvable private address');
}

/** An HCI command packet: type 0x01, opcode (LE), parameter length, parameters. */
function hciCommand(opcode: number, params: Uint8Array): Buffer {
  const cmd = Buffer.alloc(4 + params.length);
  cmd.writeUInt8(HCI_COMMAND_PKT, 0);
  cmd.writeUInt16LE(opcode, 1);
  cmd.writeUInt8(params.length, 3);
  cmd.set(params, 4);
  return cmd;
}

/** LE Set Advertise Enable. */
export function leSetAdvertiseEnableCommand(enabled: boolean): Buffer {
  return hciCommand(HCI_LE_SET_ADVERTISE_ENABLE, Uint8Array.of(enabled ? 0x01 : 0x00));
}

/** LE Set Random Address with `hciBytes` (6 bytes, HCI order). */
export function leSetRandomAddressCommand(hciBytes: Uint8Array): Buffer {
  return hciCommand(HCI_LE_SET_RANDOM_ADDRESS, hciBytes);
}

/**
 * LE Set Advertising Parameters with the values bleno 0.6 uses (interval from
 * `BLENO_ADVERTISING_INTERVAL` ms, default 100 ms, as min and max; ADV_IND; no direct address;
 * all three channels; no filter policy) and the given own-address type.
 */
export function leSetAdvertisingParametersCommand(ownAddressType: number, env: NodeJS.ProcessEnv = process.env): Buffer {
  const p = Buffer.alloc(15);
  const ms = env.BLENO_ADVERTISING_INTERVAL ? parseFloat(env.BLENO_ADVERTISING_INTERVAL) : 100;
  const interval = Math.floor(ms * 1.6); // units of 0.625 ms, computed exactly as bleno does
  p.writeUInt16LE(interval, 0); // advertising interval min
  p.writeUInt16LE(interval, 2); // advertising interval max
  p.writeUInt8(0x00, 4); // advertising type: ADV_IND (connectable undirected)
  p.writeUInt8(ownAddressType, 5); // own address type
  p.writeUInt8(0x00, 6); // peer (direct) address type
  // bytes 7..12: peer (direct) address, unused for ADV_IND: zero
  p.writeUInt8(0x07, 13); // channel map: 37, 38, 39
  p.writeUInt8(0x00, 14); // filter policy: anyone may scan and connect
  return hciCommand(HCI_LE_SET_ADVERTISING_PARAMETERS, p);
}

/** The part of bleno 0.6's `Hci` (`lib/hci-socket/hci.js`) this module uses. */
export interface BlenoHciLike {
  _socket: { write(data: Buffer): void };
  setAdvertisingParameters(): void;
  setAdvertiseEnable(enabled: boolean): void;
  processCmdCompleteEvent?(cmd: number, status: number, result: Buffer): void;
  /** The local address bleno hands to its SMP code for each new connection. */
  address?: string;
  addressType?: string;
}

/** Finds bleno 0.6's `Hci` instance behind a bleno object, or says why it cannot. */
export function findBlenoHci(bleno: unknown): { hci: BlenoHciLike } | { reason: string } {
  const bindings = (bleno as { _bindings?: unknown } | null)?._bindings as { _hci?: unknown } | undefined;
  if (!bindings || typeof bindings !== 'object') return { reason: 'bleno has no _bindings (not bleno 0.6?)' };
  const hci = bindings._hci as Partial<BlenoHciLike> | undefined;
  if (!hci || typeof hci !== 'object') return { reason: "bleno's bindings have no _hci (not the Linux HCI-socket bindings?)" };
  if (typeof hci._socket?.write !== 'function') return { reason: "bleno's Hci has no _socket.write" };
  if (typeof hci.setAdvertisingParameters !== 'function' || typeof hci.setAdvertiseEnable !== 'function') {
    return { reason: "bleno's Hci has no setAdvertisingParameters/setAdvertiseEnable" };
  }
  return { hci: hci as BlenoHciLike };
}

/** Events of {@link HciAddressPrivacy}. */
export interface HciAddressPrivacyHooks {
  /** The controller refused one of the address commands (status = HCI error code). */
  onCommandFailed?: (opcode: number, status: number) => void;
  /**
   * True while advertising must stay off: an address change waits for its new service data.
   * bleno's own enable (its restart when a central leaves) is then not sent to the controller.
   */
  holdAdvertising?: () => boolean;
}

/**
 * Random-address control over bleno's `Hci`: {@link prepare} draws a fresh NRPA, {@link apply}
 * writes it to the controller (with advertising disabled), and the patched `Hci` methods keep it
 * there when bleno writes its own commands.
 */
export class HciAddressPrivacy {
  readonly hci: BlenoHciLike;
  #current: BleAddress | undefined;
  #pending: BleAddress | undefined;
  readonly #publicAddress: string | undefined;
  readonly #restore: (() => void)[] = [];
  readonly #hooks: HciAddressPrivacyHooks;

  private constructor(hci: BlenoHciLike, hooks: HciAddressPrivacyHooks) {
    this.hci = hci;
    this.#hooks = hooks;
    this.#publicAddress = typeof hci.address === 'string' ? hci.address.toLowerCase() : undefined;
  }

  /**
   * Attaches to bleno's `Hci` instance, or returns `undefined` (and logs why) when bleno's internals
   * are not as expected. Patches, on that one instance (own properties shadowing the prototype;
   * {@link detach} removes them again):
   *
   * - `setAdvertisingParameters`: bleno 0.6 calls it (own-address type public) when the adapter
   *   (re)initialises — at start-up, after `hciconfig hciN down/up`, after an HCI reset. Once a
   *   random address is in use, the patched method writes the random address again (the controller
   *   may have been reset) and the parameters with own-address type random instead, so bleno can
   *   never silently fall back to the public address.
   * - `setAdvertiseEnable`: bleno enables advertising by itself when a central disconnects
   *   (`restartAdvertising`), with the data it last had. While an address change waits for its new
   *   service data (`holdAdvertising`) that enable is not sent at all: the new address must never
   *   go on the air with the old data. Otherwise a rotation requested while a central was
   *   connected is pending, and the patched method applies it (disable, random address,
   *   parameters) before the enable.
   * - `processCmdCompleteEvent`: watches the controller's status for the address commands
   *   (bleno ignores Command Complete for 0x2005) and reports failures; keeps `hci.address` on the
   *   random address when bleno re-reads the public one.
   */
  static attach(bleno: unknown, hooks: HciAddressPrivacyHooks = {}): HciAddressPrivacy | undefined {
    const found = findBlenoHci(bleno);
    if ('reason' in found) {
      debug('address rotation unsupported: %s; the toy keeps the adapter address', found.reason);
      return undefined;
    }
    const self = new HciAddressPrivacy(found.hci, hooks);
    self.#install();
    return self;
  }

  /** The random address in use at the controller (undefined: bleno's public address). */
  get current(): string | undefined {
    return this.#current?.text;
  }

  /** The address drawn by {@link prepare} and not yet written to the controller. */
  get pending(): string | undefined {
    return this.#pending?.text;
  }

  /** Draws a fresh NRPA (different from the public and the current address); it is pending until {@link apply}. */
  prepare(): string {
    this.#pending = generateNonResolvablePrivateAddress([this.#publicAddress, this.#current?.text, this.#pending?.text]);
    return this.#pending.text;
  }

  /**
   * Writes the pending address to the controller: [LE Set Advertise Enable off, unless the caller
   * already stopped advertising], LE Set Random Address, LE Set Advertising Parameters (random).
   * Advertising stays off; the next enable (bleno's `startAdvertisingWithEIRData`) advertises from
   * the new address. No-op without a pending address.
   */
  apply(options: { disableFirst: boolean }): void {
    const next = this.#pending;
    if (!next) return;
    this.#pending = undefined;
    if (options.disableFirst) this.#write(leSetAdvertiseEnableCommand(false));
    this.#writeAddress(next);
  }

  /** Removes the patches from bleno's `Hci` (the controller keeps the last random address). */
  detach(): void {
    for (const undo of this.#restore.splice(0).reverse()) undo();
    this.#pending = undefined;
  }

  #writeAddress(addr: BleAddress): void {
    this.#write(leSetRandomAddressCommand(addr.hci));
    this.#write(leSetAdvertisingParametersCommand(OWN_ADDRESS_RANDOM));
    this.#current = addr;
    // bleno gives hci.address/addressType to the SMP code of each new connection (its pairing
    // crypto uses the local address): new connections are to the random address now.
    this.hci.address = addr.text;
    this.hci.addressType = 'random';
    debug('advertising from non-resolvable private address %s', addr.text);
  }

  #write(cmd: Buffer): void {
    debug('hci write %s', cmd.toString('hex'));
    this.hci._socket.write(cmd);
  }

  #patch<K extends 'setAdvertisingParameters' | 'setAdvertiseEnable' | 'processCmdCompleteEvent'>(
    name: K,
    make: (original: NonNullable<BlenoHciLike[K]>) => NonNullable<BlenoHciLike[K]>,
  ): void {
    const hci = this.hci as unknown as Record<string, unknown>;
    const hadOwn = Object.prototype.hasOwnProperty.call(hci, name);
    const own = hci[name];
    const original = (hci[name] as (...args: unknown[]) => unknown).bind(hci) as NonNullable<BlenoHciLike[K]>;
    hci[name] = make(original);
    this.#restore.push(() => {
      if (hadOwn) hci[name] = own;
      else delete hci[name];
    });
  }

  #install(): void {
    // PATCH (bleno 0.6 internals): bleno's own advertising parameters use own-address type public.
    this.#patch('setAdvertisingParameters', (original) => () => {
      const addr = this.#pending ?? this.#current;
      if (!addr) {
        original();
        return;
      }
      this.#pending = undefined;
      // bleno disabled advertising just before (readLocalVersion → setAdvertiseEnable(false)).
      this.#writeAddress(addr);
    });
    // PATCH (bleno 0.6 internals): bleno restarts advertising by itself after a disconnection.
    this.#patch('setAdvertiseEnable', (original) => (enabled: boolean) => {
      if (enabled && this.#hooks.holdAdvertising?.()) {
        debug('advertising stays off until the new address has its new service data');
        return;
      }
      if (enabled && this.#pending) this.apply({ disableFirst: true });
      original(enabled);
    });
    // PATCH (bleno 0.6 internals): bleno ignores the Command Complete of LE Set Random Address.
    if (typeof this.hci.processCmdCompleteEvent === 'function') {
      this.#patch('processCmdCompleteEvent', (original) => (cmd: number, status: number, result: Buffer) => {
        if (status !== 0 && (cmd === HCI_LE_SET_RANDOM_ADDRESS || (cmd === HCI_LE_SET_ADVERTISING_PARAMETERS && this.#current))) {
          debug('controller refused HCI command 0x%s with status 0x%s', cmd.toString(16), status.toString(16));
          this.#hooks.onCommandFailed?.(cmd, status);
        }
        original(cmd, status, result);
        // On re-initialisation bleno reads the public address back into hci.address (Read BD_ADDR,
        // answered after our random address was written): the random one is still in use.
        if (cmd === HCI_READ_BD_ADDR && this.#current) {
          this.hci.address = this.#current.text;
          this.hci.addressType = 'random';
        }
      });
    }
  }
}
