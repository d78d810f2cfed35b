/**
 * The SPEAKER_STATUS right after SPEAKER_START is required (PROTOCOL.md §13.6): it is the
 * stream's baseline, and the reference companion sends no audio until it arrives and fails
 * `play()` with TIMEOUT when it does not come within 5 s. The companion's side of the rule that
 * the conformance check `speaker.status-after-start` pins on the toy's side.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Companion } from '../../src/companion/companion.js';
import { MemoryKeystore } from '../../src/companion/keystore.js';
import { memoryConformanceTarget, type MemoryTarget, type MemoryTargetOptions } from '../../src/conformance/index.js';
import { noStatusAfterSpeakerStart } from '../helpers/broken-toys.js';

let target: MemoryTarget | undefined;
afterEach(async () => {
  await target?.close();
  target = undefined;
});

/** 400 ms of a 440 Hz tone, 16 kHz mono. */
function tone(): Int16Array {
  const pcm = new Int16Array(6400);
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 16000));
  return pcm;
}

async function ownedSession(o: MemoryTargetOptions) {
  const t = (target = await memoryConformanceTarget(o));
  const app = await Companion.open({ central: t.options.centralWithMtu!(247)!, keystore: new MemoryKeystore(), clock: t.options.clock!.now, handshakeTimeoutMs: 20_000 });
  await t.options.pressButton!(new AbortController().signal);
  const s = await app.pair(t.toyId(), t.options.qr!);
  return { t, s };
}

describe('the SPEAKER_STATUS after SPEAKER_START (PROTOCOL.md §13.6)', () => {
  it('a toy that does not send it: play() fails with TIMEOUT and no audio was sent', async () => {
    const { t, s } = await ownedSession(noStatusAfterSpeakerStart);
    const err = await s.speaker.play({ pcm: tone() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'TIMEOUT' });
    const st = t.toy.core.speakerStats;
    expect(st.framesPlayed + st.framesLost + st.framesOutsideStream + st.bufferedMs).toBe(0);
    await s.close();
  }, 30_000);

  it('the reference toy sends it: the same play() plays every frame', async () => {
    const { t, s } = await ownedSession({});
    let settled = false;
    // no stall limit on the companion's wall clock: the verdict must not depend on machine speed
    const playing = s.speaker.play({ pcm: tone() }, { stallTimeoutMs: 3_600_000 }).finally(() => (settled = true));
    // the toy plays in its own (simulated) time: move it on until play() settles
    for (let i = 0; i < 400 && !settled; i++) await t.options.clock!.advance!(20);
    const r = await playing;
    expect(r).toMatchObject({ framesSent: 20, framesPlayed: 20 });
    expect(t.toy.core.speakerStats.framesPlayed).toBe(20);
    await s.close();
  }, 30_000);
});
