/** `plushlink record` and `plushlink play`: the toy's microphone and speaker. */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { decodeWav, readOggOpus } from '../../src/index.js';
import { bar, out, outJson, positiveNumber, type GlobalOptions } from './common.js';
import { SIM_TRANSPORT_HELP, withToySession } from './context.js';

/** How many 20 ms frames a file holds (for the progress bar). */
async function frameCount(path: string): Promise<number | undefined> {
  try {
    const bytes = new Uint8Array(await readFile(path));
    if (/\.wav$/i.test(path)) return Math.ceil(decodeWav(bytes).samples.length / 320);
    return readOggOpus(bytes).packets.length;
  } catch {
    return undefined; // play() reports the real error
  }
}

export function registerAudioCommands(program: Command): void {
  program
    .command('record')
    .description("record the toy's microphone to an Ogg Opus file (and optionally a WAV file)")
    .argument('<toy>', "the toy's name or id (see `toys`)")
    .argument('<file.ogg>', 'the Ogg Opus file to write')
    .option('--seconds <n>', 'stop after this long (default: until Ctrl-C or the toy stops)', positiveNumber('--seconds'))
    .option('--wav <file.wav>', 'also write 16 kHz mono WAV (lost frames concealed)')
    .option('--json', 'print the result as JSON')
    .option('--timeout <seconds>', 'give up finding and connecting to the toy after this long', positiveNumber('--timeout'), 30)
    .addHelpText('after', `
The microphone stream goes through a jitter buffer; lost frames are concealed and counted.
Ctrl-C stops the recording and still writes a complete file. The simulated toy's microphone
plays a bundled clip of a child's voice.
${SIM_TRANSPORT_HELP}`)
    .action(async (toy: string, file: string, o: { seconds?: number; wav?: string; json?: boolean; timeout: number }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      await withToySession(g, toy, o.timeout, async (session, signal, progress) => {
        const mic = await session.microphone.start({ signal });
        let frames = 0;
        let lost = 0;
        mic.on('frame', (f) => {
          frames++;
          if (f.lost) lost++;
          const s = (frames * 20) / 1000;
          progress.update(`recording ${o.seconds ? bar(s / o.seconds) + ' ' : ''}${s.toFixed(1)} s, ${lost} lost`);
        });
        const r = await mic.record(file, { signal, ...(o.seconds !== undefined ? { seconds: o.seconds } : {}), ...(o.wav ? { wav: o.wav } : {}) });
        progress.done();
        const result = { toy: session.toy.name, file: r.oggPath, wav: r.wavPath, frames: r.frames, lost: r.lost, seconds: (r.frames * 20) / 1000, interrupted: signal.aborted };
        if (o.json) outJson(result);
        else out(`recorded ${result.seconds.toFixed(2)} s from "${result.toy}" (${r.frames} frames, ${r.lost} concealed) → ${r.oggPath}${r.wavPath ? ` and ${r.wavPath}` : ''}`);
      });
    });

  program
    .command('play')
    .description("play an Ogg Opus (mono) or WAV (16 kHz mono 16-bit) file on the toy's speaker")
    .argument('<toy>', "the toy's name or id (see `toys`)")
    .argument('<file>', 'file.ogg / file.opus (Ogg Opus) or file.wav')
    .option('--json', 'print the result as JSON')
    .option('--timeout <seconds>', 'give up finding and connecting to the toy after this long', positiveNumber('--timeout'), 30)
    .addHelpText('after', `
Frames are batched into encrypted records and paced by the toy's buffer reports; the command
returns when the toy has played the last frame. Ctrl-C stops playback on the toy.
${SIM_TRANSPORT_HELP}`)
    .action(async (toy: string, file: string, o: { json?: boolean; timeout: number }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const total = await frameCount(file);
      await withToySession(g, toy, o.timeout, async (session, signal, progress) => {
        session.speaker.on('progress', (p) => {
          const s = (p.framesPlayed * 20) / 1000;
          progress.update(`playing ${total ? bar(p.framesPlayed / total) + ' ' : ''}${s.toFixed(1)} s played, ${p.estimatedBufferMs} ms buffered`);
        });
        const r = await session.speaker.play(file, { signal });
        progress.done();
        const result = { toy: session.toy.name, file, framesSent: r.framesSent, framesPlayed: r.framesPlayed, records: r.records, underruns: r.underruns, overruns: r.overruns, seconds: r.durationMs / 1000 };
        if (o.json) outJson(result);
        else out(`played ${r.framesPlayed}/${r.framesSent} frames on "${result.toy}" in ${r.records} records, ${r.underruns} underruns, ${r.overruns} overruns (${result.seconds.toFixed(1)} s)`);
      });
    });
}
