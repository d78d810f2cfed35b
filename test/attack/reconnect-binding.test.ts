/**
 * Nothing the companion sends can recognise the toy outside a short window of time
 * (PROTOCOL.md §12 "A companion whose key is stale", §14.3; SECURITY.md property 6).
 *
 * The attack: while the child's toy is away, a fake toy advertises the "owned" flag with a tag the
 * companion cannot resolve. If the companion offers it its RECONNECT message 1, the fake keeps the
 * bytes and replays them later, anywhere: the child's toy answers with message 2, every other toy
 * refuses — a permanent recognition oracle. Two defences, both pinned here:
 *
 * 1. the companion never sends message 1 to a device whose tag it cannot resolve unless the app
 *    asks for it (`probeUnresolved`);
 * 2. message 1 is bound to the advertising slot it was made in (it is in the reconnect prologue):
 *    the toy reads it only within one slot of its own clock. Later the child's own toy refuses it
 *    exactly as a foreign toy refuses a message 1 it cannot read: same bytes, same disconnect.
 *
 * The toy, the companion and the fake run on a fake clock the test moves; the scan is stopped
 * after a number of advertisements, not after some time.
 */
import { EventEmitter } from 'eventemitter3';
import { afterEach, describe, expect, it } from 'vitest';
import { Companion } from '../../src/companion/companion.js';
import { MemoryKeystore } from '../../src/companion/keystore.js';
import { ADV_SLOT_SECONDS } from '../../src/protocol/advertising.js';
import { generateX25519KeyPair, randomBytes } from '../../src/protocol/crypto.js';
import { Reassembler } from '../../src/protocol/fragment.js';
import { formatSetupQr, generateSetupCode } from '../../src/protocol/setup-code.js';
import { decodeWire } from '../../src/protocol/wire.js';
import { ReferenceToy } from '../../src/toy/reference-toy.js';
import { MemoryToyStorage } from '../../src/toy/storage.js';
import { MemoryRadio, type MemoryPeripheral, type MemoryPeripheralLink } from '../../src/transport/memory/index.js';
import type { Advertisement, Central, CentralLink, CentralConnectOptions, ScanOptions } from '../../src/transport/types.js';
import { Intruder, until } from '../helpers/intruder.js';

const SLOT_MS = ADV_SLOT_SECONDS * 1000;
const T0 = Date.UTC(2026, 10, 28, 12, 1, 0); // early in a slot

/** A central that aborts every scan after `limit` advertisements of `watched` (counts, not time). */
class CountingCentral implements Central {
  seen = 0;
  constructor(
    private readonly inner: Central,
    private readonly watched: () => string,
    private readonly limit: number,
    private readonly abort: () => void,
  ) {}
  async *scan(opts?: ScanOptions): AsyncIterable<Advertisement> {
    for await (const ad of this.inner.scan(opts)) {
      if (ad.id === this.watched() && ++this.seen >= this.limit) this.abort();
      yield ad;
    }
  }
  connect(id: string, opts?: CentralConnectOptions): Promise<CentralLink> {
    return this.inner.connect(id, opts);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A fake "owned" toy: advertises flag 0x02 with a random tag and keeps every control message written to it. */
function fakeOwnedToy(radio: MemoryRadio, onConnect: () => void = () => undefined): { peripheral: MemoryPeripheral; connections: number; captured: Uint8Array[] } {
  const peripheral = radio.createPeripheral({ rssi: -20 });
  const fake = { peripheral, connections: 0, captured: [] as Uint8Array[] };
  void peripheral.advertise(Uint8Array.of(0x02, ...randomBytes(8)));
  peripheral.on('connect', (l) => {
    fake.connections++;
    onConnect();
    const reasm = new Reassembler(4096);
    (l as MemoryPeripheralLink as unknown as EventEmitter).on('write', (ch: string, v: Uint8Array) => {
      if (ch !== 'control') return;
      const r = reasm.push(v);
      if (r.kind === 'message') fake.captured.push(r.message);
    });
  });
  return fake;
}

const rigs: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.close();
});

