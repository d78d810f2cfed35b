/**
 * Sample-rate conversion of microphone audio to the library's voice rate (16 kHz, docs/MESSAGES.md
 * and the Opus settings in src/audio/opus-codec.ts): a windowed-sinc low-pass interpolator
 * (Blackman window, 16 zero crossings each side), so a 44.1 or 48 kHz microphone is band-limited
 * below 8 kHz before it is decimated instead of aliasing. Pure; runs in the page and in Node tests.
 */

const ZERO_CROSSINGS = 16;
/** Pass band as a fraction of the output Nyquist frequency (the rest is the transition band). */
const PASS = 0.92;

function sinc(x: number): number {
  if (x === 0) return 1;
  const p = Math.PI * x;
  return Math.sin(p) / p;
}

function blackman(u: number): number {
  // u in [-1, 1]
  const t = (u + 1) / 2;
  return 0.42 - 0.5 * Math.cos(2 * Math.PI * t) + 0.08 * Math.cos(4 * Math.PI * t);
}

/** Resamples mono float audio from `inRate` to `outRate` Hz. */
export function resample(input: Float32Array, inRate: number, outRate: number): Float32Array {
  if (!(inRate > 0) || !(outRate > 0)) throw new RangeError('sample rates must be positive');
  if (inRate === outRate) return input.slice();
  const ratio = outRate / inRate;
  const fc = Math.min(1, ratio) * PASS; // cut-off, as a fraction of the input Nyquist frequency
  const half = Math.ceil(ZERO_CROSSINGS / fc); // kernel half-width in input samples
  const outLen = Math.floor((input.length * outRate) / inRate);
  const out = new Float32Array(outLen);
  for (let j = 0; j < outLen; j++) {
    const t = j / ratio; // position in input samples
    const center = Math.floor(t);
    let acc = 0;
    let norm = 0;
    const a = Math.max(0, center - half + 1);
    const b = Math.min(input.length - 1, center + half);
    for (let i = a; i <= b; i++) {
      const x = t - i;
      const w = fc * sinc(fc * x) * blackman(x / half);
      acc += input[i]! * w;
      norm += w;
    }
    // Normalise by the kernel's sum (exactly 1 for DC), which also keeps the edges unbiased.
    out[j] = norm !== 0 ? acc / norm : 0;
  }
  return out;
}
