/**
 * The handshake layer (src/protocol/handshake.ts) on its own: the prologue bytes and the slot
 * they bind (docs/PROTOCOL.md §6), the read slot window (§6), the hello payloads byte for byte
 * with every limit and refusal (§7), and the two sides of the handshake — the companion's
 * wrapping of a message 2 that does not authenticate, the toy's allow-list hook, respond() at
 * most once, and the session keys of the split (§6.1, §6.4, §8.1).
 *
 * The vector tests (own-vectors.test.ts) reproduce one pairing and one reconnect; this file
 * pins each branch and bound so that a single bug in handshake.ts fails a test here.
 */
import { describe, expect, it } from 'vitest';
import { AudioFormats } from '../../../src/protocol/audio-record.js';
import { bytesEqual, concatBytes, toHex, utf8 } from '../../../src/protocol/bytes.js';
import { generateX25519KeyPair, type X25519KeyPair } from '../../../src/protocol/crypto.js';
import { PlushlinkError } from '../../../src/protocol/errors.js';
import {
  Capability,
  CompanionHandshake,
  PAIRING_PROTOCOL,
  PAYLOAD_VERSION,
  PROTOCOL_VERSION,
  RECONNECT_PROTOCOL,
  decodeCompanionHello,
  decodeToyHello,
  encodeCompanionHello,
  encodeToyHello,
  handshakePrologue,
  reconnectReadSlot,
  toyReadMessage1,
  type HandshakeMode,
  type ToyHello,
} from '../../../src/protocol/handshake.js';
import { HandshakeState } from '../../../src/protocol/noise/handshake-state.js';
import { u16be, u32be } from '../../../src/protocol/tlv.js';
import { generateSetupCode, setupCodePsk, type SetupCode } from '../../../src/protocol/setup-code.js';
import { codeOf, errorOf } from '../../helpers/errors.js';

const hx = toHex;
const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);
const PAIR_TEXT = 'plushlink/1 pair initiator=companion responder=toy';
const RECONNECT_TEXT = 'plushlink/1 reconnect initiator=companion responder=toy';
const ADV_KEY = new Uint8Array(32).map((_, i) => 0xa0 + i);

/** A toy hello valid for `mode` (the advertising key only in a reconnect hello, §7). */
function toyHello(mode: HandshakeMode, more: Partial<ToyHello> = {}): ToyHello {
  return {
    firmwareVersion: 'fw-1.2.3',
    capabilities: Capability.SPEAKER | Capability.VOLUME,
    speakerBufferMs: 400,
    role: 'owner',
    ...(mode === 'reconnect' ? { advertisingKey: ADV_KEY } : {}),
    ...more,
  };
}

/** A TLV payload: version byte, then `[type, value]` items (§7). */
function tlv(items: [number, Uint8Array][], version = PAYLOAD_VERSION): Uint8Array {
  return concatBytes(bytes(version), ...items.map(([t, v]) => concatBytes(bytes(t, v.length), v)));
}

/** The items of a valid toy hello, for building malformed ones. */
function toyItems(mode: HandshakeMode): Map<number, Uint8Array> {
  const m = new Map<number, Uint8Array>([
    [0x10, utf8('fw')],
    [0x11, bytes(0, 0, 0, 1)],
    [0x12, bytes(0x01, 0x90)],
    [0x13, bytes(0)],
  ]);
  if (mode === 'reconnect') m.set(0x14, ADV_KEY);
  return m;
}
const payloadOf = (m: Map<number, Uint8Array>): Uint8Array => tlv([...m.entries()]);
/** The writer's toy hello items for `mode` with item `type` set to `value`, or removed (undefined), as a payload. */
function toyPayloadWith(mode: HandshakeMode, type: number, value: Uint8Array | undefined): Uint8Array {
  const items = toyItems(mode);
  if (value === undefined) items.delete(type);
  else items.set(type, value);
  return payloadOf(items);
}

interface Parties {
  toy: X25519KeyPair;
  companion: X25519KeyPair;
  code: SetupCode;
}
function parties(): Parties {
  return { toy: generateX25519KeyPair(), companion: generateX25519KeyPair(), code: generateSetupCode() };
}

function companionSide(mode: HandshakeMode, p: Parties, slot?: number, displayName = 'phone'): CompanionHandshake {
  return new CompanionHandshake(mode, { companion: p.companion, toyPublicKey: p.toy.publicKey, hello: { displayName }, setupCode: mode === 'pair' ? p.code : undefined, slot });
}

