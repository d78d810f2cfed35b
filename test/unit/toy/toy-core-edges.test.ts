/**
 * ToyCore's edges, each pinned on the sans-IO toy with a fake clock: the ATT MTU update and what
 * it changes on the air (PROTOCOL.md §4), inputs for connections that are gone, the microphone's
 * batching, frame bounds and end (§13.7), a factory reset's log, address and connections
 * (§12, §13.5), the pairing window's log (§13.2). Written for survivors of the src/toy mutation
 * run (docs/SECURITY.md "Mutation testing").
 */
import { describe, expect, it } from 'vitest';
import { SecureChannel } from '../../../src/protocol/channel.js';
import { companionKeyId, decodeBattery, decodePairings, GoodbyeReason, type ControlMessage } from '../../../src/protocol/control.js';
import { generateX25519KeyPair } from '../../../src/protocol/crypto.js';
import { generateSetupCode } from '../../../src/protocol/setup-code.js';
import { Reassembler } from '../../../src/protocol/fragment.js';
import { AUDIO_FORMATS_SUPPORTED, AUDIO_FORMATS_V1 } from '../../../src/protocol/audio-record.js';
import { CompanionHandshake } from '../../../src/protocol/handshake.js';
import { ADV_SLOT_SECONDS, advertisingSlot, advertisingTag } from '../../../src/protocol/advertising.js';
import { bytesEqual, fromHex } from '../../../src/protocol/bytes.js';
import { encodeWire } from '../../../src/protocol/wire.js';
import { ToyCore } from '../../../src/toy/toy-core.js';
import type { ToyAction, ToyConfig } from '../../../src/toy/types.js';
import { CompanionSession as Session, FakeCentral, T0, companionHandshake, newToy } from '../../property/helpers/toy-harness.js';

/** One companion's confirmed session on a ToyCore: requests and the toy's decoded replies. */

function ownedToy(config?: ToyConfig, mtu = 247) {
  const { toy, identity, code } = newToy({ config });
  toy.button('hold', T0);
  const owner = Session.pair(toy, identity.publicKey, code, 'owner', T0, mtu);
  return { toy, identity, code, owner };
}

/**
 * Two pairings read in one window (§6.4): `a` confirms first at T0 + 3, so `b`'s pending pairing
 * is superseded; `b` has a session but has not sent its first record yet.
 */
function supersededPairing() {
    const { toy, identity, code } = newToy();
    toy.button('hold', T0);
    const a = new FakeCentral(toy, 'a');
    const b = new FakeCentral(toy, 'b');
    a.connect(T0 + 1);
    b.connect(T0 + 1);
    const ha = companionHandshake(a, 'pair', generateX25519KeyPair(), identity.publicKey, code, T0 + 2, 'a', false);
    const hb = companionHandshake(b, 'pair', generateX25519KeyPair(), identity.publicKey, code, T0 + 2, 'b', false);
    a.send('control', ha.channel!.sealControl({ type: 'confirm', id: 1 }), T0 + 3);
  return { toy, a, b, ha, hb };
}

/** The microphone records in `actions` for `connection`, opened by the companion's channel. */
function micRecords(actions: ToyAction[], connection: string, channel: SecureChannel): { values: number[]; batches: Uint8Array[][]; firstFrames: number[] } {
  const reasm = new Reassembler(1024);
  const values: number[] = [];
  const batches: Uint8Array[][] = [];
  const firstFrames: number[] = [];
  for (const a of actions) {
    if (a.type !== 'send' || a.connection !== connection || a.characteristic !== 'microphone') continue;
    values.push(a.value.length);
    const r = reasm.push(a.value);
    if (r.kind !== 'message') continue;
    const batch = channel.openAudio(r.message);
    batches.push(batch.frames);
    firstFrames.push(batch.firstFrame);
  }
  return { values, batches, firstFrames };
}

const frame = (len: number, tag: number): Uint8Array => {
  const f = new Uint8Array(len).fill(tag);
  f[0] = 0xf8;
  return f;
};

describe('the ATT MTU (PROTOCOL.md §4)', () => {
  const infoSends = (central: FakeCentral): ToyAction[] =>
    central.send('control', encodeWire({ kind: 'info-request' }), T0 + 1).filter((a) => a.type === 'send' && a.connection === central.id);

  it('an update to 23 or more fragments what the toy sends to that size; one below 23 is ignored; one for a connection that is gone is ignored', () => {
    const { toy } = newToy();
    toy.button('hold', T0);
    const c = new FakeCentral(toy, 'c');
    c.connect(T0);
    expect(infoSends(c)).toHaveLength(1); // one ATT value at MTU 247
    toy.updateMtu('c', 22);
    expect(infoSends(c)).toHaveLength(1);
    toy.updateMtu('c', 23);
    const at23 = infoSends(c);
    expect(at23.length).toBeGreaterThan(1);
    for (const a of at23) expect((a as { value: Uint8Array }).value.length).toBeLessThanOrEqual(20);
    expect(Math.max(...at23.map((a) => (a as { value: Uint8Array }).value.length))).toBe(20);
    toy.updateMtu('c', 24);
    expect(Math.max(...infoSends(c).map((a) => (a as { value: Uint8Array }).value.length))).toBe(21);
    expect(() => toy.updateMtu('gone', 100)).not.toThrow();
    expect(toy.connectionCount).toBe(1);
  });
});

describe('inputs for a connection that is not there', () => {
  it('disconnect, write and the microphone source without a holder answer nothing and throw nothing', () => {
    const { toy } = newToy();
    expect(toy.disconnect('gone', T0)).toEqual([]);
    expect(toy.write('gone', 'control', Uint8Array.of(0x80, 0x01), T0)).toEqual([]);
    expect(toy.micFrame(frame(10, 1), T0)).toEqual([]);
    expect(toy.micEnded(T0)).toEqual([]);
    expect(toy.microphoneActive).toBe(false);
  });

  it('a tick with nothing due answers nothing', () => {
    const { toy } = newToy();
    expect(toy.tick(T0 + 1)).toEqual([]);
  });
});

