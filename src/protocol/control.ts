/**
 * Control messages (PROTOCOL.md "Control messages"): the plaintext of control-channel
 * records. Encoding: `type (u8) || id (u8) || body`. Requests (companion → toy) carry an id
 * 1..255 that the toy's `result` echoes; toy events carry id 0.
 */
import { fromHex, fromUtf8, utf8 } from './bytes.js';
import { nameOfCode } from './code-table.js';
import { PlushlinkError } from './errors.js';
import { sha512 } from './crypto.js';

export const ControlType = {
  SPEAKER_START: 0x01,
  SPEAKER_END: 0x02,
  SPEAKER_STOP: 0x03,
  MIC_START: 0x04,
  MIC_STOP: 0x05,
  SET_VOLUME: 0x06,
  GET_BATTERY: 0x07,
  GET_INFO: 0x08,
  LIST_PAIRINGS: 0x09,
  REMOVE_PAIRING: 0x0a,
  ALLOW_GUEST_PAIRING: 0x0b,
  CONFIRM: 0x0c,
  RESULT: 0x80,
  SPEAKER_STATUS: 0x81,
  MIC_STATUS: 0x82,
  GOODBYE: 0x83,
  ADVERTISING_KEY: 0x84,
} as const;

/**
 * GOODBYE reasons (u8): why the toy is about to drop this connection. 0 is "unspecified"; a
 * companion treats an unknown value like 0.
 */
export const GoodbyeReason = {
  UNSPECIFIED: 0,
  /** Key confirmation refused: another pairing of the window was confirmed first, or the window closed (PROTOCOL.md §6.4). */
  PAIRING_SUPERSEDED: 1,
  /** This companion was removed from the allow-list. */
  PAIRING_REMOVED: 2,
  /** The toy was factory reset: every pairing is gone. */
  FACTORY_RESET: 3,
} as const;
export type GoodbyeReasonName = keyof typeof GoodbyeReason;

/** The name of a GOODBYE reason value (unknown values → `UNSPECIFIED`). */
export function goodbyeReasonName(reason: number): GoodbyeReasonName {
  return nameOfCode(GoodbyeReason, reason) ?? 'UNSPECIFIED';
}

/** Length of the advertising key carried by ADVERTISING_KEY (and the toy hello). */
export const ADVERTISING_KEY_LEN = 32;

/** Result status codes (u8). */
export const ResultStatus = {
  OK: 0,
  BAD_REQUEST: 1,
  NOT_OWNER: 2,
  NOT_FOUND: 3,
  UNSUPPORTED: 4,
  BUSY: 5,
} as const;
export type ResultStatusName = keyof typeof ResultStatus;

/** One entry of the toy's allow-list as reported to the owner. */
export interface PairingEntry {
  /** First 8 bytes of SHA-512 of the companion's static key, hex. */
  keyId: string;
  role: 'owner' | 'guest';
  displayName: string;
  /** Pairing time, seconds since the Unix epoch. */
  pairedAt: number;
}

export type SpeakerState = 'idle' | 'playing' | 'draining' | 'done' | 'stopped';
const SPEAKER_STATES: SpeakerState[] = ['idle', 'playing', 'draining', 'done', 'stopped'];

/** Every control message. */
export type ControlMessage =
  | { type: 'speaker-start'; id: number; firstFrame: number }
  | { type: 'speaker-end'; id: number; lastFrame: number }
  | { type: 'speaker-stop'; id: number }
  | { type: 'mic-start'; id: number }
  | { type: 'mic-stop'; id: number }
  | { type: 'set-volume'; id: number; volume: number }
  | { type: 'get-battery'; id: number }
  | { type: 'get-info'; id: number }
  | { type: 'list-pairings'; id: number }
  | { type: 'remove-pairing'; id: number; keyId: string }
  | { type: 'allow-guest-pairing'; id: number }
  /** Key confirmation: the companion's first record after the handshake; the toy does not answer. */
  | { type: 'confirm'; id: number }
  | { type: 'result'; id: number; status: ResultStatusName; body: Uint8Array }
  | {
      type: 'speaker-status';
      id: 0;
      state: SpeakerState;
      bufferedMs: number;
      framesPlayed: number;
      underruns: number;
      overruns: number;
    }
  | { type: 'mic-status'; id: 0; active: boolean; nextFrame: number }
  | { type: 'goodbye'; id: 0; reason: number }
  /**
   * The toy's advertising key changed (a pairing was removed while this companion stays on the
   * allow-list): the companion stores it and resolves the toy's tags with it from now on.
   */
  | { type: 'advertising-key'; id: 0; advertisingKey: Uint8Array };

