/**
 * The plushlink handshakes (PROTOCOL.md "Handshakes"), built on the Noise core:
 *
 * - Pairing: `Noise_IKpsk1_25519_ChaChaPoly_SHA512`. The companion (initiator) knows the toy's
 *   static key from the QR label (or from the toy's pairing-info answer when the code was
 *   typed); the PSK comes from the setup code. A wrong setup code fails the toy's read of
 *   message 1, before the toy answers.
 * - Reconnect: `Noise_IK_25519_ChaChaPoly_SHA512`: one round trip. Message 1 can be replayed
 *   by anyone who recorded it, so its payload carries only descriptive data and never causes
 *   an action; the session starts only after message 2, which needs the toy's fresh ephemeral.
 *
 * The prologue binds protocol name, version, mode and roles. Payloads are versioned TLV.
 */
import { concatBytes, fromUtf8, utf8 } from './bytes.js';
import type { RandomSource, X25519KeyPair } from './crypto.js';
import { PlushlinkError, isPlushlinkError } from './errors.js';
import { HandshakeState } from './noise/handshake-state.js';
import { setupCodePsk, type SetupCode } from './setup-code.js';
import { decodeTlv, encodeTlv, readUint, u16be, u32be } from './tlv.js';
import { encodeWire } from './wire.js';
import { AudioFormats } from './audio-record.js';

export const PAIRING_PROTOCOL = 'Noise_IKpsk1_25519_ChaChaPoly_SHA512';
export const RECONNECT_PROTOCOL = 'Noise_IK_25519_ChaChaPoly_SHA512';
/** The plushlink protocol version these handshakes speak. */
export const PROTOCOL_VERSION = 1;
/** Version byte of the handshake payloads. */
export const PAYLOAD_VERSION = 1;

export type HandshakeMode = 'pair' | 'reconnect';

/**
 * Prologue bytes: ASCII `plushlink/1 pair initiator=companion responder=toy` for pairing; for
 * reconnect ASCII `plushlink/1 reconnect initiator=companion responder=toy` followed by the
 * advertising slot message 1 is bound to (u32 big-endian, PROTOCOL.md §6, §12): a recorded
 * reconnect message 1 reads only within one slot of the time it was made.
 */
export function handshakePrologue(mode: HandshakeMode, slot?: number): Uint8Array {
  const text = utf8(`plushlink/${PROTOCOL_VERSION} ${mode} initiator=companion responder=toy`);
  if (mode === 'pair') return text;
  return concatBytes(text, u32be(checkSlot(slot)));
}

/**
 * A reconnect's slot. Omitted, it is 0 (January 1970): a message 1 bound to it is refused by any
 * toy whose clock is set, so a caller that forgets the slot fails closed; callers that talk to a
 * real peer always pass it (the toy and the companion do).
 */
function checkSlot(slot: number | undefined): number {
  if (slot === undefined) return 0;
  if (!Number.isInteger(slot) || slot < 0 || slot > 0xffffffff) throw new PlushlinkError('BAD_PAYLOAD', 'the advertising slot must be a u32');
  return slot;
}

/**
 * The slot the toy reads a reconnect message 1 with (PROTOCOL.md §6.1): the one the message
 * announces when it is within one slot of the toy's own (clock skew, a slot boundary between
 * scan and write); otherwise the toy's own slot, with which a stale message fails at `s` —
 * after the same work, with the same refusal, as a message made for another toy.
 */
export function reconnectReadSlot(announced: number, toySlot: number): number {
  return Math.abs(announced - toySlot) <= 1 ? announced : toySlot;
}

/** What the companion tells the toy in message 1. */
export interface CompanionHello {
  /** A name the owner recognises in the toy's pairing list (1–32 UTF-8 bytes). */
  displayName: string;
  /** The audio record formats the companion reads ({@link AudioFormats} bits, PROTOCOL §9); absent: format 1 only. */
  audioFormats?: number;
}

/** Capability bits the toy announces. */
export const Capability = {
  SPEAKER: 1 << 0,
  MICROPHONE: 1 << 1,
  BATTERY: 1 << 2,
  VOLUME: 1 << 3,
} as const;

/** The companion's role on the toy's allow-list. */
export type PairingRole = 'owner' | 'guest';

/** What the toy tells the companion in message 2. */
export interface ToyHello {
  /** Firmware version string (1–32 UTF-8 bytes). */
  firmwareVersion: string;
  /** {@link Capability} bits. */
  capabilities: number;
  /** The toy's speaker buffer in milliseconds. */
  speakerBufferMs: number;
  /** The companion's role on the toy's allow-list. */
  role: PairingRole;
  /** The audio record formats the toy reads ({@link AudioFormats} bits, PROTOCOL §9); absent: format 1 only. */
  audioFormats?: number;
  /**
   * The toy's 32-byte advertising key (rotating tags, PROTOCOL.md §12): in the reconnect hello
   * only. A pairing hello never carries it — message 2 reaches a party that may never confirm
   * (PROTOCOL.md §6.3) — so a pairing learns it by ADVERTISING_KEY once it took effect (§6.4).
   */
  advertisingKey?: Uint8Array;
}

