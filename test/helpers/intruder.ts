/**
 * A stranger's phone for attack and fault tests: the repository's one raw link
 * (src/conformance/raw-link.ts, also the conformance run's and the demo's) on the in-memory radio,
 * writing raw ATT values and reading the toy's raw answers. Also: a PDU recorder (the radio's `pdu`
 * trace, for capture and replay) and a snapshot of everything a refusal must leave unchanged on the
 * toy.
 */
import { expect } from 'vitest';
import { RawLink } from '../../src/conformance/raw-link.js';
import { Reassembler } from '../../src/protocol/fragment.js';
import { decodeWire, type WireMessage } from '../../src/protocol/wire.js';
import type { MemoryCentralLink, MemoryRadio, PduTrace } from '../../src/transport/memory/index.js';
import type { ToyCore } from '../../src/toy/toy-core.js';
import type { ToyPersistentState, ToyRefusalCounts } from '../../src/toy/types.js';
import type { SpeakerStats } from '../../src/toy/speaker-buffer.js';

/** Wall-clock sleep. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The suite's one polling wait (test/helpers/until.ts). */
export { until } from './until.js';

/**
 * One raw connection of a stranger central on the in-memory radio: the shared raw link
 * (src/conformance/raw-link.ts) over a {@link MemoryCentralLink}, taking messages up to 4096 bytes.
 */
export class Intruder extends RawLink<MemoryCentralLink> {
  /** Connects a brand-new central (a stranger) to `toyId`. */
  static async connect(radio: MemoryRadio, toyId: string, opts: { mtu?: number } = {}): Promise<Intruder> {
    const central = radio.createCentral({ mtu: opts.mtu ?? 247 });
    return new Intruder(await central.connect(toyId, { timeoutMs: 5000 }), { maxMessage: 4096 });
  }
}

export { forgedChannel } from '../../src/conformance/raw-link.js';

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
