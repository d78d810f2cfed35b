/**
 * What the toy answers inside a session to requests it cannot carry out (PROTOCOL.md §10.2,
 * §13.9): a request its capabilities exclude gets RESULT UNSUPPORTED and changes nothing; an
 * authenticated control plaintext that does not decode gets RESULT BAD_REQUEST (known type)
 * or UNSUPPORTED (unknown type) on a confirmed connection, and nothing on an unconfirmed one
 * (it does not confirm it either). The companion reports UNSUPPORTED as its own error code.
 */
import { describe, expect, it } from 'vitest';
import { SecureChannel } from '../../../src/protocol/channel.js';
import { encodeControl, type ControlMessage } from '../../../src/protocol/control.js';
import { generateX25519KeyPair } from '../../../src/protocol/crypto.js';
import { Capability, CompanionHandshake } from '../../../src/protocol/handshake.js';
import { channelKey, RecordSender } from '../../../src/protocol/record.js';
import { encodeWire } from '../../../src/protocol/wire.js';
import type { ToyAction } from '../../../src/toy/types.js';
import { makeRig } from '../../helpers/rig.js';
import { FakeCentral, T0, newToy } from '../../property/helpers/toy-harness.js';

/** A paired owner connection that can seal any control plaintext, valid or not. */
function session(capabilities: number, confirm = true) {
  const { toy, identity, code } = newToy({ config: { capabilities } });
  toy.button('hold', T0);
  const central = new FakeCentral(toy, 'owner');
  central.connect(T0);
  const hs = new CompanionHandshake('pair', { companion: generateX25519KeyPair(), toyPublicKey: identity.publicKey, hello: { displayName: 'owner' }, setupCode: code });
  central.send('control', encodeWire({ kind: 'pair-m1', noise: hs.message1 }), T0);
  const m2 = central.last();
  if (m2?.kind !== 'pair-m2') throw new Error(`no message 2: ${m2?.kind}`);
  const { keys } = hs.readMessage2(m2.noise);
  const sender = new RecordSender(channelKey(keys.sendKey, 'control'));
  const reader = new SecureChannel(keys);
  let read = central.received.length;
  /** Seals `plaintext` as the next control record, delivers it, returns the toy's actions and the control messages it answered. */
  const send = (plaintext: Uint8Array): { actions: ToyAction[]; replies: ControlMessage[] } => {
    const actions = central.send('control', encodeWire({ kind: 'record', record: sender.seal(plaintext) }), T0 + 100);
    const replies: ControlMessage[] = [];
    for (const w of central.received.slice(read)) if (w.kind === 'record') replies.push(reader.openControl(w.record));
    read = central.received.length;
    return { actions, replies };
  };
  if (confirm) send(encodeControl({ type: 'confirm', id: 1 }));
  return { toy, central, send };
}

const req = (m: ControlMessage): Uint8Array => encodeControl(m);
const results = (replies: ControlMessage[]) => replies.filter((r) => r.type === 'result').map((r) => (r.type === 'result' ? { id: r.id, status: r.status } : undefined));

describe('toy: requests its capabilities exclude', () => {
  it('a toy without a microphone answers MIC_START / MIC_STOP with UNSUPPORTED and never opens the microphone', () => {
    const { toy, send } = session(Capability.SPEAKER | Capability.VOLUME);
    for (const [i, m] of [{ type: 'mic-start' }, { type: 'mic-stop' }, { type: 'get-battery' }].entries()) {
      const { actions, replies } = send(req({ ...(m as { type: 'mic-start' }), id: 10 + i }));
      expect(results(replies)).toEqual([{ id: 10 + i, status: 'UNSUPPORTED' }]);
      expect(actions.some((a) => a.type === 'microphone')).toBe(false);
    }
    expect(toy.microphoneActive).toBe(false);
    expect(toy.executed['mic-start'] ?? 0).toBe(0);
    // what it has still works
    expect(results(send(req({ type: 'set-volume', id: 20, volume: 40 })).replies)).toEqual([{ id: 20, status: 'OK' }]);
  });

  it('a toy without a speaker or volume control answers their requests with UNSUPPORTED and plays nothing', () => {
    const { toy, send } = session(Capability.MICROPHONE | Capability.BATTERY);
    const before = toy.persistentState.volume;
    const msgs: ControlMessage[] = [
      { type: 'speaker-start', id: 1, firstFrame: 0 },
      { type: 'speaker-end', id: 2, lastFrame: 3 },
      { type: 'speaker-stop', id: 3 },
      { type: 'set-volume', id: 4, volume: 10 },
    ];
    for (const m of msgs) {
      const { actions, replies } = send(req(m));
      expect(results(replies)).toEqual([{ id: m.id, status: 'UNSUPPORTED' }]);
      expect(actions.some((a) => a.type === 'play' || a.type === 'persist')).toBe(false);
    }
    expect(toy.persistentState.volume).toBe(before);
    expect(results(send(req({ type: 'mic-start', id: 5 })).replies)).toEqual([{ id: 5, status: 'OK' }]);
  });
});

