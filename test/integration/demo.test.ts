import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runDemo } from '../../src/cli/demo/demo.js';

const hasOpusinfo = (() => {
  try {
    execFileSync('opusinfo', ['-h'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    return (e as { status?: number }).status !== undefined && (e as { code?: string }).code !== 'ENOENT';
  }
})();
if (!hasOpusinfo) console.warn('[plushlink tests] opus-tools (opusinfo) is missing: the demo recording check is SKIPPED. Install opus-tools.');

for (const transport of ['memory', 'noble-sim'] as const) {
  describe(`npm run demo (${transport})`, () => {
    let result: Awaited<ReturnType<typeof runDemo>>;
    it('pairs, reconnects in one round trip, streams both ways and refuses the intruder every time', async () => {
      const out = mkdtempSync(join(tmpdir(), 'plushlink-demo-'));
      result = await runDemo({ transport, outDir: out });
      expect(result.paired).toBe(true);
      expect(result.pairingRoundTrips).toBe(1);
      expect(result.reconnectRoundTrips).toBe(1);
      expect(result.intruder.attempts).toBeGreaterThanOrEqual(6);
      expect(result.intruder.accepted).toBe(0);
      expect(result.speakerFramesPlayed).toBe(result.speakerFramesSent);
      expect(result.speakerFramesSent).toBeGreaterThan(200);
      expect(result.speakerOverruns).toBe(0);
      expect(result.speakerUnderruns).toBe(0);
      expect(result.micFramesReceived).toBeGreaterThan(150);
    });
    it.skipIf(!hasOpusinfo)('writes a microphone recording that opusinfo accepts', () => {
      const text = execFileSync('opusinfo', [result.micFile], { encoding: 'utf8' });
      expect(text).toContain('Channels: 1');
      expect(text).not.toMatch(/WARNING/i);
    });
  });
}
