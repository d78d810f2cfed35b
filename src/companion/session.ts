/**
 * A live, authenticated session with one toy. Created by `Companion.pair()` or
 * `Companion.connect()`; everything on it travels in records of the secure channel.
 */
import { EventEmitter } from 'eventemitter3';
import { toHex } from '../protocol/bytes.js';
import type { AudioBatch } from '../protocol/channel.js';
import { AUDIO_FORMATS_V1 } from '../protocol/audio-record.js';
import { SecureChannel } from '../protocol/channel.js';
import {
  goodbyeReasonName,
  type GoodbyeReasonName,
  decodeBattery,
  decodePairings,
  decodeToyInfo,
  type BatteryInfo,
  type ControlMessage,
  type PairingEntry,
  type ToyInfo,
} from '../protocol/control.js';
import { PlushlinkError, isPlushlinkError, type ErrorCode } from '../protocol/errors.js';
import type { SessionKeys, ToyHello } from '../protocol/handshake.js';
import type { WireMessage } from '../protocol/wire.js';
import type { PairedToy } from './keystore.js';
import type { ToyLink } from './toy-link.js';
import { Speaker } from './speaker.js';
import { Microphone } from './microphone.js';
import {
  refusedRequest,
  type ControlResult,
  type MicrophonePort,
  type RequestBody,
  type RequestOptions,
  type SpeakerPort,
  type ToySessionEvents,
} from './session-port.js';

export type { SpeakerStatus, MicStatus, ToySessionEvents, RequestOptions, ControlResult } from './session-port.js';

/**
 * The error a GOODBYE ends a session with (PROTOCOL.md §10.1): PAIRING_SUPERSEDED →
 * `NOT_IN_PAIRING_MODE`, PAIRING_REMOVED and FACTORY_RESET → `NOT_PAIRED`, otherwise
 * `SESSION_CLOSED`; detail `goodbye` holds the reason.
 */
export function goodbyeError(reason: GoodbyeReasonName, toyName: string): PlushlinkError {
  switch (reason) {
    case 'PAIRING_SUPERSEDED':
      return new PlushlinkError('NOT_IN_PAIRING_MODE', `toy ${toyName} refused the pairing at key confirmation: another companion paired in this window first, or the window closed`, { goodbye: reason });
    case 'PAIRING_REMOVED':
      return new PlushlinkError('NOT_PAIRED', `toy ${toyName} has removed this companion`, { goodbye: reason });
    case 'FACTORY_RESET':
      return new PlushlinkError('NOT_PAIRED', `toy ${toyName} was factory reset`, { goodbye: reason });
    default:
      return new PlushlinkError('SESSION_CLOSED', `toy ${toyName} ended the session`, { goodbye: reason });
  }
}

