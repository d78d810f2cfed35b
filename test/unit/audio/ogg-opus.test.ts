import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  OggOpusFileWriter,
  OggOpusWriter,
  decodeWav,
  encodePcm,
  oggCrc32,
  oggOpusToPcm,
  pcmToOggOpus,
  readOggOpus,
  readOggOpusFile,
  writeOggOpus,
} from '../../../src/audio/index.js';
import { isPlushlinkError } from '../../../src/protocol/errors.js';

const hasOpusTools = ['opusinfo', 'opusdec'].every((t) => {
  const r = spawnSync(t, ['-V'], { encoding: 'utf8' });
  return r.error === undefined;
});
if (!hasOpusTools) {
  console.warn('SKIPPING opusinfo/opusdec checks: opus-tools is missing (run scripts/ci-apt.sh or apt-get install opus-tools)');
}

const manifest = JSON.parse(readFileSync('fixtures/audio/manifest.json', 'utf8')) as {
  clips: Array<{ name: string; samples: number; packets: number }>;
};
const hello = decodeWav(new Uint8Array(readFileSync('fixtures/audio/toy-hello.wav'))).samples;

function bad(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isPlushlinkError(e)) return e.code;
    return `non-plushlink: ${String(e)}`;
  }
  return 'no error';
}

/** Rewrites the CRC of the page starting at `off` (for crafting structurally bad but checksummed pages). */
function fixCrc(file: Uint8Array, off: number): void {
  const nsegs = file[off + 26]!;
  let body = 0;
  for (let i = 0; i < nsegs; i++) body += file[off + 27 + i]!;
  const page = file.slice(off, off + 27 + nsegs + body);
  page.fill(0, 22, 26);
  new DataView(file.buffer, file.byteOffset).setUint32(off + 22, oggCrc32(page), true);
}

function pageOffsets(file: Uint8Array): number[] {
  const out: number[] = [];
  let off = 0;
  while (off < file.length) {
    out.push(off);
    const nsegs = file[off + 26]!;
    let body = 0;
    for (let i = 0; i < nsegs; i++) body += file[off + 27 + i]!;
    off += 27 + nsegs + body;
  }
  return out;
}

describe('Ogg CRC', () => {
  it('matches the Ogg CRC-32 check value and a page made by opusenc', () => {
    // CRC-32/OGG (poly 0x04C11DB7, init 0, no reflection, no xorout) check value for "123456789"
    expect(oggCrc32(new TextEncoder().encode('123456789'))).toBe(0x89a1897f);
    const f = new Uint8Array(readFileSync('fixtures/audio/opusenc-toy-hello.opus'));
    const stored = new DataView(f.buffer, f.byteOffset).getUint32(22, true);
    fixCrc(f, 0);
    expect(new DataView(f.buffer, f.byteOffset).getUint32(22, true)).toBe(stored);
  });
});

