/**
 * The reference toy's driver (src/toy/reference-toy.ts): what it does with the actions ToyCore
 * hands it — the tick timer, stop(), the advertising queue (PROTOCOL.md §12 "Address"), the
 * persistence chain (§13.1, §13.5 factory reset), the button, the log, and the microphone pump
 * (§13.7: 20 ms frames fed in real time; a stop or a disconnect switches the microphone off; the
 * source ending ends the stream).
 *
 * ToyCore's own decisions are tested elsewhere; where a test needs the core to ask for something
 * it would only ask for deep inside a session (switch the microphone on, drop a connection), it
 * stubs that one core call and checks what the driver does with the answer.
 *
 * Time: the toy's clock is the (fake) Date, and every timer is a vitest fake timer; promises are
 * settled with a real setImmediate (one macrotask: every microtask chain has run). No verdict
 * depends on the speed of the machine.
 */
import { EventEmitter } from 'eventemitter3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FRAME_MS } from '../../../src/protocol/audio-record.js';
import { generateX25519KeyPair } from '../../../src/protocol/crypto.js';
import { generateSetupCode } from '../../../src/protocol/setup-code.js';
import { ReferenceToy, type MicrophoneSource, type ReferenceToyOptions } from '../../../src/toy/reference-toy.js';
import { MemoryToyStorage } from '../../../src/toy/storage.js';
import type { ToyAction, ToyPersistentState } from '../../../src/toy/types.js';
import type { Peripheral, PeripheralEvents, PeripheralLink, PeripheralLinkEvents } from '../../../src/transport/types.js';

const T0 = Date.UTC(2026, 11, 3, 12, 0, 1);

/** Lets every pending promise chain run (a real macrotask; the fake timers do not move). */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(e: Error): void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A peripheral that records every call in order; `advertise` can be held or made to fail. */
interface FakePeripheral extends Peripheral {
  calls: string[];
  advertiseImpl: ((data: Uint8Array) => Promise<void>) | undefined;
}
function fakePeripheral(opts: { rotate?: boolean } = {}): FakePeripheral {
  let address = 0;
  const p = Object.assign(new EventEmitter<PeripheralEvents>(), {
    calls: [] as string[],
    advertiseImpl: undefined as ((data: Uint8Array) => Promise<void>) | undefined,
    advertise(data: Uint8Array): Promise<void> {
      p.calls.push(`advertise ${Buffer.from(data).toString('hex')}`);
      return p.advertiseImpl ? p.advertiseImpl(data) : Promise.resolve();
    },
    stopAdvertising(): Promise<void> {
      p.calls.push('stopAdvertising');
      return Promise.resolve();
    },
    close(): Promise<void> {
      p.calls.push('close');
      return Promise.resolve();
    },
  });
  if (opts.rotate !== false) {
    Object.assign(p, {
      rotateAddress(): string {
        p.calls.push('rotateAddress');
        return `addr-${++address}`;
      },
    });
  }
  return p as FakePeripheral;
}

/** A link whose disconnect() fires its 'disconnect' event (as the adapters do). */
function fakeLink(id = 'central-1'): PeripheralLink & { sent: string[] } {
  const link = Object.assign(new EventEmitter<PeripheralLinkEvents>(), {
    id,
    mtu: 247,
    connected: true,
    sent: [] as string[],
    send(ch: string, value: Uint8Array): Promise<void> {
      link.sent.push(`${ch} ${Buffer.from(value).toString('hex')}`);
      return Promise.resolve();
    },
    disconnect(): void {
      if (!link.connected) return;
      link.connected = false;
      link.emit('disconnect', 'local');
    },
  });
  return link as unknown as PeripheralLink & { sent: string[] };
}

interface Harness {
  toy: ReferenceToy;
  peripheral: FakePeripheral;
  errors: Error[];
  /** Makes the core's next answer (to a button press) these actions: what the driver then does. */
  act(...actions: ToyAction[]): void;
}