/** A session with one toy; it is the port its {@link Speaker} and {@link Microphone} use. */
export class ToySession extends EventEmitter<ToySessionEvents> implements SpeakerPort, MicrophonePort {
  /** The paired toy this session is with. */
  readonly toy: PairedToy;
  /** What the toy said in the handshake. */
  readonly hello: ToyHello;
  /** Handshake round trips from connection to session (1 for QR pairing and reconnect). */
  readonly roundTrips: number;
  private readonly channel: SecureChannel;
  private readonly pending = new Map<number, { resolve: (r: ControlResult) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private closedReason: string | undefined;
  /** Dropped inbound input, by code. */
  readonly dropped: Partial<Record<ErrorCode, number>> = {};
  /** The toy's speaker: `await session.speaker.play('hello.ogg')`. */
  readonly speaker: Speaker;
  /** The toy's microphone: `const mic = await session.microphone.start()`. */
  readonly microphone: Microphone;

  /**
   * @internal created by Companion. `now` is the Companion's clock (`CompanionOptions.clock`):
   * the channel's rekey times (PROTOCOL.md §8.3) are read from it and from nothing else.
   */
  constructor(
    readonly link: ToyLink,
    keys: SessionKeys,
    toy: PairedToy,
    hello: ToyHello,
    roundTrips: number,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.toy = toy;
    this.hello = hello;
    this.roundTrips = roundTrips;
    this.channel = new SecureChannel(keys, { now: now(), peerAudioFormats: hello.audioFormats ?? AUDIO_FORMATS_V1 });
    this.speaker = new Speaker(this);
    this.microphone = new Microphone(this);
    link.on('wire', this.onWire);
    link.on('audio', this.onAudio);
    link.on('inputError', this.onInputError);
    link.on('disconnect', this.onDisconnect);
  }

  /** False once the session has ended. */
  get open(): boolean {
    return this.closedReason === undefined;
  }

  /** The negotiated ATT MTU. */
  get mtu(): number {
    return this.link.mtu;
  }

  /** Sends a control request and waits for its result. Rejects with `TIMEOUT`, `ABORTED`, `SESSION_CLOSED`. */
  async request(body: RequestBody, opts: RequestOptions = {}): Promise<ControlResult> {
    this.assertOpen();
    opts.signal?.throwIfAborted();
    let id = 0;
    for (let i = 0; i < 255; i++) {
      const cand = this.nextId;
      this.nextId = (this.nextId % 255) + 1;
      if (!this.pending.has(cand)) {
        id = cand;
        break;
      }
    }
    if (!id) throw new PlushlinkError('RATE_LIMITED', 'too many requests in flight');
    const msg = { ...body, id } as ControlMessage;
    this.channel.tick(this.now());
    if (this.channel.exhausted) {
      this.end('record counters exhausted: reconnect for fresh keys');
      void this.link.close();
      throw new PlushlinkError('SESSION_CLOSED', 'the session ran out of record counters; reconnect');
    }
    return new Promise<ControlResult>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? 5000;
      const timer = setTimeout(() => finish(new PlushlinkError('TIMEOUT', `${body.type}: no answer within ${timeoutMs} ms`)), timeoutMs);
      const onAbort = (): void => finish(new PlushlinkError('ABORTED', `${body.type} aborted`));
      const finish = (err?: Error, res?: ControlResult): void => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        this.pending.delete(id);
        if (err) reject(err);
        else resolve(res!);
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, { resolve: (r) => finish(undefined, r), reject: (e) => finish(e) });
      this.link.sendWire(this.channel.sealControl(msg)).catch((e: Error) => finish(e));
    });
  }

  /** Like {@link request} but throws unless the status is OK; returns the body. */
  private async call(body: RequestBody, opts?: RequestOptions): Promise<Uint8Array> {
    const r = await this.request(body, opts);
    if (r.status !== 'OK') throw refusedRequest(r.status, `${body.type} refused by the toy: ${r.status}`);
    return r.body;
  }

  async setVolume(volume: number, opts?: RequestOptions): Promise<void> {
    await this.call({ type: 'set-volume', volume }, opts);
  }

  async battery(opts?: RequestOptions): Promise<BatteryInfo> {
    return decodeBattery(await this.call({ type: 'get-battery' }, opts));
  }

  async info(opts?: RequestOptions): Promise<ToyInfo> {
    return decodeToyInfo(await this.call({ type: 'get-info' }, opts));
  }

  /** The toy's allow-list (owner only: `NOT_OWNER` otherwise). */
  async listPairings(opts?: RequestOptions): Promise<PairingEntry[]> {
    return decodePairings(await this.call({ type: 'list-pairings' }, opts));
  }

  /** Removes a pairing by key id (owner: any; guest: only itself). */
  async removePairing(keyId: string, opts?: RequestOptions): Promise<void> {
    await this.call({ type: 'remove-pairing', keyId }, opts);
  }

  /** Owner only: lets the next button hold on the toy open a guest pairing window. */
  async allowGuestPairing(opts?: RequestOptions): Promise<void> {
    await this.call({ type: 'allow-guest-pairing' }, opts);
  }

  /** @internal Sends the key-confirmation record (no answer); resolves when the toy's GATT layer acknowledged it. */
  async confirm(): Promise<void> {
    this.assertOpen();
    await this.link.sendWire(this.channel.sealControl({ type: 'confirm', id: 1 }));
  }

  /** Low level: sends a batch of Opus frames as one audio record; returns the first frame's number. */
  async sendAudio(frames: readonly Uint8Array[]): Promise<number> {
    this.assertOpen();
    const { record, firstFrame } = this.channel.sealAudio(frames);
    await this.link.sendAudio(record);
    return firstFrame;
  }

  /** The audio record formats the toy reads (its hello, PROTOCOL §7 and §9); format 2 is used only when it does. */
  get peerAudioFormats(): number {
    return this.channel.peerAudioFormats;
  }

  /** The number the next sent audio frame will get. */
  get nextAudioFrame(): number {
    return this.channel.nextAudioFrame;
  }

  /** @internal A new speaker stream starts: the audio key may move to its next epoch first. */
  audioStreamStart(): void {
    this.channel.audioStreamStart(this.now());
  }

  /** Ends the session and disconnects. */
  async close(): Promise<void> {
    if (!this.open) return;
    this.end('closed by the app');
    await this.link.close();
  }

  private assertOpen(): void {
    if (!this.open) throw new PlushlinkError('SESSION_CLOSED', `the session is closed (${this.closedReason})`);
  }

  private end(reason: string, error?: PlushlinkError): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    this.channel.destroy();
    this.link.off('wire', this.onWire);
    this.link.off('audio', this.onAudio);
    this.link.off('inputError', this.onInputError);
    this.link.off('disconnect', this.onDisconnect);
    for (const p of this.pending.values()) p.reject(error ?? new PlushlinkError('SESSION_CLOSED', `the session closed: ${reason}`));
    this.pending.clear();
    this.emit('close', reason, error);
  }

  private drop(code: ErrorCode, detail: string): void {
    this.dropped[code] = (this.dropped[code] ?? 0) + 1;
    this.emit('input-dropped', code, detail);
  }

  private fatal(e: unknown): void {
    if (isPlushlinkError(e, 'RECORD_AUTH_FAILED')) {
      this.end('a record failed authentication', e);
      void this.link.close();
      return;
    }
    if (isPlushlinkError(e)) this.drop(e.code, e.message);
    else this.drop('INTERNAL', String(e));
  }

  private readonly onWire = (m: WireMessage): void => {
    if (m.kind !== 'record') {
      this.drop('BAD_FRAME', `unexpected ${m.kind} inside a session`);
      return;
    }
    let c: ControlMessage;
    try {
      c = this.channel.openControl(m.record);
    } catch (e) {
      this.fatal(e);
      return;
    }
    switch (c.type) {
      case 'result': {
        const p = this.pending.get(c.id);
        if (p) p.resolve({ status: c.status, body: c.body });
        else this.drop('BAD_CONTROL_MESSAGE', `result for unknown request ${c.id}`);
        return;
      }
      case 'speaker-status':
        this.emit('speaker-status', c);
        return;
      case 'mic-status':
        this.emit('mic-status', c);
        return;
      case 'goodbye': {
        const reason = goodbyeReasonName(c.reason);
        this.emit('goodbye', reason);
        this.end(`the toy said goodbye: ${reason}`, goodbyeError(reason, this.toy.name));
        void this.link.close();
        return;
      }
      case 'advertising-key':
        this.toy.advertisingKey = toHex(c.advertisingKey);
        this.emit('advertising-key', Uint8Array.from(c.advertisingKey));
        return;
      default:
        this.drop('BAD_CONTROL_MESSAGE', `${c.type} is a companion-to-toy request`);
    }
  };

  private readonly onAudio = (record: Uint8Array): void => {
    let batch: AudioBatch;
    try {
      batch = this.channel.openAudio(record);
    } catch (e) {
      this.fatal(e);
      return;
    }
    this.emit('audio', batch);
  };

  private readonly onInputError = (_ch: string, e: PlushlinkError): void => {
    this.drop(e.code, e.message);
  };

  private readonly onDisconnect = (reason: string): void => {
    this.end(`disconnected: ${reason}`, new PlushlinkError('DISCONNECTED', `the toy disconnected: ${reason}`));
  };
}
