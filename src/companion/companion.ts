/**
 * `Companion`: the app-facing entry point. It scans for toys, pairs with a setup code,
 * reconnects to paired toys in one round trip, lists and forgets them.
 *
 * ```ts
 * const companion = await Companion.open({ central, keystore, displayName: "Mum's phone" });
 * const session = await companion.pair(toyId, 'XXXX-XXXX-XXXX-XXXX-XXXX-XXXX');
 * await session.setVolume(60);
 * ```
 */
import { EventEmitter } from 'eventemitter3';
import { fromHex, toHex } from '../protocol/bytes.js';
import { generateX25519KeyPair, x25519KeyPairFromSecret, type RandomSource, type X25519KeyPair } from '../protocol/crypto.js';
import { PlushlinkError, isPlushlinkError } from '../protocol/errors.js';
import { companionKeyId, type GoodbyeReasonName } from '../protocol/control.js';
import { parseSetupInput } from '../protocol/setup-code.js';
import { encodeWire } from '../protocol/wire.js';
import { parseAdvertisement, resolveAdvertisingTag } from '../protocol/advertising.js';
import type { Advertisement, Central } from '../transport/types.js';
import { type Keystore, type KeystoreData, type PairedToy } from './keystore.js';
import { locateAndReconnect, type DiscoveredToy, type ToyScanner } from './locator.js';
import { exchange, runHandshake, type HandshakeHost } from './pairing-handshake.js';
import { ToySession } from './session.js';
import { ToyLink } from './toy-link.js';

export type { DiscoveredToy } from './locator.js';

export interface CompanionEvents {
  /** A toy was paired and stored. */
  paired: (toy: PairedToy) => void;
  forgotten: (toy: PairedToy) => void;
  /**
   * The toy no longer has this pairing, and it is no longer stored: it said so in a session
   * (GOODBYE, see the session's `goodbye` event) — it was removed, the toy was reset, or a new
   * pairing's confirmation was refused after it had been reported. Only an authenticated
   * message deletes a stored toy (PROTOCOL.md §10.1).
   */
  unpaired: (toy: PairedToy, reason: UnpairedReason) => void;
  /**
   * The device the app named as this toy (`ConnectOptions.transportId`) refused a reconnect
   * (`connect` rejects with `NOT_PAIRED`). Either the toy removed this companion or was reset
   * while its GOODBYE never arrived, or the device is not the toy: a refusal is not
   * authenticated, and a toy refuses a companion it does not know exactly as a foreign device
   * refuses one (PROTOCOL.md §10.1, §14.3). The toy stays stored; the app asks its user and
   * calls {@link Companion.forget} ("This toy no longer knows this phone. Forget it?").
   */
  'reconnect-refused': (toy: PairedToy, transportId: string) => void;
  /**
   * A paired toy's advertising key changed (the toy rotates it whenever a pairing is removed)
   * and the new one was stored: learnt in a session (ADVERTISING_KEY) or from a reconnect's hello.
   */
  'advertising-key': (toy: PairedToy) => void;
}

/** Why a Companion forgot a toy on its own (the `unpaired` event): the reason of the toy's GOODBYE. */
export type UnpairedReason = GoodbyeReasonName;

export interface CompanionOptions {
  central: Central;
  keystore: Keystore;
  /** How this companion introduces itself to toys (1–32 UTF-8 bytes; default "companion"). */
  displayName?: string;
  clock?: () => number;
  random?: RandomSource;
  /** Default connect timeout (ms, default 10 000). */
  connectTimeoutMs?: number;
  /** Default handshake timeout (ms, default 5000). */
  handshakeTimeoutMs?: number;
}

export interface OperationOptions {
  signal?: AbortSignal;
  /** Overall time limit for this operation. */
  timeoutMs?: number;
}

/** Options of {@link Companion.connect}. */
export interface ConnectOptions extends OperationOptions {
  /**
   * Connect to this transport id directly instead of scanning for the toy's tag. When this
   * device refuses the reconnect (`NOT_PAIRED`), the Companion emits `reconnect-refused` and
   * keeps the toy: the app decides, with its user, whether to forget it (PROTOCOL.md §10.1).
   */
  transportId?: string;
  /**
   * Fallback when the toy's tag does not resolve — the toy rotated its advertising key (a
   * pairing was removed) while this companion was not connected, so the stored key is stale:
   * after {@link probeAfterMs} of scanning without a match, try a reconnect handshake with the
   * nearby plushlink toys that advertise as owned but resolve to none of our toys (strongest
   * signal first). The handshake itself proves the toy (message 2 needs its static key); a
   * foreign toy cannot read our message 1 and refuses it.
   *
   * Default **false**: a device that merely claims to be an owned toy then receives our message
   * 1, which it may keep and replay to recognise our toy. Message 1 is bound to the current
   * advertising slot (PROTOCOL.md §12, §14.3), so such a recording is useless after about one
   * slot; still, an app asks for probing only when its user wants to find a toy whose key it
   * missed.
   */
  probeUnresolved?: boolean;
  /** Scanning time before the fallback starts probing (ms, default 2000). */
  probeAfterMs?: number;
  /** At most this many probe handshakes per call (default 8); then `NOT_FOUND`. */
  maxProbes?: number;
}

