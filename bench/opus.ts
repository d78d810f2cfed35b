/**
 * Opus speed on fixture speech, × real time: seconds of audio per second of CPU time of this
 * process (process.cpuUsage). Encoder: plushlink's OpusEncoder (opusscript, libopus in wasm) at
 * 16 kbps, complexity 9; decoder: OpusDecoder (opus-decoder, wasm) at 16 kHz. Baseline: the
 * native opus-tools (`opusenc` / `opusdec`) on the same speech repeated to about a minute, wall
 * clock of the child process including its start-up; when opus-tools are not installed the
 * baseline is 1× (what a live stream needs) and is labelled so.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { OpusDecoder, OpusEncoder, encodePcm } from '../src/audio/opus-codec.js';
import { encodeWav } from '../src/audio/wav.js';
import { SPEECH_CLIPS, readSpeech } from './rig.js';
import { median, row, type Row } from './report.js';

function cpuMs<T>(fn: () => T): { ms: number; result: T } {
  const c0 = process.cpuUsage();
  const result = fn();
  const c = process.cpuUsage(c0);
  return { ms: (c.user + c.system) / 1000, result };
}

function hasTool(name: string): boolean {
  const r = spawnSync(name, ['--version'], { stdio: 'ignore' });
  return r.status === 0;
}

function wallOf(cmd: string, args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr?.toString() ?? ''}`);
  return ms;
}

export async function benchOpus(opts: { quick: boolean }): Promise<Row[]> {
  const pcms = SPEECH_CLIPS.map((c) => readSpeech(c));
  const clips = opts.quick ? pcms.slice(0, 1) : pcms;
  const seconds = clips.reduce((a, p) => a + p.length, 0) / 16000;
  const rounds = opts.quick ? 1 : 5;
  const enc = new OpusEncoder({ bitrate: 16000 });
  const dec = await OpusDecoder.create();
  const encMs: number[] = [];
  const decMs: number[] = [];
  let packets: Uint8Array[][] = [];
  try {
    encodePcm(clips[0]!, { encoder: enc }); // warm-up
    for (let r = 0; r < rounds; r++) {
      const e = cpuMs(() => clips.map((pcm) => encodePcm(pcm, { encoder: enc }).packets));
      encMs.push(e.ms);
      packets = e.result;
      const d = cpuMs(() => {
        let n = 0;
        for (const ps of packets) {
          for (const p of ps) n += dec.decode(p).length;
        }
        return n;
      });
      decMs.push(d.ms);
      await dec.reset();
    }
  } finally {
    enc.free();
    dec.free();
  }
  const encodedSeconds = packets.reduce((a, ps) => a + ps.length, 0) * 0.02;
  const encRt = seconds / (median(encMs) / 1000);
  const decRt = encodedSeconds / (median(decMs) / 1000);

  let encBase = 1;
  let decBase = 1;
  let label = opts.quick ? 'real time (quick mode: native run skipped)' : 'real time (opus-tools not installed)';
  if (!opts.quick && hasTool('opusenc') && hasTool('opusdec')) {
    const dir = mkdtempSync(join(tmpdir(), 'plushlink-bench-'));
    try {
      const reps = 4;
      const all = new Int16Array(pcms.reduce((a, p) => a + p.length, 0) * reps);
      let o = 0;
      for (let r = 0; r < reps; r++) for (const p of pcms) (all.set(p, o), (o += p.length));
      const wav = join(dir, 'speech.wav');
      const ogg = join(dir, 'speech.opus');
      writeFileSync(wav, encodeWav(all));
      const s = all.length / 16000;
      const e = median([0, 1, 2].map(() => wallOf('opusenc', ['--quiet', '--bitrate', '16', '--framesize', '20', '--comp', '9', '--speech', wav, ogg])));
      const d = median([0, 1, 2].map(() => wallOf('opusdec', ['--quiet', '--rate', '16000', ogg, join(dir, 'out.wav')])));
      encBase = s / (e / 1000);
      decBase = s / (d / 1000);
      label = 'native opus-tools, wall incl. process start';
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const how = (what: string) =>
    `${what} ${seconds.toFixed(1)} s of fixture speech (${clips.length} clip${clips.length > 1 ? 's' : ''}) per second of process CPU time, median of ${rounds} round${rounds > 1 ? 's' : ''}; baseline: ${label}`;
  return [
    row({
      key: 'opusDecodeRealtime',
      variant: '16 kHz mono',
      value: decRt,
      unit: '× real time',
      baselines: { [label]: decBase },
      how: how('OpusDecoder (opus-decoder wasm) decoding the 16 kbps packets of'),
      extra: { cpuMsPerSecondOfAudio: median(decMs) / encodedSeconds },
    }),
    row({
      key: 'opusEncodeRealtime',
      variant: '16 kbps, complexity 9',
      value: encRt,
      unit: '× real time',
      baselines: { [label]: encBase },
      how: how('OpusEncoder (opusscript wasm) encoding'),
      extra: { cpuMsPerSecondOfAudio: median(encMs) / seconds },
    }),
  ];
}
