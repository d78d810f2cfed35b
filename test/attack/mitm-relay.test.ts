/**
 * A man in the middle (docs/SECURITY.md properties 2 and 3): a fake "toy" peripheral with a key of
 * its own sits between the companion and the real toy and relays. The companion holds the QR
 * of the real toy, which pins its static key: the relay cannot read message 1 (it is encrypted
 * to the real toy's key), cannot answer with a message 2 of its own (TOY_KEY_MISMATCH), and the
 * real toy never adds the relay's key. A relay that forwards everything verbatim only carries
 * ciphertext between the two genuine parties and cannot inject anything into the session.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/protocol/bytes.js';
import { generateX25519KeyPair, randomBytes } from '../../src/protocol/crypto.js';
import { isPlushlinkError } from '../../src/protocol/errors.js';
import { Fragmenter, Reassembler } from '../../src/protocol/fragment.js';
import { CompanionHandshake, toyReadMessage1 } from '../../src/protocol/handshake.js';
import { generateSetupCode } from '../../src/protocol/setup-code.js';
import { decodeWire, encodeWire, type WireMessage } from '../../src/protocol/wire.js';
import { ReferenceToy } from '../../src/toy/reference-toy.js';
import type { MemoryPeripheral } from '../../src/transport/memory/index.js';
import type { PeripheralLink } from '../../src/transport/types.js';
import { makeRig, type Rig } from '../helpers/rig.js';
import { expectOnlyRefused, Intruder, snapshot, until } from '../helpers/intruder.js';

let rig: Rig | undefined;
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f();
  await rig?.close();
  rig = undefined;
});

type Strategy = 'substitute' | 'verbatim';

/** The relay: a peripheral with its own static key, forwarding to the real toy through a raw central. */
class Relay {
  readonly identity = generateX25519KeyPair();
  readonly peripheral: MemoryPeripheral;
  /** What the relay tried with message 1 under its own key. */
  ownReadError: unknown;
  /** The real toy's answers to what the relay forwarded. */
  readonly upstreamReplies: WireMessage[] = [];
  upstream: Intruder | undefined;
  /** Flip one ciphertext byte of the next record the companion sends, before forwarding it. */
  tamperNext = false;
  downstream: PeripheralLink | undefined;
  private readonly down = new Fragmenter(4096);

  constructor(
    private readonly r: Rig,
    private readonly strategy: Strategy,
  ) {
    this.peripheral = r.radio.createPeripheral();
    this.peripheral.on('connect', (link) => this.attach(link));
  }

  async start(): Promise<void> {
    await this.peripheral.advertise(new Uint8Array([0x01, 0x00, ...randomBytes(8)]));
  }

  private attach(link: PeripheralLink): void {
    this.downstream = link;
    const reasm = new Reassembler(4096);
    const queue: Uint8Array[] = [];
    let busy = Promise.resolve();
    link.on('write', (ch, v) => {
      if (ch !== 'control') return;
      const r = reasm.push(v);
      if (r.kind !== 'message') return;
      queue.push(r.message);
      busy = busy.then(() => this.onMessage(queue.shift()!)).catch(() => undefined);
    });
  }

  private async reply(m: Uint8Array): Promise<void> {
    const link = this.downstream!;
    for (const v of this.down.fragment(m, link.mtu - 3)) await link.send('control', v);
  }

