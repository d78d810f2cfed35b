/**
 * Generates plushlink's own test vectors (docs/PROTOCOL.md "Test vectors"):
 *
 * - `fixtures/vectors/handshakes.json`  — pairing (Noise_IKpsk1) and reconnect (Noise_IK) with
 *   fixed static keys and fixed ephemerals: every input, the exact message bytes, handshake
 *   hashes, split keys, channel keys, wire framing and fragments, and a wrong-setup-code case;
 * - `fixtures/vectors/setup-codes.json` — random bytes → secret → check symbols → human form →
 *   QR payload → PSK → fingerprint, accepted spellings, and invalid inputs with error codes;
 * - `fixtures/vectors/records.json`     — channel and epoch keys, control and audio records at
 *   several counters across an epoch boundary, a receive sequence with replays and a forgery,
 *   and fragmentation of records at MTU 23 and 247;
 * - `fixtures/vectors/advertising.json` — advertising key, times → slot → tag → service data
 *   and the full legacy advertising PDU;
 * - `fixtures/vectors/control.json`     — control-characteristic wire messages (every kind and
 *   refusal code) and every control message type and result body.
 *
 * Run: `npm run gen:vectors` (writes fixtures/vectors/) or
 * `npx tsx scripts/gen-vectors.ts OUT_DIR`. Deterministic: every key and every "random" byte is
 * `SHA-512(label)[0..n]` of a public label, so anyone can recompute them. They are test keys,
 * never to be used for anything else. test/unit/protocol/own-vectors.test.ts re-derives every value from
 * the library and checks that this script reproduces the committed files byte for byte.
 *
 * This script does not touch `fixtures/vectors/messages.json` (scripts/gen-message-vectors.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { concatBytes, fromHex, toHex, utf8 } from '../src/protocol/bytes.js';
import { hmacSha512, sha512, x25519KeyPairFromSecret, type RandomSource } from '../src/protocol/crypto.js';
import { isPlushlinkError } from '../src/protocol/errors.js';
import { CROCKFORD_ALPHABET, base32Encode } from '../src/protocol/base32.js';
import {
  formatSetupCode,
  formatSetupQr,
  generateSetupCode,
  parseSetupCode,
  parseSetupQr,
  setupCodeCheck,
  setupCodePsk,
  toyKeyFingerprint,
  type SetupCode,
} from '../src/protocol/setup-code.js';
import {
  CompanionHandshake,
  PAIRING_PROTOCOL,
  RECONNECT_PROTOCOL,
  encodeCompanionHello,
  encodeToyHello,
  handshakePrologue,
  reconnectReadSlot,
  toyReadMessage1,
  type CompanionHello,
  type HandshakeMode,
  type ToyHello,
} from '../src/protocol/handshake.js';
import { HandshakeState } from '../src/protocol/noise/handshake-state.js';
import { decodeToyHello, toyReadMessage1 as readM1 } from '../src/protocol/handshake.js';
import { encodeTlv } from '../src/protocol/tlv.js';
import { decodeControl } from '../src/protocol/control.js';
import { ToyCore } from '../src/toy/toy-core.js';
import type { ToyAction } from '../src/toy/types.js';
import { chachaNonce } from '../src/protocol/noise/cipher-state.js';
import { Fragmenter, Reassembler } from '../src/protocol/fragment.js';
import { EPOCH_SIZE, RecordReceiver, RecordSender, channelKey, nextEpochKey, type Channel } from '../src/protocol/record.js';
import { AUDIO_FORMATS_SUPPORTED, AUDIO_FORMATS_V1, decodeAudioPayload, encodeAudioPayload } from '../src/protocol/audio-record.js';
import {
  encodeBattery,
  encodeControl,
  encodePairings,
  encodeToyInfo,
  type ControlMessage,
  type PairingEntry,
} from '../src/protocol/control.js';
import { RefusalCode, encodeWire, type RefusalName, type WireMessage } from '../src/protocol/wire.js';
import { ADV_MAX_CHANGE, ADV_SLOT_SECONDS, advertisingSlot, advertisingTag, buildAdvertisement } from '../src/protocol/advertising.js';
import { buildAdvertisingPayload } from '../src/transport/bleno/advertising.js';
import { PLUSHLINK_SERVICE_UUID } from '../src/transport/gatt-layout.js';

/** Version of the vector files' layout (bumped when a field changes meaning). */
export const VECTORS_VERSION = 1;

/** `SHA-512(label)[0..n]`: every secret and every "random" byte in the vectors. */
export function labelBytes(label: string, n = 32): Uint8Array {
  return sha512(utf8(label)).slice(0, n);
}

/** A RandomSource that hands out the given chunks in order, each exactly as requested. */
export function fixedRandom(...chunks: Uint8Array[]): RandomSource {
  const q = [...chunks];
  return (n) => {
    const c = q.shift();
    if (!c || c.length !== n) throw new Error(`vector randomness exhausted or wrong size (${n})`);
    return Uint8Array.from(c);
  };
}

const hex = toHex;

function keyPairJson(label: string): { label: string; secretKey: string; publicKey: string } {
  const kp = x25519KeyPairFromSecret(labelBytes(label));
  return { label, secretKey: hex(kp.secretKey), publicKey: hex(kp.publicKey) };
}

/** Fragments `message` with a fresh fragmenter (counter starts at 0). */
function fragmentsOf(message: Uint8Array, mtu: number, fragmenter = new Fragmenter(1024)): string[] {
  return fragmenter.fragment(message, mtu - 3).map(hex);
}

/** TLV items of a payload, for the human reader (version byte first). */
function tlvItems(payload: Uint8Array): { type: string; length: number; value: string }[] {
  const items: { type: string; length: number; value: string }[] = [];
  let o = 1;
  while (o < payload.length) {
    const t = payload[o]!;
    const len = payload[o + 1]!;
    items.push({ type: `0x${t.toString(16).padStart(2, '0')}`, length: len, value: hex(payload.subarray(o + 2, o + 2 + len)) });
    o += 2 + len;
  }
  return items;
}

// ------------------------------------------------------------------------------------------------
// Fixed inputs shared by several files

export const LABELS = {
  toyStatic: 'plushlink vector toy static',
  companionStatic: 'plushlink vector companion static',
  pairCompanionEphemeral: 'plushlink vector pair companion ephemeral',
  pairToyEphemeral: 'plushlink vector pair toy ephemeral',
  reconnectCompanionEphemeral: 'plushlink vector reconnect companion ephemeral',
  reconnectToyEphemeral: 'plushlink vector reconnect toy ephemeral',
  setupCodeRandom: 'plushlink vector setup code',
  wrongSetupCodeRandom: 'plushlink vector wrong setup code',
  advertisingKey: 'plushlink vector advertising key',
  rotatedAdvertisingKey: 'plushlink vector rotated advertising key',
} as const;

const toyStatic = () => x25519KeyPairFromSecret(labelBytes(LABELS.toyStatic));
const companionStatic = () => x25519KeyPairFromSecret(labelBytes(LABELS.companionStatic));
const setupCode = (): SetupCode => generateSetupCode(fixedRandom(labelBytes(LABELS.setupCodeRandom, 14)));
const wrongSetupCode = (): SetupCode => generateSetupCode(fixedRandom(labelBytes(LABELS.wrongSetupCodeRandom, 14)));
const advertisingKey = () => labelBytes(LABELS.advertisingKey);

const COMPANION_HELLO: CompanionHello = { displayName: 'Mia\u2019s tablet' };
/** The toy hello of `mode`: only the reconnect hello carries the advertising key (PROTOCOL.md §7). */
const toyHello = (mode: HandshakeMode): ToyHello => ({
  firmwareVersion: '1.0.0',
  capabilities: 0x0000000f,
  speakerBufferMs: 400,
  role: 'owner',
  ...(mode === 'reconnect' ? { advertisingKey: advertisingKey() } : {}),
});

interface HandshakeRun {
  message1: Uint8Array;
  message2: Uint8Array;
  payload1: Uint8Array;
  payload2: Uint8Array;
  hashAfter1: Uint8Array;
  hashAfter2: Uint8Array;
  initiatorToResponder: Uint8Array;
  responderToInitiator: Uint8Array;
}

/** The time of the reconnect vector (ms since the Unix epoch) and the advertising slot its message 1 is bound to. */
export const RECONNECT_TIME_MS = 1_700_000_000_000;
const reconnectSlot = (): number => advertisingSlot(RECONNECT_TIME_MS);
const slotOf = (mode: HandshakeMode): number | undefined => (mode === 'reconnect' ? reconnectSlot() : undefined);

