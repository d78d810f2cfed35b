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
import { AUDIO_FORMATS_SUPPORTED } from '../protocol/audio-record.js';
import { generateX25519KeyPair, x25519KeyPairFromSecret, type RandomSource, type X25519KeyPair } from '../protocol/crypto.js';
import { PlushlinkError, isPlushlinkError } from '../protocol/errors.js';
import { CompanionHandshake, type HandshakeMode } from '../protocol/handshake.js';
import { companionKeyId, type GoodbyeReasonName } from '../protocol/control.js';
import { parseSetupInput, toyKeyFingerprint, type SetupCode } from '../protocol/setup-code.js';
import { encodeWire, refusalErrorCode, type WireMessage } from '../protocol/wire.js';
import { ADV_FLAG_OWNED, advertisingSlot, parseAdvertisement, resolveAdvertisingTag } from '../protocol/advertising.js';
import type { Advertisement, Central } from '../transport/types.js';
import { type Keystore, type KeystoreData, type PairedToy } from './keystore.js';
import { goodbyeError, ToySession } from './session.js';
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
  /**
   * The toy told us, in a session, that it no longer has this pairing (GOODBYE, see
   * the session's `goodbye` event): it was removed, the toy was reset, or a new pairing's
   * confirmation was refused after it had been reported. The toy is no longer stored.
   */
  unpaired: (toy: PairedToy, reason: GoodbyeReasonName) => void;
  /**
   * A paired toy's advertising key changed (the toy rotates it whenever a pairing is removed)
   * and the new one was stored: learnt in a session (ADVERTISING_KEY) or from a reconnect's hello.
   */
  'advertising-key': (toy: PairedToy) => void;
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

