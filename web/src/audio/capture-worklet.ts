/**
 * AudioWorklet processor of the recorder: copies the microphone's first channel out of the audio
 * thread in blocks of 2048 samples (at the AudioContext's rate); `flush` sends what is left.
 * Built by Vite as its own module (`?worker&url`) and loaded with `audioWorklet.addModule`.
 */
declare abstract class AudioWorkletProcessor {
  readonly port: MessagePort;
  abstract process(inputs: Float32Array[][], outputs: Float32Array[][], parameters: Record<string, Float32Array>): boolean;
}
declare function registerProcessor(name: string, ctor: new () => AudioWorkletProcessor): void;

const BLOCK = 2048;

class CaptureProcessor extends AudioWorkletProcessor {
  #buf = new Float32Array(BLOCK);
  #n = 0;
  #stopped = false;

  constructor() {
    super();
    this.port.onmessage = (e: MessageEvent) => {
      if (e.data === 'flush') {
        this.#send();
        this.#stopped = true;
        this.port.postMessage({ done: true });
      }
    };
  }

  #send(): void {
    if (this.#n === 0) return;
    const block = this.#buf.slice(0, this.#n);
    this.port.postMessage({ samples: block }, [block.buffer]);
    this.#n = 0;
  }

  process(inputs: Float32Array[][]): boolean {
    if (this.#stopped) return false;
    const ch = inputs[0]?.[0];
    if (ch) {
      let off = 0;
      while (off < ch.length) {
        const take = Math.min(ch.length - off, BLOCK - this.#n);
        this.#buf.set(ch.subarray(off, off + take), this.#n);
        this.#n += take;
        off += take;
        if (this.#n === BLOCK) this.#send();
      }
    }
    return true;
  }
}

registerProcessor('plushlink-capture', CaptureProcessor);