/** Runs one plushlink handshake through the library's public API with fixed ephemerals. */
function runHandshake(mode: HandshakeMode, code: SetupCode | undefined, eLabels: [string, string]): HandshakeRun {
  const toy = toyStatic();
  const companion = companionStatic();
  const ci = new CompanionHandshake(mode, {
    companion,
    toyPublicKey: toy.publicKey,
    hello: COMPANION_HELLO,
    setupCode: code,
    slot: slotOf(mode),
    random: fixedRandom(labelBytes(eLabels[0])),
  });
  const read = toyReadMessage1(mode, ci.message1, { toy, setupCode: code, slot: slotOf(mode), random: fixedRandom(labelBytes(eLabels[1])) });
  const { message2, keys: toyKeys } = read.respond(toyHello(mode));
  const { keys } = ci.readMessage2(message2);
  if (hex(keys.sendKey) !== hex(toyKeys.receiveKey) || hex(keys.handshakeHash) !== hex(toyKeys.handshakeHash)) throw new Error('parties disagree');

  // The same handshake through the raw Noise HandshakeState, for the intermediate hash.
  const psks = mode === 'pair' ? [setupCodePsk(code!, toy.publicKey)] : [];
  const hs = new HandshakeState({
    protocolName: mode === 'pair' ? PAIRING_PROTOCOL : RECONNECT_PROTOCOL,
    initiator: true,
    prologue: handshakePrologue(mode, slotOf(mode)),
    s: companion,
    rs: toy.publicKey,
    psks,
    e: x25519KeyPairFromSecret(labelBytes(eLabels[0])),
  });
  const m1 = hs.writeMessage(encodeCompanionHello(COMPANION_HELLO));
  if (hex(m1) !== hex(ci.message1)) throw new Error('raw Noise message 1 differs');
  const hashAfter1 = hs.handshakeHash;
  hs.readMessage(message2);
  const split = hs.split();
  if (hex(split.send.key!) !== hex(keys.sendKey)) throw new Error('raw Noise split differs');
  return {
    message1: ci.message1,
    message2,
    payload1: encodeCompanionHello(COMPANION_HELLO),
    payload2: encodeToyHello(toyHello(mode), mode),
    hashAfter1,
    hashAfter2: keys.handshakeHash,
    initiatorToResponder: keys.sendKey,
    responderToInitiator: keys.receiveKey,
  };
}

function channelKeysJson(i2r: Uint8Array, r2i: Uint8Array): Record<string, Record<Channel, string>> {
  return {
    companionToToy: { control: hex(channelKey(i2r, 'control')), audio: hex(channelKey(i2r, 'audio')) },
    toyToCompanion: { control: hex(channelKey(r2i, 'control')), audio: hex(channelKey(r2i, 'audio')) },
  };
}

function handshakeJson(mode: HandshakeMode, run: HandshakeRun, code: SetupCode | undefined, eLabels: [string, string]): unknown {
  const toy = toyStatic();
  const kind1: WireMessage['kind'] = mode === 'pair' ? 'pair-m1' : 'reconnect-m1';
  const kind2: WireMessage['kind'] = mode === 'pair' ? 'pair-m2' : 'reconnect-m2';
  const wire1 = encodeWire(mode === 'pair' ? { kind: 'pair-m1', noise: run.message1 } : { kind: 'reconnect-m1', slot: reconnectSlot(), noise: run.message1 });
  const wire2 = encodeWire({ kind: kind2, noise: run.message2 } as WireMessage);
  const p1 = run.payload1.length + 16;
  const p2 = run.payload2.length + 16;
  return {
    mode,
    protocolName: mode === 'pair' ? PAIRING_PROTOCOL : RECONNECT_PROTOCOL,
    prologueAscii: `plushlink/1 ${mode} initiator=companion responder=toy`,
    ...(mode === 'reconnect'
      ? {
          slot: { timeMs: RECONNECT_TIME_MS, value: reconnectSlot(), bytes: hex(handshakePrologue(mode, reconnectSlot()).subarray(-4)), note: 'the prologue is the ASCII text followed by the slot (u32 big-endian); the wire message carries the slot in clear after the kind byte' },
        }
      : {}),
    prologue: hex(handshakePrologue(mode, slotOf(mode))),
    ...(mode === 'pair'
      ? {
          setupCodeSecret: code!.secret,
          psk: hex(setupCodePsk(code!, toy.publicKey)),
        }
      : {}),
    companionEphemeral: keyPairJson(eLabels[0]),
    toyEphemeral: keyPairJson(eLabels[1]),
    companionHello: { displayName: COMPANION_HELLO.displayName, payload: hex(run.payload1), items: tlvItems(run.payload1) },
    toyHello: {
      firmwareVersion: toyHello(mode).firmwareVersion,
      capabilities: toyHello(mode).capabilities,
      speakerBufferMs: toyHello(mode).speakerBufferMs,
      role: toyHello(mode).role,
      ...(mode === 'reconnect' ? { advertisingKey: hex(toyHello(mode).advertisingKey!) } : { advertisingKey: null }),
      payload: hex(run.payload2),
      items: tlvItems(run.payload2),
    },
    message1: {
      noise: hex(run.message1),
      length: run.message1.length,
      fields: [
        { name: 'e (companion ephemeral public key)', offset: 0, length: 32, value: hex(run.message1.subarray(0, 32)) },
        { name: 'encrypted s (companion static key + tag)', offset: 32, length: 48, value: hex(run.message1.subarray(32, 80)) },
        { name: 'encrypted payload (companion hello + tag)', offset: 80, length: p1, value: hex(run.message1.subarray(80)) },
      ],
      handshakeHashAfter: hex(run.hashAfter1),
      wire: hex(wire1),
      fragmentsMtu23: fragmentsOf(wire1, 23),
      fragmentsMtu247: fragmentsOf(wire1, 247),
    },
    message2: {
      noise: hex(run.message2),
      length: run.message2.length,
      fields: [
        { name: 'e (toy ephemeral public key)', offset: 0, length: 32, value: hex(run.message2.subarray(0, 32)) },
        { name: 'encrypted payload (toy hello + tag)', offset: 32, length: p2, value: hex(run.message2.subarray(32)) },
      ],
      wire: hex(wire2),
      fragmentsMtu23: fragmentsOf(wire2, 23),
      fragmentsMtu247: fragmentsOf(wire2, 247),
    },
    handshakeHash: hex(run.hashAfter2),
    split: { initiatorToResponder: hex(run.initiatorToResponder), responderToInitiator: hex(run.responderToInitiator) },
    channelKeys: channelKeysJson(run.initiatorToResponder, run.responderToInitiator),
    confirmation: confirmationJson(mode, run),
  };
}

/**
 * Key confirmation (PROTOCOL.md §6.4): the companion's CONFIRM at counter 0 of its control stream,
 * fragmented as it continues the control fragment counter after message 1; for pairing also the
 * toy's answer once the pairing took effect, ADVERTISING_KEY at counter 0 of its control stream.
 */
function confirmationJson(mode: HandshakeMode, run: HandshakeRun): unknown {
  const c2t = channelKey(run.initiatorToResponder, 'control');
  const t2c = channelKey(run.responderToInitiator, 'control');
  const confirm: ControlMessage = { type: 'confirm', id: 1 };
  const confirmRecord = new RecordSender(c2t).seal(encodeControl(confirm));
  const confirmWire = encodeWire({ kind: 'record', record: confirmRecord });
  // the companion's control fragmenter already sent message 1
  const wire1 = encodeWire(mode === 'pair' ? { kind: 'pair-m1', noise: run.message1 } : { kind: 'reconnect-m1', slot: reconnectSlot(), noise: run.message1 });
  const frag = new Fragmenter(1024);
  const firstCounter = frag.fragment(wire1, 20).length % 64;
  const out: Record<string, unknown> = {
    companionConfirm: {
      message: confirm,
      plaintext: hex(encodeControl(confirm)),
      record: hex(confirmRecord),
      wire: hex(confirmWire),
      fragmentsMtu23: { firstCounter, fragments: fragmentsOf(confirmWire, 23, frag) },
    },
  };
  if (mode === 'pair') {
    const key: ControlMessage = { type: 'advertising-key', id: 0, advertisingKey: advertisingKey() };
    const rec = new RecordSender(t2c).seal(encodeControl(key));
    out.toyAdvertisingKey = {
      description: 'The pairing took effect: the toy sends its advertising key (here the one reconnect.toyHello carries), its first control record.',
      advertisingKey: hex(advertisingKey()),
      plaintext: hex(encodeControl(key)),
      record: hex(rec),
      wire: hex(encodeWire({ kind: 'record', record: rec })),
    };
  }
  return out;
}

/** The outcome of a call: 'ok' or the PlushlinkError code. */
function outcomeOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return isPlushlinkError(e) ? e.code : `not a PlushlinkError: ${(e as Error).message}`;
  }
}

/**
 * Reconnect message 1 at the edges of its length rule (PROTOCOL.md §6.2): below the fields
 * (96 bytes: e, encrypted s, payload tag) it is MESSAGE_TOO_SHORT; from 96 bytes the payload
 * decrypts and a payload that is not a companion hello is BAD_PAYLOAD; a hello with an optional
 * item this version does not know is read (§7: unknown optional items are ignored, so the only
 * upper bound is the 1024-byte message limit of §2).
 */
