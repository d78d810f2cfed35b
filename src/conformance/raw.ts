/**
 * What a bad (or a hand-driven) central sends: one raw link through the public `Central`
 * interface, whole control messages fragmented to the link's MTU (PROTOCOL.md §3), the toy's
 * answers reassembled and decoded, and — after a handshake made with the protocol codecs — a
 * session whose records are opened to their raw plaintext, so a check can judge the bytes the
 * toy sent (e.g. the 11-byte SPEAKER_STATUS body, §10.1) and not only what a decoder accepted.
 */
import { AUDIO_FORMATS_SUPPORTED, AUDIO_FORMATS_V1 } from '../protocol/audio-record.js';
import { toHex } from '../protocol/bytes.js';
import { SecureChannel } from '../protocol/channel.js';
import type { ControlMessage } from '../protocol/control.js';
import type { X25519KeyPair } from '../protocol/crypto.js';
import { Fragmenter, Reassembler } from '../protocol/fragment.js';
import { attPayload } from '../protocol/gatt.js';
import { CompanionHandshake, type ToyHello } from '../protocol/handshake.js';
import { decodeWire, encodeWire, type WireMessage } from '../protocol/wire.js';
import type { CentralLink, WritableCharacteristic } from '../transport/types.js';

/** Waits until the toy has answered everything it will answer (see ConformanceOptions.settle). */
export type Settle = (signal: AbortSignal) => Promise<void>;

/** One raw connection to the toy. */
export class RawLink {
  /** Every control message the toy sent, decoded, in order. */
  readonly received: WireMessage[] = [];
  /** Control values that did not reassemble or decode (hex). */
  readonly garbage: string[] = [];
  /** Raw microphone notifications. */
  readonly microphone: Uint8Array[] = [];
  disconnected = false;
  private readonly inbox: WireMessage[] = [];
  private readonly reasm = new Reassembler();
  private readonly frag = { control: new Fragmenter(), speaker: new Fragmenter() };
  /** Set by a raw session: records go there instead of the inbox. */
  onRecord: ((record: Uint8Array) => void) | undefined;
  onMicrophone: ((value: Uint8Array) => void) | undefined;

  constructor(
    readonly link: CentralLink,
    private readonly settle: Settle,
    private readonly signal: AbortSignal,
  ) {
    link.on('data', (ch, v) => {
      if (ch === 'microphone') {
        this.microphone.push(v);
        this.onMicrophone?.(v);
        return;
      }
      const r = this.reasm.push(v);
      if (r.kind === 'partial') return;
      if (r.kind === 'error') {
        this.garbage.push(toHex(v));
        return;
      }
      let m: WireMessage;
      try {
        m = decodeWire(r.message);
      } catch {
        this.garbage.push(toHex(r.message));
        return;
      }
      this.received.push(m);
      if (m.kind === 'record' && this.onRecord) this.onRecord(m.record);
      else this.inbox.push(m);
    });
    link.on('disconnect', () => {
      this.disconnected = true;
    });
  }

  /** Sends one whole message, fragmented to the MTU. False when a write failed (link gone). */
  async send(ch: WritableCharacteristic, message: Uint8Array): Promise<boolean> {
    return this.sendValues(ch, this.frag[ch].fragment(message, attPayload(this.link.mtu)));
  }

  /** Writes raw ATT values in order. False when a write failed. */
  async sendValues(ch: WritableCharacteristic, values: readonly Uint8Array[]): Promise<boolean> {
    for (const v of values) {
      try {
        await this.link.write(ch, v);
      } catch {
        return false;
      }
    }
    return true;
  }

  /** The toy's next control message (not a session record), or undefined when it sent nothing more. */
  async next(): Promise<WireMessage | undefined> {
    if (this.inbox.length === 0) await this.settle(this.signal);
    return this.inbox.shift();
  }

  /** Everything still unread. */
  async drain(): Promise<WireMessage[]> {
    await this.settle(this.signal);
    return this.inbox.splice(0);
  }

