/**
 * Channel exhaustion (PROTOCOL.md §8.3): a sending stream rekeys every 10 minutes and has 256
 * key epochs (0..255). When a rekey is due and no epoch is left the channel never throws; it
 * marks itself `exhausted` and its owner ends the session:
 * - the toy checks on every tick and drops the connection (nothing sent: no ERROR, no GOODBYE);
 * - the companion checks before each request: the request fails with SESSION_CLOSED, the
 *   session emits `close` and the companion disconnects;
 * - an audio stream found exhausted at MIC_START is still answered OK (first frame in epoch
 *   255) and the toy drops the connection at its next tick.
 * A fresh handshake brings fresh keys.
 *
 * The channel itself is covered in test/unit/protocol/channel-rekey.test.ts. Here: ToyCore driven with a
 * fake clock (one tick per rekey interval), the ReferenceToy's own timer under a fake toy clock,
 * and a real Companion whose Date.now is pushed forward one interval per request. All fake time:
 * 256 × 10 min of protocol time in about a second of wall clock.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { toHex } from '../../src/protocol/bytes.js';
import { DEFAULT_REKEY_INTERVAL_MS, type SecureChannel } from '../../src/protocol/channel.js';
import type { ControlMessage } from '../../src/protocol/control.js';
import { generateX25519KeyPair, type X25519KeyPair } from '../../src/protocol/crypto.js';
import type { PlushlinkError } from '../../src/protocol/errors.js';
import type { ToyCore } from '../../src/toy/toy-core.js';
import type { ToyAction } from '../../src/toy/types.js';
import type { ToySession } from '../../src/companion/session.js';
import { FakeCentral, T0, companionHandshake, newToy } from '../property/helpers/toy-harness.js';
import { until } from '../helpers/intruder.js';
import { makeRig, type Rig } from '../helpers/rig.js';

const IV = DEFAULT_REKEY_INTERVAL_MS;
/** Rekeys a stream can do: epochs 1..255. The next due check finds none left. */
const REKEYS = 255;
const realNow = Date.now.bind(Date);

// ================================================================ part 1: ToyCore, fake clock

type RequestBody = ControlMessage extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** A confirmed session to a ToyCore over one FakeCentral. */
class Session {
  readonly central: FakeCentral;
  readonly channel: SecureChannel;
  private read = 0;
  private nextId = 2;

  constructor(
    readonly toy: ToyCore,
    id: string,
    kp: X25519KeyPair,
    mode: 'pair' | 'reconnect',
    code: Parameters<typeof companionHandshake>[4],
    now: number,
  ) {
    this.central = new FakeCentral(toy, id);
    this.central.connect(now);
    const r = companionHandshake(this.central, mode, kp, toy.identity.publicKey, code, now, id);
    if (!r.channel) throw new Error(`${id}: handshake failed: ${JSON.stringify(r.reply)}`);
    this.channel = r.channel;
    this.read = this.central.received.length;
    expect(toy.hasSession(id)).toBe(true);
  }

  get id(): string {
    return this.central.id;
  }

  /** Sends a request; returns the records the toy answered with, each with the key epoch it was sealed in. */
  request(m: RequestBody, now: number): { message: ControlMessage; epoch: number }[] {
    const id = this.nextId; // request ids are 1..255 (1 was the CONFIRM)
    this.nextId = this.nextId === 255 ? 2 : this.nextId + 1;
    this.central.send('control', this.channel.sealControl({ ...m, id } as ControlMessage), now);
    const out: { message: ControlMessage; epoch: number }[] = [];
    for (const w of this.central.received.slice(this.read)) {
      if (w.kind !== 'record') continue;
      out.push({ message: this.channel.openControl(w.record), epoch: w.record[0]! });
    }
    this.read = this.central.received.length;
    return out;
  }
}

const disconnectsOf = (actions: ToyAction[], id: string): string[] =>
  actions.flatMap((a) => (a.type === 'disconnect' && a.connection === id ? [a.reason] : []));