describe('Ogg Opus writer', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'plushlink-ogg-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips through our reader: packets, head, tags, granules', () => {
    const { packets, sampleCount } = encodePcm(hello);
    const bytes = writeOggOpus(packets, { serial: 99, sampleCount, comments: ['TITLE=x'] });
    const f = readOggOpus(bytes);
    expect(f.serial).toBe(99);
    expect(f.head).toEqual({ version: 1, channels: 1, preSkip: 312, inputSampleRate: 16000, outputGain: 0, mappingFamily: 0 });
    expect(f.tags).toEqual({ vendor: 'plushlink', comments: ['TITLE=x'] });
    expect(f.packets.length).toBe(packets.length);
    f.packets.forEach((p, i) => expect(Buffer.compare(Buffer.from(p), Buffer.from(packets[i]!))).toBe(0));
    expect(f.granule).toBe(312 + 3 * hello.length);
    expect(f.sampleCount48k).toBe(3 * hello.length);
    expect(f.complete).toBe(true);
    // pages of at most 1 s: 2 header pages + ceil(frames / 50) audio pages
    expect(f.pageCount).toBe(2 + Math.ceil(packets.length / 50));
  });

  it.skipIf(!hasOpusTools)('writes files opusinfo accepts without warnings and opusdec decodes sample-exact', () => {
    const cases: Array<[string, Uint8Array, number]> = [];
    for (const c of manifest.clips) {
      const wav = decodeWav(new Uint8Array(readFileSync(`fixtures/audio/${c.name}.wav`))).samples;
      cases.push([`${c.name}-fixture`, new Uint8Array(readFileSync(`fixtures/audio/${c.name}.opus`)), wav.length]);
    }
    const short = hello.subarray(0, 16000 + 123);
    cases.push(['fresh-32k-short-pages', pcmToOggOpus(short, { bitrate: 32000, serial: 5, maxPageDurationMs: 60 }), short.length]);
    cases.push(['one-sample', pcmToOggOpus(hello.subarray(5000, 5001), { serial: 6 }), 1]);
    cases.push(['empty', writeOggOpus([], { serial: 7 }), 0]);
    for (const [name, bytes, samples] of cases) {
      const path = join(dir, `${name}.opus`);
      writeFileSync(path, bytes);
      const info = spawnSync('opusinfo', [path], { encoding: 'utf8' });
      expect(info.status, `${name}: opusinfo exit\n${info.stdout}${info.stderr}`).toBe(0);
      expect(`${info.stdout}${info.stderr}`, name).not.toMatch(/warning|error|invalid|corrupt|hole/i);
      const out = join(dir, `${name}.wav`);
      const d = spawnSync('opusdec', ['--quiet', '--rate', '16000', path, out], { encoding: 'utf8' });
      expect(d.status, `${name}: opusdec\n${d.stderr}`).toBe(0);
      const decoded = decodeWav(new Uint8Array(readFileSync(out)));
      expect(decoded.samples.length, name).toBe(samples);
    }
  });

  it.skipIf(!hasOpusTools)('opusinfo notices a broken file (the tool check can fail)', () => {
    const bytes = new Uint8Array(readFileSync('fixtures/audio/toy-hello.opus'));
    bytes[bytes.length - 10]! ^= 0xff;
    const path = join(dir, 'broken.opus');
    writeFileSync(path, bytes);
    const info = spawnSync('opusinfo', [path], { encoding: 'utf8' });
    expect(`${info.stdout}${info.stderr}`).toMatch(/warning|error|corrupt|hole/i);
  });

  it('uses 255-valued lacing correctly, including packets of exactly 255 and 510 bytes', () => {
    const mk = (n: number, fill: number): Uint8Array => {
      const p = new Uint8Array(n).fill(fill);
      p[0] = 0x48; // SILK WB 20 ms, code 0: any length ≤ 1276 is valid framing
      return p;
    };
    const packets = [mk(255, 1), mk(510, 2), mk(254, 3), mk(256, 4), mk(1, 5), mk(1276, 6)];
    const bytes = writeOggOpus(packets, { serial: 1 });
    const f = readOggOpus(bytes);
    expect(f.packets.map((p) => [p.length, p[1] ?? -1])).toEqual(packets.map((p) => [p.length, p[1] ?? -1]));
    // the 255-byte packet is laced as [255, 0]
    const audio = pageOffsets(bytes)[2]!;
    expect(Array.from(bytes.subarray(audio + 27, audio + 30))).toEqual([255, 0, 255]);
  });

  it('starts a new page when 255 lacing values would be exceeded', () => {
    const p = new Uint8Array(1000).fill(9);
    p[0] = 0x48; // 1000 bytes → 4 lacing values
    const packets = Array.from({ length: 70 }, () => p);
    const f = readOggOpus(writeOggOpus(packets, { serial: 1, maxPageDurationMs: 100000 }));
    expect(f.packets.length).toBe(70);
    expect(f.pageCount).toBe(2 + 2); // 63 packets × 4 = 252 lacing values, then 7
  });

  it('streams pages incrementally and holds the last packet back for EOS', () => {
    const pages: Uint8Array[] = [];
    const w = new OggOpusWriter((pg) => pages.push(pg), { serial: 3, maxPageDurationMs: 100 });
    const { packets, sampleCount } = encodePcm(hello.subarray(0, 8000));
    for (const p of packets) w.writePacket(p);
    expect(pages.length).toBeGreaterThanOrEqual(2 + 4);
    const before = pages.length;
    w.end(sampleCount);
    expect(pages.length).toBe(before + 1);
    expect(pages[pages.length - 1]![5]! & 0x04).toBe(4);
    const joined = Buffer.concat(pages);
    expect(readOggOpus(joined).sampleCount48k).toBe(3 * 8000);
    expect(bad(() => w.writePacket(packets[0]!))).toBe('BAD_AUDIO');
    expect(bad(() => w.end())).toBe('BAD_AUDIO');
  });

  it('rejects an impossible end trim and invalid packets', () => {
    const { packets, sampleCount } = encodePcm(hello.subarray(0, 3200));
    const w = new OggOpusWriter(() => undefined, { serial: 1 });
    for (const p of packets) w.writePacket(p);
    expect(bad(() => w.end(sampleCount + 10000))).toBe('BAD_AUDIO');
    expect(bad(() => w.writePacket(new Uint8Array(0)))).toBe('CODEC_ERROR');
    expect(bad(() => new OggOpusWriter(() => undefined, { preSkip: 70000 }))).toBe('BAD_AUDIO');
    expect(bad(() => new OggOpusWriter(() => undefined, { serial: -1 }))).toBe('BAD_AUDIO');
  });

  it('OggOpusFileWriter writes to a partial file and renames on finish; abort leaves nothing', async () => {
    const path = join(dir, 'rec.opus');
    const w = new OggOpusFileWriter(path, { serial: 8 });
    const { packets, sampleCount } = encodePcm(hello.subarray(0, 16000));
    for (const p of packets) w.writePacket(p);
    expect(existsSync(path)).toBe(false);
    await w.finish(sampleCount);
    const f = await readOggOpusFile(path);
    expect(f.packets.length).toBe(packets.length);
    expect((await oggOpusToPcm(f)).length).toBe(16000);
    const a = new OggOpusFileWriter(join(dir, 'aborted.opus'));
    a.writePacket(packets[0]!);
    await a.abort();
    expect(readdirSync(dir).filter((n) => n.includes('aborted') || n.endsWith('.partial'))).toEqual([]);
  });
});