  async close(): Promise<void> {
    await this.link.disconnect().catch(() => undefined);
  }
}

/** Short text of a wire message, for evidence. */
export function describeWire(m: WireMessage | undefined): string {
  if (!m) return 'nothing';
  switch (m.kind) {
    case 'error':
      return `ERROR ${m.refusal} retry-after ${m.retryAfterSec}`;
    case 'info-response':
      return `INFO_RESPONSE version ${m.version}`;
    case 'record':
      return `RECORD (${m.record.length} bytes)`;
    default:
      return m.kind.toUpperCase().replace('-', '_');
  }
}

/** A session made by hand over a raw link: records opened to their raw plaintext. */
export class RawSession {
  /** Every control plaintext the toy sent, in order (type, id, body). */
  readonly plaintexts: Uint8Array[] = [];
  /** Records that did not open (hex of the error). */
  readonly openErrors: string[] = [];
  /** Microphone batches: first frame and frame count. */
  readonly audio: { firstFrame: number; frames: number }[] = [];
  private readonly micReasm = new Reassembler();
  private nextId = 1;

  private constructor(
    readonly raw: RawLink,
    readonly channel: SecureChannel,
    readonly hello: ToyHello,
  ) {
    raw.onRecord = (record) => {
      try {
        this.plaintexts.push(channel.openControlPlaintext(record));
      } catch (e) {
        this.openErrors.push((e as Error).message);
      }
    };
    raw.onMicrophone = (v) => {
      const r = this.micReasm.push(v);
      if (r.kind !== 'message') return;
      try {
        const b = channel.openAudio(r.message);
        this.audio.push({ firstFrame: b.firstFrame, frames: b.frames.length });
      } catch (e) {
        this.openErrors.push((e as Error).message);
      }
    };
  }

  /**
   * Reconnects as a paired companion (RECONNECT_M1 bound to the clock's slot, §6) and confirms
   * with CONFIRM id 1 (§6.4). Throws with the toy's answer when it did not answer RECONNECT_M2.
   */
  static async reconnect(raw: RawLink, identity: X25519KeyPair, toyPublicKey: Uint8Array, slot: number, now: number): Promise<RawSession> {
    const hs = new CompanionHandshake('reconnect', { companion: identity, toyPublicKey, hello: { displayName: 'conformance', audioFormats: AUDIO_FORMATS_SUPPORTED }, slot });
    await raw.send('control', hs.wireMessage1());
    const m2 = await raw.next();
    if (m2?.kind !== 'reconnect-m2') throw new Error(`reconnect: the toy answered ${describeWire(m2)} instead of RECONNECT_M2`);
    const { toy, keys } = hs.readMessage2(m2.noise);
    const s = new RawSession(raw, new SecureChannel(keys, { now, peerAudioFormats: toy.audioFormats ?? AUDIO_FORMATS_V1 }), toy);
    await raw.send('control', s.channel.sealControl({ type: 'confirm', id: 1 }));
    return s;
  }

  /** Sends a request (a fresh id) and returns the id. */
  async request(m: DistributiveOmit<Exclude<ControlMessage, { type: 'confirm' }>, 'id'>): Promise<number> {
    const id = this.nextId;
    this.nextId = (this.nextId % 255) + 1;
    await this.raw.send('control', this.channel.sealControl({ ...m, id } as ControlMessage));
    return id;
  }

  /** Sends frames as one audio record on speaker; returns the first frame's number. */
  async sendAudio(frames: readonly Uint8Array[]): Promise<number> {
    const { record, firstFrame } = this.channel.sealAudio(frames);
    await this.raw.send('speaker', record);
    return firstFrame;
  }

  /** Plaintexts received from index `from` on. */
  since(from: number): Uint8Array[] {
    return this.plaintexts.slice(from);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Hex of bytes. */
export function hex(b: Uint8Array): string {
  return toHex(b);
}