const sendsTo = (actions: ToyAction[], id: string): ToyAction[] => actions.filter((a) => a.type === 'send' && a.connection === id);

describe('ToyCore: the control channel runs out of key epochs', () => {
  it('drops the connection at the first due tick with no epoch left, sends it nothing, never throws; other sessions go on; a reconnect gets fresh keys', () => {
    const { toy, code } = newToy();
    const owner = generateX25519KeyPair();
    toy.button('hold', T0);
    const first = new Session(toy, 'first', owner, 'pair', code, T0);
    expect(toy.pairings).toHaveLength(1);

    let now = T0;
    let second: Session | undefined;
    for (let i = 1; i <= REKEYS; i++) {
      now = T0 + i * IV;
      const out = toy.tick(now);
      expect(disconnectsOf(out, first.id)).toEqual([]);
      // a second session of the same companion, opened later, is on its own clock
      if (i === 100) second = new Session(toy, 'second', owner, 'reconnect', undefined, now + 1);
    }
    // epoch 255 is the last one: the session still works, the toy's records are sealed in it
    const answer = first.request({ type: 'get-battery' }, now + 1);
    expect(answer.map((a) => [a.message.type, a.epoch])).toEqual([['result', 255]]);
    expect(answer[0]!.message).toMatchObject({ status: 'OK' });

    // the next due check finds no epoch left: the toy drops that connection, and only that one
    let drop: ToyAction[] = [];
    expect(() => (drop = toy.tick(T0 + (REKEYS + 1) * IV))).not.toThrow();
    expect(disconnectsOf(drop, first.id)).toHaveLength(1);
    expect(drop.filter((a) => a.type === 'disconnect')).toHaveLength(1);
    const out = toy.tick(T0 + (REKEYS + 1) * IV + 1); // nothing left to drop
    expect(out.filter((a) => a.type === 'disconnect')).toEqual([]);
    expect(toy.hasSession(first.id)).toBe(false);
    expect(toy.hasSession(second!.id)).toBe(true);
    expect(toy.sessionCount).toBe(1);
    // the allow-list is untouched: exhaustion ends a session, not a pairing
    expect(toy.pairings.map((p) => p.companionKey)).toEqual([toHex(owner.publicKey)]);

    // the dropped connection's records are ignored from now on
    expect(toy.write(first.id, 'control', first.channel.sealControl({ type: 'set-volume', id: 9, volume: 1 }), now + 2)).toEqual([]);
    expect(toy.persistentState.volume).toBe(70);

    // the later session still works (it is at a lower epoch)
    const later = second!.request({ type: 'get-battery' }, T0 + (REKEYS + 1) * IV + 2);
    expect(later).toHaveLength(1);
    expect(later[0]!.epoch).toBeLessThan(255);

    // a fresh handshake: epoch 0 again
    const fresh = new Session(toy, 'fresh', owner, 'reconnect', undefined, T0 + (REKEYS + 1) * IV + 3);
    const r = fresh.request({ type: 'get-info' }, T0 + (REKEYS + 1) * IV + 4);
    expect(r.map((a) => [a.message.type, a.epoch])).toEqual([['result', 0]]);
  });

  it('the exhausting tick yields exactly one disconnect for that connection and no send to it', () => {
    const { toy, code } = newToy();
    toy.button('hold', T0);
    const s = new Session(toy, 's', generateX25519KeyPair(), 'pair', code, T0);
    for (let i = 1; i <= REKEYS; i++) s.central.absorb(toy.tick(T0 + i * IV));
    expect(s.central.disconnected).toBe(false);
    expect(toy.hasSession(s.id)).toBe(true);
    let out: ToyAction[] = [];
    expect(() => (out = s.central.absorb(toy.tick(T0 + (REKEYS + 1) * IV)))).not.toThrow();
    expect(disconnectsOf(out, s.id)).toHaveLength(1);
    expect(disconnectsOf(out, s.id)[0]).toMatch(/exhausted/);
    expect(sendsTo(out, s.id)).toEqual([]); // neither ERROR nor GOODBYE
    expect(s.central.disconnected).toBe(true);
    expect(toy.hasSession(s.id)).toBe(false);
    expect(toy.sessionCount).toBe(0);
    // ticking on is harmless
    for (let i = 2; i < 20; i++) expect(() => toy.tick(T0 + (REKEYS + i) * IV)).not.toThrow();
  });

  it('a tick that is not due (less than one interval since the last rekey) does not exhaust early', () => {
    const { toy, code } = newToy();
    toy.button('hold', T0);
    const s = new Session(toy, 's', generateX25519KeyPair(), 'pair', code, T0);
    for (let i = 1; i <= REKEYS; i++) s.central.absorb(toy.tick(T0 + i * IV));
    // many ticks within the last interval: still in epoch 255, still connected
    for (let k = 1; k < 50; k++) s.central.absorb(toy.tick(T0 + REKEYS * IV + k * 10_000));
    expect(s.central.disconnected).toBe(false);
    expect(s.request({ type: 'get-battery' }, T0 + REKEYS * IV + 500_000)[0]!.epoch).toBe(255);
    s.central.absorb(toy.tick(T0 + (REKEYS + 1) * IV));
    expect(s.central.disconnected).toBe(true);
  });

  it('the microphone stream: MIC_START with no audio epoch left is answered OK in epoch 255, then the next tick drops the connection', () => {
    const { toy, code } = newToy();
    toy.button('hold', T0);
    const s = new Session(toy, 's', generateX25519KeyPair(), 'pair', code, T0);
    const firstFrame = (r: { message: ControlMessage }[]): number => {
      const res = r.find((x) => x.message.type === 'result')!.message as Extract<ControlMessage, { type: 'result' }>;
      expect(res.status).toBe('OK');
      const b = res.body;
      return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    };
    // one stream start per interval, no ticks in between: only the audio stream rekeys
    for (let i = 1; i <= REKEYS; i++) {
      const f = firstFrame(s.request({ type: 'mic-start' }, T0 + i * IV));
      expect(f >>> 24).toBe(i);
    }
    expect(s.central.disconnected).toBe(false);
    const last = firstFrame(s.request({ type: 'mic-start' }, T0 + (REKEYS + 1) * IV));
    expect(last).toBe(255 * 2 ** 24); // no next epoch: stays in 255
    expect(s.central.disconnected).toBe(false);
    expect(toy.microphoneActive).toBe(true);
    let out: ToyAction[] = [];
    expect(() => (out = s.central.absorb(toy.tick(T0 + (REKEYS + 1) * IV + 10)))).not.toThrow();
    expect(disconnectsOf(out, s.id)).toHaveLength(1);
    expect(out).toContainEqual({ type: 'microphone', active: false });
    expect(toy.microphoneActive).toBe(false);
    expect(toy.hasSession(s.id)).toBe(false);
  });
});