function message1LengthCases(): unknown {
  const toy = toyStatic();
  const slot = reconnectSlot();
  const m1With = (payload: Uint8Array): Uint8Array =>
    new HandshakeState({
      protocolName: RECONNECT_PROTOCOL,
      initiator: true,
      prologue: handshakePrologue('reconnect', slot),
      s: companionStatic(),
      rs: toy.publicKey,
      psks: [],
      e: x25519KeyPairFromSecret(labelBytes(LABELS.reconnectCompanionEphemeral)),
    }).writeMessage(payload);
  const valid = m1With(encodeCompanionHello(COMPANION_HELLO));
  const extended = encodeTlv(1, [
    [0x01, utf8(COMPANION_HELLO.displayName)],
    [0x7e, labelBytes('plushlink vector unknown optional item', 40)],
  ]);
  const cases: { what: string; payload?: string; message1: string }[] = [
    { what: '95 bytes: the valid message 1 cut one byte short of its fields', message1: hex(valid.subarray(0, 95)) },
    { what: '96 bytes: an empty payload (no version byte)', payload: '', message1: hex(m1With(new Uint8Array(0))) },
    { what: '97 bytes: a payload of only the version byte (no display name)', payload: '01', message1: hex(m1With(new Uint8Array([1]))) },
    { what: '99 bytes: a truncated display-name item', payload: hex(new Uint8Array([1, 1, 5])), message1: hex(m1With(new Uint8Array([1, 1, 5]))) },
    { what: 'the valid message 1 of reconnect', payload: hex(encodeCompanionHello(COMPANION_HELLO)), message1: hex(valid) },
    { what: 'a hello with an unknown optional item 0x7e of 40 bytes: read, the item ignored', payload: hex(extended), message1: hex(m1With(extended)) },
    { what: 'a hello with an unknown critical item 0x80', payload: hex(encodeTlv(1, [[0x01, utf8('x')], [0x80, new Uint8Array([0])]])), message1: hex(m1With(encodeTlv(1, [[0x01, utf8('x')], [0x80, new Uint8Array([0])]]))) },
  ];
  return {
    description:
      'Reconnect message 1 (slot: reconnect.slot, keys and ephemeral of reconnect) at the edges of PROTOCOL.md §6.2: shorter than its fields → MESSAGE_TOO_SHORT; a payload that decrypts but is no companion hello → BAD_PAYLOAD; unknown optional items are read past. The toy answers every failure with HANDSHAKE_FAILED.',
    cases: cases.map((c) => {
      const m = Buffer.from(c.message1, 'hex');
      return { ...c, length: m.length, toyOutcome: outcomeOf(() => readM1('reconnect', m, { toy, slot })) };
    }),
  };
}

/** Toy hellos at the edges of PROTOCOL.md §7, as the companion decodes them (reconnect). */
function toyHelloDecodingCases(): unknown {
  const base: [number, Uint8Array][] = [
    [0x10, utf8('1.0.0')],
    [0x11, new Uint8Array([0, 0, 0, 0x0f])],
    [0x12, new Uint8Array([0x01, 0x90])],
    [0x13, new Uint8Array([0])],
    [0x14, advertisingKey()],
  ];
  const withItem = (t: number, v: Uint8Array): Uint8Array => encodeTlv(1, base.map(([k, x]) => [k, k === t ? v : x]));
  const cases: { what: string; payload: Uint8Array }[] = [
    { what: 'reserved capability bits set: accepted, the bits ignored (reported as sent)', payload: withItem(0x11, new Uint8Array([0xff, 0xff, 0xff, 0xff])) },
    { what: 'firmware version that is not UTF-8', payload: withItem(0x10, new Uint8Array([0xc3, 0x28])) },
    { what: 'capabilities in 3 bytes (a fixed-width item must have exactly its width)', payload: withItem(0x11, new Uint8Array([0, 0, 0x0f])) },
    { what: 'speaker buffer in 4 bytes', payload: withItem(0x12, new Uint8Array([0, 0, 1, 0x90])) },
    { what: 'role in 2 bytes', payload: withItem(0x13, new Uint8Array([0, 0])) },
    { what: 'role 2', payload: withItem(0x13, new Uint8Array([2])) },
    { what: 'advertising key of 31 bytes', payload: withItem(0x14, advertisingKey().slice(1)) },
    { what: 'an unknown optional item 0x7f: ignored', payload: encodeTlv(1, [...base, [0x7f, new Uint8Array([1, 2, 3])]]) },
  ];
  return {
    description: 'Toy hello payloads (reconnect) and what the companion makes of them (PROTOCOL.md §7): fixed-width items must have exactly their width, text must be valid UTF-8, reserved capability bits are ignored, unknown optional items are skipped.',
    cases: cases.map((c) => {
      let decoded: unknown;
      const outcome = outcomeOf(() => {
        const h = decodeToyHello(c.payload, 'reconnect');
        decoded = { ...h, advertisingKey: hex(h.advertisingKey!) };
      });
      return { what: c.what, payload: hex(c.payload), outcome, ...(decoded ? { decoded } : {}) };
    }),
  };
}

export function buildHandshakeVectors(): unknown {
  const code = setupCode();
  const wrong = wrongSetupCode();
  const pairE: [string, string] = [LABELS.pairCompanionEphemeral, LABELS.pairToyEphemeral];
  const recE: [string, string] = [LABELS.reconnectCompanionEphemeral, LABELS.reconnectToyEphemeral];
  const pair = runHandshake('pair', code, pairE);
  const reconnect = runHandshake('reconnect', undefined, recE);

  // Message 1 made with a different setup code: the toy must fail it with DECRYPT_FAILED.
  const toy = toyStatic();
  const bad = new CompanionHandshake('pair', {
    companion: companionStatic(),
    toyPublicKey: toy.publicKey,
    hello: COMPANION_HELLO,
    setupCode: wrong,
    random: fixedRandom(labelBytes(LABELS.pairCompanionEphemeral)),
  });
  let error = 'none';
  try {
    toyReadMessage1('pair', bad.message1, { toy, setupCode: code });
  } catch (e) {
    error = isPlushlinkError(e) ? e.code : 'not a PlushlinkError';
  }
  if (error !== 'DECRYPT_FAILED') throw new Error(`wrong setup code gave ${error}`);

  // The reconnect message 1 read by the toy at other times: within one slot of the one it
  // announces it reads; two slots later the toy reads it with its own slot and it fails at `s`.
  const readAt = (toySlot: number): { toySlot: number; readSlot: number; outcome: string } => {
    const readSlot = reconnectReadSlot(reconnectSlot(), toySlot);
    let outcome = 'reconnect-m2';
    try {
      toyReadMessage1('reconnect', reconnect.message1, { toy, slot: readSlot });
    } catch (e) {
      outcome = isPlushlinkError(e) ? e.code : 'not a PlushlinkError';
    }
    return { toySlot, readSlot, outcome };
  };
  const slotWindow = [-2, -1, 0, 1, 2, 144].map((d) => readAt(reconnectSlot() + d));

  return {
    description:
      'plushlink handshakes (docs/PROTOCOL.md "Handshakes"): pairing Noise_IKpsk1_25519_ChaChaPoly_SHA512 and reconnect Noise_IK_25519_ChaChaPoly_SHA512 between fixed test keys with fixed ephemerals. Every secret is SHA-512(label)[0..32] of the label shown. Hex is lower case. "wire" is the control-characteristic message (kind byte + Noise message); fragments are the ATT values of a fresh connection (fragment counter 0).',
    version: VECTORS_VERSION,
    suite: '25519_ChaChaPoly_SHA512',
    toyStatic: keyPairJson(LABELS.toyStatic),
    companionStatic: keyPairJson(LABELS.companionStatic),
    pairing: handshakeJson('pair', pair, code, pairE),
    reconnect: handshakeJson('reconnect', reconnect, undefined, recE),
    wrongSetupCode: {
      description: 'Pairing message 1 from the same companion and ephemeral, but with another setup code. The toy (holding pairing.setupCodeSecret) fails to decrypt the payload: DECRYPT_FAILED, counted as a failed attempt, answered with an ERROR HANDSHAKE_FAILED carrying the backoff (first failure: 1 s).',
      setupCodeSecret: wrong.secret,
      psk: hex(setupCodePsk(wrong, toy.publicKey)),
      message1: hex(bad.message1),
      toyError: error,
      toyReply: hex(encodeWire({ kind: 'error', refusal: 'HANDSHAKE_FAILED', retryAfterSec: 1 })),
    },
    message1Lengths: message1LengthCases(),
    toyHelloDecoding: toyHelloDecodingCases(),
    reconnectSlotWindow: {
      description:
        'reconnect.message1 (bound to reconnect.slot) offered to the toy when its own clock is in another slot. The toy reads it with the announced slot when that is within one slot of its own, else with its own slot, with which it fails at s (DECRYPT_FAILED): the same refusal after the same work as a message 1 made for another toy. Answer: HANDSHAKE_FAILED, retry-after 0, disconnect.',
      announcedSlot: reconnectSlot(),
      cases: slotWindow,
      toyReply: hex(encodeWire({ kind: 'error', refusal: 'HANDSHAKE_FAILED', retryAfterSec: 0 })),
    },
  };
}

