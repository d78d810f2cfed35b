/**
 * The rules PROTOCOL.md v1.1 made exact where v1 left a firmware author to guess (the changelog
 * lists them), each pinned on the reference toy or companion. The byte-level ones are also in the
 * vector files (control.json refusalsBeforeSession and invalidControl, handshakes.json
 * message1Lengths and toyHelloDecoding, records.json audioReceiveSequence, setup-codes.json).
 */
import { describe, expect, it } from 'vitest';
import { encodeAudioPayload } from '../../../src/protocol/audio-record.js';
import { SecureChannel } from '../../../src/protocol/channel.js';
import { decodeBattery, decodeToyInfo, encodeControl, type ControlMessage } from '../../../src/protocol/control.js';
import { generateX25519KeyPair } from '../../../src/protocol/crypto.js';
import { isPlushlinkError } from '../../../src/protocol/errors.js';
import { Fragmenter } from '../../../src/protocol/fragment.js';
import { CompanionHandshake } from '../../../src/protocol/handshake.js';
import { channelKey, RecordSender } from '../../../src/protocol/record.js';
import { encodeWire } from '../../../src/protocol/wire.js';
import type { ToyAction } from '../../../src/toy/types.js';
import { makeRig } from '../../helpers/rig.js';
import { FakeCentral, T0, newToy } from '../../property/helpers/toy-harness.js';

/** An owner connection on a ToyCore whose records the test seals itself (any plaintext, any counter). */
function session(opts: { confirm?: boolean } = {}) {
  const { toy, identity, code } = newToy();
  toy.button('hold', T0);
  const central = new FakeCentral(toy, 'owner');
  central.connect(T0);
  const hs = new CompanionHandshake('pair', { companion: generateX25519KeyPair(), toyPublicKey: identity.publicKey, hello: { displayName: 'owner' }, setupCode: code });
  central.send('control', hs.wireMessage1(), T0);
  const m2 = central.last();
  if (m2?.kind !== 'pair-m2') throw new Error(`no message 2: ${m2?.kind}`);
  const { keys } = hs.readMessage2(m2.noise);
  const control = new RecordSender(channelKey(keys.sendKey, 'control'));
  const audioKey = channelKey(keys.sendKey, 'audio');
  const audio = new RecordSender(audioKey);
  const reader = new SecureChannel(keys);
  let read = central.received.length;
  const replies = (): ControlMessage[] => {
    const out: ControlMessage[] = [];
    for (const w of central.received.slice(read)) if (w.kind === 'record') out.push(reader.openControl(w.record));
    read = central.received.length;
    return out;
  };
  const sendControl = (plaintext: Uint8Array, now: number): ToyAction[] => central.send('control', encodeWire({ kind: 'record', record: control.seal(plaintext) }), now);
  const sendAudio = (frames: Uint8Array[], now: number, at?: number): ToyAction[] => {
    if (at !== undefined && at > audio.counter) audio.seal(new Uint8Array([1, 1]), at - audio.counter); // skip counters (discarded record)
    return central.send('speaker', audio.seal(encodeAudioPayload(frames), frames.length), now);
  };
  if (opts.confirm !== false) {
    sendControl(encodeControl({ type: 'confirm', id: 1 }), T0);
    replies();
  }
  /** The audio record at counter `at` (one frame): what a replayer of that record would hold. */
  const audioAt = (at: number): Uint8Array => {
    const r = new RecordSender(audioKey);
    if (at > 0) r.seal(new Uint8Array([1, 1]), at);
    return r.seal(encodeAudioPayload(frames(1)), 1);
  };
  return { toy, central, sendControl, sendAudio, replies, audioAt };
}

const frames = (n: number, from = 0): Uint8Array[] => Array.from({ length: n }, (_, i) => new Uint8Array([0xf8, from + i, 0, 0]));
const status = (ms: ControlMessage[]): string[] => ms.filter((m) => m.type === 'speaker-status').map((m) => (m.type === 'speaker-status' ? m.state : ''));

describe('PROTOCOL.md v1.1: refusals before a session (§4, §11)', () => {
  it('a RECORD in two fragments gets one NOT_AUTHENTICATED, and the next message is answered normally', () => {
    const { toy, identity } = newToy();
    const c = new FakeCentral(toy, 'stranger', 23);
    c.connect(T0);
    const f = new Fragmenter();
    const forged = encodeWire({ kind: 'record', record: new Uint8Array(30).fill(7) });
    for (const v of f.fragment(forged, 20)) c.write('control', v, T0);
    expect(c.received).toEqual([{ kind: 'error', refusal: 'NOT_AUTHENTICATED', retryAfterSec: 0 }]);
    expect(toy.refusals['control-before-session']).toBe(1);
    expect(toy.refusals.malformed).toBe(0);
    // the fragment counter moved on: a pairing message 1 right after is read (refused: no window)
    const hs = new CompanionHandshake('pair', { companion: generateX25519KeyPair(), toyPublicKey: identity.publicKey, hello: { displayName: 'x' }, setupCode: { secret: '0'.repeat(22) } });
    for (const v of f.fragment(hs.wireMessage1(), 20)) c.write('control', v, T0);
    expect(c.received.at(-1)).toEqual({ kind: 'error', refusal: 'NOT_IN_PAIRING_MODE', retryAfterSec: 0 });
    expect(c.received).toHaveLength(2);
  });

  it('an unknown kind is NOT_AUTHENTICATED, like every kind that is not a handshake kind', () => {
    const { toy } = newToy();
    const c = new FakeCentral(toy, 'stranger');
    c.connect(T0);
    for (const kind of [0x00, 0x02, 0x04, 0x06, 0x07, 0x0f, 0x10, 0x7f, 0xff]) c.send('control', new Uint8Array([kind, 1, 2, 3]), T0);
    expect(c.received.map((m) => (m.kind === 'error' ? m.refusal : m.kind))).toEqual(Array(9).fill('NOT_AUTHENTICATED'));
  });
});

