/**
 * docs/SECURITY.md properties 1 and 7: every inbound byte path of the toy
 * (ToyCore.write on control and speaker, before and after a session) and of the companion
 * (ToyLink data events → ToySession) takes random, truncated, oversized and bit-flipped input
 * without an exception escaping, and input from an unauthenticated connection changes none of
 * the toy's state (pairings, volume, advertising key, executed requests, speaker, microphone).
 * The only persistent fields a stranger moves are the brute-force counters, and only upwards.
 */
import { advertisingSlot } from '../../src/protocol/advertising.js';
import fc from 'fast-check';
import { EventEmitter } from 'eventemitter3';
import { describe, expect, it } from 'vitest';
import { SecureChannel } from '../../src/protocol/channel.js';
import { generateX25519KeyPair } from '../../src/protocol/crypto.js';
import { PlushlinkError } from '../../src/protocol/errors.js';
import { Fragmenter } from '../../src/protocol/fragment.js';
import { CompanionHandshake } from '../../src/protocol/handshake.js';
import { generateSetupCode } from '../../src/protocol/setup-code.js';
import { encodeWire, type WireMessage } from '../../src/protocol/wire.js';
import type { ToyAction } from '../../src/toy/types.js';
import { ToyLink } from '../../src/companion/toy-link.js';
import { ToySession } from '../../src/companion/session.js';
import type { CentralLink, CentralLinkEvents, NotifyingCharacteristic, WritableCharacteristic } from '../../src/transport/types.js';
import { FakeCentral, T0, companionHandshake, newToy } from './helpers/toy-harness.js';

const SEED = 42;

type Mutation = { kind: 'none' } | { kind: 'flip'; pos: number; mask: number } | { kind: 'truncate'; len: number } | { kind: 'extend'; extra: Uint8Array } | { kind: 'oversize' };
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), len: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
  fc.record({ kind: fc.constant('oversize' as const) }),
);
function mutate(m: Uint8Array, mu: Mutation): Uint8Array {
  switch (mu.kind) {
    case 'none':
      return m;
    case 'flip': {
      const out = Uint8Array.from(m);
      const p = mu.pos % m.length;
      out[p] = out[p]! ^ mu.mask;
      return out;
    }
    case 'truncate':
      return m.slice(0, mu.len % m.length);
    case 'extend':
      return new Uint8Array([...m, ...mu.extra]);
    case 'oversize': {
      const out = new Uint8Array(1500);
      out.set(m);
      return out;
    }
  }
}

/** One inbound event: a raw ATT value, or a (mutated) corpus message fragmented properly. */
const inbound = fc.record({
  ch: fc.constantFrom<'control' | 'speaker'>('control', 'speaker'),
  what: fc.oneof(
    fc.record({ kind: fc.constant('raw' as const), value: fc.oneof(fc.uint8Array({ maxLength: 30 }), fc.uint8Array({ maxLength: 600 })) }),
    fc.record({ kind: fc.constant('corpus' as const), index: fc.nat(), mu: fc.oneof(mutation, fc.constant<Mutation>({ kind: 'none' })) }),
  ),
  dt: fc.integer({ min: 0, max: 400 }),
});
type Inbound = typeof inbound extends fc.Arbitrary<infer T> ? T : never;

function snapshot(toy: ReturnType<typeof newToy>['toy']) {
  const s = toy.persistentState;
  return {
    pairings: s.pairings,
    advertisingKey: s.advertisingKey,
    volume: s.volume,
    failedAttempts: s.failedAttempts,
    lockedUntil: s.lockedUntil,
    executed: { ...toy.executed },
    speaker: toy.speakerStats,
    mic: toy.microphoneActive,
  };
}

function forbidden(actions: ToyAction[]): ToyAction | undefined {
  return actions.find((a) => a.type === 'play' || (a.type === 'microphone' && a.active));
}