/** A raw Noise responder with the toy's key and the plushlink prologue: it writes any payload as message 2. */
function rawToy(mode: HandshakeMode, p: Parties, message1: Uint8Array, slot?: number): HandshakeState {
  const hs = new HandshakeState({
    protocolName: mode === 'pair' ? PAIRING_PROTOCOL : RECONNECT_PROTOCOL,
    initiator: false,
    prologue: handshakePrologue(mode, slot),
    s: p.toy,
    psks: mode === 'pair' ? [setupCodePsk(p.code, p.toy.publicKey)] : [],
  });
  hs.readMessage(message1);
  return hs;
}

describe('handshakePrologue (PROTOCOL.md §6)', () => {
  it('pairing: exactly the 50 ASCII bytes, no slot, no length prefix, no terminator', () => {
    expect(PROTOCOL_VERSION).toBe(1);
    const p = handshakePrologue('pair');
    expect(p.length).toBe(50);
    expect(hx(p)).toBe(hx(utf8(PAIR_TEXT)));
    // the pairing prologue carries no slot, whatever is passed
    expect(hx(handshakePrologue('pair', 7))).toBe(hx(utf8(PAIR_TEXT)));
    expect(hx(handshakePrologue('pair', -1))).toBe(hx(utf8(PAIR_TEXT)));
  });

  it('reconnect: the 55 ASCII bytes then the slot as u32 big-endian (59 bytes)', () => {
    const text = hx(utf8(RECONNECT_TEXT));
    expect(utf8(RECONNECT_TEXT).length).toBe(55);
    expect(hx(handshakePrologue('reconnect', 0x01020304))).toBe(text + '01020304');
    expect(handshakePrologue('reconnect', 0x01020304).length).toBe(59);
    expect(hx(handshakePrologue('reconnect', 0))).toBe(text + '00000000');
    expect(hx(handshakePrologue('reconnect', 1))).toBe(text + '00000001');
    expect(hx(handshakePrologue('reconnect', 0xffffffff))).toBe(text + 'ffffffff');
    expect(hx(handshakePrologue('reconnect', 0xfffffffe))).toBe(text + 'fffffffe');
    // omitted, the slot is 0: fails closed against any toy whose clock is set
    expect(hx(handshakePrologue('reconnect'))).toBe(text + '00000000');
  });

  it('reconnect: a slot that is not a u32 is BAD_PAYLOAD', () => {
    for (const slot of [-1, 2 ** 32, 2 ** 32 + 1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, -0.5]) {
      expect(codeOf(() => handshakePrologue('reconnect', slot)), String(slot)).toBe('BAD_PAYLOAD');
    }
  });
});

describe('reconnectReadSlot (PROTOCOL.md §6)', () => {
  it('the announced slot when it is the toy slot or one either side, else the toy slot', () => {
    expect(reconnectReadSlot(100, 100)).toBe(100);
    expect(reconnectReadSlot(99, 100)).toBe(99);
    expect(reconnectReadSlot(101, 100)).toBe(101);
    expect(reconnectReadSlot(98, 100)).toBe(100);
    expect(reconnectReadSlot(102, 100)).toBe(100);
    expect(reconnectReadSlot(0, 100)).toBe(100);
    expect(reconnectReadSlot(0xffffffff, 0)).toBe(0);
  });
});

