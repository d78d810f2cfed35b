/** Drives the sans-IO ToyCore directly with a fake clock: centrals that fragment, write and read back. */
import { SecureChannel } from '../../../src/protocol/channel.js';
import type { ControlMessage } from '../../../src/protocol/control.js';
import { generateX25519KeyPair, type X25519KeyPair } from '../../../src/protocol/crypto.js';
import { Fragmenter, Reassembler } from '../../../src/protocol/fragment.js';
import { CompanionHandshake, type HandshakeMode } from '../../../src/protocol/handshake.js';
import { generateSetupCode, type SetupCode } from '../../../src/protocol/setup-code.js';
import { decodeWire, encodeWire, type WireMessage } from '../../../src/protocol/wire.js';
import { advertisingSlot } from '../../../src/protocol/advertising.js';
import { ToyCore } from '../../../src/toy/toy-core.js';
import type { ToyAction, ToyConfig } from '../../../src/toy/types.js';

/** A fixed start time (ms since the epoch) for the fake clock. */
export const T0 = 1_700_000_000_000;

export function newToy(opts: { identity?: X25519KeyPair; setupCode?: SetupCode; config?: ToyConfig; now?: number } = {}): { toy: ToyCore; identity: X25519KeyPair; code: SetupCode } {
  const identity = opts.identity ?? generateX25519KeyPair();
  const code = opts.setupCode ?? generateSetupCode();
  const toy = new ToyCore({ identity, setupCode: code, config: opts.config, now: opts.now ?? T0 });
  toy.start(opts.now ?? T0);
  return { toy, identity, code };
}

/** One central connection to a ToyCore: fragments what it sends, reassembles what the toy indicates. */
export class FakeCentral {
  // senders allow oversized messages so tests can push past the toy's 1024-byte reassembly bound
  readonly frag = { control: new Fragmenter(65535), speaker: new Fragmenter(65535) };
  private readonly reasm = new Reassembler(1024);
  /** Control messages the toy sent to this connection. */
  readonly received: WireMessage[] = [];
  disconnected = false;

  constructor(
    readonly toy: ToyCore,
    readonly id: string,
    readonly mtu = 247,
  ) {}

  connect(now: number): ToyAction[] {
    return this.absorb(this.toy.connect(this.id, this.mtu, now));
  }

  /** Fragments and writes one message. */
  send(ch: 'control' | 'speaker', message: Uint8Array, now: number): ToyAction[] {
    const out: ToyAction[] = [];
    for (const v of this.frag[ch].fragment(message, this.mtu - 3)) out.push(...this.toy.write(this.id, ch, v, now));
    return this.absorb(out);
  }

  /** Writes one raw ATT value. */
  write(ch: 'control' | 'speaker', value: Uint8Array, now: number): ToyAction[] {
    return this.absorb(this.toy.write(this.id, ch, value, now));
  }

  /** Picks this connection's sends and disconnects out of actions (from any toy call). */
  absorb(actions: ToyAction[]): ToyAction[] {
    for (const a of actions) {
      if (a.type === 'disconnect' && a.connection === this.id) this.disconnected = true;
      if (a.type !== 'send' || a.connection !== this.id || a.characteristic !== 'control') continue;
      const r = this.reasm.push(a.value);
      if (r.kind === 'message') this.received.push(decodeWire(r.message));
    }
    return actions;
  }

  last(): WireMessage | undefined {
    return this.received[this.received.length - 1];
  }
}

export interface HandshakeOutcome {
  channel?: SecureChannel;
  reply?: WireMessage;
  actions: ToyAction[];
  /** The handshake message 1 as sent on the wire (for replays). */
  wire: Uint8Array;
}

/**
 * Runs a companion handshake over `central` (already connected). Like the real companion, it
 * then sends the key-confirmation record (the toy commits a pairing only on it) unless
 * `confirm` is false.
 */
export function companionHandshake(central: FakeCentral, mode: HandshakeMode, companion: X25519KeyPair, toyKey: Uint8Array, code: SetupCode | undefined, now: number, name = 'parent', confirm = true): HandshakeOutcome {
  // a reconnect message 1 is bound to the advertising slot of `now` (PROTOCOL.md §6)
  const hs = new CompanionHandshake(mode, { companion, toyPublicKey: toyKey, hello: { displayName: name }, setupCode: code, slot: advertisingSlot(now) });
  const wire = hs.wireMessage1();
  const before = central.received.length;
  const actions = central.send('control', wire, now);
  const reply = central.received.length > before ? central.received[central.received.length - 1] : undefined;
  if (reply && (reply.kind === 'pair-m2' || reply.kind === 'reconnect-m2')) {
    const { keys } = hs.readMessage2(reply.noise);
    const channel = new SecureChannel(keys);
    if (confirm) actions.push(...central.send('control', channel.sealControl({ type: 'confirm', id: 1 }), now));
    return { channel, reply, actions, wire };
  }
  return { reply, actions, wire };
}

/** Wire-level record of a control request sealed by `channel` (not delivered). */
export function sealedControl(channel: SecureChannel, m: Parameters<SecureChannel['sealControl']>[0]): Uint8Array {
  return channel.sealControl(m);
}

/** A confirmed session of a companion to a ToyCore over its own FakeCentral: requests, audio, and the control replies not read yet. */
export class CompanionSession {
  private read = 0;
  private nextId = 2;
  constructor(
    readonly toy: ToyCore,
    readonly central: FakeCentral,
    readonly channel: SecureChannel,
  ) {}
  /** Pairs (the toy's window must be open) and confirms; the replies so far are read. */
  static pair(toy: ToyCore, key: Uint8Array, code: SetupCode, name: string, now = T0, mtu = 247): CompanionSession {
    const central = new FakeCentral(toy, name, mtu);
    central.connect(now);
    const hs = companionHandshake(central, 'pair', generateX25519KeyPair(), key, code, now, name);
    if (!hs.channel) throw new Error(`no session: ${hs.reply?.kind}`);
    const s = new CompanionSession(toy, central, hs.channel);
    s.replies();
    return s;
  }
  request(m: Record<string, unknown> & { type: string }, now: number): ToyAction[] {
    const id = this.nextId++;
    return this.central.send('control', this.channel.sealControl({ ...m, id } as ControlMessage), now);
  }
  audio(fs: Uint8Array[], now: number): ToyAction[] {
    return this.central.send('speaker', this.channel.sealAudio(fs).record, now);
  }
  /** The control records the toy sent since the last call, opened. */
  replies(): ControlMessage[] {
    const out: ControlMessage[] = [];
    for (const w of this.central.received.slice(this.read)) if (w.kind === 'record') out.push(this.channel.openControl(w.record));
    this.read = this.central.received.length;
    return out;
  }
}
