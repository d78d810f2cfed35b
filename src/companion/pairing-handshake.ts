/**
 * The companion's side of a handshake on an open link (PROTOCOL.md §6 pairing, §6.3 reconnect):
 * message 1, the toy's message 2 proving its key, key confirmation, and what a pairing stores.
 * The companion runs it through {@link runHandshake} with a {@link HandshakeHost}: the few
 * things of its own the handshake needs (identity, stored toys, keystore, events).
 */
import { toHex } from '../protocol/bytes.js';
import { AUDIO_FORMATS_SUPPORTED } from '../protocol/audio-record.js';
import type { RandomSource, X25519KeyPair } from '../protocol/crypto.js';
import { PlushlinkError, isPlushlinkError } from '../protocol/errors.js';
import { CompanionHandshake, type HandshakeMode } from '../protocol/handshake.js';
import type { GoodbyeReasonName } from '../protocol/control.js';
import { toyKeyFingerprint, type SetupCode } from '../protocol/setup-code.js';
import { refusalErrorCode, type WireMessage } from '../protocol/wire.js';
import { advertisingSlot } from '../protocol/advertising.js';
import type { PairedToy } from './keystore.js';
import { goodbyeError, ToySession } from './session.js';
import type { ToyLink } from './toy-link.js';

/** What a handshake needs of the companion that runs it. */
export interface HandshakeHost {
  /** The companion's static key pair. */
  readonly identity: X25519KeyPair;
  /** How the companion introduces itself in its hello. */
  readonly displayName: string;
  readonly random?: RandomSource;
  /** How long the toy may take to answer a message (ms). */
  readonly handshakeTimeoutMs: number;
  now(): number;
  /** The stored pairing with this toy id (its key fingerprint), if any. */
  storedToy(id: string): PairedToy | undefined;
  /** Opens a new link to a transport id (to ask the toy after a confirmation lost with its link). */
  link(transportId: string, signal: AbortSignal): Promise<ToyLink>;
  /** Stores `toy`, replacing an entry of the same id. */
  store(toy: PairedToy): Promise<void>;
  /** The toy sent a new advertising key in `session`. */
  advertisingKeyReceived(session: ToySession, key: Uint8Array): void;
  /** The toy said GOODBYE after the pairing was stored. */
  toyEnded(id: string, reason: GoodbyeReasonName, wasNewPairing: boolean): Promise<void>;
  /** A pairing took effect (`paired` event). */
  paired(toy: PairedToy): void;
  /** A reconnect's hello brought a new advertising key (`advertising-key` event). */
  advertisingKeyChanged(toy: PairedToy): void;
}

/** One handshake to run on an open link. */
export interface HandshakeRequest {
  link: ToyLink;
  mode: HandshakeMode;
  /** The toy's static key: pinned by the QR code, learnt from an info request, or stored. */
  toyKey: Uint8Array;
  /** The setup code (pairing only). */
  code?: SetupCode;
  signal: AbortSignal;
  /** Round trips already spent on this link (an info request before a typed-code pairing). */
  priorRoundTrips: number;
  /** The stored pairing (reconnect). */
  stored?: PairedToy;
  /** A name for people, given by the app at pairing. */
  name?: string;
}

/**
 * Runs one handshake and returns the session. A pairing is stored (and `paired` reported) only
 * once the toy took it: key confirmation acknowledged and the toy's ADVERTISING_KEY received
 * (PROTOCOL.md §6.4). When the link drops around the confirmation, one reconnect asks the toy
 * whether it has the pairing, so that it is never left paired with a companion that does not
 * know it.
 */
