/**
 * noble-sim: real noble (HCI bindings, GAP, ATT client) against real bleno (GATT server) over the
 * simulated ACL loopback. Nothing here uses the in-memory link.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { isPlushlinkError } from '../../src/protocol/errors.js';
import { createNobleSimRadio, HCI_REASON, type NobleSimOptions, type NobleSimRadio, type SimPacket } from '../../src/transport/noble-sim/index.js';
import type { NobleCentral, NoblePeripheralLike } from '../../src/transport/noble/central.js';
import type { CentralLink, NotifyingCharacteristic, PeripheralLink, WritableCharacteristic } from '../../src/transport/types.js';
import { until } from '../helpers/until.js';

/** Helpers for the noble-sim integration tests. */

interface Rig {
  radio: NobleSimRadio;
  id: string;
  /** Peripheral-side links in connection order. */
  plinks: PeripheralLink[];
  /** Resolves with the next peripheral-side link. */
  nextPeripheralLink(): Promise<PeripheralLink>;
}

/** Scans `central` until the first advertisement and returns its id. */
async function firstAdvertisementId(central: NobleCentral): Promise<string> {
  const ac = new AbortController();
  for await (const ad of central.scan({ signal: ac.signal })) return ad.id;
  throw new Error('scan ended without an advertisement');
}

async function startRig(options: NobleSimOptions = {}, serviceData = new Uint8Array([0x01, 0xaa, 0xbb])): Promise<Rig> {
  const radio = createNobleSimRadio({ central: { gattTimeoutMs: 1_000, connectTimeoutMs: 3_000 }, ...options });
  rigs.push(radio);
  const plinks: PeripheralLink[] = [];
  const waiters: ((l: PeripheralLink) => void)[] = [];
  radio.peripheral.on('connect', (l) => {
    plinks.push(l);
    waiters.shift()?.(l);
  });
  await radio.peripheral.advertise(serviceData);
  const id = await firstAdvertisementId(radio.central);
  return {
    radio,
    id,
    plinks,
    nextPeripheralLink: () => new Promise((resolve) => waiters.push(resolve)),
  };
}


function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const rigs: NobleSimRadio[] = [];
afterEach(async () => {
  await Promise.all(rigs.splice(0).map((r) => r.close()));
});

async function connected(options: NobleSimOptions = {}): Promise<Rig & { link: CentralLink; plink: PeripheralLink }> {
  const rig = await startRig(options);
  const pl = rig.nextPeripheralLink();
  const link = await rig.radio.central.connect(rig.id);
  return { ...rig, link, plink: await pl };
}

async function expectCode(p: Promise<unknown>, ...codes: string[]): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(isPlushlinkError(e), String(e)).toBe(true);
    const code = (e as { code: string }).code;
    expect(codes).toContain(code);
    return code;
  }
  throw new Error(`expected a rejection with ${codes.join('/')}`);
}

const ATT = { MTU_REQ: 0x02, READ_BY_TYPE: 0x08, READ_BY_GROUP: 0x10, WRITE_REQ: 0x12, WRITE_RESP: 0x13, NOTIFY: 0x1b, IND: 0x1d, CNF: 0x1e, WRITE_CMD: 0x52 };

function listenerTotals(emitter: { eventNames(): (string | symbol)[]; listenerCount(e: string | symbol): number }): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of emitter.eventNames()) out[String(e)] = emitter.listenerCount(e);
  return out;
}

