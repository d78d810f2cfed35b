/**
 * A stranger's phone, for the demo: it connects with a raw central and writes raw bytes,
 * trying everything the seed toy allowed. It uses protocol/ only to forge plausible messages.
 */
import { randomBytes } from '../../protocol/crypto.js';
import { Fragmenter, Reassembler } from '../../protocol/fragment.js';
import { SecureChannel } from '../../protocol/channel.js';
import { decodeWire, encodeWire, type WireMessage } from '../../protocol/wire.js';
import type { Central, CentralLink, CentralConnectOptions, ScanOptions, Advertisement, WritableCharacteristic } from '../../transport/types.js';

/** Wraps a central and records every control value it writes, per connection (for replay). */
export class RecordingCentral implements Central {
  /** The control-characteristic ATT values of each connection, in order. */
  readonly controlWrites: Uint8Array[][] = [];
  constructor(private readonly inner: Central) {}
  scan(options?: ScanOptions): AsyncIterable<Advertisement> {
    return this.inner.scan(options);
  }
  async connect(id: string, options?: CentralConnectOptions): Promise<CentralLink> {
    const link = await this.inner.connect(id, options);
    const log: Uint8Array[] = [];
    this.controlWrites.push(log);
    const write = link.write.bind(link);
    link.write = (ch: WritableCharacteristic, v: Uint8Array) => {
      if (ch === 'control') log.push(Uint8Array.from(v));
      return write(ch, v);
    };
    return link;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** One raw connection of the intruder. */
export class IntruderLink {
  private readonly reasm = new Reassembler(1024);
  private readonly frag = { control: new Fragmenter(1024), speaker: new Fragmenter(1024) };
  private readonly inbox: WireMessage[] = [];
  private waiter: (() => void) | undefined;
  disconnected = false;

  constructor(readonly link: CentralLink) {
    link.on('data', (ch, v) => {
      if (ch !== 'control') return;
      const r = this.reasm.push(v);
      if (r.kind !== 'message') return;
      try {
        this.inbox.push(decodeWire(r.message));
        this.waiter?.();
      } catch {
        /* ignore */
      }
    });
    link.on('disconnect', () => {
      this.disconnected = true;
      this.waiter?.();
    });
  }

  static async open(central: Central, toyId: string): Promise<IntruderLink> {
    return new IntruderLink(await central.connect(toyId, { timeoutMs: 5000 }));
  }

  /** Sends a whole message, fragmented to the MTU. */
  async send(ch: WritableCharacteristic, message: Uint8Array): Promise<void> {
    for (const v of this.frag[ch].fragment(message, this.link.mtu - 3)) await this.link.write(ch, v).catch(() => undefined);
  }

  /** Writes raw ATT values (a replay). */
  async sendRaw(values: Uint8Array[]): Promise<void> {
    for (const v of values) await this.link.write('control', v).catch(() => undefined);
  }

  /** The toy's next control message, or undefined after `ms` or a disconnect. */
  async reply(ms = 1000): Promise<WireMessage | undefined> {
    const deadline = Date.now() + ms;
    while (this.inbox.length === 0 && !this.disconnected && Date.now() < deadline) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - Date.now()));
        this.waiter = () => {
          clearTimeout(t);
          r();
        };
      });
      this.waiter = undefined;
    }
    return this.inbox.shift();
  }

  async close(): Promise<void> {
    await this.link.disconnect().catch(() => undefined);
  }
}

/** A secure channel under keys the intruder made up: its records are forgeries. */
export function forgedChannel(): SecureChannel {
  return new SecureChannel({ sendKey: randomBytes(32), receiveKey: randomBytes(32), handshakeHash: randomBytes(64) });
}

export function describeReply(m: WireMessage | undefined, disconnected: boolean): string {
  if (!m) return disconnected ? 'connection closed by the toy' : 'no answer';
  if (m.kind === 'error') return `refused: ${m.refusal}${m.retryAfterSec ? ` (retry after ${m.retryAfterSec} s)` : ''}`;
  return m.kind;
}

export { encodeWire };