describe('microphone (PROTOCOL.md §13.7)', () => {
  function micOn(mtu = 247) {
    const { toy, owner } = ownedToy(undefined, mtu);
    owner.request({ type: 'mic-start' }, T0 + 1);
    expect(owner.replies()[0]).toMatchObject({ type: 'result', status: 'OK' });
    expect(toy.microphoneActive).toBe(true);
    return { toy, owner };
  }

  it('frames outside 1..255 bytes are a BAD_AUDIO error of the audio path and leave the batch as it was; 1 and 255 bytes are carried', () => {
    const { toy, owner } = micOn();
    const sent: ToyAction[] = [];
    sent.push(...toy.micFrame(frame(1, 1), T0 + 2));
    expect(() => toy.micFrame(new Uint8Array(0), T0 + 3)).toThrow(expect.objectContaining({ code: 'BAD_AUDIO' }));
    expect(() => toy.micFrame(frame(256, 2), T0 + 3)).toThrow(expect.objectContaining({ code: 'BAD_AUDIO' }));
    sent.push(...toy.micFrame(frame(255, 3), T0 + 4));
    sent.push(...toy.micEnded(T0 + 5));
    const { batches } = micRecords(sent, owner.central.id, owner.channel);
    expect(batches.flat().map((f) => f.length)).toEqual([1, 255]);
  });

  it('a record holds floor(60 / 20) + 1 = 4 frames: sent with the 4th frame, not before', () => {
    const { toy, owner } = micOn();
    for (let i = 0; i < 3; i++) expect(toy.micFrame(frame(10, i), T0 + 2 + i)).toEqual([]);
    const fourth = micRecords(toy.micFrame(frame(10, 3), T0 + 5), owner.central.id, owner.channel);
    expect(fourth.batches.map((b) => b.map((f) => f[1]))).toEqual([[0, 1, 2, 3]]);
    expect(fourth.values).toHaveLength(1);
  });

  it('a frame that fits one ATT value is not added to a batch whose record would no longer fit one: the batch goes first', () => {
    // MTU 100: 97 bytes per ATT value; a record is 1 + 4 + 16 + payload (count byte, lengths, frames)
    const { toy, owner } = micOn(100);
    const sent: ToyAction[] = [];
    sent.push(...toy.micFrame(frame(40, 1), T0 + 2));
    sent.push(...toy.micFrame(frame(40, 2), T0 + 3)); // two 40-byte frames no longer fit one value
    const first = micRecords(sent, owner.central.id, owner.channel);
    expect(first.batches.map((b) => b.map((f) => f[1]))).toEqual([[1]]);
    for (const v of first.values) expect(v).toBeLessThanOrEqual(97);
    const rest = micRecords(toy.micEnded(T0 + 4), owner.central.id, owner.channel);
    expect(rest.batches.map((b) => b.map((f) => f[1]))).toEqual([[2]]);
  });

  it('the source ending with nothing batched sends no record: only the switch-off and MIC_STATUS', () => {
    const { toy, owner } = micOn();
    const out = toy.micEnded(T0 + 2);
    expect(out.map((a) => `${a.type}:${a.type === 'send' ? a.characteristic : ''}`)).toEqual(['microphone:', 'send:control']);
  });

  it('the source ending sends the batch, switches the microphone off and tells the listener where the stream ended', () => {
    const { toy, owner } = micOn();
    toy.micFrame(frame(10, 1), T0 + 2);
    const out = toy.micEnded(T0 + 3);
    expect(out.filter((a) => a.type === 'microphone')).toEqual([{ type: 'microphone', active: false }]);
    const sent = micRecords(out, owner.central.id, owner.channel);
    expect(sent.batches).toHaveLength(1);
    owner.central.absorb(out);
    expect(owner.replies()).toEqual([{ type: 'mic-status', id: 0, active: false, nextFrame: sent.firstFrames[0]! + 1 }]);
    expect(toy.microphoneActive).toBe(false);
    expect(toy.micFrame(frame(10, 2), T0 + 4)).toEqual([]);
  });
});

describe('factory reset (PROTOCOL.md §13.5, §12)', () => {
  it('logs the reset, ends every connection with FACTORY_RESET, persists the empty list and advertises from a new address', () => {
    const { toy, owner } = ownedToy();
    const stranger = new FakeCentral(toy, 'stranger');
    stranger.connect(T0 + 1);
    const out = toy.button('reset', T0 + 2);
    owner.central.absorb(out);
    stranger.absorb(out);
    expect(owner.replies()).toEqual([{ type: 'goodbye', id: 0, reason: GoodbyeReason.FACTORY_RESET }]);
    expect(owner.central.disconnected && stranger.disconnected).toBe(true);
    expect(toy.connectionCount).toBe(0);
    expect(out.filter((a) => a.type === 'log').map((a) => (a as { event: unknown }).event)).toContainEqual({ kind: 'factory-reset' });
    expect(out.filter((a) => a.type === 'persist')).toEqual([{ type: 'persist', state: { version: 1, pairings: [], failedAttempts: 0, lockedUntil: 0, volume: 70 } }]);
    const adv = out.filter((a) => a.type === 'advertise');
    expect(adv).toHaveLength(1);
    expect(adv[0]).toMatchObject({ newAddress: true });
  });

  it('re-advertises from a fresh address even when the service data comes out the same (an unowned toy, same slot, same random tag)', () => {
    // a random source that always gives the same bytes: the unowned tag is identical before and after
    const toy = new ToyCore({ identity: generateX25519KeyPair(), setupCode: generateSetupCode(), random: (n) => new Uint8Array(n).fill(7), now: T0 });
    const boot = toy.start(T0).filter((a) => a.type === 'advertise');
    const adv = toy.button('reset', T0 + 1).filter((a) => a.type === 'advertise');
    expect(adv).toHaveLength(1);
    expect((adv[0] as { serviceData: Uint8Array }).serviceData).toEqual((boot[0] as { serviceData: Uint8Array }).serviceData);
    expect(adv[0]).toMatchObject({ newAddress: true });
  });
});

describe('the pairing window log (PROTOCOL.md §13.2)', () => {
  it('a hold that opens no window logs it closed with the reason; one that opens logs it open', () => {
    const { toy } = ownedToy();
    // an owned toy without the owner's ALLOW_GUEST_PAIRING: the hold opens nothing
    const refused = toy.button('hold', T0 + 10);
    expect(refused).toEqual([{ type: 'log', event: { kind: 'pairing-window', open: false, reason: expect.any(String) } }]);
    expect((refused[0] as { event: { reason: string } }).event.reason).not.toBe('');
    expect(toy.pairingWindowOpen(T0 + 10)).toBe(false);
    const fresh = newToy().toy;
    const opened = fresh.button('hold', T0 + 10);
    expect(opened.filter((a) => a.type === 'log')).toEqual([{ type: 'log', event: { kind: 'pairing-window', open: true, reason: expect.any(String) } }]);
  });
});