describe('toy: authenticated requests that do not decode', () => {
  it('a known type with a bad body gets BAD_REQUEST, an unknown type UNSUPPORTED, each with its id; the session goes on', () => {
    const { toy, send, central } = session(15);
    const volume = toy.persistentState.volume;
    expect(results(send(new Uint8Array([0x06, 7, 101])).replies)).toEqual([{ id: 7, status: 'BAD_REQUEST' }]); // volume 101
    expect(results(send(new Uint8Array([0x08, 8, 0])).replies)).toEqual([{ id: 8, status: 'BAD_REQUEST' }]); // GET_INFO with a trailing byte
    expect(results(send(new Uint8Array([0x0a, 9, 1, 2])).replies)).toEqual([{ id: 9, status: 'BAD_REQUEST' }]); // REMOVE_PAIRING, short key id
    expect(results(send(new Uint8Array([0x3f, 10])).replies)).toEqual([{ id: 10, status: 'UNSUPPORTED' }]); // no such request
    expect(results(send(new Uint8Array([0x00, 11])).replies)).toEqual([{ id: 11, status: 'UNSUPPORTED' }]);
    // no answer without a request id to answer
    for (const p of [[], [0x06], [0x06, 0, 50], [0x80, 0, 9], [0x99, 3]]) expect(send(new Uint8Array(p)).replies, JSON.stringify(p)).toEqual([]);
    expect(toy.persistentState.volume).toBe(volume);
    expect(central.disconnected).toBe(false);
    expect(toy.hasSession('owner')).toBe(true);
    expect(results(send(req({ type: 'get-battery', id: 12 })).replies)).toEqual([{ id: 12, status: 'OK' }]);
  });

  it('each is logged as a malformed refusal with why it does not decode', () => {
    const { send } = session(0xff);
    const { actions } = send(new Uint8Array([0x3f, 10]));
    const logs = actions.flatMap((a) => (a.type === 'log' ? [a.event] : []));
    expect(logs).toEqual([{ kind: 'refused', connection: 'owner', what: 'malformed', detail: expect.stringMatching(/\S/) }]);
  });

  it('on an unconfirmed connection it gets no answer and does not confirm the pairing', () => {
    const { toy, send } = session(15, false);
    expect(send(new Uint8Array([0x06, 7, 101])).replies).toEqual([]);
    expect(send(new Uint8Array([0x3f, 10])).replies).toEqual([]);
    expect(toy.pairings).toEqual([]);
    // the first record that decodes confirms it
    const { replies } = send(req({ type: 'get-battery', id: 2 }));
    expect(results(replies)).toEqual([{ id: 2, status: 'OK' }]);
    expect(toy.pairings.map((p) => p.role)).toEqual(['owner']);
  });
});

/** A running toy with these capabilities on the in-memory radio, and an owner's session to it. */
async function pairedWith(capabilities: number) {
  const rig = await makeRig({ config: { capabilities } });
  const app = await rig.newCompanion();
  rig.toy.pressButton('hold');
  return { rig, s: await app.pair(rig.toyId, rig.qr) };
}

describe('companion: UNSUPPORTED reaches the app as its own error code', () => {
  it('microphone.start() on a toy without a microphone rejects with UNSUPPORTED; what the toy has still works', async () => {
    const { rig, s } = await pairedWith(Capability.SPEAKER | Capability.VOLUME | Capability.BATTERY);
    try {
      expect(s.toy.capabilities & Capability.MICROPHONE).toBe(0);
      await expect(s.request({ type: 'mic-start' })).resolves.toMatchObject({ status: 'UNSUPPORTED' });
      const listeners = ['audio', 'mic-status', 'close'].map((e) => s.listenerCount(e as 'audio'));
      await expect(s.microphone.start()).rejects.toMatchObject({ code: 'UNSUPPORTED' });
      expect(['audio', 'mic-status', 'close'].map((e) => s.listenerCount(e as 'audio'))).toEqual(listeners);
      expect(rig.toy.core.microphoneActive).toBe(false);
      await s.setVolume(30);
      await s.close();
    } finally {
      await rig.close();
    }
  });

  it('speaker.play() on a toy without a speaker rejects with UNSUPPORTED before sending audio', async () => {
    const { rig, s } = await pairedWith(Capability.MICROPHONE | Capability.VOLUME | Capability.BATTERY);
    try {
      async function* packets(): AsyncGenerator<Uint8Array> {
        for (let i = 0; i < 10; i++) yield new Uint8Array([0x08, i, 0xaa]); // SILK NB 20 ms, code 0
      }
      const listeners = s.listenerCount('speaker-status');
      await expect(s.speaker.play({ packets: packets() })).rejects.toMatchObject({ code: 'UNSUPPORTED' });
      expect(s.listenerCount('speaker-status')).toBe(listeners);
      expect(rig.toy.core.refusals['speaker-write']).toBe(0);
      expect(rig.toy.core.speakerStats.framesPlayed).toBe(0);
      await s.close();
    } finally {
      await rig.close();
    }
  });
});
