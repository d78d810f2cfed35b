import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWav, encodeWav, readWavFile, writeWavFile } from '../../../src/audio/index.js';
import { isPlushlinkError } from '../../../src/protocol/errors.js';

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(isPlushlinkError(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}`);
}

describe('WAV', () => {
  it('round-trips mono and stereo PCM, including extreme values', () => {
    const mono = Int16Array.from([0, 1, -1, 32767, -32768, 1234, -4321]);
    const back = decodeWav(encodeWav(mono, 16000, 1));
    expect(back.sampleRate).toBe(16000);
    expect(back.channels).toBe(1);
    expect(Array.from(back.samples)).toEqual(Array.from(mono));
    const stereo = Int16Array.from([1, 2, 3, 4, -5, -6]);
    const s = decodeWav(encodeWav(stereo, 48000, 2));
    expect([s.sampleRate, s.channels, Array.from(s.samples)]).toEqual([48000, 2, [1, 2, 3, 4, -5, -6]]);
  });

  it('writes a canonical 44-byte header', () => {
    const b = encodeWav(new Int16Array(10), 16000, 1);
    expect(b.length).toBe(44 + 20);
    expect(new TextDecoder().decode(b.subarray(0, 4))).toBe('RIFF');
    const v = new DataView(b.buffer);
    expect(v.getUint32(4, true)).toBe(36 + 20);
    expect(v.getUint32(28, true)).toBe(32000); // byte rate
    expect(v.getUint32(40, true)).toBe(20);
  });

  it('reads the sox-made fixture and skips unknown chunks with pad bytes', () => {
    const fx = decodeWav(new Uint8Array(readFileSync('fixtures/audio/toy-hello.wav')));
    expect(fx.sampleRate).toBe(16000);
    expect(fx.channels).toBe(1);
    expect(fx.samples.length).toBeGreaterThan(3 * 16000);
    // insert an odd-sized LIST chunk (3 bytes + pad) before fmt
    const base = encodeWav(Int16Array.from([7, 8, 9]), 8000, 1);
    const list = Uint8Array.from([...new TextEncoder().encode('LIST'), 3, 0, 0, 0, 1, 2, 3, 0]);
    const withList = new Uint8Array(base.length + list.length);
    withList.set(base.subarray(0, 12));
    withList.set(list, 12);
    withList.set(base.subarray(12), 12 + list.length);
    expect(Array.from(decodeWav(withList).samples)).toEqual([7, 8, 9]);
  });

  it('rejects malformed input with BAD_WAV', () => {
    const good = encodeWav(Int16Array.from([1, 2, 3]), 16000, 1);
    expectCode(() => decodeWav(new Uint8Array(0)), 'BAD_WAV');
    expectCode(() => decodeWav(good.subarray(0, 30)), 'BAD_WAV'); // truncated fmt
    const notPcm = good.slice();
    notPcm[20] = 3; // IEEE float
    expectCode(() => decodeWav(notPcm), 'BAD_WAV');
    const bits8 = good.slice();
    bits8[34] = 8;
    expectCode(() => decodeWav(bits8), 'BAD_WAV');
    const overlong = good.slice();
    new DataView(overlong.buffer).setUint32(40, 1000, true);
    expectCode(() => decodeWav(overlong), 'BAD_WAV');
    const riff = good.slice();
    riff[0] = 0x58;
    expectCode(() => decodeWav(riff), 'BAD_WAV');
    expectCode(() => decodeWav(good.subarray(0, 36)), 'BAD_WAV'); // no data chunk
  });

  it('accepts the streaming placeholder data size 0xFFFFFFFF', () => {
    const b = encodeWav(Int16Array.from([5, 6]), 16000, 1);
    new DataView(b.buffer).setUint32(40, 0xffffffff, true);
    expect(Array.from(decodeWav(b).samples)).toEqual([5, 6]);
  });

  it('writes and reads files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plushlink-wav-'));
    try {
      const pcm = Int16Array.from({ length: 1000 }, (_, i) => (i * 37) % 30000);
      await writeWavFile(join(dir, 'a.wav'), pcm);
      const r = await readWavFile(join(dir, 'a.wav'));
      expect(Array.from(r.samples)).toEqual(Array.from(pcm));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