// ------------------------------------------------------------------------------------------------
// Setup codes

function luhnSteps(secret: string): { steps: { symbol: string; value: number; factor: number; product: number; addend: number }[]; sum: number; check: number } {
  const steps: { symbol: string; value: number; factor: number; product: number; addend: number }[] = [];
  let factor = 2;
  let sum = 0;
  for (let i = secret.length - 1; i >= 0; i--) {
    const value = CROCKFORD_ALPHABET.indexOf(secret[i]!);
    const product = factor * value;
    const addend = Math.floor(product / 32) + (product % 32);
    steps.unshift({ symbol: secret[i]!, value, factor, product, addend });
    sum += addend;
    factor = factor === 2 ? 1 : 2;
  }
  return { steps, sum, check: (32 - (sum % 32)) % 32 };
}

function setupCase(name: string, random: Uint8Array, withSteps: boolean): unknown {
  const toy = toyStatic();
  const code = generateSetupCode(fixedRandom(random));
  const check = setupCodeCheck(code.secret);
  const luhn = luhnSteps(code.secret);
  if (CROCKFORD_ALPHABET[luhn.check] !== check[0]) throw new Error('luhn steps disagree with the library');
  const shaInput = 'plushlink/1 setup-code check:' + code.secret;
  const qr = formatSetupQr(code, toy.publicKey);
  const qrBody = qr.slice(0, qr.length - 4);
  return {
    name,
    randomBytes: hex(random),
    secret: code.secret,
    secretBits: hex(random.slice(0, 14)) + ' (first 110 bits used)',
    luhnCheck: {
      value: luhn.check,
      symbol: check[0],
      sum: luhn.sum,
      ...(withSteps ? { steps: luhn.steps } : {}),
    },
    shaCheck: {
      input: shaInput,
      sha512FirstByte: sha512(utf8(shaInput))[0],
      value: sha512(utf8(shaInput))[0]! & 31,
      symbol: check[1],
    },
    humanForm: formatSetupCode(code),
    toyPublicKey: hex(toy.publicKey),
    toyPublicKeyBase32: base32Encode(toy.publicKey),
    qr: {
      payload: qr,
      length: qr.length,
      body: qrBody,
      sha512OfBody: hex(sha512(utf8(qrBody)).slice(0, 3)) + '…',
      check: qr.slice(-4),
    },
    psk: {
      ikmAscii: code.secret,
      salt: 'plushlink/1 setup-code psk',
      info: hex(toy.publicKey),
      length: 32,
      value: hex(setupCodePsk(code, toy.publicKey)),
    },
  };
}

/** The error code a parse throws, or 'ok'. */
function parseOutcome(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return isPlushlinkError(e) ? e.code : `not a PlushlinkError: ${(e as Error).message}`;
  }
}

function replaceAt(s: string, i: number, ch: string): string {
  return s.slice(0, i) + ch + s.slice(i + 1);
}

/** A symbol different from `ch` (next in the alphabet). */
function otherSymbol(ch: string): string {
  return CROCKFORD_ALPHABET[(CROCKFORD_ALPHABET.indexOf(ch) + 1) % 32]!;
}

export function buildSetupCodeVectors(): unknown {
  const toy = toyStatic();
  const code = setupCode();
  const human = formatSetupCode(code);
  const qr = formatSetupQr(code, toy.publicKey);
  const compact = human.replace(/-/g, '');
  const wrongCode = wrongSetupCode();

  // A QR whose key symbols carry non-zero padding bits but whose check is recomputed.
  const body = qr.slice(0, -4);
  const lastKey = body.length - 1;
  const paddedBody = replaceAt(body, lastKey, CROCKFORD_ALPHABET[CROCKFORD_ALPHABET.indexOf(body[lastKey]!) | 1]!);
  const paddedQr = paddedBody + base32Encode(sha512(utf8(paddedBody)).slice(0, 3)).slice(0, 4);
  // an adjacent transposition of two different symbols
  let swapAt = 0;
  while (compact[swapAt] === compact[swapAt + 1]) swapAt++;
  const swapped = compact.slice(0, swapAt) + compact[swapAt + 1] + compact[swapAt] + compact.slice(swapAt + 2);

  const invalid: { kind: 'human' | 'qr'; what: string; input: string; error: string }[] = [
    { kind: 'human', what: 'one secret symbol changed', input: replaceAt(human, 5, otherSymbol(human[5]!)), error: '' },
    { kind: 'human', what: 'adjacent symbols swapped', input: swapped, error: '' },
    { kind: 'human', what: 'first check symbol changed', input: replaceAt(human, human.length - 2, otherSymbol(human[human.length - 2]!)), error: '' },
    { kind: 'human', what: 'second check symbol changed', input: replaceAt(human, human.length - 1, otherSymbol(human[human.length - 1]!)), error: '' },
    { kind: 'human', what: 'one symbol missing', input: compact.slice(0, 23), error: '' },
    { kind: 'human', what: 'one symbol too many', input: compact + '0', error: '' },
    { kind: 'human', what: 'U is not in the alphabet', input: replaceAt(human, 0, 'U'), error: '' },
    { kind: 'human', what: 'punctuation other than - and space', input: human.replace(/-/g, '.'), error: '' },
    { kind: 'human', what: 'empty', input: '', error: '' },
    { kind: 'qr', what: 'not a plushlink QR', input: 'WIFI:S:home;T:WPA;P:123456;;', error: '' },
    { kind: 'qr', what: 'unknown version 2', input: 'PL2:' + qr.slice(4), error: '' },
    { kind: 'qr', what: 'version "01": the version is compared as text, only "1" is version 1', input: 'PL01:' + qr.slice(4), error: '' },
    { kind: 'qr', what: 'one symbol short', input: qr.slice(0, -1), error: '' },
    { kind: 'qr', what: 'check symbols wrong', input: qr.slice(0, -1) + otherSymbol(qr[qr.length - 1]!), error: '' },
    { kind: 'qr', what: 'secret symbol changed', input: replaceAt(qr, 6, otherSymbol(qr[6]!)), error: '' },
    { kind: 'qr', what: 'key symbol changed', input: replaceAt(qr, 40, otherSymbol(qr[40]!)), error: '' },
    { kind: 'qr', what: 'O is not accepted in a QR payload', input: replaceAt(qr, 4, 'O'), error: '' },
    { kind: 'qr', what: 'non-zero padding bits in the key (check recomputed)', input: paddedQr, error: '' },
  ];
  for (const c of invalid) {
    c.error = parseOutcome(() => (c.kind === 'human' ? parseSetupCode(c.input) : parseSetupQr(c.input)));
    if (c.error === 'ok') throw new Error(`invalid input accepted: ${c.what}`);
  }
  const accepted = [
    { what: 'canonical human form', input: human },
    { what: 'lower case', input: human.toLowerCase() },
    { what: 'no dashes', input: compact },
    { what: 'spaces instead of dashes', input: human.replace(/-/g, ' ') },
    { what: 'O and o read as 0', input: compact.replace('0', 'O').replace('0', 'o') },
    { what: 'I reads as 1, in lower case (the wrong code of handshakes.json)', input: formatSetupCode(wrongCode).toLowerCase().replace('1', 'I'), expect: wrongCode.secret },
    { what: 'l reads as 1, in lower case (the wrong code of handshakes.json)', input: formatSetupCode(wrongCode).toLowerCase().replace('1', 'l'), expect: wrongCode.secret },
    { what: 'QR payload in lower case with surrounding whitespace', input: `  ${qr.toLowerCase()}\n`, qr: true },
  ].map((a) => {
    const secret = a.qr ? parseSetupQr(a.input).code.secret : parseSetupCode(a.input).secret;
    if (secret !== (a.expect ?? code.secret)) throw new Error(`accepted form parsed differently: ${a.what}`);
    return { kind: a.qr ? 'qr' : 'human', what: a.what, input: a.input, secret };
  });

  return {
    description:
      'plushlink setup codes (docs/PROTOCOL.md "Setup codes and QR labels"): 14 random bytes → 22-symbol Crockford base32 secret (first 110 bits) → two check symbols (Luhn mod 32, SHA-512) → human form; QR payload pinning the toy key; Noise PSK; toy key fingerprint. toyStatic is the same key as in handshakes.json. Invalid inputs list the PlushlinkError code the parser throws.',
    version: VECTORS_VERSION,
    alphabet: CROCKFORD_ALPHABET,
    toyStatic: keyPairJson(LABELS.toyStatic),
    fingerprint: {
      input: 'ASCII "plushlink/1 toy key fingerprint:" || toy static public key',
      sha512FirstTenBytes: hex(sha512(concatBytes(utf8('plushlink/1 toy key fingerprint:'), toy.publicKey)).slice(0, 10)),
      value: toyKeyFingerprint(toy.publicKey),
    },
    codes: [
      setupCase('vector code (used by handshakes.json)', labelBytes(LABELS.setupCodeRandom, 14), true),
      setupCase('all zero bytes', new Uint8Array(14), false),
      setupCase('all 0xff bytes', new Uint8Array(14).fill(0xff), false),
      setupCase('wrong code of handshakes.json', labelBytes(LABELS.wrongSetupCodeRandom, 14), false),
    ],
    accepted,
    invalid,
  };
}

