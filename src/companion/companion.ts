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
import { CompanionHandshake, type HandshakeMode } from '../protocol/handshake.js';
import { companionKeyId } from '../protocol/control.js';
import { parseSetupInput, toyKeyFingerprint, type SetupCode } from '../protocol/setup-code.js';
import { encodeWire, refusalErrorCode, type WireMessage } from '../protocol/wire.js';
import { parseAdvertisement, resolveAdvertisingTag } from '../protocol/advertising.js';
import type { Advertisement, Central } from '../transport/types.js';
import { type Keystore, type KeystoreData, type PairedToy } from './keystore.js';
import { ToySession } from './session.js';
import { ToyLink } from './toy-link.js';

/** What a scan reports about one advertising toy. */
export type DiscoveredToy =
  | { kind: 'paired'; transportId: string; toy: PairedToy; rssi?: number }
  | { kind: 'pairing'; transportId: string; rssi?: number; /** true when an owned toy opened a guest window */ owned: boolean }
  | { kind: 'someone-elses'; transportId: string; rssi?: number };

export interface CompanionEvents {
  /** A toy was paired and stored. */
  paired: (toy: PairedToy) => void;
  forgotten: (toy: PairedToy) => void;
}

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

export interface PairOptions extends OperationOptions {
  /** A name for people (default: "toy" + fingerprint group). */
  name?: string;
}

export class Companion extends EventEmitter<CompanionEvents> {
  private data: KeystoreData;
  private readonly identity: X25519KeyPair;

  private constructor(
    private readonly opts: CompanionOptions,
    data: KeystoreData,
  ) {
    super();
    this.data = data;
    this.identity = x25519KeyPairFromSecret(fromHex(data.identity.secretKey));
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

  /**
   * Scans for plushlink toys. Paired toys are resolved from their rotating tag; others are
   * reported only as "unpaired toy in pairing mode" or "someone else's toy".
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
          const reply = await this.exchange(link, encodeWire({ kind: 'info-request' }), signal, 'pair');
          roundTrips++;
          if (reply.kind !== 'info-response' || reply.version !== 1) throw new PlushlinkError('HANDSHAKE_FAILED', `unexpected ${reply.kind} to the info request`);
          toyKey = reply.toyPublicKey;
        }
        return await this.handshake(link, 'pair', toyKey, code, signal, roundTrips, undefined, opts.name);
      } catch (e) {
        await link.close();
        throw e;
      }
    });
  }

  /**
   * Reconnects to a paired toy (one round trip). `toy` is a PairedToy, its id, or its name.
   * Without `transportId` the toy is found by scanning for its rotating tag. Errors:
   * `NOT_PAIRED` (the toy no longer knows us), `TOY_KEY_MISMATCH`, `NOT_FOUND`, `TIMEOUT`, `ABORTED`.
   */
  async connect(toy: PairedToy | string, opts: OperationOptions & { transportId?: string } = {}): Promise<ToySession> {
    const stored = this.findToy(toy);
    return this.withDeadline(opts, async (signal) => {
      const transportId = opts.transportId ?? (await this.locate(stored, signal));
      const link = await this.link(transportId, signal);
      try {
        return await this.handshake(link, 'reconnect', fromHex(stored.toyPublicKey), undefined, signal, 0, stored);
      } catch (e) {
        await link.close();
        throw e;
      }
    });
  }

  /**
   * Forgets a toy locally. With `session` (an open session to that toy) it first asks the
   * toy to remove this companion from its allow-list.
   */
  async forget(toy: PairedToy | string, opts: { session?: ToySession } = {}): Promise<PairedToy> {
    const stored = this.findToy(toy);
    if (opts.session?.open) {
      await opts.session.removePairing(companionKeyId(this.data.identity.publicKey));
    }
    this.data.toys = this.data.toys.filter((t) => t.id !== stored.id);
    await this.opts.keystore.save(this.data);
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

  private async locate(toy: PairedToy, signal: AbortSignal): Promise<string> {
    const inner = new AbortController();
    const onAbort = (): void => inner.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const d of this.scan({ signal: inner.signal })) {
        if (d.kind === 'paired' && d.toy.id === toy.id) {
          toy.lastTransportId = d.transportId;
          return d.transportId;
        }
      }
    } catch (e) {
      if (!signal.aborted) throw e;
    } finally {
      signal.removeEventListener('abort', onAbort);
      inner.abort();
    }
    if (toy.lastTransportId) return toy.lastTransportId;
    throw new PlushlinkError('NOT_FOUND', `toy ${toy.name} was not seen`);
  }

  private async link(transportId: string, signal: AbortSignal): Promise<ToyLink> {
    const l = await this.opts.central.connect(transportId, { signal, timeoutMs: this.opts.connectTimeoutMs ?? 10_000 });
    return new ToyLink(l);
  }

