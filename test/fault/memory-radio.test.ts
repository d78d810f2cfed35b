import { afterEach, describe, expect, it } from 'vitest';
import {
  MemoryRadio,
  type MemoryCentralLink,
  type MemoryPeripheral,
  type MemoryPeripheralLink,
  type MemoryRadioOptions,
  type PduTrace,
} from '../../src/transport/memory/index.js';
import { isPlushlinkError, type ErrorCode } from '../../src/protocol/errors.js';

const I = 7.5;
const radios: MemoryRadio[] = [];
function mkRadio(options: MemoryRadioOptions = {}): MemoryRadio {
  const r = new MemoryRadio({ timeScale: 0, seed: 11, connectionIntervalMs: I, advertisingIntervalMs: 0, ...options });
  radios.push(r);
  return r;
}
afterEach(async () => {
  for (const r of radios.splice(0)) await r.close();
});

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}
async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  const e = await errorOf(p);
  expect(isPlushlinkError(e), `expected ${code}, got ${String(e)}`).toBe(true);
  expect((e as { code: string }).code).toBe(code);
}

async function toy(radio: MemoryRadio, options: { notificationQueueSize?: number } = {}): Promise<MemoryPeripheral> {
  const p = radio.createPeripheral(options);
  await p.advertise(new Uint8Array([0x50]));
  return p;
}

async function connect(
  radio: MemoryRadio,
  p: MemoryPeripheral,
  writeQueueSize?: number,
): Promise<{ central: MemoryCentralLink; link: MemoryPeripheralLink }> {
  const link = new Promise<MemoryPeripheralLink>((r) => p.once('connect', (l) => r(l as MemoryPeripheralLink)));
  const central = await radio.createCentral({ writeQueueSize }).connect(p.id);
  return { central, link: await link };
}

/** Resolves after `n` `data` events on `ch`, rejects with DISCONNECTED-like error if the link drops first. */
function waitData(central: MemoryCentralLink, ch: 'control' | 'microphone', n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const onData = (c: string): void => {
      if (c === ch && ++got === n) {
        cleanup();
        resolve();
      }
    };
    const onDisc = (reason: string): void => {
      cleanup();
      reject(Object.assign(new Error(`disconnected: ${reason}`), { code: 'DISCONNECTED' }));
    };
    const cleanup = (): void => {
      central.off('data', onData);
      central.off('disconnect', onDisc);
    };
    central.on('data', onData);
    central.on('disconnect', onDisc);
  });
}

const SCRIPT_PDUS = 9;
/**
 * A scripted session of 9 application PDUs: two control write fragments, two indication
 * fragments back, one control write, two speaker writes, two microphone notifications.
 * The toy side reacts to what it receives; its send errors are collected.
 */
function runScript(central: MemoryCentralLink, link: MemoryPeripheralLink, toyErrors: unknown[]): Promise<void> {
  let controlWrites = 0;
  let speakerWrites = 0;
  link.on('write', (ch) => {
    void (async () => {
      try {
        if (ch === 'control' && ++controlWrites === 2) {
          await link.send('control', new Uint8Array([0xb1]));
          await link.send('control', new Uint8Array([0xb2]));
        }
        if (ch === 'speaker' && ++speakerWrites === 2) {
          await link.send('microphone', new Uint8Array([0xe1]));
          await link.send('microphone', new Uint8Array([0xe2]));
        }
      } catch (e) {
        toyErrors.push(e);
      }
    })();
  });
  return (async () => {
    const indications = waitData(central, 'control', 2);
    indications.catch(() => undefined);
    await central.write('control', new Uint8Array([0xa1]));
    await central.write('control', new Uint8Array([0xa2]));
    await indications;
    await central.write('control', new Uint8Array([0xc0]));
    const mic = waitData(central, 'microphone', 2);
    mic.catch(() => undefined);
    await central.write('speaker', new Uint8Array([0xd1]));
    await central.write('speaker', new Uint8Array([0xd2]));
    await mic;
  })();
}

