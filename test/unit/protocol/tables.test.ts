/**
 * Small protocol tables and rules that only the toy and companion tests used to reach, checked
 * here against docs/PROTOCOL.md directly: the companion's mapping of refusal codes to errors (§11:
 * "2 → WRONG_SETUP_CODE (pairing) / NOT_PAIRED (reconnect), 1, 3, 4, 5, 6, 9 → the code of the
 * same name, others → HANDSHAKE_FAILED"), GOODBYE reason names (§7, unknown → UNSPECIFIED), the
 * answer to an authentic but undecodable request (§13.9), the pairings list's display names
 * (valid UTF-8 only), the GATT UUID helpers (§2) and the fragmenter's one-value check (§3).
 */
import { describe, expect, it } from 'vitest';
import { ControlType, decodeControl, decodePairings, encodeControl, encodePairings, goodbyeReasonName, undecodableRequestAnswer } from '../../../src/protocol/control.js';
import { Fragmenter, Reassembler, FRAG_END, FRAG_START } from '../../../src/protocol/fragment.js';
import { characteristicNameOf, compactUuid, uuidToLeBytes, CONTROL_CHARACTERISTIC_UUID, MICROPHONE_CHARACTERISTIC_UUID, PLUSHLINK_SERVICE_UUID, SPEAKER_CHARACTERISTIC_UUID } from '../../../src/protocol/gatt.js';
import { RefusalCode, refusalErrorCode, type RefusalName } from '../../../src/protocol/wire.js';

describe('refusal codes → the companion\'s errors (PROTOCOL.md §11)', () => {
  it('maps every refusal of the table, in both modes', () => {
    const expected: Record<RefusalName, [pair: string, reconnect: string]> = {
      NOT_IN_PAIRING_MODE: ['NOT_IN_PAIRING_MODE', 'NOT_IN_PAIRING_MODE'],
      HANDSHAKE_FAILED: ['WRONG_SETUP_CODE', 'NOT_PAIRED'],
      NOT_PAIRED: ['NOT_PAIRED', 'NOT_PAIRED'],
      RATE_LIMITED: ['RATE_LIMITED', 'RATE_LIMITED'],
      ALLOW_LIST_FULL: ['ALLOW_LIST_FULL', 'ALLOW_LIST_FULL'],
      NOT_AUTHENTICATED: ['NOT_AUTHENTICATED', 'NOT_AUTHENTICATED'],
      BAD_MESSAGE: ['HANDSHAKE_FAILED', 'HANDSHAKE_FAILED'],
      BUSY: ['HANDSHAKE_FAILED', 'HANDSHAKE_FAILED'],
      TIMEOUT: ['TIMEOUT', 'TIMEOUT'],
    } as Record<RefusalName, [string, string]>;
    expect(Object.keys(RefusalCode).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, [pair, reconnect]] of Object.entries(expected) as [RefusalName, [string, string]][]) {
      expect(refusalErrorCode(name, 'pair'), `${name} on pairing`).toBe(pair);
      expect(refusalErrorCode(name, 'reconnect'), `${name} on reconnect`).toBe(reconnect);
    }
    expect(refusalErrorCode('SOMETHING_NEW' as RefusalName, 'pair')).toBe('HANDSHAKE_FAILED');
  });
});

describe('control tables', () => {
  it('GOODBYE reason names; unknown values are UNSPECIFIED', () => {
    expect([0, 1, 2, 3].map(goodbyeReasonName)).toEqual(['UNSPECIFIED', 'PAIRING_SUPERSEDED', 'PAIRING_REMOVED', 'FACTORY_RESET']);
    expect(goodbyeReasonName(4)).toBe('UNSPECIFIED');
    expect(goodbyeReasonName(255)).toBe('UNSPECIFIED');
  });

  it('an authentic undecodable request gets RESULT with its id: BAD_REQUEST for a known type, UNSUPPORTED otherwise; never for id 0, a toy-to-companion type or CONFIRM (§13.9)', () => {
    expect(undecodableRequestAnswer(Uint8Array.of(ControlType.SET_VOLUME, 7, 1, 2))).toEqual({ id: 7, status: 'BAD_REQUEST' });
    expect(undecodableRequestAnswer(Uint8Array.of(0x7f, 9))).toEqual({ id: 9, status: 'UNSUPPORTED' });
    expect(undecodableRequestAnswer(Uint8Array.of(ControlType.SET_VOLUME, 0, 1))).toBeUndefined();
    expect(undecodableRequestAnswer(Uint8Array.of(0x80, 5))).toBeUndefined();
    expect(undecodableRequestAnswer(Uint8Array.of(ControlType.CONFIRM, 5))).toBeUndefined();
    expect(undecodableRequestAnswer(Uint8Array.of(ControlType.SET_VOLUME))).toBeUndefined();
  });

  it('the pairings list round-trips and refuses a display name that is not UTF-8, or a bad role, as BAD_CONTROL_MESSAGE', () => {
    const list = [
      { keyId: '0011223344556677', role: 'owner' as const, displayName: 'Mia’s phone', pairedAt: 1_700_000_000 },
      { keyId: 'ffeeddccbbaa9988', role: 'guest' as const, displayName: '', pairedAt: 0 },
    ];
    const body = encodePairings(list);
    expect(decodePairings(body)).toEqual(list);
    const badName = Uint8Array.from(body);
    badName[1 + 8 + 1 + 1] = 0xff; // first byte of the first display name
    expect(() => decodePairings(badName)).toThrow(expect.objectContaining({ code: 'BAD_CONTROL_MESSAGE', message: expect.stringMatching(/UTF-8/) }));
    const badRole = Uint8Array.from(body);
    badRole[1 + 8] = 2;
    expect(() => decodePairings(badRole)).toThrow(expect.objectContaining({ code: 'BAD_CONTROL_MESSAGE' }));
    expect(() => decodePairings(body.subarray(0, body.length - 1))).toThrow(expect.objectContaining({ code: 'BAD_CONTROL_MESSAGE' }));
  });
});

