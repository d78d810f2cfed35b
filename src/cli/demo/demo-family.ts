/**
 * `npm run demo -- --family`: the whole story, both hops, no hardware (docs/RELAY.md).
 *
 * The child speaks into the toy's microphone; the child's companion seals the recording to the
 * grandparent and uploads it to a relay started in-process on 127.0.0.1 (SQLite). The
 * grandparent's app, a second process with its own identity, is woken, fetches, verifies, opens
 * and writes a WAV, and replies; the child's companion fetches the reply and plays it on the toy's
 * speaker, and the grandparent's receipt lets the child's message leave the outbox. A stranger
 * tries to message the child and is refused. Then a thief copies the relay's database: no stored
 * byte opens to audio, no secret is in it, and the demo lists what the copy does hold.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { readOggOpus } from '../../audio/ogg-opus.js';
import { Companion } from '../../companion/companion.js';
import { MemoryKeystore } from '../../companion/keystore.js';
import { generateX25519KeyPair } from '../../protocol/crypto.js';
import { formatSetupQr, generateSetupCode } from '../../protocol/setup-code.js';
import { isPlushlinkError } from '../../protocol/errors.js';
import { ReferenceToy } from '../../toy/reference-toy.js';
import { MemoryToyStorage } from '../../toy/storage.js';
import {
  HttpRelay,
  Inbox,
  MemoryInboxStore,
  Outbox,
  familyKeyCode,
  familyKeyFingerprint,
  generateFamilyIdentity,
  loadFamilyIdentity,
  parseFamilyKeyCode,
  saveFamilyIdentity,
  sealVoiceMessage,
  type FamilyPublicKey,
} from '../../messages/index.js';
import { createAir } from '../transports.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = [resolve(HERE, '../../..'), resolve(HERE, '../../../..')].find((d) => existsSync(join(d, 'fixtures', 'audio'))) ?? resolve(HERE, '../../..');

/** What `--family --json` prints. */
export interface FamilyDemoResult {
  relay: { url: string; store: string };
  family: {
    childToRelative: { delivered: boolean; messageId: string; envelopeBytes: number; micFrames: number };
    relativeToChild: { played: boolean; messageId: string; framesPlayed: number; framesSent: number };
    stranger: { refused: boolean; code: string };
    /** From the child's upload request to the grandparent's process being woken, ms (an upper bound). */
    wakeMs: number;
    relativeWav: string;
  };
  breach: {
    copiedFiles: string[];
    envelopes: number;
    audioRecovered: number;
    secretsFound: number;
    secretsSearched: number;
    candidateKeysTried: number;
    plaintextAudio: number;
    tables: { name: string; columns: string[]; rows: number }[];
    holds: { messageId: string; sender: string; recipients: string[]; size: number; receivedAt: string }[];
  };
}

interface RelativeEvent {
  event: string;
  [k: string]: unknown;
}

