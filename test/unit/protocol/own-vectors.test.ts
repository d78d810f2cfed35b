/**
 * plushlink's own test vectors (fixtures/vectors/*.json except messages.json, which has its own
 * test). Every value is re-derived from the library, starting from the inputs written in the
 * files, and compared byte for byte, so a change of the wire format shows up as a failing test
 * and a vector diff; every block runs once per crypto back end (pure JS and node:crypto,
 * docs/PROTOCOL.md §18). The last block runs scripts/gen-vectors.ts into a temporary folder and
 * checks that it reproduces the committed files exactly.
 */
import { ToyCore } from '../../../src/toy/toy-core.js';
import { SecureChannel } from '../../../src/protocol/channel.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ADV_SLOT_SECONDS,
  CROCKFORD_ALPHABET,
  CompanionHandshake,
  EPOCH_SIZE,
  Fragmenter,
  HandshakeState,
  PAIRING_PROTOCOL,
  RECONNECT_PROTOCOL,
  Reassembler,
  RecordReceiver,
  RecordSender,
  advertisingSlot,
  advertisingTag,
  aeadOpen,
  aeadSeal,
  buildAdvertisement,
  chachaNonce,
  channelKey,
  concatBytes,
  decodeAudioPayload,
  decodeBattery,
  decodeCompanionHello,
  decodeControl,
  decodePairings,
  decodeToyHello,
  decodeToyInfo,
  decodeWire,
  encodeAudioPayload,
  encodeBattery,
  encodeCompanionHello,
  encodeControl,
  encodePairings,
  encodeToyHello,
  encodeToyInfo,
  encodeWire,
  formatSetupCode,
  formatSetupQr,
  fromHex,
  generateSetupCode,
  handshakePrologue,
  reconnectReadSlot,
  hkdfSha512,
  hmacSha512,
  isPlushlinkError,
  nextEpochKey,
  parseAdvertisement,
  parseSetupCode,
  parseSetupQr,
  resolveAdvertisingTag,
  setupCodeCheck,
  setupCodePsk,
  sha512,
  toHex,
  toyKeyFingerprint,
  toyReadMessage1,
  utf8,
  x25519,
  x25519KeyPairFromSecret,
  x25519PublicKey,
  type ControlMessage,
  type HandshakeMode,
  type RandomSource,
  type ToyHello,
  type WireMessage,
} from '../../../src/protocol/index.js';
import { AudioFormats, usesEqualFrames } from '../../../src/protocol/audio-record.js';
import { buildAdvertisingPayload } from '../../../src/transport/bleno/advertising.js';
import { PLUSHLINK_SERVICE_UUID } from '../../../src/transport/gatt-layout.js';
import { CRYPTO_BACKENDS, useCryptoBackendInSuite } from '../../helpers/backends.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const vectorDir = join(root, 'fixtures', 'vectors');
/** The files scripts/gen-vectors.ts owns. */
const OWN_FILES = ['advertising.json', 'control.json', 'handshakes.json', 'records.json', 'setup-codes.json'];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;
const load = (name: string): J => JSON.parse(readFileSync(join(vectorDir, name), 'utf8'));
const hx = toHex;
const b = (h: string): Uint8Array => fromHex(h);

function fixedRandom(...chunks: Uint8Array[]): RandomSource {
  const q = [...chunks];
  return (n) => {
    const c = q.shift();
    if (!c || c.length !== n) throw new Error(`test randomness exhausted or wrong size (${n})`);
    return Uint8Array.from(c);
  };
}

function errorCode(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return isPlushlinkError(e) ? e.code : `not a PlushlinkError: ${String(e)}`;
  }
}

function fragmentsOf(message: Uint8Array, mtu: number, alreadySent = 0): string[] {
  const f = new Fragmenter(1024);
  for (let i = 0; i < alreadySent; i++) f.fragment(new Uint8Array([i]), 20);
  return f.fragment(message, mtu - 3).map(hx);
}

function reassemble(fragments: string[]): Uint8Array {
  const r = new Reassembler(1024);
  for (let i = 0; i < fragments.length; i++) {
    const res = r.push(b(fragments[i]!));
    if (i < fragments.length - 1) expect(res.kind).toBe('partial');
    else {
      if (res.kind !== 'message') throw new Error(`reassembly ended with ${res.kind}`);
      return res.message;
    }
  }
  throw new Error('no fragments');
}

/** A control message from its JSON form (result bodies are hex). */
function controlFromJson(m: J): ControlMessage {
  if (m.type === 'advertising-key') return { ...m, advertisingKey: b(m.advertisingKey) };
  return m.type === 'result' ? { ...m, body: b(m.body) } : m;
}

function checkKeyPair(kp: J): void {
  expect(hx(sha512(utf8(kp.label)).slice(0, 32))).toBe(kp.secretKey);
  expect(hx(x25519PublicKey(b(kp.secretKey)))).toBe(kp.publicKey);
}