describe('toy: every inbound byte path', () => {
  it('random / truncated / oversized / bit-flipped input never throws and an unauthenticated connection changes nothing', () => {
    const refusals: Record<string, number> = {};
    fc.assert(
      fc.property(
        fc.array(inbound, { minLength: 1, maxLength: 14 }),
        fc.boolean(),
        fc.constantFrom(23, 27, 185, 247, 517),
        fc.constantFrom<'stranger' | 'session'>('stranger', 'stranger', 'session'),
        (inputs, windowOpen, mtu, target) => {
          const { toy, identity, code } = newToy();
          let now = T0;
          // the owner pairs, then reconnects later as a separate session
          toy.button('hold', now);
          const owner = generateX25519KeyPair();
          const o = new FakeCentral(toy, 'owner', 247);
          o.connect(now);
          const paired = companionHandshake(o, 'pair', owner, identity.publicKey, code, now, 'owner');
          expect(paired.channel).toBeDefined();
          const channel = paired.channel!;
          if (windowOpen) toy.button('hold', now); // has an owner: no window without a guest grant
          // a stranger connection (no session) and the owner's session are both targets
          const s = new FakeCentral(toy, 'stranger', mtu);
          s.connect(now);
          const victim = target === 'session' ? o : s;

          // corpus: records the owner sealed but never sent, handshakes of strangers, odd messages
          const strangerKey = generateX25519KeyPair();
          const wrongCode = generateSetupCode();
          const corpus: { ch: 'control' | 'speaker'; msg: Uint8Array }[] = [
            { ch: 'control', msg: channel.sealControl({ type: 'set-volume', id: 1, volume: 3 }) },
            { ch: 'control', msg: channel.sealControl({ type: 'mic-start', id: 2 }) },
            { ch: 'control', msg: channel.sealControl({ type: 'speaker-start', id: 3, firstFrame: 0 }) },
            { ch: 'control', msg: channel.sealControl({ type: 'remove-pairing', id: 4, keyId: '0011223344556677' }) },
            { ch: 'speaker', msg: channel.sealAudio([new Uint8Array(40).fill(0xf8), new Uint8Array(40).fill(0xf8)]).record },
            { ch: 'control', msg: encodeWire({ kind: 'pair-m1', noise: new CompanionHandshake('pair', { companion: strangerKey, toyPublicKey: identity.publicKey, hello: { displayName: 'x' }, setupCode: wrongCode }).message1 }) },
            { ch: 'control', msg: new CompanionHandshake('reconnect', { companion: strangerKey, toyPublicKey: identity.publicKey, hello: { displayName: 'x' }, slot: advertisingSlot(T0) }).wireMessage1() },
            // made for another toy: this toy cannot read it
            { ch: 'control', msg: new CompanionHandshake('reconnect', { companion: strangerKey, toyPublicKey: generateX25519KeyPair().publicKey, hello: { displayName: 'x' }, slot: advertisingSlot(T0) }).wireMessage1() },
            { ch: 'control', msg: encodeWire({ kind: 'info-request' }) },
            { ch: 'control', msg: encodeWire({ kind: 'error', refusal: 'BUSY', retryAfterSec: 1 }) },
            { ch: 'control', msg: encodeWire({ kind: 'pair-m2', noise: new Uint8Array(64) }) },
          ];
          const before = snapshot(toy);
          const executedBefore = { ...toy.executed };
          for (const inp of inputs as Inbound[]) {
            now += inp.dt;
            let actions: ToyAction[] = [];
            expect(() => {
              if (inp.what.kind === 'raw') actions = victim.write(inp.ch, inp.what.value, now);
              else {
                const c = corpus[inp.what.index % corpus.length]!;
                // never deliver an intact owner record into the owner's session: that would be authentic
                const mu: Mutation = target === 'session' && inp.what.mu.kind === 'none' ? { kind: 'flip', pos: 5, mask: 1 } : inp.what.mu;
                const msg = mutate(c.msg, mu);
                if (msg.length === 0) actions = victim.write(inp.ch, msg, now);
                else actions = victim.send(target === 'session' ? c.ch : inp.ch, msg, now);
              }
              actions.push(...toy.tick(now));
              o.absorb(actions);
              s.absorb(actions);
            }).not.toThrow();
            expect(Array.isArray(actions)).toBe(true);
            expect(forbidden(actions)).toBeUndefined();
            const after = snapshot(toy);
            expect(after.pairings).toEqual(before.pairings);
            expect(after.advertisingKey).toEqual(before.advertisingKey);
            expect(after.volume).toBe(before.volume);
            expect(after.executed).toEqual(executedBefore);
            expect(after.speaker).toEqual(before.speaker);
            expect(after.mic).toBe(false);
            expect(after.failedAttempts).toBeGreaterThanOrEqual(before.failedAttempts);
            expect(after.lockedUntil).toBeGreaterThanOrEqual(before.lockedUntil);
          }
          for (const [k, v] of Object.entries(toy.refusals)) refusals[k] = (refusals[k] ?? 0) + v;
          // the toy still serves its owner: reconnect if the garbage ended the session, then ask
          let ch = channel;
          let conn = o;
          if (o.disconnected || !toy.hasSession('owner')) {
            toy.disconnect('owner', now);
            conn = new FakeCentral(toy, 'owner-again', 247);
            conn.connect(now);
            const again = companionHandshake(conn, 'reconnect', owner, identity.publicKey, undefined, now);
            expect(again.channel).toBeDefined();
            ch = again.channel!;
          }
          const n = conn.received.length;
          conn.send('control', ch.sealControl({ type: 'get-battery', id: 9 }), now);
          const reply = conn.received[n];
          expect(reply?.kind).toBe('record');
          expect(ch.openControl((reply as { record: Uint8Array }).record)).toMatchObject({ type: 'result', id: 9, status: 'OK' });
          expect(toy.executed).toEqual({ ...executedBefore, 'get-battery': 1 });
        },
      ),
      { seed: SEED, numRuns: 120 },
    );
    // the input reached every refusal path a stranger or a corrupted session can reach
    for (const k of ['speaker-write', 'control-before-session', 'malformed', 'record-auth-failed', 'not-in-pairing-mode', 'not-paired', 'bad-handshake']) {
      expect(refusals[k] ?? 0, k).toBeGreaterThan(0);
    }
  });

  it('writes to an unknown connection are ignored', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom<'control' | 'speaker'>('control', 'speaker'), (v, ch) => {
        const { toy } = newToy();
        expect(toy.write('nobody', ch, v, T0)).toEqual([]);
      }),
      { seed: SEED, numRuns: 50 },
    );
  });
});

