/**
 * The reference toy as a sans-IO state machine over protocol/. Inputs are events with the
 * current time (ms since the Unix epoch); outputs are {@link ToyAction}s for the driver to
 * carry out (send a value, disconnect, advertise, persist, play frames, switch the mic).
 *
 * Who may do what is decided in one place, `./policy.ts` (the toy's access rule; docs/SECURITY.md
 * §2 names its tests); this class asks it and carries out its answer. The rules, in short
 * (docs/SECURITY.md properties 1, 2, 5):
 * - Before a connection has a session it may send handshake messages only. Speaker writes,
 *   any other control message and therefore microphone start are refused and counted before
 *   any state changes. A connection without a session after `handshakeDeadlineMs` is closed.
 * - Pairing happens only inside a window opened by a button hold on the toy, checked before
 *   any cryptographic work; the window closes after the first success or after
 *   `maxFailedAttempts` failures; each failure adds exponential backoff (persisted).
 * - One owner and a bounded number of guests; only the owner lists pairings, allows guest
 *   pairing and removes others; a guest may remove itself; a removed companion's sessions
 *   end at once. A long press is a factory reset.
 * - Advertising privacy (property 6): every removal that leaves pairings draws a fresh
 *   advertising key (persisted with the allow-list change, in one write), so the removed
 *   companion's key resolves none of the toy's tags from then on. Connected remaining
 *   companions get the new key at once (ADVERTISING_KEY control event); the others at their
 *   next handshake (the toy hello carries the current key).
 * - Any record authentication failure ends that connection.
 */
import { AUDIO_FORMATS_SUPPORTED, AUDIO_FORMATS_V1, audioFrameJoinsBatch, framesPerRecord, MAX_FRAME_BYTES } from '../protocol/audio-record.js';
import { bytesEqual, fromHex, toHex } from '../protocol/bytes.js';
import { SecureChannel } from '../protocol/channel.js';
import {
  companionKeyId,
  decodeControl,
  GoodbyeReason,
  type GoodbyeReasonName,
  undecodableRequestAnswer,
  encodeBattery,
  encodeMicStartResult,
  encodePairings,
  encodeToyInfo,
  type ControlMessage,
  type PairingEntry,
  type ResultStatusName,
} from '../protocol/control.js';
import { randomBytes, type RandomSource, type X25519KeyPair } from '../protocol/crypto.js';
import { isPlushlinkError, PlushlinkError } from '../protocol/errors.js';
import { DEFAULT_MAX_MESSAGE as MAX_MESSAGE, firstFragmentKind, Fragmenter, Reassembler, FRAG_START } from '../protocol/fragment.js';
import { attPayload, MIN_ATT_MTU, type NotifyingCharacteristic, type WritableCharacteristic } from '../protocol/gatt.js';
import { Capability, reconnectReadSlot, toyReadMessage1, type HandshakeMode, type ToyHello } from '../protocol/handshake.js';
import type { SetupCode } from '../protocol/setup-code.js';
import { decodeWire, encodeWire, type RefusalName } from '../protocol/wire.js';
import { ADV_MAX_CHANGE, advertisingSlot, buildAdvertisement } from '../protocol/advertising.js';
import { SpeakerBuffer } from './speaker-buffer.js';
import { parseToyState } from './state-schema.js';
import {
  admitInfoRequest,
  admitPairing,
  admitPairingCompanion,
  admitReconnect,
  admitReconnectCompanion,
  afterFactoryReset,
  allowedBeforeSession,
  authorizeRequest,
  BEFORE_SESSION_REFUSAL,
  confirmationStale,
  findPairing,
  isRequest,
  MAX_BACKOFF_MS,
  mayLearnAdvertisingKey,
  NOT_OWNER_REFUSAL,
  pairingFailure,
  reconnectFailure,
  SPEAKER_BEFORE_SESSION,
  type PendingPairing,
  windowOnHold,
  type Refusal,
} from './policy.js';
import { emptyToyState, type RefusalKind, type ToyAction, type ToyConfig, type ToyLogEvent, type ToyPairing, type ToyPersistentState, type ToyRefusalCounts } from './types.js';

interface Connection {
  id: string;
  mtu: number;
  openedAt: number;
  channel: SecureChannel | undefined;
  companionKey: string | undefined;
  displayName: string;
  handshakeUsed: boolean;
  /** True once the companion proved it holds the session keys (its first authenticated record). */
  confirmed: boolean;
  /** The rest of a control message refused at its first fragment is dropped without an answer (PROTOCOL.md §4). */
  skippingRefused: boolean;
  /**
   * A pairing that takes effect when the companion confirms. It holds no advertising key: the
   * companion is sent the toy's key only once the pairing took effect (PROTOCOL.md §6.4).
   */
  pendingPairing: (PendingPairing & { displayName: string }) | undefined;
  /**
   * The advertising key (hex) last sent on this connection (in a reconnect hello or an
   * ADVERTISING_KEY record); undefined until one was sent (always, for a pairing before it takes effect).
   */
  advKey: string | undefined;
  reasmControl: Reassembler;
  reasmSpeaker: Reassembler;
  fragControl: Fragmenter;
  fragMic: Fragmenter;
}