export async function runHandshake(host: HandshakeHost, req: HandshakeRequest): Promise<ToySession> {
  const { link, mode, toyKey, code, signal, priorRoundTrips, stored, name } = req;
  const hs = new CompanionHandshake(mode, {
    companion: host.identity,
    toyPublicKey: toyKey,
    // a reconnect message 1 is bound to the current advertising slot (PROTOCOL.md §6, §12)
    slot: mode === 'reconnect' ? advertisingSlot(host.now()) : undefined,
    hello: { displayName: host.displayName, audioFormats: AUDIO_FORMATS_SUPPORTED },
    setupCode: code,
    random: host.random,
  });
  const reply = await exchange(link, hs.wireMessage1(), { signal, mode, timeoutMs: host.handshakeTimeoutMs });
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
  const previous = host.storedToy(fingerprint);
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
    pairedAt: previous?.pairedAt ?? (mode === 'pair' ? host.now() : stored!.pairedAt),
    lastTransportId: link.link.id,
  };
  if (mode === 'pair' && previous) toy.pairedAt = host.now();
  const session = new ToySession(link, res.keys, toy, res.toy, priorRoundTrips + 1, () => host.now());
  // The toy pushes a new advertising key when it rotates it during this session (a removal).
  session.on('advertising-key', (key) => host.advertisingKeyReceived(session, key));
  // A GOODBYE says why the toy drops us: a refused confirmation, a removal, a reset. Before the
  // toy is stored it fails this call; afterwards the stored pairing is dropped if it is gone.
  const isNewPairing = mode === 'pair' && !previous;
  let farewell: { reason: GoodbyeReasonName; error: PlushlinkError } | undefined;
  let committed = false;
  session.on('goodbye', (reason) => {
    farewell = { reason, error: goodbyeError(reason, toy.name) };
    if (committed) void host.toyEnded(toy.id, reason, isNewPairing);
  });
  // Key confirmation: our first record proves to the toy that we hold the session keys (a
  // replayed message 1 never gets this far). The pairing takes effect on the toy only now.
  try {
    // The session is ready once the toy's GATT layer acknowledged the confirmation, and for a
    // pairing once the toy sent its advertising key: it does so only when the pairing took
    // effect (PROTOCOL.md §6.4), so the key is also the toy's word that it did.
    await session.confirm();
    if (mode === 'pair') await advertisingKeyOf(session, signal, host.handshakeTimeoutMs);
  } catch (e) {
    if (farewell) throw farewell.error;
    // The link dropped around the confirmation: the toy may have it (then it has paired us and
    // closed its window) or not (then its window is still open). Ask it with one reconnect so
    // that the toy is never left paired with a companion that does not know it.
    if (mode !== 'pair' || !isPlushlinkError(e, 'DISCONNECTED')) throw e;
    const probe = await host.link(link.link.id, signal).catch(() => undefined);
    if (!probe) throw e;
    try {
      const s = await runHandshake(host, { link: probe, mode: 'reconnect', toyKey, signal, priorRoundTrips: priorRoundTrips + 1, stored: toy, name });
      host.paired(s.toy);
      return s;
    } catch (e2) {
      await probe.close();
      throw isPlushlinkError(e2, 'NOT_PAIRED') ? e : e2;
    }
  }
  if (farewell) {
    // Dropped right after the confirmation was acknowledged: nothing new is stored, and a
    // pairing the toy no longer has (removed, reset) is forgotten.
    await host.toyEnded(toy.id, farewell.reason, false);
    throw farewell.error;
  }
  // Every hello carries the toy's current advertising key: a reconnect after a rotation we
  // missed updates the stored key here.
  const keyChanged = mode === 'reconnect' && previous !== undefined && previous.advertisingKey !== toy.advertisingKey;
  await host.store(toy);
  committed = true;
  if (mode === 'pair') host.paired(toy);
  if (keyChanged) host.advertisingKeyChanged(toy);
  return session;
}

/**
 * Waits for the ADVERTISING_KEY a toy sends when a pairing takes effect (it may already have
 * arrived, before the confirmation's acknowledgement). Rejects with the session's close error
 * (a GOODBYE's, or `DISCONNECTED`), `TIMEOUT` or `ABORTED`.
 */
function advertisingKeyOf(session: ToySession, signal: AbortSignal, timeoutMs: number): Promise<void> {
  if (session.toy.advertisingKey) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
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

/** Sends one control message and waits for the toy's next one (refusals become typed errors). */
export function exchange(link: ToyLink, message: Uint8Array, opts: { signal: AbortSignal; mode: HandshakeMode; timeoutMs: number }): Promise<WireMessage> {
  const { signal, mode, timeoutMs } = opts;
  return new Promise<WireMessage>((resolve, reject) => {
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
