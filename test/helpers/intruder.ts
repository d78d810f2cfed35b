/**
 * A stranger's phone for attack and fault tests: a raw central on the in-memory radio that
 * writes raw ATT values and reads the toy's raw answers. It uses protocol/ only to forge
 * plausible messages (fragments, wire messages, records under made-up keys). Also: a PDU
 * recorder (the radio's `pdu` trace, for capture and replay) and a snapshot of everything a
 * refusal must leave unchanged on the toy.
 */
import { expect } from 'vitest';
import { randomBytes } from '../../src/protocol/crypto.js';
import { SecureChannel } from '../../src/protocol/channel.js';
import { Fragmenter, Reassembler } from '../../src/protocol/fragment.js';
import { decodeWire, type WireMessage } from '../../src/protocol/wire.js';
import type { MemoryCentralLink, MemoryRadio, PduTrace } from '../../src/transport/memory/index.js';
import type { WritableCharacteristic } from '../../src/transport/types.js';
import type { ToyCore } from '../../src/toy/toy-core.js';
import type { ToyPersistentState, ToyRefusalCounts } from '../../src/toy/types.js';
import type { SpeakerStats } from '../../src/toy/speaker-buffer.js';

/** Wall-clock sleep. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The suite's one polling wait (test/helpers/until.ts). */
export { until } from './until.js';

/** One raw connection of a stranger central. */
export class Intruder {
  /** Every control message the toy sent, decoded, in order (also those already taken by {@link next}). */
  readonly received: WireMessage[] = [];
  /** Raw microphone notifications received. */
  readonly microphone: Uint8Array[] = [];
  /** Control values that did not reassemble or decode. */
  readonly garbage: Uint8Array[] = [];
  disconnected = false;
  disconnectReason: string | undefined;
  /** When set, every decoded control message goes here instead of the {@link next} queue (pipes, relays). */
  onMessage: ((m: WireMessage) => void) | undefined;
  private readonly inbox: WireMessage[] = [];
  private readonly reasm = new Reassembler(4096);
  private readonly frag = { control: new Fragmenter(4096), speaker: new Fragmenter(4096) };
  private wake: (() => void) | undefined;

  private constructor(readonly link: MemoryCentralLink) {
    link.on('data', (ch, v) => {
      if (ch === 'microphone') {
        this.microphone.push(v);
        return;
      }
      const r = this.reasm.push(v);
      if (r.kind === 'partial') return;
      if (r.kind === 'error') {
        this.garbage.push(v);
        return;
      }
      try {
        const m = decodeWire(r.message);
        this.received.push(m);
        if (this.onMessage) this.onMessage(m);
        else this.inbox.push(m);
      } catch {
        this.garbage.push(r.message);
      }
      this.wake?.();
    });
    link.on('disconnect', (reason) => {
      this.disconnected = true;
      this.disconnectReason = reason;
      this.wake?.();
    });
  }

  /** Connects a brand-new central (a stranger) to `toyId`. */
  static async connect(radio: MemoryRadio, toyId: string, opts: { mtu?: number } = {}): Promise<Intruder> {
    const central = radio.createCentral({ mtu: opts.mtu ?? 247 });
    return new Intruder(await central.connect(toyId, { timeoutMs: 5000 }));
  }

  /** Sends one whole message, fragmented to the link's MTU. Resolves false when a write failed (link gone). */
  async send(ch: WritableCharacteristic, message: Uint8Array): Promise<boolean> {
    return this.sendRaw(ch, this.frag[ch].fragment(message, this.link.mtu - 3));
  }

  /** Writes raw ATT values in order (a replay). Resolves false when a write failed (link gone). */
  async sendRaw(ch: WritableCharacteristic, values: readonly Uint8Array[]): Promise<boolean> {
    for (const v of values) {
      try {
        await this.link.write(ch, v);
      } catch {
        return false;
      }
    }
    return true;
  }

  /** The toy's next control message, or undefined after `ms` (wall clock) or a disconnect. */
  async next(ms = 1000): Promise<WireMessage | undefined> {
    const deadline = Date.now() + ms;
    while (this.inbox.length === 0 && !this.disconnected && Date.now() < deadline) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - Date.now()));
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
      this.wake = undefined;
    }
    return this.inbox.shift();
  }

  /** Resolves true once the link is down, false after `ms`. */
  async waitDisconnect(ms = 1000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.disconnected && Date.now() < deadline) await sleep(5);
    return this.disconnected;
  }

  async close(): Promise<void> {
    await this.link.disconnect().catch(() => undefined);
  }
}