async function startToy(o: Partial<ReferenceToyOptions> & { peripheral?: FakePeripheral } = {}): Promise<Harness> {
  const peripheral = o.peripheral ?? fakePeripheral();
  const toy = new ReferenceToy({
    identity: generateX25519KeyPair(),
    setupCode: generateSetupCode(),
    clock: () => Date.now(),
    ...o,
    peripheral,
  });
  const errors: Error[] = [];
  toy.on('error', (e) => errors.push(e));
  await toy.start();
  const button = vi.spyOn(toy.core, 'button');
  const act = (...actions: ToyAction[]): void => {
    button.mockReturnValueOnce(actions);
    toy.pressButton();
  };
  return { toy, peripheral, errors, act };
}

const MIC_ON: ToyAction = { type: 'microphone', active: true };
const MIC_OFF: ToyAction = { type: 'microphone', active: false };
const frame = (i: number): Uint8Array => Uint8Array.of(0xf8, i & 0xff);

/** Records what the pump feeds the core (frame id and the clock at feeding) and when it ends the stream. */
function spyMic(toy: ReferenceToy): { fed: { id: number; at: number }[]; ended: () => number } {
  const fed: { id: number; at: number }[] = [];
  vi.spyOn(toy.core, 'micFrame').mockImplementation((f, now) => {
    fed.push({ id: f[1]!, at: now - T0 });
    return [];
  });
  // Like the core: the source ran out → the microphone switches off.
  const micEnded = vi.spyOn(toy.core, 'micEnded').mockImplementation(() => [MIC_OFF]);
  return { fed, ended: () => micEnded.mock.calls.length };
}

/** A synchronous source of n frames that records how far it was read and whether it was closed. */
function finiteSource(n: number, base = 0): { source: MicrophoneSource; pulled: () => number; closed: () => boolean } {
  let pulled = 0;
  let closed = false;
  return {
    source: function* () {
      try {
        for (let k = 0; k < n; k++) {
          pulled++;
          yield frame(base + k);
        }
      } finally {
        closed = true;
      }
    },
    pulled: () => pulled,
    closed: () => closed,
  };
}

/** An async source whose every next() waits until the test answers it. */
function heldSource(): {
  iterable: AsyncIterable<Uint8Array>;
  nexts: () => number;
  returned: () => number;
  answer(r: IteratorResult<Uint8Array> | Error): void;
} {
  const waiting: { res: (r: IteratorResult<Uint8Array>) => void; rej: (e: Error) => void }[] = [];
  let nexts = 0;
  let returned = 0;
  const iter: AsyncIterator<Uint8Array> = {
    next: () => {
      nexts++;
      return new Promise((res, rej) => waiting.push({ res, rej }));
    },
    return: async () => {
      returned++;
      return { done: true, value: undefined };
    },
  };
  return {
    iterable: { [Symbol.asyncIterator]: () => iter },
    nexts: () => nexts,
    returned: () => returned,
    answer(r) {
      const w = waiting.shift()!;
      if (r instanceof Error) w.rej(r);
      else w.res(r);
    },
  };
}

let rejections: unknown[] = [];
const onRejection = (e: unknown): void => void rejections.push(e);
let toys: ReferenceToy[] = [];

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'], now: T0 });
  rejections = [];
  process.on('unhandledRejection', onRejection);
});
afterEach(async () => {
  // A test that failed may leave an advertisement or a write held: never wait for it here.
  for (const t of toys) await Promise.race([t.stop(), settle()]);
  toys = [];
  process.off('unhandledRejection', onRejection);
  vi.unstubAllGlobals();
  vi.useRealTimers();
  vi.restoreAllMocks();
});
async function toy(o: Parameters<typeof startToy>[0] = {}): Promise<Harness> {
  const h = await startToy(o);
  toys.push(h.toy);
  return h;
}

/** A started toy whose adapter holds every advertisement in flight until `held` resolves; calls cleared. */
async function toyWithHeldAdvertising() {
  const peripheral = fakePeripheral();
  const started = await toy({ peripheral });
  await started.toy.flush();
  const held = deferred();
  peripheral.advertiseImpl = () => held.promise;
  peripheral.calls.length = 0;
  return { ...started, peripheral, held };
}