const T_DISPLAY_NAME = 0x01;
const T_COMPANION_AUDIO_FORMATS = 0x02;
const T_FIRMWARE = 0x10;
const T_CAPS = 0x11;
const T_SPEAKER_MS = 0x12;
const T_ROLE = 0x13;
const T_ADV_KEY = 0x14;
const T_TOY_AUDIO_FORMATS = 0x15;

/** An "audio formats" item (PROTOCOL §7, §9): one byte of {@link AudioFormats} bits; readers ignore bits they do not know. */
function readAudioFormats(v: Uint8Array | undefined): number | undefined {
  return v === undefined ? undefined : readUint(v, 1, 'audio formats') | AudioFormats.TABLE;
}

function audioFormatsItem(type: number, formats: number | undefined): [number, Uint8Array][] {
  if (formats === undefined) return [];
  if (!Number.isInteger(formats) || formats < 0 || formats > 0xff) throw new PlushlinkError('BAD_PAYLOAD', 'audio formats must be a byte of format bits');
  return [[type, new Uint8Array([formats | AudioFormats.TABLE])]];
}

function checkText(s: string, what: string): Uint8Array {
  const b = utf8(s);
  if (b.length < 1 || b.length > 32) throw new PlushlinkError('BAD_PAYLOAD', `${what} must be 1–32 UTF-8 bytes`);
  return b;
}

function readText(v: Uint8Array | undefined, what: string): string {
  if (!v || v.length < 1 || v.length > 32) throw new PlushlinkError('BAD_PAYLOAD', `${what} must be 1–32 UTF-8 bytes`);
  try {
    return fromUtf8(v);
  } catch {
    throw new PlushlinkError('BAD_PAYLOAD', `${what} is not valid UTF-8`);
  }
}

export function encodeCompanionHello(h: CompanionHello): Uint8Array {
  return encodeTlv(PAYLOAD_VERSION, [[T_DISPLAY_NAME, checkText(h.displayName, 'display name')], ...audioFormatsItem(T_COMPANION_AUDIO_FORMATS, h.audioFormats)]);
}

export function decodeCompanionHello(b: Uint8Array): CompanionHello {
  const m = decodeTlv(b, PAYLOAD_VERSION, new Set([T_DISPLAY_NAME, T_COMPANION_AUDIO_FORMATS]), 'companion hello');
  const hello: CompanionHello = { displayName: readText(m.get(T_DISPLAY_NAME), 'display name') };
  const formats = readAudioFormats(m.get(T_COMPANION_AUDIO_FORMATS));
  if (formats !== undefined) hello.audioFormats = formats;
  return hello;
}

/**
 * Capability bits as the unsigned u32 of PROTOCOL.md §7: a bit set built with `|` or `~` may be a
 * signed 32-bit number, so −2^31…2^32 − 1 is taken as those 32 bits; anything else (a fraction, a
 * value wider than 32 bits) is `BAD_PAYLOAD`, never wrapped.
 */
function capabilityBits(n: number): number {
  if (!Number.isInteger(n) || n < -0x80000000 || n > 0xffffffff) throw new PlushlinkError('BAD_PAYLOAD', `capabilities ${n} are not 32 bits`);
  return n >>> 0;
}

function roleByte(role: PairingRole): number {
  if (role === 'owner') return 0;
  if (role === 'guest') return 1;
  throw new PlushlinkError('BAD_PAYLOAD', `unknown role ${String(role)}`);
}

/**
 * Encodes the toy hello of `mode`'s message 2. The advertising key is required for `reconnect`
 * and refused for `pair` (`BAD_PAYLOAD`): the pairing hello must never carry it. Every number
 * must fit its item (speaker buffer 0…65535 ms, capabilities 32 bits) and the role must be one of
 * the two: `BAD_PAYLOAD` otherwise, never a wrapped value on the wire.
 */
export function encodeToyHello(h: ToyHello, mode: HandshakeMode): Uint8Array {
  if (mode === 'pair' && h.advertisingKey !== undefined) throw new PlushlinkError('BAD_PAYLOAD', 'a pairing hello never carries the advertising key');
  if (mode === 'reconnect' && h.advertisingKey?.length !== 32) throw new PlushlinkError('BAD_PAYLOAD', 'advertising key must be 32 bytes');
  const items: [number, Uint8Array][] = [
    [T_FIRMWARE, checkText(h.firmwareVersion, 'firmware version')],
    [T_CAPS, u32be(capabilityBits(h.capabilities))],
    [T_SPEAKER_MS, u16be(h.speakerBufferMs)],
    [T_ROLE, new Uint8Array([roleByte(h.role)])],
  ];
  if (h.advertisingKey) items.push([T_ADV_KEY, h.advertisingKey]);
  items.push(...audioFormatsItem(T_TOY_AUDIO_FORMATS, h.audioFormats));
  return encodeTlv(PAYLOAD_VERSION, items);
}