export type ControlRequest = Extract<ControlMessage, { type: 'speaker-start' | 'speaker-end' | 'speaker-stop' | 'mic-start' | 'mic-stop' | 'set-volume' | 'get-battery' | 'get-info' | 'list-pairings' | 'remove-pairing' | 'allow-guest-pairing' | 'confirm' }>;

const bad = (msg: string): PlushlinkError => new PlushlinkError('BAD_CONTROL_MESSAGE', msg);

class Reader {
  o = 0;
  constructor(readonly b: Uint8Array) {}
  u8(): number {
    if (this.o + 1 > this.b.length) throw bad('truncated');
    return this.b[this.o++]!;
  }
  u16(): number {
    return (this.u8() << 8) | this.u8();
  }
  u32(): number {
    return ((this.u8() << 24) >>> 0) + (this.u8() << 16) + (this.u8() << 8) + this.u8();
  }
  bytes(n: number): Uint8Array {
    if (this.o + n > this.b.length) throw bad('truncated');
    const v = this.b.slice(this.o, this.o + n);
    this.o += n;
    return v;
  }
  rest(): Uint8Array {
    const v = this.b.slice(this.o);
    this.o = this.b.length;
    return v;
  }
  end(): void {
    if (this.o !== this.b.length) throw bad('trailing bytes');
  }
}

const u16 = (n: number): number[] => [(n >>> 8) & 0xff, n & 0xff];
const u32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const clamp16 = (n: number): number => Math.max(0, Math.min(0xffff, Math.round(n)));

function hexToBytes(h: string): number[] {
  if (!/^[0-9a-f]{16}$/.test(h)) throw bad('keyId must be 16 lower-case hex digits');
  const out: number[] = [];
  for (let i = 0; i < 16; i += 2) out.push(parseInt(h.slice(i, i + 2), 16));
  return out;
}

const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');

const checkUint = (what: string, n: number, max: number): number => {
  if (!Number.isInteger(n) || n < 0 || n > max) throw bad(`${what} must be an integer 0..${max}`);
  return n;
};

/** Encodes a control message; throws `BAD_CONTROL_MESSAGE` for a field outside its wire range (never truncates). */
export function encodeControl(m: ControlMessage): Uint8Array {
  const head = (t: number): number[] => [t, checkUint('id', m.id, 0xff)];
  switch (m.type) {
    case 'speaker-start':
      return new Uint8Array([...head(ControlType.SPEAKER_START), ...u32(checkUint('firstFrame', m.firstFrame, 0xffffffff))]);
    case 'speaker-end':
      return new Uint8Array([...head(ControlType.SPEAKER_END), ...u32(checkUint('lastFrame', m.lastFrame, 0xffffffff))]);
    case 'speaker-stop':
      return new Uint8Array(head(ControlType.SPEAKER_STOP));
    case 'mic-start':
      return new Uint8Array(head(ControlType.MIC_START));
    case 'mic-stop':
      return new Uint8Array(head(ControlType.MIC_STOP));
    case 'set-volume':
      if (!Number.isInteger(m.volume) || m.volume < 0 || m.volume > 100) throw bad('volume must be 0..100');
      return new Uint8Array([...head(ControlType.SET_VOLUME), m.volume]);
    case 'get-battery':
      return new Uint8Array(head(ControlType.GET_BATTERY));
    case 'get-info':
      return new Uint8Array(head(ControlType.GET_INFO));
    case 'list-pairings':
      return new Uint8Array(head(ControlType.LIST_PAIRINGS));
    case 'remove-pairing':
      return new Uint8Array([...head(ControlType.REMOVE_PAIRING), ...hexToBytes(m.keyId)]);
    case 'allow-guest-pairing':
      return new Uint8Array(head(ControlType.ALLOW_GUEST_PAIRING));
    case 'confirm':
      return new Uint8Array(head(ControlType.CONFIRM));
    case 'result':
      return new Uint8Array([...head(ControlType.RESULT), ResultStatus[m.status], ...m.body]);
    case 'speaker-status':
      return new Uint8Array([
        ...head(ControlType.SPEAKER_STATUS),
        SPEAKER_STATES.indexOf(m.state),
        ...u16(clamp16(m.bufferedMs)),
        ...u32(checkUint('framesPlayed', m.framesPlayed % 2 ** 32, 0xffffffff)), // a running count: modulo 2^32
        ...u16(clamp16(m.underruns)),
        ...u16(clamp16(m.overruns)),
      ]);
    case 'mic-status':
      return new Uint8Array([...head(ControlType.MIC_STATUS), m.active ? 1 : 0, ...u32(checkUint('nextFrame', m.nextFrame, 0xffffffff))]);
    case 'goodbye':
      return new Uint8Array([...head(ControlType.GOODBYE), checkUint('reason', m.reason, 0xff)]);
    case 'advertising-key':
      if (m.advertisingKey.length !== ADVERTISING_KEY_LEN) throw bad(`advertising key must be ${ADVERTISING_KEY_LEN} bytes`);
      return new Uint8Array([...head(ControlType.ADVERTISING_KEY), ...m.advertisingKey]);
  }
}

