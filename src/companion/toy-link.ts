/**
 * Framing over a {@link CentralLink}: fragments outgoing messages to the link's MTU, writes
 * them in order, and reassembles incoming indications (control) and notifications
 * (microphone). Malformed input is reported as an event, never thrown.
 */
import { EventEmitter } from 'eventemitter3';
import { PlushlinkError } from '../protocol/errors.js';
import { Fragmenter, Reassembler } from '../protocol/fragment.js';
import { attPayload } from '../protocol/gatt.js';
import { decodeWire, type WireMessage } from '../protocol/wire.js';
import type { CentralLink, NotifyingCharacteristic, WritableCharacteristic } from '../transport/types.js';

export interface ToyLinkEvents {
  wire: (m: WireMessage) => void;
  audio: (record: Uint8Array) => void;
  /** A malformed or lost fragment/message (input was dropped; nothing else changed). */
  inputError: (characteristic: NotifyingCharacteristic, error: PlushlinkError) => void;
  disconnect: (reason: string) => void;
}

export interface ToyLinkStats {
  /** ATT values written per characteristic. */
  writes: Record<WritableCharacteristic, number>;
  /** ATT payload bytes written per characteristic. */
  bytes: Record<WritableCharacteristic, number>;
  received: Record<NotifyingCharacteristic, number>;
}

export class ToyLink extends EventEmitter<ToyLinkEvents> {
  readonly stats: ToyLinkStats = { writes: { control: 0, speaker: 0 }, bytes: { control: 0, speaker: 0 }, received: { control: 0, microphone: 0 } };
  private readonly frag = { control: new Fragmenter(), speaker: new Fragmenter() };
  private readonly reasm = { control: new Reassembler(), microphone: new Reassembler() };
  private chains: Record<WritableCharacteristic, Promise<void>> = { control: Promise.resolve(), speaker: Promise.resolve() };
  private closed = false;

  constructor(readonly link: CentralLink) {
    super();
    link.on('data', this.onData);
    link.once('disconnect', this.onDisconnect);
  }

  get mtu(): number {
    return this.link.mtu;
  }

  get connected(): boolean {
    return !this.closed && this.link.connected;
  }

  /** Sends one control-characteristic message (fragmented, written with response, in order). */
  sendWire(message: Uint8Array): Promise<void> {
    return this.send('control', message);
  }

  /** Sends one audio record on the speaker characteristic (written without response). */
  sendAudio(record: Uint8Array): Promise<void> {
    return this.send('speaker', record);
  }

  private send(ch: WritableCharacteristic, message: Uint8Array): Promise<void> {
    if (!this.connected) return Promise.reject(new PlushlinkError('DISCONNECTED', 'the toy is not connected'));
    const values = this.frag[ch].fragment(message, attPayload(this.link.mtu));
    const p = this.chains[ch].catch(() => undefined).then(async () => {
      for (const v of values) {
        await this.link.write(ch, v);
        this.stats.writes[ch]++;
        this.stats.bytes[ch] += v.length;
      }
    });
    this.chains[ch] = p;
    return p;
  }

  /** Detaches from the link and disconnects it. */
  async close(): Promise<void> {
    this.detach();
    await this.link.disconnect().catch(() => undefined);
  }

  private detach(): void {
    if (this.closed) return;
    this.closed = true;
    this.link.off('data', this.onData);
    this.link.off('disconnect', this.onDisconnect);
    this.reasm.control.reset();
    this.reasm.microphone.reset();
  }

  private readonly onData = (ch: NotifyingCharacteristic, value: Uint8Array): void => {
    if (this.closed) return;
    this.stats.received[ch]++;
    const r = this.reasm[ch].push(value);
    if (r.kind === 'partial') return;
    if (r.kind === 'error') {
      this.emit('inputError', ch, r.error);
      return;
    }
    if (ch === 'microphone') {
      this.emit('audio', r.message);
      return;
    }
    let m: WireMessage;
    try {
      m = decodeWire(r.message);
    } catch (e) {
      this.emit('inputError', ch, e as PlushlinkError);
      return;
    }
    this.emit('wire', m);
  };

  private readonly onDisconnect = (reason: string): void => {
    this.detach();
    this.emit('disconnect', reason);
  };
}