// ------------------------------------------------------------------------------------------------
// Records

/** A sender of `key` whose next record carries counter `c` (advanced through the public API). */
function senderAt(key: Uint8Array, c: number): RecordSender {
  const s = new RecordSender(key);
  while (s.epoch < Math.floor(c / EPOCH_SIZE)) s.rekey();
  if (c > s.counter) s.seal(new Uint8Array([0]), c - s.counter);
  if (s.counter !== c) throw new Error(`cannot reach counter ${c}`);
  return s;
}

function epochKey(key: Uint8Array, epoch: number): Uint8Array {
  let k = key;
  for (let i = 0; i < epoch; i++) k = nextEpochKey(k);
  return k;
}

function recordJson(key: Uint8Array, record: Uint8Array, plaintext: Uint8Array, extra: Record<string, unknown>): Record<string, unknown> {
  const counter = ((record[0]! << 24) >>> 0) + (record[1]! << 16) + (record[2]! << 8) + record[3]!;
  const epoch = Math.floor(counter / EPOCH_SIZE);
  return {
    ...extra,
    counter,
    epoch,
    epochKey: hex(epochKey(key, epoch)),
    nonce: hex(chachaNonce(counter)),
    ad: hex(record.subarray(0, 4)),
    plaintext: hex(plaintext),
    record: hex(record),
  };
}

/** Deterministic stand-ins for Opus frames (the record layer treats frames as opaque bytes). */
function frame(i: number, len: number): Uint8Array {
  return labelBytes(`plushlink vector opus frame ${i}`, 64).slice(0, len);
}

/**
 * An audio receive sequence (PROTOCOL.md §8.3, §9): a record that authenticates but whose payload
 * does not decode changes nothing — `last` stays, and the epoch key it opened with is not
 * committed, so a later record of the earlier epoch still opens.
 */
function audioReceiveSequence(key: Uint8Array): unknown {
  const good0 = senderAt(key, 0).seal(encodeAudioPayload([frame(40, 40)]), 1);
  const badPayload = new Uint8Array([0x03, 40, 40]); // 3 frames announced, no frame bytes
  const bad1 = senderAt(key, EPOCH_SIZE).seal(badPayload, 1);
  const good5 = senderAt(key, 5).seal(encodeAudioPayload([frame(41, 40), frame(42, 40)]), 2);
  const good1 = senderAt(key, EPOCH_SIZE + 1).seal(encodeAudioPayload([frame(43, 40)]), 1);
  const steps = [
    { record: good0, note: 'counter 0, one frame' },
    { record: bad1, note: 'counter 2^24 (epoch 1): authenticates, but the payload announces 3 frames and holds none: BAD_AUDIO, dropped; last stays 0, epoch 1 not committed' },
    { record: good5, note: 'counter 5 (epoch 0), two frames: opens (had epoch 1 been committed, epoch 0 keys would be gone)' },
    { record: good1, note: 'counter 2^24 + 1 (epoch 1): opens; now epoch 1 is committed' },
    { record: good5, note: 'counter 5 again: a replay' },
  ].map((s) => ({ record: hex(s.record), note: s.note, outcome: '', lastCounterAfter: 0 }));
  const rx = new RecordReceiver(key);
  for (const step of steps) {
    step.outcome = outcomeOf(() => rx.open(Buffer.from(step.record, 'hex'), (p) => decodeAudioPayload(p).length));
    step.lastCounterAfter = rx.lastCounter;
  }
  return { channel: 'audio', direction: 'companionToToy', key: hex(key), steps };
}