/**
 * Decodes the toy hello of `mode`'s message 2 (PROTOCOL.md §7): `BAD_PAYLOAD` when a required
 * item is missing or has the wrong length, when a pairing hello carries an advertising key, or
 * when a reconnect hello lacks it.
 */
export function decodeToyHello(b: Uint8Array, mode: HandshakeMode): ToyHello {
  const m = decodeTlv(b, PAYLOAD_VERSION, new Set([T_FIRMWARE, T_CAPS, T_SPEAKER_MS, T_ROLE, T_ADV_KEY, T_TOY_AUDIO_FORMATS]), 'toy hello');
  const role = readUint(m.get(T_ROLE), 1, 'role');
  if (role > 1) throw new PlushlinkError('BAD_PAYLOAD', `unknown role ${role}`);
  const adv = m.get(T_ADV_KEY);
  if (mode === 'pair' && adv) throw new PlushlinkError('BAD_PAYLOAD', 'a pairing hello must not carry the advertising key');
  if (mode === 'reconnect' && adv?.length !== 32) throw new PlushlinkError('BAD_PAYLOAD', 'advertising key must be 32 bytes');
  const hello: ToyHello = {
    firmwareVersion: readText(m.get(T_FIRMWARE), 'firmware version'),
    capabilities: readUint(m.get(T_CAPS), 4, 'capabilities'),
    speakerBufferMs: readUint(m.get(T_SPEAKER_MS), 2, 'speaker buffer'),
    role: role === 0 ? 'owner' : 'guest',
  };
  if (adv) hello.advertisingKey = adv;
  const formats = readAudioFormats(m.get(T_TOY_AUDIO_FORMATS));
  if (formats !== undefined) hello.audioFormats = formats;
  return hello;
}

/** Per-direction record keys from the Noise split, plus the channel binding. */
export interface SessionKeys {
  /** Key for records this party sends. */
  sendKey: Uint8Array;
  /** Key for records this party receives. */
  receiveKey: Uint8Array;
  /** The final handshake hash. */
  handshakeHash: Uint8Array;
}

function keysOf(hs: HandshakeState): SessionKeys {
  const { send, receive, handshakeHash } = hs.split();
  return { sendKey: send.key!, receiveKey: receive.key!, handshakeHash };
}

function newState(
  mode: HandshakeMode,
  initiator: boolean,
  s: X25519KeyPair,
  rs: Uint8Array | undefined,
  psk: Uint8Array | undefined,
  slot: number | undefined,
  random?: RandomSource,
  checkRemoteStatic?: (rs: Uint8Array) => void,
): HandshakeState {
  return new HandshakeState({
    checkRemoteStatic,
    protocolName: mode === 'pair' ? PAIRING_PROTOCOL : RECONNECT_PROTOCOL,
    initiator,
    prologue: handshakePrologue(mode, slot),
    s,
    rs,
    psks: psk ? [psk] : [],
    random,
  });
}

/** Options of the companion's side. */
export interface CompanionHandshakeOptions {
  /** The companion's static key pair. */
  companion: X25519KeyPair;
  /** The toy's static public key (pinned from the QR or from pairing). */
  toyPublicKey: Uint8Array;
  hello: CompanionHello;
  /** Required for `pair`. */
  setupCode?: SetupCode;
  /**
   * For `reconnect`: the advertising slot of the companion's clock (`advertisingSlot(now)`),
   * which message 1 is bound to and carries (PROTOCOL.md §6, §12). Default 0: refused by any toy.
   */
  slot?: number;
  random?: RandomSource;
}

/** The companion (initiator) side of one handshake. */
export class CompanionHandshake {
  readonly mode: HandshakeMode;
  /** Message 1 (the Noise message), to send to the toy. */
  readonly message1: Uint8Array;
  /** The advertising slot a reconnect message 1 is bound to (undefined for pairing). */
  readonly slot: number | undefined;
  private readonly hs: HandshakeState;

  constructor(mode: HandshakeMode, opts: CompanionHandshakeOptions) {
    this.mode = mode;
    let psk: Uint8Array | undefined;
    if (mode === 'pair') {
      if (!opts.setupCode) throw new PlushlinkError('MISSING_KEY', 'pairing needs the setup code');
      psk = setupCodePsk(opts.setupCode, opts.toyPublicKey);
    } else this.slot = checkSlot(opts.slot);
    this.hs = newState(mode, true, opts.companion, opts.toyPublicKey, psk, this.slot, opts.random);
    this.message1 = this.hs.writeMessage(encodeCompanionHello(opts.hello));
  }