describe('PROTOCOL.md v1.1: CONFIRM and RESULT (§6.4, §10)', () => {
  it('a CONFIRM with an id other than 1 is malformed: it does not confirm and gets no answer; the deadline still ends the connection', () => {
    const s = session({ confirm: false });
    s.sendControl(encodeControl({ type: 'confirm', id: 1 }).map((x, i) => (i === 1 ? 2 : x)), T0 + 10);
    expect(s.replies()).toEqual([]);
    expect(s.toy.pairings).toEqual([]);
    s.central.absorb(s.toy.tick(T0 + 6000));
    expect(s.central.disconnected).toBe(true);
    expect(s.central.last()).toEqual({ kind: 'error', refusal: 'TIMEOUT', retryAfterSec: 0 });
  });

  it('on a confirmed connection a CONFIRM with another id is dropped too, never answered (CONFIRM gets no RESULT)', () => {
    const s = session();
    s.sendControl(new Uint8Array([0x0c, 7]), T0 + 10);
    s.sendControl(new Uint8Array([0x0c, 1]), T0 + 20);
    expect(s.replies()).toEqual([]);
    expect(s.central.disconnected).toBe(false);
  });

  it('the companion drops a non-OK RESULT that carries a body, and decodes an OK body only against its own request', async () => {
    const rig = await makeRig();
    try {
      const app = await rig.newCompanion('parent');
      rig.toy.pressButton('hold');
      const s = await app.pair(rig.toyId, rig.qr);
      // the battery body (2 bytes) read as toy info: BAD_CONTROL_MESSAGE, not a wrong answer
      const battery = await s.request({ type: 'get-battery' });
      expect(decodeBattery(battery.body).percent).toBeGreaterThanOrEqual(0);
      expect(() => decodeToyInfo(battery.body)).toThrow(expect.objectContaining({ code: 'BAD_CONTROL_MESSAGE' }));
      await s.close();
    } finally {
      await rig.close();
    }
    const { decodeControl } = await import('../../../src/protocol/control.js');
    let err: unknown;
    try {
      decodeControl(new Uint8Array([0x80, 9, 2, 0]));
    } catch (e) {
      err = e;
    }
    expect(isPlushlinkError(err, 'BAD_CONTROL_MESSAGE')).toBe(true);
  });
});

describe('PROTOCOL.md v1.1: the speaker (§8.3, §9, §13.6)', () => {
  it('SPEAKER_END after an underrun emptied the buffer reports done at once', () => {
    const s = session();
    s.sendControl(encodeControl({ type: 'speaker-start', id: 2, firstFrame: 0 }), T0);
    s.sendAudio(frames(5), T0);
    s.central.absorb(s.toy.tick(T0));
    // 5 frames play in 100 ms; at 300 ms the buffer ran dry: an underrun, the speaker idles
    for (let t = T0 + 10; t <= T0 + 300; t += 10) s.central.absorb(s.toy.tick(t));
    expect(s.toy.speakerStats).toMatchObject({ state: 'idle', bufferedMs: 0, underruns: 1 });
    s.replies();
    s.sendControl(encodeControl({ type: 'speaker-end', id: 3, lastFrame: 4 }), T0 + 310);
    const got = s.replies();
    expect(got.filter((m) => m.type === 'result')).toEqual([{ type: 'result', id: 3, status: 'OK', body: new Uint8Array(0) }]);
    expect(status(got)).toEqual(['done']);
    expect(s.toy.speakerStats.state).toBe('done');
  });

  it('SPEAKER_END with no audio at all reports done at once', () => {
    const s = session();
    s.sendControl(encodeControl({ type: 'speaker-start', id: 2, firstFrame: 0 }), T0);
    s.replies();
    s.sendControl(encodeControl({ type: 'speaker-end', id: 3, lastFrame: 0 }), T0 + 5);
    expect(status(s.replies())).toEqual(['done']);
  });

  it('SPEAKER_START does not touch the replay window: records are judged by their counter alone; the first frame only sets where the loss count starts', () => {
    const s = session();
    // announced far ahead of the companion's counter: records below it still open and play
    s.sendControl(encodeControl({ type: 'speaker-start', id: 2, firstFrame: 1000 }), T0);
    s.sendAudio(frames(5), T0);
    expect(s.toy.refusals['replayed-record']).toBe(0);
    expect(s.toy.speakerStats.framesLost).toBe(0);
    // announced behind it: the next record (counter 5) is not a replay either
    s.sendControl(encodeControl({ type: 'speaker-start', id: 3, firstFrame: 0 }), T0 + 1);
    s.sendAudio(frames(2, 5), T0 + 1);
    expect(s.toy.refusals['replayed-record']).toBe(0);
    expect(s.toy.speakerStats.framesLost).toBe(5); // frames 0..4 of the new stream never came
    // a record below the receiver's last counter is a replay, whatever SPEAKER_START said
    s.sendControl(encodeControl({ type: 'speaker-start', id: 4, firstFrame: 3 }), T0 + 2);
    const before = s.toy.refusals['replayed-record'];
    s.central.send('speaker', s.audioAt(3), T0 + 2);
    expect(s.toy.refusals['replayed-record']).toBe(before + 1);
  });
});
