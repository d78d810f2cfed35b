import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  MemoryRadio,
  type MemoryCentralLink,
  type MemoryPeripheral,
  type MemoryPeripheralLink,
  type MemoryRadioOptions,
  type PduTrace,
} from '../../../src/transport/memory/index.js';
import { isPlushlinkError, type ErrorCode } from '../../../src/protocol/errors.js';
import type { Advertisement } from '../../../src/transport/types.js';

const I = 7.5; // connection interval used throughout (ms, simulated)
const SETUP_EVENTS = 1 + 2 * (1 + 2 + 2); // establish + (MTU + 2 discovery + 2 CCCD) request/response pairs

const radios: MemoryRadio[] = [];
function mkRadio(options: MemoryRadioOptions = {}): MemoryRadio {
  const r = new MemoryRadio({ timeScale: 0, seed: 7, connectionIntervalMs: I, advertisingIntervalMs: 0, ...options });
  radios.push(r);
  return r;
}
afterEach(async () => {
  for (const r of radios.splice(0)) await r.close();
  vi.useRealTimers();
});

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isPlushlinkError(e), `expected PlushlinkError ${code}, got ${String(e)}`).toBe(true);
  expect((e as { code: string }).code).toBe(code);
}

interface Pair {
  radio: MemoryRadio;
  peripheral: MemoryPeripheral;
  central: MemoryCentralLink;
  link: MemoryPeripheralLink;
}

async function connectPair(
  radio: MemoryRadio,
  opts: { centralMtu?: number; peripheralMtu?: number; notificationQueueSize?: number; writeQueueSize?: number } = {},
): Promise<Pair> {
  const peripheral = radio.createPeripheral({ mtu: opts.peripheralMtu, notificationQueueSize: opts.notificationQueueSize });
  await peripheral.advertise(new Uint8Array([1, 2, 3]));
  const gotLink = new Promise<MemoryPeripheralLink>((resolve) => peripheral.once('connect', (l) => resolve(l as MemoryPeripheralLink)));
  const c = radio.createCentral({ mtu: opts.centralMtu, writeQueueSize: opts.writeQueueSize });
  const central = await c.connect(peripheral.id);
  return { radio, peripheral, central, link: await gotLink };
}

function bytes(n: number, fill = 0xab): Uint8Array {
  return new Uint8Array(n).fill(fill);
}