describe.each(CRYPTO_BACKENDS)('own vectors: handshakes.json [$name back end]', (backend) => {
  useCryptoBackendInSuite(backend);
  const v = load('handshakes.json');
  const toy = x25519KeyPairFromSecret(b(v.toyStatic.secretKey));
  const companion = x25519KeyPairFromSecret(b(v.companionStatic.secretKey));

  it('carries a description, a version and the suite', () => {
    expect(typeof v.description).toBe('string');
    expect(v.version).toBe(1);
    expect(v.suite).toBe('25519_ChaChaPoly_SHA512');
    checkKeyPair(v.toyStatic);
    checkKeyPair(v.companionStatic);
  });

  for (const mode of ['pair', 'reconnect'] as HandshakeMode[]) {
    const h = mode === 'pair' ? v.pairing : v.reconnect;
    describe(mode, () => {
      const code = mode === 'pair' ? parseSetupCode(h.setupCodeSecret + setupCodeCheck(h.setupCodeSecret)) : undefined;
      const toyHello: ToyHello = {
        firmwareVersion: h.toyHello.firmwareVersion,
        capabilities: h.toyHello.capabilities,
        speakerBufferMs: h.toyHello.speakerBufferMs,
        role: h.toyHello.role,
        // only the reconnect hello carries the advertising key (PROTOCOL.md §7)
        ...(mode === 'reconnect' ? { advertisingKey: b(h.toyHello.advertisingKey) } : {}),
      };

      it('protocol name, prologue, PSK and payload encodings', () => {
        expect(h.protocolName).toBe(mode === 'pair' ? PAIRING_PROTOCOL : RECONNECT_PROTOCOL);
        expect(hx(handshakePrologue(mode, h.slot?.value))).toBe(h.prologue);
        // pairing: the ASCII text; reconnect: the text and the slot message 1 is bound to (u32 BE)
        const slotBytes = mode === 'reconnect' ? new Uint8Array([(h.slot.value >>> 24) & 0xff, (h.slot.value >>> 16) & 0xff, (h.slot.value >>> 8) & 0xff, h.slot.value & 0xff]) : new Uint8Array(0);
        expect(hx(concatBytes(utf8(h.prologueAscii), slotBytes))).toBe(h.prologue);
        if (mode === 'reconnect') {
          expect(h.slot.value).toBe(advertisingSlot(h.slot.timeMs));
          expect(h.slot.bytes).toBe(hx(slotBytes));
        }
        if (code) {
          expect(hx(setupCodePsk(code, toy.publicKey))).toBe(h.psk);
          expect(hx(hkdfSha512(utf8(code.secret), utf8('plushlink/1 setup-code psk'), toy.publicKey, 32))).toBe(h.psk);
        }
        checkKeyPair(h.companionEphemeral);
        checkKeyPair(h.toyEphemeral);
        expect(hx(encodeCompanionHello({ displayName: h.companionHello.displayName }))).toBe(h.companionHello.payload);
        expect(hx(encodeToyHello(toyHello, mode))).toBe(h.toyHello.payload);
        expect(decodeToyHello(b(h.toyHello.payload), mode)).toEqual(toyHello);
        if (mode === 'pair') {
          expect(h.toyHello.advertisingKey).toBeNull();
          expect(h.toyHello.items.map((i: J) => i.type)).not.toContain('0x14');
          // a pairing hello with the key is refused, a reconnect hello without it too
          const withKey = { ...toyHello, advertisingKey: b(v.reconnect.toyHello.advertisingKey) };
          expect(errorCode(() => encodeToyHello(withKey, 'pair'))).toBe('BAD_PAYLOAD');
          expect(errorCode(() => decodeToyHello(b(v.reconnect.toyHello.payload), 'pair'))).toBe('BAD_PAYLOAD');
          expect(errorCode(() => decodeToyHello(b(h.toyHello.payload), 'reconnect'))).toBe('BAD_PAYLOAD');
        }
        // the TLV item listing matches the payload
        const items = h.toyHello.items as { type: string; length: number; value: string }[];
        const rebuilt = concatBytes(new Uint8Array([1]), ...items.map((i) => concatBytes(new Uint8Array([parseInt(i.type, 16), i.length]), b(i.value))));
        expect(hx(rebuilt)).toBe(h.toyHello.payload);
      });

      it('both parties reproduce both messages, the hashes and the keys', () => {
        const ci = new CompanionHandshake(mode, {
          companion,
          toyPublicKey: toy.publicKey,
          hello: { displayName: h.companionHello.displayName },
          setupCode: code,
          slot: h.slot?.value,
          random: fixedRandom(b(h.companionEphemeral.secretKey)),
        });
        expect(hx(ci.message1)).toBe(h.message1.noise);
        expect(hx(ci.wireMessage1())).toBe(h.message1.wire);
        const read = toyReadMessage1(mode, b(h.message1.noise), { toy, setupCode: code, slot: h.slot?.value, random: fixedRandom(b(h.toyEphemeral.secretKey)) });
        expect(hx(read.companionPublicKey)).toBe(v.companionStatic.publicKey);
        expect(read.companion.displayName).toBe(h.companionHello.displayName);
        const { message2, keys: toyKeys } = read.respond(toyHello);
        if (mode === 'pair') {
          // the toy's side refuses to put the advertising key into a pairing hello
          const again = toyReadMessage1(mode, b(h.message1.noise), { toy, setupCode: code, slot: h.slot?.value, random: fixedRandom(b(h.toyEphemeral.secretKey)) });
          expect(errorCode(() => again.respond({ ...toyHello, advertisingKey: b(v.reconnect.toyHello.advertisingKey) }))).toBe('BAD_PAYLOAD');
        }
        expect(hx(message2)).toBe(h.message2.noise);
        const { toy: gotHello, keys } = ci.readMessage2(b(h.message2.noise));
        expect(gotHello).toEqual(toyHello);
        expect(hx(keys.handshakeHash)).toBe(h.handshakeHash);
        expect(hx(toyKeys.handshakeHash)).toBe(h.handshakeHash);
        expect(hx(keys.sendKey)).toBe(h.split.initiatorToResponder);
        expect(hx(keys.receiveKey)).toBe(h.split.responderToInitiator);
        expect(hx(toyKeys.receiveKey)).toBe(h.split.initiatorToResponder);
        expect(hx(toyKeys.sendKey)).toBe(h.split.responderToInitiator);
        expect(hx(channelKey(keys.sendKey, 'control'))).toBe(h.channelKeys.companionToToy.control);
        expect(hx(channelKey(keys.sendKey, 'audio'))).toBe(h.channelKeys.companionToToy.audio);
        expect(hx(channelKey(keys.receiveKey, 'control'))).toBe(h.channelKeys.toyToCompanion.control);
        expect(hx(channelKey(keys.receiveKey, 'audio'))).toBe(h.channelKeys.toyToCompanion.audio);
      });

      it('the raw Noise responder agrees, including the hash after message 1', () => {
        const hs = new HandshakeState({
          protocolName: h.protocolName,
          initiator: false,
          prologue: b(h.prologue),
          s: toy,
          psks: h.psk ? [b(h.psk)] : [],
          e: x25519KeyPairFromSecret(b(h.toyEphemeral.secretKey)),
        });
        expect(hx(hs.readMessage(b(h.message1.noise)))).toBe(h.companionHello.payload);
        expect(hx(hs.handshakeHash)).toBe(h.message1.handshakeHashAfter);
        expect(hx(hs.writeMessage(b(h.toyHello.payload)))).toBe(h.message2.noise);
        const split = hs.split();
        expect(hx(split.handshakeHash)).toBe(h.handshakeHash);
        expect(hx(split.receive.key!)).toBe(h.split.initiatorToResponder);
      });

      it('message field layout', () => {
        for (const m of [h.message1, h.message2]) {
          let off = 0;
          for (const f of m.fields) {
            expect(f.offset).toBe(off);
            expect(f.value.length / 2).toBe(f.length);
            off += f.length;
          }
          expect(off).toBe(m.length);
          expect(m.fields.map((f: J) => f.value).join('')).toBe(m.noise);
        }
        expect(h.message1.fields[0].value).toBe(h.companionEphemeral.publicKey);
        expect(h.message2.fields[0].value).toBe(h.toyEphemeral.publicKey);
        expect(h.message1.length).toBe(32 + 48 + h.companionHello.payload.length / 2 + 16);
        expect(h.message2.length).toBe(32 + h.toyHello.payload.length / 2 + 16);
      });

      it('key confirmation: the CONFIRM record, and for pairing the toy\'s ADVERTISING_KEY once the pairing took effect', () => {
        const c = h.confirmation;
        const companionSide = new SecureChannel({ sendKey: b(h.split.initiatorToResponder), receiveKey: b(h.split.responderToInitiator), handshakeHash: b(h.handshakeHash) });
        const toySide = new SecureChannel({ sendKey: b(h.split.responderToInitiator), receiveKey: b(h.split.initiatorToResponder), handshakeHash: b(h.handshakeHash) });
        expect(hx(companionSide.sealControl({ type: 'confirm', id: 1 }))).toBe(c.companionConfirm.wire);
        expect(c.companionConfirm.plaintext).toBe('0c01');
        expect(c.companionConfirm.wire).toBe('10' + c.companionConfirm.record);
        expect(toySide.openControl(b(c.companionConfirm.record))).toEqual({ type: 'confirm', id: 1 });
        expect(c.companionConfirm.fragmentsMtu23.firstCounter).toBe(h.message1.fragmentsMtu23.length % 64);
        expect(fragmentsOf(b(c.companionConfirm.wire), 23, c.companionConfirm.fragmentsMtu23.firstCounter)).toEqual(c.companionConfirm.fragmentsMtu23.fragments);
        if (mode === 'pair') {
          const k = c.toyAdvertisingKey;
          expect(k.advertisingKey).toBe(v.reconnect.toyHello.advertisingKey);
          expect(hx(toySide.sealControl({ type: 'advertising-key', id: 0, advertisingKey: b(k.advertisingKey) }))).toBe(k.wire);
          expect(companionSide.openControl(b(k.record))).toEqual({ type: 'advertising-key', id: 0, advertisingKey: b(k.advertisingKey) });
        } else expect(c.toyAdvertisingKey).toBeUndefined();
      });

      it('wire framing and fragments at MTU 23 and 247', () => {
        const k1 = (mode === 'pair' ? 'pair-m1' : 'reconnect-m1') as 'pair-m1';
        const k2 = (mode === 'pair' ? 'pair-m2' : 'reconnect-m2') as 'pair-m2';
        expect(hx(encodeWire(mode === 'pair' ? { kind: 'pair-m1', noise: b(h.message1.noise) } : { kind: 'reconnect-m1', slot: h.slot.value, noise: b(h.message1.noise) }))).toBe(h.message1.wire);
        // reconnect: kind, then the slot in clear, then the Noise message
        if (mode === 'reconnect') expect(h.message1.wire).toBe('03' + h.slot.bytes + h.message1.noise);
        else expect(h.message1.wire).toBe('01' + h.message1.noise);
        expect(hx(encodeWire({ kind: k2, noise: b(h.message2.noise) }))).toBe(h.message2.wire);
        expect(h.message1.wire.slice(0, 2)).toBe(mode === 'pair' ? '01' : '03');
        expect(h.message2.wire.slice(0, 2)).toBe(mode === 'pair' ? '02' : '04');
        for (const m of [h.message1, h.message2]) {
          expect(fragmentsOf(b(m.wire), 23)).toEqual(m.fragmentsMtu23);
          expect(fragmentsOf(b(m.wire), 247)).toEqual(m.fragmentsMtu247);
          for (const f of m.fragmentsMtu23) expect(f.length / 2).toBeLessThanOrEqual(20);
          expect(hx(reassemble(m.fragmentsMtu23))).toBe(m.wire);
          expect(hx(reassemble(m.fragmentsMtu247))).toBe(m.wire);
        }
        expect(h.message1.fragmentsMtu23.length).toBeGreaterThan(1);
        expect(h.message1.fragmentsMtu247.length).toBe(1);
        const w = decodeWire(b(h.message1.wire));
        expect(w.kind).toBe(k1);
      });
    });
  }

  it('a message 1 made with the wrong setup code fails at the toy with DECRYPT_FAILED', () => {
    const w = v.wrongSetupCode;
    const good = parseSetupCode(formatSetupCode({ secret: v.pairing.setupCodeSecret }));
    const wrong = { secret: w.setupCodeSecret };
    expect(w.setupCodeSecret).not.toBe(v.pairing.setupCodeSecret);
    expect(hx(setupCodePsk(wrong, toy.publicKey))).toBe(w.psk);
    const ci = new CompanionHandshake('pair', {
      companion,
      toyPublicKey: toy.publicKey,
      hello: { displayName: v.pairing.companionHello.displayName },
      setupCode: wrong,
      random: fixedRandom(b(v.pairing.companionEphemeral.secretKey)),
    });
    expect(hx(ci.message1)).toBe(w.message1);
    // same ephemeral and encrypted static as the good message: only the payload differs
    expect(w.message1.slice(0, 80 * 2)).toBe(v.pairing.message1.noise.slice(0, 80 * 2));
    expect(w.message1).not.toBe(v.pairing.message1.noise);
    expect(errorCode(() => toyReadMessage1('pair', b(w.message1), { toy, setupCode: good }))).toBe(w.toyError);
    expect(w.toyError).toBe('DECRYPT_FAILED');
    expect(hx(encodeWire({ kind: 'error', refusal: 'HANDSHAKE_FAILED', retryAfterSec: 1 }))).toBe(w.toyReply);
    // the reconnect message 1 is not accepted as a pairing message 1, nor the reverse
    expect(errorCode(() => toyReadMessage1('pair', b(v.reconnect.message1.noise), { toy, setupCode: good }))).toBe('DECRYPT_FAILED');
    expect(errorCode(() => toyReadMessage1('reconnect', b(v.pairing.message1.noise), { toy, slot: v.reconnect.slot.value }))).toBe('DECRYPT_FAILED');
  });

  it('message 1 length rule: below its fields MESSAGE_TOO_SHORT, a payload that is no hello BAD_PAYLOAD, unknown optional items read past', () => {
    const cases = v.message1Lengths.cases as J[];
    for (const c of cases) {
      expect(c.message1.length / 2, c.what).toBe(c.length);
      expect(errorCode(() => toyReadMessage1('reconnect', b(c.message1), { toy, slot: v.reconnect.slot.value })), c.what).toBe(c.toyOutcome);
    }
    expect(cases.map((c) => [c.length, c.toyOutcome])).toEqual([
      [95, 'MESSAGE_TOO_SHORT'],
      [96, 'BAD_PAYLOAD'],
      [97, 'BAD_PAYLOAD'],
      [99, 'BAD_PAYLOAD'],
      [113, 'ok'],
      [155, 'ok'],
      [103, 'BAD_PAYLOAD'],
    ]);
  });

  it('toy hello decoding: exact widths, UTF-8 text, reserved capability bits ignored, unknown optional items skipped', () => {
    for (const c of v.toyHelloDecoding.cases as J[]) {
      let decoded: J | undefined;
      expect(
        errorCode(() => {
          const h = decodeToyHello(b(c.payload), 'reconnect');
          decoded = { ...h, advertisingKey: hx(h.advertisingKey!) };
        }),
        c.what,
      ).toBe(c.outcome);
      if (c.decoded) expect(decoded).toEqual(c.decoded);
    }
    const reserved = (v.toyHelloDecoding.cases as J[])[0]!;
    expect(reserved.decoded.capabilities).toBe(0xffffffff);
  });

  it('a reconnect message 1 reads only within one slot of the toy\'s clock; later it fails like a message for another toy', () => {
    const w = v.reconnectSlotWindow;
    expect(w.announcedSlot).toBe(v.reconnect.slot.value);
    const outcomes = (w.cases as J[]).map((c) => {
      expect(reconnectReadSlot(w.announcedSlot, c.toySlot)).toBe(c.readSlot);
      expect(errorCode(() => toyReadMessage1('reconnect', b(v.reconnect.message1.noise), { toy, slot: c.readSlot }))).toBe(c.outcome === 'reconnect-m2' ? 'ok' : c.outcome);
      return [c.toySlot - w.announcedSlot, c.outcome];
    });
    expect(outcomes).toEqual([
      [-2, 'DECRYPT_FAILED'],
      [-1, 'reconnect-m2'],
      [0, 'reconnect-m2'],
      [1, 'reconnect-m2'],
      [2, 'DECRYPT_FAILED'],
      [144, 'DECRYPT_FAILED'],
    ]);
    expect(w.toyReply).toBe(hx(encodeWire({ kind: 'error', refusal: 'HANDSHAKE_FAILED', retryAfterSec: 0 })));
  });
});