// ================================================================ part 2: ReferenceToy + Companion over the in-memory radio

let rig: Rig | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await rig?.close();
  rig = undefined;
});

/** Resolves once `count()` exceeds `n` (polls every ms, wall clock); false after `ms`. */
async function past(count: () => number, n: number, ms = 2000): Promise<boolean> {
  const deadline = realNow() + ms;
  while (count() <= n) {
    if (realNow() > deadline) return false;
    await new Promise((r) => setTimeout(r, 1));
  }
  return true;
}

describe('ReferenceToy: its own timer ends an exhausted session', () => {
  it('the toy disconnects; the companion session emits close; its next request fails SESSION_CLOSED; no error escapes the timer; reconnect works', async () => {
    let toyNow = realNow();
    rig = await makeRig({ toy: { clock: () => toyNow, tickMs: 1 } });
    const r = rig;
    const errors: Error[] = [];
    r.toy.on('error', (e) => errors.push(e));
    // the phone's clock is the toy's: a reconnect message 1 is bound to the advertising slot (PROTOCOL.md §6)
    const app = await r.newCompanion('parent', 247, { clock: () => toyNow });
    r.toy.pressButton('hold');
    const session = await app.pair(r.toyId, r.qr);
    let closed: { reason: string; error?: PlushlinkError } | undefined;
    session.on('close', (reason, error) => (closed = { reason, error }));
    await session.battery();

    // every tick of the toy's timer goes through core.tick: watch it
    const tick = vi.spyOn(r.toy.core, 'tick');
    for (let i = 1; i <= REKEYS; i++) {
      toyNow += IV;
      expect(await past(() => tick.mock.calls.length, tick.mock.calls.length)).toBe(true);
      // a tick that read the new time has run (calls are counted after this assignment)
    }
    // still in the last epoch: the session is alive and works
    expect(closed).toBeUndefined();
    expect(session.open).toBe(true);
    expect((await session.battery()).percent).toBeGreaterThanOrEqual(0);

    toyNow += IV;
    expect(await until(() => closed !== undefined, 3000)).toBe(true);
    expect(closed!.error?.code).toBe('DISCONNECTED');
    expect(session.open).toBe(false);
    await expect(session.battery()).rejects.toMatchObject({ code: 'SESSION_CLOSED' });
    expect(await until(() => r.toy.core.sessionCount === 0 && r.peripheral.links.every((l) => !l.connected))).toBe(true);

    // nothing was thrown from the toy's timer, nothing reported as an error
    expect(tick.mock.results.filter((x) => x.type !== 'return')).toEqual([]);
    expect(errors).toEqual([]);
    // the pairing stands: a reconnect brings fresh keys and a working session
    expect(r.toy.core.pairings).toHaveLength(1);
    const again = await app.connect(app.toys()[0]!, { transportId: r.toyId });
    await again.battery();
    await again.close();
  });
});