export { companionKeyId };

export interface ToyCoreOptions {
  identity: X25519KeyPair;
  setupCode: SetupCode;
  state?: ToyPersistentState;
  config?: ToyConfig;
  random?: RandomSource;
  now: number;
}

export class ToyCore {
  readonly identity: X25519KeyPair;
  private readonly setupCode: SetupCode;
  private readonly random: RandomSource;
  private readonly cfg: Required<ToyConfig>;
  private state: ToyPersistentState;
  private readonly conns = new Map<string, Connection>();
  private windowUntil = 0;
  private windowFailures = 0;
  /** Counts window openings: a pending pairing belongs to the window its message 1 was read in. */
  private windowSerial = 0;
  private guestGrantUntil = 0;
  private advSlot = -1;
  private advPairing = false;
  /** The service data last advertised (undefined before the first advertisement). */
  private advData: Uint8Array | undefined;
  /** Changes of the service data within the current slot: the tag's change counter (PROTOCOL.md §12). */
  private advChange = 0;
  private readonly speaker: SpeakerBuffer;
  private speakerConn: string | undefined;
  private lastSpeakerReport = 0;
  private lastSpeakerState = 'idle';
  private micConn: string | undefined;
  private micBatch: Uint8Array[] = [];
  private battery = { percent: 87, charging: false };
  readonly refusals: ToyRefusalCounts = {
    'speaker-write': 0,
    'control-before-session': 0,
    'not-in-pairing-mode': 0,
    'rate-limited': 0,
    'wrong-setup-code': 0,
    'bad-handshake': 0,
    'not-paired': 0,
    'allow-list-full': 0,
    'replayed-record': 0,
    'record-auth-failed': 0,
    'handshake-timeout': 0,
    malformed: 0,
    'not-owner': 0,
  };
  /** Control requests executed, by type (for tests: proves nothing ran for strangers). */
  readonly executed: Record<string, number> = {};

  constructor(opts: ToyCoreOptions) {
    this.identity = opts.identity;
    this.setupCode = opts.setupCode;
    this.random = opts.random ?? randomBytes;
    // Whatever storage it came from, a state that does not match the schema is refused
    // (KEYSTORE_CORRUPT): the toy never runs with an unreadable backoff (fail closed).
    this.state = parseToyState(opts.state ?? emptyToyState());
    this.cfg = {
      firmwareVersion: '1.0.0',
      model: 'plushlink reference toy',
      capabilities: Capability.SPEAKER | Capability.MICROPHONE | Capability.BATTERY | Capability.VOLUME,
      pairingWindowMs: 120_000,
      maxFailedAttempts: 5,
      backoffBaseMs: 1000,
      handshakeDeadlineMs: 5000,
      maxGuests: 4,
      guestGrantMs: 300_000,
      speakerBufferMs: 400,
      speakerPrebufferMs: 100,
      micLatencyBudgetMs: 60,
      speakerStatusIntervalMs: 100,
      ...opts.config,
    };
    this.speaker = new SpeakerBuffer(this.cfg.speakerBufferMs, this.cfg.speakerPrebufferMs);
  }

  // ---------------------------------------------------------------- queries

  get pairings(): readonly ToyPairing[] {
    return this.state.pairings;
  }

  get persistentState(): ToyPersistentState {
    return structuredClone(this.state);
  }

  pairingWindowOpen(now: number): boolean {
    return now < this.windowUntil;
  }

  get speakerStats() {
    return this.speaker.stats;
  }

  get microphoneActive(): boolean {
    return this.micConn !== undefined;
  }

  get config(): Readonly<Required<ToyConfig>> {
    return this.cfg;
  }

  /** Open connections (with or without a session). */
  get connectionCount(): number {
    return this.conns.size;
  }

  /** Connections that completed a handshake. */
  get sessionCount(): number {
    let n = 0;
    for (const c of this.conns.values()) if (c.channel) n++;
    return n;
  }

  hasSession(connection: string): boolean {
    return !!this.conns.get(connection)?.channel;
  }

  setBattery(percent: number, charging: boolean): void {
    this.battery = { percent, charging };
  }

  // ---------------------------------------------------------------- inputs

  /**
   * Starts advertising (call once at power-up). The backoff lock is a wall-clock time and ran on
   * while the toy was off; one further ahead than the longest backoff (the clock was set back or
   * lost) is shortened to that from now, and persisted (PROTOCOL.md §13.1).
   */
  start(now: number): ToyAction[] {
    const out: ToyAction[] = [];
    if (this.state.lockedUntil > now + MAX_BACKOFF_MS) {
      this.state.lockedUntil = now + MAX_BACKOFF_MS;
      out.push({ type: 'persist', state: this.persistentState });
    }
    return [...out, ...this.advertise(now, true)];
  }

