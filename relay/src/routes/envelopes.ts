/** Upload, listing (with long poll), fetch, receipt and discard of envelopes (docs/RELAY.md §2, §4, §5). */
import type { FastifyInstance } from 'fastify';
import { fromBase64, fromHex, toHex } from 'plushlink/protocol';
import { isPlushlinkError } from 'plushlink/protocol';
import { MAX_LIST, MAX_WAIT_S, envelopeHash, inspectVoiceMessage, verifyDeliveryReceipt, type VoiceMessageInfo } from 'plushlink/messages';
import { signerOf, spendNonce, type RouteContext } from '../app.js';
import { nativeEd25519Verify } from '../native-ed25519.js';
import { problem } from '../problems.js';
import type { MailboxRecord } from '../store/types.js';
import { idHex, ownedMailbox } from './common.js';

const TO_RE = '^[0-9a-f]{32}(,[0-9a-f]{32}){0,63}$';

type Ctx = RouteContext & { waiters: Set<() => void> };

export async function envelopeRoutes(app: FastifyInstance, ctx: Ctx): Promise<void> {
  const { store, now, config } = ctx;

  app.put<{ Params: { messageId: string }; Querystring: { to: string }; Body: Buffer }>(
    '/envelopes/:messageId',
    {
      config: { nonce: 'in-write' },
      schema: {
        params: { type: 'object', properties: { messageId: idHex }, required: ['messageId'] },
        querystring: { type: 'object', properties: { to: { type: 'string', pattern: TO_RE } }, required: ['to'], additionalProperties: false },
      },
    },
    async (request, reply) => {
      const signer = signerOf(request);
      const body = request.body;
      if (!Buffer.isBuffer(body)) throw problem('RELAY_BAD_REQUEST', 'an envelope is sent as application/octet-stream');
      const bytes = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
      let info: VoiceMessageInfo;
      try {
        info = inspectVoiceMessage(bytes, { verify: nativeEd25519Verify });
      } catch (e) {
        if (isPlushlinkError(e)) throw problem('RELAY_BAD_ENVELOPE', `not a valid sealed envelope (${e.code}): ${e.message}`);
        throw e;
      }
      if (info.messageId !== request.params.messageId) throw problem('RELAY_BAD_ENVELOPE', "the envelope's message id is not the one in the URL");
      if (toHex(info.sender) !== signer.keyId) throw problem('RELAY_SIGNER_NOT_SENDER', "the request must be signed by the envelope's sender");

      const to = request.query.to.split(',');
      if (new Set(to).size !== to.length) throw problem('RELAY_BAD_REQUEST', 'a mailbox is listed twice in "to"');
      const recipients = new Set(info.recipients.map((k) => toHex(k)));
      const mailboxes: MailboxRecord[] = [];
      const keyIds = new Set<string>();
      for (const id of to) {
        const m = await store.getMailbox(id);
        if (!m) throw problem('RELAY_NO_MAILBOX', `no mailbox ${id}`);
        if (!recipients.has(m.keyId) || keyIds.has(m.keyId)) {
          throw problem('RELAY_BAD_ADDRESSING', `mailbox ${id} is not one of the envelope's signed recipients`);
        }
        keyIds.add(m.keyId);
        mailboxes.push(m);
      }
      for (const m of mailboxes) {
        if (!(await store.isSenderAllowed(m.mailboxId, signer.keyId))) {
          throw problem('RELAY_SENDER_NOT_ALLOWED', `the owner of mailbox ${m.mailboxId} does not accept envelopes from this sender`);
        }
      }
      const t = now();
      const result = await spendNonce(request, (nonce) =>
        store.putEnvelope(
          { messageId: info.messageId, sender: signer.keyId, bytes, hash: envelopeHash(bytes), receivedAt: t, expiresAt: t + config.ttlMs, to },
          config.quotas,
          nonce,
        ),
      );
      if (result.result === 'conflict') throw problem('RELAY_CONFLICT', 'another envelope is stored under this message id');
      if (result.result === 'quota') throw problem(result.code, `mailbox ${result.mailboxId} is full`);
      return reply.code(result.result === 'stored' ? 201 : 200).send({ result: result.result, mailboxes: to });
    },
  );

  app.get<{ Params: { mailboxId: string }; Querystring: { wait?: number } }>(
    '/mailboxes/:mailboxId/envelopes',
    {
      schema: {
        params: { type: 'object', properties: { mailboxId: idHex }, required: ['mailboxId'] },
        querystring: { type: 'object', properties: { wait: { type: 'integer', minimum: 0, maximum: MAX_WAIT_S } }, additionalProperties: false },
      },
    },
    async (request) => {
      const mailbox = await ownedMailbox(ctx, request, request.params.mailboxId);
      const list = async () => {
        const rows = await store.listPending(mailbox.mailboxId, MAX_LIST + 1);
        return { envelopes: rows.slice(0, MAX_LIST), more: rows.length > MAX_LIST };
      };
      const waitS = request.query.wait ?? 0;
      if (waitS === 0) return list();
      // Subscribe before looking, so that an upload between the look and the wait is not missed.
      let wake!: () => void;
      const woken = new Promise<void>((resolve) => (wake = resolve));
      const unsubscribe = store.subscribe(mailbox.mailboxId, () => wake());
      ctx.waiters.add(wake);
      const onClose = () => wake();
      request.raw.once('close', onClose);
      const timer = setTimeout(() => wake(), waitS * 1000);
      try {
        const first = await list();
        if (first.envelopes.length > 0) return first;
        await woken;
        return await list();
      } finally {
        clearTimeout(timer);
        unsubscribe();
        ctx.waiters.delete(wake);
        request.raw.off('close', onClose);
      }
    },
  );

  const oneSchema = {
    params: { type: 'object', properties: { mailboxId: idHex, messageId: idHex }, required: ['mailboxId', 'messageId'] },
  };

  app.get<{ Params: { mailboxId: string; messageId: string } }>('/mailboxes/:mailboxId/envelopes/:messageId', { schema: oneSchema }, async (request, reply) => {
    const mailbox = await ownedMailbox(ctx, request, request.params.mailboxId);
    const bytes = await store.getEnvelope(mailbox.mailboxId, request.params.messageId);
    // The same answer for an id that never existed and one delivered elsewhere (docs/RELAY.md §8).
    if (!bytes) throw problem('RELAY_NOT_FOUND', 'no such envelope in this mailbox');
    return reply.type('application/octet-stream').header('cache-control', 'no-store').send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });

  app.post<{ Params: { mailboxId: string; messageId: string }; Body: { signature: string } }>(
    '/mailboxes/:mailboxId/envelopes/:messageId/receipt',
    {
      config: { nonce: 'in-write' },
      schema: {
        ...oneSchema,
        body: {
          type: 'object',
          properties: { signature: { type: 'string', pattern: '^[A-Za-z0-9+/]{86}==$' } },
          required: ['signature'],
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const mailbox = await ownedMailbox(ctx, request, request.params.mailboxId);
      const { messageId } = request.params;
      const delivery = await store.getDelivery(mailbox.mailboxId, messageId);
      if (!delivery) throw problem('RELAY_NOT_FOUND', 'no such envelope in this mailbox');
      let signature: Uint8Array;
      try {
        signature = fromBase64(request.body.signature);
      } catch {
        throw problem('RELAY_BAD_RECEIPT', 'signature is not base64');
      }
      const owner = { signPublicKey: fromHex(mailbox.signPublicKey), boxPublicKey: fromHex(mailbox.boxPublicKey) };
      if (!verifyDeliveryReceipt(owner, messageId, delivery.hash, signature, nativeEd25519Verify)) {
        throw problem('RELAY_BAD_RECEIPT', "the receipt is not the owner's signature of this envelope");
      }
      const t = now();
      const acknowledged = await spendNonce(request, (nonce) =>
        store.acknowledge(
          {
            messageId,
            mailboxId: mailbox.mailboxId,
            sender: delivery.sender,
            recipient: mailbox.signPublicKey,
            recipientBox: mailbox.boxPublicKey,
            signature,
            at: t,
            expiresAt: t + config.receiptTtlMs,
          },
          nonce,
        ),
      );
      return { acknowledged };
    },
  );

  app.delete<{ Params: { mailboxId: string; messageId: string } }>('/mailboxes/:mailboxId/envelopes/:messageId', { config: { nonce: 'in-write' }, schema: oneSchema }, async (request) => {
    const mailbox = await ownedMailbox(ctx, request, request.params.mailboxId);
    const discarded = await spendNonce(request, (nonce) => store.discard(mailbox.mailboxId, request.params.messageId, nonce));
    if (!discarded) throw problem('RELAY_NOT_FOUND', 'no such envelope in this mailbox');
    return { discarded };
  });
}