describe('before a session: a handshake kind that does not decode (PROTOCOL.md §11)', () => {
  it('is refused as malformed and answered with a plaintext ERROR BAD_MESSAGE; nothing else changes', () => {
    const { toy } = newToy();
    toy.button('hold', T0);
    const c = new FakeCentral(toy, 'c');
    c.connect(T0);
    const before = toy.refusals.malformed;
    c.send('control', Uint8Array.of(0x05, 0x00), T0 + 1); // an INFO_REQUEST has no body
    expect(c.received).toEqual([{ kind: 'error', refusal: 'BAD_MESSAGE', retryAfterSec: 0 }]);
    expect(toy.refusals.malformed).toBe(before + 1);
    expect(toy.hasSession('c')).toBe(false);
    // the connection may still ask properly
    c.send('control', encodeWire({ kind: 'info-request' }), T0 + 2);
    expect(c.last()?.kind).toBe('info-response');
  });
});

describe('battery (PROTOCOL.md §13.8)', () => {
  it('GET_BATTERY answers what the toy last set', () => {
    const { toy, owner } = ownedToy();
    toy.setBattery(42, true);
    owner.request({ type: 'get-battery' }, T0 + 1);
    const [r] = owner.replies();
    expect(r).toMatchObject({ type: 'result', status: 'OK' });
    expect(decodeBattery((r as { body: Uint8Array }).body)).toEqual({ percent: 42, charging: true });
  });
});

describe('speaker: frames that fell due before an audio write (PROTOCOL.md §13.6)', () => {
  it('are played by that write, before the new record joins the buffer: no frame is skipped without a tick', () => {
    const { toy, owner } = ownedToy();
    const first = owner.channel.nextAudioFrame;
    owner.request({ type: 'speaker-start', firstFrame: first }, T0 + 1);
    const fs = (n: number, tag: number) => Array.from({ length: n }, (_, i) => Uint8Array.of(0xf8, tag, i));
    const played = (out: ToyAction[]) => out.flatMap((a) => (a.type === 'play' ? a.frames : []));
    const a = played(owner.central.send('speaker', owner.channel.sealAudio(fs(5, 1)).record, T0 + 2));
    expect(a).toEqual([Uint8Array.of(0xf8, 1, 0)]); // playback starts with the 5th frame buffered
    // 60 ms later, no tick in between: frames 1..3 fell due at +20, +40, +60
    const b = played(owner.central.send('speaker', owner.channel.sealAudio(fs(5, 2)).record, T0 + 62));
    expect(b).toEqual([Uint8Array.of(0xf8, 1, 1), Uint8Array.of(0xf8, 1, 2), Uint8Array.of(0xf8, 1, 3)]);
    expect(toy.speakerStats).toMatchObject({ framesPlayed: 4, bufferedMs: 120, underruns: 0 });
  });
});

describe('a removal while a stranger is connected (PROTOCOL.md §10.4)', () => {
  it('the stranger (no session) is sent nothing; the remaining companion gets the new key; the actions are exactly these', () => {
    const { toy, identity, code, owner } = ownedToy();
    owner.request({ type: 'allow-guest-pairing' }, T0 + 1);
    toy.button('hold', T0 + 2);
    const guest = Session.pair(toy, identity.publicKey, code, 'guest', T0 + 3);
    owner.replies();
    const stranger = new FakeCentral(toy, 'stranger');
    stranger.connect(T0 + 4);
    const guestId = toy.pairings.find((p) => p.role === 'guest')!.companionKey;
    const out = owner.request({ type: 'remove-pairing', keyId: companionKeyId(guestId) }, T0 + 5);
    guest.central.absorb(out);
    stranger.absorb(out);
    expect(out.every((a) => typeof a === 'object' && a !== null)).toBe(true);
    expect(out.filter((a) => a.type === 'send' && a.connection === 'stranger')).toEqual([]);
    expect(stranger.received).toEqual([]);
    expect(stranger.disconnected).toBe(false);
    expect(out.map((a) => a.type + (a.type === 'send' || a.type === 'disconnect' ? `:${a.connection}` : ''))).toEqual([
      'persist',
      'send:owner', // ADVERTISING_KEY
      'send:owner', // RESULT OK
      'log',
      'send:guest', // GOODBYE
      'disconnect:guest',
      'advertise',
    ]);
    expect(owner.replies().map((m) => m.type)).toEqual(['advertising-key', 'result']);
    expect(out.find((a) => a.type === 'log')).toEqual({
      type: 'log',
      event: { kind: 'removed', companionKey: guestId, by: toy.pairings[0]!.companionKey, advertisingKey: 'rotated' },
    });
  });
});

describe('fragments that do not reassemble (PROTOCOL.md §4, §11)', () => {
  const logs = (out: ToyAction[]) => out.flatMap((a) => (a.type === 'log' ? [a.event] : []));

  it('before a session: a stray continuation is refused as malformed (the log names the fragment problem) and answered ERROR BAD_MESSAGE', () => {
    const { toy } = newToy();
    const c = new FakeCentral(toy, 'c');
    c.connect(T0);
    const out = c.write('control', Uint8Array.of(0x01, 0x05, 0x00), T0 + 1); // no FRAG_START
    expect(logs(out)).toEqual([{ kind: 'refused', connection: 'c', what: 'malformed', detail: expect.stringMatching(/fragment/) }]);
    expect(c.received).toEqual([{ kind: 'error', refusal: 'BAD_MESSAGE', retryAfterSec: 0 }]);
  });

  it('a refused message is skipped to its end, silently; a stray continuation after it is a new error, answered BAD_MESSAGE', () => {
    const { toy } = newToy();
    const c = new FakeCentral(toy, 'c', 23);
    c.connect(T0);
    const msg = new Uint8Array(50).fill(1);
    msg[0] = 0x06; // a RECORD before a session: refused at its first fragment
    const parts = c.frag.control.fragment(msg, 20);
    expect(parts.length).toBeGreaterThan(2);
    c.write('control', parts[0]!, T0 + 1);
    expect(c.received).toEqual([{ kind: 'error', refusal: 'NOT_AUTHENTICATED', retryAfterSec: 0 }]);
    for (const p of parts.slice(1)) expect(c.write('control', p, T0 + 2)).toEqual([]);
    expect(c.received).toHaveLength(1);
    // the refused message is over: a continuation now belongs to nothing
    c.write('control', parts[1]!, T0 + 3);
    expect(c.received.slice(1)).toEqual([{ kind: 'error', refusal: 'BAD_MESSAGE', retryAfterSec: 0 }]);
  });

  it('an empty write while a refused message is skipped is not one of its fragments: malformed, answered BAD_MESSAGE', () => {
    const { toy } = newToy();
    const c = new FakeCentral(toy, 'c', 23);
    c.connect(T0);
    const msg = new Uint8Array(50).fill(1);
    msg[0] = 0x06;
    const parts = c.frag.control.fragment(msg, 20);
    c.write('control', parts[0]!, T0 + 1);
    const malformed = toy.refusals.malformed;
    c.write('control', new Uint8Array(0), T0 + 2);
    expect(toy.refusals.malformed).toBe(malformed + 1);
    expect(c.received.slice(1)).toEqual([{ kind: 'error', refusal: 'BAD_MESSAGE', retryAfterSec: 0 }]);
  });

  it('inside a session: a stray continuation or a message of no known kind is refused as malformed and nothing is sent in the clear', () => {
    const { toy, owner } = ownedToy();
    const id = owner.central.id;
    const a = owner.central.write('control', Uint8Array.of(0x01, 0x05, 0x00), T0 + 1);
    expect(logs(a)).toEqual([{ kind: 'refused', connection: id, what: 'malformed', detail: expect.stringMatching(/fragment/) }]);
    const b = owner.central.send('control', Uint8Array.of(0x7f, 0x01), T0 + 2);
    expect(logs(b)).toEqual([{ kind: 'refused', connection: id, what: 'malformed', detail: expect.stringMatching(/kind/) }]);
    expect([...a, ...b].filter((x) => x.type === 'send' || x.type === 'disconnect')).toEqual([]);
    expect(toy.hasSession(id)).toBe(true);
  });

  it('speaker: a stray continuation inside a session is refused as malformed (the log names the fragment problem), nothing plays, the session goes on', () => {
    const { toy, owner } = ownedToy();
    const id = owner.central.id;
    const out = owner.central.write('speaker', Uint8Array.of(0x01, 0x05, 0x00), T0 + 1);
    expect(out).toEqual([{ type: 'log', event: { kind: 'refused', connection: id, what: 'malformed', detail: expect.stringMatching(/fragment/) } }]);
    expect(toy.hasSession(id)).toBe(true);
  });
});