describe('tick timer', () => {
  it('ticks the core every 10 ms by default, with the clock of the moment', async () => {
    const { toy: t } = await toy();
    const tick = vi.spyOn(t.core, 'tick');
    await vi.advanceTimersByTimeAsync(9);
    expect(tick).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(tick.mock.calls).toEqual([[T0 + 10]]);
    await vi.advanceTimersByTimeAsync(20);
    expect(tick.mock.calls.map((c) => c[0] - T0)).toEqual([10, 20, 30]);
  });

  it('honours tickMs', async () => {
    const { toy: t } = await toy({ tickMs: 50 });
    const tick = vi.spyOn(t.core, 'tick');
    await vi.advanceTimersByTimeAsync(49);
    expect(tick).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(51);
    expect(tick.mock.calls.map((c) => c[0] - T0)).toEqual([50, 100]);
  });

  it('the timer does not keep the process alive (unref), and a timer without unref (a browser’s number) is fine', async () => {
    vi.useRealTimers();
    const realSetInterval = setInterval;
    const handles: ReturnType<typeof setInterval>[] = [];
    vi.stubGlobal('setInterval', (fn: () => void, ms: number) => {
      const h = realSetInterval(fn, ms);
      handles.push(h);
      return h;
    });
    const a = await startToy();
    expect(handles).toHaveLength(1);
    expect(handles[0]!.hasRef()).toBe(false);
    await a.toy.stop();

    const cleared: unknown[] = [];
    vi.stubGlobal('setInterval', () => 7);
    vi.stubGlobal('clearInterval', (h: unknown) => void cleared.push(h));
    const b = await startToy();
    expect(b.errors).toEqual([]);
    await b.toy.stop();
    expect(cleared).toEqual([7]);
  });

  it('stop() ends the ticks', async () => {
    const { toy: t } = await toy();
    const tick = vi.spyOn(t.core, 'tick');
    await vi.advanceTimersByTimeAsync(10);
    expect(tick).toHaveBeenCalledTimes(1);
    await t.stop();
    await vi.advanceTimersByTimeAsync(100);
    expect(tick).toHaveBeenCalledTimes(1);
  });
});

describe('stop()', () => {
  it('detaches from the peripheral: a connection after stop() reaches no core; stop() twice is harmless', async () => {
    const { toy: t, peripheral } = await toy();
    const connect = vi.spyOn(t.core, 'connect');
    peripheral.emit('connect', fakeLink('before'));
    expect(connect).toHaveBeenCalledTimes(1);
    await t.stop();
    expect(peripheral.listenerCount('connect')).toBe(0);
    peripheral.emit('connect', fakeLink('after'));
    expect(connect).toHaveBeenCalledTimes(1);
    await t.stop();
    expect(peripheral.calls.filter((c) => c === 'close')).toHaveLength(2);
  });

  it('an advertisement still queued behind one in flight never goes on the air after stop()', async () => {
    const { peripheral, toy: t, act, held } = await toyWithHeldAdvertising();
    act({ type: 'advertise', serviceData: Uint8Array.of(1) });
    act({ type: 'advertise', serviceData: Uint8Array.of(2) });
    expect(peripheral.calls).toEqual(['advertise 01']);
    const stopped = t.stop();
    held.resolve();
    await stopped;
    expect(peripheral.calls).toEqual(['advertise 01', 'close']);
  });

  it('stops the microphone even though the disconnects it causes switch the microphone off again', async () => {
    const src = finiteSource(1000);
    const { toy: t, peripheral, act } = await toy({ microphone: src.source });
    const mic = spyMic(t);
    // The core switches the microphone off when its connection goes (§13.7), as stop() disconnects everyone.
    vi.spyOn(t.core, 'disconnect').mockImplementation(() => [MIC_OFF]);
    peripheral.emit('connect', fakeLink());
    act(MIC_ON);
    await settle();
    await vi.advanceTimersByTimeAsync(2 * FRAME_MS);
    expect(mic.fed.map((f) => f.id)).toEqual([0, 1, 2]);
    await t.stop();
    await vi.advanceTimersByTimeAsync(10 * FRAME_MS);
    expect(mic.fed).toHaveLength(3);
    expect(src.pulled()).toBe(3);
    expect(src.closed()).toBe(true);
  });
});

