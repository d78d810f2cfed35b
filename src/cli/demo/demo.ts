/**
 * `npm run demo` — the main job, no hardware: an in-process reference toy on a simulated radio.
 * Press its button, pair with its setup code, disconnect, reconnect (one round trip), control
 * it, stream real speech to its speaker, record its microphone; then a stranger's phone tries
 * everything the seed toy allowed and is refused each time.
 *
 * Options: --json (one JSON object), --out DIR (recordings, default out/), --transport memory|noble-sim.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readOggOpus } from '../../audio/ogg-opus.js';
import { existsSync, readFileSync } from 'node:fs';
import { Companion } from '../../companion/companion.js';
import { MemoryKeystore } from '../../companion/keystore.js';
import { generateX25519KeyPair } from '../../protocol/crypto.js';
import { formatSetupCode, formatSetupQr, generateSetupCode, toyKeyFingerprint } from '../../protocol/setup-code.js';
import { encodeWire } from '../../protocol/wire.js';
import { ReferenceToy } from '../../toy/reference-toy.js';
import { MemoryToyStorage } from '../../toy/storage.js';
import { createAir, type InProcessTransport } from '../transports.js';
import { RawLink, RecordingCentral, describeReply, forgedChannel } from '../../conformance/raw-link.js';

/** The package root: `src/cli/demo/` sits three folders below it from source, four when built (`dist/src/cli/demo/`). */
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = [resolve(HERE, '../../..'), resolve(HERE, '../../../..')].find((d) => existsSync(join(d, 'fixtures', 'audio'))) ?? resolve(HERE, '../../..');

export interface DemoResult {
  transport: InProcessTransport;
  paired: boolean;
  pairingRoundTrips: number;
  reconnectRoundTrips: number;
  setupCode: string;
  toyFingerprint: string;
  speakerFramesSent: number;
  speakerFramesPlayed: number;
  speakerUnderruns: number;
  speakerOverruns: number;
  micFramesReceived: number;
  micFramesConcealed: number;
  micFile: string;
  micWavFile: string;
  intruder: { attempts: number; accepted: number; results: { attempt: string; outcome: string; accepted: boolean }[] };
}