describe('MemoryRadio faults: disconnect at every step', () => {
  it('the clean script carries exactly 9 application PDUs', async () => {
    const radio = mkRadio();
    const trace: PduTrace[] = [];
    radio.on('pdu', (t) => trace.push(t));
    const p = await toy(radio);
    const { central, link } = await connect(radio, p);
    const toyErrors: unknown[] = [];
    await runScript(central, link, toyErrors);
    await radio.settle();
    expect(trace.map((t) => t.value[0]!.toString(16))).toEqual(['a1', 'a2', 'b1', 'b2', 'c0', 'd1', 'd2', 'e1', 'e2']);
    expect(toyErrors).toEqual([]);
    // flights: a1 a2 | b1 b2 | c0 d1 d2 | e1 e2
    expect(central.stats).toMatchObject({ flights: 4, roundTrips: 2 });
  });

  for (const lose of [false, true]) {
    it(`drops the link at PDU n = 1..${SCRIPT_PDUS} (${lose ? 'PDU lost' : 'PDU delivered'}), rejects what is pending, then reconnects cleanly`, async () => {
      for (let n = 1; n <= SCRIPT_PDUS; n++) {
        const radio = mkRadio();
        const trace: PduTrace[] = [];
        radio.on('pdu', (t) => trace.push(t));
        const p = await toy(radio);
        radio.faults.disconnectAfter({ direction: 'any', count: n, lose });
        const { central, link } = await connect(radio, p);
        const reasons: string[] = [];
        central.on('disconnect', (r) => reasons.push(`central:${r}`));
        link.on('disconnect', (r) => reasons.push(`toy:${r}`));
        const toyErrors: unknown[] = [];
        const err = await errorOf(runScript(central, link, toyErrors));
        await radio.settle();

        const delivered = trace.filter((t) => t.link === central.serial && !t.dropped).length;
        expect(delivered, `n=${n}`).toBe(lose ? n - 1 : n);
        expect(reasons.sort(), `n=${n}`).toEqual(['central:fault', 'toy:fault']);
        expect(central.connected || link.connected).toBe(false);
        if (n === SCRIPT_PDUS && !lose) expect(err).toBeUndefined();
        else expect((err as { code?: string } | undefined)?.code, `n=${n}`).toBe('DISCONNECTED');
        for (const e of toyErrors) expect(isPlushlinkError(e, 'DISCONNECTED')).toBe(true);
        await expectCode(central.write('control', new Uint8Array([1])), 'DISCONNECTED');
        await expectCode(link.send('control', new Uint8Array([1])), 'DISCONNECTED');

        // the fault was one-shot: a new connection runs the whole script
        const again = await connect(radio, p);
        const errs2: unknown[] = [];
        await runScript(again.central, again.link, errs2);
        expect(errs2).toEqual([]);
        expect(again.central.connected).toBe(true);
        await radio.close();
      }
    });
  }

  it('counts only the chosen direction', async () => {
    const radio = mkRadio();
    const p = await toy(radio);
    const { central, link } = await connect(radio, p);
    central.faults.disconnectAfter({ direction: 'toCentral', count: 2 });
    const toyErrors: unknown[] = [];
    const trace: PduTrace[] = [];
    radio.on('pdu', (t) => trace.push(t));
    const err = await errorOf(runScript(central, link, toyErrors));
    expect(isPlushlinkError(err, 'DISCONNECTED') || (err as { code?: string }).code === 'DISCONNECTED').toBe(true);
    // a1, a2 (not counted), b1, b2 (2nd toCentral → drop)
    expect(trace.map((t) => t.value[0]!.toString(16))).toEqual(['a1', 'a2', 'b1', 'b2']);
  });

  it('injectDisconnect rejects every kind of pending operation on both sides', async () => {
    const radio = mkRadio({ pdusPerEvent: 1 });
    const p = await toy(radio);
    const { central, link } = await connect(radio, p, 1);
    const reasons: string[] = [];
    central.on('disconnect', (r) => reasons.push(`central:${r}`));
    link.on('disconnect', (r) => reasons.push(`toy:${r}`));
    const pending = [
      central.write('control', new Uint8Array([1])), // in flight
      central.write('control', new Uint8Array([2])), // waiting for the first
      central.write('speaker', new Uint8Array([3])), // takes the only queue slot (resolves)
      central.write('speaker', new Uint8Array([4])), // waits for room
      link.send('control', new Uint8Array([5])), // indication in flight
      link.send('control', new Uint8Array([6])), // waiting for confirmation of the first
    ];
    const outcomes = pending.map((x) => errorOf(x));
    link.injectDisconnect();
    const errs = await Promise.all(outcomes);
    expect(errs.map((e) => (e === undefined ? 'ok' : (e as { code: string }).code))).toEqual([
      'DISCONNECTED',
      'DISCONNECTED',
      'ok',
      'DISCONNECTED',
      'DISCONNECTED',
      'DISCONNECTED',
    ]);
    expect(reasons).toEqual(['central:fault', 'toy:fault']);
    expect(central.stats.disconnectedAt).toBe(radio.now());
    await expectCode(central.write('speaker', new Uint8Array([1])), 'DISCONNECTED');
    await expectCode(link.send('microphone', new Uint8Array([1])), 'DISCONNECTED');
    await expectCode(central.subscribe('control'), 'DISCONNECTED');
  });
});

