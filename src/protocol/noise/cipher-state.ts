/**
 * Noise CipherState (Noise spec §5.1) for ChaChaPoly: a 32-byte key and a 64-bit nonce
 * counter, encoded as 32 zero bits followed by the little-endian 64-bit counter.
 */
import { aeadOpen, aeadSeal, AEAD_NONCE_LEN, KEY_LEN } from '../crypto.js';
import { PlushlinkError } from '../errors.js';

/** The largest counter value a CipherState will use (2^53 − 1: JS safe integers; 2^64 − 1 is reserved by Noise). */
export const MAX_NONCE = Number.MAX_SAFE_INTEGER;

const U64_MAX = 0xffffffffffffffffn;

/**
 * Encodes a Noise ChaChaPoly nonce: 4 zero bytes then the counter as 64-bit little-endian.
 * `RangeError` for a counter outside 0…2^64 − 1 or not an integer: it is never wrapped onto
 * another nonce (−1 would otherwise be REKEY's 2^64 − 1, 2^64 would be 0 again).
 */
export function chachaNonce(n: number | bigint): Uint8Array {
  const out = new Uint8Array(AEAD_NONCE_LEN);
  if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) return writeChachaNonce(out, n);
  if (typeof n === 'number' && !Number.isInteger(n)) throw new RangeError(`nonce counter ${n} is not an integer`);
  let v = BigInt(n);
  if (v < 0n || v > U64_MAX) throw new RangeError(`nonce counter ${n} is outside 0…2^64 − 1`);
  for (let i = 4; i < 12; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/**
 * Writes the nonce of counter `n` (a non-negative safe integer) into a 12-byte `out` and returns
 * it: the same bytes as {@link chachaNonce}, without allocating (the record layer reuses one).
 */
export function writeChachaNonce(out: Uint8Array, n: number): Uint8Array {
  const lo = n >>> 0;
  const hi = Math.floor(n / 0x1_0000_0000) >>> 0;
  out[0] = out[1] = out[2] = out[3] = 0;
  out[4] = lo & 0xff;
  out[5] = (lo >>> 8) & 0xff;
  out[6] = (lo >>> 16) & 0xff;
  out[7] = lo >>> 24;
  out[8] = hi & 0xff;
  out[9] = (hi >>> 8) & 0xff;
  out[10] = (hi >>> 16) & 0xff;
  out[11] = hi >>> 24;
  return out;
}

const REKEY_NONCE = chachaNonce(0xffffffffffffffffn);

export class CipherState {
  private k: Uint8Array | undefined;
  private n = 0;

  constructor(key?: Uint8Array) {
    if (key) this.initializeKey(key);
  }

  initializeKey(key: Uint8Array | undefined): void {
    if (key !== undefined && key.length !== KEY_LEN) throw new PlushlinkError('INVALID_KEY', 'cipher key must be 32 bytes');
    this.k = key === undefined ? undefined : Uint8Array.from(key);
    this.n = 0;
  }

  hasKey(): boolean {
    return this.k !== undefined;
  }

  /** The next nonce value this state will use. */
  get nonce(): number {
    return this.n;
  }

  setNonce(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('nonce must be a non-negative safe integer');
    this.n = n;
  }

  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (!this.k) return Uint8Array.from(plaintext);
    if (this.n >= MAX_NONCE) throw new PlushlinkError('NONCE_EXHAUSTED', 'cipher nonce space exhausted; rekey or re-handshake');
    const out = aeadSeal(this.k, chachaNonce(this.n), ad, plaintext);
    this.n++;
    return out;
  }

  /** Decrypts; on failure throws `DECRYPT_FAILED` and the nonce does not advance. */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (!this.k) return Uint8Array.from(ciphertext);
    if (this.n >= MAX_NONCE) throw new PlushlinkError('NONCE_EXHAUSTED', 'cipher nonce space exhausted; rekey or re-handshake');
    const out = aeadOpen(this.k, chachaNonce(this.n), ad, ciphertext);
    this.n++;
    return out;
  }

  /** Noise REKEY(): k = first 32 bytes of ENCRYPT(k, 2^64 − 1, empty, 32 zero bytes). Nonce is kept. */
  rekey(): void {
    if (!this.k) throw new PlushlinkError('MISSING_KEY', 'cannot rekey a cipher state without a key');
    this.k = aeadSeal(this.k, REKEY_NONCE, new Uint8Array(0), new Uint8Array(KEY_LEN)).slice(0, KEY_LEN);
  }

  /** The raw key (for the record layer, which carries explicit counters). */
  get key(): Uint8Array | undefined {
    return this.k;
  }
}
