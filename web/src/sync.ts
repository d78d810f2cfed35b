/**
 * The app's connection to its relay (the page's own origin, docs/RELAY.md): the library's
 * `HttpRelay` signs every request with the relative's identity; the library's `Inbox` long-polls
 * the mailbox, stores each envelope in IndexedDB before acknowledging it, and the library's
 * `syncOutbox` uploads sealed messages until every recipient's verified receipt is back.
 *
 * Connection states: `connecting` (first contact), `online`, `offline` (the browser says so, or the
 * relay is unreachable), `error` (the relay refuses us; retried with backoff).
 */
import { contactKey, contactMailbox, markAllowed } from './contacts.js';
import { db, type ContactRecord, type OutboxRecord } from './db.js';
import { HttpRelay, Inbox, PlushlinkError, peekVoiceMessage, syncOutbox, type DeliveryEvents, type FamilyIdentity } from './lib.js';
import { IdbInboxStore, IdbOutboxStore } from './stores.js';

/** Why a message still waits, in words for the list. */
export function failureText(e: unknown): string {
  const code = e instanceof PlushlinkError ? e.code : undefined;
  switch (code) {
    case 'RELAY_UNAVAILABLE':
      return typeof navigator !== 'undefined' && !navigator.onLine ? 'you are offline' : 'the relay cannot be reached';
    case 'RELAY_SENDER_NOT_ALLOWED':
      return 'the recipient has not added you yet';
    case 'RELAY_NO_MAILBOX':
      return 'the recipient has not connected to this relay yet';
    case 'RELAY_QUOTA_COUNT':
    case 'RELAY_QUOTA_BYTES':
      return 'the recipient’s mailbox is full';
    case 'RELAY_TOO_LARGE':
      return 'the message is too long for this relay';
    default:
      return e instanceof Error ? e.message : String(e);
  }
}

export type ConnectionState = 'connecting' | 'online' | 'offline' | 'error';

type Listener = (...args: never[]) => void;

/** How long one long poll waits on the relay (seconds). */
const LONG_POLL_S = 25;
/** Outbox retry period while something waits (ms). */
const OUTBOX_RETRY_MS = 15_000;

export class Sync {
  readonly relay: HttpRelay;
  #state: ConnectionState = 'connecting';
  #listeners = new Map<string, Set<Listener>>();
  #stop = new AbortController();
  #inbox: Inbox | undefined;
  /** The library's inbox while it runs. */
  get inbox(): Inbox | undefined {
    return this.#inbox;
  }
  #outboxTimer = 0;
  #outboxRunning: Promise<void> | undefined;
  #outboxAgain = false;
  #delivered: { messageId: string; names: string[] }[] = [];
  #ready: Promise<void> | undefined;

  constructor(
    readonly identity: FamilyIdentity,
    readonly contacts: () => ContactRecord[],
  ) {
    this.relay = new HttpRelay({
      url: location.origin,
      identity,
      family: () => this.contacts().map(contactKey),
      maxAttempts: 2,
    });
  }

