/**
 * The record layer (PROTOCOL.md "Records"). After the handshake each direction has its own
 * key from the Noise split; from it, one key per channel:
 *
 *   channelKey = HKDF-SHA-512(ikm = split key, salt = "plushlink/1 channel", info = "control" | "audio", 32)
 *
 * A record is `counter (u32 big-endian) || ChaCha20-Poly1305(key_epoch, nonce, ad = counter bytes, plaintext)`
 * with nonce = 4 zero bytes || counter as u64 little-endian (the Noise ChaChaPoly nonce).
 *
 * Counters are explicit and strictly increasing per channel and direction; gaps are allowed
 * (BLE drops notifications). A record whose counter is not above the last accepted one is
 * refused as a replay without decryption and without any state change. Any authentication
 * failure is fatal: the caller must end the session.
 *
 * Rekeying: the counter's top 8 bits are the key epoch. key_0 = channelKey and
 * key_(e+1) = HKDF-SHA-512(ikm = key_e, salt = "plushlink/1 rekey", info = "", 32). A sender
 * moves to the next epoch when the 2^24 counters of an epoch are used up, or earlier by
 * jumping its counter to the next epoch boundary (time-based rekey); old keys are wiped.
 * Counter 2^32 − 1 is never used: the session must be re-established before that.
 */
import { utf8, wipe } from './bytes.js';
import { AEAD_NONCE_LEN, TAG_LEN, aeadOpen, aeadSealWithHeader, hkdfSha512 } from './crypto.js';
import { PlushlinkError, isPlushlinkError } from './errors.js';
import { writeChachaNonce } from './noise/cipher-state.js';

export type Channel = 'control' | 'audio';

export const RECORD_HEADER_LEN = 4;
/** Bytes a record adds to its plaintext: counter + tag. */
export const RECORD_OVERHEAD = RECORD_HEADER_LEN + TAG_LEN;
/** Counters per key epoch. */
export const EPOCH_SIZE = 2 ** 24;
/** The largest counter a sender may use. */
export const MAX_COUNTER = 2 ** 32 - 2;

const CHANNEL_SALT = utf8('plushlink/1 channel');
const REKEY_SALT = utf8('plushlink/1 rekey');
const EMPTY = new Uint8Array(0);

/** The key of one channel derived from a direction's split key. */
export function channelKey(splitKey: Uint8Array, channel: Channel): Uint8Array {
  return hkdfSha512(splitKey, CHANNEL_SALT, utf8(channel), 32);
}

/** The key of the next epoch. */
export function nextEpochKey(key: Uint8Array): Uint8Array {
  return hkdfSha512(key, REKEY_SALT, EMPTY, 32);
}

function writeCounter(out: Uint8Array, c: number): Uint8Array {
  out[0] = (c >>> 24) & 0xff;
  out[1] = (c >>> 16) & 0xff;
  out[2] = (c >>> 8) & 0xff;
  out[3] = c & 0xff;
  return out;
}

/** Key schedule over epochs; moves forward only, wiping old keys. */
class EpochKeys {
  private epoch = 0;
  constructor(private key: Uint8Array) {}

  keyFor(counter: number): Uint8Array {
    const e = Math.floor(counter / EPOCH_SIZE);
    if (e < this.epoch) throw new PlushlinkError('INTERNAL', 'epoch went backwards');
    while (this.epoch < e) {
      const next = nextEpochKey(this.key);
      wipe(this.key);
      this.key = next;
      this.epoch++;
    }
    return this.key;
  }

  /** Key for `counter` without advancing (for a trial decryption that may fail). */
  peek(counter: number): Uint8Array {
    const e = Math.floor(counter / EPOCH_SIZE);
    let k = this.key;
    for (let i = this.epoch; i < e; i++) k = nextEpochKey(k);
    return k;
  }

  wipe(): void {
    wipe(this.key);
  }
}

/** Seals records of one channel and direction. */
/**
 * Scratch for a record's header (= its AD) and nonce, shared by every sender and receiver: the
 * seam reads both before it returns, and sealing and opening are synchronous, so one pair serves
 * all (per-instance arrays would cost every session heap).
 */
const HEADER_SCRATCH = new Uint8Array(RECORD_HEADER_LEN);
const NONCE_SCRATCH = new Uint8Array(AEAD_NONCE_LEN);

export class RecordSender {
  private keys: EpochKeys;
  private next = 0;

