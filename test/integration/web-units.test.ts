/**
 * The web app's pure parts, in Node: the microphone resampler (web/src/audio/resample.ts) and the
 * identity backup code (web/src/identity.ts, docs in web/README.md).
 */
import { describe, expect, it } from 'vitest';
import { resample } from '../../web/src/audio/resample.js';
import { backupCode, backupFileText, parseBackup } from '../../web/src/identity.js';
import { generateFamilyIdentity, parseFamilyIdentity, sameFamilyKey } from '../../src/messages/family.js';

function tone(freq: number, rate: number, seconds: number): Float32Array {
  return Float32Array.from({ length: Math.round(rate * seconds) }, (_, i) => 0.5 * Math.sin((2 * Math.PI * freq * i) / rate));
}

function rms(x: Float32Array, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s / (to - from));
}

describe('resample (microphone rate → 16 kHz)', () => {
  for (const rate of [48000, 44100, 24000]) {
    it(`${rate} Hz: speech-band tones pass, tones above 8 kHz are removed instead of aliasing`, () => {
      const pass = resample(tone(1000, rate, 0.5), rate, 16000);
      expect(pass.length).toBe(8000);
      const mid = [400, 7600] as const; // away from the edges
      expect(rms(pass, ...mid)).toBeGreaterThan(0.5 / Math.SQRT2 * 0.98);
      expect(rms(pass, ...mid)).toBeLessThan(0.5 / Math.SQRT2 * 1.02);
      // The 1 kHz tone is still a 1 kHz tone: compare with the ideal 16 kHz one.
      const ideal = tone(1000, 16000, 0.5);
      let err = 0;
      for (let i = mid[0]; i < mid[1]; i++) err = Math.max(err, Math.abs(pass[i]! - ideal[i]!));
      expect(err).toBeLessThan(0.02);
      if (rate > 16000 * 1.2) {
        // 10 kHz would alias to 6 kHz at 16 kHz; the low-pass takes it down by more than 40 dB.
        const stop = resample(tone(10000, rate, 0.5), rate, 16000);
        expect(rms(stop, ...mid)).toBeLessThan((0.5 / Math.SQRT2) * 0.01);
      }
    });
  }

  it('16 kHz in is returned unchanged', () => {
    const x = tone(440, 16000, 0.1);
    expect(Array.from(resample(x, 16000, 16000))).toEqual(Array.from(x));
  });
});

describe('identity backup', () => {
  const id = generateFamilyIdentity('Grandma Rose');

  it('round-trips through the backup file (with the family) and the backup code (case, spaces and line breaks ignored)', () => {
    const family = [generateFamilyIdentity('Mila’s bear'), generateFamilyIdentity('Dad')];
    const file = parseBackup(backupFileText(id, family));
    expect(sameFamilyKey(file.identity, id)).toBe(true);
    expect(file.family.map((m) => m.name)).toEqual(['Mila’s bear', 'Dad']);
    file.family.forEach((m, i) => expect(sameFamilyKey(m, family[i]!)).toBe(true));
    // The file is the library's identity file too.
    expect(sameFamilyKey(parseFamilyIdentity(backupFileText(id, family)), id)).toBe(true);
    const code = backupCode(id);
    expect(code).toMatch(/^PLFB1-([0-9A-Z]{1,5}-)*[0-9A-Z]{1,5}$/);
    const { identity: restored, family: none } = parseBackup(`  ${code.toLowerCase().replace(/-/g, ' ').replace(/(.{40})/g, '$1\n')}  `);
    expect(none).toEqual([]);
    expect(sameFamilyKey(restored, id)).toBe(true);
    expect(restored.name).toBe('Grandma Rose');
    expect(Array.from(restored.signSecretKey)).toEqual(Array.from(id.signSecretKey));
    expect(Array.from(restored.boxSecretKey)).toEqual(Array.from(id.boxSecretKey));
  });

  it('a mistyped code is refused, never restored as another key', () => {
    const code = backupCode(id);
    const chars = code.split('');
    let refused = 0;
    for (const pos of [8, 20, 40, 77, code.length - 3]) {
      const c = [...chars];
      c[pos] = c[pos] === 'A' ? 'B' : 'A';
      expect(() => parseBackup(c.join(''))).toThrow(/mistyped|damaged|not a plushlink/);
      refused++;
    }
    expect(refused).toBe(5);
    expect(() => parseBackup('hello')).toThrow();
    expect(() => parseBackup('{"format":"something else"}')).toThrow();
  });
});
