/** `plushlink record` and `plushlink play`: the toy's microphone and speaker. */
import type { Command } from 'commander';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { PlushlinkError } from '../index.js';
import { voicePacketsFromAudio, type VoiceInput } from '../audio/index.js';
import { bar, out, outJson, positiveNumber, UsageError, type GlobalOptions } from './common.js';
import { SIM_TRANSPORT_HELP, withToySession } from './context.js';

/**
 * Reads and converts the file to play before the radio is touched: a file that is not a whole,
 * valid WAV or Ogg Opus fails here with its typed error (src/audio/input.ts).
 */
async function loadForSpeaker(path: string): Promise<VoiceInput> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOENT') throw new PlushlinkError('NOT_FOUND', `no audio file at ${path}`);
    if (code === 'EISDIR') throw new PlushlinkError('BAD_AUDIO', `${path} is a folder, not an audio file`);
    throw e;
  }
  try {
    return await voicePacketsFromAudio(bytes);
  } catch (e) {
    if (e instanceof PlushlinkError) throw new PlushlinkError(e.code, `${path}: ${e.message}`, e.detail, { cause: e });
    throw e;
  }
}

/**
 * Where `record` writes: the folder is created when missing; a path that is a folder, or a folder
 * that cannot be made, is a clear error before the radio is touched.
 */
async function prepareOutput(path: string, what: string): Promise<void> {
  const st = await stat(path).catch(() => undefined);
  if (st?.isDirectory()) throw new UsageError(`${what} ${path} is a folder: give a file name`);
  const dir = dirname(resolve(path));
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    const code = (e as { code?: string }).code ?? 'error';
    throw new PlushlinkError('INTERNAL', `cannot create the folder ${dir} for ${path} (${code}: ${code === 'EEXIST' || code === 'ENOTDIR' ? 'a file of that name is in the way' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (e as Error).message})`, undefined, { cause: e });
  }
}

export function registerAudioCommands(program: Command): void {
  program
    .command('record')
    .description("record the toy's microphone to an Ogg Opus file (and optionally a WAV file)")
    .argument('<toy>', "the toy's name or id (see `toys`)")
    .argument('<file.ogg>', 'the Ogg Opus file to write (its folder is created when missing)')
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
      await prepareOutput(file, 'the recording');
      if (o.wav) await prepareOutput(o.wav, '--wav');
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
    .description("play a WAV or Ogg Opus file (any rate, mono or stereo) on the toy's speaker")
    .argument('<toy>', "the toy's name or id (see `toys`)")
    .argument('<file>', 'a WAV (8–32-bit integer or float PCM, 8–192 kHz, any channels) or Ogg Opus (mono or stereo) file')
    .option('--json', 'print the result as JSON')
    .option('--timeout <seconds>', 'give up finding and connecting to the toy after this long', positiveNumber('--timeout'), 30)
    .addHelpText('after', `
The file is read and checked whole before the toy is contacted. Stereo is mixed to mono and
any rate is converted to the toy's 16 kHz voice (libsamplerate); a mono Ogg Opus file of 20 ms
frames is sent as it is, anything else is encoded as 16 kbit/s voice. Frames are batched into encrypted records and paced by the toy's buffer reports; the command
returns when the toy has played the last frame. Ctrl-C stops playback on the toy.
${SIM_TRANSPORT_HELP}`)
    .action(async (toy: string, file: string, o: { json?: boolean; timeout: number }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const input = await loadForSpeaker(file);
      const total = input.packets.length;
      await withToySession(g, toy, o.timeout, async (session, signal, progress) => {
        session.speaker.on('progress', (p) => {
          const s = (p.framesPlayed * 20) / 1000;
          progress.update(`playing ${total ? bar(p.framesPlayed / total) + ' ' : ''}${s.toFixed(1)} s played, ${p.estimatedBufferMs} ms buffered`);
        });
        const r = await session.speaker.play({ packets: input.packets }, { signal });
        progress.done();
        const result = { toy: session.toy.name, file, source: { container: input.container, sampleRate: input.sourceRate, channels: input.sourceChannels, reencoded: !input.passedThrough }, framesSent: r.framesSent, framesPlayed: r.framesPlayed, records: r.records, underruns: r.underruns, overruns: r.overruns, seconds: r.durationMs / 1000 };
        if (o.json) outJson(result);
        else out(`played ${r.framesPlayed}/${r.framesSent} frames on "${result.toy}" in ${r.records} records, ${r.underruns} underruns, ${r.overruns} overruns (${result.seconds.toFixed(1)} s)`);
      });
    });
}