/** A secure channel under keys the stranger made up: every record it seals is a forgery. */
export function forgedChannel(): SecureChannel {
  return new SecureChannel({ sendKey: randomBytes(32), receiveKey: randomBytes(32), handshakeHash: randomBytes(64) });
}

/** Records the radio's application PDUs (what an eavesdropper in range captures). */
export class PduRecorder {
  readonly traces: PduTrace[] = [];
  private readonly onPdu = (t: PduTrace): void => {
    this.traces.push({ ...t, value: Uint8Array.from(t.value) });
  };

  constructor(private readonly radio: MemoryRadio) {
    radio.on('pdu', this.onPdu);
  }

  stop(): void {
    this.radio.off('pdu', this.onPdu);
  }

  /** Raw values matching the filter, in delivery order. */
  values(f: { link?: number; direction?: PduTrace['direction']; characteristic?: PduTrace['characteristic'] } = {}): Uint8Array[] {
    return this.traces
      .filter((t) => (f.link === undefined || t.link === f.link) && (f.direction === undefined || t.direction === f.direction) && (f.characteristic === undefined || t.characteristic === f.characteristic))
      .map((t) => t.value);
  }

  /** Whole messages (reassembled) matching the filter, each with the raw values it came in. */
  messages(f: { link?: number; direction?: PduTrace['direction']; characteristic?: PduTrace['characteristic'] } = {}): { message: Uint8Array; values: Uint8Array[] }[] {
    const r = new Reassembler(4096);
    const out: { message: Uint8Array; values: Uint8Array[] }[] = [];
    let pending: Uint8Array[] = [];
    for (const v of this.values(f)) {
      pending.push(v);
      const res = r.push(v);
      if (res.kind === 'partial') continue;
      if (res.kind === 'message') out.push({ message: res.message, values: pending });
      pending = [];
    }
    return out;
  }

  /** Whole control messages the central wrote on link `link`, decoded, with their raw values. */
  controlWrites(link: number): { wire: WireMessage; values: Uint8Array[] }[] {
    return this.messages({ link, direction: 'toPeripheral', characteristic: 'control' }).map((m) => ({ wire: decodeWire(m.message), values: m.values }));
  }

  /** Serial numbers of the links seen so far, in order of first PDU. */
  links(): number[] {
    return [...new Set(this.traces.map((t) => t.link))];
  }
}

/** Everything on the toy that a refused input must leave as it was. */
export interface ToySnapshot {
  refusals: ToyRefusalCounts;
  executed: Record<string, number>;
  state: ToyPersistentState;
  speaker: SpeakerStats;
  microphoneActive: boolean;
  sessionCount: number;
}

export function snapshot(core: ToyCore): ToySnapshot {
  return {
    refusals: { ...core.refusals },
    executed: { ...core.executed },
    state: core.persistentState,
    speaker: { ...core.speakerStats },
    microphoneActive: core.microphoneActive,
    sessionCount: core.sessionCount,
  };
}

/**
 * Asserts that between `before` and `now` exactly the given refusal counters moved by exactly
 * the given amounts, and that nothing else changed: no control request executed, persistent
 * state (pairings, failure counter, volume, advertising key) identical unless `stateMayChange`,
 * speaker statistics identical, microphone off.
 */
export function expectOnlyRefused(before: ToySnapshot, core: ToyCore, counts: Partial<ToyRefusalCounts>, opts: { stateMayChange?: boolean } = {}): void {
  const after = snapshot(core);
  const delta: Partial<ToyRefusalCounts> = {};
  for (const k of Object.keys(after.refusals) as (keyof ToyRefusalCounts)[]) {
    const d = after.refusals[k] - before.refusals[k];
    if (d !== 0) delta[k] = d;
  }
  expect(delta).toEqual(counts);
  expect(after.executed).toEqual(before.executed);
  if (!opts.stateMayChange) expect(after.state).toEqual(before.state);
  else expect(after.state.pairings).toEqual(before.state.pairings);
  expect(after.speaker).toEqual(before.speaker);
  expect(after.microphoneActive).toBe(false);
}