export interface PairOptions extends OperationOptions {
  /** A name for people (default: "toy" + fingerprint group). */
  name?: string;
}

export class Companion extends EventEmitter<CompanionEvents> {
  private data: KeystoreData;
  private readonly identity: X25519KeyPair;
  /** Keystore writes, in order (a key update from a session may overlap a handshake's save). */
  private saveChain: Promise<void> = Promise.resolve();
  /** Toys that forget() is removing from the toy itself right now (their GOODBYE is expected). */
  private readonly forgetting = new Set<string>();

  /** What the locator uses: this companion's central and its reading of advertisements. */
  private readonly scanner: ToyScanner = {
    scan: (signal) => this.opts.central.scan({ signal }),
    classify: (adv) => this.classify(adv),
  };
  /** What a handshake uses of this companion (see pairing-handshake.ts). */
  private readonly host: HandshakeHost;

  private constructor(
    private readonly opts: CompanionOptions,
    data: KeystoreData,
  ) {
    super();
    this.data = data;
    this.identity = x25519KeyPairFromSecret(fromHex(data.identity.secretKey));
    const self = this;
    this.host = {
      identity: this.identity,
      get displayName() {
        return self.data.displayName;
      },
      random: opts.random,
      get handshakeTimeoutMs() {
        return self.handshakeTimeoutMs;
      },
      now: () => this.now(),
      storedToy: (id) => this.data.toys.find((t) => t.id === id),
      link: (transportId, signal) => this.link(transportId, signal),
      store: (toy) => {
        this.data.toys = [...this.data.toys.filter((t) => t.id !== toy.id), toy];
        return this.save();
      },
      advertisingKeyReceived: (session, key) => this.storeAdvertisingKey(session, key),
      toyEnded: (id, reason, wasNewPairing) => this.toyEnded(id, reason, wasNewPairing),
      paired: (toy) => this.emit('paired', structuredClone(toy)),
      advertisingKeyChanged: (toy) => this.emit('advertising-key', structuredClone(toy)),
    };
  }

  /** Loads (or creates and stores) the companion's identity from the keystore. */
  static async open(opts: CompanionOptions): Promise<Companion> {
    let data = await opts.keystore.load();
    if (!data) {
      const kp = generateX25519KeyPair(opts.random);
      data = { version: 1, identity: { publicKey: toHex(kp.publicKey), secretKey: toHex(kp.secretKey) }, displayName: opts.displayName ?? 'companion', toys: [] };
      await opts.keystore.save(data);
    } else if (opts.displayName && opts.displayName !== data.displayName) {
      data.displayName = opts.displayName;
      await opts.keystore.save(data);
    }
    return new Companion(opts, data);
  }

  /** This companion's static public key. */
  get publicKey(): Uint8Array {
    return Uint8Array.from(this.identity.publicKey);
  }

  /** The paired toys. */
  toys(): PairedToy[] {
    return structuredClone(this.data.toys);
  }

  private now(): number {
    return (this.opts.clock ?? Date.now)();
  }

  private get handshakeTimeoutMs(): number {
    return this.opts.handshakeTimeoutMs ?? 5000;
  }

  /**
   * Scans for plushlink toys. Paired toys are resolved from their rotating tag; others are
   * reported only as in pairing mode, as unpaired (no pairings, window closed), or as "someone
   * else's toy" (it has pairings, and none of our keys resolves its tag).
   */
  async *scan(opts: { signal?: AbortSignal } = {}): AsyncGenerator<DiscoveredToy> {
    for await (const adv of this.opts.central.scan({ signal: opts.signal })) {
      const d = this.classify(adv);
      if (d) yield d;
    }
  }

