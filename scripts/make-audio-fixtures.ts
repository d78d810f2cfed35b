/**
 * Regenerates fixtures/audio/: short English speech clips a plush toy might say or hear, spoken
 * by espeak-ng and resampled by sox to 16 kHz mono s16 WAV; each also as Ogg Opus made by OUR
 * encoder (16 kbit/s, constant bitrate) and OUR Ogg writer; and one clip encoded by the reference `opusenc` to test
 * our reader. Needs: apt-get install espeak-ng sox opus-tools.
 *
 *   npx tsx scripts/make-audio-fixtures.ts
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeWav, encodeWav, encodePcm, writeOggOpus, oggCrc32 } from '../src/audio/index.js';
import { utf8 } from '../src/protocol/bytes.js';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'audio');

/** The clips: name → text. Each must come out 3–6 s long. */
export const CLIPS: ReadonlyArray<{ name: string; text: string }> = [
  { name: 'toy-hello', text: 'Hello! I am your cuddly bear. Do you want to hear a story?' },
  { name: 'toy-goodnight', text: 'It is time to sleep now. Good night, little one. Sweet dreams.' },
  { name: 'child-question', text: 'Grandma, can you sing me the song about the little yellow duck?' },
];
/** The clip also encoded by opusenc. */
const OPUSENC_CLIP = 'toy-hello';
const BITRATE = 16000;

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
}

function main(): void {
  mkdirSync(OUT, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'plushlink-fixtures-'));
  const manifest: Array<Record<string, unknown>> = [];
  try {
    for (const { name, text } of CLIPS) {
      const raw = join(tmp, `${name}-raw.wav`);
      const wavPath = join(OUT, `${name}.wav`);
      run('espeak-ng', ['-v', 'en-us', '-s', '140', '-w', raw, text]);
      // -D: no dither, so the output is the same on every run
      run('sox', ['-D', raw, '-r', '16000', '-c', '1', '-b', '16', '-e', 'signed-integer', join(tmp, `${name}.wav`)]);
      const wav = decodeWav(new Uint8Array(readFileSync(join(tmp, `${name}.wav`))));
      if (wav.sampleRate !== 16000 || wav.channels !== 1) throw new Error(`${name}: sox produced ${wav.sampleRate} Hz × ${wav.channels}`);
      const seconds = wav.samples.length / 16000;
      if (seconds < 3 || seconds > 6) throw new Error(`${name}: ${seconds.toFixed(2)} s is outside 3–6 s`);
      // re-write with our writer: canonical 44-byte header
      writeFileSync(wavPath, encodeWav(wav.samples, 16000, 1));

      const { packets, sampleCount } = encodePcm(wav.samples, { bitrate: BITRATE });
      const serial = oggCrc32(utf8(name)); // fixed per clip: reproducible bytes
      const ogg = writeOggOpus(packets, { serial, sampleCount, comments: [`TITLE=${name}`, `BITRATE=${BITRATE}`] });
      writeFileSync(join(OUT, `${name}.opus`), ogg);
      manifest.push({ name, text, samples: wav.samples.length, seconds, packets: packets.length, opusBytes: ogg.length, bitrate: BITRATE, vbr: false });

      if (name === OPUSENC_CLIP) {
        run('opusenc', ['--quiet', '--bitrate', '16', '--serial', '42', wavPath, join(OUT, `opusenc-${name}.opus`)]);
      }
      console.log(`${name}: ${seconds.toFixed(2)} s, ${packets.length} packets, ${ogg.length} bytes Ogg Opus`);
    }
    writeFileSync(join(OUT, 'manifest.json'), JSON.stringify({ generatedBy: 'scripts/make-audio-fixtures.ts', opusenc: OPUSENC_CLIP, clips: manifest }, null, 2) + '\n');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main();
