/** Delivery receipts waiting for their senders (docs/RELAY.md §5). */
import type { FastifyInstance } from 'fastify';
import { toBase64 } from 'plushlink/protocol';
import { MAX_LIST } from 'plushlink/messages';
import { signerOf, type RouteContext } from '../app.js';
import { idHex } from './common.js';

export async function receiptRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { store } = ctx;

  app.get('/receipts', async (request) => {
    const signer = signerOf(request);
    const rows = await store.listReceipts(signer.keyId, MAX_LIST + 1);
    return {
      receipts: rows.slice(0, MAX_LIST).map((r) => ({
        messageId: r.messageId,
        mailboxId: r.mailboxId,
        recipient: r.recipient,
        recipientBox: r.recipientBox,
        signature: toBase64(r.signature),
        at: r.at,
      })),
      more: rows.length > MAX_LIST,
    };
  });

  app.delete<{ Params: { messageId: string } }>(
    '/receipts/:messageId',
    { schema: { params: { type: 'object', properties: { messageId: idHex }, required: ['messageId'] } } },
    async (request) => ({ removed: await store.deleteReceipts(signerOf(request).keyId, request.params.messageId) }),
  );
}