  connect(connection: string, mtu: number, now: number): ToyAction[] {
    this.conns.set(connection, {
      id: connection,
      mtu,
      openedAt: now,
      channel: undefined,
      companionKey: undefined,
      displayName: '',
      handshakeUsed: false,
      confirmed: false,
      skippingRefused: false,
      pendingPairing: undefined,
      advKey: undefined,
      reasmControl: new Reassembler(MAX_MESSAGE),
      reasmSpeaker: new Reassembler(MAX_MESSAGE),
      fragControl: new Fragmenter(MAX_MESSAGE),
      fragMic: new Fragmenter(MAX_MESSAGE),
    });
    return [];
  }

  /** The link's ATT MTU changed (bleno finishes the MTU exchange after the connect event). */
  updateMtu(connection: string, mtu: number): void {
    const c = this.conns.get(connection);
    if (c && mtu >= MIN_ATT_MTU) c.mtu = mtu;
  }

  disconnect(connection: string, _now: number): ToyAction[] {
    const c = this.conns.get(connection);
    if (!c) return [];
    this.conns.delete(connection);
    c.channel?.destroy();
    const out: ToyAction[] = [];
    if (this.micConn === connection) {
      this.micConn = undefined;
      this.micBatch = [];
      out.push({ type: 'microphone', active: false });
    }
    if (this.speakerConn === connection) this.speakerConn = undefined;
    return out;
  }

  /** Button events: `hold` (≈3 s) opens the pairing window; `reset` (≈10 s) is a factory reset. */
  button(kind: 'hold' | 'reset', now: number): ToyAction[] {
    const out: ToyAction[] = [];
    if (kind === 'reset') {
      this.state = afterFactoryReset(this.state);
      this.windowUntil = 0;
      this.windowFailures = 0;
      this.guestGrantUntil = 0;
      for (const c of [...this.conns.values()]) out.push(...this.drop(c, 'factory reset', now, 'FACTORY_RESET'));
      out.push({ type: 'persist', state: this.persistentState }, this.log({ kind: 'factory-reset' }));
      out.push(...this.advertise(now, true, true));
      return out;
    }
    const hold = windowOnHold(this.state, now, this.guestGrantUntil);
    if (!hold.open) {
      out.push(this.log({ kind: 'pairing-window', open: false, reason: hold.reason }));
      return out;
    }
    if (!this.pairingWindowOpen(now)) this.windowSerial++; // a hold inside an open window keeps it the same window
    this.windowUntil = now + this.cfg.pairingWindowMs;
    this.windowFailures = 0;
    out.push(this.log({ kind: 'pairing-window', open: true, reason: hold.reason }));
    out.push(...this.advertise(now, true));
    return out;
  }

  write(connection: string, characteristic: WritableCharacteristic, value: Uint8Array, now: number): ToyAction[] {
    const c = this.conns.get(connection);
    if (!c) return [];
    if (characteristic === 'speaker') return this.onSpeakerWrite(c, value, now);
    return this.onControlWrite(c, value, now);
  }

  /**
   * A captured 20 ms Opus frame from the microphone (driver feeds them in real time). Throws
   * `BAD_AUDIO` for a frame the protocol cannot carry (1..255 bytes) and keeps the batch as it was.
   */
  micFrame(frame: Uint8Array, now: number): ToyAction[] {
    const c = this.micConn ? this.conns.get(this.micConn) : undefined;
    if (!c?.channel) return [];
    const maxFrames = framesPerRecord(this.cfg.micLatencyBudgetMs);
    const payloadMax = attPayload(c.mtu);
    if (frame.length < 1 || frame.length > MAX_FRAME_BYTES) {
      throw new PlushlinkError('BAD_AUDIO', `a microphone frame must be 1..${MAX_FRAME_BYTES} bytes, got ${frame.length}`);
    }
    const out: ToyAction[] = [];
    // One ATT value per record where a frame fits one; never past the record size limit.
    if (!audioFrameJoinsBatch(this.micBatch.map((f) => f.length), frame.length, payloadMax)) out.push(...this.flushMic(c));
    this.micBatch.push(frame);
    if (this.micBatch.length >= maxFrames) out.push(...this.flushMic(c));
    void now;
    return out;
  }

  /** The microphone source ran out: flush, tell the listener where the stream ended, switch off. */
  micEnded(_now: number): ToyAction[] {
    const c = this.micConn ? this.conns.get(this.micConn) : undefined;
    if (!c) return [];
    return this.endMic(c);
  }

  private endMic(c: Connection): ToyAction[] {
    const out = this.flushMic(c);
    this.micConn = undefined;
    out.push({ type: 'microphone', active: false });
    if (c.channel) out.push(...this.sendControl(c, { type: 'mic-status', id: 0, active: false, nextFrame: c.channel.nextAudioFrame }));
    return out;
  }