/**
 * What a toy answers to an authenticated control plaintext that {@link decodeControl} refuses
 * (PROTOCOL.md §13.9): a request (type below 0x80) with an id (1..255) gets a RESULT with that
 * id — `UNSUPPORTED` for a request type this version does not define, `BAD_REQUEST` for a
 * known type whose body is wrong. Anything else (too short, id 0, a toy-to-companion type, a
 * CONFIRM) gets no answer: undefined.
 */
export function undecodableRequestAnswer(plaintext: Uint8Array): { id: number; status: 'BAD_REQUEST' | 'UNSUPPORTED' } | undefined {
  if (plaintext.length < 2) return undefined;
  const type = plaintext[0]!;
  const id = plaintext[1]!;
  // CONFIRM is never answered, well-formed or not (PROTOCOL.md §6.4, §13.9)
  if (type >= 0x80 || id === 0 || type === ControlType.CONFIRM) return undefined;
  const known = (Object.values(ControlType) as number[]).includes(type);
  return { id, status: known ? 'BAD_REQUEST' : 'UNSUPPORTED' };
}

/** Decodes a control message; throws `BAD_CONTROL_MESSAGE` for anything malformed. */
export function decodeControl(b: Uint8Array): ControlMessage {
  const r = new Reader(b);
  const t = r.u8();
  const id = r.u8();
  const isRequest = t < 0x80;
  if (isRequest && id === 0) throw bad('request id must be 1..255');
  if (!isRequest && t !== ControlType.RESULT && id !== 0) throw bad('event id must be 0');
  let m: ControlMessage;
  switch (t) {
    case ControlType.SPEAKER_START:
      m = { type: 'speaker-start', id, firstFrame: r.u32() };
      break;
    case ControlType.SPEAKER_END:
      m = { type: 'speaker-end', id, lastFrame: r.u32() };
      break;
    case ControlType.SPEAKER_STOP:
      m = { type: 'speaker-stop', id };
      break;
    case ControlType.MIC_START:
      m = { type: 'mic-start', id };
      break;
    case ControlType.MIC_STOP:
      m = { type: 'mic-stop', id };
      break;
    case ControlType.SET_VOLUME: {
      const volume = r.u8();
      if (volume > 100) throw bad('volume must be 0..100');
      m = { type: 'set-volume', id, volume };
      break;
    }
    case ControlType.GET_BATTERY:
      m = { type: 'get-battery', id };
      break;
    case ControlType.GET_INFO:
      m = { type: 'get-info', id };
      break;
    case ControlType.LIST_PAIRINGS:
      m = { type: 'list-pairings', id };
      break;
    case ControlType.REMOVE_PAIRING:
      m = { type: 'remove-pairing', id, keyId: hex(r.bytes(8)) };
      break;
    case ControlType.ALLOW_GUEST_PAIRING:
      m = { type: 'allow-guest-pairing', id };
      break;
    case ControlType.CONFIRM:
      // CONFIRM always carries id 1 (PROTOCOL.md §10); another id is malformed: it does not confirm
      if (id !== 1) throw bad('CONFIRM carries id 1');
      m = { type: 'confirm', id };
      break;
    case ControlType.RESULT: {
      if (id === 0) throw bad('result id must be 1..255');
      const s = r.u8();
      const status = nameOfCode(ResultStatus, s);
      if (!status) throw bad(`unknown result status ${s}`);
      const body = r.rest();
      // only OK carries a body (PROTOCOL.md §10.2); what it holds is decoded against the request of that id
      if (status !== 'OK' && body.length > 0) throw bad(`a ${status} result has no body`);
      m = { type: 'result', id, status, body };
      break;
    }
    case ControlType.SPEAKER_STATUS: {
      const st = SPEAKER_STATES[r.u8()];
      if (!st) throw bad('unknown speaker state');
      m = { type: 'speaker-status', id: 0, state: st, bufferedMs: r.u16(), framesPlayed: r.u32(), underruns: r.u16(), overruns: r.u16() };
      break;
    }
    case ControlType.MIC_STATUS: {
      const a = r.u8();
      if (a > 1) throw bad('bad mic state');
      m = { type: 'mic-status', id: 0, active: a === 1, nextFrame: r.u32() };
      break;
    }
    case ControlType.GOODBYE:
      m = { type: 'goodbye', id: 0, reason: r.u8() };
      break;
    case ControlType.ADVERTISING_KEY:
      m = { type: 'advertising-key', id: 0, advertisingKey: r.bytes(ADVERTISING_KEY_LEN) };
      break;
    default:
      throw bad(`unknown control message type 0x${t.toString(16)}`);
  }
  r.end();
  return m;
}

