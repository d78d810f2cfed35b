/**
 * A stranger's phone, or a hand-driven central: one raw link through the public `Central`
 * interface that writes whole messages fragmented to the link's MTU (PROTOCOL.md §3) or raw ATT
 * values (a replay), and reads the toy's control answers reassembled and decoded. It uses
 * protocol/ only to forge plausible messages. The one intruder of the repository: the conformance
 * run (raw.ts), the `plushlink demo` stranger (src/cli/demo/) and the attack, fault and
 * hardware-in-loop tests (test/helpers/intruder.ts) all use it.
 *
 * Waiting for an answer: with a `settle` function (the conformance run's clock), {@link RawLink.next}
 * waits until the toy has answered everything it will answer; without one, up to `ms` of wall
 * clock, returning early on an answer or a disconnect.
 */
import { randomBytes } from '../protocol/crypto.js';
import { SecureChannel } from '../protocol/channel.js';
import { Fragmenter, Reassembler } from '../protocol/fragment.js';
import { attPayload } from '../protocol/gatt.js';
import { decodeWire, type WireMessage } from '../protocol/wire.js';
import type { Advertisement, Central, CentralConnectOptions, CentralLink, ScanOptions, WritableCharacteristic } from '../transport/types.js';

/** Waits until the toy has answered everything it will answer (see ConformanceOptions.settle). */
export type Settle = (signal: AbortSignal) => Promise<void>;

/** Options of a {@link RawLink}. */
export interface RawLinkOptions {
  /** Largest whole message sent or reassembled (default `DEFAULT_MAX_MESSAGE`, PROTOCOL.md §3). */
  maxMessage?: number;
  /** How {@link RawLink.next} waits when nothing is queued: until the toy settled (with `signal`). Default: the wall clock. */
  settle?: Settle;
  /** Aborts a `settle` wait. */
  signal?: AbortSignal;
}

/** One raw connection to the toy. */
export class RawLink<L extends CentralLink = CentralLink> {
  /** Every control message the toy sent, decoded, in order (also those already taken by {@link next}). */
  readonly received: WireMessage[] = [];
  /** Control values that did not reassemble, and reassembled messages that did not decode. */
  readonly garbage: Uint8Array[] = [];
  /** Raw microphone notifications. */
  readonly microphone: Uint8Array[] = [];
  disconnected = false;
  disconnectReason: string | undefined;
  /** When set, session records go here instead of the {@link next} queue (a session made by hand). */
  onRecord: ((record: Uint8Array) => void) | undefined;
  /** When set, every other decoded control message goes here instead of the {@link next} queue (pipes, relays). */
  onMessage: ((m: WireMessage) => void) | undefined;
  /** Called with each raw microphone notification. */
  onMicrophone: ((value: Uint8Array) => void) | undefined;
  private readonly inbox: WireMessage[] = [];
  private readonly reasm: Reassembler;
  private readonly frag: Record<WritableCharacteristic, Fragmenter>;
  private readonly settle: Settle | undefined;
  private readonly signal: AbortSignal;
  private wake: (() => void) | undefined;

  constructor(
    readonly link: L,
    opts: RawLinkOptions = {},
  ) {
    this.reasm = new Reassembler(opts.maxMessage);
    this.frag = { control: new Fragmenter(opts.maxMessage), speaker: new Fragmenter(opts.maxMessage) };
    this.settle = opts.settle;
    this.signal = opts.signal ?? new AbortController().signal;
    link.on('data', (ch, v) => {
      if (ch === 'microphone') {
        this.microphone.push(v);
        this.onMicrophone?.(v);
        return;
      }
      const r = this.reasm.push(v);
      if (r.kind === 'partial') return;
      if (r.kind === 'error') {
        this.garbage.push(v);
        return;
      }
      let m: WireMessage;
      try {
        m = decodeWire(r.message);
      } catch {
        this.garbage.push(r.message);
        return;
      }
      this.received.push(m);
      if (m.kind === 'record' && this.onRecord) this.onRecord(m.record);
      else if (this.onMessage) this.onMessage(m);
      else this.inbox.push(m);
      this.wake?.();
    });
    link.on('disconnect', (reason) => {
      this.disconnected = true;
      this.disconnectReason = reason;
      this.wake?.();
    });
  }

  /** Connects `central` to `toyId` (5 s to connect unless `timeoutMs`). */
  static async open(central: Central, toyId: string, opts: RawLinkOptions & { timeoutMs?: number } = {}): Promise<RawLink> {
    return new RawLink(await central.connect(toyId, { timeoutMs: opts.timeoutMs ?? 5000, ...(opts.signal ? { signal: opts.signal } : {}) }), opts);
  }

  /** Sends one whole message, fragmented to the link's MTU. Resolves false when a write failed (link gone). */
  async send(ch: WritableCharacteristic, message: Uint8Array): Promise<boolean> {
    return this.sendRaw(ch, this.frag[ch].fragment(message, attPayload(this.link.mtu)));
  }

  /** Writes raw ATT values in order (a replay). Resolves false when a write failed (link gone). */
  async sendRaw(ch: WritableCharacteristic, values: readonly Uint8Array[]): Promise<boolean> {
    for (const v of values) {
      try {
        await this.link.write(ch, v);
      } catch {
        return false;
      }
    }
    return true;
  }

  /**
   * The toy's next control message (not a session record taken by {@link onRecord}), or
   * undefined when it sent nothing more: once settled, or after `ms` of wall clock or a disconnect.
   */
  async next(ms = 1000): Promise<WireMessage | undefined> {
    if (this.settle) {
      if (this.inbox.length === 0) await this.settle(this.signal);
    } else await this.waitFor(() => this.inbox.length > 0 || this.disconnected, ms);
    return this.inbox.shift();
  }

  /** Everything still unread, once the toy settled (a `settle` link) or after `ms` (wall clock). */
  async drain(ms = 1000): Promise<WireMessage[]> {
    if (this.settle) await this.settle(this.signal);
    else await this.waitFor(() => this.disconnected, ms);
    return this.inbox.splice(0);
  }

  /** Resolves true once the link is down, false after `ms` of wall clock. */
  async waitDisconnect(ms = 1000): Promise<boolean> {
    await this.waitFor(() => this.disconnected, ms);
    return this.disconnected;
  }

  async close(): Promise<void> {
    await this.link.disconnect().catch(() => undefined);
  }

  /** Waits until `done()` holds (checked on every answer and on the disconnect) or `ms` passed. */
  private async waitFor(done: () => boolean, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done() && Date.now() < deadline) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - Date.now()));
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
      this.wake = undefined;
    }
  }
}

/** A secure channel under keys the intruder made up: every record it seals is a forgery. */
export function forgedChannel(): SecureChannel {
  return new SecureChannel({ sendKey: randomBytes(32), receiveKey: randomBytes(32), handshakeHash: randomBytes(64) });
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

/** What a person reads about the toy's answer (the demo, the hardware-in-loop report). */
export function describeReply(m: WireMessage | undefined, disconnected: boolean): string {
  if (!m) return disconnected ? 'connection closed by the toy' : 'no answer';
  if (m.kind === 'error') return `refused: ${m.refusal}${m.retryAfterSec ? ` (retry after ${m.retryAfterSec} s)` : ''}`;
  return m.kind;
}

/** Wraps a central and records every control value it writes, per connection (for a replay). */
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