  private async handshake(
    link: ToyLink,
    mode: HandshakeMode,
    toyKey: Uint8Array,
    code: SetupCode | undefined,
    signal: AbortSignal,
    priorRoundTrips: number,
    stored?: PairedToy,
    name?: string,
  ): Promise<ToySession> {
    const hs = new CompanionHandshake(mode, {
      companion: this.identity,
      toyPublicKey: toyKey,
      hello: { displayName: this.data.displayName },
      setupCode: code,
      random: this.opts.random,
    });
    const reply = await this.exchange(link, encodeWire({ kind: mode === 'pair' ? 'pair-m1' : 'reconnect-m1', noise: hs.message1 }), signal, mode);
    const want = mode === 'pair' ? 'pair-m2' : 'reconnect-m2';
    if (reply.kind !== want) throw new PlushlinkError('HANDSHAKE_FAILED', `expected ${want}, got ${reply.kind}`);
    let res;
    try {
      res = hs.readMessage2(reply.noise);
    } catch (e) {
      if (isPlushlinkError(e, 'HANDSHAKE_FAILED')) {
        throw new PlushlinkError('TOY_KEY_MISMATCH', 'the toy could not prove it holds the pinned key: refusing it (a look-alike or a relay?)', undefined, { cause: e });
      }
      throw e;
    }
    const fingerprint = toyKeyFingerprint(toyKey);
    const previous = this.data.toys.find((t) => t.id === fingerprint);
    const toy: PairedToy = {
      id: fingerprint,
      name: name ?? previous?.name ?? stored?.name ?? `toy ${fingerprint.slice(0, 4)}`,
      toyPublicKey: toHex(toyKey),
      advertisingKey: toHex(res.toy.advertisingKey),
      role: res.toy.role,
      firmwareVersion: res.toy.firmwareVersion,
      capabilities: res.toy.capabilities,
      speakerBufferMs: res.toy.speakerBufferMs,
      pairedAt: previous?.pairedAt ?? (mode === 'pair' ? this.now() : stored!.pairedAt),
      lastTransportId: link.link.id,
    };
    if (mode === 'pair' && previous) toy.pairedAt = this.now();
    const session = new ToySession(link, res.keys, toy, res.toy, priorRoundTrips + 1);
    // Key confirmation: our first record proves to the toy that we hold the session keys (a
    // replayed message 1 never gets this far). The pairing takes effect on the toy only now.
    try {
      // The session is ready once the toy's GATT layer acknowledged the confirmation.
      await session.confirm();
    } catch (e) {
      // The link dropped around the confirmation: the toy may have it (then it has paired us and
      // closed its window) or not (then its window is still open). Ask it with one reconnect so
      // that the toy is never left paired with a companion that does not know it.
      if (mode !== 'pair' || !isPlushlinkError(e, 'DISCONNECTED')) throw e;
      const probe = await this.link(link.link.id, signal).catch(() => undefined);
      if (!probe) throw e;
      try {
        const s = await this.handshake(probe, 'reconnect', toyKey, undefined, signal, priorRoundTrips + 1, toy, name);
        this.emit('paired', structuredClone(s.toy));
        return s;
      } catch (e2) {
        await probe.close();
        throw isPlushlinkError(e2, 'NOT_PAIRED') ? e : e2;
      }
    }
    this.data.toys = [...this.data.toys.filter((t) => t.id !== toy.id), toy];
    await this.opts.keystore.save(this.data);
    if (mode === 'pair') this.emit('paired', structuredClone(toy));
    return session;
  }

  /** Sends one control message and waits for the toy's next one (refusals become typed errors). */
  private exchange(link: ToyLink, message: Uint8Array, signal: AbortSignal, mode: HandshakeMode): Promise<WireMessage> {
    return new Promise<WireMessage>((resolve, reject) => {
      const timeoutMs = this.opts.handshakeTimeoutMs ?? 5000;
      const timer = setTimeout(() => done(new PlushlinkError('TIMEOUT', `the toy did not answer within ${timeoutMs} ms`)), timeoutMs);
      const onWire = (m: WireMessage): void => {
        if (m.kind === 'error') {
          const code = refusalErrorCode(m.refusal, mode);
          done(new PlushlinkError(code, `the toy refused: ${m.refusal}${m.retryAfterSec ? ` (retry after ${m.retryAfterSec} s)` : ''}`, { refusal: m.refusal, retryAfterSec: m.retryAfterSec }));
        } else done(undefined, m);
      };
      const onDisc = (reason: string): void => done(new PlushlinkError('DISCONNECTED', `the toy disconnected: ${reason}`));
      const onAbort = (): void => done(new PlushlinkError('ABORTED', 'aborted'));
      const done = (err?: Error, m?: WireMessage): void => {
        clearTimeout(timer);
        link.off('wire', onWire);
        link.off('disconnect', onDisc);
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(m!);
      };
      if (signal.aborted) return done(new PlushlinkError('ABORTED', 'aborted'));
      link.on('wire', onWire);
      link.on('disconnect', onDisc);
      signal.addEventListener('abort', onAbort, { once: true });
      link.sendWire(message).catch((e: Error) => done(e));
    });
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