describe('actions the driver carries out', () => {
  it('an action that throws while it is carried out (here the app’s play listener) is reported as an error event, and the rest of the core’s answer still runs', async () => {
    const { toy: t, errors, act } = await toy({});
    await t.flush();
    const boom = new Error('speaker broke');
    t.on('play', () => {
      throw boom;
    });
    const logs: unknown[] = [];
    t.on('log', (e) => logs.push(e));
    act({ type: 'play', frames: [Uint8Array.of(1)] }, { type: 'log', event: { kind: 'factory-reset' } });
    expect(errors).toEqual([boom]);
    expect(logs).toEqual([{ kind: 'factory-reset' }]);
  });

  it('a disconnect for a connection that is already gone does nothing (no error, no rejection)', async () => {
    const { peripheral, errors, act } = await toy();
    const link = fakeLink();
    peripheral.emit('connect', link);
    link.disconnect(); // the central left first
    act({ type: 'disconnect', connection: 'c1', reason: 'late' });
    await settle();
    await settle();
    expect(errors).toEqual([]);
    expect(rejections).toEqual([]);
  });

  it('log events reach the app: a hold opens the pairing window (pressButton() is a hold)', async () => {
    const { toy: t } = await toy();
    const button = vi.spyOn(t.core, 'button');
    const logs: unknown[] = [];
    t.on('log', (e) => logs.push(e));
    t.pressButton();
    expect(button).toHaveBeenCalledWith('hold', T0);
    expect(logs).toEqual([{ kind: 'pairing-window', open: true, reason: expect.any(String) }]);
    expect(t.core.pairingWindowOpen(Date.now())).toBe(true);
  });
});

describe('advertising queue (PROTOCOL.md §12 "Address")', () => {
  it('at power-up the first advertisement goes on the air at once, from the adapter’s address (no rotation)', async () => {
    const peripheral = fakePeripheral();
    const t = new ReferenceToy({ peripheral, identity: generateX25519KeyPair(), setupCode: generateSetupCode(), clock: () => Date.now() });
    toys.push(t);
    const starting = t.start();
    await settle(); // storage.load() resolved; start() has run the core's first answer
    expect(peripheral.calls).toHaveLength(1);
    expect(peripheral.calls[0]).toMatch(/^advertise /);
    await starting;
  });

  it('new service data: stop, new address, new data — issued at once, in that order', async () => {
    const peripheral = fakePeripheral();
    const { toy: t } = await toy({ peripheral });
    await t.flush();
    peripheral.calls.length = 0;
    t.pressButton('hold'); // the pairing flag goes up: new data
    expect(peripheral.calls).toEqual(['stopAdvertising', 'rotateAddress', expect.stringMatching(/^advertise /)]);
  });

  it('an adapter that cannot rotate its address just advertises the new data (no error)', async () => {
    const peripheral = fakePeripheral({ rotate: false });
    const { toy: t, errors } = await toy({ peripheral });
    await t.flush();
    peripheral.calls.length = 0;
    t.pressButton('hold');
    await t.flush();
    expect(peripheral.calls).toEqual([expect.stringMatching(/^advertise /)]);
    expect(errors).toEqual([]);
  });

  it('advertisements never interleave: the next waits until the one in flight is done; once idle, the next is issued at once again', async () => {
    const { peripheral, toy: t, act, held } = await toyWithHeldAdvertising();
    act({ type: 'advertise', serviceData: Uint8Array.of(1), newAddress: true });
    act({ type: 'advertise', serviceData: Uint8Array.of(2), newAddress: true });
    await settle();
    expect(peripheral.calls).toEqual(['stopAdvertising', 'rotateAddress', 'advertise 01']);
    peripheral.advertiseImpl = undefined;
    held.resolve();
    await t.flush();
    expect(peripheral.calls).toEqual(['stopAdvertising', 'rotateAddress', 'advertise 01', 'stopAdvertising', 'rotateAddress', 'advertise 02']);
    // Nothing in flight any more: the next one is applied synchronously.
    act({ type: 'advertise', serviceData: Uint8Array.of(3) });
    expect(peripheral.calls.at(-1)).toBe('advertise 03');
    await t.flush();
    act({ type: 'advertise', serviceData: Uint8Array.of(4) });
    expect(peripheral.calls.at(-1)).toBe('advertise 04');
  });

  // An adapter that rejects, and one that throws instead of rejecting: the same failed advertisement.
  it.each([
    ['rejects', (e: Error) => () => Promise.reject(e)],
    ['throws instead of rejecting', (e: Error) => () => {
      throw e;
    }],
  ] as const)('an adapter that %s: the advertisement is reported once as an error event; the next one still goes out, at once', async (_how, failWith) => {
    const peripheral = fakePeripheral();
    const { toy: t, errors, act } = await toy({ peripheral });
    await t.flush();
    const boom = new Error('advertising failed');
    peripheral.advertiseImpl = failWith(boom);
    act({ type: 'advertise', serviceData: Uint8Array.of(1) });
    await t.flush();
    expect(errors).toEqual([boom]);
    expect(rejections).toEqual([]);
    peripheral.advertiseImpl = undefined;
    act({ type: 'advertise', serviceData: Uint8Array.of(2) });
    // Issued at once (nothing is left "in flight" by the failure), not queued behind it.
    expect(peripheral.calls.at(-1)).toBe('advertise 02');
    await t.flush();
    expect(errors).toEqual([boom]);
  });
});

