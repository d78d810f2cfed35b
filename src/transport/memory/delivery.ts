/**
 * What happens when an application PDU (a value written to control or speaker, an indication on
 * control, a notification on microphone) reaches its receiver: armed disconnects count it, a
 * notification may be lost to the injected drop rate, it is counted in the link's stats (flights
 * and round trips as ./radio.ts defines them), answered, traced on the radio's `pdu` event and
 * handed to the receiving end. One table says, per kind, who receives it and how it is counted.
 */
import type { CharacteristicName, NotifyingCharacteristic, WritableCharacteristic } from '../types.js';
import { effectiveFaults, type Air, type Dir, type PduKind } from './air.js';
import { emitSafely } from './checks.js';
import type { Connection } from './connection.js';
import type { LinkStats, PduTrace } from './types.js';

/** The four kinds of application PDU (the only ones that count as flights, round trips and PDUs for faults). */
export type ApplicationPduKind = Extract<PduKind, 'write' | 'writeCmd' | 'indicate' | 'notify'>;

/** How one kind of application PDU is delivered: to whom, on which characteristic, counted where, answered with what. */
type ApplicationPdu =
  | {
      to: 'peripheral';
      characteristic: WritableCharacteristic;
      trace: PduTrace['kind'];
      counter: 'writesWithResponse' | 'writesWithoutResponse';
      answer?: 'writeRsp';
    }
  | {
      to: 'central';
      characteristic: NotifyingCharacteristic;
      trace: PduTrace['kind'];
      counter: 'indications' | 'notifications';
      answer?: 'confirm';
    };

const APPLICATION_PDUS: Readonly<Record<ApplicationPduKind, ApplicationPdu>> = {
  write: { to: 'peripheral', characteristic: 'control', trace: 'write', counter: 'writesWithResponse', answer: 'writeRsp' },
  writeCmd: { to: 'peripheral', characteristic: 'speaker', trace: 'writeWithoutResponse', counter: 'writesWithoutResponse' },
  indicate: { to: 'central', characteristic: 'control', trace: 'indication', counter: 'indications', answer: 'confirm' },
  notify: { to: 'central', characteristic: 'microphone', trace: 'notification', counter: 'notifications' },
};

/** The delivery of one link's application PDUs. */
export class ApplicationDelivery {
  /** Direction of the last application PDU delivered (a change starts a flight). */
  private lastDir: Dir | undefined;

  constructor(
    private readonly conn: Connection,
    private readonly air: Air,
    private readonly s: LinkStats,
  ) {}

  /** Delivers one application PDU of kind `kind` that reached its receiver (see the module comment). */
  deliver(dir: Dir, kind: ApplicationPduKind, value: Uint8Array): void {
    const pdu = APPLICATION_PDUS[kind];
    const f = this.faultCheck(dir);
    if (f === 'lose') return this.conn.dropBoth('fault');
    if (pdu.counter === 'notifications' && this.lostInAir()) {
      this.s.dropped++;
      this.s.droppedInjected++;
      this.trace(dir, pdu.characteristic, pdu.trace, value, true);
    } else {
      this.s[pdu.counter]++;
      if (pdu.to === 'peripheral') {
        this.s.writes++;
        this.s.bytesToPeripheral[pdu.characteristic] += value.length;
      } else {
        this.s.bytesToCentral[pdu.characteristic] += value.length;
      }
      this.countFlight(dir);
      if (pdu.answer) this.air.enqueue(dir === 'up' ? 'down' : 'up', { kind: pdu.answer });
      this.trace(dir, pdu.characteristic, pdu.trace, value, false);
      if (pdu.to === 'peripheral') emitSafely(() => this.conn.peripheralLink.emit('write', pdu.characteristic, value));
      else emitSafely(() => this.conn.centralLink.emit('data', pdu.characteristic, value));
    }
    if (f === 'drop-after') this.conn.dropBoth('fault');
  }

  /** Counts an application PDU against armed disconnects. Returns 'lose' | 'drop-after' | 'ok'. */
  private faultCheck(dir: Dir): 'lose' | 'drop-after' | 'ok' {
    const d = dir === 'up' ? 'toPeripheral' : 'toCentral';
    let result: 'lose' | 'drop-after' | 'ok' = 'ok';
    for (const a of this.conn.faults._armed) {
      if (a.remaining <= 0 || (a.direction !== 'any' && a.direction !== d)) continue;
      a.remaining--;
      if (a.remaining === 0) result = a.lose ? 'lose' : result === 'lose' ? 'lose' : 'drop-after';
    }
    return result;
  }

  /** The injected notification drop rate (seeded PRNG, drawn only when the rate is above 0). */
  private lostInAir(): boolean {
    const { drop } = effectiveFaults(this.conn.radio, this.conn.faults);
    return drop > 0 && this.conn.radio._faultRandom() < drop;
  }

  private countFlight(dir: Dir): void {
    if (dir !== this.lastDir) {
      this.s.flights++;
      if (dir === 'down' && this.lastDir === 'up') this.s.roundTrips++;
      this.lastDir = dir;
    }
  }

  private trace(dir: Dir, characteristic: CharacteristicName, kind: PduTrace['kind'], value: Uint8Array, dropped: boolean): void {
    const radio = this.conn.radio;
    if (radio.listenerCount('pdu') === 0) return;
    const t: PduTrace = {
      time: radio.now(),
      link: this.conn.serial,
      direction: dir === 'up' ? 'toPeripheral' : 'toCentral',
      characteristic,
      kind,
      value,
      dropped,
    };
    emitSafely(() => radio.emit('pdu', t));
  }
}
