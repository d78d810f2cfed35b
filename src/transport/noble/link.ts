/**
 * One connection to a toy over noble ({@link NobleCentralLink}): connect, discovery of the
 * plushlink service, subscriptions, GATT operations with their own timeouts, serialised per
 * characteristic, and a teardown that leaves no listener on noble's cached objects. What it guards
 * against is listed in ./central.ts.
 */
import { EventEmitter } from 'eventemitter3';
import { PlushlinkError } from '../../protocol/errors.js';
import { attPayload } from '../../protocol/gatt.js';
import { CHARACTERISTIC_UUIDS, PLUSHLINK_SERVICE_UUID, compactUuid } from '../gatt-layout.js';
import type { CentralLink, CentralLinkEvents, CharacteristicName, NotifyingCharacteristic, WritableCharacteristic } from '../types.js';
import { MAX_ATT_MTU, MIN_ATT_MTU } from '../types.js';
import type { Listener, NobleCharacteristicLike, NobleEmitter, NoblePeripheralLike, NobleServiceLike, NobleTimeouts } from './types.js';

/** The plushlink service UUID as noble writes UUIDs (lowercase hex, no dashes). */
export const SERVICE = compactUuid(PLUSHLINK_SERVICE_UUID);
const CHAR_UUIDS: Record<CharacteristicName, string> = {
  control: compactUuid(CHARACTERISTIC_UUIDS.control),
  speaker: compactUuid(CHARACTERISTIC_UUIDS.speaker),
  microphone: compactUuid(CHARACTERISTIC_UUIDS.microphone),
};

/** HCI disconnect reasons, as strings for `disconnect` events. */
function reasonString(reason: unknown): string {
  switch (reason) {
    case 0x08:
      return 'supervision-timeout';
    case 0x13:
      return 'remote-user-terminated';
    case 0x16:
      return 'local-host-terminated';
    case 0x3e:
      return 'connection-failed-to-be-established';
    default:
      return typeof reason === 'number' ? `hci-0x${reason.toString(16).padStart(2, '0')}` : String(reason ?? 'unknown');
  }
}

function disconnected(reason?: string): PlushlinkError {
  return new PlushlinkError('DISCONNECTED', reason ? `the link is disconnected (${reason})` : 'the link is disconnected', reason ? { reason } : undefined);
}

/** Serialises async operations. */
class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#tail.then(fn, fn);
    this.#tail = p.catch(() => undefined);
    return p;
  }
}