describe('companion hello (PROTOCOL.md §7)', () => {
  it('encodes the display name at 0x01 and nothing else when audio formats are absent', () => {
    expect(hx(encodeCompanionHello({ displayName: 'ab' }))).toBe('01' + '0102' + hx(utf8('ab')));
    const h = decodeCompanionHello(encodeCompanionHello({ displayName: 'ab' }));
    expect(h).toEqual({ displayName: 'ab' });
    expect('audioFormats' in h).toBe(false);
  });

  it('display name: 1 and 32 UTF-8 bytes pass, 0 and 33 are BAD_PAYLOAD, counted in bytes not characters', () => {
    const e16 = 'é'.repeat(16); // 32 bytes, 16 characters
    for (const name of ['a', 'x'.repeat(32), e16, '🧸']) {
      expect(decodeCompanionHello(encodeCompanionHello({ displayName: name })).displayName).toBe(name);
    }
    for (const name of ['', 'x'.repeat(33), e16 + 'a', '🧸'.repeat(9)]) {
      expect(codeOf(() => encodeCompanionHello({ displayName: name })), name).toBe('BAD_PAYLOAD');
    }
  });

  it('decoding refuses a missing, empty, 33-byte or invalid UTF-8 name with BAD_PAYLOAD', () => {
    expect(decodeCompanionHello(tlv([[0x01, utf8('y'.repeat(32))]])).displayName).toBe('y'.repeat(32));
    expect(decodeCompanionHello(tlv([[0x01, utf8('y')]])).displayName).toBe('y');
    expect(codeOf(() => decodeCompanionHello(tlv([])))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => decodeCompanionHello(tlv([[0x01, bytes()]])))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => decodeCompanionHello(tlv([[0x01, utf8('y'.repeat(33))]])))).toBe('BAD_PAYLOAD');
    // overlong '/', a lone continuation byte, an encoded surrogate, a truncated sequence (RFC 3629)
    for (const bad of [bytes(0xc0, 0xaf), bytes(0x80), bytes(0xed, 0xa0, 0x80), bytes(0x61, 0xe2, 0x82), bytes(0xff)]) {
      const err = errorOf(() => decodeCompanionHello(tlv([[0x01, bad]])));
      expect(err.code, hx(bad)).toBe('BAD_PAYLOAD');
      expect(err.message).toMatch(/UTF-8/);
    }
  });

  it('another payload version is UNKNOWN_VERSION; unknown optional items are skipped', () => {
    expect(codeOf(() => decodeCompanionHello(tlv([[0x01, utf8('a')]], 2)))).toBe('UNKNOWN_VERSION');
    expect(codeOf(() => decodeCompanionHello(tlv([[0x01, utf8('a')]], 0)))).toBe('UNKNOWN_VERSION');
    expect(decodeCompanionHello(tlv([[0x7f, bytes(1, 2, 3)], [0x01, utf8('a')]]))).toEqual({ displayName: 'a' });
    // a toy-hello item is not a companion-hello item: ignored, not read as a name
    expect(codeOf(() => decodeCompanionHello(tlv([[0x10, utf8('a')]])))).toBe('BAD_PAYLOAD');
  });

  it('audio formats (0x02): one byte, format 1 always set on writing and reading (§9)', () => {
    expect(hx(encodeCompanionHello({ displayName: 'a', audioFormats: AudioFormats.EQUAL_FRAMES }))).toBe('01' + '010161' + '020103');
    expect(hx(encodeCompanionHello({ displayName: 'a', audioFormats: 0 }))).toBe('01' + '010161' + '020101');
    expect(hx(encodeCompanionHello({ displayName: 'a', audioFormats: 0xff }))).toBe('01' + '010161' + '0201ff');
    expect(hx(encodeCompanionHello({ displayName: 'a', audioFormats: 0xfe }))).toBe('01' + '010161' + '0201ff');
    for (const f of [-1, 0x100, 1.5, Number.NaN]) {
      expect(codeOf(() => encodeCompanionHello({ displayName: 'a', audioFormats: f })), String(f)).toBe('BAD_PAYLOAD');
    }
    expect(decodeCompanionHello(tlv([[0x01, utf8('a')], [0x02, bytes(0x00)]]))).toEqual({ displayName: 'a', audioFormats: 1 });
    expect(decodeCompanionHello(tlv([[0x01, utf8('a')], [0x02, bytes(0x02)]]))).toEqual({ displayName: 'a', audioFormats: 3 });
    expect(decodeCompanionHello(tlv([[0x01, utf8('a')], [0x02, bytes(0xf0)]]))).toEqual({ displayName: 'a', audioFormats: 0xf1 });
    // exactly one byte (§7 item values)
    expect(codeOf(() => decodeCompanionHello(tlv([[0x01, utf8('a')], [0x02, bytes()]])))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => decodeCompanionHello(tlv([[0x01, utf8('a')], [0x02, bytes(0, 1)]])))).toBe('BAD_PAYLOAD');
  });
});