export function buildRecordVectors(): unknown {
  const pair = runHandshake('pair', setupCode(), [LABELS.pairCompanionEphemeral, LABELS.pairToyEphemeral]);
  const c2tControl = channelKey(pair.initiatorToResponder, 'control');
  const t2cControl = channelKey(pair.responderToInitiator, 'control');
  const c2tAudio = channelKey(pair.initiatorToResponder, 'audio');
  const t2cAudio = channelKey(pair.responderToInitiator, 'audio');

  // Companion → toy control records, one sender so the counters are those a real session uses.
  const controlMsgs: [number, ControlMessage][] = [
    [0, { type: 'get-info', id: 1 }],
    [1, { type: 'set-volume', id: 2, volume: 55 }],
    [2, { type: 'speaker-start', id: 3, firstFrame: 0 }],
    [7, { type: 'get-battery', id: 4 }],
    [EPOCH_SIZE - 1, { type: 'mic-start', id: 5 }],
    [EPOCH_SIZE, { type: 'mic-stop', id: 6 }],
    [EPOCH_SIZE + 1, { type: 'speaker-stop', id: 7 }],
    [3 * EPOCH_SIZE + 12345, { type: 'list-pairings', id: 8 }],
  ];
  const controlRecords = controlMsgs.map(([c, m]) => {
    const pt = encodeControl(m);
    const rec = senderAt(c2tControl, c).seal(pt);
    return recordJson(c2tControl, rec, pt, { direction: 'companionToToy', channel: 'control', message: m, wire: hex(encodeWire({ kind: 'record', record: rec })) });
  });

  // Toy → companion control: a result and a speaker status.
  const toySender = new RecordSender(t2cControl);
  const toyMsgs: ControlMessage[] = [
    { type: 'result', id: 1, status: 'OK', body: encodeToyInfo({ firmwareVersion: '1.0.0', model: 'plushlink reference toy', capabilities: 15, volume: 70 }) },
    { type: 'speaker-status', id: 0, state: 'playing', bufferedMs: 380, framesPlayed: 1234, underruns: 0, overruns: 1 },
  ];
  const toyControlRecords = toyMsgs.map((m) => {
    const pt = encodeControl(m);
    const rec = toySender.seal(pt);
    return recordJson(t2cControl, rec, pt, {
      direction: 'toyToCompanion',
      channel: 'control',
      message: m.type === 'result' ? { ...m, body: hex(m.body) } : m,
      wire: hex(encodeWire({ kind: 'record', record: rec })),
    });
  });

  // Audio. Speaker (companion → toy): 3 frames at 0, 2 frames at 3, then a 3-frame record that
  // would straddle the epoch boundary and therefore jumps to 2^24.
  const speakerBatches: { at: number; frames: Uint8Array[] }[] = [
    { at: 0, frames: [frame(0, 40), frame(1, 38), frame(2, 41)] },
    { at: 3, frames: [frame(3, 39), frame(4, 42)] },
    { at: EPOCH_SIZE - 2, frames: [frame(5, 40), frame(6, 40), frame(7, 37)] },
  ];
  const audioRecords = speakerBatches.map(({ at, frames }) => {
    const s = senderAt(c2tAudio, at);
    const pt = encodeAudioPayload(frames);
    const rec = s.seal(pt, frames.length);
    return recordJson(c2tAudio, rec, pt, {
      direction: 'companionToToy',
      channel: 'audio',
      characteristic: 'speaker',
      senderCounterBefore: at,
      frames: frames.map(hex),
      senderCounterAfter: s.counter,
    });
  });
  // Microphone (toy → companion): one frame at 0 (as at MTU 23), then 4 frames at 1.
  const mic = new RecordSender(t2cAudio);
  const micRecords = [[frame(10, 30)], [frame(11, 31), frame(12, 29), frame(13, 33), frame(14, 30)]].map((frames) => {
    const before = mic.counter;
    const pt = encodeAudioPayload(frames);
    const rec = mic.seal(pt, frames.length);
    return recordJson(t2cAudio, rec, pt, { direction: 'toyToCompanion', channel: 'audio', characteristic: 'microphone', senderCounterBefore: before, frames: frames.map(hex), senderCounterAfter: mic.counter });
  });

  // Audio record format 2 (PROTOCOL §9): frames of one size, no length table, written only to a
  // peer whose hello announced it (the audio formats items). Each record is shown with the
  // format-1 record of the same frames at the same counter, for the byte count.
  const f2Cases: { what: string; direction: 'companionToToy' | 'toyToCompanion'; at: number; frames: Uint8Array[] }[] = [
    { what: 'speaker: 5 frames of 40 bytes (16 kbps CBR, a recorded source at MTU 247)', direction: 'companionToToy', at: 0, frames: [0, 1, 2, 3, 4].map((i) => frame(20 + i, 40)) },
    { what: 'speaker: 3 frames of 40 bytes (a live source at the 60 ms budget)', direction: 'companionToToy', at: 5, frames: [5, 6, 7].map((i) => frame(20 + i, 40)) },
    { what: 'speaker: 2 frames of 64 bytes across the epoch boundary (jumps to 2^24)', direction: 'companionToToy', at: EPOCH_SIZE - 1, frames: [8, 9].map((i) => frame(20 + i, 64)) },
    { what: 'microphone: 4 frames of 40 bytes', direction: 'toyToCompanion', at: 0, frames: [10, 11, 12, 13].map((i) => frame(20 + i, 40)) },
    { what: 'frames of different sizes: format 1 even to a peer that reads format 2', direction: 'companionToToy', at: 8, frames: [frame(34, 40), frame(35, 39)] },
    { what: 'one frame: format 1 (both formats have the same size)', direction: 'companionToToy', at: 10, frames: [frame(36, 40)] },
  ];
  const f2Records = f2Cases.map(({ what, direction, at, frames }) => {
    const key = direction === 'companionToToy' ? c2tAudio : t2cAudio;
    const s = senderAt(key, at);
    const pt = encodeAudioPayload(frames, AUDIO_FORMATS_SUPPORTED);
    const rec = s.seal(pt, frames.length);
    const v1 = senderAt(key, at).seal(encodeAudioPayload(frames, AUDIO_FORMATS_V1), frames.length);
    return {
      what,
      ...recordJson(key, rec, pt, { direction, channel: 'audio', peerAudioFormats: AUDIO_FORMATS_SUPPORTED, senderCounterBefore: at, frames: frames.map(hex), senderCounterAfter: s.counter }),
      format: pt[0]! & 0x80 ? 2 : 1,
      format1Record: hex(v1),
      bytesSaved: v1.length - rec.length,
    };
  });
  const badPayloads: [string, Uint8Array][] = [
    ['0x80: format 2 with n = 0', new Uint8Array([0x80, 1, 2])],
    ['0xC1: n = 65', concatBytes(new Uint8Array([0xc1]), new Uint8Array(65))],
    ['0x82 and 3 bytes: 2 does not divide 3', new Uint8Array([0x82, 1, 2, 3])],
    ['0x83 and 2 bytes: frames of 0 bytes', new Uint8Array([0x83, 1, 2])],
    ['0x81 and 256 bytes: a frame over 255 bytes', concatBytes(new Uint8Array([0x81]), new Uint8Array(256))],
    ['0x41: n = 65 in format 1', concatBytes(new Uint8Array([0x41]), new Uint8Array(70))],
    ['0x00: n = 0', new Uint8Array([0x00, 5])],
    ['0xFF', new Uint8Array([0xff, 5])],
  ];
  const audioFormat2 = {
    helloItems: {
      bits: { format1: AUDIO_FORMATS_V1, format2: AUDIO_FORMATS_SUPPORTED & ~AUDIO_FORMATS_V1 },
      companionHello: { type: 0x02, value: hex(new Uint8Array([AUDIO_FORMATS_SUPPORTED])), example: { displayName: 'Mia\u2019s tablet', audioFormats: AUDIO_FORMATS_SUPPORTED }, payload: hex(encodeCompanionHello({ displayName: 'Mia\u2019s tablet', audioFormats: AUDIO_FORMATS_SUPPORTED })) },
      toyHelloItem: { type: 0x15, value: hex(new Uint8Array([AUDIO_FORMATS_SUPPORTED])) },
    },
    records: f2Records,
    invalidPayloads: badPayloads.map(([what, p]) => {
      let error = 'ok';
      try {
        decodeAudioPayload(p);
      } catch (e) {
        error = isPlushlinkError(e) ? e.code : 'not a PlushlinkError';
      }
      return { what, payload: hex(p), error };
    }),
  };

  // A receive sequence at the toy (control channel, companion → toy).
  const r = (i: number): string => controlRecords[i]!.record as string;
  const forged = (() => {
    const b = Buffer.from(r(7), 'hex');
    b[b.length - 1] = b[b.length - 1]! ^ 0x01;
    return b.toString('hex');
  })();
  const sequence: { record: string; note: string; outcome: string; lastCounterAfter: number }[] = [
    { record: r(0), note: 'first record, counter 0', outcome: '', lastCounterAfter: 0 },
    { record: r(1), note: 'counter 1', outcome: '', lastCounterAfter: 0 },
    { record: r(1), note: 'the same record again: replay, refused without decryption, nothing changes', outcome: '', lastCounterAfter: 0 },
    { record: r(3), note: 'counter 7: a gap (records 3..6 lost) is allowed', outcome: '', lastCounterAfter: 0 },
    { record: r(2), note: 'counter 2 arrives late: below the last accepted counter, refused as a replay', outcome: '', lastCounterAfter: 0 },
    { record: r(5), note: 'counter 2^24: first record of epoch 1 (key_1)', outcome: '', lastCounterAfter: 0 },
    { record: forged, note: 'last tag bit flipped: authentication failure, fatal (end the session)', outcome: '', lastCounterAfter: 0 },
  ];
  const rx = new RecordReceiver(c2tControl);
  for (const step of sequence) {
    try {
      rx.open(Buffer.from(step.record, 'hex'));
      step.outcome = 'accepted';
    } catch (e) {
      step.outcome = isPlushlinkError(e) ? e.code : 'not a PlushlinkError';
    }
    step.lastCounterAfter = rx.lastCounter;
  }

  // Fragmentation of records.
  const longResult: ControlMessage = {
    type: 'result',
    id: 9,
    status: 'OK',
    body: encodePairings([
      { keyId: '0123456789abcdef', role: 'owner', displayName: 'Mia\u2019s tablet', pairedAt: 1_700_000_000 },
      { keyId: 'fedcba9876543210', role: 'guest', displayName: 'Grandpa', pairedAt: 1_700_086_400 },
    ]),
  };
  const longSender = new RecordSender(t2cControl);
  const longRecord = longSender.seal(encodeControl(longResult));
  const longWire = encodeWire({ kind: 'record', record: longRecord });
  const speakerRecord = Buffer.from(audioRecords[0]!.record as string, 'hex');
  const wrap = new Fragmenter(1024);
  for (let i = 0; i < 62; i++) wrap.fragment(new Uint8Array([i]), 20);

  return {
    description:
      'plushlink record layer (docs/PROTOCOL.md "Records", "Audio records", "Fragmentation"): channel keys from the split keys of handshakes.json pairing, epoch keys, control and audio records at several counters including the epoch boundary 2^24, audio records in format 2 (equal-size frames, with the hello items that announce it) and malformed payloads, a receive sequence with replays and a forgery, and fragmentation at MTU 23 and 247. Audio frames are deterministic stand-in bytes, not real Opus.',
    version: VECTORS_VERSION,
    epochSize: EPOCH_SIZE,
    split: { initiatorToResponder: hex(pair.initiatorToResponder), responderToInitiator: hex(pair.responderToInitiator) },
    channelKeyDerivation: { salt: 'plushlink/1 channel', info: ['control', 'audio'], length: 32 },
    channelKeys: channelKeysJson(pair.initiatorToResponder, pair.responderToInitiator),
    epochKeys: {
      derivation: { salt: 'plushlink/1 rekey', info: '', length: 32 },
      companionToToyControl: [0, 1, 2, 3].map((e) => hex(epochKey(c2tControl, e))),
    },
    controlRecords: [...controlRecords, ...toyControlRecords],
    audioRecords: [...audioRecords, ...micRecords],
    audioFormat2,
    receiveSequence: { channel: 'control', direction: 'companionToToy', key: hex(c2tControl), steps: sequence },
    audioReceiveSequence: audioReceiveSequence(c2tAudio),
    fragmentation: [
      { what: 'toy → companion control wire message (result of list-pairings)', characteristic: 'control', message: hex(longWire), length: longWire.length, mtu: 23, firstCounter: 0, fragments: fragmentsOf(longWire, 23) },
      { what: 'the same at MTU 247 (fits one ATT value)', characteristic: 'control', message: hex(longWire), length: longWire.length, mtu: 247, firstCounter: 0, fragments: fragmentsOf(longWire, 247) },
      { what: 'speaker audio record (no kind byte on the speaker characteristic)', characteristic: 'speaker', message: hex(speakerRecord), length: speakerRecord.length, mtu: 23, firstCounter: 0, fragments: fragmentsOf(speakerRecord, 23) },
      { what: 'the same at MTU 247', characteristic: 'speaker', message: hex(speakerRecord), length: speakerRecord.length, mtu: 247, firstCounter: 0, fragments: fragmentsOf(speakerRecord, 247) },
      { what: 'counter wrap: the fragmenter already sent 62 values', characteristic: 'speaker', message: hex(speakerRecord), length: speakerRecord.length, mtu: 23, firstCounter: 62, fragments: fragmentsOf(speakerRecord, 23, wrap) },
    ],
  };
}

// ------------------------------------------------------------------------------------------------
// Advertising