  /** Advances time: deadlines, window expiry, speaker playback and reports, advertising rotation. */
  tick(now: number): ToyAction[] {
    const out: ToyAction[] = [];
    for (const c of [...this.conns.values()]) {
      c.channel?.tick(now);
      if (c.channel?.exhausted) {
        out.push(...this.drop(c, 'record counters exhausted: reconnect for fresh keys', now));
        continue;
      }
      if (!c.confirmed && now - c.openedAt >= this.cfg.handshakeDeadlineMs) {
        this.refuse('handshake-timeout', c.id, out);
        out.push(...this.sendError(c, 'TIMEOUT', 0), { type: 'disconnect', connection: c.id, reason: 'no handshake within the deadline' });
        this.conns.delete(c.id);
      }
    }
    if (this.windowUntil > 0 && now >= this.windowUntil) {
      this.windowUntil = 0;
      out.push(this.log({ kind: 'pairing-window', open: false, reason: 'timed out' }));
    }
    const played = this.speaker.advance(now);
    if (played.length) out.push({ type: 'play', frames: played });
    out.push(...this.reportSpeaker(now, false));
    out.push(...this.advertise(now, false));
    return out;
  }

  // ---------------------------------------------------------------- speaker path

  private onSpeakerWrite(c: Connection, value: Uint8Array, now: number): ToyAction[] {
    const out: ToyAction[] = [];
    if (!c.channel) {
      this.refuse(SPEAKER_BEFORE_SESSION, c.id, out);
      return out;
    }
    const r = c.reasmSpeaker.push(value);
    if (r.kind === 'partial') return out;
    if (r.kind === 'error') {
      this.refuse('malformed', c.id, out, r.error.message);
      return out;
    }
    try {
      const batch = c.channel.openAudio(r.message);
      if (!this.confirm(c, now, out)) return out;
      const before = this.speaker.advance(now);
      if (before.length) out.push({ type: 'play', frames: before });
      // Audio outside a stream is dropped and takes no status reports (PROTOCOL.md §13.6).
      if (!this.speaker.streamOpen) {
        this.speaker.push(batch.firstFrame, batch.frames, now);
        return out;
      }
      this.speakerConn = c.id;
      this.speaker.push(batch.firstFrame, batch.frames, now);
      const played = this.speaker.advance(now);
      if (played.length) out.push({ type: 'play', frames: played });
      out.push(...this.reportSpeaker(now, false));
    } catch (e) {
      out.push(...this.recordError(c, e, now));
    }
    return out;
  }

  private reportSpeaker(now: number, force: boolean): ToyAction[] {
    const s = this.speaker.stats;
    const c = this.speakerConn ? this.conns.get(this.speakerConn) : undefined;
    if (!c?.channel) return [];
    const changed = s.state !== this.lastSpeakerState;
    const active = s.state === 'playing' || s.state === 'draining';
    if (!force && !changed && !(active && now - this.lastSpeakerReport >= this.cfg.speakerStatusIntervalMs)) return [];
    this.lastSpeakerReport = now;
    this.lastSpeakerState = s.state;
    return this.sendControl(c, {
      type: 'speaker-status',
      id: 0,
      state: s.state,
      bufferedMs: s.bufferedMs,
      framesPlayed: s.framesPlayed,
      underruns: s.underruns,
      overruns: s.overruns,
    });
  }

  private flushMic(c: Connection): ToyAction[] {
    if (!c.channel || this.micBatch.length === 0) return [];
    const { record } = c.channel.sealAudio(this.micBatch);
    this.micBatch = [];
    return c.fragMic.fragment(record, attPayload(c.mtu)).map((value) => ({ type: 'send', connection: c.id, characteristic: 'microphone' as const, value }));
  }

  // ---------------------------------------------------------------- control path