/** A connection to one toy over noble. Created by {@link NobleCentral.connect}. */
export class NobleCentralLink extends EventEmitter<CentralLinkEvents> implements CentralLink {
  readonly id: string;
  readonly #p: NoblePeripheralLike;
  readonly #opts: NobleTimeouts;
  #mtu = MIN_ATT_MTU;
  #state: 'new' | 'connecting' | 'open' | 'closed' = 'new';
  #controllerConnected = false;
  #failure: PlushlinkError | undefined;
  readonly #chars: Partial<Record<CharacteristicName, NobleCharacteristicLike>> = {};
  readonly #queues: Record<CharacteristicName, SerialQueue> = {
    control: new SerialQueue(),
    speaker: new SerialQueue(),
    microphone: new SerialQueue(),
  };
  readonly #pending = new Set<(e: PlushlinkError) => void>();
  readonly #tracked: [NobleEmitter, string, Listener][] = [];
  #disconnecting: Promise<void> | undefined;

  /** @internal */
  constructor(peripheral: NoblePeripheralLike, opts: NobleTimeouts) {
    super();
    this.id = peripheral.id;
    this.#p = peripheral;
    this.#opts = opts;
  }

  /** Negotiated ATT MTU (23..517). */
  get mtu(): number {
    return this.#mtu;
  }

  get connected(): boolean {
    return this.#state === 'open';
  }

  #track(emitter: NobleEmitter, event: string, fn: Listener): void {
    emitter.on(event, fn);
    this.#tracked.push([emitter, event, fn]);
  }

  /**
   * Waits for `event` on `emitter` after running `start`, bounded by `timeoutMs`; rejects on link
   * failure. `map` turns the event arguments into the result (and may throw).
   */
  #op<T>(what: string, emitter: NobleEmitter, event: string, start: () => void, map: (...args: any[]) => T, timeoutMs = this.#opts.gattTimeoutMs): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#state === 'closed') return reject(this.#failure ?? disconnected());
      let timer: ReturnType<typeof setTimeout> | undefined;
      const cleanup = (): void => {
        if (timer) clearTimeout(timer);
        emitter.removeListener(event, onEvent);
        this.#pending.delete(fail);
      };
      const onEvent = (...args: any[]): void => {
        cleanup();
        try {
          resolve(map(...args));
        } catch (e) {
          reject(e);
        }
      };
      const fail = (e: PlushlinkError): void => {
        cleanup();
        reject(e);
      };
      timer = setTimeout(() => {
        const e = new PlushlinkError('TIMEOUT', `${what} timed out after ${timeoutMs} ms`, { operation: what });
        fail(e);
        // noble's ATT queue is stuck behind an unanswered request: the link is unusable.
        this.fail(e);
      }, timeoutMs);
      emitter.on(event, onEvent);
      this.#pending.add(fail);
      try {
        start();
      } catch (e) {
        fail(e instanceof PlushlinkError ? e : new PlushlinkError('DISCONNECTED', `${what} failed: ${String((e as Error)?.message ?? e)}`, undefined, { cause: e }));
      }
    });
  }

  /** @internal Connect, discover, subscribe. */
  async open(): Promise<void> {
    this.#state = 'connecting';
    const p = this.#p;
    if ('mtu' in p) p.mtu = null; // never read a previous connection's MTU
    await this.#op(
      'connect',
      p,
      'connect',
      () => p.connect(),
      (error?: Error | null) => {
        if (error) throw new PlushlinkError('DISCONNECTED', `connect failed: ${error.message}`, { id: this.id }, { cause: error });
      },
      2_147_483_647, // bounded by the connect deadline, not the GATT timeout
    );
    this.#controllerConnected = true;
    if (this.#state !== 'connecting') throw this.#failure ?? disconnected();
    this.#track(p, 'disconnect', (reason: unknown) => {
      this.#controllerConnected = false;
      this.#closed(reasonString(reason));
    });

    const service = await this.#op('discover services', p, 'servicesDiscover', () => p.discoverServices([SERVICE]), (services: NobleServiceLike[]) => {
      const s = services?.find((x) => compactUuid(x.uuid) === SERVICE);
      if (!s) throw new PlushlinkError('NOT_FOUND', 'the peripheral has no plushlink service', { id: this.id });
      return s;
    });
    const wanted = Object.values(CHAR_UUIDS);
    const chars = await this.#op(
      'discover characteristics',
      service,
      'characteristicsDiscover',
      () => service.discoverCharacteristics(wanted),
      (cs: NobleCharacteristicLike[]) => cs ?? [],
    );
    for (const name of Object.keys(CHAR_UUIDS) as CharacteristicName[]) {
      const c = chars.find((x) => compactUuid(x.uuid) === CHAR_UUIDS[name]);
      if (!c) throw new PlushlinkError('NOT_FOUND', `the plushlink service lacks the ${name} characteristic`, { id: this.id });
      this.#chars[name] = c;
    }
    // noble exchanges the MTU before anything else, so it is known once discovery answered.
    const mtu = typeof p.mtu === 'number' ? p.mtu : MIN_ATT_MTU;
    this.#mtu = Math.min(MAX_ATT_MTU, Math.max(MIN_ATT_MTU, mtu));

    for (const name of ['control', 'microphone'] as const) {
      this.#track(this.#chars[name]!, 'data', (data: Buffer, isNotification: boolean) => {
        if (isNotification && this.#state === 'open') this.emit('data', name, new Uint8Array(data));
      });
    }
    this.#state = 'open';
    await this.subscribe('control');
    await this.subscribe('microphone');
  }

  /**
   * Writes one value of at most mtu − 3 bytes: `control` with response, `speaker` without.
   * Rejects with `BAD_FRAME`, `DISCONNECTED` or `TIMEOUT` (the link is then dropped).
   */
  write(characteristic: WritableCharacteristic, value: Uint8Array): Promise<void> {
    if (this.#state !== 'open') return Promise.reject(this.#failure ?? disconnected());
    if (value.length > attPayload(this.#mtu)) {
      return Promise.reject(
        new PlushlinkError('BAD_FRAME', `value of ${value.length} bytes exceeds mtu − 3 = ${attPayload(this.#mtu)}`, {
          length: value.length,
          mtu: this.#mtu,
        }),
      );
    }
    const c = this.#chars[characteristic]!;
    const data = Buffer.from(value);
    const withoutResponse = characteristic === 'speaker';
    return this.#queues[characteristic].run(() =>
      this.#op(`write ${characteristic}`, c, 'write', () => c.write(data, withoutResponse), () => undefined),
    );
  }

  /** Enables indications (control) or notifications (microphone); connect already did both. */
  subscribe(characteristic: NotifyingCharacteristic): Promise<void> {
    if (this.#state !== 'open') return Promise.reject(this.#failure ?? disconnected());
    const c = this.#chars[characteristic]!;
    return this.#queues[characteristic].run(() =>
      this.#op(`subscribe ${characteristic}`, c, 'notify', () => c.subscribe(), () => undefined),
    );
  }

  /** Disconnects; idempotent. Emits `disconnect` with reason `local`. */
  disconnect(): Promise<void> {
    this.#disconnecting ??= this.#state === 'closed' ? Promise.resolve() : this.#disconnectNow('local', disconnected('local'));
    return this.#disconnecting;
  }

  /** @internal Fails the link (timeout, abort): pending operations reject with `error`, the link drops. */
  fail(error: PlushlinkError): void {
    if (this.#state === 'closed') return;
    this.#failure = error;
    this.#disconnecting ??= this.#disconnectNow(error.code === 'TIMEOUT' ? 'timeout' : error.code === 'ABORTED' ? 'aborted' : 'local', error);
  }

  async #disconnectNow(reason: string, error: PlushlinkError): Promise<void> {
    const p = this.#p;
    const wasControllerConnected = this.#controllerConnected;
    const wasConnecting = this.#state === 'connecting' && !wasControllerConnected;
    this.#closed(reason, error);
    if (wasConnecting) {
      // The controller may complete the connection before the cancel lands: then drop it.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.#opts.disconnectTimeoutMs);
        function done(): void {
          clearTimeout(timer);
          p.removeListener('connect', onConnect);
          resolve();
        }
        function onConnect(err?: Error | null): void {
          if (!err) {
            try {
              p.disconnect();
            } catch {
              /* already gone */
            }
          }
          done();
        }
        p.on('connect', onConnect);
        try {
          if (p.cancelConnect) p.cancelConnect();
          else p.disconnect();
        } catch {
          done();
        }
      });
      return;
    }
    if (!wasControllerConnected) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.#opts.disconnectTimeoutMs);
      function done(): void {
        clearTimeout(timer);
        p.removeListener('disconnect', done);
        resolve();
      }
      p.on('disconnect', done);
      try {
        p.disconnect();
      } catch {
        done();
      }
    });
    this.#controllerConnected = false;
  }

  /** Tears down: listeners off, pending operations rejected, `disconnect` emitted once (if it was open). */
  #closed(reason: string, error?: PlushlinkError): void {
    if (this.#state === 'closed') return;
    const wasOpen = this.#state === 'open';
    this.#state = 'closed';
    this.#failure ??= error ?? disconnected(reason);
    for (const [em, ev, fn] of this.#tracked.splice(0)) em.removeListener(ev, fn);
    const err = this.#failure;
    for (const fail of [...this.#pending]) fail(err);
    if (wasOpen) this.emit('disconnect', reason);
  }
}