describe('speaker status reports (PROTOCOL.md §13.6)', () => {
  const statusTimes = (toy: ToyCore, s: Session, from: number, to: number): number[] => {
    const times: number[] = [];
    for (let t = from; t <= to; t += 10) {
      s.central.absorb(toy.tick(t));
      if (s.replies().some((m) => m.type === 'speaker-status')) times.push(t - from);
    }
    return times;
  };

  it('while idle nothing is reported; while playing every 100 ms exactly', () => {
    const { toy, owner } = ownedToy();
    owner.request({ type: 'speaker-start', firstFrame: owner.channel.nextAudioFrame }, T0 + 1);
    expect(owner.replies().map((m) => m.type)).toEqual(['result', 'speaker-status']);
    expect(statusTimes(toy, owner, T0 + 10, T0 + 500)).toEqual([]); // idle: no change, not active
    const fs = Array.from({ length: 20 }, (_, i) => Uint8Array.of(0xf8, 0, i));
    owner.central.send('speaker', owner.channel.sealAudio(fs).record, T0 + 1000); // starts playing at +1000: a report
    expect(owner.replies().filter((m) => m.type === 'speaker-status')).toHaveLength(1);
    expect(statusTimes(toy, owner, T0 + 1010, T0 + 1350)).toEqual([90, 190, 290]);
  });

  it('audio outside a stream does not take the reports: the stream\'s session gets the status of a later SPEAKER_STOP', () => {
    const { toy, identity, code, owner } = ownedToy();
    owner.request({ type: 'allow-guest-pairing' }, T0 + 1);
    toy.button('hold', T0 + 2);
    const guest = Session.pair(toy, identity.publicKey, code, 'guest', T0 + 3);
    owner.replies();
    owner.request({ type: 'speaker-start', firstFrame: owner.channel.nextAudioFrame }, T0 + 4);
    owner.request({ type: 'speaker-end', lastFrame: owner.channel.nextAudioFrame }, T0 + 5); // nothing buffered: done at once
    expect(toy.speakerStats.state).toBe('done');
    owner.replies();
    guest.central.send('speaker', guest.channel.sealAudio([Uint8Array.of(0xf8, 1)]).record, T0 + 6);
    expect(toy.speakerStats.framesOutsideStream).toBe(1);
    owner.request({ type: 'speaker-stop' }, T0 + 7);
    guest.central.absorb(toy.tick(T0 + 8));
    expect(owner.replies().map((m) => m.type)).toEqual(['result', 'speaker-status']);
    expect(guest.replies().filter((m) => m.type === 'speaker-status')).toEqual([]);
  });
});

describe('inside a session, messages that are not requests (PROTOCOL.md §11, §13.9)', () => {
  const logs = (out: ToyAction[]) => out.flatMap((a) => (a.type === 'log' ? [a.event] : []));

  it('a plaintext kind inside a session is refused as malformed, naming the kind; no answer; the session goes on', () => {
    const { toy, owner } = ownedToy();
    const out = owner.central.send('control', encodeWire({ kind: 'info-request' }), T0 + 1);
    expect(logs(out)).toEqual([{ kind: 'refused', connection: owner.central.id, what: 'malformed', detail: 'info-request inside a session' }]);
    expect(out.filter((a) => a.type !== 'log')).toEqual([]);
    expect(toy.hasSession(owner.central.id)).toBe(true);
  });

  it('a toy-to-companion message is refused as malformed, naming its type', () => {
    const { owner } = ownedToy();
    const b = owner.central.send('control', owner.channel.sealControl({ type: 'goodbye', id: 0, reason: GoodbyeReason.PAIRING_REMOVED }), T0 + 2);
    expect(b.map((x) => x.type)).toEqual(['log']);
    expect(logs(b)).toEqual([{ kind: 'refused', connection: owner.central.id, what: 'malformed', detail: 'goodbye is toy-to-companion' }]);
  });
});