  /** Message 1 as the control-characteristic wire message (kind byte, for reconnect the slot, Noise message). */
  wireMessage1(): Uint8Array {
    return this.mode === 'pair' ? encodeWire({ kind: 'pair-m1', noise: this.message1 }) : encodeWire({ kind: 'reconnect-m1', slot: this.slot!, noise: this.message1 });
  }

  /**
   * Reads the toy's message 2. Throws `HANDSHAKE_FAILED` (wrapping the Noise error as `cause`)
   * when it does not authenticate — the toy is not the pinned one, or the setup code differs —
   * and, unwrapped, `MESSAGE_TOO_SHORT` for a message shorter than its keys and tag,
   * `LOW_ORDER_POINT` for a low-order ephemeral key, `BAD_PAYLOAD`/`UNKNOWN_VERSION` when its
   * payload is malformed.
   */
  readMessage2(message2: Uint8Array): { toy: ToyHello; keys: SessionKeys } {
    let payload: Uint8Array;
    try {
      payload = this.hs.readMessage(message2);
    } catch (e) {
      if (isPlushlinkError(e) && e.code === 'DECRYPT_FAILED') {
        throw new PlushlinkError('HANDSHAKE_FAILED', 'the toy did not prove the pinned key (or the setup code differs)', undefined, { cause: e });
      }
      throw e;
    }
    return { toy: decodeToyHello(payload, this.mode), keys: keysOf(this.hs) };
  }
}

/** Result of the toy reading message 1. */
export interface ToyReadResult {
  /** The companion's static public key, authenticated by message 1. */
  companionPublicKey: Uint8Array;
  companion: CompanionHello;
  /** Writes message 2 and returns it with the session keys. Call at most once. */
  respond(hello: ToyHello): { message2: Uint8Array; keys: SessionKeys };
}

/** Options of the toy's side. */
export interface ToyHandshakeOptions {
  toy: X25519KeyPair;
  /** Required for `pair`. */
  setupCode?: SetupCode;
  /**
   * For `reconnect`: the slot to read message 1 with — {@link reconnectReadSlot} of the slot the
   * message announces and the toy's own (default 0, see {@link CompanionHandshakeOptions.slot}).
   */
  slot?: number;
  random?: RandomSource;
  /**
   * Decides, as soon as the companion's static key is decrypted and before the `ss` DH,
   * whether this companion may go on; false → `NOT_PAIRED`. Applied in both modes. The toy
   * passes its allow-list for `reconnect`, so that an unknown companion costs one X25519 and is
   * refused exactly like a message 1 that does not authenticate (PROTOCOL.md §13.4, §14.3); for
   * `pair` the allow-list does not decide (§6.1) and the toy passes none.
   */
  acceptCompanion?: (companionPublicKey: Uint8Array) => boolean;
}

/**
 * The toy (responder) reads message 1. Throws `DECRYPT_FAILED` when it does not
 * authenticate (for `pair`: a wrong setup code), `NOT_PAIRED` when `acceptCompanion` refuses
 * the companion, `MESSAGE_TOO_SHORT`, `LOW_ORDER_POINT`, `BAD_PAYLOAD` or `UNKNOWN_VERSION`.
 */
export function toyReadMessage1(mode: HandshakeMode, message1: Uint8Array, opts: ToyHandshakeOptions): ToyReadResult {
  let psk: Uint8Array | undefined;
  if (mode === 'pair') {
    if (!opts.setupCode) throw new PlushlinkError('MISSING_KEY', 'pairing needs the setup code');
    psk = setupCodePsk(opts.setupCode, opts.toy.publicKey);
  }
  const accept = opts.acceptCompanion;
  const check = accept
    ? (rs: Uint8Array): void => {
        if (!accept(rs)) throw new PlushlinkError('NOT_PAIRED', 'the companion is not on the allow-list');
      }
    : undefined;
  const hs = newState(mode, false, opts.toy, undefined, psk, mode === 'reconnect' ? checkSlot(opts.slot) : undefined, opts.random, check);
  const payload = hs.readMessage(message1);
  const companion = decodeCompanionHello(payload);
  let used = false;
  return {
    companionPublicKey: hs.remoteStaticKey!,
    companion,
    respond(hello: ToyHello) {
      if (used) throw new PlushlinkError('HANDSHAKE_STATE', 'respond() may be called once');
      const payload = encodeToyHello(hello, mode); // refuses an advertising key in a pairing hello
      used = true;
      const message2 = hs.writeMessage(payload);
      return { message2, keys: keysOf(hs) };
    },
  };
}
