/** Unit tests of the small protocol codecs: base32, TLV, wire, control, audio records, advertising. */
import { describe, expect, it } from 'vitest';
import { CROCKFORD_ALPHABET, base32Decode, base32Encode, crockfordValue } from '../../../src/protocol/base32.js';
import { decodeTlv, encodeTlv, readUint } from '../../../src/protocol/tlv.js';
import { decodeWire, encodeWire, refusalErrorCode, RefusalCode, type WireMessage } from '../../../src/protocol/wire.js';
import {
  decodeBattery,
  decodeControl,
  decodePairings,
  decodeToyInfo,
  encodeBattery,
  encodeControl,
  encodePairings,
  encodeToyInfo,
  type ControlMessage,
} from '../../../src/protocol/control.js';
import { audioPayloadSize, decodeAudioPayload, encodeAudioPayload, MAX_FRAMES_PER_RECORD } from '../../../src/protocol/audio-record.js';
import {
  ADV_DATA_LEN,
  ADV_SLOT_SECONDS,
  advertisingSlot,
  advertisingTag,
  buildAdvertisement,
  msUntilNextSlot,
  parseAdvertisement,
  resolveAdvertisingTag,
} from '../../../src/protocol/advertising.js';
import { bytesEqual } from '../../../src/protocol/bytes.js';
import { codeOf } from '../../helpers/errors.js';


describe('base32 (Crockford)', () => {
  it('has no I, L, O, U and folds confusables when reading', () => {
    expect(CROCKFORD_ALPHABET).toHaveLength(32);
    expect(CROCKFORD_ALPHABET).not.toMatch(/[ILOU]/);
    expect(crockfordValue('o')).toBe(0);
    expect(crockfordValue('O')).toBe(0);
    expect(crockfordValue('i')).toBe(1);
    expect(crockfordValue('L')).toBe(1);
    expect(crockfordValue('u')).toBe(-1);
    expect(crockfordValue('z')).toBe(31);
  });
  it('round-trips every length and refuses bad length, characters and padding bits', () => {
    for (let n = 0; n <= 40; n++) {
      const b = new Uint8Array(n).map((_, i) => (i * 37 + n) & 0xff);
      expect(base32Decode(base32Encode(b), n)).toEqual(b);
    }
    expect(base32Encode(new Uint8Array([0xff]))).toBe('ZW');
    expect(codeOf(() => base32Decode('ZW0', 1))).toBe('BAD_LENGTH');
    expect(codeOf(() => base32Decode('ZU', 1))).toBe('BAD_SETUP_CODE');
    expect(codeOf(() => base32Decode('ZZ', 1))).toBe('BAD_SETUP_CODE'); // non-zero padding
  });
});

describe('TLV', () => {
  const known = new Set([1, 2, 0x90]);
  it('round-trips, ignores unknown optional items, rejects unknown critical ones', () => {
    const b = encodeTlv(1, [[1, new Uint8Array([7])], [0x30, new Uint8Array([1, 2])], [2, new Uint8Array(0)]]);
    const m = decodeTlv(b, 1, known, 't');
    expect([...m.keys()]).toEqual([1, 2]);
    expect(m.get(1)).toEqual(new Uint8Array([7]));
    expect(codeOf(() => decodeTlv(encodeTlv(1, [[0x91, new Uint8Array(1)]]), 1, known, 't'))).toBe('BAD_PAYLOAD');
    expect(decodeTlv(encodeTlv(1, [[0x90, new Uint8Array(1)]]), 1, known, 't').has(0x90)).toBe(true);
  });
  it('names what is wrong: version, empty, truncation, duplicates', () => {
    expect(codeOf(() => decodeTlv(new Uint8Array([2]), 1, known, 't'))).toBe('UNKNOWN_VERSION');
    expect(codeOf(() => decodeTlv(new Uint8Array(0), 1, known, 't'))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => decodeTlv(new Uint8Array([1, 1]), 1, known, 't'))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => decodeTlv(new Uint8Array([1, 1, 3, 0]), 1, known, 't'))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => decodeTlv(new Uint8Array([1, 1, 0, 1, 0]), 1, known, 't'))).toBe('BAD_PAYLOAD');
    expect(codeOf(() => decodeTlv(new Uint8Array([1, 0x30, 0, 0x30, 0]), 1, known, 't'))).toBe('BAD_PAYLOAD');
    expect(() => encodeTlv(1, [[1, new Uint8Array(256)]])).toThrow(RangeError);
    expect(readUint(new Uint8Array([1, 2, 3, 4]), 4, 'x')).toBe(0x01020304);
    expect(codeOf(() => readUint(new Uint8Array([1]), 2, 'x'))).toBe('BAD_PAYLOAD');
  });
});