describe.each(CRYPTO_BACKENDS)('own vectors: setup-codes.json [$name back end]', (backend) => {
  useCryptoBackendInSuite(backend);
  const v = load('setup-codes.json');
  const toyPub = b(v.toyStatic.publicKey);

  it('header, alphabet and fingerprint', () => {
    expect(typeof v.description).toBe('string');
    expect(v.version).toBe(1);
    expect(v.alphabet).toBe(CROCKFORD_ALPHABET);
    checkKeyPair(v.toyStatic);
    expect(toyKeyFingerprint(toyPub)).toBe(v.fingerprint.value);
    expect(hx(sha512(concatBytes(utf8('plushlink/1 toy key fingerprint:'), toyPub)).slice(0, 10))).toBe(v.fingerprint.sha512FirstTenBytes);
  });

  for (const c of load('setup-codes.json').codes as J[]) {
    it(`code: ${c.name}`, () => {
      const code = generateSetupCode(fixedRandom(b(c.randomBytes)));
      expect(code.secret).toBe(c.secret);
      expect(c.secret).toHaveLength(22);
      const check = setupCodeCheck(c.secret);
      expect(check).toBe(c.luhnCheck.symbol + c.shaCheck.symbol);
      expect(CROCKFORD_ALPHABET[c.luhnCheck.value]).toBe(c.luhnCheck.symbol);
      expect(CROCKFORD_ALPHABET[c.shaCheck.value]).toBe(c.shaCheck.symbol);
      expect(c.shaCheck.input).toBe('plushlink/1 setup-code check:' + c.secret);
      expect(sha512(utf8(c.shaCheck.input))[0]).toBe(c.shaCheck.sha512FirstByte);
      expect(c.shaCheck.sha512FirstByte & 31).toBe(c.shaCheck.value);
      expect((c.luhnCheck.sum + c.luhnCheck.value) % 32).toBe(0);
      if (c.luhnCheck.steps) {
        const steps = c.luhnCheck.steps as J[];
        expect(steps.map((s) => s.symbol).join('')).toBe(c.secret);
        let sum = 0;
        steps.forEach((s, i) => {
          expect(s.value).toBe(CROCKFORD_ALPHABET.indexOf(s.symbol));
          expect(s.factor).toBe((steps.length - 1 - i) % 2 === 0 ? 2 : 1); // rightmost symbol doubled
          expect(s.product).toBe(s.value * s.factor);
          expect(s.addend).toBe(Math.floor(s.product / 32) + (s.product % 32));
          sum += s.addend;
        });
        expect(sum).toBe(c.luhnCheck.sum);
      }
      expect(formatSetupCode(code)).toBe(c.humanForm);
      expect(c.humanForm).toMatch(/^([0-9A-Z]{4}-){5}[0-9A-Z]{4}$/);
      expect(parseSetupCode(c.humanForm).secret).toBe(c.secret);
      expect(c.toyPublicKey).toBe(v.toyStatic.publicKey);
      expect(formatSetupQr(code, toyPub)).toBe(c.qr.payload);
      expect(c.qr.payload).toHaveLength(c.qr.length);
      expect(c.qr.payload).toBe('PL1:' + c.secret + c.toyPublicKeyBase32 + c.qr.check);
      expect(c.qr.body).toBe(c.qr.payload.slice(0, -4));
      expect(c.qr.payload).toMatch(/^[0-9A-Z $%*+\-./:]+$/); // QR alphanumeric mode
      const parsed = parseSetupQr(c.qr.payload);
      expect(parsed.code.secret).toBe(c.secret);
      expect(hx(parsed.toyPublicKey)).toBe(c.toyPublicKey);
      expect(c.psk.ikmAscii).toBe(c.secret);
      expect(hx(setupCodePsk(code, toyPub))).toBe(c.psk.value);
      expect(hx(hkdfSha512(utf8(c.psk.ikmAscii), utf8(c.psk.salt), b(c.psk.info), c.psk.length))).toBe(c.psk.value);
    });
  }

  it('accepted spellings parse to the canonical secret', () => {
    expect(v.accepted.length).toBeGreaterThanOrEqual(6);
    for (const a of v.accepted as J[]) {
      const secret = a.kind === 'qr' ? parseSetupQr(a.input).code.secret : parseSetupCode(a.input).secret;
      expect(secret, a.what).toBe(a.secret);
    }
  });

  it('invalid inputs fail with the listed error code', () => {
    expect(v.invalid.length).toBeGreaterThanOrEqual(15);
    for (const c of v.invalid as J[]) {
      const got = errorCode(() => (c.kind === 'qr' ? parseSetupQr(c.input) : parseSetupCode(c.input)));
      expect(got, c.what).toBe(c.error);
      expect(c.error).not.toBe('ok');
    }
  });
});

