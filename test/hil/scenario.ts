/**
 * The hardware-in-loop scenario, written against the transport interface only so that the same
 * code runs against a dongle (test/hil/hil.test.ts, opt-in) and against noble-sim in CI
 * (test/integration/cli-hil-scenario.test.ts), which keeps it honest while no hardware is around.
 *
 * Steps: open the toy's pairing window → scan for it → pair with the setup code → reconnect
 * (one round trip) → control → play on the speaker → record the microphone → a stranger (a
 * companion identity the toy never paired) is refused: reconnect handshake, pairing outside the
 * window, forged commands on a raw link → the owner still works → the owner forgets the toy
 * (removing itself from its allow-list, so the toy is unowned again for the next run).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Companion, isPlushlinkError, type Central, type DiscoveredToy, type ErrorCode, type SpeakerSource } from '../../src/index.js';
import { generateX25519KeyPair } from '../../src/toy.js';
import { MemoryKeystore } from '../../src/testing.js';
import { RawLink, describeReply, forgedChannel } from '../../src/conformance/raw-link.js';

/** What the scenario needs to know about the toy and the radio. */
export interface HilTarget {
  /** The owner's central. */
  central: Central;
  /** The stranger's central (on one dongle: the same central; the toy judges Noise keys, not addresses). */
  strangerCentral: Central;
  /** The toy's setup code or QR payload. */
  setup: string;
  /** Opens the toy's pairing window (simulate-toy: `b`; a real toy: a person holds the button). */
  pressButton(): Promise<void>;
  /** The toy's transport id when known; otherwise the first toy seen in pairing mode is used. */
  transportId?: string;
  /** What to play on the speaker. */
  play: SpeakerSource;
  /** How long to record the microphone (default 2 s). */
  recordSeconds?: number;
  /** Where the recording goes. */
  outDir: string;
  /** How long to wait for the toy to show up in pairing mode (default 60 s). */
  findTimeoutMs?: number;
  log?: (line: string) => void;
}

/** What the scenario observed (the tests assert on it). */
export interface HilReport {
  pairingTransportId: string;
  pairingRoundTrips: number;
  reconnectRoundTrips: number;
  mtu: number;
  ownerPairings: number;
  speaker: { framesSent: number; framesPlayed: number; overruns: number };
  microphone: { frames: number; lost: number; file: string; oggHeader: string };
  stranger: {
    /** The error code of the stranger's reconnect handshake (NOT_PAIRED expected). */
    reconnect: ErrorCode | 'accepted';
    /** The error code of the stranger's pairing with the real code outside the window (NOT_IN_PAIRING_MODE expected). */
    pairOutsideWindow: ErrorCode | 'accepted';
    /** What the toy did with forged commands on a raw link. */
    forged: { attempt: string; outcome: string }[];
  };
  /** The owner's pairings after the stranger's attempts (still exactly the owner). */
  ownerPairingsAfter: number;
  /** The owner's volume change took effect (read back through get-info). */
  volumeReadBack: number;
  forgotten: boolean;
}

async function codeOf(p: Promise<unknown>): Promise<ErrorCode | 'accepted'> {
  try {
    const r = await p;
    if (r && typeof r === 'object' && 'close' in r && typeof (r as { close: unknown }).close === 'function') await (r as { close(): Promise<void> }).close();
    return 'accepted';
  } catch (e) {
    if (isPlushlinkError(e)) return e.code;
    throw e;
  }
}

