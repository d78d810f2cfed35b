/**
 * A secure channel after the handshake: the record layer for both channels (control and
 * audio) of one party, shared by the toy and the companion. Pure.
 */
import { AUDIO_FORMATS_V1, decodeAudioPayload, encodeAudioPayloadInto } from './audio-record.js';
import { decodeControl, encodeControl, type ControlMessage } from './control.js';
import { PlushlinkError, isPlushlinkError } from './errors.js';
import type { SessionKeys } from './handshake.js';
import { RecordReceiver, RecordSender, channelKey } from './record.js';
import { DEFAULT_MAX_MESSAGE } from './fragment.js';
import { encodeWire } from './wire.js';

/** An opened audio record. */
export interface AudioBatch {
  /** Sequence number of the first frame. */
  firstFrame: number;
  frames: Uint8Array[];
}

/** Default time between sender rekeys (10 minutes). */
export const DEFAULT_REKEY_INTERVAL_MS = 10 * 60_000;

export interface SecureChannelOptions {
  /** Time (ms) the channel was created; enables time-based rekeying through {@link SecureChannel.tick}. */
  now?: number;
  /** Move both sending channels to a new key epoch this often (default 10 min). */
  rekeyIntervalMs?: number;
  /**
   * The audio record formats the peer reads ({@link AudioFormats} bits, from its hello; default
   * format 1 only). Sent audio uses format 2 only when the peer reads it; received audio may be
   * either (PROTOCOL §9).
   */
  peerAudioFormats?: number;
}

export class SecureChannel {
  private readonly controlOut: RecordSender;
  private readonly controlIn: RecordReceiver;
  private readonly audioOut: RecordSender;
  private readonly audioIn: RecordReceiver;
  private dead = false;
  private lastRekey: number | undefined;
  private lastAudioRekey: number | undefined;
  private readonly rekeyIntervalMs: number;
  private exhaustedFlag = false;
  /** The audio record formats the peer reads (PROTOCOL §9). */
  readonly peerAudioFormats: number;
  /** Where audio payloads are encoded just before they are sealed (one record's worth, reused; made at the first audio). */
  private audioScratch: Uint8Array | undefined;

  constructor(keys: SessionKeys, opts: SecureChannelOptions = {}) {
    this.lastRekey = opts.now;
    this.lastAudioRekey = opts.now;
    this.rekeyIntervalMs = opts.rekeyIntervalMs ?? DEFAULT_REKEY_INTERVAL_MS;
    this.peerAudioFormats = opts.peerAudioFormats ?? AUDIO_FORMATS_V1;
    this.controlOut = new RecordSender(channelKey(keys.sendKey, 'control'));
    this.audioOut = new RecordSender(channelKey(keys.sendKey, 'audio'));
    this.controlIn = new RecordReceiver(channelKey(keys.receiveKey, 'control'));
    this.audioIn = new RecordReceiver(channelKey(keys.receiveKey, 'audio'));
  }

  /** False after an authentication failure or `destroy()`. */
  get alive(): boolean {
    return !this.dead;
  }

  /** Sequence number the next sent audio frame gets. */
  get nextAudioFrame(): number {
    return this.audioOut.counter;
  }

  /** Seals a control message into a control-characteristic wire message. */
  sealControl(m: ControlMessage): Uint8Array {
    this.check();
    return encodeWire({ kind: 'record', record: this.controlOut.seal(encodeControl(m)) });
  }

  /**
   * Opens a control record (the body of a wire `record`). Throws `REPLAYED_RECORD` (ignore),
   * `RECORD_AUTH_FAILED` (fatal: the channel is dead) or `BAD_CONTROL_MESSAGE`.
   */
  openControl(record: Uint8Array): ControlMessage {
    return decodeControl(this.openControlPlaintext(record));
  }