  /** Classifies one advertisement; undefined when it is not plushlink's. */
  classify(adv: Advertisement): DiscoveredToy | undefined {
    let info;
    try {
      info = parseAdvertisement(adv.serviceData);
    } catch {
      return undefined;
    }
    const rssi = adv.rssi !== undefined ? { rssi: adv.rssi } : {};
    const keys = this.data.toys.map((t) => fromHex(t.advertisingKey));
    const i = info.owned ? resolveAdvertisingTag(info.tag, keys, this.now()) : -1;
    if (i >= 0) return { kind: 'paired', transportId: adv.id, toy: structuredClone(this.data.toys[i]!), ...rssi };
    if (info.pairing) return { kind: 'pairing', transportId: adv.id, owned: info.owned, ...rssi };
    // flags 0x00: no pairings and the window closed — nobody's toy, not someone else's (PROTOCOL.md §12)
    if (!info.owned) return { kind: 'unpaired', transportId: adv.id, ...rssi };
    return { kind: 'someone-elses', transportId: adv.id, ...rssi };
  }

  /**
   * Pairs with a toy in pairing mode. `target` is a transport id or a scan result; `setup`
   * is the typed setup code or the QR payload (which also pins the toy's key and saves a
   * round trip). Errors: `WRONG_SETUP_CODE`, `NOT_IN_PAIRING_MODE`, `RATE_LIMITED`,
   * `ALLOW_LIST_FULL`, `TOY_KEY_MISMATCH`, `TIMEOUT`, `ABORTED`, `DISCONNECTED`, and the
   * setup-code parse errors (`BAD_CHECKSUM`, `BAD_LENGTH`, `UNKNOWN_VERSION`, ...).
   */
  async pair(target: string | DiscoveredToy, setup: string, opts: PairOptions = {}): Promise<ToySession> {
    const { code, toyPublicKey: pinned } = parseSetupInput(setup);
    const transportId = typeof target === 'string' ? target : target.transportId;
    return this.withDeadline(opts, async (signal) => {
      const link = await this.link(transportId, signal);
      try {
        let roundTrips = 0;
        let toyKey = pinned;
        if (!toyKey) {
          // Typed code: ask the toy for its key (answered only inside the pairing window).
          // The PSK binds the pairing to this key, so a look-alike cannot complete it.
          const reply = await exchange(link, encodeWire({ kind: 'info-request' }), { signal, mode: 'pair', timeoutMs: this.handshakeTimeoutMs });
          roundTrips++;
          if (reply.kind !== 'info-response' || reply.version !== 1) throw new PlushlinkError('HANDSHAKE_FAILED', `unexpected ${reply.kind} to the info request`);
          toyKey = reply.toyPublicKey;
        }
        return await runHandshake(this.host, { link, mode: 'pair', toyKey, code, signal, priorRoundTrips: roundTrips, name: opts.name });
      } catch (e) {
        await link.close();
        throw e;
      }
    });
  }

  /**
   * Reconnects to a paired toy (one round trip). `toy` is a PairedToy, its id, or its name.
   * Without `transportId` the toy is found by scanning for its rotating tag; when the tag does
   * not resolve (the toy rotated its advertising key while we were away) and the app asked for
   * it (`probeUnresolved`), the unresolved owned toys nearby are probed with the reconnect
   * handshake (see {@link ConnectOptions}). The
   * session's hello brings the current advertising key, which is stored. Errors: `NOT_PAIRED`
   * (the toy refused us: it no longer knows us; after probing: none of the probed toys
   * accepted us, which is what a toy that removed us looks like), `TOY_KEY_MISMATCH`,
   * `NOT_FOUND`, `TIMEOUT`, `ABORTED`.
   */
  async connect(toy: PairedToy | string, opts: ConnectOptions = {}): Promise<ToySession> {
    const stored = this.findToy(toy);
    return this.withDeadline(opts, async (signal) => {
      if (opts.transportId !== undefined) {
        try {
          return await this.reconnectAt(opts.transportId, stored, signal);
        } catch (e) {
          // The named device refused us: the toy removed us or was reset and its GOODBYE never
          // arrived — or the device is not the toy. The refusal is not authenticated, so it
          // deletes nothing; the app hears of it and asks its user (PROTOCOL.md §10.1).
          if (isPlushlinkError(e, 'NOT_PAIRED') && e.detail?.['refusal'] !== undefined) {
            const t = this.data.toys.find((x) => x.id === stored.id);
            if (t) this.emit('reconnect-refused', structuredClone(t), opts.transportId);
          }
          throw e;
        }
      }
      // Message 1 goes only to the device whose tag resolved, unless the app asked for probing.
      const settings = { maxProbes: opts.probeUnresolved === true ? (opts.maxProbes ?? 8) : 0, probeAfterMs: opts.probeAfterMs ?? 2000 };
      return locateAndReconnect(this.scanner, stored, signal, settings, (transportId) => this.reconnectAt(transportId, stored, signal));
    });
  }

