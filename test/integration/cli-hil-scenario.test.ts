/**
 * The hardware-in-loop scenario (test/hil/scenario.ts) run over noble-sim — real noble and real
 * bleno GATT code, one central at a time like bleno — so the opt-in HIL suite's logic is
 * exercised on every `npm test`, not only on a bench with dongles.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryToyStorage, ReferenceToy, formatSetupQr, generateSetupCode, generateX25519KeyPair } from '../../src/toy.js';
import { createNobleSimRadio } from '../../src/testing.js';
import { readOggOpus } from '../../src/audio/index.js';
import { runHilScenario } from '../hil/scenario.js';

const fixture = (n: string): Uint8Array => new Uint8Array(readFileSync(join(__dirname, '../../fixtures/audio', n)));

describe('HIL scenario over noble-sim', () => {
  it('pairs, reconnects in one round trip, plays, records, refuses a stranger, forgets', async () => {
    const sim = createNobleSimRadio({ latencyMs: 1, maxConnections: 1 });
    const identity = generateX25519KeyPair();
    const setupCode = generateSetupCode();
    const storage = new MemoryToyStorage();
    const child = readOggOpus(fixture('child-question.opus'));
    const toy = new ReferenceToy({ peripheral: sim.peripheral, identity, setupCode, storage, microphone: () => child.packets });
    await toy.start();
    try {
      const hello = readOggOpus(fixture('toy-hello.opus'));
      const report = await runHilScenario({
        central: sim.central,
        strangerCentral: sim.createCentral(),
        setup: formatSetupQr(setupCode, identity.publicKey),
        pressButton: async () => toy.pressButton('hold'),
        play: { packets: hello.packets.slice(0, 50) },
        recordSeconds: 1,
        outDir: mkdtempSync(join(tmpdir(), 'plushlink-hil-sim-')),
        findTimeoutMs: 10_000,
      });
      expect(report.pairingRoundTrips).toBe(1);
      expect(report.reconnectRoundTrips).toBe(1);
      expect(report.ownerPairings).toBe(1);
      expect(report.volumeReadBack).toBe(42);
      expect(report.speaker).toEqual({ framesSent: 50, framesPlayed: 50, overruns: 0 });
      expect(report.microphone.oggHeader).toBe('OggS');
      expect(report.microphone.frames).toBeGreaterThanOrEqual(40);
      expect(report.stranger.reconnect).toBe('NOT_PAIRED');
      expect(report.stranger.pairOutsideWindow).toBe('NOT_IN_PAIRING_MODE');
      expect(report.stranger.forged).toHaveLength(2);
      for (const f of report.stranger.forged) expect(f.outcome).toMatch(/^(refused|connection closed by the toy)/);
      expect(report.ownerPairingsAfter).toBe(1);
      expect(report.forgotten).toBe(true);
      // the toy is unowned again: its flash has no pairing left
      await toy.flush();
      expect(storage.state?.pairings).toEqual([]);
      expect(toy.core.refusals['not-paired']).toBeGreaterThanOrEqual(1);
    } finally {
      await toy.stop();
      await sim.close();
    }
  });
});