  private async onMessage(msg: Uint8Array): Promise<void> {
    const w = decodeWire(msg);
    if (!this.upstream) {
      this.upstream = await Intruder.connect(this.r.radio, this.r.toyId);
      // everything the real toy says goes back down (or is substituted)
      this.upstream.onMessage = (answer) => {
        this.upstreamReplies.push(answer);
        if (this.strategy === 'substitute' && (answer.kind === 'pair-m2' || answer.kind === 'reconnect-m2')) {
          // answer with a message 2 of its own: its own ephemeral, a payload it cannot key correctly
          const forged = new Uint8Array(answer.noise.length);
          forged.set(generateX25519KeyPair().publicKey, 0);
          forged.set(randomBytes(answer.noise.length - 32), 32);
          void this.reply(encodeWire({ kind: answer.kind, noise: forged })).catch(() => undefined);
          return;
        }
        void this.reply(encodeWire(answer)).catch(() => undefined);
      };
    }
    if (w.kind === 'pair-m1' || w.kind === 'reconnect-m1') {
      // The relay tries to be the toy with its own key, even knowing the setup code: impossible,
      // message 1 was encrypted to the pinned key.
      try {
        toyReadMessage1(w.kind === 'pair-m1' ? 'pair' : 'reconnect', w.noise, { toy: this.identity, setupCode: this.r.setup, slot: w.kind === 'reconnect-m1' ? w.slot : undefined });
      } catch (e) {
        this.ownReadError = e;
      }
    }
    if (w.kind === 'record' && this.tamperNext) {
      this.tamperNext = false;
      const t = Uint8Array.from(msg);
      t[8]! ^= 0x01; // 1 kind byte + 4 counter bytes, then ciphertext
      msg = t;
    }
    await this.upstream.send('control', msg);
  }
}

