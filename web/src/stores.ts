/**
 * The library's store interfaces over IndexedDB (db.ts): the outbox as `syncOutbox` needs it
 * (`DeliveryStore`: list, get, remove) and the inbox as the library's `Inbox` needs it.
 */
import { db } from './db.js';
import { peekVoiceMessage, toHex, type DeliveryStore, type InboxStore } from './lib.js';

/** The outbox: sealed envelopes, oldest first, removed only once every receipt is verified. */
export class IdbOutboxStore implements DeliveryStore {
  async list(): Promise<{ id: string }[]> {
    const all = await (await db()).getAllFromIndex('outbox', 'createdAt');
    return all.map((r) => ({ id: r.messageId }));
  }

  async get(id: string): Promise<Uint8Array | undefined> {
    return (await (await db()).get('outbox', id))?.envelope;
  }

  async remove(id: string): Promise<boolean> {
    const tx = (await db()).transaction('outbox', 'readwrite');
    const had = (await tx.store.getKey(id)) !== undefined;
    if (had) await tx.store.delete(id);
    await tx.done;
    return had;
  }

  /** Records a verified receipt of `mailboxId` for the list. */
  async markReceipt(id: string, mailboxId: string): Promise<void> {
    const tx = (await db()).transaction('outbox', 'readwrite');
    const rec = await tx.store.get(id);
    if (rec && !rec.delivered.includes(mailboxId)) await tx.store.put({ ...rec, delivered: [...rec.delivered, mailboxId] });
    await tx.done;
  }

  /** Notes why the last upload failed (undefined clears it). */
  async markError(id: string, error: string | undefined): Promise<void> {
    const tx = (await db()).transaction('outbox', 'readwrite');
    const rec = await tx.store.get(id);
    if (rec) {
      const next = { ...rec };
      if (error === undefined) delete next.lastError;
      else next.lastError = error;
      await tx.store.put(next);
    }
    await tx.done;
  }
}

/**
 * The inbox: sealed envelopes as received (the library's `Inbox` opens each one, trusted senders
 * only, before it stores it, and acknowledges it only after `put` resolved). The list's details
 * (sender, time, length) are read from the envelope's signed header.
 */
export class IdbInboxStore implements InboxStore {
  async has(id: string): Promise<boolean> {
    return (await (await db()).getKey('inbox', id)) !== undefined;
  }

  async put(id: string, bytes: Uint8Array): Promise<void> {
    const info = peekVoiceMessage(bytes);
    const d = await db();
    const tx = d.transaction('inbox', 'readwrite');
    const existing = await tx.store.get(id);
    await tx.store.put({
      messageId: id,
      envelope: Uint8Array.from(bytes),
      sender: toHex(info.sender),
      createdAt: info.createdAt,
      receivedAt: existing?.receivedAt ?? Date.now(),
      audioLength: info.audioLength,
      ...(existing?.playedAt !== undefined ? { playedAt: existing.playedAt } : {}),
    });
    await tx.done; // committed: durable before the receipt goes out
  }

  async get(id: string): Promise<Uint8Array | undefined> {
    return (await (await db()).get('inbox', id))?.envelope;
  }

  async list(): Promise<string[]> {
    return (await (await db()).getAllKeys('inbox')).sort();
  }

  async remove(id: string): Promise<boolean> {
    const tx = (await db()).transaction('inbox', 'readwrite');
    const had = (await tx.store.getKey(id)) !== undefined;
    if (had) await tx.store.delete(id);
    await tx.done;
    return had;
  }
}
