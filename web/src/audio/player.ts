/**
 * Plays a voice message: the Ogg Opus bytes are decoded with the library's own decoder
 * (src/audio/convert.ts `oggOpusToPcm`: opus-decoder wasm, pre-skip and end trimming as in Node),
 * then played as a 16 kHz AudioBuffer through Web Audio.
 */
import { oggOpusToPcm, SAMPLE_RATE } from '../lib.js';

let ctx: AudioContext | undefined;
let current: { source: AudioBufferSourceNode; done: Promise<void> } | undefined;

/** Decodes Ogg Opus to mono 16 kHz PCM with the library's decoder. */
export function decodeOgg(ogg: Uint8Array): Promise<Int16Array> {
  return oggOpusToPcm(ogg);
}

/** Plays PCM; resolves when it ends or is stopped. Call from a user gesture the first time. */
export async function playPcm(pcm: Int16Array): Promise<void> {
  stopPlayback();
  ctx ??= new AudioContext();
  await ctx.resume();
  const buffer = ctx.createBuffer(1, Math.max(1, pcm.length), SAMPLE_RATE);
  const data = buffer.getChannelData(0);
  for (let i = 0; i < pcm.length; i++) data[i] = pcm[i]! / 32768;
  const source = ctx.createBufferSource();
  source.buffer = buffer;
  source.connect(ctx.destination);
  const done = new Promise<void>((resolve) => {
    source.onended = () => resolve();
  });
  current = { source, done };
  source.start();
  await done;
  if (current?.source === source) current = undefined;
}

/** Stops what is playing, if anything. */
export function stopPlayback(): void {
  if (!current) return;
  try {
    current.source.stop();
  } catch {
    // already ended
  }
  current = undefined;
}
