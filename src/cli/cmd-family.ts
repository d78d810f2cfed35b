/**
 * `plushlink family add|list|remove`: the family members this device trusts and writes to
 * (docs/MESSAGES.md §2.3, docs/RELAY.md §4). Adding or removing one also updates this device's
 * mailbox allow-list on the relay, unless `--offline`.
 */
import type { Command } from 'commander';
import { HttpRelay, loadOrCreateFamilyIdentity, type FamilyIdentity } from '../messages/index.js';
import { defaults, note, out, outJson } from './common.js';
import { addFamilyMember, loadFamily, removeFamilyMember, type FamilyMember } from './family-book.js';

interface RelayOpts {
  relay: string;
  offline?: boolean;
  identity: string;
  family: string;
}

/** Brings the relay's allow-list of this device's mailbox in line with the family list. */
async function syncAllowList(o: RelayOpts, identity: FamilyIdentity, members: readonly FamilyMember[]): Promise<string> {
  const relay = new HttpRelay({ url: o.relay, identity, family: members.map((m) => m.key), maxAttempts: 2 });
  await relay.ensureMailbox();
  const info = await relay.getMailbox();
  const want = new Set(members.map((m) => Buffer.from(m.key.signPublicKey).toString('hex')));
  let added = 0;
  let removed = 0;
  for (const k of want) if (!info.senders.includes(k) && (await relay.allowSender(k))) added++;
  for (const k of info.senders) if (!want.has(k) && (await relay.disallowSender(k))) removed++;
  return `relay ${o.relay}: mailbox allows ${want.size} sender(s) (${added} added, ${removed} removed)`;
}

async function afterChange(o: RelayOpts): Promise<string | undefined> {
  if (o.offline) return undefined;
  const identity = await loadOrCreateFamilyIdentity(o.identity, 'plushlink CLI');
  return syncAllowList(o, identity, await loadFamily(o.family));
}

export function registerFamilyCommands(program: Command): void {
  const family = program
    .command('family')
    .description('the family members this device trusts: only they can write to it, and it writes only to them')
    .addHelpText('after', `
Get a member's key code from their device (\`plushlink message key\`, or the web app's "My key")
and compare the fingerprint shown on both screens before you trust it.`);
  const common = (c: Command): Command =>
    c
      .option('--family <file>', 'the family list', defaults.family())
      .option('--identity <file>', "this device's identity file", defaults.identity())
      .option('--relay <url>', 'the relay ($PLUSHLINK_RELAY)', defaults.relay())
      .option('--offline', 'change only the local list (the relay learns it on the next `plushlink inbox`)')
      .option('--json', 'print JSON');

  common(family.command('add').description('trust a family member by their key code (PLFK:…)').argument('<code>', 'their family key code')).action(
    async (code: string, o: RelayOpts & { json?: boolean }) => {
      const { member, added } = await addFamilyMember(o.family, code);
      const relayLine = await afterChange(o).catch((e: unknown) => `relay not updated (${(e as { code?: string }).code ?? 'ERROR'}: ${(e as Error).message}); run \`plushlink inbox\` later`);
      if (o.json) return outJson({ added, name: member.key.name, fingerprint: member.fingerprint, mailboxId: member.mailboxId, relay: relayLine ?? null });
      out(`${added ? 'added' : 'already trusted'}  ${member.key.name}`);
      out(`fingerprint  ${member.fingerprint}   (compare it with the one on their screen)`);
      if (relayLine) note(relayLine);
    },
  );

  family
    .command('list')
    .description('show the trusted family members')
    .option('--family <file>', 'the family list', defaults.family())
    .option('--json', 'print JSON')
    .action(async (o: { family: string; json?: boolean }) => {
      const members = await loadFamily(o.family);
      if (o.json) return outJson(members.map((m) => ({ name: m.key.name, fingerprint: m.fingerprint, code: m.code, mailboxId: m.mailboxId, addedAt: m.addedAt })));
      if (members.length === 0) return out('no family members yet: plushlink family add PLFK:…');
      for (const m of members) out(`${m.key.name.padEnd(20)} ${m.fingerprint}`);
    });

  common(family.command('remove').description('stop trusting a member (by name or fingerprint)').argument('<who>', 'name or fingerprint')).action(
    async (who: string, o: RelayOpts & { json?: boolean }) => {
      const m = await removeFamilyMember(o.family, who);
      const relayLine = await afterChange(o).catch((e: unknown) => `relay not updated (${(e as { code?: string }).code ?? 'ERROR'}: ${(e as Error).message}); run \`plushlink inbox\` later`);
      if (o.json) return outJson({ removed: m.key.name, fingerprint: m.fingerprint, relay: relayLine ?? null });
      out(`removed  ${m.key.name}  ${m.fingerprint}`);
      if (relayLine) note(relayLine);
    },
  );
}