/** Options of {@link Companion.connect}. */
export interface ConnectOptions extends OperationOptions {
  /** Connect to this transport id directly instead of scanning for the toy's tag. */
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
      if (opts.transportId !== undefined) return this.reconnectAt(opts.transportId, stored, signal);
      // Message 1 goes only to the device whose tag resolved, unless the app asked for probing.
      const maxProbes = opts.probeUnresolved === true ? (opts.maxProbes ?? 8) : 0;
      const tried = new Set<string>();
      let mismatch: PlushlinkError | undefined;
      let refused = 0;
      const giveUp = (): PlushlinkError => {
        if (mismatch) return mismatch;
        // A toy refuses an unknown companion exactly as a foreign toy refuses a message 1 made
        // for another key (PROTOCOL.md §13.4), so "removed" and "not here" look the same.
        if (refused > 0) {
          return new PlushlinkError(
            'NOT_PAIRED',
            `toy ${stored.name}: its tag was not seen and none of the ${tried.size} unresolved toys nearby accepted this companion (${refused} refused it): the toy has removed it, or is not in range`,
            { refusal: 'HANDSHAKE_FAILED', probed: tried.size },
          );
        }
        return new PlushlinkError('NOT_FOUND', `toy ${stored.name}: its tag was not seen and none of the ${tried.size} unresolved toys nearby was it`);
      };
      for (;;) {
        // After a round of probes, a grace period without a new candidate ends the search.
        const found = await this.locate(stored, signal, { probeAfterMs: opts.probeAfterMs ?? 2000, exclude: tried, probe: tried.size < maxProbes, giveUpAfterGrace: tried.size > 0 });
        if (found.kind === 'resolved') return this.reconnectAt(found.transportId, stored, signal);
        if (found.candidates.length === 0) throw giveUp();
        for (const candidate of found.candidates) {
          if (tried.size >= maxProbes) break;
          tried.add(candidate);
          try {
            return await this.reconnectAt(candidate, stored, signal);
          } catch (e) {
            if (signal.aborted) throw e;
            // A message 2 that does not prove the pinned key: a look-alike; keep looking, report it if nothing else works.
            if (isPlushlinkError(e, 'TOY_KEY_MISMATCH')) mismatch ??= e;
            // Refused (a foreign toy, or ours if it removed us: the two are indistinguishable),
            // went away, timed out: next.
            else if (isPlushlinkError(e, 'NOT_PAIRED')) refused++;
          }
        }
        if (tried.size >= maxProbes) throw giveUp();
      }
    });
  }

  private async reconnectAt(transportId: string, stored: PairedToy, signal: AbortSignal): Promise<ToySession> {
    const link = await this.link(transportId, signal);
    try {
      return await this.handshake(link, 'reconnect', fromHex(stored.toyPublicKey), undefined, signal, 0, stored);
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

  /**
   * Scans for `toy`'s tag. Returns at once when it resolves. With `probe`, once `probeAfterMs`
   * have passed without a match and some unresolved toy advertising as owned was seen (not in
   * `exclude`), returns those candidates instead, strongest signal first. When the caller's
   * signal ends the scan: `NOT_FOUND` (never a guess at an address the tag was not seen under).
   */
  private async locate(
    toy: PairedToy,
    signal: AbortSignal,
    opts: { probeAfterMs: number; exclude: ReadonlySet<string>; probe: boolean; giveUpAfterGrace?: boolean },
  ): Promise<{ kind: 'resolved'; transportId: string } | { kind: 'unresolved'; candidates: string[] }> {
    const inner = new AbortController();
    const onAbort = (): void => inner.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const candidates = new Map<string, number>();
    let graceOver = false;
    const timer = opts.probe
      ? setTimeout(() => {
          graceOver = true;
          if (candidates.size > 0 || opts.giveUpAfterGrace) inner.abort();
        }, opts.probeAfterMs)
      : undefined;
    try {
      for await (const adv of this.opts.central.scan({ signal: inner.signal })) {
        const d = this.classify(adv);
        if (!d) continue;
        if (d.kind === 'paired') {
          if (d.toy.id !== toy.id) continue; // another of our toys
          toy.lastTransportId = d.transportId;
          return { kind: 'resolved', transportId: d.transportId };
        }
        // An owned toy whose tag none of our keys resolves: maybe ours under a key we missed.
        const owned = d.kind === 'pairing' ? d.owned : (adv.serviceData[0]! & ADV_FLAG_OWNED) !== 0;
        if (!opts.probe || !owned || opts.exclude.has(d.transportId)) continue;
        candidates.set(d.transportId, Math.max(d.rssi ?? -127, candidates.get(d.transportId) ?? -127));
        if (graceOver) break;
      }
    } catch (e) {
      if (!signal.aborted && !inner.signal.aborted) throw e;
    } finally {
      if (timer) clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      inner.abort();
    }
    if (!signal.aborted && (candidates.size > 0 || (graceOver && opts.giveUpAfterGrace))) {
      return { kind: 'unresolved', candidates: [...candidates].sort((a, b) => b[1] - a[1]).map(([id]) => id) };
    }
    // Never the last transport id instead: whoever advertises there now did not show our tag.
    if (signal.aborted) throw new PlushlinkError('ABORTED', `toy ${toy.name} was not seen before the search ended`);
    throw new PlushlinkError('NOT_FOUND', `toy ${toy.name} was not seen`);
  }

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
      // a reconnect message 1 is bound to the current advertising slot (PROTOCOL.md §6, §12)
      slot: mode === 'reconnect' ? advertisingSlot(this.now()) : undefined,
      hello: { displayName: this.data.displayName, audioFormats: AUDIO_FORMATS_SUPPORTED },
      setupCode: code,
      random: this.opts.random,
    });
    const reply = await this.exchange(link, hs.wireMessage1(), signal, mode);
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
      // A reconnect hello carries the key; a pairing learns it once the toy took the pairing (below).
      advertisingKey: res.toy.advertisingKey ? toHex(res.toy.advertisingKey) : '',
      role: res.toy.role,
      firmwareVersion: res.toy.firmwareVersion,
      capabilities: res.toy.capabilities,
      speakerBufferMs: res.toy.speakerBufferMs,
      pairedAt: previous?.pairedAt ?? (mode === 'pair' ? this.now() : stored!.pairedAt),
      lastTransportId: link.link.id,
    };
    if (mode === 'pair' && previous) toy.pairedAt = this.now();
    const session = new ToySession(link, res.keys, toy, res.toy, priorRoundTrips + 1);
    // The toy pushes a new advertising key when it rotates it during this session (a removal).
    session.on('advertising-key', (key) => this.storeAdvertisingKey(session, key));
    // A GOODBYE says why the toy drops us: a refused confirmation, a removal, a reset. Before the
    // toy is stored it fails this call; afterwards the stored pairing is dropped if it is gone.
    const isNewPairing = mode === 'pair' && !previous;
    let farewell: { reason: GoodbyeReasonName; error: PlushlinkError } | undefined;
    let committed = false;
    session.on('goodbye', (reason) => {
      farewell = { reason, error: goodbyeError(reason, toy.name) };
      if (committed) void this.toyEnded(toy.id, reason, isNewPairing);
    });
    // Key confirmation: our first record proves to the toy that we hold the session keys (a
    // replayed message 1 never gets this far). The pairing takes effect on the toy only now.
    try {
      // The session is ready once the toy's GATT layer acknowledged the confirmation, and for a
      // pairing once the toy sent its advertising key: it does so only when the pairing took
      // effect (PROTOCOL.md §6.4), so the key is also the toy's word that it did.
      await session.confirm();
      if (mode === 'pair') await this.advertisingKeyOf(session, signal);
    } catch (e) {
      if (farewell) throw farewell.error;
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
    if (farewell) {
      // Dropped right after the confirmation was acknowledged: nothing new is stored, and a
      // pairing the toy no longer has (removed, reset) is forgotten.
      await this.toyEnded(toy.id, farewell.reason, false);
      throw farewell.error;
    }
    // Every hello carries the toy's current advertising key: a reconnect after a rotation we
    // missed updates the stored key here.
    const keyChanged = mode === 'reconnect' && previous !== undefined && previous.advertisingKey !== toy.advertisingKey;
    this.data.toys = [...this.data.toys.filter((t) => t.id !== toy.id), toy];
    await this.save();
    committed = true;
    if (mode === 'pair') this.emit('paired', structuredClone(toy));
    if (keyChanged) this.emit('advertising-key', structuredClone(toy));
    return session;
  }

  /**
   * Waits for the ADVERTISING_KEY a toy sends when a pairing takes effect (it may already have
   * arrived, before the confirmation's acknowledgement). Rejects with the session's close error
   * (a GOODBYE's, or `DISCONNECTED`), `TIMEOUT` or `ABORTED`.
   */
  private advertisingKeyOf(session: ToySession, signal: AbortSignal): Promise<void> {
    if (session.toy.advertisingKey) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timeoutMs = this.opts.handshakeTimeoutMs ?? 5000;
      const timer = setTimeout(() => done(new PlushlinkError('TIMEOUT', `the toy did not confirm the pairing within ${timeoutMs} ms`)), timeoutMs);
      const onKey = (): void => done();
      const onClose = (reason: string, error?: PlushlinkError): void => done(error ?? new PlushlinkError('DISCONNECTED', `the session closed: ${reason}`));
      const onAbort = (): void => done(new PlushlinkError('ABORTED', 'aborted'));
      const done = (err?: Error): void => {
        clearTimeout(timer);
        session.off('advertising-key', onKey);
        session.off('close', onClose);
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      if (!session.open) return done(new PlushlinkError('DISCONNECTED', 'the session closed'));
      session.on('advertising-key', onKey);
      session.on('close', onClose);
      signal.addEventListener('abort', onAbort, { once: true });
    });
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
