/**
 * `plushlink message send` and `plushlink inbox [--follow]`: voice messages through a relay
 * (docs/RELAY.md). A sent message stays in the outbox until every recipient's signed receipt is
 * back; `inbox` receives (verify, open, store, then acknowledge) and also collects the receipts of
 * what this device sent, re-sending what a relay lost.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { PlushlinkError } from '../index.js';
import { encodeWav, oggOpusToPcm } from '../audio/index.js';
import {
  FileInboxStore,
  HttpRelay,
  Inbox,
  Outbox,
  loadFamilyIdentity,
  sealMessageFile,
  type FamilyIdentity,
  type FamilyPublicKey,
  type ReceivedMessageInfo,
  type SyncOutboxReport,
} from '../messages/index.js';
import { writeFileAtomicPath } from '../util/durable-fs.js';
import { collect, defaults, interruptSignal, note, out, outJson, Progress } from './common.js';
import { findFamilyMembers, loadFamily } from './family-book.js';

interface Paths {
  identity: string;
  family: string;
  outbox: string;
  relay: string;
}

function withPaths(c: Command): Command {
  return c
    .option('--identity <file>', "this device's identity file", defaults.identity())
    .option('--family <file>', 'the trusted family list (plushlink family add)', defaults.family())
    .option('--outbox <dir>', 'outbox folder', defaults.outbox())
    .option('--relay <url>', 'the relay ($PLUSHLINK_RELAY)', defaults.relay());
}

async function open(o: Paths): Promise<{ identity: FamilyIdentity; family: FamilyPublicKey[]; relay: HttpRelay; outbox: Outbox }> {
  const identity = await loadFamilyIdentity(o.identity);
  const family = (await loadFamily(o.family)).map((m) => m.key);
  const relay = new HttpRelay({ url: o.relay, identity, family });
  const outbox = await Outbox.open(o.outbox);
  return { identity, family, relay, outbox };
}

function describeSync(r: SyncOutboxReport): string {
  const waiting = r.pending.length;
  return `sent ${r.uploaded.length}, delivered (receipts back) ${r.delivered.length}, waiting for receipts ${waiting}${r.failed.length ? `, failed ${r.failed.length}` : ''}${r.invalidReceipts.length ? `, invalid receipts ignored ${r.invalidReceipts.length}` : ''}`;
}

function nameOf(family: readonly FamilyPublicKey[], key: FamilyPublicKey): string {
  return family.find((f) => Buffer.from(f.signPublicKey).equals(Buffer.from(key.signPublicKey)))?.name ?? key.name;
}

export function registerInboxCommands(program: Command): void {
  const message = program.commands.find((c) => c.name() === 'message') ?? program.command('message').description('end-to-end sealed voice messages');

  withPaths(
    message
      .command('send')
      .description('seal an audio file (Ogg Opus or WAV) to family members and send it through the relay')
      .argument('<audio>', 'the audio file')
      .requiredOption('--to <who>', 'a family member (name or fingerprint, see `plushlink family list`); repeat for several', collect),
  )
    .option('--json', 'print JSON')
    .action(async (audio: string, o: Paths & { to: string[]; json?: boolean }) => {
      const members = await loadFamily(o.family);
      const recipients = o.to.map((who) => {
        const found = findFamilyMembers(members, who);
        if (found.length !== 1) {
          throw new PlushlinkError(found.length ? 'BAD_PAYLOAD' : 'NOT_FOUND', found.length ? `"${who}" names ${found.length} family members: use the fingerprint` : `"${who}" is not in the family list (plushlink family add PLFK:…)`);
        }
        return found[0]!;
      });
      const sealed = await sealMessageFile({ audioPath: audio, identityPath: o.identity, recipients: recipients.map((r) => r.key), outboxDir: o.outbox });
      const { relay, outbox, family } = await open(o);
      const progress = new Progress();
      relay.on('request', (i) => progress.update(`relay: ${i.method} ${i.path.split('?')[0]}${i.attempt > 1 ? ` (attempt ${i.attempt})` : ''}`));
      relay.on('retry', (i) => progress.update(`relay: ${i.error.code}, retrying in ${Math.round(i.delayMs / 1000)} s…`, true));
      const { signal, dispose } = interruptSignal();
      try {
        const report = await outbox.sync(relay, { family, signal });
        progress.done();
        const failed = report.failed.find((f) => f.id === sealed.id);
        const result = {
          id: sealed.id,
          size: sealed.size,
          to: recipients.map((r) => r.key.name),
          uploaded: report.uploaded.includes(sealed.id) || report.duplicates.includes(sealed.id),
          queued: !report.delivered.includes(sealed.id),
          sync: describeSync(report),
        };
        if (o.json) outJson(result);
        else {
          out(`message ${sealed.id} (${sealed.size} bytes) for ${result.to.join(', ')}: ${result.uploaded ? 'on the relay' : 'NOT uploaded'}`);
          note(`the outbox keeps it until every recipient's receipt is back (plushlink inbox collects them); ${result.sync}`);
        }
        if (failed) {
          const e = failed.error;
          throw new PlushlinkError(
            (e as PlushlinkError).code ?? 'RELAY_ERROR',
            `not sent (${(e as Error).message}); it stays in the outbox and goes with the next \`plushlink inbox\` or \`message send\``,
          );
        }
      } finally {
        progress.done();
        dispose();
      }
    });

  withPaths(
    program
      .command('inbox')
      .description('receive messages from the family (verify, open, keep, acknowledge) and collect receipts of sent ones')
      .option('--store <dir>', 'where received envelopes are kept', defaults.inbox())
      .option('--out <dir>', 'also write each new message as <id>.ogg and <id>.wav here')
      .option('--follow', 'keep waiting for new messages until Ctrl-C'),
  )
    .option('--json', 'print one JSON line per new message and per sync')
    .action(async (o: Paths & { store: string; out?: string; follow?: boolean; json?: boolean }) => {
      const { identity, family, relay, outbox } = await open(o);
      if (family.length === 0) note('no family members yet: nobody can write to you (plushlink family add PLFK:…)');
      const store = await FileInboxStore.open(o.store);
      const inbox = new Inbox({ identity, relay, family, store });
      const { signal, dispose } = interruptSignal();
      const progress = new Progress();
      let received = 0;
      const writing: Promise<void>[] = [];
      inbox.on('message', (id: string, info: ReceivedMessageInfo) => {
        const job = (async () => {
          received++;
          const files: string[] = [];
          if (o.out) {
            const opened = await inbox.open(id);
            await writeFileAtomicPath(join(o.out, `${id}.ogg`), opened.audio);
            const pcm = await oggOpusToPcm(opened.audio).catch(() => undefined);
            if (pcm) {
              await writeFileAtomicPath(join(o.out, `${id}.wav`), encodeWav(pcm, 16000, 1));
              files.push(join(o.out, `${id}.wav`));
            }
          }
          const line = {
            event: 'message',
            id,
            from: nameOf(family, info.sender),
            createdAt: new Date(info.createdAt).toISOString(),
            audioBytes: info.audioLength,
            ...(files.length ? { wav: files[0] } : {}),
          };
          if (o.json) process.stdout.write(JSON.stringify(line) + '\n');
          else out(`new message from ${line.from}, ${line.createdAt}, ${line.audioBytes} bytes${line.wav ? ` → ${line.wav}` : ''}  (${id})`);
        })().catch((e: unknown) => note(`could not write message ${id}: ${(e as Error).message}`));
        writing.push(job);
      });
      const settle = async (): Promise<void> => {
        while (writing.length) await writing.shift();
      };
      inbox.on('rejected', (id: string, code: string) => note(`refused envelope ${id}: ${code}`));
      inbox.on('sync-error', (e: unknown, delayMs: number) =>
        progress.update(`relay: ${(e as { code?: string }).code ?? 'ERROR'}: ${(e as Error).message}; retrying in ${Math.round(delayMs / 1000)} s`, true),
      );
      try {
        const sent = await outbox.sync(relay, { family, signal });
        if (o.json) process.stdout.write(JSON.stringify({ event: 'outbox', ...sent }) + '\n');
        else if (sent.delivered.length + sent.pending.length + sent.uploaded.length > 0) note(`outbox: ${describeSync(sent)}`);
        if (!o.follow) {
          const r = await inbox.sync({ signal });
          await settle();
          progress.done();
          if (o.json) process.stdout.write(JSON.stringify({ event: 'sync', received: r.received.length, duplicates: r.duplicates.length, rejected: r.rejected, failed: r.failed.length }) + '\n');
          else out(`${r.received.length} new message(s); ${(await store.list()).length} kept in ${o.store}`);
          if (r.failed.length > 0) {
            const e = r.failed[0]!.error as PlushlinkError;
            throw new PlushlinkError(e.code ?? 'RELAY_ERROR', `${r.failed.length} message(s) not received yet (${e.message}); run again`);
          }
          return;
        }
        note(`waiting for messages on ${o.relay} (Ctrl-C to stop)`);
        for await (const r of inbox.follow({ signal })) {
          await settle();
          progress.done();
          if (r.received.length + r.duplicates.length > 0) {
            const sent2 = await outbox.sync(relay, { family, signal }).catch(() => undefined);
            if (sent2 && o.json) process.stdout.write(JSON.stringify({ event: 'outbox', ...sent2 }) + '\n');
          }
        }
        note(`stopped; ${received} new message(s)`);
      } finally {
        progress.done();
        dispose();
      }
    });
}
