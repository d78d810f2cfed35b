/**
 * Replay, reorder and tamper resistance of the record layer in a live session (docs/SECURITY.md
 * property 4), in both directions. An attacker on the air re-injects records it captured into
 * the owner's own connection, holds one back and delivers it late, or flips a bit. Replayed and
 * late records are refused as REPLAYED_RECORD (counted, no effect, the session goes on); a
 * tampered record ends the session.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PlushlinkError } from '../../src/protocol/errors.js';
import type { Companion } from '../../src/companion/companion.js';
import type { ToySession } from '../../src/companion/session.js';
import type { CentralLink, WritableCharacteristic } from '../../src/transport/types.js';
import { makeRig, type Rig } from '../helpers/rig.js';
import { expectOnlyRefused, PduRecorder, snapshot, until } from '../helpers/intruder.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

async function session(): Promise<{ rig: Rig; app: Companion; s: ToySession; rec: PduRecorder; link: CentralLink; serial: number }> {
  rig = await makeRig();
  const app = await rig.newCompanion('owner');
  rig.toy.pressButton('hold');
  await (await app.pair(rig.toyId, rig.qr)).close();
  const rec = new PduRecorder(rig.radio);
  const s = await app.connect(app.toys()[0]!, { transportId: rig.toyId });
  const link = s.link.link;
  return { rig, app, s, rec, link, serial: (link as unknown as { serial: number }).serial };
}

/** Makes the central hold back control writes while `holding` (they "succeed" but do not reach the air). */
function interceptor(link: CentralLink) {
  const state = { holding: false, tamperNext: false, held: [] as Uint8Array[] };
  const write = link.write.bind(link);
  link.write = (ch: WritableCharacteristic, v: Uint8Array) => {
    if (ch === 'control' && state.holding) {
      state.held.push(Uint8Array.from(v));
      return Promise.resolve();
    }
    if (ch === 'control' && state.tamperNext) {
      state.tamperNext = false;
      const t = Uint8Array.from(v);
      t[t.length - 1]! ^= 0x80; // a bit of the tag
      return write(ch, t);
    }
    return write(ch, v);
  };
  return { state, rawWrite: write };
}

const frames = (n: number, tag: number): Uint8Array[] => Array.from({ length: n }, (_, i) => new Uint8Array([0xf8, tag, i, 0x55]));