describe('toy hello (PROTOCOL.md §7)', () => {
  it('encodes the items at their types and widths, in the writer order', () => {
    const pair = encodeToyHello({ firmwareVersion: 'v1', capabilities: 0x0102030f, speakerBufferMs: 0x1234, role: 'owner' }, 'pair');
    expect(hx(pair)).toBe('01' + '10027631' + '11040102030f' + '12021234' + '130100');
    const guest = encodeToyHello({ firmwareVersion: 'v1', capabilities: 0, speakerBufferMs: 400, role: 'guest' }, 'pair');
    expect(hx(guest)).toBe('01' + '10027631' + '110400000000' + '12020190' + '130101');
    const rc = encodeToyHello({ firmwareVersion: 'v1', capabilities: 1, speakerBufferMs: 0xffff, role: 'owner', advertisingKey: ADV_KEY, audioFormats: 2 }, 'reconnect');
    expect(hx(rc)).toBe('01' + '10027631' + '110400000001' + '1202ffff' + '130100' + '1420' + hx(ADV_KEY) + '150103');
    expect(hx(encodeToyHello(toyHello('pair', { audioFormats: 0 }), 'pair')).endsWith('150101')).toBe(true);
  });

  it('capabilities are written as an unsigned u32 and read back as received, reserved bits included', () => {
    expect(Capability).toEqual({ SPEAKER: 1, MICROPHONE: 2, BATTERY: 4, VOLUME: 8 });
    const neg = encodeToyHello(toyHello('pair', { capabilities: -1 }), 'pair');
    expect(decodeToyHello(neg, 'pair').capabilities).toBe(0xffffffff);
    const high = decodeToyHello(encodeToyHello(toyHello('pair', { capabilities: 0x80000010 }), 'pair'), 'pair');
    expect(high.capabilities).toBe(0x80000010);
  });

  it('a number its item cannot hold, or an unknown role, is BAD_PAYLOAD — never wrapped onto the wire', () => {
    // Edges that fit: speaker buffer 0 and 65535 ms, capabilities −2^31 (a signed bit set) and 2^32 − 1.
    for (const speakerBufferMs of [0, 0xffff]) expect(decodeToyHello(encodeToyHello(toyHello('pair', { speakerBufferMs }), 'pair'), 'pair').speakerBufferMs).toBe(speakerBufferMs);
    expect(decodeToyHello(encodeToyHello(toyHello('pair', { capabilities: -0x80000000 }), 'pair'), 'pair').capabilities).toBe(0x80000000);
    expect(decodeToyHello(encodeToyHello(toyHello('pair', { capabilities: 0xffffffff }), 'pair'), 'pair').capabilities).toBe(0xffffffff);
    for (const speakerBufferMs of [-1, 0x10000, 1.7, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(codeOf(() => encodeToyHello(toyHello('pair', { speakerBufferMs }), 'pair')), `speaker buffer ${speakerBufferMs}`).toBe('BAD_PAYLOAD');
    }
    for (const capabilities of [-0x80000001, 0x100000000, 0x100000003, 1.5, Number.NaN]) {
      expect(codeOf(() => encodeToyHello(toyHello('pair', { capabilities }), 'pair')), `capabilities ${capabilities}`).toBe('BAD_PAYLOAD');
    }
    for (const role of ['admin', 'Owner', '', undefined] as unknown as ToyHello['role'][]) {
      expect(codeOf(() => encodeToyHello(toyHello('pair', { role }), 'pair')), `role ${String(role)}`).toBe('BAD_PAYLOAD');
    }
  });

  it('u16be / u32be write big-endian and refuse what they cannot hold (BAD_PAYLOAD)', () => {
    expect(hx(u16be(0))).toBe('0000');
    expect(hx(u16be(0x1234))).toBe('1234');
    expect(hx(u16be(0xffff))).toBe('ffff');
    expect(hx(u32be(0))).toBe('00000000');
    expect(hx(u32be(0x01020304))).toBe('01020304');
    expect(hx(u32be(0xffffffff))).toBe('ffffffff');
    for (const n of [-1, 0x10000, 0.5, Number.NaN]) expect(codeOf(() => u16be(n)), `u16 ${n}`).toBe('BAD_PAYLOAD');
    for (const n of [-1, 0x100000000, 0.5, Number.NaN]) expect(codeOf(() => u32be(n)), `u32 ${n}`).toBe('BAD_PAYLOAD');
  });

  it('round trips for both modes and both roles; optional audio formats absent stays absent', () => {
    for (const mode of ['pair', 'reconnect'] as HandshakeMode[]) {
      for (const role of ['owner', 'guest'] as const) {
        const h = toyHello(mode, { role, firmwareVersion: 'ü'.repeat(16) });
        const back = decodeToyHello(encodeToyHello(h, mode), mode);
        expect(back).toEqual(h);
        expect('audioFormats' in back).toBe(false);
        expect('advertisingKey' in back).toBe(mode === 'reconnect');
      }
    }
    const withFormats = decodeToyHello(encodeToyHello(toyHello('pair', { audioFormats: 2 }), 'pair'), 'pair');
    expect(withFormats.audioFormats).toBe(3);
  });

  it('firmware version: 1 and 32 bytes pass, 0 and 33 bytes or invalid UTF-8 are BAD_PAYLOAD both ways', () => {
    for (const fw of ['1', 'z'.repeat(32)]) expect(decodeToyHello(encodeToyHello(toyHello('pair', { firmwareVersion: fw }), 'pair'), 'pair').firmwareVersion).toBe(fw);
    for (const fw of ['', 'z'.repeat(33), 'ü'.repeat(16) + '1']) expect(codeOf(() => encodeToyHello(toyHello('pair', { firmwareVersion: fw }), 'pair')), fw).toBe('BAD_PAYLOAD');
    for (const v of [bytes(), utf8('z'.repeat(33)), bytes(0xc0, 0x80), bytes(0xed, 0xbf, 0xbf)]) {
      expect(codeOf(() => decodeToyHello(toyPayloadWith('pair', 0x10, v), 'pair')), hx(v)).toBe('BAD_PAYLOAD');
    }
    expect(codeOf(() => decodeToyHello(toyPayloadWith('pair', 0x10, undefined), 'pair'))).toBe('BAD_PAYLOAD');
  });

  it('role: 0 owner, 1 guest, anything else or a missing or wrong-width role is BAD_PAYLOAD', () => {
    for (const [v, role] of [[0, 'owner'], [1, 'guest']] as const) {
      expect(decodeToyHello(toyPayloadWith('pair', 0x13, bytes(v)), 'pair').role).toBe(role);
    }
    for (const v of [bytes(2), bytes(0xff), bytes(), bytes(0, 0)]) {
      expect(codeOf(() => decodeToyHello(toyPayloadWith('reconnect', 0x13, v), 'reconnect')), hx(v)).toBe('BAD_PAYLOAD');
    }
    expect(codeOf(() => decodeToyHello(toyPayloadWith('pair', 0x13, undefined), 'pair'))).toBe('BAD_PAYLOAD');
  });

  it('fixed-width capabilities and speaker buffer: exactly 4 and 2 bytes, required', () => {
    const ok = decodeToyHello(payloadOf(toyItems('pair')), 'pair');
    expect(ok).toEqual({ firmwareVersion: 'fw', capabilities: 1, speakerBufferMs: 400, role: 'owner' });
    for (const [t, v] of [[0x11, bytes(0, 0, 1)], [0x11, bytes(0, 0, 0, 0, 1)], [0x12, bytes(1)], [0x12, bytes(0, 1, 0x90)]] as const) {
      expect(codeOf(() => decodeToyHello(toyPayloadWith('pair', t, v), 'pair')), `${t}:${hx(v)}`).toBe('BAD_PAYLOAD');
    }
    for (const t of [0x11, 0x12]) {
      expect(codeOf(() => decodeToyHello(toyPayloadWith('pair', t, undefined), 'pair')), String(t)).toBe('BAD_PAYLOAD');
    }
  });

  it('advertising key: required and 32 bytes in a reconnect hello, never in a pairing hello (§7, §12)', () => {
    // encoding
    expect(codeOf(() => encodeToyHello(toyHello('pair', { advertisingKey: ADV_KEY }), 'pair'))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => encodeToyHello(toyHello('pair', { advertisingKey: new Uint8Array(0) }), 'pair'))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => encodeToyHello(toyHello('pair'), 'reconnect'))).toBe('BAD_PAYLOAD');
    for (const n of [0, 31, 33]) expect(codeOf(() => encodeToyHello(toyHello('reconnect', { advertisingKey: new Uint8Array(n) }), 'reconnect')), String(n)).toBe('BAD_PAYLOAD');
    expect(codeOf(() => encodeToyHello(toyHello('reconnect'), 'reconnect'))).toBeUndefined();
    // decoding
    expect(decodeToyHello(payloadOf(toyItems('reconnect')), 'reconnect').advertisingKey).toEqual(ADV_KEY);
    expect(codeOf(() => decodeToyHello(payloadOf(toyItems('reconnect')), 'pair'))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => decodeToyHello(payloadOf(toyItems('pair')), 'reconnect'))).toBe('BAD_PAYLOAD');
    for (const n of [0, 31, 33]) {
      const payload = toyPayloadWith('reconnect', 0x14, new Uint8Array(n));
      expect(codeOf(() => decodeToyHello(payload, 'reconnect')), `reconnect ${n}`).toBe('BAD_PAYLOAD');
      expect(codeOf(() => decodeToyHello(payload, 'pair')), `pair ${n}`).toBe('BAD_PAYLOAD');
    }
  });

  it('audio formats (0x15) read with format 1 set; exactly one byte; unknown version refused', () => {
    expect(decodeToyHello(toyPayloadWith('pair', 0x15, bytes(0x00)), 'pair').audioFormats).toBe(1);
    expect(decodeToyHello(toyPayloadWith('pair', 0x15, bytes(0x06)), 'pair').audioFormats).toBe(7);
    expect(codeOf(() => decodeToyHello(toyPayloadWith('pair', 0x15, bytes(1, 1)), 'pair'))).toBe('BAD_PAYLOAD');
    for (const f of [-1, 256, 2.5]) expect(codeOf(() => encodeToyHello(toyHello('pair', { audioFormats: f }), 'pair')), String(f)).toBe('BAD_PAYLOAD');
    // the companion-hello audio type 0x02 is not the toy's: ignored
    const other = toyItems('pair');
    other.set(0x02, bytes(0x02));
    expect('audioFormats' in decodeToyHello(payloadOf(other), 'pair')).toBe(false);
    expect(codeOf(() => decodeToyHello(tlv([...toyItems('pair').entries()], 2), 'pair'))).toBe('UNKNOWN_VERSION');
  });
});

