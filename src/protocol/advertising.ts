/**
 * Privacy-preserving advertising (PROTOCOL.md "Advertising"). The toy advertises only the
 * plushlink service UUID and 9 bytes of service data:
 *
 * ```
 * byte 0: flags   bit 0 = pairing window open, bit 1 = has pairings (an advertising key); other bits 0
 * bytes 1–8: tag
 * ```
 *
 * For a toy with pairings the tag is `HMAC-SHA-512(advertisingKey, "plushlink/1 adv tag" || slot [|| n])[0..8]`
 * where `slot = floor(unixSeconds / 600)` as u32 big-endian and `n` (1..7, one byte; absent for
 * 0) counts the changes of the service data within the slot. Only companions that paired (and so
 * received the advertising key) can link two tags; everything advertised changes together — at
 * each slot boundary and at each change within a slot (the transport also rotates the BLE
 * address). A toy with no pairings advertises a fresh random tag with every new advertisement.
 * No name, model or serial is advertised.
 */
import { bytesEqual, concatBytes, utf8 } from './bytes.js';
import { hmacSha512, randomBytes, type RandomSource } from './crypto.js';
import { PlushlinkError } from './errors.js';

/** Length of a slot in seconds (10 minutes; the design allows at most 15). */
export const ADV_SLOT_SECONDS = 600;
export const ADV_TAG_LEN = 8;
export const ADV_DATA_LEN = 1 + ADV_TAG_LEN;
export const ADV_FLAG_PAIRING = 0x01;
export const ADV_FLAG_OWNED = 0x02;

const TAG_LABEL = utf8('plushlink/1 adv tag');

/** The largest change counter within a slot (PROTOCOL.md §12): a companion tries 0..7. */
export const ADV_MAX_CHANGE = 7;

/** The slot a time (ms since the Unix epoch) falls in. */
export function advertisingSlot(nowMs: number): number {
  return Math.floor(nowMs / 1000 / ADV_SLOT_SECONDS);
}

/** Milliseconds from `nowMs` to the next slot boundary. */
export function msUntilNextSlot(nowMs: number): number {
  return (advertisingSlot(nowMs) + 1) * ADV_SLOT_SECONDS * 1000 - nowMs;
}

/**
 * The tag of a slot under an advertising key, for the `change`-th change of the service data
 * within the slot (0: the slot's first advertisement, whose input has no change byte; 1..7).
 */
export function advertisingTag(advertisingKey: Uint8Array, slot: number, change = 0): Uint8Array {
  if (advertisingKey.length !== 32) throw new PlushlinkError('INVALID_KEY', 'advertising key must be 32 bytes');
  if (!Number.isInteger(change) || change < 0 || change > ADV_MAX_CHANGE) throw new PlushlinkError('BAD_FRAME', `advertising change counter must be 0..${ADV_MAX_CHANGE}`);
  const s = new Uint8Array([(slot >>> 24) & 0xff, (slot >>> 16) & 0xff, (slot >>> 8) & 0xff, slot & 0xff]);
  const input = change === 0 ? concatBytes(TAG_LABEL, s) : concatBytes(TAG_LABEL, s, Uint8Array.of(change));
  return hmacSha512(advertisingKey, input).slice(0, ADV_TAG_LEN);
}

/** Decoded service data. */
export interface AdvertisementInfo {
  pairing: boolean;
  owned: boolean;
  tag: Uint8Array;
}

/**
 * Builds the service data. `advertisingKey` undefined (no pairings) → random tag; else the tag of
 * the slot for the `change`-th change within it (default 0).
 */
export function buildAdvertisement(opts: { nowMs: number; pairing: boolean; advertisingKey?: Uint8Array; random?: RandomSource; change?: number }): Uint8Array {
  const tag = opts.advertisingKey ? advertisingTag(opts.advertisingKey, advertisingSlot(opts.nowMs), opts.change ?? 0) : (opts.random ?? randomBytes)(ADV_TAG_LEN);
  const out = new Uint8Array(ADV_DATA_LEN);
  out[0] = (opts.pairing ? ADV_FLAG_PAIRING : 0) | (opts.advertisingKey ? ADV_FLAG_OWNED : 0);
  out.set(tag, 1);
  return out;
}

/** Parses service data; throws `BAD_FRAME` when it is not plushlink's. */
export function parseAdvertisement(data: Uint8Array): AdvertisementInfo {
  if (data.length !== ADV_DATA_LEN) throw new PlushlinkError('BAD_FRAME', `advertisement service data must be ${ADV_DATA_LEN} bytes`);
  const f = data[0]!;
  if (f & ~(ADV_FLAG_PAIRING | ADV_FLAG_OWNED)) throw new PlushlinkError('BAD_FRAME', 'unknown advertisement flags');
  return { pairing: (f & ADV_FLAG_PAIRING) !== 0, owned: (f & ADV_FLAG_OWNED) !== 0, tag: data.slice(1) };
}

/**
 * Finds which of `keys` produced `tag` in the current slot or one slot either side (clock
 * skew), for any change counter 0..7 within the slot. Returns the index of the matching key, or −1.
 */
export function resolveAdvertisingTag(tag: Uint8Array, keys: readonly Uint8Array[], nowMs: number): number {
  const slot = advertisingSlot(nowMs);
  for (let i = 0; i < keys.length; i++) {
    for (const s of [slot, slot - 1, slot + 1]) {
      for (let n = 0; n <= ADV_MAX_CHANGE; n++) if (bytesEqual(advertisingTag(keys[i]!, s, n), tag)) return i;
    }
  }
  return -1;
}
