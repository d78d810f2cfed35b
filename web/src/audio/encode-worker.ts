/**
 * Web Worker that encodes a recording with the library's own Opus encoder (src/audio/convert.ts
 * `pcmToOggOpus`: opusscript, mono 16 kHz, 20 ms frames, 16 kbit/s CBR, the same bytes as the
 * Node library produces). opusscript loads its wasm synchronously, which browsers allow only in a
 * worker; the build puts the wasm next to this worker's script (web/vite.config.ts). Its glue runs
 * without evaluating strings (embind-no-eval.ts), as the Content-Security-Policy requires.
 */
import { pcmToOggOpus } from '../../../src/audio/convert.js';
import { installEmbindWithoutEval } from './embind-no-eval.js';

// opusscript's glue would otherwise evaluate generated source, which the page's policy forbids.
installEmbindWithoutEval();

interface Scope {
  onmessage: ((e: MessageEvent<{ id: number; pcm: Int16Array }>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
}
const scope = self as unknown as Scope;

scope.onmessage = (e) => {
  const { id, pcm } = e.data;
  try {
    const ogg = pcmToOggOpus(pcm, { comments: ['ENCODER=plushlink web app'] });
    scope.postMessage({ id, ogg }, [ogg.buffer]);
  } catch (err) {
    const cause = err instanceof Error && err.cause !== undefined ? `: ${err.cause instanceof Error ? err.cause.message : String(err.cause)}` : '';
    scope.postMessage({ id, error: `${err instanceof Error ? err.message : String(err)}${cause}` });
  }
};
