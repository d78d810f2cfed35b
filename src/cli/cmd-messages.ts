/** `plushlink message key|seal|open`, `plushlink outbox list|flush`, `plushlink forget-all`. */
import type { Command } from 'commander';
import { FileKeystore, PlushlinkError } from '../index.js';
import {
  familyKeyCode,
  familyKeyFingerprint,
  familyPublicKey,
  flushOutbox,
  forgetAll,
  listOutbox,
  loadOrCreateFamilyIdentity,
  openMessageFile,
  sealMessageFile,
} from '../messages/index.js';
import { collect, defaults, interruptSignal, note, out, outJson, positiveInt, Progress, type GlobalOptions } from './common.js';
import { terminalQr } from './label-svg.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export function registerMessageCommands(program: Command): void {
  const message = program
    .command('message')
    .description('end-to-end sealed voice messages (format: docs/MESSAGES.md)')
    .addHelpText('after', `
Family keys: each device has an identity file (--identity, default
$PLUSHLINK_HOME/family-identity.json). \`message key\` prints its family key code (PLFK:...),
which the other device passes to --to (recipients) or --from (trusted senders); compare the
fingerprints on both screens.`);

  message
    .command('key')
    .description("print this device's family key code (creating the identity file when missing)")
    .option('--identity <file>', 'identity file (mode 0600)', defaults.identity())
    .option('--name <name>', 'display name for a new identity', 'plushlink CLI')
    .option('--qr', 'also draw the key code as a QR code')
    .option('--json', 'print JSON')
    .action(async (o: { identity: string; name: string; qr?: boolean; json?: boolean }) => {
      const id = await loadOrCreateFamilyIdentity(o.identity, o.name);
      const pub = familyPublicKey(id);
      const code = familyKeyCode(pub);
      const fingerprint = familyKeyFingerprint(pub);
      if (o.json) {
        outJson({ name: pub.name, code, fingerprint, identity: o.identity });
        return;
      }
      if (o.qr) out(await terminalQr(code));
      out(`name         ${pub.name}`);
      out(`key code     ${code}`);
      out(`fingerprint  ${fingerprint}`);
    });

  message
    .command('seal')
    .description('encrypt a voice recording for one or more family members and sign it')
    .argument('<audio>', 'an Ogg Opus file (sealed as it is, after checking every page and packet) or a WAV file (any rate, mono or stereo; encoded as 16 kHz mono voice)')
    .requiredOption('--to <code>', "a recipient's family key code (PLFK:...); repeat for several", collect)
    .option('--identity <file>', "the sender's identity file", defaults.identity())
    .option('--out <file>', 'write the sealed envelope here')
    .option('--outbox [dir]', `queue it in the outbox for upload (default dir ${defaults.outbox()})`)
    .option('--json', 'print JSON')
    .action(async (audio: string, o: { to: string[]; identity: string; out?: string; outbox?: string | boolean; json?: boolean }) => {
      const outboxDir = o.outbox === true ? defaults.outbox() : typeof o.outbox === 'string' ? o.outbox : undefined;
      if (o.out === undefined && outboxDir === undefined) throw new PlushlinkError('BAD_PAYLOAD', 'say where the envelope goes: --out FILE and/or --outbox [DIR]');
      const r = await sealMessageFile({ audioPath: audio, identityPath: o.identity, recipients: o.to, ...(o.out ? { outputPath: o.out } : {}), ...(outboxDir ? { outboxDir } : {}) });
      if (o.json) outJson({ ...r, ...(outboxDir ? { outboxDir } : {}) });
      else out(`sealed message ${r.id} (${r.size} bytes) for ${o.to.length} recipient(s)${r.outputPath ? ` → ${r.outputPath}` : ''}${r.queued ? ` and queued in ${outboxDir}` : ''}`);
    });

  message
    .command('open')
    .description('verify and decrypt a sealed voice message addressed to this device')
    .argument('<envelope>', 'the sealed envelope file')
    .option('--identity <file>', "the recipient's identity file", defaults.identity())
    .option('--out <file>', 'write the decrypted Ogg Opus audio here')
    .option('--from <code>', "accept only these senders' family key codes (PLFK:...); repeatable", collect)
    .option('--json', 'print JSON')
    .addHelpText('after', `
Errors: TAMPERED (a byte was changed), BAD_SIGNATURE (a replaced signature), NOT_A_RECIPIENT,
UNKNOWN_VERSION, BAD_ENVELOPE, UNTRUSTED_SENDER (with --from).`)
    .action(async (envelope: string, o: { identity: string; out?: string; from?: string[]; json?: boolean }) => {
      const m = await openMessageFile({ envelopePath: envelope, identityPath: o.identity, ...(o.out ? { outputPath: o.out } : {}), ...(o.from ? { trustedSenders: o.from } : {}) });
      const info = {
        id: m.messageId,
        version: m.version,
        createdAt: new Date(m.createdAt).toISOString(),
        sender: hex(m.sender),
        senderName: m.trustedSender?.name,
        audioBytes: m.audio.length,
        recipients: m.recipients.length,
        ...(o.out ? { out: o.out } : {}),
      };
      if (o.json) outJson(info);
      else out(`message ${info.id} from ${info.senderName ? `"${info.senderName}" ` : ''}${info.sender.slice(0, 16)}… created ${info.createdAt}: ${info.audioBytes} bytes of audio${o.out ? ` → ${o.out}` : ''}`);
    });

  const outbox = program.command('outbox').description('the durable outbox of sealed messages waiting for upload');

  outbox
    .command('list')
    .description('list queued messages, oldest first (reads only the signed headers)')
    .option('--outbox <dir>', 'outbox folder', defaults.outbox())
    .option('--json', 'print JSON')
    .action(async (o: { outbox: string; json?: boolean }) => {
      const entries = await listOutbox(o.outbox);
      if (o.json) {
        outJson(entries.map((e) => ({ ...e, createdAt: new Date(e.createdAt).toISOString() })));
        return;
      }
      if (entries.length === 0) note(`the outbox ${o.outbox} is empty`);
      for (const e of entries) out(`${e.id}\t${e.size} bytes\t${new Date(e.createdAt).toISOString()}${e.error ? `\t${e.error}` : ''}`);
    });

  outbox
    .command('flush')
    .description('upload queued messages to a relay; a message leaves the outbox only once the relay acknowledged it')
    .requiredOption('--relay <dir>', 'a folder relay (the example relay: stores envelopes as <id>.plvm)')
    .option('--outbox <dir>', 'outbox folder', defaults.outbox())
    .option('--attempts <n>', 'upload attempts per message', positiveInt('--attempts'), 5)
    .option('--continue-on-failure', 'go on with the next message when one keeps failing')
    .option('--json', 'print JSON')
    .action(async (o: { relay: string; outbox: string; attempts: number; continueOnFailure?: boolean; json?: boolean }) => {
      const { signal, dispose } = interruptSignal();
      const progress = new Progress();
      try {
        progress.update(`uploading ${o.outbox} → ${o.relay}…`, true);
        const r = await flushOutbox(o.outbox, o.relay, { signal, maxAttempts: o.attempts, continueOnFailure: Boolean(o.continueOnFailure) });
        progress.done();
        const failed = r.failed.map((f) => ({ id: f.id, attempts: f.attempts, error: f.error instanceof Error ? f.error.message : String(f.error) }));
        if (o.json) outJson({ uploaded: r.uploaded, duplicates: r.duplicates, failed, remaining: r.remaining });
        else out(`uploaded ${r.uploaded.length}, already on the relay ${r.duplicates.length}, failed ${failed.length}, remaining ${r.remaining}`);
        if (failed.length > 0) throw new PlushlinkError('OUTBOX_ERROR', `${failed.length} message(s) not acknowledged by the relay: ${failed[0]!.error}`);
      } finally {
        progress.done();
        dispose();
      }
    });

  program
    .command('forget-all')
    .description("delete a child's data on this companion: recordings, the outbox, pairings (the keystore) and family keys")
    .option('--yes', 'really delete (without it, only show what would be deleted)')
    .option('--recordings <dir>', 'recordings folder (emptied)', defaults.recordings())
    .option('--outbox <dir>', 'outbox folder (emptied, unsent messages included)', defaults.outbox())
    .option('--identity <file>', 'family identity file', defaults.identity())
    .option('--json', 'print the report as JSON')
    .addHelpText('after', `
The keystore is --keystore (default $PLUSHLINK_HOME/keystore.json). Toys are not contacted:
to take this companion off a toy's allow-list, run \`plushlink forget <toy>\` first, or
factory-reset the toy.`)
    .action(async (o: { yes?: boolean; recordings: string; outbox: string; identity: string; json?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const keystore = g.keystore ?? defaults.keystore();
      if (!o.yes) {
        const plan = { dryRun: true, recordings: o.recordings, outbox: o.outbox, familyKeys: [o.identity], keystore };
        if (o.json) outJson(plan);
        else {
          out(`would delete: recordings in ${o.recordings}, the outbox ${o.outbox}, family keys ${o.identity}, pairings in ${keystore}`);
          out('nothing deleted: add --yes');
        }
        return;
      }
      const r = await forgetAll({ recordingsDir: o.recordings, outboxDir: o.outbox, familyKeyPaths: [o.identity], pairingStore: new FileKeystore(keystore) });
      if (o.json) outJson(r);
      else out(`deleted ${r.recordings.count} recording(s), ${r.outbox.count} outbox file(s), ${r.familyKeys.count} family key file(s), ${r.pairings.count} pairing(s) (${r.totalFiles} files)`);
      if (r.errors.length > 0) throw new PlushlinkError('INTERNAL', `could not delete ${r.errors.length} item(s): ${r.errors[0]!.path}: ${r.errors[0]!.message}`);
    });
}