describe('persistence chain (PROTOCOL.md §13.1, §13.5)', () => {
  class GatedStorage extends MemoryToyStorage {
    gates: Deferred[] = [];
    saved: ToyPersistentState[] = [];
    failNext: Error | undefined;
    override async save(state: ToyPersistentState): Promise<void> {
      const g = deferred();
      this.gates.push(g);
      await g.promise;
      if (this.failNext) {
        const e = this.failNext;
        this.failNext = undefined;
        throw e;
      }
      this.saved.push(state);
      await super.save(state);
    }
  }

  it('flush() waits for a pending write; persistentState is the state written at the factory reset', async () => {
    const storage = new GatedStorage();
    const { toy: t } = await toy({ storage });
    t.pressButton('reset');
    let flushed = false;
    const f = t.flush().then(() => void (flushed = true));
    await settle();
    expect(storage.gates).toHaveLength(1);
    expect(flushed).toBe(false);
    storage.gates[0]!.resolve();
    await f;
    expect(flushed).toBe(true);
    expect(storage.saved).toHaveLength(1);
    expect(t.persistentState).toEqual(storage.saved[0]);
    expect(t.persistentState.pairings).toEqual([]);
  });

  it('flush() waits for an advertisement still in flight', async () => {
    const peripheral = fakePeripheral();
    const { toy: t, act } = await toy({ peripheral });
    await t.flush();
    const held = deferred();
    peripheral.advertiseImpl = () => held.promise;
    act({ type: 'advertise', serviceData: Uint8Array.of(1) });
    let flushed = false;
    const f = t.flush().then(() => void (flushed = true));
    await settle();
    expect(flushed).toBe(false);
    held.resolve();
    await f;
    expect(flushed).toBe(true);
  });

  it('writes run one after the other, in order; a failed write is an error event and later writes still run', async () => {
    const storage = new GatedStorage();
    const { toy: t, errors } = await toy({ storage });
    const boom = new Error('flash full');
    storage.failNext = boom;
    t.pressButton('reset');
    t.pressButton('reset');
    await settle();
    expect(storage.gates).toHaveLength(1); // the second write waits for the first
    storage.gates[0]!.resolve();
    await settle();
    expect(errors).toEqual([boom]);
    expect(storage.gates).toHaveLength(2);
    storage.gates[1]!.resolve();
    await t.flush();
    expect(storage.saved).toHaveLength(1);
    expect(errors).toEqual([boom]);
    expect(rejections).toEqual([]);
  });
});