describe.each(CRYPTO_BACKENDS)('own vectors: records.json [$name back end]', (backend) => {
  useCryptoBackendInSuite(backend);
  const v = load('records.json');
  const hs = load('handshakes.json');
  const keyOf = (dir: string, ch: string): Uint8Array => b(v.channelKeys[dir][ch]);

  /** A sender of `key` whose next record carries counter `c`, advanced through the public API. */
  function senderAt(key: Uint8Array, c: number): RecordSender {
    const s = new RecordSender(key);
    while (s.epoch < Math.floor(c / EPOCH_SIZE)) s.rekey();
    if (c > s.counter) s.seal(new Uint8Array([0]), c - s.counter);
    expect(s.counter).toBe(c);
    return s;
  }

  it('header, channel keys and epoch keys', () => {
    expect(typeof v.description).toBe('string');
    expect(v.version).toBe(1);
    expect(v.epochSize).toBe(EPOCH_SIZE);
    expect(v.split).toEqual(hs.pairing.split);
    expect(v.channelKeys).toEqual(hs.pairing.channelKeys);
    const i2r = b(v.split.initiatorToResponder);
    const r2i = b(v.split.responderToInitiator);
    for (const [dir, split] of [['companionToToy', i2r], ['toyToCompanion', r2i]] as const) {
      for (const ch of ['control', 'audio'] as const) {
        expect(hx(channelKey(split, ch))).toBe(v.channelKeys[dir][ch]);
        expect(hx(hkdfSha512(split, utf8('plushlink/1 channel'), utf8(ch), 32))).toBe(v.channelKeys[dir][ch]);
      }
    }
    const chain = v.epochKeys.companionToToyControl as string[];
    expect(chain[0]).toBe(v.channelKeys.companionToToy.control);
    for (let e = 1; e < chain.length; e++) {
      expect(hx(nextEpochKey(b(chain[e - 1]!)))).toBe(chain[e]);
      expect(hx(hkdfSha512(b(chain[e - 1]!), utf8('plushlink/1 rekey'), new Uint8Array(0), 32))).toBe(chain[e]);
    }
  });

  it('control records: sealed by the sender at their counter, opened by a receiver and by the raw AEAD', () => {
    expect(v.controlRecords.map((r: J) => r.counter)).toEqual(expect.arrayContaining([0, EPOCH_SIZE - 1, EPOCH_SIZE]));
    const toySender = new RecordSender(keyOf('toyToCompanion', 'control'));
    for (const r of v.controlRecords as J[]) {
      const key = keyOf(r.direction, 'control');
      const m = controlFromJson(r.message);
      expect(hx(encodeControl(m))).toBe(r.plaintext);
      expect(decodeControl(b(r.plaintext))).toEqual(m);
      const sender = r.direction === 'toyToCompanion' ? toySender : senderAt(key, r.counter);
      expect(hx(sender.seal(b(r.plaintext)))).toBe(r.record);
      expect(r.epoch).toBe(Math.floor(r.counter / EPOCH_SIZE));
      let ek = key;
      for (let e = 0; e < r.epoch; e++) ek = nextEpochKey(ek);
      expect(hx(ek)).toBe(r.epochKey);
      expect(hx(chachaNonce(r.counter))).toBe(r.nonce);
      expect(r.nonce.slice(0, 8)).toBe('00000000');
      expect(r.ad).toBe(r.counter.toString(16).padStart(8, '0'));
      expect(r.record.slice(0, 8)).toBe(r.ad);
      expect(hx(aeadOpen(b(r.epochKey), b(r.nonce), b(r.ad), b(r.record).subarray(4)))).toBe(r.plaintext);
      const opened = new RecordReceiver(key).open(b(r.record));
      expect(opened.counter).toBe(r.counter);
      expect(hx(opened.plaintext)).toBe(r.plaintext);
      expect(hx(encodeWire({ kind: 'record', record: b(r.record) }))).toBe(r.wire);
      expect(r.wire).toBe('10' + r.record);
    }
  });

  it('audio records: counters span the frames and never straddle an epoch boundary', () => {
    const mic = new RecordSender(keyOf('toyToCompanion', 'audio'));
    let straddle = false;
    for (const r of v.audioRecords as J[]) {
      const key = keyOf(r.direction, 'audio');
      const frames = (r.frames as string[]).map(b);
      expect(hx(encodeAudioPayload(frames))).toBe(r.plaintext);
      expect(decodeAudioPayload(b(r.plaintext)).map(hx)).toEqual(r.frames);
      const s = r.characteristic === 'microphone' ? mic : senderAt(key, r.senderCounterBefore);
      expect(s.counter).toBe(r.senderCounterBefore);
      expect(hx(s.seal(b(r.plaintext), frames.length))).toBe(r.record);
      expect(s.counter).toBe(r.senderCounterAfter);
      expect(r.senderCounterAfter).toBe(r.counter + frames.length);
      if (r.counter !== r.senderCounterBefore) {
        straddle = true;
        expect(r.counter % EPOCH_SIZE).toBe(0);
      }
      expect(hx(aeadOpen(b(r.epochKey), chachaNonce(r.counter), b(r.ad), b(r.record).subarray(4)))).toBe(r.plaintext);
      const rx = new RecordReceiver(key);
      const opened = rx.open(b(r.record), (p) => decodeAudioPayload(p).length);
      expect(opened.counter).toBe(r.counter);
      expect(rx.lastCounter).toBe(r.counter + frames.length - 1);
    }
    expect(straddle).toBe(true);
  });

  it('audio format 2: equal-size frames without a length table, only to a peer that announced it; malformed payloads refused', () => {
    const f2 = v.audioFormat2;
    expect(f2.helloItems.bits).toEqual({ format1: AudioFormats.TABLE, format2: AudioFormats.EQUAL_FRAMES });
    const hello = decodeCompanionHello(b(f2.helloItems.companionHello.payload));
    expect(hello).toEqual(f2.helloItems.companionHello.example);
    expect(hx(encodeCompanionHello(hello))).toBe(f2.helloItems.companionHello.payload);
    expect(f2.helloItems.companionHello.payload.endsWith(`02 01 ${f2.helloItems.companionHello.value}`.replace(/ /g, ''))).toBe(true);
    let saved = 0;
    for (const r of f2.records as J[]) {
      const key = keyOf(r.direction, 'audio');
      const frames = (r.frames as string[]).map(b);
      expect(hx(encodeAudioPayload(frames, r.peerAudioFormats))).toBe(r.plaintext);
      expect(r.format).toBe(usesEqualFrames(frames.map((f) => f.length), r.peerAudioFormats) ? 2 : 1);
      expect(decodeAudioPayload(b(r.plaintext)).map(hx)).toEqual(r.frames);
      const s = senderAt(key, r.senderCounterBefore);
      expect(hx(s.seal(b(r.plaintext), frames.length))).toBe(r.record);
      expect(s.counter).toBe(r.senderCounterAfter);
      // The same frames in format 1 (what a v1 peer gets) at the same counter.
      expect(hx(senderAt(key, r.senderCounterBefore).seal(encodeAudioPayload(frames), frames.length))).toBe(r.format1Record);
      expect(b(r.format1Record).length - b(r.record).length).toBe(r.format === 2 ? frames.length - 1 : 0);
      expect(r.bytesSaved).toBe(b(r.format1Record).length - b(r.record).length);
      saved += r.bytesSaved;
      // A channel whose peer reads format 2 seals the same record; its peer opens either format.
      const rx = new RecordReceiver(key);
      expect(rx.open(b(r.record), (p) => decodeAudioPayload(p).length).counter).toBe(r.counter);
      expect(rx.lastCounter).toBe(r.counter + frames.length - 1);
    }
    expect(saved).toBeGreaterThan(0);
    for (const p of f2.invalidPayloads as J[]) {
      expect(p.error, p.what).toBe('BAD_AUDIO');
      expect(errorCode(() => decodeAudioPayload(b(p.payload))), p.what).toBe('BAD_AUDIO');
    }
  });

  it('audio receive sequence: a record that authenticates but does not decode changes nothing (last, epoch key)', () => {
    const seq = v.audioReceiveSequence;
    expect(seq.key).toBe(v.channelKeys.companionToToy.audio);
    const rx = new RecordReceiver(b(seq.key));
    const got = (seq.steps as J[]).map((s) => {
      const outcome = errorCode(() => rx.open(b(s.record), (p) => decodeAudioPayload(p).length));
      expect(outcome, s.note).toBe(s.outcome);
      expect(rx.lastCounter, s.note).toBe(s.lastCounterAfter);
      return [outcome, rx.lastCounter];
    });
    expect(got).toEqual([
      ['ok', 0],
      ['BAD_AUDIO', 0],
      ['ok', 6],
      ['ok', EPOCH_SIZE + 1],
      ['REPLAYED_RECORD', EPOCH_SIZE + 1],
    ]);
  });

  it('receive sequence: gaps accepted, replays refused without state change, forgery fatal', () => {
    const seq = v.receiveSequence;
    const rx = new RecordReceiver(b(seq.key));
    expect(seq.key).toBe(v.channelKeys.companionToToy.control);
    const outcomes = new Set<string>();
    for (const s of seq.steps as J[]) {
      const got = errorCode(() => rx.open(b(s.record)));
      expect(got === 'ok' ? 'accepted' : got, s.note).toBe(s.outcome);
      expect(rx.lastCounter, s.note).toBe(s.lastCounterAfter);
      outcomes.add(s.outcome);
    }
    expect([...outcomes].sort()).toEqual(['RECORD_AUTH_FAILED', 'REPLAYED_RECORD', 'accepted']);
  });

  it('fragmentation at MTU 23 and 247', () => {
    for (const f of v.fragmentation as J[]) {
      expect(f.message.length / 2).toBe(f.length);
      expect(fragmentsOf(b(f.message), f.mtu, f.firstCounter)).toEqual(f.fragments);
      for (const x of f.fragments as string[]) expect(x.length / 2).toBeLessThanOrEqual(f.mtu - 3);
      expect(parseInt(f.fragments[0].slice(0, 2), 16) & 0x3f).toBe(f.firstCounter % 64);
      if (f.firstCounter === 0) expect(hx(reassemble(f.fragments))).toBe(f.message);
    }
    const control = (v.fragmentation as J[]).find((f) => f.characteristic === 'control' && f.mtu === 23);
    const opened = new RecordReceiver(keyOf('toyToCompanion', 'control')).open(b(control.message).subarray(1));
    const msg = decodeControl(opened.plaintext);
    expect(msg.type).toBe('result');
    if (msg.type === 'result') expect(decodePairings(msg.body).length).toBe(2);
  });
});