describe('Ogg Opus reader', () => {
  it('reads the opusenc-made fixture: packet count, pre-skip, duration, tags', async () => {
    const f = await readOggOpusFile('fixtures/audio/opusenc-toy-hello.opus');
    const clip = manifest.clips.find((c) => c.name === 'toy-hello')!;
    expect(f.head.channels).toBe(1);
    expect(f.head.preSkip).toBe(312);
    expect(f.head.inputSampleRate).toBe(16000);
    expect(f.packets.length).toBe(clip.packets); // 20 ms packets covering the clip + lookahead
    expect(f.sampleCount48k).toBe(3 * clip.samples);
    expect(f.tags.comments.some((c) => c.startsWith('ENCODER=opusenc'))).toBe(true);
    expect(f.complete).toBe(true);
    const pcm = await oggOpusToPcm(f);
    expect(pcm.length).toBe(clip.samples);
  });

  it('decodes our fixture back to PCM of the exact length', async () => {
    for (const c of manifest.clips) {
      const pcm = await oggOpusToPcm(new Uint8Array(readFileSync(`fixtures/audio/${c.name}.opus`)));
      expect(pcm.length).toBe(c.samples);
    }
  });

  it('gives BAD_OGG when a page CRC does not match (any tampered byte)', () => {
    const good = new Uint8Array(readFileSync('fixtures/audio/toy-hello.opus'));
    expect(() => readOggOpus(good)).not.toThrow();
    for (const pos of [10, 30, 100, good.length >> 1, good.length - 1]) {
      const t = good.slice();
      t[pos]! ^= 0x01;
      expect(bad(() => readOggOpus(t)), `byte ${pos}`).toBe('BAD_OGG');
    }
  });

  it('gives typed BAD_OGG errors on structural problems', () => {
    const good = new Uint8Array(readFileSync('fixtures/audio/toy-hello.opus'));
    const offs = pageOffsets(good);
    expect(bad(() => readOggOpus(new Uint8Array(0)))).toBe('BAD_OGG');
    expect(bad(() => readOggOpus(good.subarray(0, good.length - 5)))).toBe('BAD_OGG'); // truncated
    expect(bad(() => readOggOpus(new TextEncoder().encode('not an ogg file at all, sorry folks')))).toBe('BAD_OGG');
    // missing page (sequence gap)
    const gap = Buffer.concat([good.subarray(0, offs[3]!), good.subarray(offs[4]!)]);
    expect(bad(() => readOggOpus(gap))).toBe('BAD_OGG');
    // trailing data after EOS
    expect(bad(() => readOggOpus(Buffer.concat([good, good.subarray(0, 40)])))).toBe('BAD_OGG');
    // wrong magic in OpusHead (re-checksummed so only the structure is wrong)
    const head = good.slice();
    head[offs[0]! + 28] = 0x58;
    fixCrc(head, offs[0]!);
    expect(bad(() => readOggOpus(head))).toBe('BAD_OGG');
    // no BOS flag on the first page
    const nobos = good.slice();
    nobos[5] = 0;
    fixCrc(nobos, 0);
    expect(bad(() => readOggOpus(nobos))).toBe('BAD_OGG');
    // another serial number on a later page
    const serial = good.slice();
    serial[offs[2]! + 14]! ^= 1;
    fixCrc(serial, offs[2]!);
    expect(bad(() => readOggOpus(serial))).toBe('BAD_OGG');
    // continuation flag set though no packet is pending
    const cont = good.slice();
    cont[offs[2]! + 5]! |= 1;
    fixCrc(cont, offs[2]!);
    expect(bad(() => readOggOpus(cont))).toBe('BAD_OGG');
    // mapping family 0 with 3 channels
    const ch = good.slice();
    ch[offs[0]! + 28 + 9] = 3;
    fixCrc(ch, 0);
    expect(bad(() => readOggOpus(ch))).toBe('BAD_OGG');
    // a final granule beyond the audio present
    const gr = good.slice();
    const last = offs[offs.length - 1]!;
    new DataView(gr.buffer).setBigInt64(last + 6, 10n ** 12n, true);
    fixCrc(gr, last);
    expect(bad(() => readOggOpus(gr))).toBe('BAD_OGG');
    // an audio packet with invalid Opus framing (code 3 with zero frames)
    const fr = good.slice();
    const a = offs[2]!;
    const nsegs = fr[a + 26]!;
    fr[a + 27 + nsegs] = 0x4b;
    fr[a + 27 + nsegs + 1] = 0x00;
    fixCrc(fr, a);
    expect(bad(() => readOggOpus(fr))).toBe('BAD_OGG');
  });

  it('reads a recording truncated at a page boundary as incomplete', () => {
    const good = new Uint8Array(readFileSync('fixtures/audio/toy-hello.opus'));
    const offs = pageOffsets(good);
    const f = readOggOpus(good.subarray(0, offs[4]!));
    expect(f.complete).toBe(false);
    expect(f.packets.length).toBe(100);
  });

  it('reads an OpusTags header spanning several pages', () => {
    const long = 'COMMENT=' + 'x'.repeat(70000);
    const bytes = writeOggOpus([Uint8Array.of(0x48)], { serial: 2, comments: [long] });
    const f = readOggOpus(bytes);
    expect(f.tags.comments[0]!.length).toBe(long.length);
    expect(f.pageCount).toBeGreaterThanOrEqual(4);
  });
});