  private onControlWrite(c: Connection, value: Uint8Array, now: number): ToyAction[] {
    const out: ToyAction[] = [];
    if (!c.channel) {
      const h = value[0];
      // The continuation fragments of a message refused at its first fragment are dropped
      // silently: one message, one refusal (PROTOCOL.md §4, §11).
      if (c.skippingRefused && h !== undefined && !(h & FRAG_START)) {
        if (c.reasmControl.skip(value)) c.skippingRefused = false;
        return out;
      }
      c.skippingRefused = false;
      // Refuse every kind but a handshake kind at its first fragment, before buffering anything:
      // any other kind byte, known or not, is NOT_AUTHENTICATED (PROTOCOL.md §4, §11).
      const kind = firstFragmentKind(value);
      if (kind !== undefined && !allowedBeforeSession(kind)) {
        out.push(...this.refuseBeforeSession(c, BEFORE_SESSION_REFUSAL));
        c.skippingRefused = !c.reasmControl.skip(value);
        return out;
      }
    }
    const r = c.reasmControl.push(value);
    if (r.kind === 'partial') return out;
    if (r.kind === 'error') {
      this.refuse('malformed', c.id, out, r.error.message);
      if (!c.channel) out.push(...this.sendError(c, 'BAD_MESSAGE', 0));
      return out;
    }
    let msg;
    try {
      msg = decodeWire(r.message);
    } catch (e) {
      this.refuse('malformed', c.id, out, (e as Error).message);
      if (!c.channel) out.push(...this.sendError(c, 'BAD_MESSAGE', 0));
      return out;
    }
    if (!c.channel) {
      switch (msg.kind) {
        case 'pair-m1':
          return this.onHandshake(c, 'pair', msg.noise, now);
        case 'reconnect-m1':
          return this.onHandshake(c, 'reconnect', msg.noise, now, msg.slot);
        case 'info-request': {
          const admitted = admitInfoRequest(this.pairingWindowOpen(now));
          if (!admitted.admit) return this.refuseBeforeSession(c, admitted);
          return this.sendWire(c, encodeWire({ kind: 'info-response', version: 1, toyPublicKey: this.identity.publicKey }));
        }
        default:
          return this.refuseBeforeSession(c, BEFORE_SESSION_REFUSAL);
      }
    }
    if (msg.kind !== 'record') {
      this.refuse('malformed', c.id, out, `${msg.kind} inside a session`);
      return out;
    }
    let plaintext: Uint8Array;
    try {
      plaintext = c.channel.openControlPlaintext(msg.record);
    } catch (e) {
      return [...out, ...this.recordError(c, e, now)];
    }
    let m: ControlMessage;
    try {
      m = decodeControl(plaintext);
    } catch (e) {
      // Authentic but not a request this toy can carry out. Only a decodable record confirms
      // (section 6.4), so an unconfirmed connection gets no answer; a confirmed one learns why.
      this.refuse('malformed', c.id, out, (e as Error).message);
      const answer = c.confirmed ? undecodableRequestAnswer(plaintext) : undefined;
      if (answer) out.push(...this.sendControl(c, { type: 'result', id: answer.id, status: answer.status, body: new Uint8Array(0) }));
      return out;
    }
    if (!this.confirm(c, now, out)) return out;
    return [...out, ...this.onRequest(c, m, now)];
  }

  private onHandshake(c: Connection, mode: HandshakeMode, noise: Uint8Array, now: number, announcedSlot = 0): ToyAction[] {
    const out: ToyAction[] = [];
    // Decided before any cryptographic work.
    const admitted =
      mode === 'pair'
        ? admitPairing(this.state, now, { windowOpen: this.pairingWindowOpen(now), handshakeUsed: c.handshakeUsed })
        : admitReconnect({ handshakeUsed: c.handshakeUsed });
    if (!admitted.admit) return this.refuseBeforeSession(c, admitted);
    c.handshakeUsed = true;
    let read;
    try {
      // Reconnect: the allow-list is checked as soon as message 1 yields the companion's key,
      // before the `ss` DH, and an unknown companion is refused exactly like a message 1 that
      // does not authenticate (HANDSHAKE_FAILED, same work): the refusal must not tell a
      // central that knows this toy's public key that it found this toy (PROTOCOL.md §14.3).
      const acceptCompanion = mode === 'reconnect' ? (k: Uint8Array): boolean => admitReconnectCompanion(this.state, toHex(k)) : undefined;
      // A reconnect message 1 is bound to the advertising slot it was made in: it reads only within
      // one slot of the toy's clock; a stale one is read with the toy's own slot and fails at `s`,
      // like a message made for another toy (PROTOCOL.md §6.1, §14.3).
      const slot = mode === 'reconnect' ? reconnectReadSlot(announcedSlot, advertisingSlot(now)) : undefined;
      read = toyReadMessage1(mode, noise, { toy: this.identity, setupCode: this.setupCode, slot, random: this.random, acceptCompanion });
    } catch (e) {
      const code = isPlushlinkError(e) ? e.code : undefined;
      if (mode === 'pair') {
        const failure = pairingFailure(this.state, this.windowFailures, now, code, this.cfg);
        this.refuse(failure.count, c.id, out, (e as Error).message);
        this.state.failedAttempts = failure.failedAttempts;
        this.windowFailures = failure.windowFailures;
        this.state.lockedUntil = failure.lockedUntil;
        out.push({ type: 'persist', state: this.persistentState });
        if (failure.closeWindow) {
          this.windowUntil = 0;
          out.push(this.log({ kind: 'pairing-window', open: false, reason: `${this.windowFailures} failed attempts` }));
          out.push(...this.advertise(now, true));
        }
        out.push(...this.sendError(c, 'HANDSHAKE_FAILED', failure.backoffMs / 1000), { type: 'disconnect', connection: c.id, reason: 'pairing failed' });
      } else {
        // Counted apart for the toy's own log; on the air both are the same refusal.
        const count = reconnectFailure(code);
        this.refuse(count, c.id, out, count === 'not-paired' ? undefined : (e as Error).message);
        out.push(...this.sendError(c, 'HANDSHAKE_FAILED', 0), { type: 'disconnect', connection: c.id, reason: 'reconnect failed' });
      }
      this.conns.delete(c.id);
      return out;
    }
    const keyHex = toHex(read.companionPublicKey);
    const existing = findPairing(this.state, keyHex);
    let role: 'owner' | 'guest';
    if (mode === 'reconnect') {
      // acceptCompanion above let only companions on the allow-list get here.
      if (!existing) throw new PlushlinkError('HANDSHAKE_STATE', 'reconnect of a companion not on the allow-list');
      role = existing.role;
    } else {
      // Nothing changes yet: message 1 may be a replay. The pairing takes effect when the
      // companion confirms with its first authenticated record (see confirm()).
      const admittedCompanion = admitPairingCompanion(this.state, keyHex, this.cfg.maxGuests);
      if (!admittedCompanion.admit) {
        out.push(...this.refuseBeforeSession(c, admittedCompanion), { type: 'disconnect', connection: c.id, reason: 'allow-list full' });
        this.conns.delete(c.id);
        return out;
      }
      role = admittedCompanion.role;
      c.pendingPairing = { role, displayName: read.companion.displayName, window: this.windowSerial };
    }
    // The pairing hello carries no advertising key: whoever holds the label can get this far and
    // never confirm (PROTOCOL.md §6.3). A reconnect hello carries the current one: only a
    // companion on the allow-list reads it.
    const hello: ToyHello = {
      firmwareVersion: this.cfg.firmwareVersion,
      capabilities: this.cfg.capabilities,
      speakerBufferMs: this.cfg.speakerBufferMs,
      role,
      ...(mode === 'reconnect' ? { advertisingKey: fromHex(this.state.advertisingKey!) } : {}),
      audioFormats: AUDIO_FORMATS_SUPPORTED,
    };
    const { message2, keys } = read.respond(hello);
    c.channel = new SecureChannel(keys, { now, peerAudioFormats: read.companion.audioFormats ?? AUDIO_FORMATS_V1 });
    c.companionKey = keyHex;
    c.advKey = hello.advertisingKey && toHex(hello.advertisingKey);
    c.displayName = existing?.displayName ?? read.companion.displayName;
    out.push(...this.sendWire(c, encodeWire({ kind: mode === 'pair' ? 'pair-m2' : 'reconnect-m2', noise: message2 })));
    return out;
  }