// ---------------------------------------------------------------- companion side

class FakeLink extends EventEmitter<CentralLinkEvents> implements CentralLink {
  readonly id = 'fake-toy';
  connected = true;
  readonly writes: [WritableCharacteristic, Uint8Array][] = [];
  constructor(readonly mtu: number) {
    super();
  }
  async write(ch: WritableCharacteristic, v: Uint8Array): Promise<void> {
    this.writes.push([ch, v]);
  }
  async subscribe(): Promise<void> {}
  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    this.emit('disconnect', 'local');
  }
}

describe('companion: ToyLink data events → ToySession', () => {
  const companionInbound = fc.record({
    ch: fc.constantFrom<NotifyingCharacteristic>('control', 'microphone'),
    what: fc.oneof(
      fc.record({ kind: fc.constant('raw' as const), value: fc.oneof(fc.uint8Array({ maxLength: 30 }), fc.uint8Array({ maxLength: 600 })) }),
      fc.record({ kind: fc.constant('corpus' as const), index: fc.nat(), mu: fc.oneof(mutation, fc.constant<Mutation>({ kind: 'none' })) }),
    ),
  });

  it('no exception escapes; forged input raises no event and ends the session only on an authentication failure', () => {
    let closedByAuth = 0;
    let authentic = 0;
    fc.assert(
      fc.property(fc.array(companionInbound, { minLength: 1, maxLength: 16 }), fc.constantFrom(23, 185, 247, 517), (inputs, mtu) => {
        const a = generateX25519KeyPair().secretKey;
        const b = generateX25519KeyPair().secretKey;
        const h = new Uint8Array(64);
        const toyCh = new SecureChannel({ sendKey: b, receiveKey: a, handshakeHash: h });
        const fake = new FakeLink(mtu);
        const link = new ToyLink(fake);
        const session = new ToySession(link, { sendKey: a, receiveKey: b, handshakeHash: h }, { id: 't', name: 't', toyPublicKey: '', advertisingKey: '', role: 'owner', firmwareVersion: '1', capabilities: 0, speakerBufferMs: 400, pairedAt: 0 }, { firmwareVersion: '1', capabilities: 0, speakerBufferMs: 400, role: 'owner', advertisingKey: new Uint8Array(32) }, 1);
        const events: string[] = [];
        let closeReason: string | undefined;
        let closeError: PlushlinkError | undefined;
        session.on('speaker-status', () => events.push('speaker-status'));
        session.on('mic-status', () => events.push('mic-status'));
        session.on('audio', () => events.push('audio'));
        session.on('close', (r, e) => {
          closeReason = r;
          closeError = e;
        });
        const wireErrors: unknown[] = [];
        link.on('inputError', (_c, e) => wireErrors.push(e));
        const frag = { control: new Fragmenter(65535), microphone: new Fragmenter(65535) };
        let expected = 0;
        for (const inp of inputs) {
          // fresh authentic messages each time (so an intact one is genuinely new, not a replay)
          const corpus: { ch: NotifyingCharacteristic; msg: Uint8Array; event: string }[] = [
            { ch: 'control', msg: toyCh.sealControl({ type: 'speaker-status', id: 0, state: 'playing', bufferedMs: 100, framesPlayed: 5, underruns: 0, overruns: 0 }), event: 'speaker-status' },
            { ch: 'control', msg: toyCh.sealControl({ type: 'mic-status', id: 0, active: true, nextFrame: 3 }), event: 'mic-status' },
            { ch: 'microphone', msg: toyCh.sealAudio([new Uint8Array(30).fill(0xf8)]).record, event: 'audio' },
            { ch: 'control', msg: encodeWire({ kind: 'pair-m2', noise: new Uint8Array(80) }), event: '' },
            { ch: 'control', msg: toyCh.sealControl({ type: 'result', id: 77, status: 'OK', body: new Uint8Array(0) }), event: '' },
          ];
          if (!session.open) break;
          expect(() => {
            if (inp.what.kind === 'raw') fake.emit('data', inp.ch, inp.what.value);
            else {
              const c = corpus[inp.what.index % corpus.length]!;
              const msg = mutate(c.msg, inp.what.mu);
              if (inp.what.mu.kind === 'none' && c.event) {
                expected++;
                authentic++;
              }
              if (msg.length === 0) fake.emit('data', c.ch, msg);
              else for (const v of frag[c.ch].fragment(msg, mtu - 3)) fake.emit('data', c.ch, v);
            }
          }).not.toThrow();
          // only intact authentic messages produce events
          if (session.open) expect(events.length).toBe(expected);
        }
        for (const e of wireErrors) expect(e).toBeInstanceOf(PlushlinkError);
        if (!session.open) {
          expect(closeError).toBeInstanceOf(PlushlinkError);
          expect(closeError!.code).toBe('RECORD_AUTH_FAILED');
          expect(closeReason).toMatch(/authentication/);
          closedByAuth++;
        }
        for (const [, v] of fake.writes) expect(v.length).toBeLessThanOrEqual(mtu - 3);
      }),
      { seed: SEED, numRuns: 300 },
    );
    expect(closedByAuth).toBeGreaterThan(10);
    expect(authentic).toBeGreaterThan(10);
  });

  it('ToyLink turns any byte sequence into wire events or typed input errors, never throws', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom<NotifyingCharacteristic>('control', 'microphone'), fc.uint8Array({ maxLength: 520 })), { maxLength: 40 }), (values) => {
        const fake = new FakeLink(247);
        const link = new ToyLink(fake);
        const got: WireMessage[] = [];
        link.on('wire', (m) => got.push(m));
        link.on('inputError', (_c, e) => expect(e).toBeInstanceOf(PlushlinkError));
        for (const [ch, v] of values) expect(() => fake.emit('data', ch, v)).not.toThrow();
        for (const m of got) expect(typeof m.kind).toBe('string');
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
});
