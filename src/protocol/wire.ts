/**
 * Messages on the control characteristic (PROTOCOL.md "Control characteristic messages"),
 * after fragment reassembly: the first byte is the message kind.
 */
import { PlushlinkError, type ErrorCode } from './errors.js';
import { nameOfCode } from './code-table.js';

export const WireKind = {
  PAIR_M1: 0x01,
  PAIR_M2: 0x02,
  RECONNECT_M1: 0x03,
  RECONNECT_M2: 0x04,
  INFO_REQUEST: 0x05,
  INFO_RESPONSE: 0x06,
  ERROR: 0x0f,
  RECORD: 0x10,
} as const;

/** Refusal codes the toy sends in plaintext `ERROR` messages before a session exists. */
export const RefusalCode = {
  NOT_IN_PAIRING_MODE: 1,
  HANDSHAKE_FAILED: 2,
  NOT_PAIRED: 3,
  RATE_LIMITED: 4,
  ALLOW_LIST_FULL: 5,
  NOT_AUTHENTICATED: 6,
  BAD_MESSAGE: 7,
  BUSY: 8,
  TIMEOUT: 9,
} as const;
export type RefusalName = keyof typeof RefusalCode;

export type WireMessage =
  | { kind: 'pair-m1'; noise: Uint8Array }
  | { kind: 'pair-m2'; noise: Uint8Array }
  /** `slot`: the advertising slot message 1 is bound to (u32, clear; it is in the prologue too). */
  | { kind: 'reconnect-m1'; slot: number; noise: Uint8Array }
  | { kind: 'reconnect-m2'; noise: Uint8Array }
  | { kind: 'info-request' }
  | { kind: 'info-response'; version: number; toyPublicKey: Uint8Array }
  | { kind: 'error'; refusal: RefusalName; retryAfterSec: number }
  | { kind: 'record'; record: Uint8Array };

const KIND_OF: Record<number, WireMessage['kind']> = {
  [WireKind.PAIR_M1]: 'pair-m1',
  [WireKind.PAIR_M2]: 'pair-m2',
  [WireKind.RECONNECT_M2]: 'reconnect-m2',
};

export function encodeWire(m: WireMessage): Uint8Array {
  const withBody = (k: number, body: Uint8Array): Uint8Array => {
    const out = new Uint8Array(body.length + 1);
    out[0] = k;
    out.set(body, 1);
    return out;
  };
  switch (m.kind) {
    case 'pair-m1':
      return withBody(WireKind.PAIR_M1, m.noise);
    case 'pair-m2':
      return withBody(WireKind.PAIR_M2, m.noise);
    case 'reconnect-m1': {
      if (!Number.isInteger(m.slot) || m.slot < 0 || m.slot > 0xffffffff) throw new PlushlinkError('BAD_FRAME', 'the advertising slot must be a u32');
      const body = new Uint8Array(4 + m.noise.length);
      body.set([(m.slot >>> 24) & 0xff, (m.slot >>> 16) & 0xff, (m.slot >>> 8) & 0xff, m.slot & 0xff], 0);
      body.set(m.noise, 4);
      return withBody(WireKind.RECONNECT_M1, body);
    }
    case 'reconnect-m2':
      return withBody(WireKind.RECONNECT_M2, m.noise);
    case 'info-request':
      return new Uint8Array([WireKind.INFO_REQUEST]);
    case 'info-response':
      return withBody(WireKind.INFO_RESPONSE, new Uint8Array([m.version, ...m.toyPublicKey]));
    case 'error': {
      const r = Math.max(0, Math.min(0xffff, Math.ceil(m.retryAfterSec)));
      return new Uint8Array([WireKind.ERROR, RefusalCode[m.refusal], r >>> 8, r & 0xff]);
    }
    case 'record':
      return withBody(WireKind.RECORD, m.record);
  }
}

/** Decodes a control-characteristic message; throws `BAD_FRAME` when malformed. */
export function decodeWire(b: Uint8Array): WireMessage {
  const k = b[0];
  if (k === undefined) throw new PlushlinkError('BAD_FRAME', 'empty control message');
  const body = b.subarray(1);
  const named = KIND_OF[k];
  if (named) {
    if (body.length < 1) throw new PlushlinkError('BAD_FRAME', 'handshake message without body');
    return { kind: named, noise: body.slice() } as WireMessage;
  }
  switch (k) {
    case WireKind.RECONNECT_M1: {
      // u32 slot || Noise message 1 (at least one byte)
      if (body.length < 5) throw new PlushlinkError('BAD_FRAME', 'reconnect message 1 needs a slot and a body');
      const slot = ((body[0]! << 24) >>> 0) + (body[1]! << 16) + (body[2]! << 8) + body[3]!;
      return { kind: 'reconnect-m1', slot, noise: body.slice(4) };
    }
    case WireKind.INFO_REQUEST:
      if (body.length !== 0) throw new PlushlinkError('BAD_FRAME', 'info request has no body');
      return { kind: 'info-request' };
    case WireKind.INFO_RESPONSE:
      if (body.length !== 33) throw new PlushlinkError('BAD_FRAME', 'info response must be 33 bytes');
      return { kind: 'info-response', version: body[0]!, toyPublicKey: body.slice(1) };
    case WireKind.ERROR: {
      if (body.length !== 3) throw new PlushlinkError('BAD_FRAME', 'error message must be 3 bytes');
      const refusal = nameOfCode(RefusalCode, body[0]!);
      if (!refusal) throw new PlushlinkError('BAD_FRAME', `unknown refusal code ${body[0]}`);
      return { kind: 'error', refusal, retryAfterSec: (body[1]! << 8) | body[2]! };
    }
    case WireKind.RECORD:
      if (body.length < 1) throw new PlushlinkError('BAD_FRAME', 'empty record');
      return { kind: 'record', record: body.slice() };
    default:
      throw new PlushlinkError('BAD_FRAME', `unknown control message kind 0x${k.toString(16)}`);
  }
}

/** The public error code a companion raises for a toy's refusal. */
export function refusalErrorCode(r: RefusalName, mode: 'pair' | 'reconnect'): ErrorCode {
  switch (r) {
    case 'NOT_IN_PAIRING_MODE':
      return 'NOT_IN_PAIRING_MODE';
    case 'HANDSHAKE_FAILED':
      return mode === 'pair' ? 'WRONG_SETUP_CODE' : 'NOT_PAIRED';
    case 'NOT_PAIRED':
      return 'NOT_PAIRED';
    case 'RATE_LIMITED':
      return 'RATE_LIMITED';
    case 'ALLOW_LIST_FULL':
      return 'ALLOW_LIST_FULL';
    case 'NOT_AUTHENTICATED':
      return 'NOT_AUTHENTICATED';
    case 'TIMEOUT':
      return 'TIMEOUT';
    default:
      return 'HANDSHAKE_FAILED';
  }
}