/** A companion paired with a toy (all on a fake clock); the toy is then switched off: away. */
async function pairedThenAway() {
  const clock = { now: T0 };
  const radio = new MemoryRadio({ connectionIntervalMs: 1, timeScale: 0, advertisingIntervalMs: 5 });
  rigs.push(radio);
  const identity = generateX25519KeyPair();
  const setup = generateSetupCode();
  const storage = new MemoryToyStorage();
  const toy = new ReferenceToy({ peripheral: radio.createPeripheral(), identity, setupCode: setup, storage, clock: () => clock.now, rotateAddress: false });
  await toy.start();
  const ctl = { abort: () => undefined as void };
  const watched = { id: '' };
  const central = new CountingCentral(radio.createCentral(), () => watched.id, 20, () => ctl.abort());
  const app = await Companion.open({ central, keystore: new MemoryKeystore(), displayName: 'parent', clock: () => clock.now, handshakeTimeoutMs: 120_000 });
  toy.pressButton('hold');
  await toy.flush();
  const s = await app.pair((toy as unknown as { opts: { peripheral: MemoryPeripheral } }).opts.peripheral.id, formatSetupQr(setup, identity.publicKey), { name: 'Bunny' });
  await s.close();
  await toy.stop(); // the toy is away
  /** The toy comes back (a power cycle in range): same identity and flash. */
  const back = async (): Promise<{ toy: ReferenceToy; id: string }> => {
    const peripheral = radio.createPeripheral();
    const again = new ReferenceToy({ peripheral, identity, setupCode: setup, storage, clock: () => clock.now, rotateAddress: false });
    await again.start();
    rigs.push({ close: () => again.stop() });
    return { toy: again, id: peripheral.id };
  };
  /** Another toy nearby: its answer is what "not this toy" looks like. */
  const foreign = async (): Promise<string> => {
    const peripheral = radio.createPeripheral();
    const other = new ReferenceToy({ peripheral, identity: generateX25519KeyPair(), setupCode: generateSetupCode(), storage: new MemoryToyStorage(), clock: () => clock.now, rotateAddress: false });
    await other.start();
    rigs.push({ close: () => other.stop() });
    return peripheral.id;
  };
  return { clock, radio, app, central, ctl, watched, back, foreign };
}

/** Connects, writes the raw wire message, and returns the toy's answer and whether it hung up. */
async function replay(radio: MemoryRadio, id: string, wire: Uint8Array): Promise<{ answer: unknown; disconnected: boolean }> {
  const x = await Intruder.connect(radio, id);
  expect(await x.send('control', wire)).toBe(true);
  const m = await x.next(60_000);
  // a refusal ends the connection; a message 2 keeps it open (until the deadline, on the toy's clock)
  const disconnected = m?.kind === 'error' ? await x.waitDisconnect(60_000) : false;
  await x.close();
  return { answer: m && (m.kind === 'error' ? { kind: m.kind, refusal: m.refusal, retryAfterSec: m.retryAfterSec } : { kind: m.kind }), disconnected };
}

describe('the companion hands nothing reusable to a device that claims to be an owned toy', () => {
  it('by default, connect() sends no message 1 (nor connects) to an owned toy whose tag it cannot resolve', async () => {
    const r = await pairedThenAway();
    const ac = new AbortController();
    // stop after 20 of the fake's advertisements were seen — or at once if the companion connects to it
    const fake = fakeOwnedToy(r.radio, () => ac.abort());
    r.watched.id = fake.peripheral.id;
    r.ctl.abort = () => ac.abort();
    const err = await r.app.connect('Bunny', { signal: ac.signal, probeAfterMs: 0 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: expect.stringMatching(/^(ABORTED|NOT_FOUND)$/) });
    expect(r.central.seen).toBeGreaterThanOrEqual(20); // it saw the fake, many times
    expect(fake.connections).toBe(0);
    expect(fake.captured).toEqual([]);
  });

  it('when the app asks for probing, the message 1 a fake captures recognises the toy only within its slot: later the toy refuses it exactly as a foreign toy does', async () => {
    const r = await pairedThenAway();
    const fake = fakeOwnedToy(r.radio);
    r.watched.id = fake.peripheral.id;
    const ac = new AbortController();
    r.ctl.abort = () => undefined;
    const probing = r.app.connect('Bunny', { signal: ac.signal, probeUnresolved: true, probeAfterMs: 0, maxProbes: 1 }).catch((e: unknown) => e);
    expect(await until(() => fake.captured.length > 0, 60_000)).toBe(true); // a hang guard, not a verdict
    ac.abort();
    await probing;
    expect(fake.captured).toHaveLength(1);
    const m1 = fake.captured[0]!;
    expect(decodeWire(m1).kind).toBe('reconnect-m1');

    const home = await r.back();
    const elsewhere = await r.foreign();
    // within the slot it was made in (and the next), the toy still reads it: the short window
    expect((await replay(r.radio, home.id, m1)).answer).toEqual({ kind: 'reconnect-m2' });
    // two slots later, the child's toy and a foreign toy answer alike
    r.clock.now += 2 * SLOT_MS;
    const atHome = await replay(r.radio, home.id, m1);
    const atForeign = await replay(r.radio, elsewhere, m1);
    expect(atHome).toEqual({ answer: { kind: 'error', refusal: 'HANDSHAKE_FAILED', retryAfterSec: 0 }, disconnected: true });
    expect(atHome).toEqual(atForeign);
    // a day later: the same
    r.clock.now += 24 * 3600_000;
    expect(await replay(r.radio, home.id, m1)).toEqual(atForeign);
  });
});
