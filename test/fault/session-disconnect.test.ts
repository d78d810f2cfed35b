/**
 * Disconnects in the middle of a session (docs/SECURITY.md property 7): during a control request (at every
 * PDU of the request and its answer, in both directions, delivered or lost), while the speaker
 * is streaming and while the microphone is streaming. The companion gets typed errors
 * (DISCONNECTED / TIMEOUT; SESSION_CLOSED for calls after the end) and never hangs; the toy
 * keeps no session, switches the microphone off and applies a request wholly or not at all; a
 * clean reconnect afterwards works.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { isPlushlinkError, type PlushlinkError } from '../../src/protocol/errors.js';
import type { Companion } from '../../src/companion/companion.js';
import type { ToySession } from '../../src/companion/session.js';
import type { MemoryCentralLink } from '../../src/transport/memory/index.js';
import { makeRig, type Rig } from '../helpers/rig.js';
import { PduRecorder, sleep, until } from '../helpers/intruder.js';

const MTU = 23;
let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

async function outcome<T>(op: Promise<T>, guardMs = 6000): Promise<{ ok: T } | { code: string }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`hung for ${guardMs} ms`)), guardMs)));
  try {
    return { ok: await Promise.race([op, guard]) };
  } catch (e) {
    if (!isPlushlinkError(e)) throw e;
    return { code: e.code };
  } finally {
    clearTimeout(timer);
  }
}

async function owned(opts: Parameters<typeof makeRig>[0] = {}): Promise<{ rig: Rig; app: Companion }> {
  rig = await makeRig({ toyMtu: MTU, ...opts });
  const app = await rig.newCompanion('parent', MTU);
  rig.toy.pressButton('hold');
  await (await app.pair(rig.toyId, rig.qr)).close();
  return { rig, app };
}

const connect = (app: Companion, r: Rig): Promise<ToySession> => app.connect(app.toys()[0]!, { transportId: r.toyId });
const centralLink = (s: ToySession): MemoryCentralLink => s.link.link as MemoryCentralLink;

async function expectToyClean(r: Rig): Promise<void> {
  expect(await until(() => r.toy.core.sessionCount === 0 && r.peripheral.links.every((l) => !l.connected) && !r.toy.core.microphoneActive, 3000)).toBe(true);
}

describe('disconnect mid-session', () => {
  it('during a control request, at every PDU in both directions: typed error or success, the request applied wholly or not at all, clean reconnect', async () => {
    const { rig, app } = await owned();
    // measure one clean request
    const s0 = await connect(app, rig);
    const rec = new PduRecorder(rig.radio);
    await s0.setVolume(50);
    await rig.radio.settle();
    rec.stop();
    const serial = centralLink(s0).serial;
    const counts = {
      toPeripheral: rec.values({ link: serial, direction: 'toPeripheral' }).length,
      toCentral: rec.values({ link: serial, direction: 'toCentral' }).length,
    };
    expect(counts.toPeripheral).toBeGreaterThanOrEqual(2); // a record does not fit 20 bytes
    expect(counts.toCentral).toBeGreaterThanOrEqual(2);
    await s0.close();

    let volume = 50;
    let runs = 0;
    const codes = new Map<string, number>();
    for (const direction of ['toPeripheral', 'toCentral'] as const) {
      for (let count = 1; count <= counts[direction]; count++) {
        for (const lose of [false, true]) {
          const s = await connect(app, rig);
          let closeError: PlushlinkError | undefined;
          s.on('close', (_r, e) => (closeError = e));
          const target = 10 + runs++;
          centralLink(s).faults.disconnectAfter({ direction, count, lose });
          const r = await outcome(s.setVolume(target, { timeoutMs: 1500 }));
          const label = 'ok' in r ? 'ok' : r.code;
          codes.set(label, (codes.get(label) ?? 0) + 1);
          if (!('ok' in r)) expect(['DISCONNECTED', 'TIMEOUT'], `${direction} ${count} ${lose} → ${r.code}`).toContain(r.code);
          expect(await until(() => !s.open)).toBe(true);
          expect(closeError?.code).toBe('DISCONNECTED');
          await expect(s.setVolume(1)).rejects.toMatchObject({ code: 'SESSION_CLOSED' });
          await expectToyClean(rig);
          // wholly or not at all, and a success means it was applied
          const v = rig.toy.core.persistentState.volume;
          expect([volume, target]).toContain(v);
          if ('ok' in r) expect(v).toBe(target);
          volume = v;
          const again = await connect(app, rig);
          expect((await again.info()).volume).toBe(volume);
          await again.close();
          await expectToyClean(rig);
        }
      }
    }
    expect(codes.get('DISCONNECTED') ?? 0).toBeGreaterThan(0);
  });

  it('while the speaker streams: the companion gets DISCONNECTED, the toy drops the session, a new stream plays after reconnect', async () => {
    const { rig, app } = await owned();
    const s = await connect(app, rig);
    let closeError: PlushlinkError | undefined;
    s.on('close', (_r, e) => (closeError = e));
    await s.request({ type: 'speaker-start', firstFrame: s.nextAudioFrame });
    centralLink(s).faults.disconnectAfter({ direction: 'toPeripheral', count: 7, lose: true });
    let err: unknown;
    for (let i = 0; i < 50 && !err; i++) {
      try {
        await s.sendAudio([new Uint8Array([0xf8, i, 1, 2]), new Uint8Array([0xf8, i, 3, 4])]);
      } catch (e) {
        err = e;
      }
    }
    expect(isPlushlinkError(err)).toBe(true);
    expect(['DISCONNECTED', 'SESSION_CLOSED']).toContain((err as PlushlinkError).code);
    expect(await until(() => !s.open)).toBe(true);
    expect(closeError?.code).toBe('DISCONNECTED');
    await expectToyClean(rig);
    const s2 = await connect(app, rig);
    const first = s2.nextAudioFrame;
    const playedBefore = rig.toy.core.speakerStats.framesPlayed;
    await s2.request({ type: 'speaker-start', firstFrame: first });
    await s2.sendAudio([new Uint8Array([0xf8, 9, 9, 9]), new Uint8Array([0xf8, 9, 9, 8]), new Uint8Array([0xf8, 9, 9, 7])]);
    await s2.request({ type: 'speaker-end', lastFrame: first + 2 });
    expect(await until(() => rig!.toy.core.speakerStats.framesPlayed >= playedBefore + 3, 3000)).toBe(true);
    await s2.close();
  });

  it('while the microphone streams: the stream ends, the toy switches the microphone off, it starts again after reconnect', async () => {
    let n = 0;
    const { rig, app } = await owned({
      toy: {
        microphone: function* () {
          for (;;) yield new Uint8Array([0xf8, n++ & 0xff, 0x11, 0x22]);
        },
      },
    });
    const mics: boolean[] = [];
    rig.toy.on('microphone', (a) => mics.push(a));
    const s = await connect(app, rig);
    const stream = await s.microphone.start();
    let ended = false;
    stream.on('end', () => (ended = true));
    let batches = 0;
    s.on('audio', () => batches++);
    expect(await until(() => batches >= 3, 3000)).toBe(true);
    expect(rig.toy.core.microphoneActive).toBe(true);
    centralLink(s).injectDisconnect();
    expect(await until(() => ended && !s.open, 2000)).toBe(true);
    await expectToyClean(rig);
    expect(mics).toEqual([true, false]);
    await sleep(60);
    expect(rig.toy.core.microphoneActive).toBe(false);

    const s2 = await connect(app, rig);
    let batches2 = 0;
    s2.on('audio', () => batches2++);
    const stream2 = await s2.microphone.start();
    expect(await until(() => batches2 >= 2, 3000)).toBe(true);
    await stream2.stop();
    expect(await until(() => !rig!.toy.core.microphoneActive)).toBe(true);
    await s2.close();
  });
});