describe('handshake refusals (PROTOCOL.md §13.2, §13.4, §13.5)', () => {
  const logs = (out: ToyAction[]) => out.flatMap((a) => (a.type === 'log' ? [a.event] : []));

  it('the failure that closes the window logs it closed with the count of failed attempts', () => {
    const { toy, identity } = newToy({ config: { backoffBaseMs: 1 } });
    toy.button('hold', T0);
    const wrong = generateSetupCode();
    let last: ToyAction[] = [];
    for (let i = 0; i < 5; i++) {
      const c = new FakeCentral(toy, `g${i}`);
      c.connect(T0 + 1 + i * 1000); // past every backoff, inside the window
      last = companionHandshake(c, 'pair', generateX25519KeyPair(), identity.publicKey, wrong, T0 + 2 + i * 1000).actions;
      expect(logs(last)[0]).toMatchObject({ kind: 'refused', what: 'wrong-setup-code' });
    }
    expect(last.map((x) => x.type)).toEqual(['log', 'persist', 'log', 'advertise', 'send', 'disconnect']);
    expect(logs(last)).toContainEqual({ kind: 'pairing-window', open: false, reason: '5 failed attempts' });
    expect(toy.pairingWindowOpen(T0 + 2 + 4 * 1000)).toBe(false);
  });

  it('a reconnect of a companion not on the list is logged not-paired without detail; a message 1 made for another toy is bad-handshake with its detail', () => {
    const { toy, identity } = ownedToy();
    const stranger = new FakeCentral(toy, 'stranger');
    stranger.connect(T0 + 1);
    const a = companionHandshake(stranger, 'reconnect', generateX25519KeyPair(), identity.publicKey, undefined, T0 + 1);
    expect(logs(a.actions)).toEqual([{ kind: 'refused', connection: 'stranger', what: 'not-paired' }]);
    const other = new FakeCentral(toy, 'other');
    other.connect(T0 + 2);
    const b = companionHandshake(other, 'reconnect', generateX25519KeyPair(), generateX25519KeyPair().publicKey, undefined, T0 + 2);
    expect(logs(b.actions)).toEqual([{ kind: 'refused', connection: 'other', what: 'bad-handshake', detail: expect.stringMatching(/\S/) }]);
  });

  it('a full allow-list refuses the pairing with ALLOW_LIST_FULL and drops the connection', () => {
    const { toy, identity, code, owner } = ownedToy({ maxGuests: 0 });
    owner.request({ type: 'allow-guest-pairing' }, T0 + 1);
    toy.button('hold', T0 + 2);
    const c = new FakeCentral(toy, 'late');
    c.connect(T0 + 3);
    const out = companionHandshake(c, 'pair', generateX25519KeyPair(), identity.publicKey, code, T0 + 3).actions;
    expect(c.received).toEqual([{ kind: 'error', refusal: 'ALLOW_LIST_FULL', retryAfterSec: 0 }]);
    expect(out.filter((a) => a.type === 'disconnect')).toEqual([{ type: 'disconnect', connection: 'late', reason: expect.any(String) }]);
    expect(toy.connectionCount).toBe(1);
  });

  it('a superseded pairing whose first record is a request is dropped without running it or answering it', () => {
    const { toy, b, hb } = supersededPairing();
    expect(toy.pairings).toHaveLength(1);
    const out = b.send('control', hb.channel!.sealControl({ type: 'get-info', id: 1 }), T0 + 4);
    const got = b.received.filter((w) => w.kind === 'record').map((w) => hb.channel!.openControl((w as { record: Uint8Array }).record));
    expect(got).toEqual([{ type: 'goodbye', id: 0, reason: GoodbyeReason.PAIRING_SUPERSEDED }]);
    expect(out.filter((x) => x.type === 'disconnect').map((x) => (x as { connection: string }).connection)).toEqual(['b']);
    expect(toy.executed['get-info']).toBeUndefined();
  });
});

describe('speaker and microphone requests answer OK and are counted as executed (PROTOCOL.md §13.6, §13.7)', () => {
  it('SPEAKER_END plays what fell due at once and reports after its RESULT even when the state does not change; so does a second SPEAKER_STOP', () => {
    const { toy, owner } = ownedToy();
    const first = owner.channel.nextAudioFrame;
    owner.request({ type: 'speaker-start', firstFrame: first }, T0 + 1);
    const fs = Array.from({ length: 6 }, (_, i) => Uint8Array.of(0xf8, 0, i));
    owner.central.send('speaker', owner.channel.sealAudio(fs).record, T0 + 2); // playing from +2
    owner.replies();
    const end = owner.request({ type: 'speaker-end', lastFrame: first + 5 }, T0 + 42); // frames due at +22, +42
    expect(end.filter((a) => a.type === 'play')).toEqual([{ type: 'play', frames: [fs[1], fs[2]] }]);
    expect(owner.replies().map((m) => (m.type === 'result' ? `result:${m.status}` : m.type))).toEqual(['result:OK', 'speaker-status']);
    // a second END: the state stays draining, the report still comes
    const again = owner.request({ type: 'speaker-end', lastFrame: first + 5 }, T0 + 43); // nothing fell due since +42
    expect(again.filter((a) => a.type === 'play')).toEqual([]);
    expect(owner.replies().map((m) => m.type)).toEqual(['result', 'speaker-status']);
    expect(toy.executed['speaker-end']).toBe(2);
    owner.request({ type: 'speaker-stop' }, T0 + 44);
    owner.replies();
    owner.request({ type: 'speaker-stop' }, T0 + 45); // stopped → stopped
    expect(owner.replies().map((m) => m.type)).toEqual(['result', 'speaker-status']);
    expect(toy.executed['speaker-stop']).toBe(2);
  });

  it('MIC_STOP is executed both from the holder and from a session that does not hold the microphone', () => {
    const { toy, owner } = ownedToy();
    owner.request({ type: 'mic-stop' }, T0 + 1);
    expect(toy.executed['mic-stop']).toBe(1);
    owner.request({ type: 'mic-start' }, T0 + 2);
    owner.request({ type: 'mic-stop' }, T0 + 3);
    expect(toy.executed['mic-stop']).toBe(2);
    expect(toy.microphoneActive).toBe(false);
  });
});

describe('records that do not open (PROTOCOL.md §9, §13.9)', () => {
  it('a record too short to be one is malformed, with why: the session goes on; a replay is refused alone; a forgery ends the connection without a GOODBYE', () => {
    const { toy, owner } = ownedToy();
    const id = owner.central.id;
    const short = owner.central.send('control', encodeWire({ kind: 'record', record: Uint8Array.of(1, 2, 3) }), T0 + 1);
    expect(short).toEqual([{ type: 'log', event: { kind: 'refused', connection: id, what: 'malformed', detail: expect.stringMatching(/\S/) } }]);
    expect(toy.hasSession(id)).toBe(true);
    const wire = owner.channel.sealControl({ type: 'get-info', id: 9 });
    owner.central.send('control', wire, T0 + 2);
    owner.replies();
    const replay = owner.central.send('control', wire, T0 + 3);
    expect(replay).toEqual([{ type: 'log', event: { kind: 'refused', connection: id, what: 'replayed-record' } }]);
    const forged = owner.channel.sealControl({ type: 'get-info', id: 10 });
    forged[forged.length - 1]! ^= 1;
    const out = owner.central.send('control', forged, T0 + 4);
    expect(out.map((a) => a.type)).toEqual(['log', 'disconnect']);
    expect(out[0]).toEqual({ type: 'log', event: { kind: 'refused', connection: id, what: 'record-auth-failed' } });
    expect(owner.replies()).toEqual([]);
    expect(toy.connectionCount).toBe(0);
  });
});