  on(event: 'state', cb: (s: ConnectionState, detail?: string) => void): void;
  on(event: 'inbox' | 'outbox' | 'contacts', cb: () => void): void;
  on(event: string, cb: Listener): void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(cb);
  }

  #emit(event: string, ...args: unknown[]): void {
    for (const cb of this.#listeners.get(event) ?? []) (cb as (...a: unknown[]) => void)(...args);
  }

  get state(): ConnectionState {
    return this.#state;
  }

  #setState(s: ConnectionState, detail?: string): void {
    if (s === this.#state && s !== 'error') return;
    this.#state = s;
    this.#emit('state', s, detail);
  }

  /** Classifies a failure: unreachable/offline vs refused. */
  #failed(e: unknown): void {
    if (this.#stop.signal.aborted) return;
    const code = e instanceof PlushlinkError ? e.code : undefined;
    if (code === 'RELAY_UNAVAILABLE' || !navigator.onLine) this.#setState('offline');
    else this.#setState('error', e instanceof Error ? e.message : String(e));
  }

  start(): void {
    window.addEventListener('online', this.#onOnline);
    window.addEventListener('offline', this.#onOffline);
    if (!navigator.onLine) this.#setState('offline');
    void this.#run();
  }

  stop(): void {
    this.#stop.abort();
    clearTimeout(this.#outboxTimer);
    window.removeEventListener('online', this.#onOnline);
    window.removeEventListener('offline', this.#onOffline);
  }

  #onOnline = (): void => {
    this.#setState('connecting');
    // Start over at once: the inbox's own retry may be waiting out a long backoff.
    this.#inboxAbort?.abort();
    this.#wake?.();
    void this.syncOutboxNow();
  };
  #inboxAbort: AbortController | undefined;
  #onOffline = (): void => this.#setState('offline');
  #wake: (() => void) | undefined;

  /** Waits up to `ms`, or until the browser comes back online or the app stops. */
  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const signal = this.#stop.signal;
      function done(): void {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      this.#wake = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Mailbox and allow-list, then the inbox loop; retried with backoff until stopped. */
  async #run(): Promise<void> {
    let delay = 1000;
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      try {
        await this.#setUp();
        this.#setState('online');
        delay = 1000;
        void this.syncOutboxNow();
        await this.#inboxLoop();
      } catch (e) {
        if (signal.aborted) return;
        this.#failed(e);
        await this.#pause(delay);
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  /** Creates our mailbox (idempotent) and puts every contact on its allow-list. */
  async #setUp(): Promise<void> {
    const signal = this.#stop.signal;
    this.#ready ??= this.relay.ensureMailbox({ signal }).then(() => undefined);
    try {
      await this.#ready;
    } catch (e) {
      this.#ready = undefined;
      throw e;
    }
    for (const c of this.contacts()) {
      if (c.allowed) continue;
      await this.relay.allowSender(c.signPublicKey, { signal });
      await markAllowed(c.id, true);
      this.#emit('contacts');
    }
  }

  /** Puts a newly added member on our allow-list (or leaves it for the next set-up when offline). */
  async allow(c: ContactRecord): Promise<void> {
    try {
      await this.#ready;
      await this.relay.allowSender(c.signPublicKey, { signal: this.#stop.signal });
      await markAllowed(c.id, true);
      this.#emit('contacts');
    } catch (e) {
      this.#failed(e);
    }
  }

  /** Removes a member from our allow-list. */
  async disallow(c: ContactRecord): Promise<void> {
    try {
      await this.relay.disallowSender(c.signPublicKey, { signal: this.#stop.signal });
    } catch (e) {
      this.#failed(e);
    }
  }

  // ----------------------------------------------------------------------------------------------
  // Inbox

  async #inboxLoop(): Promise<void> {
    const abort = new AbortController();
    this.#inboxAbort = abort;
    const stop = (): void => abort.abort();
    this.#stop.signal.addEventListener('abort', stop, { once: true });
    const inbox = new Inbox({
      relay: this.relay,
      identity: this.identity,
      store: new IdbInboxStore(),
      family: () => this.contacts().map(contactKey),
    });
    this.#inbox = inbox;
    inbox.on('message', () => this.#emit('inbox'));
    inbox.on('synced', () => this.#setState('online'));
    inbox.on('sync-error', (e) => this.#failed(e));
    // Long polls: the relay answers within a second of an upload (docs/RELAY.md §2).
    try {
      await inbox.run({ signal: abort.signal, waitS: LONG_POLL_S });
    } finally {
      this.#stop.signal.removeEventListener('abort', stop);
    }
  }

  // ----------------------------------------------------------------------------------------------
  // Outbox

  /** Messages delivered to everyone during this visit (for the list). */
  recentlyDelivered(): { messageId: string; names: string[] }[] {
    return this.#delivered.slice(-10).reverse();
  }

  /**
   * Stores a sealed message in the outbox (durable first) and syncs at once. Resolves `uploaded`
   * when the relay holds it, else the reason it still waits (it is retried automatically).
   */
  async send(record: OutboxRecord, onProgress?: (sent: number, total: number) => void): Promise<'uploaded' | string> {
    const info = peekVoiceMessage(record.envelope);
    const contacts = this.contacts();
    const rec: OutboxRecord = {
      ...record,
      messageId: info.messageId,
      recipients: record.recipients.map((r) => {
        const c = contacts.find((x) => x.id === r.contactId);
        return { ...r, mailboxId: c ? contactMailbox(c) : r.mailboxId };
      }),
    };
    await (await db()).put('outbox', rec);
    this.#emit('outbox');
    const progress = (p: { id: string; sent: number; total: number }): void => {
      if (p.id === rec.messageId) onProgress?.(p.sent, p.total);
    };
    this.relay.on('upload-progress', progress);
    try {
      await this.syncOutboxNow();
    } finally {
      this.relay.off('upload-progress', progress);
    }
    const after = await (await db()).get('outbox', rec.messageId);
    if (!after) return 'uploaded';
    if (after.lastError) return after.lastError;
    return 'uploaded';
  }

  /** Runs one outbox sync now (or right after the running one). */
  syncOutboxNow(): Promise<void> {
    if (this.#outboxRunning) {
      this.#outboxAgain = true;
      return this.#outboxRunning;
    }
    clearTimeout(this.#outboxTimer);
    this.#outboxRunning = (async () => {
      do {
        this.#outboxAgain = false;
        await this.#syncOutboxOnce();
      } while (this.#outboxAgain && !this.#stop.signal.aborted);
    })().finally(() => {
      this.#outboxRunning = undefined;
    });
    return this.#outboxRunning;
  }

  async #syncOutboxOnce(): Promise<void> {
    const store = new IdbOutboxStore();
    const d = await db();
    // Names for the "delivered" list, read before the sync removes delivered records.
    const names = new Map((await d.getAll('outbox')).map((r) => [r.messageId, r.recipients.map((x) => x.name)]));
    const writes: Promise<void>[] = [];
    const events = {
      emit: <K extends keyof DeliveryEvents>(event: K, ...args: Parameters<DeliveryEvents[K]>): boolean => {
        const [id, second, third] = args as unknown as [string | { messageId: string }, unknown, unknown];
        if (event === 'receipt') writes.push(store.markReceipt(id as string, second as string));
        else if (event === 'sent') writes.push(store.markError(id as string, undefined));
        else if (event === 'send-failed') writes.push(store.markError(id as string, failureText(third)));
        else if (event === 'delivered') this.#delivered.push({ messageId: id as string, names: names.get(id as string) ?? [] });
        return true;
      },
    };
    try {
      await syncOutbox(store, this.relay, { family: () => this.contacts().map(contactKey), signal: this.#stop.signal, events });
      if (this.#state !== 'online') this.#setState('online');
    } catch (e) {
      this.#failed(e);
      const text = failureText(e);
      for (const r of await d.getAll('outbox')) writes.push(store.markError(r.messageId, text));
    }
    await Promise.allSettled(writes);
    this.#emit('outbox');
    const left = await (await db()).count('outbox');
    if (left > 0 && !this.#stop.signal.aborted) {
      this.#outboxTimer = window.setTimeout(() => void this.syncOutboxNow(), OUTBOX_RETRY_MS);
    }
  }
}