describe('microphone pump (PROTOCOL.md §13.7)', () => {
  it('feeds one frame per 20 ms of the toy’s clock, the first at once; the source running out ends the stream once, without error', async () => {
    const src = finiteSource(4);
    const { toy: t, errors, act } = await toy({ microphone: src.source });
    const mic = spyMic(t);
    const events: boolean[] = [];
    t.on('microphone', (a) => events.push(a));
    act(MIC_ON);
    await settle();
    expect(mic.fed).toEqual([{ id: 0, at: 0 }]);
    await vi.advanceTimersByTimeAsync(FRAME_MS - 1);
    expect(mic.fed).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(mic.fed).toEqual([
      { id: 0, at: 0 },
      { id: 1, at: FRAME_MS },
    ]);
    await vi.advanceTimersByTimeAsync(3 * FRAME_MS);
    expect(mic.fed).toEqual([0, 1, 2, 3].map((k) => ({ id: k, at: k * FRAME_MS })));
    expect(mic.ended()).toBe(1);
    expect(errors).toEqual([]);
    expect(events).toEqual([true, false]);
    expect(src.closed()).toBe(true);
  });

  it('a source that delivered late catches up: frames already due (or due now) are read without waiting on a timer', async () => {
    const src = heldSource();
    const { toy: t, act } = await toy({ microphone: () => src.iterable });
    const mic = spyMic(t);
    act(MIC_ON);
    await settle();
    src.answer({ done: false, value: frame(0) });
    await vi.advanceTimersByTimeAsync(FRAME_MS); // frame 1 is due: the pump asks the source for it
    expect(src.nexts()).toBe(2);
    await vi.advanceTimersByTimeAsync(3 * FRAME_MS); // the source takes 60 ms to deliver it
    for (const k of [1, 2, 3]) {
      src.answer({ done: false, value: frame(k) });
      await settle(); // no timer fires: frames 2, 3 (late) and 4 (due now) are asked for at once
      expect(src.nexts()).toBe(k + 2);
    }
    src.answer({ done: false, value: frame(4) });
    await settle();
    expect(src.nexts()).toBe(5); // frame 5 is not due yet
    expect(mic.fed).toEqual([0, 1, 2, 3, 4].map((k) => ({ id: k, at: k === 0 ? 0 : 4 * FRAME_MS })));
    await vi.advanceTimersByTimeAsync(FRAME_MS);
    expect(src.nexts()).toBe(6);
  });

  it('an array (an iterator without return()) is a source like any other', async () => {
    const { toy: t, errors, act } = await toy({ microphone: () => [frame(0), frame(1)] });
    const mic = spyMic(t);
    act(MIC_ON);
    await settle();
    await vi.advanceTimersByTimeAsync(2 * FRAME_MS);
    await settle();
    expect(mic.fed.map((f) => f.id)).toEqual([0, 1]);
    expect(mic.ended()).toBe(1);
    expect(errors).toEqual([]);
    expect(rejections).toEqual([]);
  });

  it('without a microphone the toy sends nothing and fails nothing', async () => {
    const { toy: t, errors, act } = await toy();
    const mic = spyMic(t);
    act(MIC_ON);
    await settle();
    await vi.advanceTimersByTimeAsync(5 * FRAME_MS);
    await settle();
    expect(mic.fed).toEqual([]);
    expect(errors).toEqual([]);
    expect(rejections).toEqual([]);
  });

  it('MIC stop mid-source: no frame is read after it, the source is closed, and it is not started again', async () => {
    const src = finiteSource(1000);
    const microphone = vi.fn(src.source);
    const { toy: t, act } = await toy({ microphone });
    const mic = spyMic(t);
    act(MIC_ON);
    await settle();
    await vi.advanceTimersByTimeAsync(FRAME_MS + FRAME_MS / 2); // waiting for frame 2
    expect(mic.fed).toHaveLength(2);
    act(MIC_OFF);
    await vi.advanceTimersByTimeAsync(10 * FRAME_MS);
    await settle();
    expect(mic.fed).toHaveLength(2);
    expect(src.pulled()).toBe(2);
    expect(src.closed()).toBe(true);
    expect(microphone).toHaveBeenCalledTimes(1);
    expect(mic.ended()).toBe(0);
  });

  it('MIC stop while the source is producing a frame: the source is closed at once', async () => {
    const src = heldSource();
    const { toy: t, act } = await toy({ microphone: () => src.iterable });
    spyMic(t);
    act(MIC_ON);
    await settle();
    src.answer({ done: false, value: frame(0) });
    await settle();
    await vi.advanceTimersByTimeAsync(FRAME_MS);
    expect(src.nexts()).toBe(2);
    act(MIC_OFF);
    src.answer({ done: false, value: frame(1) });
    await settle();
    expect(src.returned()).toBe(1); // no timer had to fire
    expect(src.nexts()).toBe(2);
  });

  it('a restart is a new stream: the old source stops feeding (even while it waited for its next frame) and only the new one is read', async () => {
    const a = finiteSource(1000, 0);
    const b = finiteSource(1000, 100);
    const sources = [a.source, b.source];
    const { toy: t, act } = await toy({ microphone: () => sources.shift()!() });
    const mic = spyMic(t);
    act(MIC_ON);
    await settle();
    await vi.advanceTimersByTimeAsync(FRAME_MS / 2); // a waits for its frame 1
    act(MIC_OFF);
    act(MIC_ON);
    await settle();
    await vi.advanceTimersByTimeAsync(2 * FRAME_MS);
    await settle();
    expect(mic.fed.map((f) => f.id)).toEqual([0, 100, 101, 102]);
    expect(a.pulled()).toBe(1);
    expect(a.closed()).toBe(true);
    expect(b.closed()).toBe(false);
  });

  it('an old source that ends or fails after a restart does not end or disturb the new stream', async () => {
    const old1 = heldSource();
    const old2 = heldSource();
    const cur = heldSource();
    const sources = [old1, old2, cur];
    const { toy: t, errors, act } = await toy({ microphone: () => sources.shift()!.iterable });
    const mic = spyMic(t);
    act(MIC_ON); // old1 waits in next()
    await settle();
    act(MIC_OFF);
    act(MIC_ON); // old2 waits in next()
    await settle();
    act(MIC_OFF);
    act(MIC_ON); // cur
    await settle();
    old1.answer({ done: true, value: undefined });
    old2.answer(new Error('old driver failed'));
    await settle();
    expect(mic.ended()).toBe(0);
    expect(errors).toEqual([]);
    expect(old1.returned()).toBe(1);
    expect(old2.returned()).toBe(1);
    expect(cur.returned()).toBe(0);
    expect(rejections).toEqual([]);
  });

  it('a frame the old source delivers after MIC stop or a restart never reaches the core, not even the new stream', async () => {
    const old = heldSource();
    const cur = heldSource();
    const sources = [old, cur];
    const { toy: t, act } = await toy({ microphone: () => sources.shift()!.iterable });
    const mic = spyMic(t);
    act(MIC_ON); // old waits in next()
    await settle();
    act(MIC_OFF);
    act(MIC_ON); // cur starts
    await settle();
    old.answer({ done: false, value: frame(7) }); // the old stream's frame arrives late
    await settle();
    expect(mic.fed.map((f) => f.id)).toEqual([]);
    cur.answer({ done: false, value: frame(100) });
    await settle();
    expect(mic.fed.map((f) => f.id)).toEqual([100]);
  });

  it('a source that throws is reported as an error event and ends the stream like a source that ran out', async () => {
    const boom = new Error('audio driver failed');
    const src = heldSource();
    const { toy: t, errors, act } = await toy({ microphone: () => src.iterable });
    const mic = spyMic(t);
    act(MIC_ON);
    await settle();
    src.answer({ done: false, value: frame(0) });
    await settle();
    await vi.advanceTimersByTimeAsync(FRAME_MS);
    src.answer(boom);
    await settle();
    expect(mic.fed.map((f) => f.id)).toEqual([0]);
    expect(errors).toEqual([boom]);
    expect(mic.ended()).toBe(1);
    expect(src.returned()).toBe(1);
    expect(rejections).toEqual([]);
  });
});