describe('noble-sim: scanning and advertising', () => {
  it('noble parses the toy advertisement: service data under the plushlink UUID, no name', async () => {
    const rig = await startRig({}, new Uint8Array([7, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const ac = new AbortController();
    const seen = [];
    for await (const ad of rig.radio.central.scan({ signal: ac.signal })) {
      seen.push(ad);
      if (seen.length === 1) await rig.radio.peripheral.advertise(new Uint8Array([8, 9]));
      if (seen.length === 2) break;
    }
    expect(seen[0]).toMatchObject({ id: rig.id, rssi: -50 });
    expect([...seen[0]!.serviceData]).toEqual([7, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // the rotating tag changed: the scan reports it again
    expect([...seen[1]!.serviceData]).toEqual([8, 9]);
    const p = rig.radio.central.noble._peripherals?.[rig.id] as NoblePeripheralLike & { advertisement: { localName?: string; manufacturerData?: unknown } };
    expect(p.advertisement.localName).toBeUndefined();
    expect(p.advertisement.manufacturerData).toBeUndefined();
  });

  it('a stopped advertiser is not found; an aborted scan ends', async () => {
    const radio = createNobleSimRadio();
    rigs.push(radio);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const seen = [];
    for await (const ad of radio.central.scan({ signal: ac.signal })) seen.push(ad);
    expect(seen).toEqual([]);
  });
});

describe('noble-sim: connect and MTU exchange', () => {
  for (const [c, p, expected] of [
    [23, 23, 23],
    [247, 247, 247],
    [517, 517, 517],
    [256, 256, 256], // noble's own request against bleno's default
    [517, 247, 247],
    [185, 517, 185],
  ] as const) {
    it(`central max ${c}, peripheral max ${p} → MTU ${expected} on both sides`, async () => {
      const { link, plink, radio } = await connected({ centralMaxMtu: c, peripheralMaxMtu: p });
      expect(link.mtu).toBe(expected);
      expect(plink.mtu).toBe(expected);
      expect(link.connected && plink.connected).toBe(true);
      // the largest value that fits crosses intact in both directions
      const got: Uint8Array[] = [];
      plink.on('write', (_c, v) => got.push(v));
      const value = bytes(expected - 3, expected);
      await link.write('control', value);
      await link.write('speaker', value);
      await until(() => got.length === 2);
      expect(got.map((g) => [...g])).toEqual([[...value], [...value]]);
      const notified: Uint8Array[] = [];
      link.on('data', (_c, v) => notified.push(v));
      await plink.send('control', value);
      await plink.send('microphone', value);
      await until(() => notified.length === 2);
      expect(notified.map((g) => [...g])).toEqual([[...value], [...value]]);
      // one byte more is refused on both sides (bleno would silently truncate notifications)
      await expectCode(link.write('speaker', new Uint8Array(expected - 2)), 'BAD_FRAME');
      await expectCode(plink.send('microphone', new Uint8Array(expected - 2)), 'BAD_FRAME');
      expect(radio.links()).toHaveLength(1);
    });
  }

  it('a stale peripheral.mtu from an earlier connection is never read', async () => {
    const rig = await startRig({ centralMaxMtu: 100, peripheralMaxMtu: 100 });
    const first = await rig.radio.central.connect(rig.id);
    expect(first.mtu).toBe(100);
    await first.disconnect();
    const p = rig.radio.central.noble._peripherals![rig.id]!;
    p.mtu = 999;
    const second = await rig.radio.central.connect(rig.id);
    expect(second.mtu).toBe(100);
    await second.disconnect();
  });

  it('connect needs no prior scan by the caller (the adapter scans for the id)', async () => {
    const radio = createNobleSimRadio();
    rigs.push(radio);
    await radio.peripheral.advertise(new Uint8Array([1]));
    const link = await radio.central.connect(radio.peripheral.address.replace(/:/g, ''));
    expect(link.connected).toBe(true);
  });

  it('connect to an absent toy times out; an aborted connect rejects ABORTED', async () => {
    const radio = createNobleSimRadio();
    rigs.push(radio);
    await expectCode(radio.central.connect('f00000000099', { timeoutMs: 100 }), 'TIMEOUT');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await expectCode(radio.central.connect('f00000000099', { signal: ac.signal }), 'ABORTED');
  });
});

describe('noble-sim: GATT operations', () => {
  it('control is written with response (ATT Write Request), speaker without (Write Command)', async () => {
    const packets: SimPacket[] = [];
    const { link, plink, radio } = await connected({ latencyMs: 10 });
    radio.air.onPacket = (p) => {
      packets.push({ ...p, data: Buffer.from(p.data) });
    };
    const got: [WritableCharacteristic, number[]][] = [];
    plink.on('write', (c, v) => got.push([c, [...v]]));
    const t0 = performance.now();
    await link.write('control', new Uint8Array([1, 2]));
    const controlMs = performance.now() - t0;
    // the promise settled only after the response crossed back (2 × 10 ms one-way latency)
    expect(controlMs).toBeGreaterThanOrEqual(19);
    expect(got).toEqual([['control', [1, 2]]]);
    const t1 = performance.now();
    await link.write('speaker', new Uint8Array([3]));
    expect(performance.now() - t1).toBeLessThan(10); // handed to the radio, no round trip
    await until(() => got.length === 2);
    expect(got[1]).toEqual(['speaker', [3]]);
    const ops = packets.map((p) => `${p.direction[0]}:${p.data[0]}`);
    expect(ops).toEqual([`c:${ATT.WRITE_REQ}`, `p:${ATT.WRITE_RESP}`, `c:${ATT.WRITE_CMD}`]);
  });

  it('indications are confirmed before send settles; notifications are not', async () => {
    const packets: SimPacket[] = [];
    const { link, plink, radio } = await connected({ latencyMs: 3 });
    radio.air.onPacket = (p) => {
      packets.push({ ...p, data: Buffer.from(p.data) });
    };
    const got: [NotifyingCharacteristic, number[]][] = [];
    link.on('data', (c, v) => got.push([c, [...v]]));
    await plink.send('control', new Uint8Array([5]));
    expect(packets.map((p) => p.data[0])).toEqual([ATT.IND, ATT.CNF]);
    expect(got).toEqual([['control', [5]]]);
    await plink.send('microphone', new Uint8Array([6]));
    await until(() => got.length === 2);
    expect(got[1]).toEqual(['microphone', [6]]);
    expect(packets.map((p) => p.data[0])).toEqual([ATT.IND, ATT.CNF, ATT.NOTIFY]);
  });

  it('long sequences arrive complete and in order, both ways, with concurrent callers', async () => {
    const { link, plink } = await connected({ centralMaxMtu: 247, peripheralMaxMtu: 247, latencyMs: 1 });
    const rx: Record<string, number[][]> = { control: [], speaker: [], microphone: [] };
    plink.on('write', (c, v) => rx[c]!.push([...v]));
    link.on('data', (c, v) => (c === 'control' ? rx.indications ??= [] : rx.microphone!).push([...v]));
    const speaker = Array.from({ length: 400 }, (_, i) => bytes(1 + ((i * 37) % 244), i));
    const control = Array.from({ length: 60 }, (_, i) => bytes(1 + ((i * 53) % 244), 1000 + i));
    const mic = Array.from({ length: 300 }, (_, i) => bytes(1 + ((i * 29) % 244), 2000 + i));
    const ind = Array.from({ length: 40 }, (_, i) => bytes(1 + ((i * 11) % 244), 3000 + i));
    // no awaiting between calls: the adapters must queue and keep the order
    await Promise.all([
      ...speaker.map((v) => link.write('speaker', v)),
      ...control.map((v) => link.write('control', v)),
      ...mic.map((v) => plink.send('microphone', v)),
      ...ind.map((v) => plink.send('control', v)),
    ]);
    await until(() => rx.speaker!.length === speaker.length && rx.microphone!.length === mic.length);
    expect(rx.speaker).toEqual(speaker.map((v) => [...v]));
    expect(rx.control).toEqual(control.map((v) => [...v]));
    expect(rx.microphone).toEqual(mic.map((v) => [...v]));
    expect(rx.indications).toEqual(ind.map((v) => [...v]));
  });

  it('an ATT error response (never settled by noble) becomes TIMEOUT and drops the link', async () => {
    const { link, plink, radio } = await connected({ central: { gattTimeoutMs: 150 } });
    radio.air.onPacket = (p) => {
      // point the control write at a handle bleno does not have: bleno answers with an ATT error
      if (p.direction === 'central-to-peripheral' && p.data[0] === ATT.WRITE_REQ) (p.data as Buffer).writeUInt16LE(0x00ff, 1);
    };
    const reasons: string[] = [];
    link.on('disconnect', (r) => reasons.push(r));
    const queued = link.write('control', new Uint8Array([2]));
    await expectCode(link.write('control', new Uint8Array([1])).finally(() => undefined).catch((e) => Promise.reject(e)), 'TIMEOUT');
    await expectCode(queued, 'TIMEOUT', 'DISCONNECTED');
    expect(reasons).toEqual(['timeout']);
    await until(() => !plink.connected);
    await expectCode(link.write('speaker', new Uint8Array([1])), 'TIMEOUT', 'DISCONNECTED');
  });
});

describe('noble-sim: disconnects', () => {
  const points: [string, (p: SimPacket) => boolean][] = [
    ['MTU exchange', (p) => p.data[0] === ATT.MTU_REQ],
    ['service discovery', (p) => p.data[0] === ATT.READ_BY_GROUP],
    ['characteristic discovery', (p) => p.data[0] === ATT.READ_BY_TYPE],
    ['CCCD write (subscribe)', (p) => p.data[0] === ATT.WRITE_REQ],
    ['first notification-enable response', (p) => p.direction === 'peripheral-to-central' && p.data[0] === ATT.WRITE_RESP],
  ];
  for (const [name, match] of points) {
    it(`link loss during ${name}: connect rejects DISCONNECTED, a retry connects`, async () => {
      const rig = await startRig();
      let armed = true;
      rig.radio.air.onPacket = (p) => {
        if (armed && p.cid === 4 && match(p)) {
          armed = false;
          return 'disconnect';
        }
      };
      await expectCode(rig.radio.central.connect(rig.id), 'DISCONNECTED');
      expect(armed).toBe(false);
      const link = await rig.radio.central.connect(rig.id);
      expect(link.connected).toBe(true);
      await link.write('control', new Uint8Array([1]));
    });
  }

  it('link loss with writes in flight: pending and queued writes reject DISCONNECTED; both sides see the loss', async () => {
    const { link, plink, radio } = await connected({ latencyMs: 2 });
    const creasons: string[] = [];
    const preasons: string[] = [];
    link.on('disconnect', (r) => creasons.push(r));
    plink.on('disconnect', (r) => preasons.push(r));
    let n = 0;
    radio.air.onPacket = (p) => (p.data[0] === ATT.WRITE_REQ && ++n === 3 ? 'disconnect' : undefined);
    const writes = Array.from({ length: 6 }, (_, i) => link.write('control', new Uint8Array([i])));
    const results = await Promise.allSettled(writes);
    expect(results.slice(0, 2).map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    for (const r of results.slice(2)) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason.code).toBe('DISCONNECTED');
    }
    await until(() => preasons.length === 1);
    expect(creasons).toEqual(['supervision-timeout']);
    expect(preasons).toEqual(['supervision-timeout']);
    expect(link.connected || plink.connected).toBe(false);
    await expectCode(link.write('speaker', new Uint8Array([1])), 'DISCONNECTED');
    await expectCode(plink.send('microphone', new Uint8Array([1])), 'DISCONNECTED');
  });

  it('link loss with an indication waiting for its confirmation: send rejects DISCONNECTED', async () => {
    const { plink, radio } = await connected({ latencyMs: 2 });
    radio.air.onPacket = (p) => (p.data[0] === ATT.CNF ? 'disconnect' : undefined);
    const a = plink.send('control', new Uint8Array([1]));
    const b = plink.send('control', new Uint8Array([2]));
    await expectCode(a, 'DISCONNECTED');
    await expectCode(b, 'DISCONNECTED');
  });

  it('an unconfirmed indication times out and drops the link', async () => {
    const { plink, link, radio } = await connected({ indicationTimeoutMs: 100 });
    radio.air.onPacket = (p) => (p.data[0] === ATT.CNF ? 'drop' : undefined);
    await expectCode(plink.send('control', new Uint8Array([1])), 'TIMEOUT');
    await until(() => !link.connected);
  });

  it('toy-side disconnect reaches the central as a remote disconnect', async () => {
    const { link, plink } = await connected();
    const reasons: string[] = [];
    link.on('disconnect', (r) => reasons.push(r));
    plink.disconnect();
    plink.disconnect(); // idempotent
    await until(() => reasons.length > 0);
    expect(reasons).toEqual(['remote-user-terminated']);
    await expectCode(link.write('control', new Uint8Array([1])), 'DISCONNECTED');
  });

  it('injected loss on every link (disconnectAll) and local disconnect are idempotent', async () => {
    const { link, plink, radio } = await connected();
    radio.disconnectAll(HCI_REASON.SUPERVISION_TIMEOUT);
    await until(() => !link.connected && !plink.connected);
    await link.disconnect();
    await link.disconnect();
    expect(radio.links()).toEqual([]);
  });
});

describe('noble-sim: several centrals, reconnects, no leaks', () => {
  it('an owner and a stranger connected at once each get their own link', async () => {
    const rig = await startRig();
    const stranger = rig.radio.createCentral();
    const owner = await rig.radio.central.connect(rig.id);
    const other = await stranger.connect(rig.id);
    await until(() => rig.plinks.length === 2);
    const [pOwner, pStranger] = rig.plinks as [PeripheralLink, PeripheralLink];
    expect(pOwner.id).not.toBe(pStranger.id);
    const seen: string[] = [];
    pOwner.on('write', (_c, v) => seen.push(`owner:${v[0]}`));
    pStranger.on('write', (_c, v) => seen.push(`stranger:${v[0]}`));
    await owner.write('control', new Uint8Array([1]));
    await other.write('control', new Uint8Array([2]));
    expect(seen).toEqual(['owner:1', 'stranger:2']);
    const strangerData: number[] = [];
    other.on('data', (_c, v) => strangerData.push(v[0]!));
    await pOwner.send('control', new Uint8Array([9]));
    pStranger.disconnect();
    await until(() => !other.connected);
    expect(owner.connected).toBe(true);
    expect(strangerData).toEqual([]);
    await owner.write('speaker', new Uint8Array([3]));
  });

  it('maxConnections: 1 (real bleno) keeps a second central out until the first leaves', async () => {
    const rig = await startRig({ maxConnections: 1 });
    const stranger = rig.radio.createCentral({ connectTimeoutMs: 3_000 });
    const sid = rig.id; // the stranger scanned nothing; it connects by the id
    const first = await stranger.connect(sid);
    await expectCode(rig.radio.central.connect(rig.id, { timeoutMs: 150 }), 'TIMEOUT');
    await first.disconnect();
    const owner = await rig.radio.central.connect(rig.id);
    expect(owner.connected).toBe(true);
  });

  it('100 connect/disconnect cycles: no listener growth on noble, the peripheral or process', async () => {
    const rig = await startRig();
    const central = rig.radio.central;
    const noble = central.noble as unknown as Parameters<typeof listenerTotals>[0];
    const process_ = { SIGINT: process.listenerCount('SIGINT'), exit: process.listenerCount('exit') };
    let baseline: { noble: Record<string, number>; peripheral: Record<string, number> } | undefined;
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) {
      const link = await central.connect(rig.id);
      await link.write('control', new Uint8Array([i]));
      if (i % 2) await link.disconnect();
      else {
        rig.radio.disconnectAll();
        await until(() => !link.connected);
      }
      const p = central.noble._peripherals![rig.id] as unknown as Parameters<typeof listenerTotals>[0];
      const snapshot = { noble: listenerTotals(noble), peripheral: listenerTotals(p) };
      baseline ??= snapshot;
      expect(snapshot).toEqual(baseline);
    }
    const perCycle = (performance.now() - t0) / 100;
    console.log(`[noble-sim] connect+write+disconnect cycle: ${perCycle.toFixed(2)} ms`);
    expect(baseline!.peripheral).toEqual({});
    expect({ SIGINT: process.listenerCount('SIGINT'), exit: process.listenerCount('exit') }).toEqual(process_);
  });

  it('close() removes noble\'s SIGINT/exit handlers and stops everything', async () => {
    const before = { SIGINT: process.listenerCount('SIGINT'), exit: process.listenerCount('exit') };
    const { radio, link } = await connected();
    expect(process.listenerCount('SIGINT')).toBe(before.SIGINT + 1);
    await radio.close();
    expect(link.connected).toBe(false);
    expect({ SIGINT: process.listenerCount('SIGINT'), exit: process.listenerCount('exit') }).toEqual(before);
  });
});

describe('noble-sim: measurements', () => {
  for (const latencyMs of [0, 1]) {
    it(`round trips at ${latencyMs} ms one-way latency`, async () => {
      const { link, plink } = await connected({ latencyMs, centralMaxMtu: 247, peripheralMaxMtu: 247 });
      const N = 200;
      let t = performance.now();
      for (let i = 0; i < N; i++) await link.write('control', bytes(100, i));
      const writeMs = (performance.now() - t) / N;
      let received = 0;
      plink.on('write', () => received++);
      t = performance.now();
      await Promise.all(Array.from({ length: N }, (_, i) => link.write('speaker', bytes(244, i))));
      await until(() => received >= N, 10_000);
      const speakerMs = (performance.now() - t) / N;
      t = performance.now();
      for (let i = 0; i < N; i++) await plink.send('control', bytes(100, i));
      const indicateMs = (performance.now() - t) / N;
      console.log(
        `[noble-sim] latency ${latencyMs} ms: control write RTT ${writeMs.toFixed(3)} ms, speaker write ${speakerMs.toFixed(3)} ms each (244 B, pipelined), indication RTT ${indicateMs.toFixed(3)} ms`,
      );
      expect(writeMs).toBeGreaterThanOrEqual(latencyMs * 2 * 0.9);
    });
  }
});