describe('the actions of refusals and drops are exactly these', () => {
  it('a control message before a session: one log, one ERROR; a factory reset with a stranger connected: nothing sent to the stranger', () => {
    const { toy, owner } = ownedToy();
    const s = new FakeCentral(toy, 's');
    s.connect(T0 + 1);
    const refused = s.send('control', Uint8Array.of(0x06, 1, 2, 3), T0 + 2);
    expect(refused.map((a) => a.type)).toEqual(['log', 'send']);
    const reset = toy.button('reset', T0 + 3);
    const kinds = reset.map((a) => a.type + (a.type === 'send' || a.type === 'disconnect' ? `:${a.connection}` : ''));
    expect(kinds).toEqual([`send:${owner.central.id}`, `disconnect:${owner.central.id}`, 'disconnect:s', 'persist', 'log', 'advertise']);
  });
});

describe('requests carried out are counted as executed, and their answers are right (PROTOCOL.md §10.1, §10.3)', () => {
  it('GET_INFO, LIST_PAIRINGS (paired times in seconds), ALLOW_GUEST_PAIRING, REMOVE_PAIRING', () => {
    const { toy, owner } = ownedToy();
    owner.request({ type: 'get-info' }, T0 + 1);
    owner.request({ type: 'list-pairings' }, T0 + 2);
    const results = owner.replies().filter((m) => m.type === 'result') as Extract<ControlMessage, { type: 'result' }>[];
    expect(results.map((r) => r.status)).toEqual(['OK', 'OK']);
    expect(decodePairings(results[1]!.body)).toEqual([{ keyId: companionKeyId(toy.pairings[0]!.companionKey), role: 'owner', displayName: 'owner', pairedAt: Math.floor(T0 / 1000) }]);
    owner.request({ type: 'allow-guest-pairing' }, T0 + 3);
    owner.request({ type: 'remove-pairing', keyId: companionKeyId(toy.pairings[0]!.companionKey) }, T0 + 4);
    expect(toy.executed).toMatchObject({ 'get-info': 1, 'list-pairings': 1, 'allow-guest-pairing': 1, 'remove-pairing': 1 });
  });

  it('the last companion removing itself: the key is erased, the log says so, and nobody is sent a key', () => {
    const { toy, owner } = ownedToy();
    const key = toy.pairings[0]!.companionKey;
    const out = owner.request({ type: 'remove-pairing', keyId: companionKeyId(key) }, T0 + 1);
    expect(out.filter((a) => a.type === 'log')).toEqual([{ type: 'log', event: { kind: 'removed', companionKey: key, by: key, advertisingKey: 'erased' } }]);
    expect(toy.persistentState.advertisingKey).toBeUndefined();
    expect(owner.replies().map((m) => m.type)).toEqual(['result', 'goodbye']);
  });
});

describe('a removal while a pairing is pending (PROTOCOL.md §6.4, §10.4)', () => {
  it('the pending companion is not on the list: it is sent no key; the actions are exactly these', () => {
    const { toy, identity, code, owner } = ownedToy();
    owner.request({ type: 'allow-guest-pairing' }, T0 + 1);
    toy.button('hold', T0 + 2);
    const guest = Session.pair(toy, identity.publicKey, code, 'guest', T0 + 3);
    owner.request({ type: 'allow-guest-pairing' }, T0 + 4);
    toy.button('hold', T0 + 5);
    const pending = new FakeCentral(toy, 'pending');
    pending.connect(T0 + 6);
    expect(companionHandshake(pending, 'pair', generateX25519KeyPair(), identity.publicKey, code, T0 + 6, 'p', false).channel).toBeDefined();
    owner.replies();
    const guestKey = toy.pairings.find((p) => p.role === 'guest')!.companionKey;
    const out = owner.request({ type: 'remove-pairing', keyId: companionKeyId(guestKey) }, T0 + 7);
    expect(out.filter((a) => a.type === 'send' && a.connection === 'pending')).toEqual([]);
    expect(out.map((a) => a.type + (a.type === 'send' || a.type === 'disconnect' ? `:${a.connection}` : ''))).toEqual([
      'persist',
      'send:owner',
      'send:owner',
      'log',
      `send:${guest.central.id}`,
      `disconnect:${guest.central.id}`,
      'advertise',
    ]);
  });

  it('a removal re-advertises from a fresh address even when the rotated key gives the same service data', () => {
    // a random source that always gives the same bytes: the "fresh" key equals the old one
    const code = generateSetupCode();
    const toy = new ToyCore({ identity: generateX25519KeyPair(), setupCode: code, random: (n) => new Uint8Array(n).fill(7), now: T0 });
    toy.start(T0);
    toy.button('hold', T0);
    const owner = Session.pair(toy, toy.identity.publicKey, code, 'owner', T0);
    owner.request({ type: 'allow-guest-pairing' }, T0 + 1);
    toy.button('hold', T0 + 2);
    Session.pair(toy, toy.identity.publicKey, code, 'guest', T0 + 3);
    const keyBefore = toy.persistentState.advertisingKey;
    const guestKey = toy.pairings.find((p) => p.role === 'guest')!.companionKey;
    const adv = owner.request({ type: 'remove-pairing', keyId: companionKeyId(guestKey) }, T0 + 5).filter((a) => a.type === 'advertise');
    expect(toy.persistentState.advertisingKey).toBe(keyBefore);
    expect(adv).toHaveLength(1);
    expect(adv[0]).toMatchObject({ newAddress: true });
  });
});

describe('what the inputs answer, exactly', () => {
  it('start advertises once; a lock of exactly the longest backoff is kept as it is and not persisted (PROTOCOL.md §13.1)', () => {
    const state = { version: 1 as const, pairings: [], failedAttempts: 9, lockedUntil: T0 + 300_000, volume: 70 };
    const toy = new ToyCore({ identity: generateX25519KeyPair(), setupCode: generateSetupCode(), state, now: T0 });
    expect(toy.start(T0).map((a) => a.type)).toEqual(['advertise']);
    expect(toy.persistentState.lockedUntil).toBe(T0 + 300_000);
  });

  it('connect and a disconnect without microphone or speaker answer nothing; a hold answers its log and the advertisement', () => {
    const { toy } = newToy();
    expect(toy.connect('c', 247, T0)).toEqual([]);
    expect(toy.disconnect('c', T0)).toEqual([]);
    expect(toy.button('hold', T0).map((a) => a.type)).toEqual(['log', 'advertise']);
  });

  it('a speaker write before a session answers only its log; a first control fragment answers nothing until the message is whole', () => {
    const { toy } = newToy();
    const c = new FakeCentral(toy, 'c', 23);
    c.connect(T0);
    expect(c.write('speaker', Uint8Array.of(0xc0, 1, 2, 3), T0)).toEqual([{ type: 'log', event: { kind: 'refused', connection: 'c', what: 'speaker-write' } }]);
    toy.button('hold', T0);
    const parts = c.frag.control.fragment(Uint8Array.of(0x01, ...new Uint8Array(60).fill(3)), 20); // a pair-m1 in several fragments
    expect(c.write('control', parts[0]!, T0 + 1)).toEqual([]);
  });
});

