/**
 * `npm run demo -- --family` (docs/RELAY.md): both hops end to end, with the grandparent's app as
 * a second process, a stranger refused, and a thief's copy of the relay's database that opens to
 * no audio and holds no secret.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runFamilyDemo } from '../../src/cli/demo/demo-family.js';
import { decodeWav } from '../../src/audio/index.js';
import { readFileSync } from 'node:fs';

describe('npm run demo -- --family', () => {
  it('child → grandparent → reply played on the toy; stranger refused; the stolen database reveals no voice', { timeout: 300_000 }, async () => {
    const r = await runFamilyDemo({ outDir: mkdtempSync(join(tmpdir(), 'plushlink-family-demo-')) });
    expect(r.family.childToRelative.delivered).toBe(true);
    expect(r.family.childToRelative.micFrames).toBeGreaterThan(100);
    expect(r.family.relativeToChild.played).toBe(true);
    expect(r.family.relativeToChild.framesPlayed).toBeGreaterThan(100);
    expect(r.family.stranger).toEqual({ refused: true, code: 'RELAY_SENDER_NOT_ALLOWED' });
    expect(typeof r.family.wakeMs).toBe('number');
    // The grandparent's process wrote a real WAV of the child's voice.
    expect(existsSync(r.family.relativeWav)).toBe(true);
    const wav = decodeWav(new Uint8Array(readFileSync(r.family.relativeWav)));
    expect(wav.samples.length).toBeGreaterThan(16000);
    // The thief's copy: one pending envelope, nothing opens, no secret, no plaintext audio.
    expect(r.breach.envelopes).toBeGreaterThanOrEqual(1);
    expect(r.breach.candidateKeysTried).toBeGreaterThan(0);
    expect(r.breach.audioRecovered).toBe(0);
    expect(r.breach.secretsSearched).toBeGreaterThanOrEqual(18);
    expect(r.breach.secretsFound).toBe(0);
    expect(r.breach.plaintextAudio).toBe(0);
    expect(r.breach.tables.map((t) => t.name)).toEqual(expect.arrayContaining(['envelopes', 'mailboxes', 'senders', 'deliveries', 'receipts', 'nonces']));
    expect(r.breach.holds[0]).toMatchObject({ size: expect.any(Number), recipients: [expect.stringMatching(/^[0-9a-f]{32}$/)] });
  });
});
