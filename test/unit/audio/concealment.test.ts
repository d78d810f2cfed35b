/**
 * Packet-loss concealment, written once (src/audio/concealing-decoder.ts, `decodeOrConceal` in
 * src/audio/opus-codec.ts): a stream taken one slot at a time gives the same PCM and counts as the
 * same stream given as jitter-buffer outputs, and the packet-domain concealer fills a lost slot
 * with the concealment packet of the last received packet's mode.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConcealingDecoder, PacketConcealer } from '../../../src/audio/concealing-decoder.js';
import { concealmentPacket, decodeWav, encodePcm, OpusDecoder } from '../../../src/audio/index.js';

const speech = decodeWav(new Uint8Array(readFileSync('fixtures/audio/toy-goodnight.wav'))).samples;

describe('concealment', () => {
  it('one slot at a time (packet or undefined) decodes like the jitter-buffer outputs of the same stream', async () => {
    const { packets } = encodePcm(speech.subarray(0, 16000));
    // slots 3, 4 lost, slot 7 undecodable
    const slots: (Uint8Array | undefined)[] = packets.map((p, i) => (i === 3 || i === 4 ? undefined : i === 7 ? new Uint8Array(0) : p));
    const a = await OpusDecoder.create();
    const b = await OpusDecoder.create();
    try {
      const bySlot = new ConcealingDecoder(a);
      const byOutput = new ConcealingDecoder(b);
      const x = slots.map((s) => Array.from(bySlot.decode(s))).flat();
      const y: number[] = [];
      for (let i = 0; i < slots.length; i++) {
        if (i === 4) continue; // the lost run 3..4 is one output
        const s = slots[i];
        y.push(...(s === undefined ? byOutput.process({ kind: 'lost', seq: 3, count: 2 }) : byOutput.process({ kind: 'frame', seq: i, data: s })));
      }
      expect(x.length).toBe(packets.length * 320);
      expect(y).toEqual(x);
      expect(bySlot.stats).toEqual({ received: packets.length - 3, concealed: 3, decodeErrors: 1, skipped: 0 });
      expect(byOutput.stats).toEqual(bySlot.stats);
    } finally {
      a.free();
      b.free();
    }
  });

  it('the packet concealer passes packets through and fills a lost slot in the last packet’s mode', () => {
    const { packets } = encodePcm(speech.subarray(0, 3200));
    const plc = new PacketConcealer();
    expect(plc.next(undefined)).toEqual(concealmentPacket(undefined));
    expect(plc.next(packets[0])).toBe(packets[0]);
    expect(plc.next(undefined)).toEqual(concealmentPacket(packets[0]![0]));
    const celt = Uint8Array.of((20 << 3) | 0x04 | 0x01, 0, 0); // CELT, stereo flag, code 1
    expect(plc.next(celt)).toBe(celt);
    expect(plc.next(undefined)).toEqual(concealmentPacket(celt[0]));
    expect(plc.next(undefined)).toEqual(concealmentPacket(celt[0]));
  });
});
