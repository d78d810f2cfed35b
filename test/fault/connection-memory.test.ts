/**
 * A stranger's connection costs the toy nothing once it is gone (SECURITY.md property 7, bounded
 * memory): 10,000 connections that write garbage, refused handshakes and speaker audio, and that
 * end either way (the stranger leaves, or the toy drops it), leave the heap where it was and no
 * per-connection entry behind in the reference toy's driver or core.
 *
 * Counts, not time: the verdict is the number of retained entries and the heap growth after a
 * full garbage collection, never how long the connections took.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { EventEmitter } from 'eventemitter3';
import { describe, expect, it } from 'vitest';
import { generateX25519KeyPair } from '../../src/protocol/crypto.js';
import { generateSetupCode } from '../../src/protocol/setup-code.js';
import { encodeWire } from '../../src/protocol/wire.js';
import { ReferenceToy } from '../../src/toy/reference-toy.js';
import type { NotifyingCharacteristic, Peripheral, PeripheralEvents, PeripheralLink, PeripheralLinkEvents, WritableCharacteristic } from '../../src/transport/types.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A peripheral link that acknowledges every send at once (an ideal radio). */
class InstantLink extends EventEmitter<PeripheralLinkEvents> implements PeripheralLink {
  connected = true;
  sent = 0;
  constructor(
    readonly id: string,
    readonly mtu = 23,
  ) {
    super();
  }
  async send(_ch: NotifyingCharacteristic, _value: Uint8Array): Promise<void> {
    this.sent++;
  }
  disconnect(): void {
    if (!this.connected) return;
    this.connected = false;
    queueMicrotask(() => this.emit('disconnect', 'local'));
  }
  /** The central leaves. */
  leave(): void {
    if (!this.connected) return;
    this.connected = false;
    this.emit('disconnect', 'remote');
  }
  write(ch: WritableCharacteristic, value: Uint8Array): void {
    this.emit('write', ch, value);
  }
}

class InstantPeripheral extends EventEmitter<PeripheralEvents> implements Peripheral {
  async advertise(): Promise<void> {}
  async stopAdvertising(): Promise<void> {}
  async close(): Promise<void> {}
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** One stranger: connects, does one of four things, and the connection ends (by either side). */
async function stranger(peripheral: InstantPeripheral, i: number): Promise<void> {
  const link = new InstantLink(`stranger-${i}`);
  peripheral.emit('connect', link);
  switch (i % 4) {
    case 0: // a forged record on control: ERROR NOT_AUTHENTICATED, the stranger leaves
      link.write('control', Uint8Array.of(0xc0, 0x10, 1, 2, 3));
      break;
    case 1: // an info request outside the pairing window: ERROR NOT_IN_PAIRING_MODE, the stranger leaves
      link.write('control', Uint8Array.of(0xc0, ...encodeWire({ kind: 'info-request' })));
      break;
    case 2: // a garbage reconnect message 1: ERROR HANDSHAKE_FAILED, the toy drops the link
      link.write('control', Uint8Array.of(0xc0, 0x03, ...new Uint8Array(18).fill(i & 0xff)));
      break;
    default: // audio before any session: dropped and counted, the stranger leaves
      link.write('speaker', Uint8Array.of(0xc0, 1, 2, 3, 4));
  }
  await turn();
  link.leave();
}

describe('the reference toy keeps nothing of a connection once it is gone', () => {
  it('10,000 stranger connections: no retained entries, and the heap is flat', async () => {
    const peripheral = new InstantPeripheral();
    const toy = new ReferenceToy({ peripheral, identity: generateX25519KeyPair(), setupCode: generateSetupCode(), tickMs: 1_000_000 });
    await toy.start();
    const internals = toy as unknown as { links: Map<string, unknown>; sendChains: Map<string, unknown> };
    const retained = (): { links: number; sendChains: number; core: number } => ({
      links: internals.links.size,
      sendChains: internals.sendChains.size,
      core: toy.core.connectionCount,
    });
    const run = async (from: number, n: number): Promise<void> => {
      for (let i = from; i < from + n; i++) await stranger(peripheral, i);
      for (let k = 0; k < 5; k++) await turn();
    };
    const heap = (): number => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };

    await run(0, 2_000); // warm-up: code compiled, caches filled
    expect(retained()).toEqual({ links: 0, sendChains: 0, core: 0 });
    const before = heap();
    await run(2_000, 10_000);
    const after = heap();
    expect(retained()).toEqual({ links: 0, sendChains: 0, core: 0 });
    const refused = toy.core.refusals;
    expect(refused['control-before-session'] + refused['not-in-pairing-mode'] + refused['bad-handshake'] + refused['speaker-write']).toBe(12_000);
    // A connection that stayed in memory costs hundreds of bytes (a map entry, a promise, closures):
    // 10,000 of them would be megabytes. Flat means less than 50 bytes per connection.
    const perConnection = (after - before) / 10_000;
    console.log(`connection memory: heap ${(before / 1e6).toFixed(2)} MB → ${(after / 1e6).toFixed(2)} MB after 10,000 connections (${perConnection.toFixed(1)} B each)`);
    expect(perConnection).toBeLessThan(50);
    await toy.stop();
  }, 120_000);
});
