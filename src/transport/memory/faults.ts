/**
 * Fault injection of the in-memory radio: radio-wide faults ({@link RadioFaults}) and the
 * per-link overrides ({@link LinkFaults}), settable at run time: notification drop rate (seeded
 * PRNG), latency and jitter, disconnect after the n-th PDU, injected disconnects.
 */
import { checkInt, checkNumber } from './checks.js';
import type { DisconnectAfterSpec, DisconnectReason, LinkDirection } from './types.js';

/** An armed "disconnect after the n-th PDU": the PDUs still to count. */
export interface ArmedDisconnect {
  direction: LinkDirection;
  remaining: number;
  lose: boolean;
}

export function armSpec(spec: DisconnectAfterSpec): ArmedDisconnect {
  const direction = spec.direction ?? 'any';
  if (direction !== 'toPeripheral' && direction !== 'toCentral' && direction !== 'any') {
    throw new RangeError(`direction must be toPeripheral, toCentral or any`);
  }
  const count = checkInt('count', spec.count, 1, Number.MAX_SAFE_INTEGER, 1);
  return { direction, remaining: count, lose: spec.lose === true };
}

function checkRate(p: number): number {
  return checkNumber('notificationDropRate', p, 0, 1, 0);
}

/**
 * Radio-wide faults, settable at run time. Rates and delays apply live to every link that has
 * no override of its own ({@link LinkFaults}).
 */
export class RadioFaults {
  private _dropRate = 0;
  private _latencyMs = 0;
  private _jitterMs = 0;
  /** @internal */
  readonly _nextConnect: DisconnectAfterSpec[] = [];

  /** Probability in [0, 1] that a notification is lost in the air (seeded PRNG). */
  get notificationDropRate(): number {
    return this._dropRate;
  }
  set notificationDropRate(p: number) {
    this._dropRate = checkRate(p);
  }
  /** Extra delay before a PDU may travel (ms, simulated); order per direction is kept. */
  get latencyMs(): number {
    return this._latencyMs;
  }
  set latencyMs(ms: number) {
    this._latencyMs = checkNumber('latencyMs', ms, 0, 1e9, 0);
  }
  /** Uniform random extra delay in [0, jitterMs) added to the latency (ms, simulated). */
  get jitterMs(): number {
    return this._jitterMs;
  }
  set jitterMs(ms: number) {
    this._jitterMs = checkNumber('jitterMs', ms, 0, 1e9, 0);
  }

  /**
   * Arms a one-shot "disconnect after the n-th PDU" fault on the **next** `connect()` of any
   * central on this radio (it counts that link's application PDUs from its first one; setup
   * exchanges never count). Several calls arm several specs on that same next link.
   */
  disconnectAfter(spec: DisconnectAfterSpec): void {
    armSpec(spec);
    this._nextConnect.push({ ...spec });
  }

  /** Clears every radio-wide fault. */
  clear(): void {
    this._dropRate = 0;
    this._latencyMs = 0;
    this._jitterMs = 0;
    this._nextConnect.length = 0;
  }
}

/** Faults of one link (shared by both ends); `undefined` overrides mean "use the radio's". */
export class LinkFaults {
  /** @internal */
  readonly _armed: ArmedDisconnect[] = [];
  private _dropRate: number | undefined;
  private _latencyMs: number | undefined;
  private _jitterMs: number | undefined;

  /** @internal */
  constructor(private readonly link: { dropBoth(reason: DisconnectReason): void }) {}

  /** Per-link notification drop probability (undefined = the radio's). */
  get notificationDropRate(): number | undefined {
    return this._dropRate;
  }
  set notificationDropRate(p: number | undefined) {
    this._dropRate = p === undefined ? undefined : checkRate(p);
  }
  /** Per-link latency in simulated ms (undefined = the radio's). */
  get latencyMs(): number | undefined {
    return this._latencyMs;
  }
  set latencyMs(ms: number | undefined) {
    this._latencyMs = ms === undefined ? undefined : checkNumber('latencyMs', ms, 0, 1e9, 0);
  }
  /** Per-link jitter in simulated ms (undefined = the radio's). */
  get jitterMs(): number | undefined {
    return this._jitterMs;
  }
  set jitterMs(ms: number | undefined) {
    this._jitterMs = ms === undefined ? undefined : checkNumber('jitterMs', ms, 0, 1e9, 0);
  }

  /** Drops the link at the `count`-th application PDU in `direction` from now on (see {@link DisconnectAfterSpec}). */
  disconnectAfter(spec: DisconnectAfterSpec): void {
    this._armed.push(armSpec(spec));
  }

  /** Drops the link now, on both sides at once (reason `'fault'`, like a supervision timeout). */
  injectDisconnect(): void {
    this.link.dropBoth('fault');
  }

  /** Clears the overrides and armed disconnects of this link. */
  clear(): void {
    this._armed.length = 0;
    this._dropRate = this._latencyMs = this._jitterMs = undefined;
  }
}

