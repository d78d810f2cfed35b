/** Mailboxes and their allow-lists (docs/RELAY.md §2, §4). */
import type { FastifyInstance } from 'fastify';
import { fromHex, isLowOrderX25519Key, isSmallOrderEd25519Key } from 'plushlink/protocol';
import { keyIdHexOf, mailboxIdOf } from 'plushlink/messages';
import { signerOf, type RouteContext } from '../app.js';
import { problem } from '../problems.js';
import { idHex, keyHex, ownedMailbox } from './common.js';

export async function mailboxRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { store, now, config } = ctx;

  app.put<{ Params: { mailboxId: string }; Body: { signPublicKey: string; boxPublicKey: string } }>(
    '/mailboxes/:mailboxId',
    {
      schema: {
        params: { type: 'object', properties: { mailboxId: idHex }, required: ['mailboxId'] },
        body: {
          type: 'object',
          properties: { signPublicKey: keyHex, boxPublicKey: keyHex },
          required: ['signPublicKey', 'boxPublicKey'],
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const signer = signerOf(request);
      const { signPublicKey, boxPublicKey } = request.body;
      if (signPublicKey !== signer.keyId) throw problem('RELAY_NOT_OWNER', 'a mailbox is created by a request signed with its own key');
      const keys = { signPublicKey: fromHex(signPublicKey), boxPublicKey: fromHex(boxPublicKey) };
      const mailboxId = mailboxIdOf(keys);
      if (mailboxId !== request.params.mailboxId) throw problem('RELAY_BAD_REQUEST', 'the mailbox id is not the one these keys give');
      // A low-order box key names no one (RELAY §4): nothing could be sealed to the mailbox.
      if (isLowOrderX25519Key(keys.boxPublicKey)) throw problem('RELAY_BAD_REQUEST', 'the box key is a low-order X25519 point');
      const keyId = keyIdHexOf(keys.boxPublicKey);
      const result = await store.createMailbox({ mailboxId, keyId, signPublicKey, boxPublicKey, createdAt: now() });
      return reply.code(result === 'created' ? 201 : 200).send({ mailboxId, keyId, created: result === 'created' });
    },
  );

  app.get<{ Params: { mailboxId: string } }>(
    '/mailboxes/:mailboxId',
    { schema: { params: { type: 'object', properties: { mailboxId: idHex }, required: ['mailboxId'] } } },
    async (request) => {
      const mailbox = await ownedMailbox(ctx, request, request.params.mailboxId);
      const usage = await store.mailboxUsage(mailbox.mailboxId);
      const senders = await store.listSenders(mailbox.mailboxId);
      return {
        mailboxId: mailbox.mailboxId,
        keyId: mailbox.keyId,
        envelopes: usage.envelopes,
        bytes: usage.bytes,
        quota: { envelopes: config.quotas.maxEnvelopes, bytes: config.quotas.maxBytes },
        senders,
      };
    },
  );

  app.delete<{ Params: { mailboxId: string } }>(
    '/mailboxes/:mailboxId',
    { schema: { params: { type: 'object', properties: { mailboxId: idHex }, required: ['mailboxId'] } } },
    async (request) => {
      const mailbox = await ownedMailbox(ctx, request, request.params.mailboxId);
      return { deleted: await store.deleteMailbox(mailbox.mailboxId) };
    },
  );

  const senderSchema = {
    params: { type: 'object', properties: { mailboxId: idHex, sender: keyHex }, required: ['mailboxId', 'sender'] },
  };
  app.put<{ Params: { mailboxId: string; sender: string } }>('/mailboxes/:mailboxId/senders/:sender', { schema: senderSchema }, async (request) => {
    const mailbox = await ownedMailbox(ctx, request, request.params.mailboxId);
    // A small-order signing key names no one (RELAY §4): anyone could sign as it.
    if (isSmallOrderEd25519Key(fromHex(request.params.sender))) {
      throw problem('RELAY_BAD_REQUEST', 'the sender key is a small-order Ed25519 point: anyone could sign as it');
    }
    return { changed: await store.allowSender(mailbox.mailboxId, request.params.sender, now()) };
  });
  app.delete<{ Params: { mailboxId: string; sender: string } }>('/mailboxes/:mailboxId/senders/:sender', { schema: senderSchema }, async (request) => {
    const mailbox = await ownedMailbox(ctx, request, request.params.mailboxId);
    return { changed: await store.disallowSender(mailbox.mailboxId, request.params.sender) };
  });
}