describe('MemoryRadio faults: timeouts, latency, drops', () => {
  it('an ATT transaction that outlives attTimeoutMs rejects TIMEOUT and drops the link', async () => {
    const radio = mkRadio({ attTimeoutMs: 100 });
    const p = await toy(radio);
    const { central, link } = await connect(radio, p);
    const reasons: string[] = [];
    central.on('disconnect', (r) => reasons.push(`central:${r}`));
    link.on('disconnect', (r) => reasons.push(`toy:${r}`));
    const got: number[] = [];
    link.on('write', (_c, v) => got.push(v[0]!));
    link.faults.latencyMs = 500;
    const t0 = radio.now();
    await expectCode(central.write('control', new Uint8Array([1])), 'TIMEOUT');
    expect(radio.now() - t0).toBeCloseTo(100, 6);
    expect(reasons).toEqual(['central:timeout', 'toy:timeout']);
    await radio.settle();
    expect(got).toEqual([]);

    const again = await connect(radio, p);
    radio.faults.latencyMs = 500;
    await expectCode(again.link.send('control', new Uint8Array([1])), 'TIMEOUT');
    radio.faults.clear();
  });

  it('latency and jitter delay PDUs but keep their order', async () => {
    const radio = mkRadio({ faults: { latencyMs: 20, jitterMs: 15 } });
    const p = await toy(radio, { notificationQueueSize: 200 });
    const { central, link } = await connect(radio, p, 200);
    const t0 = radio.now();
    let gotAt = 0;
    link.once('write', () => (gotAt = radio.now()));
    await central.write('control', new Uint8Array([0]));
    expect(gotAt - t0).toBeGreaterThanOrEqual(20);
    expect(radio.now() - t0).toBeGreaterThanOrEqual(40);

    const up: number[] = [];
    const down: number[] = [];
    link.on('write', (ch, v) => ch === 'speaker' && up.push(v[0]!));
    central.on('data', (ch, v) => ch === 'microphone' && down.push(v[0]!));
    for (let i = 0; i < 100; i++) {
      void central.write('speaker', new Uint8Array([i]));
      void link.send('microphone', new Uint8Array([i]));
    }
    await radio.settle();
    const seq = Array.from({ length: 100 }, (_, i) => i);
    expect(up).toEqual(seq);
    expect(down).toEqual(seq);
  });

  async function dropRun(seed: number, rate: number, n: number): Promise<{ got: number[]; stats: MemoryCentralLink['stats'] }> {
    const radio = mkRadio({ seed });
    radio.faults.notificationDropRate = rate;
    const p = await toy(radio, { notificationQueueSize: n });
    const { central, link } = await connect(radio, p);
    const got: number[] = [];
    central.on('data', (_c, v) => got.push(v[0]! | (v[1]! << 8)));
    for (let i = 0; i < n; i++) void link.send('microphone', new Uint8Array([i & 0xff, i >> 8]));
    await radio.settle();
    const stats = central.stats;
    await radio.close();
    return { got, stats };
  }

  it('drops notifications at the injected rate, reproducibly per seed, and counts them', async () => {
    const a = await dropRun(1234, 0.3, 400);
    const b = await dropRun(1234, 0.3, 400);
    const c = await dropRun(99, 0.3, 400);
    expect(a.got).toEqual(b.got);
    expect(a.got).not.toEqual(c.got);
    expect(a.stats.droppedInjected).toBe(400 - a.got.length);
    expect(a.stats.dropped).toBe(a.stats.droppedInjected);
    expect(a.stats.notifications).toBe(a.got.length);
    expect(a.stats.droppedInjected).toBeGreaterThan(80);
    expect(a.stats.droppedInjected).toBeLessThan(160);
    // survivors keep their order
    expect([...a.got].sort((x, y) => x - y)).toEqual(a.got);
  });

  it('per-link drop rate overrides the radio and can change at run time', async () => {
    const radio = mkRadio();
    const p = await toy(radio);
    const { central, link } = await connect(radio, p);
    const got: number[] = [];
    central.on('data', (_c, v) => got.push(v[0]!));
    link.faults.notificationDropRate = 1;
    for (let i = 0; i < 5; i++) await link.send('microphone', new Uint8Array([i]));
    await radio.settle();
    expect(got).toEqual([]);
    expect(central.stats.droppedInjected).toBe(5);
    link.faults.notificationDropRate = undefined; // back to the radio's (0)
    await link.send('microphone', new Uint8Array([9]));
    await radio.settle();
    expect(got).toEqual([9]);
    // indications are never dropped by the notification fault
    link.faults.notificationDropRate = 1;
    await link.send('control', new Uint8Array([7]));
    expect(got).toEqual([9, 7]);
    expect(() => (link.faults.notificationDropRate = 2)).toThrow(RangeError);
  });
});