  private async reconnectAt(transportId: string, stored: PairedToy, signal: AbortSignal): Promise<ToySession> {
    const link = await this.link(transportId, signal);
    try {
      return await runHandshake(this.host, { link, mode: 'reconnect', toyKey: fromHex(stored.toyPublicKey), signal, priorRoundTrips: 0, stored });
    } catch (e) {
      await link.close();
      throw e;
    }
  }

  /**
   * Forgets a toy locally. With `session` (an open session to that toy) it first asks the
   * toy to remove this companion from its allow-list.
   */
  async forget(toy: PairedToy | string, opts: { session?: ToySession } = {}): Promise<PairedToy> {
    const stored = this.findToy(toy);
    if (opts.session?.open) {
      // The toy answers, then says GOODBYE (PAIRING_REMOVED): that is this call, not news.
      this.forgetting.add(stored.id);
      try {
        await opts.session.removePairing(companionKeyId(this.data.identity.publicKey));
      } finally {
        this.forgetting.delete(stored.id);
      }
    }
    this.data.toys = this.data.toys.filter((t) => t.id !== stored.id);
    await this.save();
    this.emit('forgotten', stored);
    return stored;
  }

  /** Looks a toy up by id, name or object; throws `NOT_FOUND`. */
  findToy(toy: PairedToy | string): PairedToy {
    const key = typeof toy === 'string' ? toy : toy.id;
    const t = this.data.toys.find((x) => x.id === key || x.name === key || x.lastTransportId === key);
    if (!t) throw new PlushlinkError('NOT_FOUND', `no paired toy "${key}"`);
    return t;
  }

  // ------------------------------------------------------------------ internals

  /** Stores a toy's new advertising key (an ADVERTISING_KEY event in one of its sessions). */
  private storeAdvertisingKey(session: ToySession, key: Uint8Array): void {
    const hex = toHex(key);
    session.toy.advertisingKey = hex;
    const t = this.data.toys.find((x) => x.id === session.toy.id);
    if (!t) return; // pairing not finished yet: the session's toy (updated above) is what gets stored
    t.advertisingKey = hex;
    // A failed write leaves the key in memory only; the next handshake's hello brings it again.
    this.save().then(
      () => this.emit('advertising-key', structuredClone(t)),
      () => undefined,
    );
  }

  private save(): Promise<void> {
    const p = this.saveChain.catch(() => undefined).then(() => this.opts.keystore.save(this.data));
    this.saveChain = p;
    return p;
  }

  private async link(transportId: string, signal: AbortSignal): Promise<ToyLink> {
    const l = await this.opts.central.connect(transportId, { signal, timeoutMs: this.opts.connectTimeoutMs ?? 10_000 });
    return new ToyLink(l);
  }

  /**
   * A toy said GOODBYE after the pairing was stored: forget it when the toy no longer has us
   * (removed, reset; superseded only when this was a new pairing — a refused re-pairing leaves
   * the old pairing in place) and emit `unpaired`.
   */
  private async toyEnded(id: string, reason: GoodbyeReasonName, wasNewPairing: boolean): Promise<void> {
    const gone = reason === 'PAIRING_REMOVED' || reason === 'FACTORY_RESET' || (reason === 'PAIRING_SUPERSEDED' && wasNewPairing);
    const t = this.data.toys.find((x) => x.id === id);
    if (!gone || !t || this.forgetting.has(id)) return;
    this.data.toys = this.data.toys.filter((x) => x !== t);
    // A failed write leaves the toy stored; its next reconnect is refused (NOT_PAIRED).
    await this.save().catch(() => undefined);
    this.emit('unpaired', structuredClone(t), reason);
  }

  private async withDeadline<T>(opts: OperationOptions, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const ctl = new AbortController();
    const onAbort = (): void => ctl.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (opts.timeoutMs !== undefined) timer = setTimeout(() => ctl.abort(new PlushlinkError('TIMEOUT', `timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs);
    try {
      if (opts.signal?.aborted) throw new PlushlinkError('ABORTED', 'aborted');
      return await fn(ctl.signal);
    } catch (e) {
      if (ctl.signal.aborted && isPlushlinkError(e, 'ABORTED') && isPlushlinkError(ctl.signal.reason, 'TIMEOUT')) throw ctl.signal.reason;
      throw e;
    } finally {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }
}
