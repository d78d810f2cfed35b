/**
 * The baseline of `handshakeCpuMs`: the raw primitive calls of one handshake on the same back
 * end. {@link recordCalls} notes every call the seam makes to the back end while it is
 * recording (which primitive, with which inputs); {@link replayCalls} makes exactly those calls
 * again, straight on the back end, with none of the Noise state machine, payload encoding,
 * checks or copies around them.
 *
 * Fairness: inputs that existed before the handshake (the companion's static key, the toy's
 * public key) keep their identity across replays, as they do across real handshakes; every
 * other input array gets a fresh copy per replay (keeping which calls shared an array), so a
 * back end that keeps per-array state (the Node back end's imported secret keys) sees the same
 * misses and hits as in the real handshake.
 */
import { useCryptoBackend, type CryptoBackend } from '../src/protocol/crypto.js';

type Method = Exclude<keyof CryptoBackend, 'name' | 'description'>;

export interface RecordedCall {
  method: Method;
  args: unknown[];
}

export class CallRecorder {
  calls: RecordedCall[] = [];
  recording = false;
  private readonly snapshots = new Map<Uint8Array, Uint8Array>();
  private prev: CryptoBackend | undefined;

  /** `persistent`: arrays that outlive a handshake (long-term keys); they are recorded as themselves. */
  constructor(private readonly persistent: ReadonlySet<Uint8Array> = new Set()) {}

  /** Wraps `inner` (installs the wrapper in the seam); calls are noted while {@link recording}. */
  install(inner: CryptoBackend): void {
    const wrap = <M extends Method>(m: M) =>
      ((...args: unknown[]) => {
        if (this.recording) this.calls.push({ method: m, args: args.map((a) => (a instanceof Uint8Array ? this.snapshot(a) : a)) });
        return (inner[m] as (...a: unknown[]) => unknown)(...args);
      }) as CryptoBackend[M];
    const methods: Method[] = ['x25519', 'x25519Base', 'sha512', 'hmacSha512', 'hkdfSha512', 'aeadSeal', 'aeadOpen', 'ed25519PublicKey', 'ed25519Sign', 'ed25519Verify'];
    const b = { name: inner.name, description: inner.description } as CryptoBackend;
    for (const m of methods) (b as unknown as Record<Method, unknown>)[m] = wrap(m);
    this.prev = useCryptoBackend(b);
  }

  uninstall(): void {
    if (this.prev) useCryptoBackend(this.prev);
    this.prev = undefined;
  }

  /** The same array object maps to the same snapshot (identity kept), taken when first seen. */
  private snapshot(a: Uint8Array): Uint8Array {
    if (this.persistent.has(a)) return a;
    let s = this.snapshots.get(a);
    if (!s) {
      s = Uint8Array.from(a);
      this.snapshots.set(a, s);
    }
    return s;
  }

}

/**
 * Prepares one replay of `calls` on `backend` and returns it (the copies are made here, outside
 * the timed call). Snapshots in `persistent` are passed as they are; every other array is copied
 * once (one copy per distinct array).
 */
export function prepareReplay(backend: CryptoBackend, calls: readonly RecordedCall[], persistent: ReadonlySet<Uint8Array>): () => void {
  const fresh = new Map<Uint8Array, Uint8Array>();
  const arg = (a: unknown): unknown => {
    if (!(a instanceof Uint8Array) || persistent.has(a)) return a;
    let c = fresh.get(a);
    if (!c) {
      c = Uint8Array.from(a);
      fresh.set(a, c);
    }
    return c;
  };
  const prepared = calls.map(({ method, args }) => ({ fn: backend[method] as (...a: unknown[]) => unknown, args: args.map(arg) }));
  return () => {
    for (const c of prepared) c.fn(...c.args);
  };
}