export async function runDemo(opts: { transport?: InProcessTransport; outDir?: string; log?: (line: string) => void } = {}): Promise<DemoResult> {
  const log = opts.log ?? (() => undefined);
  const transport = opts.transport ?? 'memory';
  const outDir = resolve(opts.outDir ?? 'out');
  await mkdir(outDir, { recursive: true });
  const air = await createAir(transport);
  const speech = readOggOpus(new Uint8Array(readFileSync(join(ROOT, 'fixtures/audio/toy-goodnight.opus'))));
  const childVoice = readOggOpus(new Uint8Array(readFileSync(join(ROOT, 'fixtures/audio/child-question.opus'))));

  // ---- the toy
  const identity = generateX25519KeyPair();
  const setup = generateSetupCode();
  const toy = new ReferenceToy({
    peripheral: air.peripheral,
    identity,
    setupCode: setup,
    storage: new MemoryToyStorage(),
    microphone: () => childVoice.packets,
  });
  await toy.start();
  const code = formatSetupCode(setup);
  const qr = formatSetupQr(setup, identity.publicKey);
  log(`Toy label   setup code ${code}`);
  log(`            QR payload ${qr}`);
  log(`            key fingerprint ${toyKeyFingerprint(identity.publicKey)}`);

  // ---- the owner's app
  const central = new RecordingCentral(air.newCentral());
  const app = await Companion.open({ central, keystore: new MemoryKeystore(), displayName: "Mum's phone" });
  const result: DemoResult = {
    transport,
    paired: false,
    pairingRoundTrips: 0,
    reconnectRoundTrips: 0,
    setupCode: code,
    toyFingerprint: toyKeyFingerprint(identity.publicKey),
    speakerFramesSent: 0,
    speakerFramesPlayed: 0,
    speakerUnderruns: 0,
    speakerOverruns: 0,
    micFramesReceived: 0,
    micFramesConcealed: 0,
    micFile: join(outDir, 'microphone.ogg'),
    micWavFile: join(outDir, 'microphone.wav'),
    intruder: { attempts: 0, accepted: 0, results: [] },
  };
  try {
    toy.pressButton('hold');
    log('Button held on the toy: pairing window open for 120 s.');
    const scanCtl = new AbortController();
    let seen = '';
    for await (const d of app.scan({ signal: scanCtl.signal })) {
      if (d.kind === 'pairing') {
        seen = d.transportId;
        scanCtl.abort();
      }
    }
    log(`Scan: found an unpaired toy in pairing mode (${seen}); its advertisement has no name or serial.`);
    let session = await app.pair(seen, qr, { name: 'Bunny' });
    result.paired = true;
    result.pairingRoundTrips = session.roundTrips;
    log(`Paired as ${session.hello.role} with the QR code in ${session.roundTrips} round trip (Noise_IKpsk1_25519_ChaChaPoly_SHA512).`);
    await session.close();
    log('Disconnected.');

    session = await app.connect('Bunny');
    result.reconnectRoundTrips = session.roundTrips;
    log(`Reconnected: the rotating advertising tag resolved to "Bunny"; session in ${session.roundTrips} round trip (Noise_IK).`);
    await session.setVolume(60);
    const info = await session.info();
    const battery = await session.battery();
    const pairings = await session.listPairings();
    log(`Control: volume ${info.volume}, battery ${battery.percent}%, firmware ${info.firmwareVersion}, ${pairings.length} pairing(s): ${pairings.map((p) => `${p.displayName} (${p.role})`).join(', ')}`);

    const play = await session.speaker.play({ packets: speech.packets });
    Object.assign(result, {
      speakerFramesSent: play.framesSent,
      speakerFramesPlayed: play.framesPlayed,
      speakerUnderruns: play.underruns,
      speakerOverruns: play.overruns,
    });
    log(`Speaker: ${play.framesPlayed}/${play.framesSent} frames played in ${play.records} records (${(play.framesSent / play.records).toFixed(1)} frames/record), ${play.underruns} underruns, ${play.overruns} overruns, ${(play.durationMs / 1000).toFixed(1)} s.`);

    const mic = await session.microphone.start();
    const rec = await mic.record(result.micFile, { wav: result.micWavFile, seconds: 10 });
    result.micFramesReceived = rec.frames - rec.lost;
    result.micFramesConcealed = rec.lost;
    log(`Microphone: ${rec.frames - rec.lost} frames received, ${rec.lost} concealed → ${rec.oggPath} and ${rec.wavPath}`);

    // ---- a stranger's phone
    log('');
    log("A stranger's phone tries what the seed toy allowed:");
    const strangerCentral = air.newCentral();
    const pairM1 = central.controlWrites[0] ?? [];
    const reconnectM1 = central.controlWrites[1] ?? [];
    const core = toy.core;
    const snapshot = () => ({
      executed: Object.values(core.executed).reduce((a, b) => a + b, 0),
      pairings: core.pairings.length,
      played: core.speakerStats.framesPlayed,
      buffered: core.speakerStats.bufferedMs,
      mic: core.microphoneActive,
    });
    const attempt = async (name: string, fn: (l: RawLink) => Promise<string>): Promise<void> => {
      const before = snapshot();
      const l = await RawLink.open(strangerCentral, air.toyId);
      let outcome: string;
      try {
        outcome = await fn(l);
      } finally {
        await l.close();
      }
      await new Promise((r) => setTimeout(r, 30));
      const after = snapshot();
      const accepted =
        after.executed !== before.executed || after.pairings !== before.pairings || after.buffered > before.buffered || (after.mic && !before.mic);
      result.intruder.attempts++;
      if (accepted) result.intruder.accepted++;
      result.intruder.results.push({ attempt: name, outcome, accepted });
      log(`  ${accepted ? 'ACCEPTED' : 'refused '}  ${name}: ${outcome}`);
    };
    const frame = speech.packets[10]!;
    await attempt('write audio to the speaker', async (l) => {
      const ch = forgedChannel();
      await l.send('speaker', ch.sealAudio([frame, frame, frame]).record);
      return describeReply(await l.next(300), l.disconnected) === 'no answer' ? 'dropped and counted by the toy' : describeReply(undefined, l.disconnected);
    });
    await attempt('send a control command (set volume)', async (l) => {
      await l.send('control', forgedChannel().sealControl({ type: 'set-volume', id: 1, volume: 100 }));
      return describeReply(await l.next(), l.disconnected);
    });
    await attempt('start the microphone', async (l) => {
      await l.send('control', forgedChannel().sealControl({ type: 'mic-start', id: 1 }));
      return describeReply(await l.next(), l.disconnected);
    });
    await attempt("replay the owner's recorded pairing handshake", async (l) => {
      await l.sendRaw('control', pairM1);
      return describeReply(await l.next(), l.disconnected);
    });
    await attempt("replay the owner's recorded reconnect handshake, then command", async (l) => {
      await l.sendRaw('control', reconnectM1);
      const r = await l.next();
      // The toy answers a replayed message 1, but only the owner can derive the session keys:
      await l.send('control', forgedChannel().sealControl({ type: 'mic-start', id: 1 }));
      const r2 = await l.next(500);
      return `${describeReply(r, false)}; forged command → ${describeReply(r2, l.disconnected)} (record failed authentication)`;
    });
    await attempt('pair outside the pairing window (with the real code)', async (l) => {
      const hs = await import('../../protocol/handshake.js');
      const c = new hs.CompanionHandshake('pair', { companion: generateX25519KeyPair(), toyPublicKey: identity.publicKey, hello: { displayName: 'stranger' }, setupCode: setup });
      await l.send('control', encodeWire({ kind: 'pair-m1', noise: c.message1 }));
      return describeReply(await l.next(), l.disconnected);
    });
    // The owner lets a guest pair and a child holds the button: the window is open. The stranger guesses.
    await session.allowGuestPairing();
    toy.pressButton('hold');
    await toy.flush(); // the toy moved to a new address with its new advertisement (air.toyId follows)
    for (const n of [1, 2]) {
      await attempt(`guess a setup code inside an open window (#${n})`, async (l) => {
        const hs = await import('../../protocol/handshake.js');
        const guess = generateSetupCode();
        const c = new hs.CompanionHandshake('pair', { companion: generateX25519KeyPair(), toyPublicKey: identity.publicKey, hello: { displayName: 'stranger' }, setupCode: guess });
        await l.send('control', encodeWire({ kind: 'pair-m1', noise: c.message1 }));
        return describeReply(await l.next(), l.disconnected);
      });
    }
    const refusals = Object.entries(core.refusals)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    log(`Toy refusal counters: ${refusals}`);
    log(`Intruder: ${result.intruder.attempts} attempts, ${result.intruder.accepted} accepted.`);
    await session.close();
    return result;
  } finally {
    await toy.stop().catch(() => undefined);
    await air.close().catch(() => undefined);
  }
}

/**
 * `npm run demo -- [options]` is `plushlink demo [options]`: one parser, so a bad transport or an
 * unknown flag is a one-line usage error with exit code 2, as everywhere in the CLI.
 */
async function main(): Promise<number> {
  const { main: cli } = await import('../main.js');
  return cli([process.argv[0] ?? 'node', 'plushlink', 'demo', ...process.argv.slice(2)]);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then((code) => process.stdout.write('', () => process.exit(code)));
}
