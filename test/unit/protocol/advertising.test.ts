/**
 * Advertising tags at the protocol level (src/protocol/advertising.ts, PROTOCOL.md §12): the
 * service data's two flags are read independently, and a tag resolves in its own slot and one
 * slot either side (clock skew), never two slots away, and only for the key that made it.
 */
import { describe, expect, it } from 'vitest';
import { ADV_FLAG_OWNED, ADV_FLAG_PAIRING, ADV_SLOT_SECONDS, advertisingSlot, advertisingTag, parseAdvertisement, resolveAdvertisingTag } from '../../../src/protocol/advertising.js';
import { randomBytes } from '../../../src/protocol/crypto.js';

const SLOT = ADV_SLOT_SECONDS * 1000;
const NOW = Date.UTC(2026, 11, 2, 12, 3, 0);

describe('advertisement service data', () => {
  it('reads the pairing and owned flags independently and keeps the tag', () => {
    const tag = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    for (const [f, pairing, owned] of [
      [0, false, false],
      [ADV_FLAG_PAIRING, true, false],
      [ADV_FLAG_OWNED, false, true],
      [ADV_FLAG_PAIRING | ADV_FLAG_OWNED, true, true],
    ] as const) {
      expect(parseAdvertisement(Uint8Array.of(f, ...tag)), `flags ${f}`).toEqual({ pairing, owned, tag });
    }
  });
});

describe('tag resolution', () => {
  it('a tag resolves in its slot and one slot either side, never two away, and only to the key that made it', () => {
    const keys = [randomBytes(32), randomBytes(32), randomBytes(32)];
    const slot = advertisingSlot(NOW);
    for (const d of [-1, 0, 1]) expect(resolveAdvertisingTag(advertisingTag(keys[1]!, slot + d), keys, NOW), `slot ${d}`).toBe(1);
    for (const d of [-2, 2]) expect(resolveAdvertisingTag(advertisingTag(keys[1]!, slot + d), keys, NOW), `slot ${d}`).toBe(-1);
    // the same from the other side of a slot boundary
    const next = (slot + 1) * SLOT;
    expect(resolveAdvertisingTag(advertisingTag(keys[2]!, slot), keys, next)).toBe(2);
    expect(resolveAdvertisingTag(advertisingTag(keys[2]!, slot - 1), keys, next)).toBe(-1);
    expect(resolveAdvertisingTag(advertisingTag(randomBytes(32), slot), keys, NOW)).toBe(-1);
    expect(resolveAdvertisingTag(advertisingTag(keys[0]!, slot), [], NOW)).toBe(-1);
  });
});