describe('MemoryRadio: advertising and scanning', () => {
  it('yields current advertisements at once, again on change, and ends on abort', async () => {
    const radio = mkRadio();
    const a = radio.createPeripheral({ rssi: -42 });
    const b = radio.createPeripheral();
    expect(a.id).toMatch(/^[0-9a-f]{12}$/);
    expect(a.id).not.toBe(b.id);
    await a.advertise(new Uint8Array([1]));
    await b.advertise(new Uint8Array([2]));
    const central = radio.createCentral();
    const ac = new AbortController();
    const it = central.scan({ signal: ac.signal })[Symbol.asyncIterator]();
    const first = [(await it.next()).value as Advertisement, (await it.next()).value as Advertisement];
    expect(new Set(first.map((x) => x.id))).toEqual(new Set([a.id, b.id]));
    expect(first.find((x) => x.id === a.id)).toMatchObject({ rssi: -42, serviceData: new Uint8Array([1]) });

    const pending = it.next();
    await a.advertise(new Uint8Array([9, 9]));
    expect((await pending).value).toMatchObject({ id: a.id, serviceData: new Uint8Array([9, 9]) });

    const waiting = it.next();
    ac.abort();
    expect(await waiting).toEqual({ value: undefined, done: true });
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it('re-reports advertisements every advertising interval (scheduler time) and stops on return()', async () => {
    vi.useFakeTimers();
    const radio = mkRadio({ advertisingIntervalMs: 100 });
    const p = radio.createPeripheral();
    await p.advertise(new Uint8Array([5]));
    const it = radio.createCentral().scan()[Symbol.asyncIterator]();
    expect((await it.next()).value?.id).toBe(p.id);
    let got: IteratorResult<Advertisement> | undefined;
    void it.next().then((r) => (got = r));
    await vi.advanceTimersByTimeAsync(50);
    expect(got).toBeUndefined();
    await vi.advanceTimersByTimeAsync(60);
    expect(got?.value?.id).toBe(p.id);
    await it.return!();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('forgets peripherals that stop advertising or rotate their address', async () => {
    const radio = mkRadio();
    const p = radio.createPeripheral();
    const central = radio.createCentral();
    const it = central.scan()[Symbol.asyncIterator]();
    const next = it.next();
    await p.advertise(new Uint8Array([1]));
    expect((await next).value?.id).toBe(p.id);
    const oldId = p.id;
    const newId = p.rotateAddress();
    expect(newId).not.toBe(oldId);
    // the new address is silent until the next advertise(), which brings the new data with it
    expect(p.advertising).toBe(false);
    await expectCode(central.connect(newId), 'NOT_FOUND');
    await p.advertise(new Uint8Array([2]));
    const ad = (await it.next()).value;
    expect(ad?.id).toBe(newId);
    expect([...ad!.serviceData]).toEqual([2]);
    await expectCode(central.connect(oldId), 'NOT_FOUND');
    await p.stopAdvertising();
    await expectCode(central.connect(newId), 'NOT_FOUND');
    await it.return!();
  });

  it('refuses oversized service data', async () => {
    const radio = mkRadio();
    const p = radio.createPeripheral();
    await expect(p.advertise(bytes(24))).resolves.toBeUndefined();
    await expectCode(p.advertise(bytes(25)), 'BAD_FRAME');
  });

  it('a scan on an already-aborted signal is empty', async () => {
    const radio = mkRadio();
    await radio.createPeripheral().advertise(new Uint8Array([1]));
    const ac = new AbortController();
    ac.abort();
    const seen: Advertisement[] = [];
    for await (const ad of radio.createCentral().scan({ signal: ac.signal })) seen.push(ad);
    expect(seen).toEqual([]);
  });
});

describe('MemoryRadio: connecting', () => {
  it.each([
    [247, 247, 247],
    [23, 517, 23],
    [517, 517, 517],
    [1000, 2000, 517],
    [10, 100, 23],
    [185, 100, 100],
    [100, 185, 100],
  ])('negotiates MTU central %i / peripheral %i → %i', async (cm, pm, want) => {
    const { central, link } = await connectPair(mkRadio(), { centralMtu: cm, peripheralMtu: pm });
    expect(central.mtu).toBe(want);
    expect(link.mtu).toBe(want);
  });

  it('takes establishment + MTU + discovery + subscriptions, in simulated time, and announces them in order', async () => {
    const radio = mkRadio();
    const p = radio.createPeripheral();
    await p.advertise(new Uint8Array([1]));
    const seen: string[] = [];
    p.on('connect', (l) => {
      seen.push(`connect@${radio.now()}`);
      expect(l.mtu).toBe(247); // final at connect time
      l.on('subscribe', (ch) => seen.push(`subscribe:${ch}@${radio.now()}`));
    });
    const c = radio.createCentral();
    const t0 = radio.now();
    const link = await c.connect(p.id);
    expect(radio.now() - t0).toBeCloseTo(SETUP_EVENTS * I, 6);
    expect(seen).toEqual([`connect@${t0 + 2 * I}`, `subscribe:control@${t0 + 8 * I}`, `subscribe:microphone@${t0 + 10 * I}`]);
    expect(link.connected).toBe(true);
    expect(link.id).toBe(p.id);
    const s = link.stats;
    expect(s).toMatchObject({ setupEvents: SETUP_EVENTS, connectionEvents: SETUP_EVENTS, writes: 0, roundTrips: 0, flights: 0 });
    expect(s.readyAt! - s.connectStartedAt).toBeCloseTo(SETUP_EVENTS * I, 6);
    expect(s.establishedAt! - s.connectStartedAt).toBeCloseTo(I, 6);
    expect(p.links.map((l) => l.id)).toEqual([c.id]);
    await expect(link.subscribe('control')).resolves.toBeUndefined();
  });

  it('rejects NOT_FOUND, TIMEOUT, ABORTED and closed-adapter connects', async () => {
    const radio = mkRadio();
    const c = radio.createCentral();
    await expectCode(c.connect('nope'), 'NOT_FOUND');
    const p = radio.createPeripheral();
    await expectCode(c.connect(p.id), 'NOT_FOUND'); // exists, not advertising
    await p.advertise(new Uint8Array([1]));

    const connects: string[] = [];
    p.on('connect', (l) => {
      connects.push('connect');
      l.on('disconnect', (r) => connects.push(`disconnect:${r}`));
    });
    await expectCode(c.connect(p.id, { timeoutMs: 5 * I }), 'TIMEOUT');
    await radio.settle();
    expect(connects).toEqual(['connect', 'disconnect:remote']);

    const ac = new AbortController();
    const pending = c.connect(p.id, { signal: ac.signal });
    p.once('connect', () => ac.abort());
    await expectCode(pending, 'ABORTED');
    const ac2 = new AbortController();
    ac2.abort();
    await expectCode(c.connect(p.id, { signal: ac2.signal }), 'ABORTED');

    // stops advertising while the connection is being set up → NOT_FOUND at establishment
    const q = radio.createPeripheral();
    await q.advertise(new Uint8Array([2]));
    const racing = c.connect(q.id);
    await q.stopAdvertising();
    await expectCode(racing, 'NOT_FOUND');

    const pending2 = c.connect(p.id);
    await c.close();
    await expectCode(pending2, 'TRANSPORT_UNAVAILABLE');
    await expectCode(c.connect(p.id), 'TRANSPORT_UNAVAILABLE');
    await radio.settle();
    expect(p.links).toEqual([]);
  });

  it('lets the peripheral refuse a connection', async () => {
    const radio = mkRadio();
    const p = radio.createPeripheral();
    await p.advertise(new Uint8Array([1]));
    p.on('connect', (l) => l.disconnect());
    const c = radio.createCentral();
    await expectCode(c.connect(p.id), 'DISCONNECTED');
    expect(c.links).toEqual([]);
  });

  it('gives every central its own id on the peripheral side and keeps links apart', async () => {
    const radio = mkRadio();
    const p = radio.createPeripheral();
    await p.advertise(new Uint8Array([1]));
    const links: MemoryPeripheralLink[] = [];
    p.on('connect', (l) => links.push(l as MemoryPeripheralLink));
    const c1 = radio.createCentral();
    const c2 = radio.createCentral();
    const [l1, l2] = await Promise.all([c1.connect(p.id), c2.connect(p.id)]);
    expect(new Set(links.map((l) => l.id))).toEqual(new Set([c1.id, c2.id]));
    const got: string[] = [];
    for (const l of links) l.on('write', (_ch, v) => got.push(`${l.id}:${v[0]}`));
    await l1.write('control', new Uint8Array([1]));
    await l2.write('control', new Uint8Array([2]));
    expect(got).toEqual([`${c1.id}:1`, `${c2.id}:2`]);
    expect(l1.serial).not.toBe(l2.serial);
  });
});

describe('MemoryRadio: ATT behaviour', () => {
  it('write with response resolves one connection event after the peripheral got it', async () => {
    const { radio, central, link } = await connectPair(mkRadio());
    let gotAt = -1;
    link.on('write', (ch, v) => {
      expect(ch).toBe('control');
      expect(v).toEqual(new Uint8Array([7, 8]));
      gotAt = radio.now();
    });
    const t0 = radio.now();
    await central.write('control', new Uint8Array([7, 8]));
    expect(gotAt).toBeCloseTo(t0 + I, 6);
    expect(radio.now()).toBeCloseTo(t0 + 2 * I, 6);
  });

  it('serialises write requests: the second travels only after the first was acknowledged', async () => {
    const { radio, central, link } = await connectPair(mkRadio());
    const at: number[] = [];
    link.on('write', () => at.push(radio.now()));
    const t0 = radio.now();
    await Promise.all([central.write('control', new Uint8Array([1])), central.write('control', new Uint8Array([2]))]);
    expect(at.map((t) => (t - t0) / I)).toEqual([1, 3]);
  });

  it('serialises indications and resolves each on confirmation', async () => {
    const { radio, central, link } = await connectPair(mkRadio());
    const at: number[] = [];
    const resolvedAt: number[] = [];
    central.on('data', (ch, v) => {
      expect(ch).toBe('control');
      at.push(v[0]!);
      at.push((radio.now() - t0) / I);
    });
    const t0 = radio.now();
    await Promise.all(
      [1, 2, 3].map((n) => link.send('control', new Uint8Array([n])).then(() => resolvedAt.push((radio.now() - t0) / I))),
    );
    // indication n is delivered at 2n−1 and confirmed at 2n
    expect(at).toEqual([1, 1, 2, 3, 3, 5]);
    expect(resolvedAt).toEqual([2, 4, 6]);
    expect(link.stats.indications).toBe(3);
  });

  it('preserves order per direction under load (speaker writes and notifications)', async () => {
    const { radio, central, link } = await connectPair(mkRadio(), { writeQueueSize: 8, notificationQueueSize: 100 });
    const up: number[] = [];
    const down: number[] = [];
    link.on('write', (ch, v) => ch === 'speaker' && up.push(v[0]! | (v[1]! << 8)));
    central.on('data', (ch, v) => ch === 'microphone' && down.push(v[0]! | (v[1]! << 8)));
    const N = 60;
    const writes: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      writes.push(central.write('speaker', new Uint8Array([i & 0xff, i >> 8, 0])));
      void link.send('microphone', new Uint8Array([i & 0xff, i >> 8]));
    }
    await Promise.all(writes);
    await radio.settle();
    const seq = Array.from({ length: N }, (_, i) => i);
    expect(up).toEqual(seq);
    expect(down).toEqual(seq);
    expect(link.stats).toMatchObject({ writesWithoutResponse: N, notifications: N, dropped: 0 });
    expect(link.stats.bytesToPeripheral.speaker).toBe(3 * N);
    expect(link.stats.bytesToCentral.microphone).toBe(2 * N);
  });

  it('paces writes without response through a bounded queue (backpressure)', async () => {
    const radio = mkRadio({ pdusPerEvent: 1 });
    const { central } = await connectPair(radio, { writeQueueSize: 2 });
    const t0 = radio.now();
    const settledAt: number[] = [];
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        central.write('speaker', new Uint8Array([i])).then(() => settledAt.push((radio.now() - t0) / I)),
      ),
    );
    // two fit at once; then one slot frees per connection event
    expect(settledAt).toEqual([0, 0, 1, 2, 3, 4]);

    // a sender that awaits each write is paced to the air: 20 writes, 1 per event, queue of 2
    const t1 = radio.now();
    for (let i = 0; i < 20; i++) await central.write('speaker', new Uint8Array([i]));
    expect((radio.now() - t1) / I).toBeGreaterThanOrEqual(17);
  });

  it('drops notifications when the queue is full and counts them', async () => {
    const { radio, central, link } = await connectPair(mkRadio(), { notificationQueueSize: 4 });
    const got: number[] = [];
    central.on('data', (_ch, v) => got.push(v[0]!));
    const sends = Array.from({ length: 10 }, (_, i) => link.send('microphone', new Uint8Array([i])));
    await Promise.all(sends); // all settle: a full queue drops, it does not reject
    await radio.settle();
    expect(got).toEqual([0, 1, 2, 3]);
    expect(link.stats).toMatchObject({ notifications: 4, dropped: 6, droppedQueueFull: 6, droppedInjected: 0 });
    // room again once delivered
    await link.send('microphone', new Uint8Array([42]));
    await radio.settle();
    expect(got.at(-1)).toBe(42);
  });

  it.each([23, 100, 247, 517])('refuses values longer than mtu − 3 (mtu %i)', async (mtu) => {
    const { radio, central, link } = await connectPair(mkRadio(), { centralMtu: mtu, peripheralMtu: mtu });
    const max = mtu - 3;
    const got: number[] = [];
    link.on('write', (_c, v) => got.push(v.length));
    central.on('data', (_c, v) => got.push(-v.length));
    await central.write('control', bytes(max));
    await central.write('speaker', bytes(max));
    await link.send('control', bytes(max));
    await link.send('microphone', bytes(max));
    await expectCode(central.write('control', bytes(max + 1)), 'BAD_FRAME');
    await expectCode(central.write('speaker', bytes(max + 1)), 'BAD_FRAME');
    await expectCode(link.send('control', bytes(max + 1)), 'BAD_FRAME');
    await expectCode(link.send('microphone', bytes(max + 1)), 'BAD_FRAME');
    await radio.settle();
    expect(got).toEqual([max, max, -max, -max]);
    expect(central.connected && link.connected).toBe(true);
  });

  it('copies values at send time', async () => {
    const { radio, central, link } = await connectPair(mkRadio());
    const got: Uint8Array[] = [];
    link.on('write', (_c, v) => got.push(v));
    const buf = new Uint8Array([1, 2, 3]);
    const p = central.write('speaker', buf);
    buf.fill(0);
    await p;
    await radio.settle();
    expect(got).toEqual([new Uint8Array([1, 2, 3])]);
  });

  it('refuses sends before the central subscribed', async () => {
    const radio = mkRadio();
    const p = radio.createPeripheral();
    await p.advertise(new Uint8Array([1]));
    const result = new Promise<unknown>((resolve) =>
      p.on('connect', (l) => {
        expect(l.connected).toBe(true);
        l.send('microphone', new Uint8Array([1])).then(resolve, resolve);
      }),
    );
    await radio.createCentral().connect(p.id);
    const e = await result;
    expect(isPlushlinkError(e, 'NOT_SUBSCRIBED')).toBe(true);
  });
});

describe('MemoryRadio: disconnects', () => {
  it('a local disconnect is immediate; the other side learns at the next connection event', async () => {
    const { radio, central, link } = await connectPair(mkRadio());
    const events: string[] = [];
    central.on('disconnect', (r) => events.push(`central:${r}@${radio.now()}`));
    link.on('disconnect', (r) => events.push(`peripheral:${r}@${radio.now()}`));
    const t0 = radio.now();
    await central.disconnect();
    expect(central.connected).toBe(false);
    expect(events).toEqual([`central:local@${t0}`]);
    await expectCode(central.write('control', new Uint8Array([1])), 'DISCONNECTED');
    await radio.settle();
    expect(events).toEqual([`central:local@${t0}`, `peripheral:remote@${t0 + I}`]);
    await expectCode(link.send('control', new Uint8Array([1])), 'DISCONNECTED');
    await central.disconnect(); // idempotent
    link.disconnect();
    expect(events).toHaveLength(2);
  });

  it('a peripheral disconnect rejects the central’s pending operations', async () => {
    const { radio, central, link } = await connectPair(mkRadio());
    const w = central.write('control', new Uint8Array([1]));
    link.disconnect();
    await expectCode(w, 'DISCONNECTED');
    expect(central.connected).toBe(false);
    await radio.settle();
  });

  it('peripheral.close() drops every link and stops advertising', async () => {
    const { radio, peripheral, central } = await connectPair(mkRadio());
    const reason = new Promise((r) => central.once('disconnect', r));
    await peripheral.close();
    expect(await reason).toBe('remote');
    expect(peripheral.advertising).toBe(false);
    await expectCode(peripheral.advertise(new Uint8Array([1])), 'TRANSPORT_UNAVAILABLE');
    await expectCode(radio.createCentral().connect(peripheral.id), 'NOT_FOUND');
  });
});

describe('MemoryRadio: stats and traces', () => {
  // A handshake-shaped exchange: flights alternate central → peripheral (control writes) and
  // peripheral → central (indications); each flight is `frags` fragments.
  async function exchange(pair: Pair, flights: number, frags: number): Promise<void> {
    const { central, link } = pair;
    let flight = 0;
    const done = new Promise<void>((resolve) => {
      let got = 0;
      const onFragment = async (): Promise<void> => {
        if (++got < frags) return;
        got = 0;
        flight++;
        if (flight === flights) return resolve();
        if (flight % 2 === 1) for (let i = 0; i < frags; i++) await link.send('control', bytes(20, flight));
        else for (let i = 0; i < frags; i++) await central.write('control', bytes(20, flight));
      };
      link.on('write', () => void onFragment());
      central.on('data', () => void onFragment());
    });
    for (let i = 0; i < frags; i++) await central.write('control', bytes(20, 0));
    await done;
    await pair.radio.settle();
  }

  it.each([1, 2, 3, 4, 5])('a %i-flight exchange counts floor(k/2) round trips, however fragmented', async (k) => {
    for (const frags of [1, 3]) {
      const pair = await connectPair(mkRadio());
      const before = pair.central.stats;
      await exchange(pair, k, frags);
      const s = pair.central.stats;
      expect(s.flights).toBe(k);
      expect(s.roundTrips).toBe(Math.floor(k / 2));
      expect(s.writesWithResponse).toBe(Math.ceil(k / 2) * frags);
      expect(s.indications).toBe(Math.floor(k / 2) * frags);
      expect(s.bytesToPeripheral.control).toBe(20 * Math.ceil(k / 2) * frags);
      expect(s.bytesToCentral.control).toBe(20 * Math.floor(k / 2) * frags);
      expect(s.connectionEvents).toBeGreaterThan(before.connectionEvents);
      expect(pair.link.stats).toEqual(s); // both ends share the counters
    }
  });

  it('does not count a round trip for a flight the peripheral starts', async () => {
    const { radio, central, link } = await connectPair(mkRadio());
    await link.send('control', new Uint8Array([1]));
    await link.send('control', new Uint8Array([2]));
    expect(central.stats).toMatchObject({ flights: 1, roundTrips: 0 });
    await central.write('control', new Uint8Array([3]));
    expect(central.stats).toMatchObject({ flights: 2, roundTrips: 0 });
    await link.send('microphone', new Uint8Array([4]));
    await radio.settle();
    expect(central.stats).toMatchObject({ flights: 3, roundTrips: 1 });
  });

  it('emits a pdu trace for every application PDU, in delivery order', async () => {
    const radio = mkRadio();
    const trace: PduTrace[] = [];
    radio.on('pdu', (t) => trace.push(t));
    const { central, link } = await connectPair(radio);
    await central.write('control', new Uint8Array([1]));
    await link.send('control', new Uint8Array([2]));
    await central.write('speaker', new Uint8Array([3]));
    await link.send('microphone', new Uint8Array([4]));
    await radio.settle();
    expect(trace.map((t) => [t.direction, t.characteristic, t.kind, t.value[0], t.link])).toEqual([
      ['toPeripheral', 'control', 'write', 1, central.serial],
      ['toCentral', 'control', 'indication', 2, central.serial],
      ['toPeripheral', 'speaker', 'writeWithoutResponse', 3, central.serial],
      ['toCentral', 'microphone', 'notification', 4, central.serial],
    ]);
    for (let i = 1; i < trace.length; i++) expect(trace[i]!.time).toBeGreaterThanOrEqual(trace[i - 1]!.time);
    expect(trace[3]!.time).toBeGreaterThan(trace[1]!.time);
  });
});

describe('MemoryRadio: timers and cleanup', () => {
  it('runs on fake timers at timeScale 1 (simulated ms = wall ms)', async () => {
    vi.useFakeTimers();
    const radio = mkRadio({ timeScale: 1 });
    const p = radio.createPeripheral();
    await p.advertise(new Uint8Array([1]));
    let link: MemoryCentralLink | undefined;
    void radio
      .createCentral()
      .connect(p.id)
      .then((l) => (link = l));
    await vi.advanceTimersByTimeAsync(SETUP_EVENTS * I - 10);
    expect(link).toBeUndefined();
    await vi.advanceTimersByTimeAsync(20);
    expect(link?.connected).toBe(true);
    expect(radio.now()).toBeCloseTo(SETUP_EVENTS * I, 6);
    await radio.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close() rejects everything pending and leaves no timer behind', async () => {
    vi.useFakeTimers();
    const radio = mkRadio({ timeScale: 1, advertisingIntervalMs: 100 });
    const { central, link, peripheral } = await (async () => {
      const pr = connectPair(radio);
      await vi.advanceTimersByTimeAsync(200);
      return pr;
    })();
    const scan = radio.createCentral().scan()[Symbol.asyncIterator]();
    await scan.next();
    const scanNext = scan.next();
    const pendingConnect = radio.createCentral().connect(peripheral.id, { timeoutMs: 10_000 });
    const w = central.write('control', new Uint8Array([1]));
    const ind = link.send('control', new Uint8Array([2]));
    const events: string[] = [];
    central.on('disconnect', (r) => events.push(`c:${r}`));
    link.on('disconnect', (r) => events.push(`p:${r}`));
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    await radio.close();
    await expectCode(w, 'DISCONNECTED');
    await expectCode(ind, 'DISCONNECTED');
    await expectCode(pendingConnect, 'DISCONNECTED');
    expect(await scanNext).toEqual({ value: undefined, done: true });
    expect(events).toEqual(['c:closed', 'p:closed']);
    expect(vi.getTimerCount()).toBe(0);
    expect(() => radio.createCentral()).toThrow();
    await radio.close(); // idempotent
  });

  it('close() also clears a disconnect still on its way to the other side', async () => {
    vi.useFakeTimers();
    const radio = mkRadio({ timeScale: 1 });
    const pr = connectPair(radio);
    await vi.advanceTimersByTimeAsync(200);
    const { central, link } = await pr;
    const reasons: string[] = [];
    link.on('disconnect', (r) => reasons.push(r));
    await central.disconnect();
    expect(vi.getTimerCount()).toBe(1); // the peripheral learns at the next connection event
    await radio.close();
    expect(vi.getTimerCount()).toBe(0);
    expect(reasons).toEqual(['closed']);
  });

  it('central.close() and peripheral.close() leave no timer once the air is quiet', async () => {
    vi.useFakeTimers();
    const radio = mkRadio({ timeScale: 1, advertisingIntervalMs: 100 });
    const pr = connectPair(radio);
    await vi.advanceTimersByTimeAsync(200);
    const { peripheral } = await pr;
    const c = radio.createCentral();
    const it = c.scan()[Symbol.asyncIterator]();
    await it.next();
    await c.close();
    await peripheral.close();
    await vi.advanceTimersByTimeAsync(100);
    expect(vi.getTimerCount()).toBe(0);
  });
});
