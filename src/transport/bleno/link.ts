/**
 * The peripheral-side link over bleno's GATT server, and the plushlink service built from bleno's
 * `PrimaryService` / `Characteristic` classes. Shared by {@link BlenoPeripheral} (real bleno on a
 * Linux board) and the noble-sim rig (bleno's GATT server code over a simulated ACL link).
 */
import { EventEmitter } from 'eventemitter3';
import { PlushlinkError } from '../../protocol/errors.js';
import { attPayload } from '../../protocol/gatt.js';
import { CHARACTERISTIC_UUIDS, PLUSHLINK_SERVICE_UUID, compactUuid } from '../gatt-layout.js';
import type {
  NotifyingCharacteristic,
  PeripheralLink,
  PeripheralLinkEvents,
  WritableCharacteristic,
} from '../types.js';
import { MIN_ATT_MTU } from '../types.js';

/** ATT result codes bleno's characteristic callbacks take. */
export const ATT_RESULT = {
  SUCCESS: 0x00,
  INVALID_OFFSET: 0x07,
  INVALID_ATTRIBUTE_LENGTH: 0x0d,
  UNLIKELY_ERROR: 0x0e,
} as const;

/** bleno's `updateValueCallback` (sends one notification/indication of at most mtu − 3 bytes). */
export type UpdateValueCallback = (data: Buffer) => void;

/** Options of a {@link BlenoPeripheralLink}. */
export interface BlenoPeripheralLinkOptions {
  /** The current ATT MTU of this connection (bleno updates it on the MTU exchange). */
  getMtu: () => number;
  /** Asks the stack to drop the connection. */
  disconnect: () => void;
  /** How long an indication may wait for the central's confirmation. Default 10 000 ms. */
  indicationTimeoutMs?: number;
}

interface PendingIndication {
  value: Buffer;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/**
 * One connected central as seen by the toy. `mtu` is live: bleno reports the MTU exchange after the
 * connection was accepted, so it may grow from 23 shortly after the `connect` event (noble exchanges
 * the MTU before anything else, so it is final before the first write arrives).
 */
export class BlenoPeripheralLink extends EventEmitter<PeripheralLinkEvents> implements PeripheralLink {
  /** Opaque id of the connected central (its BLE address as bleno reports it). */
  readonly id: string;
  readonly #opts: Required<BlenoPeripheralLinkOptions>;
  #connected = true;
  readonly #senders: Partial<Record<NotifyingCharacteristic, UpdateValueCallback>> = {};
  readonly #indications: PendingIndication[] = [];
  #inFlight: (PendingIndication & { timer: ReturnType<typeof setTimeout> }) | null = null;

  constructor(id: string, options: BlenoPeripheralLinkOptions) {
    super();
    this.id = id;
    this.#opts = { indicationTimeoutMs: 10_000, ...options };
  }

