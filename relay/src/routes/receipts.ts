/** Delivery receipts waiting for their senders (docs/RELAY.md §5). */
import type { FastifyInstance } from 'fastify';
import { toBase64 } from 'plushlink/protocol';
import { MAX_LIST, RECEIPT_CURSOR_RE } from 'plushlink/messages';
import { signerOf, type RouteContext } from '../app.js';
import { idHex } from './common.js';

export async function receiptRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { store } = ctx;

  app.get<{ Querystring: { after?: string } }>(
    '/receipts',
    {
      schema: {
        querystring: { type: 'object', properties: { after: { type: 'string', pattern: RECEIPT_CURSOR_RE.source } }, additionalProperties: false },
      },
    },
    async (request) => {
    const signer = signerOf(request);
    const m = request.query.after ? RECEIPT_CURSOR_RE.exec(request.query.after) : null;
    const after = m ? { at: Number(m[1]), messageId: m[2]!, mailboxId: m[3]! } : undefined;
    const rows = await store.listReceipts(signer.keyId, MAX_LIST + 1, after);
    const page = rows.slice(0, MAX_LIST);
    const last = page[page.length - 1];
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
      ...(rows.length > MAX_LIST && last ? { next: `${last.at}-${last.messageId}-${last.mailboxId}` } : {}),
    };
    },
  );

  app.delete<{ Params: { messageId: string } }>(
    '/receipts/:messageId',
    { schema: { params: { type: 'object', properties: { messageId: idHex }, required: ['messageId'] } } },
    async (request) => ({ removed: await store.deleteReceipts(signerOf(request).keyId, request.params.messageId) }),
  );
}