describe('wire messages', () => {
  const msgs: WireMessage[] = [
    { kind: 'pair-m1', noise: new Uint8Array([1, 2]) },
    { kind: 'pair-m2', noise: new Uint8Array([3]) },
    { kind: 'reconnect-m1', slot: 2_833_333, noise: new Uint8Array([4]) },
    { kind: 'reconnect-m2', noise: new Uint8Array([5]) },
    { kind: 'info-request' },
    { kind: 'info-response', version: 1, toyPublicKey: new Uint8Array(32).fill(9) },
    { kind: 'error', refusal: 'RATE_LIMITED', retryAfterSec: 300 },
    { kind: 'record', record: new Uint8Array(20).fill(1) },
  ];
  it('round-trip every kind', () => {
    for (const m of msgs) expect(decodeWire(encodeWire(m))).toEqual(m);
    for (const r of Object.keys(RefusalCode) as (keyof typeof RefusalCode)[]) {
      expect(decodeWire(encodeWire({ kind: 'error', refusal: r, retryAfterSec: 0 }))).toEqual({ kind: 'error', refusal: r, retryAfterSec: 0 });
    }
  });
  it('refuses malformed messages with BAD_FRAME', () => {
    for (const b of [[], [0x01], [0x05, 0], [0x06, 1], [0x0f, 1, 0], [0x0f, 99, 0, 0], [0x10], [0x77]]) {
      expect(codeOf(() => decodeWire(new Uint8Array(b)))).toBe('BAD_FRAME');
    }
  });
  it('maps refusals to public error codes by mode', () => {
    expect(refusalErrorCode('HANDSHAKE_FAILED', 'pair')).toBe('WRONG_SETUP_CODE');
    expect(refusalErrorCode('HANDSHAKE_FAILED', 'reconnect')).toBe('NOT_PAIRED');
    expect(refusalErrorCode('NOT_IN_PAIRING_MODE', 'pair')).toBe('NOT_IN_PAIRING_MODE');
  });
});

