/**
 * The reference toy: {@link ToyCore} driven by a {@link Peripheral} adapter, a clock, a
 * storage and optional audio hooks. Runs in-process over the in-memory radio (tests, demo),
 * over noble-sim, and on a Linux board over bleno (`plushlink simulate-toy`).
 */
import { EventEmitter } from 'eventemitter3';
import type { RandomSource, X25519KeyPair } from '../protocol/crypto.js';
import type { SetupCode } from '../protocol/setup-code.js';
import type { NotifyingCharacteristic, Peripheral, PeripheralLink } from '../transport/types.js';
import { FRAME_MS } from '../protocol/audio-record.js';
import { MemoryToyStorage, type ToyStorage } from './storage.js';
import { ToyCore } from './toy-core.js';
import type { ToyAction, ToyConfig, ToyLogEvent, ToyPersistentState } from './types.js';

/** Events of a {@link ReferenceToy}. */
export interface ReferenceToyEvents {
  log: (event: ToyLogEvent) => void;
  /** Frames the speaker played (in order, in real time). */
  play: (frames: Uint8Array[]) => void;
  microphone: (active: boolean) => void;
  error: (error: Error) => void;
}

/** A source of microphone frames: called when the mic starts; yields 20 ms Opus frames. */
export type MicrophoneSource = () => Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

export interface ReferenceToyOptions {
  peripheral: Peripheral;
  identity: X25519KeyPair;
  setupCode: SetupCode;
  storage?: ToyStorage;
  config?: ToyConfig;
  /** Clock in ms since the Unix epoch (default Date.now). */
  clock?: () => number;
  random?: RandomSource;
  /** What the microphone hears (default: silence is not sent; the mic yields nothing). */
  microphone?: MicrophoneSource;
  /** Tick period (default 10 ms). */
  tickMs?: number;
  /**
   * Rotate the BLE address whenever the advertising tag's slot or key changes (default true)
   * where the peripheral supports it ({@link Peripheral.rotateAddress}).
   */
  rotateAddress?: boolean;
}

export class ReferenceToy extends EventEmitter<ReferenceToyEvents> {
  core!: ToyCore;
  private readonly opts: ReferenceToyOptions;
  private readonly storage: ToyStorage;
  private readonly clock: () => number;
  private readonly links = new Map<string, PeripheralLink>();
  private readonly sendChains = new Map<string, Promise<void>>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private micRun = 0;
  private nextConn = 1;
  private persistChain: Promise<void> = Promise.resolve();
  /** Advertising operations, one after the other (an address change and its new data never interleave with another). */
  private advertChain: Promise<void> = Promise.resolve();
  /** Advertisements queued on {@link advertChain} and not yet done. */
  private advertPending = 0;
  private stopped = false;
  private readonly onConnect = (link: PeripheralLink): void => this.attach(link);

  constructor(opts: ReferenceToyOptions) {
    super();
    this.opts = opts;
    this.storage = opts.storage ?? new MemoryToyStorage();
    this.clock = opts.clock ?? Date.now;
  }

  /** Loads state, starts advertising and the tick timer. */
  async start(): Promise<void> {
    const state = await this.storage.load();
    this.core = new ToyCore({
      identity: this.opts.identity,
      setupCode: this.opts.setupCode,
      state,
      config: this.opts.config,
      random: this.opts.random,
      now: this.clock(),
    });
    this.opts.peripheral.on('connect', this.onConnect);
    this.run(this.core.start(this.clock()));
    this.timer = setInterval(() => this.run(this.core.tick(this.clock())), this.opts.tickMs ?? 10);
    this.timer.unref?.();
  }

  /** The button: `hold` opens the pairing window, `reset` is a factory reset. */
  pressButton(kind: 'hold' | 'reset' = 'hold'): void {
    this.run(this.core.button(kind, this.clock()));
  }

  /** Waits until every pending state write is on storage and every pending advertisement is on the air. */
  async flush(): Promise<void> {
    await this.persistChain;
    await this.advertChain;
  }

  get persistentState(): ToyPersistentState {
    return this.core.persistentState;
  }