describe('CompanionHandshake (PROTOCOL.md §6, §6.2)', () => {
  it('pairing needs the setup code: MISSING_KEY on both sides', () => {
    const p = parties();
    expect(codeOf(() => new CompanionHandshake('pair', { companion: p.companion, toyPublicKey: p.toy.publicKey, hello: { displayName: 'a' } }))).toBe('MISSING_KEY');
    const m1 = companionSide('pair', p).message1;
    expect(codeOf(() => toyReadMessage1('pair', m1, { toy: p.toy }))).toBe('MISSING_KEY');
  });

  it('message 1 has the §6.2 length (96 + hello) and the hello is validated before anything is sent', () => {
    const p = parties();
    const hello = encodeCompanionHello({ displayName: 'phone' });
    expect(companionSide('pair', p).message1.length).toBe(96 + hello.length);
    expect(companionSide('reconnect', p, 5).message1.length).toBe(96 + hello.length);
    expect(codeOf(() => companionSide('pair', p, undefined, ''))).toBe('BAD_PAYLOAD');
  });

  it('the slot: undefined for pairing, the given u32 (default 0) for reconnect, BAD_PAYLOAD otherwise; the wire message carries it', () => {
    const p = parties();
    const pair = companionSide('pair', p, 1234);
    expect(pair.slot).toBeUndefined();
    expect(hx(pair.wireMessage1())).toBe('01' + hx(pair.message1));
    const rc = companionSide('reconnect', p, 0x0a0b0c0d);
    expect(rc.slot).toBe(0x0a0b0c0d);
    expect(hx(rc.wireMessage1())).toBe('03' + '0a0b0c0d' + hx(rc.message1));
    expect(companionSide('reconnect', p).slot).toBe(0);
    expect(companionSide('reconnect', p, 0xffffffff).slot).toBe(0xffffffff);
    for (const s of [-1, 2 ** 32, 0.5]) expect(codeOf(() => companionSide('reconnect', p, s)), String(s)).toBe('BAD_PAYLOAD');
  });

  it('a reconnect message 1 reads only with the slot it is bound to', () => {
    const p = parties();
    const m1 = companionSide('reconnect', p, 500).message1;
    expect(toyReadMessage1('reconnect', m1, { toy: p.toy, slot: 500 }).companion.displayName).toBe('phone');
    expect(codeOf(() => toyReadMessage1('reconnect', m1, { toy: p.toy, slot: 501 }))).toBe('DECRYPT_FAILED');
    expect(codeOf(() => toyReadMessage1('reconnect', m1, { toy: p.toy }))).toBe('DECRYPT_FAILED');
    expect(codeOf(() => toyReadMessage1('reconnect', m1, { toy: p.toy, slot: -1 }))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => toyReadMessage1('reconnect', m1, { toy: p.toy, slot: 2 ** 32 }))).toBe('BAD_PAYLOAD');
    // default slot 0 on both sides reads (fails closed only against a toy whose clock is set)
    expect(codeOf(() => toyReadMessage1('reconnect', companionSide('reconnect', p).message1, { toy: p.toy }))).toBeUndefined();
    // the pairing read takes no slot
    expect(codeOf(() => toyReadMessage1('pair', companionSide('pair', p).message1, { toy: p.toy, setupCode: p.code, slot: -1 }))).toBeUndefined();
  });

  it('a pairing message 1 with another setup code fails at the toy with DECRYPT_FAILED (§6.3)', () => {
    const p = parties();
    const m1 = companionSide('pair', p).message1;
    expect(codeOf(() => toyReadMessage1('pair', m1, { toy: p.toy, setupCode: generateSetupCode() }))).toBe('DECRYPT_FAILED');
    expect(codeOf(() => toyReadMessage1('reconnect', m1, { toy: p.toy }))).toBe('DECRYPT_FAILED');
  });

  it('a message 2 that does not authenticate is HANDSHAKE_FAILED, the Noise error kept as cause', () => {
    for (const mode of ['pair', 'reconnect'] as HandshakeMode[]) {
      const p = parties();
      const a = companionSide(mode, p, 9);
      const b = companionSide(mode, p, 9);
      const { message2 } = toyReadMessage1(mode, a.message1, { toy: p.toy, setupCode: p.code, slot: 9 }).respond(toyHello(mode));
      // b's message 2 is a's: the toy did not prove the key in b's handshake
      const err = errorOf(() => b.readMessage2(message2));
      expect(err.code).toBe('HANDSHAKE_FAILED');
      expect(err.cause).toBeInstanceOf(PlushlinkError);
      expect((err.cause as PlushlinkError).code).toBe('DECRYPT_FAILED');
      // a flipped bit in the payload tag
      const a2 = companionSide(mode, p, 9);
      const m2b = toyReadMessage1(mode, a2.message1, { toy: p.toy, setupCode: p.code, slot: 9 }).respond(toyHello(mode)).message2;
      const tampered = Uint8Array.from(m2b);
      tampered[tampered.length - 1]! ^= 0x80;
      const err2 = errorOf(() => a2.readMessage2(tampered));
      expect(err2.code).toBe('HANDSHAKE_FAILED');
      expect((err2.cause as PlushlinkError).code).toBe('DECRYPT_FAILED');
      // after a failure the state is discarded: the good message 2 no longer reads (§6.2)
      expect(codeOf(() => a2.readMessage2(m2b))).toBe('HANDSHAKE_STATE');
      // the untouched one reads
      expect(codeOf(() => a.readMessage2(message2))).toBeUndefined();
    }
  });

  it('other errors of message 2 pass through unwrapped: MESSAGE_TOO_SHORT, LOW_ORDER_POINT, BAD_PAYLOAD, UNKNOWN_VERSION', () => {
    const p = parties();
    const e = generateX25519KeyPair().publicKey;
    expect(codeOf(() => companionSide('pair', p).readMessage2(concatBytes(e, new Uint8Array(15))))).toBe('MESSAGE_TOO_SHORT');
    expect(codeOf(() => companionSide('reconnect', p).readMessage2(new Uint8Array(10)))).toBe('MESSAGE_TOO_SHORT');
    expect(codeOf(() => companionSide('reconnect', p).readMessage2(new Uint8Array(48)))).toBe('LOW_ORDER_POINT');
    const cases: [HandshakeMode, Uint8Array, string][] = [
      ['pair', payloadOf(toyItems('reconnect')), 'BAD_PAYLOAD'], // a pairing hello with the advertising key
      ['reconnect', payloadOf(toyItems('pair')), 'BAD_PAYLOAD'], // a reconnect hello without it
      ['pair', bytes(), 'BAD_PAYLOAD'],
      ['pair', bytes(1), 'BAD_PAYLOAD'],
      ['reconnect', tlv([...toyItems('reconnect').entries()], 9), 'UNKNOWN_VERSION'],
    ];
    for (const [mode, payload, code] of cases) {
      const c = companionSide(mode, p, 3);
      const m2 = rawToy(mode, p, c.message1, 3).writeMessage(payload);
      expect(codeOf(() => c.readMessage2(m2)), `${mode} ${hx(payload)}`).toBe(code);
    }
    // the same raw toy with a valid payload is read (the raw toy is a faithful responder)
    const c = companionSide('reconnect', p, 3);
    const m2 = rawToy('reconnect', p, c.message1, 3).writeMessage(payloadOf(toyItems('reconnect')));
    expect(c.readMessage2(m2).toy.advertisingKey).toEqual(ADV_KEY);
  });
});