export function buildAdvertisingVectors(): unknown {
  const key = advertisingKey();
  const times = [0, 599_999, 600_000, 1_700_000_000_000, 1_700_000_399_999, 1_700_000_400_000, 4_294_967_295_000];
  const label = utf8('plushlink/1 adv tag');
  const cases = times.map((nowMs) => {
    const slot = advertisingSlot(nowMs);
    const slotBytes = new Uint8Array([(slot >>> 24) & 0xff, (slot >>> 16) & 0xff, (slot >>> 8) & 0xff, slot & 0xff]);
    const input = concatBytes(label, slotBytes);
    return {
      nowMs,
      slot,
      slotBytes: hex(slotBytes),
      hmacInput: hex(input),
      hmac: hex(hmacSha512(key, input)),
      tag: hex(advertisingTag(key, slot)),
      serviceDataOwned: hex(buildAdvertisement({ nowMs, pairing: false, advertisingKey: key })),
      serviceDataOwnedPairing: hex(buildAdvertisement({ nowMs, pairing: true, advertisingKey: key })),
    };
  });
  // changes of the service data within one slot (cases[3]'s): the change counter n = 1..7 is one
  // more byte of the HMAC input; n = 0 is the slot's first advertisement, the input above
  const s3 = cases[3]!;
  const changes = Array.from({ length: ADV_MAX_CHANGE }, (_, i) => {
    const n = i + 1;
    const input = concatBytes(label, fromHex(s3.slotBytes), Uint8Array.of(n));
    return { change: n, hmacInput: hex(input), tag: hex(advertisingTag(key, s3.slot, n)), serviceDataOwned: hex(buildAdvertisement({ nowMs: s3.nowMs, pairing: false, advertisingKey: key, change: n })) };
  });
  const randomTag = labelBytes('plushlink vector unowned tag', 8);
  const unowned = buildAdvertisement({ nowMs: 1_700_000_000_000, pairing: true, random: fixedRandom(randomTag) });
  const pdu = buildAdvertisingPayload(Buffer.from(cases[3]!.serviceDataOwned, 'hex'));
  return {
    description:
      'plushlink advertising (docs/PROTOCOL.md "Advertising"): slot = floor(unix ms / 1000 / 600); tag = HMAC-SHA-512(advertisingKey, "plushlink/1 adv tag" || slot u32 BE [|| u8 n for the n-th change within the slot, 1..7])[0..8]; service data = flags || tag. advertisingKey is the one handshakes.json sends in the reconnect toy hello and in the ADVERTISING_KEY that confirms the pairing.',
    version: VECTORS_VERSION,
    slotSeconds: ADV_SLOT_SECONDS,
    advertisingKey: hex(key),
    cases,
    changesWithinSlot: {
      description: 'Every change of the service data within a slot moves the change counter n (0 at the slot\'s first advertisement, then 1..7): tag = HMAC-SHA-512(advertisingKey, "plushlink/1 adv tag" || slot u32 BE || u8 n)[0..8] for n ≥ 1, so an owned toy\'s tag changes with its flags and no two advertisements link (docs/PROTOCOL.md §12). Slot of cases[3]; a companion resolves n = 0..7 in the slot and one either side.',
      nowMs: s3.nowMs,
      slot: s3.slot,
      changes,
    },
    unownedPairing: {
      description: 'A toy without pairings in its pairing window: flags 0x01 and a fresh random tag each slot (here the 8 "random" bytes shown).',
      randomTag: hex(randomTag),
      serviceData: hex(unowned),
    },
    legacyAdvertisingPdu: {
      description: 'The full legacy advertising payload for cases[3].serviceDataOwned: Flags AD (LE General Discoverable, no BR/EDR) + 128-bit Service Data AD (0x21) under the service UUID; scan response: Complete List of 128-bit Service UUIDs (0x07). UUID bytes are little-endian.',
      serviceUuid: PLUSHLINK_SERVICE_UUID,
      serviceData: cases[3]!.serviceDataOwned,
      advertisingData: pdu.advertisement.toString('hex'),
      scanResponse: pdu.scanResponse.toString('hex'),
    },
    invalidServiceData: [
      { what: 'unknown flag bit 2', serviceData: '04' + cases[3]!.tag, error: 'BAD_FRAME' },
      { what: '8 bytes', serviceData: '02' + cases[3]!.tag.slice(0, 14), error: 'BAD_FRAME' },
      { what: '10 bytes', serviceData: '02' + cases[3]!.tag + '00', error: 'BAD_FRAME' },
    ],
  };
}

// ------------------------------------------------------------------------------------------------
// Control characteristic wire messages and control messages

/**
 * What a toy answers to control writes before a session (PROTOCOL.md §4, §11), run on the
 * reference ToyCore: the ATT values a central writes on a fresh connection at MTU 23, and the
 * control messages the toy sends back. One refused message, one answer.
 */
function refusalsBeforeSession(): unknown {
  const frag = (message: Uint8Array): Uint8Array[] => new Fragmenter(1024).fragment(message, 20);
  const record = encodeWire({ kind: 'record', record: labelBytes('plushlink vector forged record', 30) });
  const unknownLong = concatBytes(new Uint8Array([0x07]), labelBytes('plushlink vector unknown kind', 30));
  const cases: { what: string; values: Uint8Array[] }[] = [
    { what: 'a RECORD in 2 fragments: NOT_AUTHENTICATED at its first fragment, the second dropped without an answer', values: frag(record) },
    { what: 'an unknown kind 0x07 in one fragment: NOT_AUTHENTICATED (any kind but 0x01, 0x03, 0x05)', values: frag(new Uint8Array([0x07])) },
    { what: 'an unknown kind 0x07 in 2 fragments: one NOT_AUTHENTICATED', values: frag(unknownLong) },
    { what: 'PAIR_M2 (a toy-to-companion kind): NOT_AUTHENTICATED', values: frag(new Uint8Array([0x02, 1, 2, 3])) },
    { what: 'INFO_REQUEST with a body: a handshake kind that fails wire decoding, BAD_MESSAGE', values: frag(new Uint8Array([0x05, 0x00])) },
    { what: 'PAIR_M1 with no body: BAD_MESSAGE', values: frag(new Uint8Array([0x01])) },
    { what: 'a continuation fragment without a first fragment: BAD_MESSAGE', values: [new Uint8Array([0x05, 1, 2, 3])] },
    { what: 'INFO_REQUEST outside the pairing window: NOT_IN_PAIRING_MODE', values: frag(new Uint8Array([0x05])) },
  ];
  const toy = toyStatic();
  return cases.map(({ what, values }) => {
    const core = new ToyCore({ identity: toy, setupCode: setupCode(), now: RECONNECT_TIME_MS, random: (n) => new Uint8Array(n) });
    core.start(RECONNECT_TIME_MS);
    core.connect('c', 23, RECONNECT_TIME_MS);
    const reasm = new Reassembler(1024);
    const answers: string[] = [];
    for (const v of values) {
      for (const a of core.write('c', 'control', v, RECONNECT_TIME_MS) as ToyAction[]) {
        if (a.type !== 'send') continue;
        const r = reasm.push(a.value);
        if (r.kind === 'message') answers.push(hex(r.message));
      }
    }
    return { what, mtu: 23, values: values.map(hex), toySends: answers };
  });
}

