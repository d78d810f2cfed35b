/** Main-thread side of the encoder worker: `encodeOggOpus(pcm)` → Ogg Opus bytes. */
import EncodeWorker from './encode-worker.ts?worker';

let worker: Worker | undefined;
let nextId = 1;
const pending = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }>();

function getWorker(): Worker {
  if (worker) return worker;
  const w = new EncodeWorker();
  w.onmessage = (e: MessageEvent<{ id: number; ogg?: Uint8Array; error?: string }>) => {
    const p = pending.get(e.data.id);
    if (!p) return;
    pending.delete(e.data.id);
    if (e.data.ogg) p.resolve(e.data.ogg);
    else p.reject(new Error(`could not encode the recording: ${e.data.error ?? 'unknown error'}`));
  };
  w.onerror = (e) => {
    for (const p of pending.values()) p.reject(new Error(`the encoder failed: ${e.message}`));
    pending.clear();
    worker = undefined;
  };
  worker = w;
  return w;
}

/** Encodes mono 16 kHz PCM to an Ogg Opus file with the library's encoder, off the main thread. */
export function encodeOggOpus(pcm: Int16Array): Promise<Uint8Array> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    const copy = pcm.slice();
    getWorker().postMessage({ id, pcm: copy }, [copy.buffer]);
  });
}