describe('control messages', () => {
  const all: ControlMessage[] = [
    { type: 'speaker-start', id: 1, firstFrame: 0xfffffffe },
    { type: 'speaker-end', id: 2, lastFrame: 77 },
    { type: 'speaker-stop', id: 3 },
    { type: 'mic-start', id: 4 },
    { type: 'mic-stop', id: 5 },
    { type: 'set-volume', id: 6, volume: 100 },
    { type: 'get-battery', id: 7 },
    { type: 'get-info', id: 8 },
    { type: 'list-pairings', id: 9 },
    { type: 'remove-pairing', id: 10, keyId: '00112233445566ff' },
    { type: 'allow-guest-pairing', id: 255 },
    { type: 'result', id: 12, status: 'NOT_OWNER', body: new Uint8Array(0) }, // only OK carries a body (PROTOCOL.md §10.2)
    { type: 'speaker-status', id: 0, state: 'draining', bufferedMs: 380, framesPlayed: 123456, underruns: 2, overruns: 1 },
    { type: 'mic-status', id: 0, active: true, nextFrame: 99 },
    { type: 'goodbye', id: 0, reason: 3 },
    { type: 'advertising-key', id: 0, advertisingKey: new Uint8Array(32).map((_, i) => 200 - i) },
  ];
  it('round-trip every message', () => {
    for (const m of all) expect(decodeControl(encodeControl(m))).toEqual(m);
  });
  it('refuse malformed ones with BAD_CONTROL_MESSAGE', () => {
    const bad = [[], [0x06], [0x06, 0, 50], [0x06, 1, 101], [0x06, 1, 50, 0], [0x81, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0x80, 0, 0], [0x80, 1, 99], [0x7e, 1], [0x0a, 1, 1, 2]];
    for (const b of bad) expect(codeOf(() => decodeControl(new Uint8Array(b))), JSON.stringify(b)).toBe('BAD_CONTROL_MESSAGE');
    expect(codeOf(() => encodeControl({ type: 'set-volume', id: 1, volume: 101 }))).toBe('BAD_CONTROL_MESSAGE');
    // ADVERTISING_KEY: exactly 32 key bytes, id 0
    for (const b of [[0x84, 0], [0x84, 0, ...new Array(31).fill(1)], [0x84, 0, ...new Array(33).fill(1)], [0x84, 1, ...new Array(32).fill(1)]]) {
      expect(codeOf(() => decodeControl(new Uint8Array(b))), JSON.stringify(b.length)).toBe('BAD_CONTROL_MESSAGE');
    }
    expect(codeOf(() => encodeControl({ type: 'advertising-key', id: 0, advertisingKey: new Uint8Array(16) }))).toBe('BAD_CONTROL_MESSAGE');
  });
  it('refuse to encode a field outside its wire range instead of truncating it', () => {
    const outOfRange: ControlMessage[] = [
      { type: 'get-info', id: 256 },
      { type: 'get-info', id: -1 },
      { type: 'get-info', id: 1.5 },
      { type: 'speaker-start', id: 1, firstFrame: 2 ** 32 },
      { type: 'speaker-end', id: 1, lastFrame: -1 },
      { type: 'mic-status', id: 0, active: true, nextFrame: 2 ** 32 },
      { type: 'goodbye', id: 0, reason: 256 },
    ];
    for (const m of outOfRange) expect(codeOf(() => encodeControl(m)), JSON.stringify(m)).toBe('BAD_CONTROL_MESSAGE');
    expect(decodeControl(encodeControl({ type: 'get-info', id: 255 }))).toEqual({ type: 'get-info', id: 255 });
    // frames played is a running count sent modulo 2^32
    const st = { type: 'speaker-status', id: 0, state: 'playing', bufferedMs: 40, framesPlayed: 2 ** 32 + 5, underruns: 0, overruns: 0 } as const;
    expect(decodeControl(encodeControl(st))).toEqual({ ...st, framesPlayed: 5 });
  });
  it('round-trip result bodies', () => {
    expect(decodeBattery(encodeBattery({ percent: 55, charging: true }))).toEqual({ percent: 55, charging: true });
    const info = { firmwareVersion: '1.0.0', model: 'bear', capabilities: 15, volume: 70 };
    expect(decodeToyInfo(encodeToyInfo(info))).toEqual(info);
    const list = [
      { keyId: '0011223344556677', role: 'owner' as const, displayName: 'mum’s phone', pairedAt: 1700000000 },
      { keyId: 'ffeeddccbbaa9988', role: 'guest' as const, displayName: 'gran', pairedAt: 1 },
    ];
    expect(decodePairings(encodePairings(list))).toEqual(list);
    expect(codeOf(() => decodeBattery(new Uint8Array([101, 0])))).toBe('BAD_CONTROL_MESSAGE');
    expect(codeOf(() => decodeToyInfo(new Uint8Array([2, 0xff, 0xfe, 0, 0, 0, 0, 0, 0])))).toBe('BAD_CONTROL_MESSAGE');
    expect(codeOf(() => decodePairings(new Uint8Array([1, 0, 0])))).toBe('BAD_CONTROL_MESSAGE');
  });
});