  constructor(key: Uint8Array) {
    this.keys = new EpochKeys(Uint8Array.from(key));
  }

  /** The counter the next record will carry. */
  get counter(): number {
    return this.next;
  }

  /** Current key epoch (counter >> 24). */
  get epoch(): number {
    return Math.floor(this.next / EPOCH_SIZE);
  }

  /**
   * Seals `plaintext`. `span` (≥ 1) is how many counter values the record consumes: 1 for
   * control, the frame count for audio (so the counter doubles as the first frame's number).
   * Throws `NONCE_EXHAUSTED` when the counter space is used up.
   */
  seal(plaintext: Uint8Array, span = 1): Uint8Array {
    // a span above one epoch can never fit; refusing it here keeps a failed seal from moving the counter
    if (!Number.isInteger(span) || span < 1 || span > EPOCH_SIZE) throw new RangeError(`span must be an integer in 1..${EPOCH_SIZE}`);
    const c = this.next;
    if (c + span - 1 > MAX_COUNTER) throw new PlushlinkError('NONCE_EXHAUSTED', 'record counter space exhausted; reconnect');
    // a record never straddles an epoch boundary
    if (Math.floor(c / EPOCH_SIZE) !== Math.floor((c + span - 1) / EPOCH_SIZE)) {
      this.next = (Math.floor(c / EPOCH_SIZE) + 1) * EPOCH_SIZE;
      return this.seal(plaintext, span);
    }
    const record = aeadSealWithHeader(this.keys.keyFor(c), writeChachaNonce(NONCE_SCRATCH, c), writeCounter(HEADER_SCRATCH, c), plaintext);
    this.next = c + span;
    return record;
  }

  /** Moves to the next key epoch now (time-based rekey). */
  rekey(): void {
    const e = Math.floor(this.next / EPOCH_SIZE) + 1;
    if (e * EPOCH_SIZE > MAX_COUNTER) throw new PlushlinkError('NONCE_EXHAUSTED', 'no key epoch left; reconnect');
    this.next = e * EPOCH_SIZE;
    this.keys.keyFor(this.next);
  }

  /** Wipes the key. */
  destroy(): void {
    this.keys.wipe();
  }
}

/** An opened record. */
export interface OpenedRecord {
  counter: number;
  plaintext: Uint8Array;
}

/** Opens records of one channel and direction. */
export class RecordReceiver {
  private keys: EpochKeys;
  private last = -1;

  constructor(key: Uint8Array) {
    this.keys = new EpochKeys(Uint8Array.from(key));
  }

  /** The highest counter accepted so far (−1 before the first record). */
  get lastCounter(): number {
    return this.last;
  }

  /**
   * Opens a record. Throws `BAD_RECORD` (too short), `REPLAYED_RECORD` (counter not above
   * the last accepted; nothing changes) or `RECORD_AUTH_FAILED` (fatal: end the session).
   * `span` is how many counters the record covered, known only after decoding; pass a
   * function to derive it from the plaintext (audio records).
   */
  open(record: Uint8Array, span: number | ((plaintext: Uint8Array) => number) = 1): OpenedRecord {
    if (record.length < RECORD_OVERHEAD) throw new PlushlinkError('BAD_RECORD', `record of ${record.length} bytes is shorter than ${RECORD_OVERHEAD}`);
    const c = ((record[0]! << 24) >>> 0) + (record[1]! << 16) + (record[2]! << 8) + record[3]!;
    if (c <= this.last) throw new PlushlinkError('REPLAYED_RECORD', `record counter ${c} is not above ${this.last}`, { counter: c, last: this.last });
    if (c > MAX_COUNTER) throw new PlushlinkError('RECORD_AUTH_FAILED', 'record counter out of range');
    let plaintext: Uint8Array;
    try {
      plaintext = aeadOpen(this.keys.peek(c), writeChachaNonce(NONCE_SCRATCH, c), record.subarray(0, RECORD_HEADER_LEN), record.subarray(RECORD_HEADER_LEN));
    } catch (e) {
      if (isPlushlinkError(e, 'DECRYPT_FAILED')) throw new PlushlinkError('RECORD_AUTH_FAILED', 'record failed authentication', undefined, { cause: e });
      throw e;
    }
    const n = typeof span === 'number' ? span : span(plaintext);
    this.keys.keyFor(c);
    this.last = c + n - 1;
    return { counter: c, plaintext };
  }

  destroy(): void {
    this.keys.wipe();
  }
}