  /** Negotiated ATT MTU. */
  get mtu(): number {
    const m = this.#opts.getMtu();
    return Number.isInteger(m) && m >= MIN_ATT_MTU ? m : MIN_ATT_MTU;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /**
   * Sends an indication (`control`, settles on the central's confirmation; indications are sent
   * one at a time as ATT requires) or a notification (`microphone`, settles when queued).
   * Rejects with `DISCONNECTED`, `NOT_SUBSCRIBED` (the central has not enabled it),
   * `BAD_FRAME` (more than mtu − 3 bytes: bleno would silently truncate) or `TIMEOUT`
   * (no confirmation in time; the link is then dropped).
   */
  send(characteristic: NotifyingCharacteristic, value: Uint8Array): Promise<void> {
    if (!this.#connected) return Promise.reject(disconnected());
    if (value.length > attPayload(this.mtu)) {
      return Promise.reject(
        new PlushlinkError('BAD_FRAME', `value of ${value.length} bytes exceeds mtu − 3 = ${attPayload(this.mtu)}`, {
          length: value.length,
          mtu: this.mtu,
        }),
      );
    }
    const sender = this.#senders[characteristic];
    if (!sender) {
      return Promise.reject(
        new PlushlinkError('NOT_SUBSCRIBED', `the central has not subscribed to ${characteristic}`, { characteristic }),
      );
    }
    const buf = Buffer.from(value);
    if (characteristic === 'microphone') {
      sender(buf);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.#indications.push({ value: buf, resolve, reject });
      this.#pumpIndications();
    });
  }

  /** Drops the connection; idempotent. Emits `disconnect` with reason `local`. */
  disconnect(): void {
    if (!this.#connected) return;
    this.#opts.disconnect();
    this.handleDisconnected('local');
  }

  #pumpIndications(): void {
    if (this.#inFlight || !this.#connected) return;
    const next = this.#indications.shift();
    if (!next) return;
    const sender = this.#senders.control;
    if (!sender) {
      next.reject(new PlushlinkError('NOT_SUBSCRIBED', 'the central unsubscribed from control', { characteristic: 'control' }));
      this.#pumpIndications();
      return;
    }
    const timer = setTimeout(() => {
      if (this.#inFlight?.timer !== timer) return;
      const p = this.#inFlight;
      this.#inFlight = null;
      p.reject(new PlushlinkError('TIMEOUT', 'the central did not confirm an indication in time'));
      this.disconnect();
    }, this.#opts.indicationTimeoutMs);
    this.#inFlight = { ...next, timer };
    sender(next.value);
  }

  // ---- hooks called by the characteristics and the stack glue (not part of PeripheralLink) ----

  /** @internal A write arrived; returns the ATT result for bleno. */
  handleWrite(characteristic: WritableCharacteristic, data: Buffer, offset: number): number {
    if (!this.#connected) return ATT_RESULT.UNLIKELY_ERROR;
    if (offset !== 0) return ATT_RESULT.INVALID_OFFSET;
    // A long (prepared) write can exceed mtu − 3; the protocol layer never sends one, so refuse it.
    if (data.length > attPayload(this.mtu)) return ATT_RESULT.INVALID_ATTRIBUTE_LENGTH;
    this.emit('write', characteristic, new Uint8Array(data));
    return ATT_RESULT.SUCCESS;
  }

  /** @internal The central enabled notifications/indications. */
  handleSubscribe(characteristic: NotifyingCharacteristic, updateValueCallback: UpdateValueCallback): void {
    if (!this.#connected) return;
    this.#senders[characteristic] = updateValueCallback;
    this.emit('subscribe', characteristic);
    if (characteristic === 'control') this.#pumpIndications();
  }

  /** @internal The central disabled notifications/indications (or the link ended). */
  handleUnsubscribe(characteristic: NotifyingCharacteristic): void {
    if (!this.#senders[characteristic]) return;
    delete this.#senders[characteristic];
    if (this.#connected) this.emit('unsubscribe', characteristic);
  }

  /** @internal The central confirmed the outstanding indication. */
  handleIndicationConfirmed(): void {
    const p = this.#inFlight;
    if (!p) return;
    clearTimeout(p.timer);
    this.#inFlight = null;
    p.resolve();
    // Not synchronously: bleno emits 'indicate' *before* it clears its `_lastIndicatedAttribute`,
    // so an indication sent from inside this callback would never see its confirmation.
    queueMicrotask(() => this.#pumpIndications());
  }

  /** @internal The connection is gone. Idempotent. */
  handleDisconnected(reason: string): void {
    if (!this.#connected) return;
    this.#connected = false;
    for (const k of Object.keys(this.#senders) as NotifyingCharacteristic[]) delete this.#senders[k];
    const err = disconnected();
    if (this.#inFlight) {
      clearTimeout(this.#inFlight.timer);
      this.#inFlight.reject(err);
      this.#inFlight = null;
    }
    for (const p of this.#indications.splice(0)) p.reject(err);
    this.emit('disconnect', reason);
  }
}

function disconnected(): PlushlinkError {
  return new PlushlinkError('DISCONNECTED', 'the link is disconnected');
}

/** The bleno classes the plushlink service is built from (`bleno.PrimaryService`, `bleno.Characteristic`). */
export interface BlenoClasses {
  PrimaryService: new (options: { uuid: string; characteristics: unknown[] }) => unknown;
  Characteristic: new (options: Record<string, unknown>) => unknown;
}

/**
 * Builds the plushlink primary service with bleno's classes; every callback goes to the link that
 * `target()` returns at call time (the connected central), or fails with an ATT error when none.
 */
export function createPlushlinkService(classes: BlenoClasses, target: () => BlenoPeripheralLink | undefined): unknown {
  const { PrimaryService, Characteristic } = classes;
  const writeHandler =
    (name: WritableCharacteristic) =>
    (data: Buffer, offset: number, _withoutResponse: boolean, callback: (result: number) => void): void => {
      const link = target();
      callback(link ? link.handleWrite(name, data, offset) : ATT_RESULT.UNLIKELY_ERROR);
    };
  const notifyHandlers = (name: NotifyingCharacteristic): Record<string, unknown> => ({
    onSubscribe: (_maxValueSize: number, updateValueCallback: UpdateValueCallback): void => {
      target()?.handleSubscribe(name, updateValueCallback);
    },
    onUnsubscribe: (): void => {
      target()?.handleUnsubscribe(name);
    },
    onIndicate: (): void => {
      target()?.handleIndicationConfirmed();
    },
  });
  return new PrimaryService({
    uuid: compactUuid(PLUSHLINK_SERVICE_UUID),
    characteristics: [
      new Characteristic({
        uuid: compactUuid(CHARACTERISTIC_UUIDS.control),
        properties: ['write', 'indicate'],
        onWriteRequest: writeHandler('control'),
        ...notifyHandlers('control'),
      }),
      new Characteristic({
        uuid: compactUuid(CHARACTERISTIC_UUIDS.speaker),
        properties: ['writeWithoutResponse'],
        onWriteRequest: writeHandler('speaker'),
      }),
      new Characteristic({
        uuid: compactUuid(CHARACTERISTIC_UUIDS.microphone),
        properties: ['notify'],
        ...notifyHandlers('microphone'),
      }),
    ],
  });
}

/**
 * bleno's GATT server exposes the Generic Access device name, which bleno takes from
 * `BLENO_DEVICE_NAME` or else the host name (a stable identifier of the board). Runs `fn` with
 * `BLENO_DEVICE_NAME` set to a neutral name so the toy never reveals its host name.
 */
export function withNeutralDeviceName<T>(deviceName: string, fn: () => T): T {
  const prev = process.env.BLENO_DEVICE_NAME;
  process.env.BLENO_DEVICE_NAME = deviceName;
  try {
    return fn();
  } finally {
    if (prev === undefined) delete process.env.BLENO_DEVICE_NAME;
    else process.env.BLENO_DEVICE_NAME = prev;
  }
}
