import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  familyKeyCode,
  flushOutbox,
  generateFamilyIdentity,
  listOutbox,
  loadOrCreateFamilyIdentity,
  openMessageFile,
  saveFamilyIdentity,
  sealMessageFile,
} from '../../../src/messages/index.js';

describe('file-level helpers for the CLI', () => {
  it('seal → outbox list → flush to a folder relay → open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plushlink-files-'));
    const grandma = await loadOrCreateFamilyIdentity(join(dir, 'grandma.json'), 'Grandma');
    expect((await loadOrCreateFamilyIdentity(join(dir, 'grandma.json'), 'ignored')).name).toBe('Grandma');
    const mia = generateFamilyIdentity('Mia');
    await saveFamilyIdentity(join(dir, 'mia.json'), mia);
    const audioPath = join(dir, 'hello.ogg');
    const clip = readFileSync(join(__dirname, '../../../fixtures/audio/toy-hello.opus'));
    writeFileSync(audioPath, clip);

    const sealed = await sealMessageFile({
      audioPath,
      identityPath: join(dir, 'grandma.json'),
      recipients: [familyKeyCode(mia)],
      outputPath: join(dir, 'hello.plvm'),
      outboxDir: join(dir, 'outbox'),
    });
    expect(sealed.queued).toBe(true);
    expect(readFileSync(join(dir, 'hello.plvm')).length).toBe(sealed.size);
    expect((await listOutbox(join(dir, 'outbox'))).map((e) => e.id)).toEqual([sealed.id]);

    const report = await flushOutbox(join(dir, 'outbox'), join(dir, 'relay'));
    expect(report.uploaded).toEqual([sealed.id]);
    expect(readdirSync(join(dir, 'relay'))).toEqual([`${sealed.id}.plvm`]);

    const opened = await openMessageFile({
      envelopePath: join(dir, 'relay', `${sealed.id}.plvm`),
      identityPath: join(dir, 'mia.json'),
      outputPath: join(dir, 'out', 'hello.ogg'),
      trustedSenders: [familyKeyCode(grandma)],
    });
    expect(opened.trustedSender?.name).toBe('Grandma');
    expect(readFileSync(join(dir, 'out', 'hello.ogg')).equals(clip)).toBe(true); // sealed unchanged
    await expect(
      openMessageFile({ envelopePath: join(dir, 'hello.plvm'), identityPath: join(dir, 'mia.json'), trustedSenders: [familyKeyCode(mia)] }),
    ).rejects.toMatchObject({ code: 'UNTRUSTED_SENDER' });
    await expect(openMessageFile({ envelopePath: join(dir, 'hello.plvm'), identityPath: join(dir, 'grandma.json') })).rejects.toMatchObject({
      code: 'NOT_A_RECIPIENT',
    });
  });

  it('refuses audio that is not a valid WAV or Ogg Opus file before sealing anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plushlink-files-'));
    await loadOrCreateFamilyIdentity(join(dir, 'me.json'), 'Me');
    const mia = generateFamilyIdentity('Mia');
    const seal = (audioPath: string): Promise<unknown> =>
      sealMessageFile({ audioPath, identityPath: join(dir, 'me.json'), recipients: [familyKeyCode(mia)], outputPath: join(dir, 'x.plvm') });
    writeFileSync(join(dir, 'pretend.ogg'), 'OggS pretend opus');
    await expect(seal(join(dir, 'pretend.ogg'))).rejects.toMatchObject({ code: 'BAD_OGG' });
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    await expect(seal(join(dir, 'notes.txt'))).rejects.toMatchObject({ code: 'BAD_AUDIO' });
    expect(readdirSync(dir).filter((f) => f.endsWith('.plvm'))).toEqual([]);
  });
});