  /**
   * The companion's first authenticated record proves it holds the session keys (a replayed
   * message 1 cannot get here). Only now does a pairing take effect and the handshake
   * deadline stop. Returns false (and drops the connection) when the pairing can no longer be
   * committed.
   */
  private confirm(c: Connection, now: number, out: ToyAction[]): boolean {
    if (c.confirmed) return true;
    c.confirmed = true;
    const p = c.pendingPairing;
    c.pendingPairing = undefined;
    if (p) {
      const existing = findPairing(this.state, c.companionKey);
      // The window admits one pairing (policy.ts, confirmationStale).
      const stale = confirmationStale(this.state, p, c.companionKey, {
        windowOpen: this.pairingWindowOpen(now),
        windowSerial: this.windowSerial,
        maxGuests: this.cfg.maxGuests,
      });
      if (stale) {
        out.push(...this.drop(c, 'pairing superseded', now, 'PAIRING_SUPERSEDED'));
        return false;
      }
      if (existing) existing.displayName = p.displayName;
      else this.state.pairings.push({ companionKey: c.companionKey!, role: p.role, displayName: p.displayName, pairedAt: now });
      // Keep the current key; a toy without one (a first pairing, or the list emptied since
      // message 1 and the key was erased) draws a fresh one now — never an old one, which
      // removed companions know.
      this.state.advertisingKey ??= toHex(this.random(32));
      this.state.failedAttempts = 0;
      this.state.lockedUntil = 0;
      this.windowUntil = 0; // closes after the first success
      this.guestGrantUntil = 0;
      out.push({ type: 'persist', state: this.persistentState });
      out.push(this.log({ kind: 'paired', connection: c.id, role: p.role, displayName: p.displayName }));
      out.push(this.log({ kind: 'pairing-window', open: false, reason: 'paired' }));
      out.push(...this.advertise(now, true));
    }
    // A pairing learns the key now (its hello had none); a reconnect, if a removal rotated it
    // since its hello.
    out.push(...this.deliverAdvertisingKey(c));
    out.push(this.log({ kind: 'session', connection: c.id, mode: p ? 'pair' : 'reconnect', displayName: c.displayName }));
    return true;
  }