describe('records in a live session', () => {
  it('replayed control records (companion → toy) are refused as REPLAYED_RECORD and have no effect; the session goes on', async () => {
    const { rig, s, rec, link, serial } = await session();
    await s.setVolume(40);
    await s.setVolume(55);
    const records = rec.controlWrites(serial).filter((w) => w.wire.kind === 'record');
    expect(records.length).toBeGreaterThanOrEqual(2);
    const before = snapshot(rig.toy.core);
    for (const r of records) for (const v of r.values) await link.write('control', v);
    await rig.radio.settle();
    expectOnlyRefused(before, rig.toy.core, { 'replayed-record': records.length });
    expect(rig.toy.core.persistentState.volume).toBe(55);
    expect(s.open).toBe(true);
    await s.setVolume(60);
    expect((await s.info()).volume).toBe(60);
    await s.close();
  });

  it('a reordered record (held back, delivered after a later one) is refused as REPLAYED_RECORD', async () => {
    const { rig, s, link } = await session();
    const { state, rawWrite } = interceptor(link);
    state.holding = true;
    const late = s.setVolume(10, { timeoutMs: 500 });
    expect(await until(() => state.held.length === 1)).toBe(true);
    state.holding = false;
    await s.setVolume(60); // overtakes the held one
    expect(rig.toy.core.persistentState.volume).toBe(60);
    const before = snapshot(rig.toy.core);
    for (const v of state.held) await rawWrite('control', v);
    await rig.radio.settle();
    expectOnlyRefused(before, rig.toy.core, { 'replayed-record': 1 });
    expect(rig.toy.core.persistentState.volume).toBe(60);
    await expect(late).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(s.open).toBe(true);
    await s.close();
  });

  it('replayed speaker records are refused: no frame plays twice, speaker statistics unchanged', async () => {
    const { rig, s, rec, link, serial } = await session();
    const played: number[][] = [];
    rig.toy.on('play', (fs) => played.push(...fs.map((f) => [f[1]!, f[2]!])));
    const first = s.nextAudioFrame;
    await s.request({ type: 'speaker-start', firstFrame: first });
    await s.sendAudio(frames(4, 1));
    await s.sendAudio(frames(4, 2));
    await s.request({ type: 'speaker-end', lastFrame: first + 7 });
    expect(await until(() => rig!.toy.core.speakerStats.state === 'done', 3000)).toBe(true);
    expect(played).toHaveLength(8);
    const speakerValues = rec.values({ link: serial, direction: 'toPeripheral', characteristic: 'speaker' });
    expect(speakerValues.length).toBeGreaterThanOrEqual(2);
    const before = snapshot(rig.toy.core);
    for (const v of speakerValues) await link.write('speaker', v);
    await rig.radio.settle();
    await new Promise((r) => setTimeout(r, 100));
    expectOnlyRefused(before, rig.toy.core, { 'replayed-record': speakerValues.length });
    expect(played).toHaveLength(8);
    expect(new Set(played.map((p) => p.join('.'))).size).toBe(8);
    await s.close();
  });

  it('a tampered record (companion → toy) ends the session: record-auth-failed, nothing executed, the companion sees DISCONNECTED', async () => {
    const { rig, app, s, link } = await session();
    const { state } = interceptor(link);
    let closeError: PlushlinkError | undefined;
    s.on('close', (_r, e) => (closeError = e));
    const before = snapshot(rig.toy.core);
    state.tamperNext = true;
    await expect(s.setVolume(99, { timeoutMs: 2000 })).rejects.toMatchObject({ code: 'DISCONNECTED' });
    expect(closeError?.code).toBe('DISCONNECTED');
    expect(s.open).toBe(false);
    expectOnlyRefused(before, rig.toy.core, { 'record-auth-failed': 1 });
    expect(rig.toy.core.sessionCount).toBe(0);
    // a clean reconnect works
    const s2 = await app.connect(app.toys()[0]!, { transportId: rig.toyId });
    expect((await s2.info()).volume).toBe(70);
    await s2.close();
  });

  it('toy → companion: a replayed record is dropped (REPLAYED_RECORD), a tampered one ends the session (RECORD_AUTH_FAILED)', async () => {
    const { rig, app, s, rec, link, serial } = await session();
    await s.setVolume(20);
    const fromToy = rec.messages({ link: serial, direction: 'toCentral', characteristic: 'control' });
    const records = fromToy.filter((m) => m.message[0] === 0x10);
    expect(records.length).toBeGreaterThanOrEqual(1);
    // injected into the companion's receive path, as if the air delivered them again
    for (const r of records) for (const v of r.values) link.emit('data', 'control', v);
    expect(s.dropped.REPLAYED_RECORD).toBe(records.length);
    expect(s.open).toBe(true);
    expect((await s.battery()).percent).toBeGreaterThan(0);

    let closeError: PlushlinkError | undefined;
    s.on('close', (_r, e) => (closeError = e));
    const last = records.at(-1)!.message;
    const forged = Uint8Array.from(last);
    // a counter above anything seen (so it is not a mere replay), ciphertext unchanged
    forged[1] = 0x00;
    forged[2] = 0x00;
    forged[3] = 0x7f;
    forged[4] = 0xff;
    link.emit('data', 'control', new Uint8Array([0xc0 | 0x3f, ...forged]));
    expect(s.open).toBe(false);
    expect(closeError?.code).toBe('RECORD_AUTH_FAILED');
    expect(await until(() => rig!.toy.core.sessionCount === 0)).toBe(true);
    const s2 = await app.connect(app.toys()[0]!, { transportId: rig.toyId });
    expect((await s2.info()).volume).toBe(20);
    await s2.close();
  });
});
