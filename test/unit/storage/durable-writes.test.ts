/**
 * Every store that persists writes through the one atomic write of src/util/durable-fs.ts, in the
 * order that makes it survive a power cut (docs/SECURITY.md): data written → temp file fsynced →
 * closed → renamed over the target → folder fsynced; and deletes durably: unlink → folder fsynced.
 *
 * The SIGKILL crash tests (test/fault/*-crash.test.ts) cannot see a missing fsync: the kernel's
 * page cache outlives the process. Here a recording file system notes every call, and each
 * store's writes must be exactly that sequence — deleting `sync()` before `rename()`, or the
 * folder fsync after it or after an unlink, fails these tests.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { utf8, toHex } from '../../../src/protocol/bytes.js';
import { generateX25519KeyPair } from '../../../src/protocol/crypto.js';
import { FileToyStorage } from '../../../src/toy/storage.js';
import { emptyToyState } from '../../../src/toy/types.js';
import { FileKeystore, type KeystoreData } from '../../../src/companion/keystore.js';
import { FileInboxStore } from '../../../src/messages/inbox-files.js';
import { FolderRelay, Outbox, generateFamilyIdentity, familyKeyCode, familyPublicKey, peekMessageId, sealVoiceMessage } from '../../../src/messages/index.js';
import { openMessageFile, saveFamilyIdentity, sealMessageFile } from '../../../src/messages/files.js';
import { OggOpusFileWriter, writeOggOpusFile, writeWavFile } from '../../../src/audio/files.js';
import { removeTempFiles, unlinkDurable, writeFileAtomic, writeFileAtomicPath } from '../../../src/util/durable-fs.js';
import { addFamilyMember } from '../../../src/cli/family-book.js';
import { loadOrCreateToyIdentity } from '../../../src/cli/sim-toy.js';
import { expectAtomicWrites, expectDurableUnlinks, recordNodeFileSystem, RecordingFileSystem } from '../../helpers/recording-fs.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'plushlink-durable-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const grandma = generateFamilyIdentity('Grandma');
const mia = generateFamilyIdentity('Mia');
let createdAt = 1_767_225_600_000;
const seal = (text: string): Uint8Array => sealVoiceMessage({ audio: utf8(`OggS ${text}`), from: grandma, to: [mia], createdAt: createdAt++ });
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
/** Opus packets with a valid TOC (CELT, 20 ms, one frame). */
const packets = (n: number): Uint8Array[] => Array.from({ length: n }, (_, i) => Uint8Array.of(0xf8, i, i, i));

/** Runs `f` with the Node file system recorded; returns what it did to the disk. */
async function recordingNode<T>(f: () => Promise<T>): Promise<{ result: T; ops: ReturnType<RecordingFileSystem['take']> }> {
  const { rec, restore } = recordNodeFileSystem();
  try {
    const result = await f();
    return { result, ops: rec.take() };
  } finally {
    restore();
  }
}

describe('util/durable-fs itself', () => {
  it('writeFileAtomic: create, write, fsync, close, rename, folder fsync — and the bytes are the target', async () => {
    const fs = new RecordingFileSystem();
    await writeFileAtomic(fs, dir, 'a.bin', Uint8Array.of(1, 2, 3));
    const [bytes] = expectAtomicWrites(fs.take(), [join(dir, 'a.bin')]);
    expect(Array.from(bytes!)).toEqual([1, 2, 3]);
    expect(Array.from(readFileSync(join(dir, 'a.bin')))).toEqual([1, 2, 3]);
  });

  it('writeFileAtomicPath (by path, the Node file system): the same sequence', async () => {
    const target = join(dir, 'sub', 'b.txt');
    const { ops } = await recordingNode(() => writeFileAtomicPath(target, 'hello'));
    expect(expectAtomicWrites(ops, [target]).map(text)).toEqual(['hello']);
  });

  it('unlinkDurable: unlink, then folder fsync; nothing when the file is not there', async () => {
    const fs = new RecordingFileSystem();
    await writeFileAtomic(fs, dir, 'gone', Uint8Array.of(9));
    fs.take();
    expect(await unlinkDurable(fs, dir, join(dir, 'gone'))).toBe(true);
    expectDurableUnlinks(fs.take(), [join(dir, 'gone')]);
    expect(await unlinkDurable(fs, dir, join(dir, 'gone'))).toBe(false);
    expect(fs.take()).toEqual([]);
  });

  it('removeTempFiles: each temp file unlinked, then the folder fsynced once', async () => {
    const fs = new RecordingFileSystem();
    const a = await fs.createExclusive(join(dir, '.x.aaaaaaaaaaaa.tmp'));
    await a.close();
    fs.take();
    expect(await removeTempFiles(fs, dir)).toEqual([join(dir, '.x.aaaaaaaaaaaa.tmp')]);
    expect(fs.take()).toEqual([
      { op: 'unlink', path: join(dir, '.x.aaaaaaaaaaaa.tmp') },
      { op: 'fsyncDir', path: dir },
    ]);
  });
});