  /**
   * Opens a control record and returns its authenticated plaintext without decoding it (the
   * toy answers a request that authenticates but does not decode, see
   * {@link undecodableRequestAnswer}). Same errors as {@link openControl} but `BAD_CONTROL_MESSAGE`.
   */
  openControlPlaintext(record: Uint8Array): Uint8Array {
    this.check();
    return this.guard(() => this.controlIn.open(record)).plaintext;
  }

  /** Seals a batch of Opus frames into an audio record (the message for speaker/microphone). */
  sealAudio(frames: readonly Uint8Array[]): { record: Uint8Array; firstFrame: number } {
    this.check();
    const payload = encodeAudioPayloadInto((this.audioScratch ??= new Uint8Array(DEFAULT_MAX_MESSAGE)), frames, this.peerAudioFormats);
    const firstFrame = this.audioOut.counter;
    return { record: this.audioOut.seal(payload, frames.length), firstFrame };
  }

  /** Opens an audio record. Same errors as {@link openControl}, plus `BAD_AUDIO`. */
  openAudio(record: Uint8Array): AudioBatch {
    this.check();
    let frames: Uint8Array[] | undefined;
    const { counter } = this.guard(() =>
      this.audioIn.open(record, (p) => {
        frames = decodeAudioPayload(p);
        return frames.length;
      }),
    );
    return { firstFrame: counter, frames: frames! };
  }

  /**
   * Time-based rekey of the sending control channel: when `rekeyIntervalMs` has passed since
   * its last rekey it moves to its next key epoch (the receiver follows from the counter
   * alone). Returns true when it rekeyed. Never throws: when no epoch is left, {@link exhausted}
   * becomes true and the owner must end the session (a fresh handshake brings fresh keys).
   */
  tick(now: number): boolean {
    if (this.dead || this.exhaustedFlag) return false;
    if (this.lastRekey === undefined) {
      this.lastRekey = now;
      return false;
    }
    if (now - this.lastRekey < this.rekeyIntervalMs) return false;
    this.lastRekey = now;
    return this.tryRekey(this.controlOut);
  }

  /**
   * Call when a new audio stream starts (speaker start, microphone start), before reading
   * {@link nextAudioFrame}: the sending audio channel moves to its next key epoch when the
   * rekey interval has passed. Audio is rekeyed only between streams, so the frame numbers
   * inside a stream never jump (a jump would look like millions of lost frames).
   */
  audioStreamStart(now: number): boolean {
    if (this.dead || this.exhaustedFlag) return false;
    if (this.lastAudioRekey === undefined) {
      this.lastAudioRekey = now;
      return false;
    }
    if (now - this.lastAudioRekey < this.rekeyIntervalMs) return false;
    this.lastAudioRekey = now;
    return this.tryRekey(this.audioOut);
  }

  /** True once a sending channel ran out of key epochs: end the session and reconnect. */
  get exhausted(): boolean {
    return this.exhaustedFlag;
  }

  private tryRekey(sender: RecordSender): boolean {
    try {
      sender.rekey();
      return true;
    } catch (e) {
      if (!isPlushlinkError(e, 'NONCE_EXHAUSTED')) throw e;
      this.exhaustedFlag = true;
      return false;
    }
  }

  /** The key epoch of the sending channels (control, audio). */
  get sendEpochs(): { control: number; audio: number } {
    return { control: this.controlOut.epoch, audio: this.audioOut.epoch };
  }

  /** Moves both sending channels to their next key epoch. */
  rekey(): void {
    this.check();
    this.controlOut.rekey();
    this.audioOut.rekey();
  }

  /** Wipes all keys. */
  destroy(): void {
    this.dead = true;
    this.controlOut.destroy();
    this.controlIn.destroy();
    this.audioOut.destroy();
    this.audioIn.destroy();
  }

  private check(): void {
    if (this.dead) throw new PlushlinkError('SESSION_CLOSED', 'the secure channel is closed');
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (isPlushlinkError(e, 'RECORD_AUTH_FAILED')) this.destroy();
      throw e;
    }
  }
}