describe('speaker writes inside a session (PROTOCOL.md §13.6)', () => {
  const fs = (n: number, tag: number) => Array.from({ length: n }, (_, i) => Uint8Array.of(0xf8, tag, i));

  it('a record in several fragments (MTU 23) is buffered whole, with no refusal; a write that plays nothing and changes nothing answers nothing', () => {
    const { toy, owner } = ownedToy(undefined, 23);
    owner.request({ type: 'speaker-start', firstFrame: owner.channel.nextAudioFrame }, T0 + 1);
    owner.replies();
    const out = owner.central.send('speaker', owner.channel.sealAudio(fs(3, 1)).record, T0 + 2);
    expect(out).toEqual([]); // 60 ms buffered: idle, nothing due, no state change
    expect(toy.speakerStats).toMatchObject({ state: 'idle', bufferedMs: 60 });
    expect(toy.refusals.malformed).toBe(0);
  });

  it('a state change is reported when it happens: the underrun\'s idle at the tick it occurs', () => {
    const { toy, owner } = ownedToy();
    owner.request({ type: 'speaker-start', firstFrame: owner.channel.nextAudioFrame }, T0 + 1);
    owner.central.send('speaker', owner.channel.sealAudio(fs(5, 1)).record, T0 + 1000); // playing from +1000
    owner.replies();
    owner.central.absorb(toy.tick(T0 + 1050)); // not yet 100 ms: no periodic report
    expect(owner.replies()).toEqual([]);
    owner.central.absorb(toy.tick(T0 + 1080)); // the 5th frame plays at +1080
    owner.central.absorb(toy.tick(T0 + 1099));
    expect(owner.replies().filter((m) => m.type === 'speaker-status')).toEqual([]);
    owner.central.absorb(toy.tick(T0 + 1100)); // due and none: underrun, idle (not an active state: reported as a change)
    owner.central.absorb(toy.tick(T0 + 1150)); // idle: nothing more
    expect(owner.replies().filter((m) => m.type === 'speaker-status').map((m) => (m as { state: string }).state)).toEqual(['idle']);
  });

  it('while draining the status comes every 100 ms too', () => {
    const { toy, owner } = ownedToy();
    owner.request({ type: 'speaker-start', firstFrame: owner.channel.nextAudioFrame }, T0 + 1);
    owner.central.send('speaker', owner.channel.sealAudio(fs(20, 1)).record, T0 + 1000);
    owner.request({ type: 'speaker-end', lastFrame: owner.channel.nextAudioFrame - 1 }, T0 + 1000);
    expect(toy.speakerStats.state).toBe('draining');
    owner.replies();
    const times: number[] = [];
    for (let t = T0 + 1010; t <= T0 + 1310; t += 10) {
      owner.central.absorb(toy.tick(t));
      if (owner.replies().some((m) => m.type === 'speaker-status')) times.push(t - T0 - 1000);
    }
    expect(toy.speakerStats.state).toBe('draining');
    expect(times).toEqual([100, 200, 300]);
  });

  it('another connection leaving does not take the reports from the stream\'s session', () => {
    const { toy, owner } = ownedToy();
    owner.request({ type: 'speaker-start', firstFrame: owner.channel.nextAudioFrame }, T0 + 1);
    owner.central.send('speaker', owner.channel.sealAudio(fs(10, 1)).record, T0 + 1000);
    owner.replies();
    toy.connect('passer-by', 247, T0 + 1010);
    toy.disconnect('passer-by', T0 + 1020);
    let n = 0;
    for (let t = T0 + 1030; t <= T0 + 1110; t += 10) {
      owner.central.absorb(toy.tick(t));
      n += owner.replies().filter((m) => m.type === 'speaker-status').length;
    }
    expect(n).toBe(1);
  });

  it('a superseded pairing whose first record is audio is dropped and its audio not taken', () => {
    const { toy, b, hb } = supersededPairing();
    const out = b.send('speaker', hb.channel!.sealAudio(fs(3, 1)).record, T0 + 4);
    expect(out.filter((x) => x.type === 'disconnect').map((x) => (x as { connection: string }).connection)).toEqual(['b']);
    expect(toy.speakerStats.framesOutsideStream).toBe(0);
  });
});

describe('the speaker\'s session is the connection, not its id (PROTOCOL.md §13.6)', () => {
  it('a new session on the id of a connection that streamed and left gets no status of that stream', () => {
    const { toy, identity, code } = newToy();
    toy.button('hold', T0);
    const kp = generateX25519KeyPair();
    const first = new FakeCentral(toy, 'x');
    first.connect(T0);
    const hs = companionHandshake(first, 'pair', kp, identity.publicKey, code, T0, 'owner');
    const ch = hs.channel!;
    first.send('control', ch.sealControl({ type: 'speaker-start', id: 2, firstFrame: ch.nextAudioFrame }), T0 + 1);
    first.send('speaker', ch.sealAudio(Array.from({ length: 10 }, (_, i) => Uint8Array.of(0xf8, i))).record, T0 + 1000);
    toy.disconnect('x', T0 + 1001);
    const again = new FakeCentral(toy, 'x');
    again.connect(T0 + 1002);
    const rc = companionHandshake(again, 'reconnect', kp, identity.publicKey, undefined, T0 + 1002, 'owner');
    expect(rc.channel).toBeDefined();
    for (let t = T0 + 1010; t <= T0 + 1400; t += 10) again.absorb(toy.tick(t)); // plays on, runs dry: state changes
    const statuses = again.received.filter((w) => w.kind === 'record').map((w) => rc.channel!.openControl((w as { record: Uint8Array }).record)).filter((m) => m.type === 'speaker-status');
    expect(statuses).toEqual([]);
  });
});