describe('every store that persists', () => {
  it("the toy's state file (FileToyStorage): each save is one durable atomic write", async () => {
    const path = join(dir, 'toy', 'flash.json');
    const storage = new FileToyStorage(path);
    const state = emptyToyState();
    const first = await recordingNode(() => storage.save(state));
    expect(JSON.parse(text(expectAtomicWrites(first.ops, [path])[0]!))).toEqual(state);
    const second = await recordingNode(() => storage.save({ ...state, volume: 31, failedAttempts: 2, lockedUntil: 5000 }));
    expect(JSON.parse(text(expectAtomicWrites(second.ops, [path])[0]!))).toMatchObject({ volume: 31, failedAttempts: 2 });
    expect(await storage.load()).toMatchObject({ volume: 31 });
  });

  it("the companion's keystore (FileKeystore): save is a durable atomic write, clear a durable delete", async () => {
    const fs = new RecordingFileSystem();
    const path = join(dir, 'companion', 'keystore.json');
    const ks = new FileKeystore(path, { fs });
    const kp = generateX25519KeyPair();
    const data: KeystoreData = { version: 1, identity: { publicKey: toHex(kp.publicKey), secretKey: toHex(kp.secretKey) }, displayName: 'Phone', toys: [] };
    await ks.save(data);
    expect(JSON.parse(text(expectAtomicWrites(fs.take(), [path])[0]!))).toEqual(data);
    await ks.save({ ...data, displayName: 'Tablet' });
    expect(JSON.parse(text(expectAtomicWrites(fs.take(), [path])[0]!)).displayName).toBe('Tablet');
    expect(await ks.clear()).toBe(0);
    expectDurableUnlinks(fs.take(), [path]);
    expect(await ks.load()).toBeUndefined();
  });

  it('family identity files (saveFamilyIdentity) and the toy identity of the simulated toy', async () => {
    const idPath = join(dir, 'family', 'me.plid');
    const fam = await recordingNode(() => saveFamilyIdentity(idPath, grandma));
    expect(expectAtomicWrites(fam.ops, [idPath])).toHaveLength(1);
    const toyPath = join(dir, 'toy', 'identity.json');
    const toy = await recordingNode(() => loadOrCreateToyIdentity(toyPath));
    expect(toy.result.created).toBe(true);
    expect(JSON.parse(text(expectAtomicWrites(toy.ops, [toyPath])[0]!)).publicKey).toBe(toHex(toy.result.toy.identity.publicKey));
  });

  it('the outbox: add is a durable atomic write, remove a durable delete; temp files of a crash are deleted durably on open', async () => {
    const fs = new RecordingFileSystem();
    const outDir = join(dir, 'outbox');
    let outbox = await Outbox.open(outDir, { fs });
    fs.take();
    const env = seal('one');
    const id = peekMessageId(env);
    expect(await outbox.add(env)).toEqual({ id, added: true });
    const [bytes] = expectAtomicWrites(fs.take(), [join(outDir, `${id}.plvm`)]);
    expect(bytes).toEqual(env);
    expect(await outbox.remove(id)).toBe(true);
    expectDurableUnlinks(fs.take(), [join(outDir, `${id}.plvm`)]);
    // crash debris: a temp file beside the queue
    const t = await fs.createExclusive(join(outDir, `.${id}.plvm.0123456789ab.tmp`));
    await t.close();
    fs.take();
    outbox = await Outbox.open(outDir, { fs });
    expectDurableUnlinks(fs.take(), [join(outDir, `.${id}.plvm.0123456789ab.tmp`)]);
  });

  it('the inbox (FileInboxStore): put is a durable atomic write, remove a durable delete', async () => {
    const fs = new RecordingFileSystem();
    const inDir = join(dir, 'inbox');
    const inbox = await FileInboxStore.open(inDir, { fs });
    fs.take();
    const env = seal('two');
    const id = peekMessageId(env);
    await inbox.put(id, env);
    expect(expectAtomicWrites(fs.take(), [join(inDir, `${id}.plvm`)])).toEqual([env]);
    expect(await inbox.remove(id)).toBe(true);
    expectDurableUnlinks(fs.take(), [join(inDir, `${id}.plvm`)]);
  });

  it('the folder relay: upload is a durable atomic write', async () => {
    const fs = new RecordingFileSystem();
    const relayDir = join(dir, 'relay');
    const relay = await FolderRelay.open(relayDir, { fs });
    fs.take();
    const env = seal('three');
    const id = peekMessageId(env);
    expect(await relay.upload(id, env)).toBe('stored');
    expect(expectAtomicWrites(fs.take(), [join(relayDir, `${id}.plvm`)])).toEqual([env]);
  });

  it('sealed and opened message files (sealMessageFile, openMessageFile), queued envelopes included', async () => {
    const idPath = join(dir, 'grandma.plid');
    const miaPath = join(dir, 'mia.plid');
    await saveFamilyIdentity(idPath, grandma);
    await saveFamilyIdentity(miaPath, mia);
    const audioPath = join(dir, 'hello.opus');
    await writeOggOpusFile(audioPath, packets(5));
    const outDir = join(dir, 'outbox');
    const envPath = join(dir, 'out', 'hello.plvm');
    const sealed = await recordingNode(() =>
      sealMessageFile({ audioPath, identityPath: idPath, recipients: [familyKeyCode(familyPublicKey(mia))], outputPath: envPath, outboxDir: outDir }),
    );
    expectAtomicWrites(sealed.ops, [join(outDir, `${sealed.result.id}.plvm`), envPath]);
    const audioOut = join(dir, 'opened', 'hello.opus');
    const opened = await recordingNode(() => openMessageFile({ envelopePath: envPath, identityPath: miaPath, outputPath: audioOut }));
    expect(expectAtomicWrites(opened.ops, [audioOut])).toEqual([opened.result.audio]);
  });

  it("the CLI's family book (src/cli/family-book.ts)", async () => {
    const path = join(dir, 'home', 'family.json');
    const r = await recordingNode(() => addFamilyMember(path, familyKeyCode(familyPublicKey(mia)), 1000));
    expect(r.result.added).toBe(true);
    expect(JSON.parse(text(expectAtomicWrites(r.ops, [path])[0]!)).members).toHaveLength(1);
  });

  it('audio files: WAV and Ogg Opus whole-file writes, and a streamed recording (OggOpusFileWriter) committed or aborted', async () => {
    const wav = join(dir, 'a.wav');
    const w = await recordingNode(() => writeWavFile(wav, Int16Array.from([1, 2, 3])));
    expect(expectAtomicWrites(w.ops, [wav])[0]).toEqual(new Uint8Array(readFileSync(wav)));
    const ogg = join(dir, 'b.opus');
    const o = await recordingNode(() => writeOggOpusFile(ogg, packets(3)));
    expect(expectAtomicWrites(o.ops, [ogg])[0]).toEqual(new Uint8Array(readFileSync(ogg)));
    const rec = join(dir, 'rec.opus');
    const s = await recordingNode(async () => {
      const writer = new OggOpusFileWriter(rec);
      for (const p of packets(60)) writer.writePacket(p);
      await writer.finish();
    });
    // one atomic write whose data came in pages, and the file is exactly those pages
    expect(expectAtomicWrites(s.ops, [rec])[0]).toEqual(new Uint8Array(readFileSync(rec)));
    const gone = join(dir, 'aborted.opus');
    const a = await recordingNode(async () => {
      const writer = new OggOpusFileWriter(gone);
      writer.writePacket(packets(1)[0]!);
      await writer.abort();
    });
    // an aborted recording never reaches its name: the temp file is closed and removed
    expect(a.ops.map((op) => op.op).join(',')).toMatch(/^create(,write)*,close,unlink$/);
    expect(a.ops.some((op) => op.op === 'rename')).toBe(false);
  });
});
