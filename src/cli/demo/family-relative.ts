/**
 * The far-away grandparent's app in the family demo (`npm run demo -- --family`), run as a second
 * process with its own identity: it opens its mailbox on the relay and allows the child, waits
 * (long poll) for the child's message, verifies and opens it and writes a WAV, acknowledges it with
 * a signed receipt, replies with its own recording, and keeps the reply until the child's receipt
 * comes back. It reports each step as one JSON line on stdout.
 *
 * Usage: family-relative --relay URL --identity FILE --child PLFK:… --out DIR --reply FILE.opus
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeWav, oggOpusToPcm } from '../../audio/index.js';
import { HttpRelay, Inbox, MemoryInboxStore, Outbox, familyKeyCode, loadFamilyIdentity, parseFamilyKeyCode, sealVoiceMessage } from '../../messages/index.js';

function say(event: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(event) + '\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { relay: { type: 'string' }, identity: { type: 'string' }, child: { type: 'string' }, out: { type: 'string' }, reply: { type: 'string' } } });
  if (!values.relay || !values.identity || !values.child || !values.out || !values.reply) throw new Error('usage: family-relative --relay URL --identity FILE --child PLFK:… --out DIR --reply FILE.opus');
  const child = parseFamilyKeyCode(values.child);
  const me = await loadFamilyIdentity(values.identity);
  const family = [child];
  const relay = new HttpRelay({ url: values.relay, identity: me, family });
  const inbox = new Inbox({ identity: me, relay, family, store: new MemoryInboxStore() });
  await inbox.sync(); // opens the mailbox and allows the child
  say({ event: 'ready', code: familyKeyCode(me), mailboxId: relay.mailboxId });

  // Wait for the child's message: a long poll that the relay answers as soon as it arrives.
  let messageId: string | undefined;
  const deadline = Date.now() + 120_000;
  while (!messageId && Date.now() < deadline) {
    const pending = await relay.listPending({ waitS: 30 });
    if (pending.envelopes.length === 0) continue;
    const wokenAt = Date.now();
    const report = await inbox.sync({ mailbox: false });
    messageId = report.received[0];
    if (messageId) say({ event: 'received', id: messageId, wokenAt, acknowledged: report.acknowledged.includes(messageId) });
  }
  if (!messageId) throw new Error('no message from the child within 120 s');
  const opened = await inbox.open(messageId);
  await mkdir(values.out, { recursive: true });
  const wav = join(values.out, 'grandparent-received.wav');
  await writeFile(wav, encodeWav(await oggOpusToPcm(opened.audio), 16000, 1));
  say({ event: 'opened', id: messageId, from: opened.trustedSender?.name, audioBytes: opened.audio.length, wav });

  // Reply, and keep the reply until the child's receipt is back.
  const outbox = await Outbox.open(await mkdtemp(join(values.out, 'grandparent-outbox-')));
  const reply = sealVoiceMessage({ audio: new Uint8Array(readFileSync(values.reply)), from: me, to: [child] });
  const { id: replyId } = await outbox.add(reply);
  const sent = await outbox.sync(relay, { family });
  say({ event: 'replied', id: replyId, uploaded: sent.uploaded.includes(replyId) });
  for (let i = 0; i < 600; i++) {
    const r = await outbox.sync(relay, { family });
    if (r.delivered.includes(replyId)) {
      say({ event: 'reply-delivered', id: replyId });
      return;
    }
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error("the child's receipt for the reply did not come back within 120 s");
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    say({ event: 'error', code: (e as { code?: string }).code ?? 'INTERNAL', message: (e as Error).message });
    process.exit(1);
  },
);