  private onRequest(c: Connection, m: ControlMessage, now: number): ToyAction[] {
    const out: ToyAction[] = [];
    if (!isRequest(m)) {
      this.refuse('malformed', c.id, out, `${m.type} is toy-to-companion`);
      return out;
    }
    const req = m;
    // `executed` counts requests the toy carried out (answered OK), never refused ones.
    const result = (status: ResultStatusName, body: Uint8Array = new Uint8Array(0)): ToyAction[] => {
      if (status === 'OK') this.executed[req.type] = (this.executed[req.type] ?? 0) + 1;
      return this.sendControl(c, { type: 'result', id: req.id, status, body });
    };
    // The access rule (policy.ts): the capability the request needs, the pairing it names, who may make it.
    const target = req.type === 'remove-pairing' ? this.state.pairings.find((p) => companionKeyId(p.companionKey) === req.keyId) : undefined;
    const verdict = authorizeRequest(req.type, {
      capabilities: this.cfg.capabilities,
      role: findPairing(this.state, c.companionKey)?.role,
      ...(req.type === 'remove-pairing' ? { target: !target ? 'none' : target.companionKey === c.companionKey ? 'self' : 'other' } : {}),
    });
    if (verdict === 'NOT_OWNER') {
      this.refuse(NOT_OWNER_REFUSAL, c.id, out);
      return [...out, ...result('NOT_OWNER')];
    }
    if (verdict !== 'allow') return result(verdict);
    switch (req.type) {
      case 'confirm':
        return out; // key confirmation only; handled by confirm()
      case 'speaker-start':
        this.speaker.start(req.firstFrame);
        this.speakerConn = c.id;
        return [...result('OK'), ...this.reportSpeaker(now, true)];
      case 'speaker-end':
        this.speaker.end(req.lastFrame, now);
        out.push(...result('OK'));
        {
          const played = this.speaker.advance(now);
          if (played.length) out.push({ type: 'play', frames: played });
        }
        out.push(...this.reportSpeaker(now, true));
        return out;
      case 'speaker-stop':
        this.speaker.stop();
        out.push(...result('OK'), ...this.reportSpeaker(now, true));
        return out;
      case 'mic-start': {
        if (this.micConn && this.micConn !== c.id) return result('BUSY');
        if (!this.micConn) out.push({ type: 'microphone', active: true });
        this.micConn = c.id;
        this.micBatch = [];
        c.channel!.audioStreamStart(now);
        const first = c.channel!.nextAudioFrame;
        return [...out, ...result('OK', encodeMicStartResult(first))];
      }
      case 'mic-stop':
        if (this.micConn !== c.id) return result('OK');
        return [...result('OK'), ...this.endMic(c)];
      case 'set-volume':
        this.state.volume = req.volume;
        return [{ type: 'persist', state: this.persistentState }, ...result('OK', new Uint8Array([req.volume]))];
      case 'get-battery':
        return result('OK', encodeBattery(this.battery));
      case 'get-info':
        return result(
          'OK',
          encodeToyInfo({ firmwareVersion: this.cfg.firmwareVersion, model: this.cfg.model, capabilities: this.cfg.capabilities, volume: this.state.volume }),
        );
      case 'list-pairings': {
        const list: PairingEntry[] = this.state.pairings.map((p) => ({
          keyId: companionKeyId(p.companionKey),
          role: p.role,
          displayName: p.displayName,
          pairedAt: Math.floor(p.pairedAt / 1000),
        }));
        return result('OK', encodePairings(list));
      }
      case 'remove-pairing': {
        if (!target) return result('NOT_FOUND'); // authorizeRequest answered NOT_FOUND already
        this.state.pairings = this.state.pairings.filter((p) => p !== target);
        // The removed companion holds the advertising key: rotate it so that it can no longer
        // recognise the toy's tags. With nobody left the key is erased (random tags).
        const rotated = this.state.pairings.length > 0;
        if (rotated) this.state.advertisingKey = toHex(this.random(32));
        else delete this.state.advertisingKey;
        // One write: the allow-list change and the new key are persisted together.
        out.push({ type: 'persist', state: this.persistentState });
        // Connected companions that stay learn the new key at once (before the remover's
        // RESULT, so its removePairing() resolves with the key already known); the others at
        // their next handshake. The removed companion's connections get nothing.
        for (const other of this.conns.values()) {
          if (other.companionKey !== target.companionKey) out.push(...this.deliverAdvertisingKey(other));
        }
        out.push(...result('OK'));
        out.push(this.log({ kind: 'removed', companionKey: target.companionKey, by: c.companionKey ?? '', advertisingKey: rotated ? 'rotated' : 'erased' }));
        for (const other of [...this.conns.values()]) {
          if (other.companionKey === target.companionKey) out.push(...this.drop(other, 'pairing removed', now, 'PAIRING_REMOVED'));
        }
        // New tags under the new key, and a new address: the old ones are known to the removed companion.
        out.push(...this.advertise(now, true, true));
        return out;
      }
      case 'allow-guest-pairing':
        this.guestGrantUntil = now + this.cfg.guestGrantMs;
        return result('OK');
    }
  }

