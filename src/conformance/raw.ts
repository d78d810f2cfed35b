/**
 * What a bad (or a hand-driven) central sends: one raw link ({@link RawLink}, raw-link.ts: whole
 * control messages fragmented to the link's MTU, PROTOCOL.md §3, the toy's answers reassembled and
 * decoded) and — after a handshake made with the protocol codecs — a session whose records are
 * opened to their raw plaintext, so a check can judge the bytes the toy sent (e.g. the 11-byte
 * SPEAKER_STATUS body, §10.1) and not only what a decoder accepted.
 */
import { AUDIO_FORMATS_SUPPORTED, AUDIO_FORMATS_V1 } from '../protocol/audio-record.js';
import { toHex } from '../protocol/bytes.js';
import { SecureChannel } from '../protocol/channel.js';
import type { ControlMessage } from '../protocol/control.js';
import type { X25519KeyPair } from '../protocol/crypto.js';
import { Reassembler } from '../protocol/fragment.js';
import { CompanionHandshake, type ToyHello } from '../protocol/handshake.js';
import { describeWire, type RawLink } from './raw-link.js';

export { describeWire, RawLink, type Settle } from './raw-link.js';

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