describe('sessions as they are set up (PROTOCOL.md §6.4, §8)', () => {
  const logs = (out: ToyAction[]) => out.flatMap((a) => (a.type === 'log' ? [a.event] : []));

  it('the microphone uses the audio formats the companion announced: equal frames travel smaller to a companion that reads them', () => {
    const size = (audioFormats: number | undefined): number => {
      const { toy, identity, code } = newToy();
      toy.button('hold', T0);
      const c = new FakeCentral(toy, 'c');
      c.connect(T0);
      const hs = new CompanionHandshake('pair', { companion: generateX25519KeyPair(), toyPublicKey: identity.publicKey, hello: { displayName: 'owner', ...(audioFormats === undefined ? {} : { audioFormats }) }, setupCode: code });
      c.send('control', hs.wireMessage1(), T0);
      const m2 = c.last();
      if (m2?.kind !== 'pair-m2') throw new Error('no message 2');
      const ch = new SecureChannel(hs.readMessage2(m2.noise).keys);
      c.send('control', ch.sealControl({ type: 'mic-start', id: 1 }), T0 + 1);
      const out: ToyAction[] = [];
      for (let i = 0; i < 4; i++) out.push(...toy.micFrame(frame(10, i), T0 + 2 + i));
      const { values, batches } = micRecords(out, 'c', ch);
      expect(batches).toEqual([[frame(10, 0), frame(10, 1), frame(10, 2), frame(10, 3)]]);
      return values.reduce((a, b) => a + b, 0);
    };
    expect(size(AUDIO_FORMATS_SUPPORTED)).toBeLessThan(size(undefined));
    expect(size(AUDIO_FORMATS_V1)).toBe(size(undefined));
  });

  it('a pairing\'s confirmation logs paired, the window closed and the session, once; later records log nothing', () => {
    const { toy, identity, code } = newToy();
    toy.button('hold', T0);
    const c = new FakeCentral(toy, 'c');
    c.connect(T0);
    const hs = companionHandshake(c, 'pair', generateX25519KeyPair(), identity.publicKey, code, T0, 'Mia', false);
    const confirmed = c.send('control', hs.channel!.sealControl({ type: 'confirm', id: 1 }), T0 + 1);
    expect(logs(confirmed)).toEqual([
      { kind: 'paired', connection: 'c', role: 'owner', displayName: 'Mia' },
      { kind: 'pairing-window', open: false, reason: 'paired' },
      { kind: 'session', connection: 'c', mode: 'pair', displayName: 'Mia' },
    ]);
    expect(logs(c.send('control', hs.channel!.sealControl({ type: 'get-battery', id: 2 }), T0 + 2))).toEqual([]);
    expect(toy.executed['get-battery']).toBe(1);
  });

  it('a reconnect logs the stored name, not the one its hello brings, and is not sent the key its hello already carried', () => {
    const { toy, identity, code } = newToy();
    toy.button('hold', T0);
    const kp = generateX25519KeyPair();
    const c = new FakeCentral(toy, 'c');
    c.connect(T0);
    companionHandshake(c, 'pair', kp, identity.publicKey, code, T0, 'Mia');
    toy.disconnect('c', T0 + 1);
    const r = new FakeCentral(toy, 'r');
    r.connect(T0 + 2);
    const hs = companionHandshake(r, 'reconnect', kp, identity.publicKey, undefined, T0 + 2, 'Someone else');
    expect(hs.reply?.kind).toBe('reconnect-m2');
    expect(logs(hs.actions)).toEqual([{ kind: 'session', connection: 'r', mode: 'reconnect', displayName: 'Mia' }]);
    const records = r.received.filter((w) => w.kind === 'record').map((w) => hs.channel!.openControl((w as { record: Uint8Array }).record));
    expect(records).toEqual([]);
  });
});

describe('requests that change the toy answer OK and are counted (PROTOCOL.md §10.1, §13.8)', () => {
  it('SET_VOLUME persists the volume and answers it; SPEAKER_START and MIC_START are counted as executed', () => {
    const { toy, owner } = ownedToy();
    const out = owner.request({ type: 'set-volume', volume: 33 }, T0 + 1);
    expect(out[0]).toEqual({ type: 'persist', state: expect.objectContaining({ volume: 33 }) });
    const [r] = owner.replies();
    expect(r).toMatchObject({ type: 'result', status: 'OK', body: Uint8Array.of(33) });
    owner.request({ type: 'speaker-start', firstFrame: owner.channel.nextAudioFrame }, T0 + 2);
    owner.request({ type: 'mic-start' }, T0 + 3);
    expect(toy.executed).toMatchObject({ 'set-volume': 1, 'speaker-start': 1, 'mic-start': 1 });
  });

  it('a reconnect\'s actions are exactly its message 2 and, at its confirmation, the session log', () => {
    const { toy, identity, code } = newToy();
    toy.button('hold', T0);
    const kp = generateX25519KeyPair();
    const c = new FakeCentral(toy, 'c');
    c.connect(T0);
    companionHandshake(c, 'pair', kp, identity.publicKey, code, T0, 'Mia');
    const r = new FakeCentral(toy, 'r');
    r.connect(T0 + 2);
    const hs = companionHandshake(r, 'reconnect', kp, identity.publicKey, undefined, T0 + 2, 'Mia');
    expect(hs.actions.map((a) => a.type)).toEqual(['send', 'log']);
  });
});

describe('advertising within a slot (PROTOCOL.md §12)', () => {
  const advs = (out: ToyAction[]) => out.filter((a): a is Extract<ToyAction, { type: 'advertise' }> => a.type === 'advertise');

  it('an owned toy: a new slot starts at change 0; window changes count up to 7 and no further; identical data keeps the address', () => {
    const { toy, owner } = ownedToy({ guestGrantMs: 3_600_000, pairingWindowMs: 1000 });
    const key = fromHex(toy.persistentState.advertisingKey!);
    owner.request({ type: 'allow-guest-pairing' }, T0 + 1);
    const slot0 = advertisingSlot(T0);
    const start = (slot0 + 1) * ADV_SLOT_SECONDS * 1000; // the next slot's first ms
    const boundary = advs(toy.tick(start));
    expect(boundary).toHaveLength(1);
    expect(boundary[0]!.serviceData.slice(1)).toEqual(advertisingTag(key, slot0 + 1, 0));
    let t = start;
    const changes: number[] = [];
    for (let i = 0; i < 6; i++) {
      const open = advs(toy.button('hold', (t += 10)));
      expect(open).toHaveLength(1);
      expect(open[0]!.newAddress).toBe(true);
      // a hold inside the open window: the same data again, from the same address
      const again = advs(toy.button('hold', (t += 10)));
      expect(again).toHaveLength(1);
      expect(again[0]!.serviceData).toEqual(open[0]!.serviceData);
      expect(again[0]!.newAddress).toBeUndefined();
      const closed = advs(toy.tick((t += 1100)));
      expect(closed).toHaveLength(1);
      for (const a of [open[0]!, closed[0]!]) {
        const n = [0, 1, 2, 3, 4, 5, 6, 7].find((k) => bytesEqual(advertisingTag(key, slot0 + 1, k), a.serviceData.slice(1)));
        expect(n, `tag of change ${changes.length}`).toBeDefined();
        changes.push(n!);
      }
    }
    expect(advertisingSlot(t)).toBe(slot0 + 1);
    expect(changes).toEqual([1, 2, 3, 4, 5, 6, 7, 7, 7, 7, 7, 7]);
  });
});