  // ---------------------------------------------------------------- helpers

  private recordError(c: Connection, e: unknown, now: number): ToyAction[] {
    const out: ToyAction[] = [];
    if (isPlushlinkError(e, 'REPLAYED_RECORD')) {
      this.refuse('replayed-record', c.id, out);
      return out;
    }
    if (isPlushlinkError(e, 'RECORD_AUTH_FAILED')) {
      this.refuse('record-auth-failed', c.id, out);
      return [...out, ...this.drop(c, 'record authentication failed', now)];
    }
    this.refuse('malformed', c.id, out, (e as Error).message);
    return out;
  }

  /**
   * Sends the toy's current advertising key to `c` (ADVERTISING_KEY) when its companion is on
   * the allow-list and was last sent another key (or none). A companion not on the list — a
   * pending new pairing included — is never sent it (PROTOCOL.md §10.4).
   */
  private deliverAdvertisingKey(c: Connection): ToyAction[] {
    if (!c.channel || !c.companionKey) return [];
    if (!mayLearnAdvertisingKey(this.state, c.companionKey)) return [];
    const key = this.state.advertisingKey;
    if (!key || key === c.advKey) return [];
    c.advKey = key;
    return this.sendControl(c, { type: 'advertising-key', id: 0, advertisingKey: fromHex(key) });
  }

  /**
   * Ends a connection. With `goodbye` (and a session to seal it in) the companion is first told
   * why in a GOODBYE record, so that it learns of a refused confirmation, a removal or a reset
   * at once rather than at its next reconnect (PROTOCOL.md §10.1).
   */
  private drop(c: Connection, reason: string, now: number, goodbye?: GoodbyeReasonName): ToyAction[] {
    const out = goodbye ? this.sendControl(c, { type: 'goodbye', id: 0, reason: GoodbyeReason[goodbye] }) : [];
    out.push(...this.disconnect(c.id, now));
    out.push({ type: 'disconnect', connection: c.id, reason });
    return out;
  }

  private sendControl(c: Connection, m: ControlMessage): ToyAction[] {
    if (!c.channel) return [];
    return this.sendWire(c, c.channel.sealControl(m));
  }

  private sendWire(c: Connection, wire: Uint8Array): ToyAction[] {
    return c.fragControl.fragment(wire, attPayload(c.mtu)).map((value) => ({ type: 'send', connection: c.id, characteristic: 'control' as NotifyingCharacteristic, value }));
  }

  private sendError(c: Connection, refusal: RefusalName, retryAfterSec: number): ToyAction[] {
    return this.sendWire(c, encodeWire({ kind: 'error', refusal, retryAfterSec }));
  }

  /** Carries out a policy refusal before a session: counts it and answers its plaintext ERROR. */
  private refuseBeforeSession(c: Connection, r: Refusal): ToyAction[] {
    const out: ToyAction[] = [];
    this.refuse(r.count, c.id, out, r.detail);
    return [...out, ...this.sendError(c, r.refusal, r.retryAfterSec)];
  }

  private refuse(what: RefusalKind, connection: string, out: ToyAction[], detail?: string): void {
    this.refusals[what]++;
    out.push(this.log({ kind: 'refused', connection, what, ...(detail ? { detail } : {}) }));
  }

  private log(event: ToyLogEvent): ToyAction {
    return { type: 'log', event };
  }

  private advertise(now: number, force: boolean, newAddress = false): ToyAction[] {
    const slot = advertisingSlot(now);
    const pairing = this.pairingWindowOpen(now);
    if (!force && slot === this.advSlot && pairing === this.advPairing) return [];
    const newSlot = slot !== this.advSlot;
    this.advSlot = slot;
    this.advPairing = pairing;
    const key = this.state.advertisingKey && this.state.pairings.length ? fromHex(this.state.advertisingKey) : undefined;
    // Within a slot every change of the service data moves the tag's change counter, so that an
    // owned toy's tag changes with its flags and no two advertisements link (PROTOCOL.md §12).
    if (newSlot) this.advChange = 0;
    let serviceData = buildAdvertisement({ nowMs: now, pairing, advertisingKey: key, random: this.random, change: this.advChange });
    if (!newSlot && this.advData !== undefined && !bytesEqual(this.advData, serviceData) && key && this.advChange < ADV_MAX_CHANGE) {
      this.advChange++;
      serviceData = buildAdvertisement({ nowMs: now, pairing, advertisingKey: key, random: this.random, change: this.advChange });
    }
    // Whatever changes on the air changes together: new service data (a new slot, a flag, a key)
    // comes from a new address, or the old address would link the old and the new data.
    const changed = this.advData !== undefined && !bytesEqual(this.advData, serviceData);
    this.advData = serviceData;
    return [newAddress || changed ? { type: 'advertise', serviceData, newAddress: true } : { type: 'advertise', serviceData }];
  }
}
