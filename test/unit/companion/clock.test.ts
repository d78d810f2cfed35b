/**
 * The reference companion reads every protocol time from `CompanionOptions.clock` (PROTOCOL.md
 * §8.3): its control channel rekeys when 10 minutes have passed on that clock — not on the wall
 * clock — at the next request, and its speaker stream's audio rekey follows the same clock. The
 * test moves only the injected clock: a session whose channel read `Date.now` would never rekey
 * here, and one that read the wall clock would rekey without it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_REKEY_INTERVAL_MS } from '../../../src/protocol/channel.js';
import type { ToySession } from '../../../src/companion/session.js';
import { makeRig, type Rig } from '../../helpers/rig.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** The counter of each control record the companion writes (single-fragment values at MTU 247: header, kind 0x10, u32 counter). */
function controlCounters(s: ToySession): number[] {
  const seen: number[] = [];
  const link = s.link.link;
  const write = link.write.bind(link);
  link.write = (ch, v) => {
    if (ch === 'control' && v[1] === 0x10) seen.push(new DataView(v.buffer, v.byteOffset + 2, 4).getUint32(0));
    return write(ch, v);
  };
  return seen;
}

describe('companion clock (PROTOCOL.md §8.3)', () => {
  it('the control channel rekeys after 10 minutes of the injected clock, at the next request, and not before', async () => {
    rig = await makeRig();
    let now = Date.now();
    const app = await rig.newCompanion('clocked', 247, { clock: () => now });
    rig.toy.pressButton('hold');
    const s = await app.pair(rig.toyId, rig.qr);
    const counters = controlCounters(s);
    await s.battery();
    now += DEFAULT_REKEY_INTERVAL_MS - 1;
    await s.battery();
    expect(counters).toEqual([1, 2]); // CONFIRM was 0; no rekey 1 ms short of the interval
    now += 1;
    await s.battery(); // the toy opens it: the receiver follows from the counter alone
    expect(counters[2]).toBe(2 ** 24);
    await s.battery();
    expect(counters[3]).toBe(2 ** 24 + 1);
    await s.close();
  });

  it('the speaker stream start rekeys the audio channel on the injected clock', async () => {
    rig = await makeRig();
    let now = Date.now();
    const app = await rig.newCompanion('clocked', 247, { clock: () => now });
    rig.toy.pressButton('hold');
    const s = await app.pair(rig.toyId, rig.qr);
    expect(s.nextAudioFrame).toBe(0);
    s.audioStreamStart();
    expect(s.nextAudioFrame).toBe(0);
    now += DEFAULT_REKEY_INTERVAL_MS;
    s.audioStreamStart();
    expect(s.nextAudioFrame).toBe(2 ** 24);
    await s.close();
  });
});