describe('toyReadMessage1 (PROTOCOL.md §6.1, §6.3, §13.4)', () => {
  it('returns the authenticated companion key and hello', () => {
    const p = parties();
    const c = new CompanionHandshake('pair', { companion: p.companion, toyPublicKey: p.toy.publicKey, hello: { displayName: 'tablet', audioFormats: 2 }, setupCode: p.code });
    const r = toyReadMessage1('pair', c.message1, { toy: p.toy, setupCode: p.code });
    expect(hx(r.companionPublicKey)).toBe(hx(p.companion.publicKey));
    expect(r.companion).toEqual({ displayName: 'tablet', audioFormats: 3 });
  });

  it('acceptCompanion sees the companion static key once; false is NOT_PAIRED, true goes on', () => {
    for (const mode of ['reconnect', 'pair'] as HandshakeMode[]) {
      const p = parties();
      const m1 = companionSide(mode, p, 8).message1;
      const seen: string[] = [];
      const refuse = (k: Uint8Array): boolean => {
        seen.push(hx(k));
        return false;
      };
      expect(codeOf(() => toyReadMessage1(mode, m1, { toy: p.toy, setupCode: p.code, slot: 8, acceptCompanion: refuse }))).toBe('NOT_PAIRED');
      expect(seen).toEqual([hx(p.companion.publicKey)]);
      let calls = 0;
      const r = toyReadMessage1(mode, m1, {
        toy: p.toy,
        setupCode: p.code,
        slot: 8,
        acceptCompanion: (k) => {
          calls++;
          return bytesEqual(k, p.companion.publicKey);
        },
      });
      expect(calls).toBe(1);
      expect(r.companion.displayName).toBe('phone');
      // an allow-list that holds another companion refuses this one
      expect(codeOf(() => toyReadMessage1(mode, m1, { toy: p.toy, setupCode: p.code, slot: 8, acceptCompanion: (k) => bytesEqual(k, generateX25519KeyPair().publicKey) }))).toBe('NOT_PAIRED');
    }
  });

  it('respond() may be called once: a second call is HANDSHAKE_STATE', () => {
    for (const mode of ['pair', 'reconnect'] as HandshakeMode[]) {
      const p = parties();
      const r = toyReadMessage1(mode, companionSide(mode, p, 4).message1, { toy: p.toy, setupCode: p.code, slot: 4 });
      r.respond(toyHello(mode));
      const err = errorOf(() => r.respond(toyHello(mode)));
      expect(err.code).toBe('HANDSHAKE_STATE');
      expect(err.message).toMatch(/once/);
    }
  });

  it('a refused toy hello consumes nothing: respond() with a valid hello still works after', () => {
    const p = parties();
    const c = companionSide('pair', p);
    const r = toyReadMessage1('pair', c.message1, { toy: p.toy, setupCode: p.code });
    expect(codeOf(() => r.respond(toyHello('pair', { advertisingKey: ADV_KEY })))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => r.respond(toyHello('pair', { firmwareVersion: '' })))).toBe('BAD_PAYLOAD');
    const { message2 } = r.respond(toyHello('pair'));
    expect(c.readMessage2(message2).toy).toEqual(toyHello('pair'));
    // reconnect: respond() refuses a hello without the advertising key
    const c2 = companionSide('reconnect', p, 2);
    const r2 = toyReadMessage1('reconnect', c2.message1, { toy: p.toy, slot: 2 });
    expect(codeOf(() => r2.respond(toyHello('pair')))).toBe('BAD_PAYLOAD');
    expect(c2.readMessage2(r2.respond(toyHello('reconnect')).message2).toy.advertisingKey).toEqual(ADV_KEY);
  });

  it('message 2 has the §6.2 length (48 + hello)', () => {
    const p = parties();
    for (const mode of ['pair', 'reconnect'] as HandshakeMode[]) {
      const r = toyReadMessage1(mode, companionSide(mode, p, 1).message1, { toy: p.toy, setupCode: p.code, slot: 1 });
      expect(r.respond(toyHello(mode)).message2.length).toBe(48 + encodeToyHello(toyHello(mode), mode).length);
    }
  });
});