// ---- result bodies ----

/**
 * The body of MIC_START's OK result: the u32 sequence number of the first frame the toy will send
 * (PROTOCOL.md §10.1, §13.7).
 */
export function encodeMicStartResult(firstFrame: number): Uint8Array {
  return new Uint8Array(u32(checkUint('firstFrame', firstFrame, 0xffffffff)));
}

/** Reads MIC_START's OK result body (exactly 4 bytes, else `BAD_CONTROL_MESSAGE`): the stream's first frame. */
export function decodeMicStartResult(body: Uint8Array): number {
  const r = new Reader(body);
  const firstFrame = r.u32();
  r.end();
  return firstFrame;
}

export interface BatteryInfo {
  percent: number;
  charging: boolean;
}

export function encodeBattery(b: BatteryInfo): Uint8Array {
  return new Uint8Array([Math.max(0, Math.min(100, Math.round(b.percent))), b.charging ? 1 : 0]);
}

export function decodeBattery(body: Uint8Array): BatteryInfo {
  const r = new Reader(body);
  const percent = r.u8();
  const c = r.u8();
  r.end();
  if (percent > 100 || c > 1) throw bad('bad battery body');
  return { percent, charging: c === 1 };
}

export interface ToyInfo {
  firmwareVersion: string;
  model: string;
  capabilities: number;
  volume: number;
}

export function encodeToyInfo(i: ToyInfo): Uint8Array {
  const fw = utf8(i.firmwareVersion);
  const model = utf8(i.model);
  if (fw.length > 32 || model.length > 32) throw bad('firmware/model too long');
  return new Uint8Array([fw.length, ...fw, model.length, ...model, ...u32(i.capabilities), i.volume]);
}

export function decodeToyInfo(body: Uint8Array): ToyInfo {
  const r = new Reader(body);
  const text = (): string => {
    try {
      return fromUtf8(r.bytes(r.u8()));
    } catch (e) {
      if (e instanceof PlushlinkError) throw e;
      throw bad('invalid UTF-8');
    }
  };
  const firmwareVersion = text();
  const model = text();
  const capabilities = r.u32();
  const volume = r.u8();
  r.end();
  return { firmwareVersion, model, capabilities, volume };
}

export function encodePairings(list: readonly PairingEntry[]): Uint8Array {
  const out: number[] = [list.length];
  for (const e of list) {
    const name = utf8(e.displayName);
    out.push(...hexToBytes(e.keyId), e.role === 'owner' ? 0 : 1, name.length, ...name, ...u32(e.pairedAt));
  }
  return new Uint8Array(out);
}

export function decodePairings(body: Uint8Array): PairingEntry[] {
  const r = new Reader(body);
  const n = r.u8();
  const list: PairingEntry[] = [];
  for (let i = 0; i < n; i++) {
    const keyId = hex(r.bytes(8));
    const role = r.u8();
    if (role > 1) throw bad('bad role');
    let displayName: string;
    try {
      displayName = fromUtf8(r.bytes(r.u8()));
    } catch (e) {
      if (e instanceof PlushlinkError) throw e;
      throw bad('invalid UTF-8');
    }
    list.push({ keyId, role: role === 0 ? 'owner' : 'guest', displayName, pairedAt: r.u32() });
  }
  r.end();
  return list;
}

/** The key id of a companion's static public key: the first 8 bytes of its SHA-512, hex. */
export function companionKeyId(companionPublicKey: Uint8Array | string): string {
  const key = typeof companionPublicKey === 'string' ? fromHex(companionPublicKey) : companionPublicKey;
  return hex(sha512(key).slice(0, 8));
}