describe('MITM relay with its own key', () => {
  it('substituting message 2: the companion (QR of the real toy) refuses with TOY_KEY_MISMATCH; the real toy never learns the relay key', async () => {
    // the toy's clock moves only when the test moves it: no verdict depends on speed
    const clock = { now: Date.UTC(2026, 10, 28, 12, 0, 0) };
    rig = await makeRig({ toy: { clock: () => clock.now } });
    const relay = new Relay(rig, 'substitute');
    await relay.start();
    const app = await rig.newCompanion('parent', 247, { clock: () => clock.now });
    rig.toy.pressButton('hold');
    const before = snapshot(rig.toy.core);
    await expect(app.pair(relay.peripheral.id, rig.qr)).rejects.toMatchObject({ code: 'TOY_KEY_MISMATCH' });
    expect(isPlushlinkError(relay.ownReadError, 'DECRYPT_FAILED')).toBe(true);
    expect(relay.upstreamReplies.map((m) => m.kind)).toEqual(['pair-m2']);
    expect(app.toys()).toEqual([]); // nothing stored
    // the relay holds the toy's answer but cannot confirm the session: no pairing at all
    clock.now += 5000; // the handshake deadline passes on the toy's clock
    expect(await relay.upstream!.waitDisconnect(60_000)).toBe(true);
    expect(rig.toy.core.pairings.map((p) => p.companionKey)).not.toContain(toHex(relay.identity.publicKey));
    expect(rig.toy.core.pairings).toEqual([]);
    expect(rig.toy.core.executed).toEqual(before.executed);
    expect(rig.toy.core.sessionCount).toBe(0);
    // the window is still open: the genuine companion, talking to the real toy, pairs
    expect(rig.toy.core.pairingWindowOpen(clock.now)).toBe(true);
    await (await app.pair(rig.toyId, rig.qr)).close();
    expect(rig.toy.core.pairings.map((p) => p.companionKey)).toEqual([toHex(app.publicKey)]);
    await relay.upstream?.close();
  });

  it('the relay pairing in its own name (a guessed code) is refused: WRONG_SETUP_CODE, its key is not added', async () => {
    rig = await makeRig();
    rig.toy.pressButton('hold');
    const before = snapshot(rig.toy.core);
    const relayKey = generateX25519KeyPair();
    const hs = new CompanionHandshake('pair', { companion: relayKey, toyPublicKey: rig.identity.publicKey, hello: { displayName: 'relay' }, setupCode: generateSetupCode() });
    const x = await Intruder.connect(rig.radio, rig.toyId);
    await x.send('control', encodeWire({ kind: 'pair-m1', noise: hs.message1 }));
    expect(await x.next(2000)).toMatchObject({ kind: 'error', refusal: 'HANDSHAKE_FAILED' });
    expect(await x.waitDisconnect(2000)).toBe(true);
    expectOnlyRefused(before, rig.toy.core, { 'wrong-setup-code': 1 }, { stateMayChange: true });
    expect(rig.toy.core.pairings).toEqual([]);
  });

  it('forwarding verbatim: the pairing is with the real toy (pinned key), and the relay cannot inject into the session', async () => {
    rig = await makeRig();
    const relay = new Relay(rig, 'verbatim');
    await relay.start();
    const app = await rig.newCompanion('parent');
    rig.toy.pressButton('hold');
    const s = await app.pair(relay.peripheral.id, rig.qr);
    expect(app.toys()[0]!.toyPublicKey).toBe(toHex(rig.identity.publicKey));
    expect(await until(() => rig!.toy.core.pairings.length > 0)).toBe(true); // the confirmation passes the relay too
    expect(rig.toy.core.pairings.map((p) => p.companionKey)).toEqual([toHex(app.publicKey)]);
    expect(isPlushlinkError(relay.ownReadError, 'DECRYPT_FAILED')).toBe(true);
    // requests travel through the relay (it sees only records)
    await s.setVolume(33);
    expect(rig.toy.core.persistentState.volume).toBe(33);
    expect(relay.upstreamReplies.at(-1)?.kind).toBe('record');
    // the relay flips one byte of a record it forwards: the toy ends the session, nothing runs
    const before = snapshot(rig.toy.core);
    relay.tamperNext = true;
    await expect(s.setVolume(90, { timeoutMs: 300 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(await relay.upstream!.waitDisconnect(2000)).toBe(true);
    expectOnlyRefused(before, rig.toy.core, { 'record-auth-failed': 1 });
    expect(rig.toy.core.persistentState.volume).toBe(33);
    expect(rig.toy.core.sessionCount).toBe(0);
    await s.close();
  });

  it('a look-alike toy (same label, different key) on reconnect: the companion fails and keeps its pinned key', async () => {
    rig = await makeRig();
    const app = await rig.newCompanion('parent');
    rig.toy.pressButton('hold');
    await (await app.pair(rig.toyId, rig.qr)).close();
    const stored = app.toys()[0]!;
    const peripheral = rig.radio.createPeripheral();
    const fake = new ReferenceToy({ peripheral, identity: generateX25519KeyPair(), setupCode: rig.setup });
    await fake.start();
    cleanup.push(() => fake.stop());
    fake.pressButton('hold');
    await fake.flush(); // its new advertisement (and address) is on the air
    const refused: string[] = [];
    const unpaired: string[] = [];
    app.on('reconnect-refused', (_t, id) => refused.push(id));
    app.on('unpaired', (_t, r) => unpaired.push(r));
    let err: unknown;
    try {
      await app.connect(stored, { transportId: peripheral.id });
    } catch (e) {
      err = e;
    }
    expect(isPlushlinkError(err)).toBe(true);
    expect(['TOY_KEY_MISMATCH', 'NOT_PAIRED', 'HANDSHAKE_FAILED']).toContain((err as { code: string }).code);
    expect(fake.core.sessionCount).toBe(0);
    expect(fake.core.pairings).toEqual([]);
    // an unauthenticated refusal deletes nothing (PROTOCOL.md §10.1): the app is told, and decides
    expect(app.toys()).toEqual([stored]);
    expect(unpaired).toEqual([]);
    expect(refused.length <= 1 && refused.every((id) => id === peripheral.id)).toBe(true);
    expect(app.toys()[0]!.toyPublicKey).toBe(stored.toyPublicKey);
    expect(fromHex(app.toys()[0]!.toyPublicKey)).toEqual(rig.identity.publicKey);
    // the real toy still works
    await (await app.connect(stored, { transportId: rig.toyId })).close();
  });
});