  /** Stops timers, disconnects everyone and closes the peripheral. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.stopped = true;
    this.micRun++;
    this.opts.peripheral.off('connect', this.onConnect);
    for (const l of this.links.values()) l.disconnect();
    this.links.clear();
    await this.persistChain;
    await this.advertChain;
    await this.opts.peripheral.close();
  }

  private attach(link: PeripheralLink): void {
    const id = `c${this.nextConn++}`;
    this.links.set(id, link);
    link.on('write', (ch, value) => {
      this.core.updateMtu(id, link.mtu);
      this.run(this.core.write(id, ch, value, this.clock()));
    });
    link.on('disconnect', () => {
      this.links.delete(id);
      this.run(this.core.disconnect(id, this.clock()));
    });
    this.run(this.core.connect(id, link.mtu, this.clock()));
  }

  private run(actions: ToyAction[]): void {
    for (const a of actions) {
      try {
        this.apply(a);
      } catch (e) {
        this.emit('error', e as Error);
      }
    }
  }

  private apply(a: ToyAction): void {
    switch (a.type) {
      case 'send': {
        const link = this.links.get(a.connection);
        if (!link) return;
        this.enqueueSend(a.connection, link, a.characteristic, a.value);
        return;
      }
      case 'disconnect': {
        const link = this.links.get(a.connection);
        this.links.delete(a.connection);
        if (link) {
          // let queued sends (e.g. the refusal message) go out first
          const chain = this.sendChains.get(`${a.connection}/control`) ?? Promise.resolve();
          void chain.finally(() => link.disconnect());
        }
        return;
      }
      case 'advertise': {
        const p = this.opts.peripheral;
        // ToyCore marks every advertisement whose data changed (a new slot's tag, a flag, a key):
        // the address changes with it, so nothing stays stable on the air. The three steps run
        // in order and never interleave with another advertisement: advertising stops first (so
        // the old address never carries the new data, whatever the adapter's rotateAddress does
        // with a running advertisement), the address changes, and only then does the new data
        // go on the air, from the new address (PROTOCOL.md §12 "Address").
        const rotate = a.newAddress === true && this.opts.rotateAddress !== false && p.rotateAddress !== undefined;
        const data = a.serviceData;
        const idle = this.advertPending === 0;
        this.advertPending++;
        // With nothing in flight the steps are issued at once, in this order (an in-process adapter
        // applies them synchronously, so the new address and its data are in force when the action
        // returns; bleno queues its commands in call order); otherwise they wait their turn.
        const run = (): Promise<void> => {
          if (this.stopped) return Promise.resolve();
          // An adapter that throws instead of rejecting is a failed advertisement like any other:
          // reported once, and the queue goes on (it must never stay "in flight" for ever).
          try {
            const steps: Promise<unknown>[] = [];
            if (rotate) steps.push(p.stopAdvertising(), Promise.resolve(p.rotateAddress!()));
            steps.push(p.advertise(data));
            return Promise.all(steps).then(() => undefined);
          } catch (e) {
            return Promise.reject(e);
          }
        };
        const started = idle ? run() : undefined;
        started?.catch(() => undefined); // reported once, by the chain below
        this.advertChain = this.advertChain
          .then(() => started ?? run())
          .catch((e: Error) => void this.emit('error', e))
          .finally(() => void this.advertPending--);
        return;
      }
      case 'persist': {
        const s = a.state;
        this.persistChain = this.persistChain.then(() => this.storage.save(s)).catch((e: Error) => void this.emit('error', e));
        return;
      }
      case 'play':
        this.emit('play', a.frames);
        return;
      case 'microphone':
        this.emit('microphone', a.active);
        if (a.active) void this.runMicrophone();
        else this.micRun++;
        return;
      case 'log':
        this.emit('log', a.event);
        return;
    }
  }

  /**
   * Sends in order per connection and characteristic. A chain's entry removes itself once its last
   * send settled, so nothing of a connection stays here after it is gone (a stranger's connection
   * must cost nothing for ever).
   */
  private enqueueSend(conn: string, link: PeripheralLink, ch: NotifyingCharacteristic, value: Uint8Array): void {
    const key = `${conn}/${ch}`;
    const prev = this.sendChains.get(key) ?? Promise.resolve();
    const next: Promise<void> = prev
      .then(() => (link.connected ? link.send(ch, value) : undefined))
      .catch(() => undefined)
      .then(() => {
        if (this.sendChains.get(key) === next) this.sendChains.delete(key);
      });
    this.sendChains.set(key, next);
  }

  private async runMicrophone(): Promise<void> {
    const run = ++this.micRun;
    const src = this.opts.microphone?.();
    if (!src) return;
    const t0 = this.clock();
    let k = 0;
    const iter = (Symbol.asyncIterator in src ? src[Symbol.asyncIterator]() : (src as Iterable<Uint8Array>)[Symbol.iterator]()) as
      | AsyncIterator<Uint8Array>
      | Iterator<Uint8Array>;
    try {
      for (;;) {
        if (run !== this.micRun) return;
        const due = t0 + k * FRAME_MS;
        const wait = due - this.clock();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (run !== this.micRun) return;
        const r = await iter.next();
        // The microphone may have stopped (or restarted) while the source produced this frame:
        // it belongs to a stream that is over, and must not reach the toy core (PROTOCOL.md §13.7).
        if (run !== this.micRun) return;
        if (r.done) {
          this.run(this.core.micEnded(this.clock()));
          return;
        }
        k++;
        this.run(this.core.micFrame(r.value, this.clock()));
      }
    } catch (e) {
      // A source that throws or yields a frame the protocol cannot carry (1..255 bytes) ends
      // the stream like a source that ran out; the driver reports it instead of crashing.
      if (run === this.micRun) {
        this.emit('error', e as Error);
        this.run(this.core.micEnded(this.clock()));
      }
    } finally {
      await Promise.resolve(iter.return?.()).catch(() => undefined);
    }
  }
}