describe('session keys (PROTOCOL.md §6.1 split, §8.1)', () => {
  for (const mode of ['pair', 'reconnect'] as HandshakeMode[]) {
    it(`${mode}: both sides agree, directions differ, k1 is companion → toy`, () => {
      const p = parties();
      const c = companionSide(mode, p, 77);
      const { message2, keys: toyKeys } = toyReadMessage1(mode, c.message1, { toy: p.toy, setupCode: p.code, slot: 77 }).respond(toyHello(mode));
      const { toy, keys } = c.readMessage2(message2);
      expect(toy).toEqual(toyHello(mode));
      expect(keys.sendKey.length).toBe(32);
      expect(keys.receiveKey.length).toBe(32);
      expect(keys.handshakeHash.length).toBe(64);
      expect(hx(keys.sendKey)).toBe(hx(toyKeys.receiveKey));
      expect(hx(keys.receiveKey)).toBe(hx(toyKeys.sendKey));
      expect(hx(keys.sendKey)).not.toBe(hx(keys.receiveKey));
      expect(hx(keys.handshakeHash)).toBe(hx(toyKeys.handshakeHash));

      // the direction against the Noise core: a raw responder's receive key (k1) is the
      // companion's send key
      const c2 = companionSide(mode, p, 77);
      const raw = rawToy(mode, p, c2.message1, 77);
      const m2 = raw.writeMessage(encodeToyHello(toyHello(mode), mode));
      const k2 = c2.readMessage2(m2).keys;
      const split = raw.split();
      expect(hx(k2.sendKey)).toBe(hx(split.receive.key!));
      expect(hx(k2.receiveKey)).toBe(hx(split.send.key!));
      expect(hx(k2.handshakeHash)).toBe(hx(split.handshakeHash));
      // fresh ephemerals: another handshake, other keys
      expect(hx(k2.sendKey)).not.toBe(hx(keys.sendKey));
    });
  }

  it('the toy side against the Noise core: a raw initiator reads the toy message 2 and its send key (k1) is the toy receive key', () => {
    const p = parties();
    const raw = new HandshakeState({ protocolName: RECONNECT_PROTOCOL, initiator: true, prologue: handshakePrologue('reconnect', 6), s: p.companion, rs: p.toy.publicKey });
    const m1 = raw.writeMessage(encodeCompanionHello({ displayName: 'raw' }));
    const { message2, keys } = toyReadMessage1('reconnect', m1, { toy: p.toy, slot: 6 }).respond(toyHello('reconnect'));
    expect(decodeToyHello(raw.readMessage(message2), 'reconnect')).toEqual(toyHello('reconnect'));
    const split = raw.split();
    expect(hx(keys.receiveKey)).toBe(hx(split.send.key!));
    expect(hx(keys.sendKey)).toBe(hx(split.receive.key!));
  });
});