/** Starts the grandparent's process; yields its JSON lines. */
function startRelative(args: string[]): { events: AsyncIterator<RelativeEvent>; done: Promise<number>; kill(): void } {
  const ts = join(HERE, 'family-relative.ts');
  const script = existsSync(ts) ? ts : join(HERE, 'family-relative.js');
  // From the sources, tsx (a devDependency) runs it; `--import` resolves from the cwd, hence ROOT.
  const execArgs = script.endsWith('.ts') ? ['--import', 'tsx', script] : [script];
  const child = spawn(process.execPath, [...execArgs, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const iter = lines[Symbol.asyncIterator]();
  const events: AsyncIterator<RelativeEvent> = {
    async next() {
      const r = await iter.next();
      if (r.done) return { done: true, value: undefined };
      return { done: false, value: JSON.parse(r.value) as RelativeEvent };
    },
  };
  const done = new Promise<number>((res) => child.on('exit', (code) => res(code ?? 1)));
  return { events, done, kill: () => child.kill('SIGKILL') };
}

async function expectEvent(events: AsyncIterator<RelativeEvent>, name: string): Promise<RelativeEvent> {
  const r = await events.next();
  if (r.done) throw new Error(`the grandparent's process ended before "${name}"`);
  if (r.value.event === 'error') throw new Error(`the grandparent's process failed: ${String(r.value.code)}: ${String(r.value.message)}`);
  if (r.value.event !== name) throw new Error(`expected "${name}" from the grandparent's process, got "${r.value.event}"`);
  return r.value;
}

export async function runFamilyDemo(opts: { outDir?: string; log?: (line: string) => void } = {}): Promise<FamilyDemoResult> {
  const log = opts.log ?? (() => undefined);
  const outDir = resolve(opts.outDir ?? 'out');
  await mkdir(outDir, { recursive: true });
  const work = await mkdtemp(join(outDir, 'family-'));
  const { createRelay, openSqliteStore } = await import('@plushlink/relay');
  const { examineStolenRelayDatabase } = await import('./breach.js');

  // ---- the relay
  const dbPath = join(work, 'relay.db');
  const relayServer = await createRelay({ store: openSqliteStore({ path: dbPath }) });
  const url = await relayServer.listen({ host: '127.0.0.1', port: 0 });
  log(`Relay on ${url} (SQLite ${dbPath}); it will hold only sealed envelopes and public keys.`);

  // ---- the toy and the child's companion (pair over the simulated radio)
  const air = await createAir('memory');
  const childVoice = readOggOpus(new Uint8Array(readFileSync(join(ROOT, 'fixtures/audio/child-question.opus'))));
  const toyKey = generateX25519KeyPair();
  const setup = generateSetupCode();
  const toy = new ReferenceToy({ peripheral: air.peripheral, identity: toyKey, setupCode: setup, storage: new MemoryToyStorage(), microphone: () => childVoice.packets });
  await toy.start();
  const app = await Companion.open({ central: air.newCentral(), keystore: new MemoryKeystore(), displayName: "Mum's phone" });
  const childId = generateFamilyIdentity("Mia's bunny");
  let relative: ReturnType<typeof startRelative> | undefined;
  try {
    toy.pressButton('hold');
    const scan = new AbortController();
    let toyId = '';
    for await (const d of app.scan({ signal: scan.signal })) {
      if (d.kind === 'pairing') {
        toyId = d.transportId;
        scan.abort();
      }
    }
    const session = await app.pair(toyId, formatSetupQr(setup, toyKey.publicKey), { name: 'Bunny' });
    log('Paired with the toy (Noise_IKpsk1).');

    // ---- the grandparent's app: a second process with its own identity
    // Its identity file is created here only so that the thief's search below can look for its
    // secrets too; the process loads it and never sends it anywhere.
    const granIdentityFile = join(work, 'grandparent-identity.json');
    await saveFamilyIdentity(granIdentityFile, generateFamilyIdentity('Grandpa Joe'));
    relative = startRelative(['--relay', url, '--identity', granIdentityFile, '--child', familyKeyCode(childId), '--out', work, '--reply', join(ROOT, 'fixtures/audio/toy-goodnight.opus')]);
    const ready = await expectEvent(relative.events, 'ready');
    const gran = parseFamilyKeyCode(String(ready.code));
    const family: FamilyPublicKey[] = [gran];
    log(`Grandparent's app (process 2) shared its key code; fingerprint ${familyKeyFingerprint(gran)}.`);
    const childRelay = new HttpRelay({ url, identity: childId, family });
    const childInbox = new Inbox({ identity: childId, relay: childRelay, family, store: new MemoryInboxStore() });
    await childInbox.sync(); // the child's mailbox, allowing only the grandparent
    const outbox = await Outbox.open(join(work, 'child-outbox'));

    // ---- the child speaks into the toy; the companion seals it to the grandparent and uploads
    const mic = await session.microphone.start();
    const rec = await mic.record(join(work, 'child-voice.ogg'), { seconds: 10 });
    const voice = new Uint8Array(await readFile(rec.oggPath));
    const envelope = sealVoiceMessage({ audio: voice, from: childId, to: [gran] });
    const { id: childMsg } = await outbox.add(envelope);
    let uploadStartedAt = 0;
    childRelay.on('request', (i) => {
      if (uploadStartedAt === 0 && i.method === 'PUT' && i.path.startsWith('/v1/envelopes/')) uploadStartedAt = Date.now();
    });
    const sent = await outbox.sync(childRelay, { family });
    if (!sent.uploaded.includes(childMsg)) throw new Error(`the child's message was not uploaded: ${JSON.stringify(sent.failed)}`);
    log(`Child: ${rec.frames - rec.lost} microphone frames → sealed ${envelope.length} bytes to the grandparent → uploaded; kept in the outbox until a receipt comes back.`);

    const received = await expectEvent(relative.events, 'received');
    // From sending the upload to the grandparent's long poll being answered (an upper bound).
    const wakeMs = Math.max(0, Number(received.wokenAt) - uploadStartedAt);
    const opened = await expectEvent(relative.events, 'opened');
    log(`Grandparent: woken ${wakeMs} ms after the upload; verified, opened (${String(opened.audioBytes)} bytes of Ogg Opus from "${String(opened.from)}") → ${String(opened.wav)}; receipt signed.`);
    const replied = await expectEvent(relative.events, 'replied');
    log(`Grandparent: replied (message ${String(replied.id)}).`);

    // ---- the child's companion fetches the reply and plays it on the toy's speaker
    let replyId: string | undefined;
    for (let i = 0; i < 10 && !replyId; i++) {
      await childRelay.listPending({ waitS: 30 });
      replyId = (await childInbox.sync({ mailbox: false })).received[0];
    }
    if (!replyId) throw new Error("the grandparent's reply did not arrive");
    const reply = await childInbox.open(replyId);
    const play = await session.speaker.play({ packets: readOggOpus(reply.audio).packets });
    const played = play.framesSent > 0 && play.framesPlayed === play.framesSent;
    log(`Child's companion: reply from "${reply.trustedSender?.name ?? '?'}" played on the toy: ${play.framesPlayed}/${play.framesSent} frames.`);
    await expectEvent(relative.events, 'reply-delivered');
    const code = await relative.done;
    if (code !== 0) throw new Error(`the grandparent's process exited with ${code}`);

    const settled = await outbox.sync(childRelay, { family });
    const delivered = settled.delivered.includes(childMsg);
    log(`Child's outbox: the grandparent's signed receipt verified → message ${delivered ? 'delivered and removed' : 'STILL WAITING'}.`);

    // ---- a stranger tries to message the child
    const stranger = generateFamilyIdentity('Stranger');
    const strangerRelay = new HttpRelay({ url, identity: stranger, family: [childId], maxAttempts: 1 });
    await strangerRelay.ensureMailbox();
    const junk = sealVoiceMessage({ audio: voice, from: stranger, to: [childId] });
    let strangerCode = 'ACCEPTED';
    try {
      await strangerRelay.upload(Buffer.from(junk.subarray(5, 21)).toString('hex'), junk);
    } catch (e) {
      strangerCode = isPlushlinkError(e) ? e.code : 'ERROR';
    }
    const refused = strangerCode === 'RELAY_SENDER_NOT_ALLOWED';
    log(`Stranger → child: ${refused ? 'refused' : 'NOT REFUSED'} (${strangerCode}).`);

    // ---- what a thief gets: one more message waits for the grandparent; the thief copies the database
    const night = sealVoiceMessage({ audio: voice, from: childId, to: [gran] });
    await outbox.add(night);
    await outbox.sync(childRelay, { family });
    const thief = join(work, 'stolen');
    await mkdir(thief);
    const copied: string[] = [];
    for (const suffix of ['', '-wal', '-shm']) {
      if (existsSync(dbPath + suffix)) {
        copyFileSync(dbPath + suffix, join(thief, `relay.db${suffix}`));
        copied.push(`relay.db${suffix}`);
      }
    }
    const granSecrets = await loadFamilyIdentity(granIdentityFile);
    const breach = examineStolenRelayDatabase(join(thief, 'relay.db'), [childId, granSecrets, stranger], { extraFiles: copied.filter((f) => f !== 'relay.db').map((f) => join(thief, f)) });
    log('');
    log(`A thief copied ${copied.join(', ')}. It holds:`);
    for (const t of breach.tables) log(`  ${t.name.padEnd(15)} ${String(t.rows).padStart(3)} row(s): ${t.columns.join(', ')}`);
    for (const e of breach.envelopeList) log(`  envelope ${e.messageId}: ${e.size} bytes, from key ${e.sender.slice(0, 16)}…, to key id(s) ${e.recipients.join(', ')}, received ${new Date(e.receivedAt).toISOString()}`);
    log(`Audio recovered from ${breach.envelopes} envelope(s) with the ${breach.candidateKeysTried} key-sized values in the copy: ${breach.audioRecovered}.`);
    log(`Secrets of the family found in the copy (${breach.secretsSearched} searched, raw/hex/base64): ${breach.secretsFound}. Plaintext Ogg pages: ${breach.plaintextAudio}.`);
    await session.close();
    return {
      relay: { url, store: 'sqlite' },
      family: {
        childToRelative: { delivered, messageId: childMsg, envelopeBytes: envelope.length, micFrames: rec.frames - rec.lost },
        relativeToChild: { played, messageId: replyId, framesPlayed: play.framesPlayed, framesSent: play.framesSent },
        stranger: { refused, code: strangerCode },
        wakeMs,
        relativeWav: String(opened.wav),
      },
      breach: {
        copiedFiles: copied,
        envelopes: breach.envelopes,
        audioRecovered: breach.audioRecovered,
        secretsFound: breach.secretsFound,
        secretsSearched: breach.secretsSearched,
        candidateKeysTried: breach.candidateKeysTried,
        plaintextAudio: breach.plaintextAudio,
        tables: breach.tables,
        holds: breach.envelopeList.map((e) => ({ ...e, receivedAt: new Date(e.receivedAt).toISOString() })),
      },
    };
  } finally {
    relative?.kill();
    await toy.stop().catch(() => undefined);
    await air.close().catch(() => undefined);
    await relayServer.close().catch(() => undefined);
  }
}