/** Runs the scenario; throws on any unexpected failure of the owner's steps. */
export async function runHilScenario(t: HilTarget): Promise<HilReport> {
  const log = t.log ?? (() => undefined);
  const owner = await Companion.open({ central: t.central, keystore: new MemoryKeystore(), displayName: 'HIL owner' });

  // 1. pairing window, find the toy
  await t.pressButton();
  log('button held; looking for the toy in pairing mode');
  const found = await new Promise<DiscoveredToy>((resolve, reject) => {
    const ctl = new AbortController();
    const timer = setTimeout(() => {
      ctl.abort();
      reject(new Error(`no toy in pairing mode within ${t.findTimeoutMs ?? 60_000} ms`));
    }, t.findTimeoutMs ?? 60_000);
    void (async () => {
      try {
        for await (const d of owner.scan({ signal: ctl.signal })) {
          if (d.kind === 'pairing' && !d.owned && (t.transportId === undefined || d.transportId === t.transportId)) {
            clearTimeout(timer);
            ctl.abort();
            resolve(d);
            return;
          }
        }
      } catch (e) {
        clearTimeout(timer);
        reject(e as Error);
      }
    })();
  });
  log(`found ${found.transportId}`);

  // 2. pair
  let session = await owner.pair(found, t.setup, { name: 'hil-toy', timeoutMs: 30_000 });
  const pairingRoundTrips = session.roundTrips;
  const toy = session.toy;
  await session.close();
  log(`paired in ${pairingRoundTrips} round trip(s)`);

  // 3. reconnect and control
  session = await owner.connect(toy.id, { timeoutMs: 30_000 });
  const reconnectRoundTrips = session.roundTrips;
  const mtu = session.mtu;
  await session.setVolume(42);
  const volumeReadBack = (await session.info()).volume;
  const ownerPairings = (await session.listPairings()).length;
  log(`reconnected in ${reconnectRoundTrips} round trip(s), mtu ${mtu}`);

  // 4. speaker
  const play = await session.speaker.play(t.play);
  log(`played ${play.framesPlayed}/${play.framesSent}`);

  // 5. microphone
  const file = join(t.outDir, 'hil-microphone.ogg');
  const mic = await session.microphone.start();
  const rec = await mic.record(file, { seconds: t.recordSeconds ?? 2 });
  const oggHeader = Buffer.from((await readFile(file)).subarray(0, 4)).toString('latin1');
  log(`recorded ${rec.frames} frames (${rec.lost} lost)`);
  const transportId = session.toy.lastTransportId ?? found.transportId;
  await session.close();

  // 6. a stranger: same toy, same transport, a companion key the toy never paired
  const strangerKeys = generateX25519KeyPair();
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  const strangerStore = new MemoryKeystore();
  await strangerStore.save({
    version: 1,
    identity: { publicKey: hex(strangerKeys.publicKey), secretKey: hex(strangerKeys.secretKey) },
    displayName: 'stranger',
    toys: [structuredClone(toy)],
  });
  const stranger = await Companion.open({ central: t.strangerCentral, keystore: strangerStore });
  const reconnect = await codeOf(stranger.connect(toy.id, { transportId, timeoutMs: 20_000 }));
  const pairOutsideWindow = await codeOf(stranger.pair(transportId, t.setup, { timeoutMs: 20_000 }));
  const forged: HilReport['stranger']['forged'] = [];
  for (const [attempt, msg] of [
    ['mic-start', forgedChannel().sealControl({ type: 'mic-start', id: 1 })],
    ['set-volume', forgedChannel().sealControl({ type: 'set-volume', id: 1, volume: 100 })],
  ] as const) {
    const l = await RawLink.open(t.strangerCentral, transportId);
    try {
      await l.send('control', msg);
      forged.push({ attempt, outcome: describeReply(await l.next(2000), l.disconnected) });
    } finally {
      await l.close();
    }
  }
  log(`stranger: reconnect ${reconnect}, pair ${pairOutsideWindow}, forged ${forged.map((f) => f.outcome).join('; ')}`);

  // 7. the owner is unaffected; then leaves the toy unowned again
  session = await owner.connect(toy.id, { timeoutMs: 30_000 });
  const pairingsAfter = await session.listPairings();
  const volumeAfter = (await session.info()).volume;
  if (volumeAfter !== volumeReadBack) throw new Error(`the volume changed from ${volumeReadBack} to ${volumeAfter} during the stranger's attempts`);
  await owner.forget(toy.id, { session });
  await session.close();

  return {
    pairingTransportId: found.transportId,
    pairingRoundTrips,
    reconnectRoundTrips,
    mtu,
    ownerPairings,
    speaker: { framesSent: play.framesSent, framesPlayed: play.framesPlayed, overruns: play.overruns },
    microphone: { frames: rec.frames, lost: rec.lost, file, oggHeader },
    stranger: { reconnect, pairOutsideWindow, forged },
    ownerPairingsAfter: pairingsAfter.length,
    volumeReadBack,
    forgotten: owner.toys().length === 0,
  };
}