describe('control ids and values (PROTOCOL.md §10)', () => {
  const bad = expect.objectContaining({ code: 'BAD_CONTROL_MESSAGE' });
  it('RESULT echoes a request id 1..255: id 0 is BAD_CONTROL_MESSAGE; events carry id 0', () => {
    expect(decodeControl(Uint8Array.of(ControlType.RESULT, 5, 0))).toMatchObject({ type: 'result', id: 5 });
    expect(() => decodeControl(Uint8Array.of(ControlType.RESULT, 0, 0))).toThrow(bad);
    expect(() => decodeControl(Uint8Array.of(ControlType.GET_BATTERY, 0))).toThrow(bad);
    expect(() => decodeControl(Uint8Array.of(ControlType.MIC_STATUS, 1, 0, 0, 0, 0, 0))).toThrow(bad);
    expect(decodeControl(Uint8Array.of(ControlType.MIC_STATUS, 0, 1, 0, 0, 0, 7))).toMatchObject({ type: 'mic-status', id: 0, active: true, nextFrame: 7 });
  });

  it('the encoder refuses what the decoder would: volume outside 0..100 or not an integer, a key id that is not 16 lower-case hex digits', () => {
    for (const volume of [0, 100]) expect(decodeControl(encodeControl({ type: 'set-volume', id: 1, volume }))).toEqual({ type: 'set-volume', id: 1, volume });
    for (const volume of [-1, 101, 1.5, Number.NaN]) expect(() => encodeControl({ type: 'set-volume', id: 1, volume }), String(volume)).toThrow(bad);
    expect(decodeControl(encodeControl({ type: 'remove-pairing', id: 2, keyId: '0123456789abcdef' }))).toEqual({ type: 'remove-pairing', id: 2, keyId: '0123456789abcdef' });
    for (const keyId of ['0123456789ABCDEF', '0123456789abcde', '0123456789abcdef0', 'x0123456789abcdef', '0123456789abcdefx', '0123456789abcdeg']) {
      expect(() => encodeControl({ type: 'remove-pairing', id: 2, keyId }), keyId).toThrow(bad);
    }
  });
});

describe('GATT helpers (PROTOCOL.md §2)', () => {
  it('names the three characteristics from any spelling of their UUID, and nothing else', () => {
    expect(characteristicNameOf(CONTROL_CHARACTERISTIC_UUID)).toBe('control');
    expect(characteristicNameOf(SPEAKER_CHARACTERISTIC_UUID.toUpperCase())).toBe('speaker');
    expect(characteristicNameOf(compactUuid(MICROPHONE_CHARACTERISTIC_UUID))).toBe('microphone');
    expect(characteristicNameOf(PLUSHLINK_SERVICE_UUID)).toBeUndefined();
    expect(characteristicNameOf('')).toBeUndefined();
  });

  it('UUID bytes are little-endian; anything but 128 bits is refused', () => {
    const le = uuidToLeBytes(PLUSHLINK_SERVICE_UUID);
    expect(le[0]).toBe(0xa2);
    expect(le[15]).toBe(0x5b);
    expect(Array.from(le).reverse().map((b) => b.toString(16).padStart(2, '0')).join('')).toBe(compactUuid(PLUSHLINK_SERVICE_UUID));
    expect(() => uuidToLeBytes('1234')).toThrow(RangeError);
    expect(() => uuidToLeBytes(PLUSHLINK_SERVICE_UUID.replace('5', 'g'))).toThrow(RangeError);
  });
});

describe('fragments (PROTOCOL.md §3)', () => {
  it('Fragmenter.fits: a message fits one value when header + message ≤ payload size, equality included', () => {
    expect(Fragmenter.fits(243, 244)).toBe(true);
    expect(Fragmenter.fits(244, 244)).toBe(false);
    expect(Fragmenter.fits(0, 1)).toBe(true);
    for (const n of [1, 19, 100]) expect(Fragmenter.fits(n, 20), String(n)).toBe(new Fragmenter().fragment(new Uint8Array(n), 20).length === 1);
  });

  it('Reassembler.skip: an empty value ends the skip; a middle fragment does not, the last one does', () => {
    const r = new Reassembler();
    expect(r.skip(new Uint8Array(0))).toBe(true);
    expect(r.skip(Uint8Array.of(FRAG_START | 3, 0, 9, 1))).toBe(false);
    expect(r.skip(Uint8Array.of(4, 2))).toBe(false);
    expect(r.skip(Uint8Array.of(FRAG_END | 5, 3))).toBe(true);
  });
});
