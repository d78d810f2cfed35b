/**
 * What a session offers its speaker and microphone: the narrow ports {@link SpeakerPort} and
 * {@link MicrophonePort} that `ToySession` implements, and the types both sides share
 * (events, control requests and results). Speaker and microphone depend on these ports only, so
 * session.ts → speaker.ts / microphone.ts is one-way, and each can be driven by a stand-in.
 */
import type { EventEmitter } from 'eventemitter3';
import type { AudioBatch } from '../protocol/channel.js';
import type { ControlMessage, ControlRequest, GoodbyeReasonName, ResultStatusName } from '../protocol/control.js';
import { PlushlinkError, type ErrorCode } from '../protocol/errors.js';
import type { ToyHello } from '../protocol/handshake.js';

/** The toy's speaker report. */
export type SpeakerStatus = Extract<ControlMessage, { type: 'speaker-status' }>;
/** The toy's microphone report. */
export type MicStatus = Extract<ControlMessage, { type: 'mic-status' }>;

/** Events of a `ToySession`. */
export interface ToySessionEvents {
  /** The session ended (toy disconnected, `close()`, authentication failure, revocation). */
  close: (reason: string, error?: PlushlinkError) => void;
  'speaker-status': (status: SpeakerStatus) => void;
  'mic-status': (status: MicStatus) => void;
  /** A batch of microphone frames arrived (sequence numbered). */
  audio: (batch: AudioBatch) => void;
  /**
   * The toy rotated its advertising key (another pairing was removed) and sent the new one over
   * this session. `session.toy.advertisingKey` is already updated; the Companion stores it.
   */
  'advertising-key': (advertisingKey: Uint8Array) => void;
  /**
   * The toy said why it is ending this session (GOODBYE), just before `close`:
   * `PAIRING_SUPERSEDED` (the key confirmation of this pairing was refused: another companion's
   * pairing of the same window was confirmed first, or the window closed), `PAIRING_REMOVED`
   * (this companion was removed from the toy's allow-list), `FACTORY_RESET`, or `UNSPECIFIED`.
   * The Companion forgets the toy for the last two, and for the first when this pairing was new.
   */
  goodbye: (reason: GoodbyeReasonName) => void;
  /** Inbound input was dropped (malformed, replayed, lost fragment); the session goes on. */
  'input-dropped': (code: ErrorCode, detail: string) => void;
}

/** A control request as the app sends it (the session numbers it). */
export type RequestBody = ControlRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export interface RequestOptions {
  signal?: AbortSignal;
  /** Default 5000 ms. */
  timeoutMs?: number;
}

/** A result of a control request. */
export interface ControlResult {
  status: ResultStatusName;
  body: Uint8Array;
}

/** The error for a non-OK RESULT (PROTOCOL.md §10.2, §15): BAD_REQUEST → `BAD_CONTROL_MESSAGE`, the others → the code of the same name. */
export function refusedRequest(status: Exclude<ResultStatusName, 'OK'>, message: string): PlushlinkError {
  const code: ErrorCode = status === 'BAD_REQUEST' ? 'BAD_CONTROL_MESSAGE' : status;
  return new PlushlinkError(code, message, { status });
}

/** Subscribing to some of a session's events (the EventEmitter methods, narrowed). */
export interface SessionEventSource<K extends keyof ToySessionEvents> {
  on<E extends K>(event: E, fn: EventEmitter.EventListener<ToySessionEvents, E>): unknown;
  once<E extends K>(event: E, fn: EventEmitter.EventListener<ToySessionEvents, E>): unknown;
  off<E extends K>(event: E, fn: EventEmitter.EventListener<ToySessionEvents, E>): unknown;
}

/** What a `Speaker` uses of its session (implemented by `ToySession`). */
export interface SpeakerPort extends SessionEventSource<'speaker-status' | 'close'> {
  /** False once the session has ended. */
  readonly open: boolean;
  /** The negotiated ATT MTU. */
  readonly mtu: number;
  /** The toy's hello: its speaker buffer sets how far ahead frames may go. */
  readonly hello: Pick<ToyHello, 'speakerBufferMs'>;
  /** The audio record formats the toy reads. */
  readonly peerAudioFormats: number;
  /** The number the next sent audio frame will get. */
  readonly nextAudioFrame: number;
  /** A new speaker stream starts (the audio key may move to its next epoch first). */
  audioStreamStart(): void;
  /** Sends a batch of Opus frames as one audio record; returns the first frame's number. */
  sendAudio(frames: readonly Uint8Array[]): Promise<number>;
  /** Sends a control request and waits for its result. */
  request(body: RequestBody, opts?: RequestOptions): Promise<ControlResult>;
}

/** What a `Microphone` and its streams use of their session (implemented by `ToySession`). */
export interface MicrophonePort extends SessionEventSource<'audio' | 'mic-status' | 'close'> {
  /** False once the session has ended. */
  readonly open: boolean;
  /** Sends a control request and waits for its result. */
  request(body: RequestBody, opts?: RequestOptions): Promise<ControlResult>;
}
