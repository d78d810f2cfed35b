/** Schema fragments and owner checks shared by the routes (docs/RELAY.md §2). */
import { toHex } from 'plushlink/protocol';
import type { FastifyRequest } from 'fastify';
import { signerOf, type RouteContext } from '../app.js';
import { problem } from '../problems.js';
import type { MailboxRecord } from '../store/types.js';

export const idHex = { type: 'string', pattern: '^[0-9a-f]{32}$' } as const;
export const keyHex = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;

/** The mailbox named in the URL, which the signer must own. */
export async function ownedMailbox(ctx: RouteContext, request: FastifyRequest, mailboxId: string): Promise<MailboxRecord> {
  const signer = signerOf(request);
  const mailbox = await ctx.store.getMailbox(mailboxId);
  if (!mailbox) throw problem('RELAY_NO_MAILBOX', 'no such mailbox');
  if (mailbox.signPublicKey !== signer.keyId) throw problem('RELAY_NOT_OWNER', 'only the mailbox owner may do this');
  return mailbox;
}

export { toHex };