describe('Companion: its control channel runs out of key epochs', () => {
  it('the next request rejects with SESSION_CLOSED before anything is sent; the session emits close and disconnects; reconnect works', async () => {
    // The toy keeps real time (its own channel never rekeys here); the companion's Date.now is
    // pushed forward one rekey interval before each request, so each request rekeys its control stream.
    let skew = 0;
    rig = await makeRig({ toy: { clock: realNow } });
    const r = rig;
    const errors: Error[] = [];
    r.toy.on('error', (e) => errors.push(e));
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + skew);
    const app = await r.newCompanion('parent');
    r.toy.pressButton('hold');
    const session: ToySession = await app.pair(r.toyId, r.qr);
    const closes: { reason: string; error?: PlushlinkError }[] = [];
    session.on('close', (reason, error) => closes.push({ reason, error }));

    for (let i = 1; i <= REKEYS; i++) {
      skew += IV;
      await session.battery(); // sealed in epoch i; the toy follows from the counter
    }
    expect(r.toy.core.executed['get-battery']).toBe(REKEYS);
    expect(session.open).toBe(true);

    skew += IV;
    await expect(session.battery()).rejects.toMatchObject({ code: 'SESSION_CLOSED' });
    expect(closes).toHaveLength(1);
    expect(closes[0]!.reason).toMatch(/exhausted/);
    expect(session.open).toBe(false);
    // the request never reached the toy
    expect(r.toy.core.executed['get-battery']).toBe(REKEYS);
    // the companion hung up: the toy's side of the link is gone
    expect(await until(() => r.toy.core.sessionCount === 0 && r.peripheral.links.every((l) => !l.connected))).toBe(true);
    // further requests fail the same way and close is not emitted twice
    await expect(session.setVolume(10)).rejects.toMatchObject({ code: 'SESSION_CLOSED' });
    expect(closes).toHaveLength(1);
    expect(errors).toEqual([]);

    // the phone's clock agrees with the toy's again: a reconnect is bound to the advertising slot (PROTOCOL.md §6)
    skew = 0;
    const again = await app.connect(app.toys()[0]!, { transportId: r.toyId });
    await again.battery();
    expect(r.toy.core.executed['get-battery']).toBe(REKEYS + 1);
    await again.close();
  });
});