export function buildControlVectors(): unknown {
  const toy = toyStatic();
  const wire: { what: string; message: unknown; bytes: string }[] = [];
  const w = (what: string, m: WireMessage): void => {
    const json = 'noise' in m ? { ...m, noise: hex(m.noise) } : 'record' in m ? { ...m, record: hex(m.record) } : 'toyPublicKey' in m ? { ...m, toyPublicKey: hex(m.toyPublicKey) } : m;
    wire.push({ what, message: json, bytes: hex(encodeWire(m)) });
  };
  w('info request (companion → toy, typed-code pairing)', { kind: 'info-request' });
  w('info response (toy → companion, only in the pairing window)', { kind: 'info-response', version: 1, toyPublicKey: toy.publicKey });
  for (const name of Object.keys(RefusalCode) as RefusalName[]) {
    const retry = name === 'RATE_LIMITED' ? 16 : name === 'HANDSHAKE_FAILED' ? 1 : 0;
    w(`refusal ${name}`, { kind: 'error', refusal: name, retryAfterSec: retry });
  }
  w('refusal RATE_LIMITED rounds retry-after up (2.2 s → 3)', { kind: 'error', refusal: 'RATE_LIMITED', retryAfterSec: 2.2 });

  const pairings: PairingEntry[] = [
    { keyId: '0123456789abcdef', role: 'owner', displayName: 'Mia\u2019s tablet', pairedAt: 1_700_000_000 },
    { keyId: 'fedcba9876543210', role: 'guest', displayName: 'Grandpa', pairedAt: 1_700_086_400 },
  ];
  const bodies = {
    battery: { value: { percent: 87, charging: false }, bytes: hex(encodeBattery({ percent: 87, charging: false })) },
    batteryCharging: { value: { percent: 100, charging: true }, bytes: hex(encodeBattery({ percent: 100, charging: true })) },
    info: {
      value: { firmwareVersion: '1.0.0', model: 'plushlink reference toy', capabilities: 15, volume: 70 },
      bytes: hex(encodeToyInfo({ firmwareVersion: '1.0.0', model: 'plushlink reference toy', capabilities: 15, volume: 70 })),
    },
    pairings: { value: pairings, bytes: hex(encodePairings(pairings)) },
    pairingsEmpty: { value: [], bytes: hex(encodePairings([])) },
    micStart: { value: { firstFrame: 16777216 }, bytes: '01000000' },
    setVolume: { value: { volume: 55 }, bytes: '37' },
  };
  const msgs: ControlMessage[] = [
    { type: 'speaker-start', id: 1, firstFrame: 0 },
    { type: 'speaker-end', id: 2, lastFrame: 149 },
    { type: 'speaker-stop', id: 3 },
    { type: 'mic-start', id: 4 },
    { type: 'mic-stop', id: 5 },
    { type: 'set-volume', id: 6, volume: 55 },
    { type: 'get-battery', id: 7 },
    { type: 'get-info', id: 8 },
    { type: 'list-pairings', id: 9 },
    { type: 'remove-pairing', id: 10, keyId: 'fedcba9876543210' },
    { type: 'allow-guest-pairing', id: 255 },
    { type: 'confirm', id: 1 },
    { type: 'result', id: 7, status: 'OK', body: encodeBattery({ percent: 87, charging: false }) },
    { type: 'result', id: 4, status: 'OK', body: new Uint8Array([1, 0, 0, 0]) },
    { type: 'result', id: 1, status: 'BAD_REQUEST', body: new Uint8Array(0) },
    { type: 'result', id: 9, status: 'NOT_OWNER', body: new Uint8Array(0) },
    { type: 'result', id: 10, status: 'NOT_FOUND', body: new Uint8Array(0) },
    { type: 'result', id: 1, status: 'UNSUPPORTED', body: new Uint8Array(0) },
    { type: 'result', id: 4, status: 'BUSY', body: new Uint8Array(0) },
    { type: 'speaker-status', id: 0, state: 'idle', bufferedMs: 0, framesPlayed: 0, underruns: 0, overruns: 0 },
    { type: 'speaker-status', id: 0, state: 'playing', bufferedMs: 380, framesPlayed: 1234, underruns: 2, overruns: 1 },
    { type: 'speaker-status', id: 0, state: 'draining', bufferedMs: 60, framesPlayed: 147, underruns: 0, overruns: 0 },
    { type: 'speaker-status', id: 0, state: 'done', bufferedMs: 0, framesPlayed: 150, underruns: 0, overruns: 0 },
    { type: 'speaker-status', id: 0, state: 'stopped', bufferedMs: 0, framesPlayed: 20, underruns: 0, overruns: 0 },
    { type: 'mic-status', id: 0, active: false, nextFrame: 250 },
    { type: 'goodbye', id: 0, reason: 1 },
    { type: 'advertising-key', id: 0, advertisingKey: labelBytes(LABELS.rotatedAdvertisingKey) },
  ];
  const control = msgs.map((m) =>
    m.type === 'result'
      ? { message: { ...m, body: hex(m.body) }, bytes: hex(encodeControl(m)) }
      : m.type === 'advertising-key'
        ? { message: { ...m, advertisingKey: hex(m.advertisingKey) }, bytes: hex(encodeControl(m)), advertisingKeyLabel: LABELS.rotatedAdvertisingKey }
        : { message: m, bytes: hex(encodeControl(m)) },
  );
  const invalidControl = [
    { what: 'empty', bytes: '', error: 'BAD_CONTROL_MESSAGE' },
    { what: 'request with id 0', bytes: '0800', error: 'BAD_CONTROL_MESSAGE' },
    { what: 'event with id 1', bytes: '810100000000000000000000000000', error: 'BAD_CONTROL_MESSAGE' },
    { what: 'result with id 0', bytes: '800000', error: 'BAD_CONTROL_MESSAGE' },
    { what: 'unknown type 0x0d', bytes: '0d01', error: 'BAD_CONTROL_MESSAGE' },
    { what: 'volume 101', bytes: '060165', error: 'BAD_CONTROL_MESSAGE' },
    { what: 'trailing byte', bytes: '080100', error: 'BAD_CONTROL_MESSAGE' },
    { what: 'truncated speaker-start', bytes: '0101000000', error: 'BAD_CONTROL_MESSAGE' },
    { what: 'unknown result status 6', bytes: '800106', error: 'BAD_CONTROL_MESSAGE' },
    // SPEAKER_STATUS: type, id 0, then an 11-byte body (state 1, buffered 2, played 4, underruns 2, overruns 2)
    { what: 'unknown speaker state 5 (body of the right size, 11 bytes)', bytes: '810005' + '00'.repeat(10), error: 'BAD_CONTROL_MESSAGE' },
    { what: 'speaker status with a 12-byte body (one byte too many)', bytes: '810001' + '00'.repeat(11), error: 'BAD_CONTROL_MESSAGE' },
    { what: 'speaker status with a 10-byte body', bytes: '810001' + '00'.repeat(9), error: 'BAD_CONTROL_MESSAGE' },
    { what: 'CONFIRM with id 2 (CONFIRM always carries id 1)', bytes: '0c02', error: 'BAD_CONTROL_MESSAGE' },
    { what: 'a NOT_OWNER result with a body (only OK carries one)', bytes: '80090200', error: 'BAD_CONTROL_MESSAGE' },
    { what: 'advertising-key of 31 bytes', bytes: '8400' + hex(labelBytes(LABELS.rotatedAdvertisingKey)).slice(2), error: 'BAD_CONTROL_MESSAGE' },
    { what: 'advertising-key of 33 bytes', bytes: '8400' + hex(labelBytes(LABELS.rotatedAdvertisingKey)) + '00', error: 'BAD_CONTROL_MESSAGE' },
    { what: 'advertising-key with id 1', bytes: '8401' + hex(labelBytes(LABELS.rotatedAdvertisingKey)), error: 'BAD_CONTROL_MESSAGE' },
  ];
  const invalidWire = [
    { what: 'empty', bytes: '', error: 'BAD_FRAME' },
    { what: 'unknown kind 0x07', bytes: '07', error: 'BAD_FRAME' },
    { what: 'pair-m1 without body', bytes: '01', error: 'BAD_FRAME' },
    { what: 'info request with a body', bytes: '0500', error: 'BAD_FRAME' },
    { what: 'info response of 32 bytes', bytes: '0601' + hex(toy.publicKey).slice(2), error: 'BAD_FRAME' },
    { what: 'error of 2 bytes', bytes: '0f0100', error: 'BAD_FRAME' },
    { what: 'unknown refusal code 10', bytes: '0f0a0000', error: 'BAD_FRAME' },
    { what: 'empty record', bytes: '10', error: 'BAD_FRAME' },
  ];
  for (const c of invalidControl) {
    const got = outcomeOf(() => decodeControl(Buffer.from(c.bytes, 'hex')));
    if (got !== c.error) throw new Error(`invalid control "${c.what}" gives ${got}`);
  }
  return {
    description:
      'plushlink control characteristic (docs/PROTOCOL.md "Control characteristic messages", "Control messages"): wire messages (kind byte + body) and every control message type (the plaintext of control records), result bodies, malformed inputs with their error codes, and what a toy answers before a session (refusalsBeforeSession). Integers are big-endian.',
    speakerStatusBodyLength: encodeControl({ type: 'speaker-status', id: 0, state: 'idle', bufferedMs: 0, framesPlayed: 0, underruns: 0, overruns: 0 }).length - 2,
    refusalsBeforeSession: refusalsBeforeSession(),
    version: VECTORS_VERSION,
    wire,
    invalidWire,
    control,
    resultBodies: bodies,
    invalidControl,
  };
}

/** Every file this script writes, by name. */
export function buildAllVectors(): Record<string, unknown> {
  return {
    'handshakes.json': buildHandshakeVectors(),
    'setup-codes.json': buildSetupCodeVectors(),
    'records.json': buildRecordVectors(),
    'advertising.json': buildAdvertisingVectors(),
    'control.json': buildControlVectors(),
  };
}

/** The exact file text of a vector object. */
export function serializeVectors(v: unknown): string {
  return JSON.stringify(v, null, 2) + '\n';
}

/** Writes every vector file into `dir`; returns the paths written. */
export function writeVectors(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const out: string[] = [];
  for (const [name, v] of Object.entries(buildAllVectors())) {
    const p = join(dir, name);
    writeFileSync(p, serializeVectors(v));
    out.push(p);
  }
  return out;
}

const self = fileURLToPath(import.meta.url);
if (process.argv[1] && resolve(process.argv[1]) === self) {
  const dir = process.argv[2] ? resolve(process.argv[2]) : join(dirname(self), '..', 'fixtures', 'vectors');
  for (const p of writeVectors(dir)) console.log(`wrote ${p}`);
}