describe.each(CRYPTO_BACKENDS)('own vectors: advertising.json [$name back end]', (backend) => {
  useCryptoBackendInSuite(backend);
  const v = load('advertising.json');
  const key = b(v.advertisingKey);

  it('header; the key is the one the toy hello carries', () => {
    expect(typeof v.description).toBe('string');
    expect(v.version).toBe(1);
    expect(v.slotSeconds).toBe(ADV_SLOT_SECONDS);
    expect(v.advertisingKey).toBe(load('handshakes.json').reconnect.toyHello.advertisingKey); // the pairing hello carries none
  });

  it('times → slot → tag → service data', () => {
    for (const c of v.cases as J[]) {
      const slot = advertisingSlot(c.nowMs);
      expect(slot).toBe(c.slot);
      expect(slot).toBe(Math.floor(c.nowMs / 1000 / 600));
      expect(c.slotBytes).toBe(slot.toString(16).padStart(8, '0'));
      expect(c.hmacInput).toBe(hx(utf8('plushlink/1 adv tag')) + c.slotBytes);
      expect(hx(hmacSha512(key, b(c.hmacInput)))).toBe(c.hmac);
      expect(hx(advertisingTag(key, slot))).toBe(c.tag);
      expect(c.hmac.slice(0, 16)).toBe(c.tag);
      expect(hx(buildAdvertisement({ nowMs: c.nowMs, pairing: false, advertisingKey: key }))).toBe(c.serviceDataOwned);
      expect(hx(buildAdvertisement({ nowMs: c.nowMs, pairing: true, advertisingKey: key }))).toBe(c.serviceDataOwnedPairing);
      expect(c.serviceDataOwned).toBe('02' + c.tag);
      expect(c.serviceDataOwnedPairing).toBe('03' + c.tag);
      const info = parseAdvertisement(b(c.serviceDataOwnedPairing));
      expect(info.pairing && info.owned).toBe(true);
      expect(hx(info.tag)).toBe(c.tag);
      expect(resolveAdvertisingTag(b(c.tag), [new Uint8Array(32), key], c.nowMs)).toBe(1);
    }
    // neighbouring slots give different tags
    expect(new Set((v.cases as J[]).map((c) => c.tag)).size).toBe(new Set((v.cases as J[]).map((c) => c.slot)).size);
  });

  it('changes within a slot: the change counter n = 1..7 is one more HMAC input byte; every tag differs and resolves (PROTOCOL.md §12)', () => {
    const w = v.changesWithinSlot;
    const base = (v.cases as J[]).find((c) => c.slot === w.slot)!;
    expect(w.changes.map((c: J) => c.change)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    for (const c of w.changes as J[]) {
      expect(c.hmacInput).toBe(base.hmacInput + c.change.toString(16).padStart(2, '0'));
      expect(hx(hmacSha512(key, b(c.hmacInput))).slice(0, 16)).toBe(c.tag);
      expect(hx(advertisingTag(key, w.slot, c.change))).toBe(c.tag);
      expect(hx(buildAdvertisement({ nowMs: w.nowMs, pairing: false, advertisingKey: key, change: c.change }))).toBe(c.serviceDataOwned);
      expect(c.serviceDataOwned).toBe('02' + c.tag);
      for (const skew of [-600_000, 0, 600_000]) expect(resolveAdvertisingTag(b(c.tag), [new Uint8Array(32), key], w.nowMs + skew)).toBe(1);
      expect(resolveAdvertisingTag(b(c.tag), [key], w.nowMs + 1_200_000)).toBe(-1);
    }
    expect(new Set([base.tag, ...w.changes.map((c: J) => c.tag)]).size).toBe(8);
    expect(errorCode(() => advertisingTag(key, w.slot, 8))).toBe('BAD_FRAME');
  });

  it('unowned toy, the legacy PDU and invalid service data', () => {
    const u = v.unownedPairing;
    expect(hx(buildAdvertisement({ nowMs: 1_700_000_000_000, pairing: true, random: fixedRandom(b(u.randomTag)) }))).toBe(u.serviceData);
    expect(u.serviceData).toBe('01' + u.randomTag);
    const pdu = v.legacyAdvertisingPdu;
    expect(pdu.serviceUuid).toBe(PLUSHLINK_SERVICE_UUID);
    const built = buildAdvertisingPayload(b(pdu.serviceData));
    expect(built.advertisement.toString('hex')).toBe(pdu.advertisingData);
    expect(built.scanResponse.toString('hex')).toBe(pdu.scanResponse);
    expect(pdu.advertisingData.length / 2).toBeLessThanOrEqual(31);
    expect(pdu.advertisingData.endsWith(pdu.serviceData)).toBe(true);
    for (const c of v.invalidServiceData as J[]) expect(errorCode(() => parseAdvertisement(b(c.serviceData))), c.what).toBe(c.error);
  });
});

describe.each(CRYPTO_BACKENDS)('own vectors: control.json [$name back end]', (backend) => {
  useCryptoBackendInSuite(backend);
  const v = load('control.json');

  it('header', () => {
    expect(typeof v.description).toBe('string');
    expect(v.version).toBe(1);
  });

  it('wire messages encode and decode', () => {
    const kinds = new Set<string>();
    for (const w of v.wire as J[]) {
      const m = { ...w.message } as J;
      if (m.noise) m.noise = b(m.noise);
      if (m.record) m.record = b(m.record);
      if (m.toyPublicKey) m.toyPublicKey = b(m.toyPublicKey);
      expect(hx(encodeWire(m as WireMessage)), w.what).toBe(w.bytes);
      const d = decodeWire(b(w.bytes)) as J;
      expect(d.kind).toBe(m.kind);
      if (m.kind === 'error') {
        expect(d.refusal).toBe(m.refusal);
        expect(d.retryAfterSec).toBe(Math.ceil(m.retryAfterSec));
        kinds.add(m.refusal);
      }
      if (m.kind === 'info-response') expect(hx(d.toyPublicKey)).toBe(w.message.toyPublicKey);
    }
    expect(kinds.size).toBe(9);
    for (const w of v.invalidWire as J[]) expect(errorCode(() => decodeWire(b(w.bytes))), w.what).toBe(w.error);
  });

  it('every control message type encodes and decodes', () => {
    const types = new Set<number>();
    for (const c of v.control as J[]) {
      const m = controlFromJson(c.message);
      expect(hx(encodeControl(m)), c.message.type).toBe(c.bytes);
      expect(decodeControl(b(c.bytes))).toEqual(m);
      types.add(parseInt(c.bytes.slice(0, 2), 16));
      if (c.advertisingKeyLabel) expect(c.message.advertisingKey).toBe(hx(sha512(utf8(c.advertisingKeyLabel)).slice(0, 32)));
    }
    expect(types.size).toBe(17);
    for (const c of v.invalidControl as J[]) expect(errorCode(() => decodeControl(b(c.bytes))), c.what).toBe(c.error);
  });

  it('SPEAKER_STATUS has an 11-byte body; the size-check vectors have bodies of 10, 11 and 12 bytes', () => {
    expect(v.speakerStatusBodyLength).toBe(11);
    const statuses = (v.control as J[]).filter((c) => c.message.type === 'speaker-status');
    for (const c of statuses) expect(c.bytes.length / 2 - 2).toBe(11);
    const sizes = (v.invalidControl as J[]).filter((c) => c.bytes.startsWith('8100')).map((c) => c.bytes.length / 2 - 2);
    expect(sizes.sort()).toEqual([10, 11, 12]);
  });

  it('refusals before a session: one answer per refused message, NOT_AUTHENTICATED for every non-handshake kind, BAD_MESSAGE for broken handshake messages', () => {
    const hs = load('handshakes.json');
    const setup = parseSetupCode(hs.pairing.setupCodeSecret + setupCodeCheck(hs.pairing.setupCodeSecret));
    const identity = x25519KeyPairFromSecret(b(hs.toyStatic.secretKey));
    const at = hs.reconnect.slot.timeMs;
    for (const c of v.refusalsBeforeSession as J[]) {
      const core = new ToyCore({ identity, setupCode: setup, now: at, random: (n) => new Uint8Array(n) });
      core.start(at);
      core.connect('c', c.mtu, at);
      const reasm = new Reassembler(1024);
      const sends: string[] = [];
      for (const value of c.values as string[]) {
        for (const a of core.write('c', 'control', b(value), at)) {
          if (a.type !== 'send') continue;
          const r = reasm.push(a.value);
          if (r.kind === 'message') sends.push(hx(r.message));
        }
      }
      expect(sends, c.what).toEqual(c.toySends);
      expect(sends, c.what).toHaveLength(1);
    }
  });

  it('result bodies', () => {
    const r = v.resultBodies;
    expect(hx(encodeBattery(r.battery.value))).toBe(r.battery.bytes);
    expect(decodeBattery(b(r.battery.bytes))).toEqual(r.battery.value);
    expect(hx(encodeBattery(r.batteryCharging.value))).toBe(r.batteryCharging.bytes);
    expect(hx(encodeToyInfo(r.info.value))).toBe(r.info.bytes);
    expect(decodeToyInfo(b(r.info.bytes))).toEqual(r.info.value);
    expect(hx(encodePairings(r.pairings.value))).toBe(r.pairings.bytes);
    expect(decodePairings(b(r.pairings.bytes))).toEqual(r.pairings.value);
    expect(hx(encodePairings(r.pairingsEmpty.value))).toBe(r.pairingsEmpty.bytes);
    expect(parseInt(r.micStart.bytes, 16)).toBe(r.micStart.value.firstFrame);
    expect(parseInt(r.setVolume.bytes, 16)).toBe(r.setVolume.value.volume);
    // the companion hello of handshakes.json decodes with the payload decoder too
    const hs = load('handshakes.json');
    expect(decodeCompanionHello(b(hs.pairing.companionHello.payload)).displayName).toBe(hs.pairing.companionHello.displayName);
  });
});

/**
 * PROTOCOL.md §6.1 and §3 implemented from the text alone, with nothing but the primitives of
 * crypto.ts: if the document and the vectors ever disagree, this fails.
 */
describe.each(CRYPTO_BACKENDS)('own vectors: PROTOCOL.md written out step by step reproduces the vectors [$name back end]', (backend) => {
  useCryptoBackendInSuite(backend);
  const v = load('handshakes.json');

  function specHandshake(h: J, pairing: boolean): { m1: Uint8Array; m2: Uint8Array; hashAfter1: Uint8Array; h: Uint8Array; k1: Uint8Array; k2: Uint8Array } {
    const sI = b(v.companionStatic.secretKey);
    const SI = b(v.companionStatic.publicKey);
    const sR = b(v.toyStatic.secretKey);
    const SR = b(v.toyStatic.publicKey);
    const eI = b(h.companionEphemeral.secretKey);
    const EI = b(h.companionEphemeral.publicKey);
    const eR = b(h.toyEphemeral.secretKey);
    const ER = b(h.toyEphemeral.publicKey);
    const name = utf8(h.protocolName);
    let hh: Uint8Array = new Uint8Array(64);
    hh.set(name);
    let ck: Uint8Array = Uint8Array.from(hh);
    let k: Uint8Array | undefined;
    let n = 0;
    const mixHash = (x: Uint8Array): void => {
      hh = sha512(concatBytes(hh, x));
    };
    const hkdfN = (ikm: Uint8Array, count: number): Uint8Array[] => {
      const okm = hkdfSha512(ikm, ck, new Uint8Array(0), 64 * count);
      return Array.from({ length: count }, (_, i) => okm.slice(64 * i, 64 * (i + 1)));
    };
    const mixKey = (x: Uint8Array): void => {
      const [c, t] = hkdfN(x, 2) as [Uint8Array, Uint8Array];
      ck = c;
      k = t.slice(0, 32);
      n = 0;
    };
    const mixKeyAndHash = (x: Uint8Array): void => {
      const [c, th, tk] = hkdfN(x, 3) as [Uint8Array, Uint8Array, Uint8Array];
      ck = c;
      mixHash(th);
      k = tk.slice(0, 32);
      n = 0;
    };
    const encryptAndHash = (p: Uint8Array): Uint8Array => {
      const c = k ? aeadSeal(k, chachaNonce(n++), hh, p) : p;
      mixHash(c);
      return c;
    };
    // the prologue as §6 writes it: the ASCII text, and for reconnect the slot (u32 big-endian)
    const prologue = concatBytes(utf8(h.prologueAscii), pairing ? new Uint8Array(0) : b(h.slot.bytes));
    expect(hx(prologue)).toBe(h.prologue);
    mixHash(prologue);
    mixHash(SR);
    // message 1
    mixHash(EI);
    if (pairing) mixKey(EI);
    mixKey(x25519(eI, SR));
    const encS = encryptAndHash(SI);
    mixKey(x25519(sI, SR));
    if (pairing) mixKeyAndHash(b(h.psk));
    const m1 = concatBytes(EI, encS, encryptAndHash(b(h.companionHello.payload)));
    const hashAfter1 = hh;
    // message 2
    mixHash(ER);
    if (pairing) mixKey(ER);
    mixKey(x25519(eR, EI));
    mixKey(x25519(eR, SI));
    const m2 = concatBytes(ER, encryptAndHash(b(h.toyHello.payload)));
    const [t1, t2] = hkdfN(new Uint8Array(0), 2) as [Uint8Array, Uint8Array];
    return { m1, m2, hashAfter1, h: hh, k1: t1.slice(0, 32), k2: t2.slice(0, 32) };
  }

  for (const [label, pairing] of [['pairing', true], ['reconnect', false]] as const) {
    it(`${label} handshake`, () => {
      const h = v[label];
      const r = specHandshake(h, pairing);
      expect(hx(r.m1)).toBe(h.message1.noise);
      expect(hx(r.hashAfter1)).toBe(h.message1.handshakeHashAfter);
      expect(hx(r.m2)).toBe(h.message2.noise);
      expect(hx(r.h)).toBe(h.handshakeHash);
      expect(hx(r.k1)).toBe(h.split.initiatorToResponder);
      expect(hx(r.k2)).toBe(h.split.responderToInitiator);
    });
  }

  it('fragmentation (§3)', () => {
    const specFragments = (msg: Uint8Array, mtu: number, q0: number): string[] => {
      const P = mtu - 3;
      let q = q0;
      const next = (): number => q++ % 64;
      if (msg.length + 1 <= P) return [hx(concatBytes(new Uint8Array([0xc0 | next()]), msg))];
      const out = [hx(concatBytes(new Uint8Array([0x80 | next(), msg.length >> 8, msg.length & 0xff]), msg.subarray(0, P - 3)))];
      for (let off = P - 3; off < msg.length; off += P - 1) {
        const part = msg.subarray(off, off + P - 1);
        const last = off + part.length >= msg.length;
        out.push(hx(concatBytes(new Uint8Array([(last ? 0x40 : 0) | next()]), part)));
      }
      return out;
    };
    for (const f of load('records.json').fragmentation as J[]) expect(specFragments(b(f.message), f.mtu, f.firstCounter)).toEqual(f.fragments);
    for (const m of [v.pairing.message1, v.pairing.message2, v.reconnect.message1]) {
      expect(specFragments(b(m.wire), 23, 0)).toEqual(m.fragmentsMtu23);
      expect(specFragments(b(m.wire), 247, 0)).toEqual(m.fragmentsMtu247);
    }
  });

  it('setup code check symbols, QR check and fingerprint (§5)', () => {
    const sc = load('setup-codes.json');
    const A = CROCKFORD_ALPHABET;
    const b32 = (bytes: Uint8Array): string => {
      let bits = '';
      for (const x of bytes) bits += x.toString(2).padStart(8, '0');
      while (bits.length % 5) bits += '0';
      let out = '';
      for (let i = 0; i < bits.length; i += 5) out += A[parseInt(bits.slice(i, i + 5), 2)];
      return out;
    };
    for (const c of sc.codes as J[]) {
      expect(b32(b(c.randomBytes)).slice(0, 22)).toBe(c.secret);
      let factor = 2;
      let sum = 0;
      for (let i = 21; i >= 0; i--) {
        const p = factor * A.indexOf(c.secret[i]);
        sum += Math.floor(p / 32) + (p % 32);
        factor = factor === 2 ? 1 : 2;
      }
      const c1 = A[(32 - (sum % 32)) % 32]!;
      const c2 = A[sha512(utf8('plushlink/1 setup-code check:' + c.secret))[0]! & 31]!;
      expect((c.secret + c1 + c2).match(/.{4}/g)!.join('-')).toBe(c.humanForm);
      const body = 'PL1:' + c.secret + b32(b(c.toyPublicKey));
      expect(body + b32(sha512(utf8(body)).slice(0, 3)).slice(0, 4)).toBe(c.qr.payload);
    }
    const d = sha512(concatBytes(utf8('plushlink/1 toy key fingerprint:'), b(sc.toyStatic.publicKey)));
    expect(b32(d.slice(0, 10)).match(/.{4}/g)!.join('-')).toBe(sc.fingerprint.value);
  });
});

// Skipped under mutation testing (scripts/mutation.ts): the generator runs in a child process,
// which does not see Stryker's active mutant, so it cannot kill one and only costs time.
describe.skipIf(process.env.PLUSHLINK_MUTATION !== undefined)('own vectors: the generator reproduces the committed files', () => {
  const out = mkdtempSync(join(tmpdir(), 'plushlink-vectors-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('scripts/gen-vectors.ts writes exactly the committed bytes', () => {
    const tsx = join(root, 'node_modules', '.bin', 'tsx');
    execFileSync(tsx, [join(root, 'scripts', 'gen-vectors.ts'), out], { cwd: root, stdio: 'pipe' });
    expect(readdirSync(out).sort()).toEqual(OWN_FILES);
    for (const name of OWN_FILES) {
      const fresh = readFileSync(join(out, name), 'utf8');
      const committed = readFileSync(join(vectorDir, name), 'utf8');
      expect(fresh === committed, `${name} differs from a fresh run of scripts/gen-vectors.ts: run npm run gen:vectors and review the diff`).toBe(true);
    }
  }, 60_000);
});