describe('audio record payloads', () => {
  it('round-trip 1..64 frames of 1..255 bytes', () => {
    for (const n of [1, 2, 3, 17, MAX_FRAMES_PER_RECORD]) {
      const frames = Array.from({ length: n }, (_, i) => new Uint8Array(1 + ((i * 53) % 255)).fill(i));
      const p = encodeAudioPayload(frames);
      expect(p.length).toBe(audioPayloadSize(frames.map((f) => f.length)));
      expect(decodeAudioPayload(p)).toEqual(frames);
    }
  });
  it('refuse malformed payloads with BAD_AUDIO', () => {
    expect(codeOf(() => encodeAudioPayload([]))).toBe('BAD_AUDIO');
    expect(codeOf(() => encodeAudioPayload([new Uint8Array(0)]))).toBe('BAD_AUDIO');
    expect(codeOf(() => encodeAudioPayload([new Uint8Array(256)]))).toBe('BAD_AUDIO');
    for (const b of [[], [0], [65, 1], [2, 0, 1], [2, 5, 1, 1], [1], [2, 1, 9]]) {
      expect(codeOf(() => decodeAudioPayload(new Uint8Array(b))), JSON.stringify(b)).toBe('BAD_AUDIO');
    }
    expect(codeOf(() => decodeAudioPayload(new Uint8Array([1, ...new Uint8Array(256)])))).toBe('BAD_AUDIO');
  });
});

describe('advertising', () => {
  const key = new Uint8Array(32).fill(3);
  const now = 1_700_000_000_000;
  it('service data: flags + 8-byte tag, rotating every slot, linkable only with the key', () => {
    const a = buildAdvertisement({ nowMs: now, pairing: true, advertisingKey: key });
    expect(a).toHaveLength(ADV_DATA_LEN);
    expect(parseAdvertisement(a)).toEqual({ pairing: true, owned: true, tag: a.slice(1) });
    const next = buildAdvertisement({ nowMs: now + ADV_SLOT_SECONDS * 1000, pairing: true, advertisingKey: key });
    expect(bytesEqual(a.slice(1), next.slice(1))).toBe(false);
    expect(resolveAdvertisingTag(a.slice(1), [new Uint8Array(32), key], now)).toBe(1);
    expect(resolveAdvertisingTag(a.slice(1), [key], now + ADV_SLOT_SECONDS * 1000)).toBe(0); // skew of one slot
    expect(resolveAdvertisingTag(a.slice(1), [key], now + 3 * ADV_SLOT_SECONDS * 1000)).toBe(-1);
    expect(msUntilNextSlot(now) + (now % (ADV_SLOT_SECONDS * 1000))).toBe(ADV_SLOT_SECONDS * 1000);
    expect(advertisingTag(key, advertisingSlot(now))).toEqual(a.slice(1));
  });
  it('an unowned toy advertises a fresh random tag; malformed service data is BAD_FRAME', () => {
    let i = 0;
    const random = (n: number): Uint8Array => new Uint8Array(n).fill(++i);
    const x = buildAdvertisement({ nowMs: now, pairing: false, random });
    const y = buildAdvertisement({ nowMs: now, pairing: false, random });
    expect(parseAdvertisement(x).owned).toBe(false);
    expect(bytesEqual(x.slice(1), y.slice(1))).toBe(false);
    expect(codeOf(() => parseAdvertisement(new Uint8Array(8)))).toBe('BAD_FRAME');
    expect(codeOf(() => parseAdvertisement(new Uint8Array([4, 0, 0, 0, 0, 0, 0, 0, 0])))).toBe('BAD_FRAME');
    expect(codeOf(() => advertisingTag(new Uint8Array(31), 0))).toBe('INVALID_KEY');
  });
});
