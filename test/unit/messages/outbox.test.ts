import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { concatBytes, utf8 } from '../../../src/protocol/bytes.js';
import { PlushlinkError } from '../../../src/protocol/errors.js';
import {
  FolderRelay,
  Outbox,
  generateFamilyIdentity,
  openVoiceMessage,
  peekMessageId,
  sealVoiceMessage,
  type Relay,
  type UploadResult,
} from '../../../src/messages/index.js';
import { backoffDelay } from '../../../src/messages/backoff.js';

const grandma = generateFamilyIdentity('Grandma');
const child = generateFamilyIdentity('Mia');
const tmp = (): string => mkdtempSync(join(tmpdir(), 'plushlink-outbox-'));
let clock = 1_767_225_600_000;
const seal = (text: string, createdAt = clock++): Uint8Array =>
  sealVoiceMessage({ audio: utf8(`OggS ${text}`), from: grandma, to: [child], createdAt });

/** A relay that records calls and fails the first `failures` uploads of each id. */
class FlakyRelay implements Relay {
  readonly calls: string[] = [];
  readonly stored = new Map<string, Uint8Array>();
  private readonly failed = new Map<string, number>();
  constructor(
    private readonly failures: number,
    private readonly onUpload?: (id: string) => void,
  ) {}
  async upload(id: string, bytes: Uint8Array): Promise<UploadResult> {
    this.calls.push(id);
    this.onUpload?.(id);
    const n = this.failed.get(id) ?? 0;
    if (n < this.failures) {
      this.failed.set(id, n + 1);
      throw new Error('relay unreachable');
    }
    if (this.stored.has(id)) return 'duplicate';
    this.stored.set(id, bytes);
    return 'stored';
  }
}

function recordingSleep(): { sleeps: number[]; sleep: (ms: number) => Promise<void> } {
  const sleeps: number[] = [];
  return { sleeps, sleep: async (ms: number) => void sleeps.push(ms) };
}

describe('Outbox', () => {
  it('adds atomically under the message id, idempotently', async () => {
    const dir = tmp();
    const outbox = await Outbox.open(dir);
    const env = seal('one');
    const id = peekMessageId(env);
    expect(await outbox.add(env)).toEqual({ id, added: true });
    expect(await outbox.add(env)).toEqual({ id, added: false });
    expect(readdirSync(dir)).toEqual([`${id}.plvm`]);
    expect(new Uint8Array(readFileSync(join(dir, `${id}.plvm`)))).toEqual(env);
    const list = await outbox.list();
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ id, size: env.length });
    expect(await outbox.get(id)).toEqual(env);
  });

  it('refuses garbage, bad signatures and a different envelope under a queued id', async () => {
    const outbox = await Outbox.open(tmp());
    await expect(outbox.add(utf8('hello'))).rejects.toMatchObject({ code: 'BAD_ENVELOPE' });
    const env = seal('x');
    const bad = Uint8Array.from(env);
    bad[bad.length - 1]! ^= 1;
    await expect(outbox.add(bad)).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
    const id = peekMessageId(env);
    await outbox.add(env);
    const other = sealVoiceMessage({ audio: utf8('other'), from: grandma, to: [child], messageId: id });
    await expect(outbox.add(other)).rejects.toMatchObject({ code: 'OUTBOX_ERROR' });
  });

  it('lists oldest first', async () => {
    const outbox = await Outbox.open(tmp());
    const ids = [];
    for (const t of [300, 100, 200]) ids.push((await outbox.add(seal(`t${t}`, t))).id);
    expect((await outbox.list()).map((e) => e.id)).toEqual([ids[1], ids[2], ids[0]]);
  });

  it('removes temp files left by a crash on open, and only those', async () => {
    const dir = tmp();
    const outbox = await Outbox.open(dir);
    const { id } = await outbox.add(seal('keep'));
    writeFileSync(join(dir, `.${id}.plvm.abcdef.tmp`), 'partial');
    writeFileSync(join(dir, `.other.plvm.123456.tmp`), '');
    await Outbox.open(dir);
    expect(readdirSync(dir)).toEqual([`${id}.plvm`]);
  });

  it('flush retries with exponential backoff and removes a message only after the ack', async () => {
    const dir = tmp();
    const { sleeps, sleep } = recordingSleep();
    const outbox = await Outbox.open(dir, { sleep, jitter: () => 1 });
    const a = (await outbox.add(seal('a'))).id;
    const b = (await outbox.add(seal('b'))).id;
    const presentAtUpload: boolean[] = [];
    const relay = new FlakyRelay(3, (id) => presentAtUpload.push(existsSync(join(dir, `${id}.plvm`))));
    const retries: number[] = [];
    outbox.on('retry', (_id, attempt) => retries.push(attempt));
    const report = await outbox.flush(relay, { baseDelayMs: 100, maxDelayMs: 250, maxAttempts: 5 });
    expect(report).toMatchObject({ uploaded: [a, b], duplicates: [], failed: [], remaining: 0 });
    expect(sleeps).toEqual([100, 200, 250, 100, 200, 250]); // doubling, capped
    expect(retries).toEqual([1, 2, 3, 1, 2, 3]);
    expect(presentAtUpload.every(Boolean)).toBe(true); // still queued while uploading
    expect(readdirSync(dir)).toEqual([]);
    expect(openVoiceMessage(relay.stored.get(a)!, child).audio).toEqual(utf8('OggS a'));
  });

  it('a message the relay never acknowledges stays; the flush stops (or continues on request)', async () => {
    const dir = tmp();
    const { sleeps, sleep } = recordingSleep();
    const outbox = await Outbox.open(dir, { sleep, jitter: () => 0 });
    await outbox.add(seal('a'));
    await outbox.add(seal('b'));
    const relay = new FlakyRelay(Infinity);
    const r1 = await outbox.flush(relay, { maxAttempts: 3, baseDelayMs: 1000 });
    expect(r1.uploaded).toEqual([]);
    expect(r1.failed).toHaveLength(1);
    expect(r1.failed[0]!.attempts).toBe(3);
    expect(r1.remaining).toBe(2);
    expect(sleeps).toEqual([500, 1000]); // jitter 0 → half the nominal delay
    expect(relay.calls).toHaveLength(3);
    const r2 = await outbox.flush(relay, { maxAttempts: 2, continueOnFailure: true });
    expect(r2.failed).toHaveLength(2);
    expect(readdirSync(dir)).toHaveLength(2);
  });

  it("'duplicate' from the relay also removes the message", async () => {
    const outbox = await Outbox.open(tmp());
    const env = seal('dup');
    const { id } = await outbox.add(env);
    const relay = new FlakyRelay(0);
    relay.stored.set(id, env);
    const r = await outbox.flush(relay);
    expect(r).toMatchObject({ uploaded: [], duplicates: [id], remaining: 0 });
  });

  it('abort: rejects with ABORTED, unacknowledged messages stay', async () => {
    const outbox = await Outbox.open(tmp());
    await outbox.add(seal('a'));
    const ac = new AbortController();
    const relay: Relay = {
      upload: async () => {
        ac.abort();
        throw new Error('connection reset');
      },
    };
    await expect(outbox.flush(relay, { signal: ac.signal })).rejects.toMatchObject({ code: 'ABORTED' });
    expect(await outbox.list()).toHaveLength(1);
    // with the real timer sleep, an abort during the backoff wait ends the flush promptly
    const ac2 = new AbortController();
    const o2 = await Outbox.open(tmp());
    await o2.add(seal('b'));
    const t0 = Date.now();
    setTimeout(() => ac2.abort(), 20);
    await expect(o2.flush(new FlakyRelay(Infinity), { signal: ac2.signal, baseDelayMs: 10_000 })).rejects.toBeInstanceOf(PlushlinkError);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('concurrent flushes upload each message once', async () => {
    const outbox = await Outbox.open(tmp());
    for (let i = 0; i < 5; i++) await outbox.add(seal(`m${i}`));
    const relay = new FlakyRelay(0);
    const [r1, r2] = await Promise.all([outbox.flush(relay), outbox.flush(relay)]);
    expect(r1.uploaded.length + r2.uploaded.length).toBe(5);
    expect(relay.calls).toHaveLength(5);
  });

  it('backoffDelay doubles and caps', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, 1000, 8000, 1))).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    expect(backoffDelay(3, 1000, 60000, 0)).toBe(2000);
  });
});

describe('FolderRelay', () => {
  it('stores atomically, dedupes by id, refuses mismatched ids and conflicting content', async () => {
    const dir = tmp();
    const relay = await FolderRelay.open(dir);
    const env = seal('r');
    const id = peekMessageId(env);
    expect(await relay.upload(id, env)).toBe('stored');
    expect(await relay.upload(id, env)).toBe('duplicate');
    expect(await relay.list()).toEqual([id]);
    expect(await relay.read(id)).toEqual(env);
    const other = seal('other');
    await expect(relay.upload(id, other)).rejects.toMatchObject({ code: 'BAD_ENVELOPE' });
    const conflict = sealVoiceMessage({ audio: utf8('z'), from: grandma, to: [child], messageId: id });
    await expect(relay.upload(id, conflict)).rejects.toMatchObject({ code: 'OUTBOX_ERROR' });
    await expect(relay.upload('../../../etc/passwd', env)).rejects.toMatchObject({ code: 'BAD_ENVELOPE' });
    writeFileSync(join(dir, '.junk.plvm.000000.tmp'), 'x');
    await FolderRelay.open(dir);
    expect(readdirSync(dir)).toEqual([`${id}.plvm`]);
  });
});

describe('the relay folder only ever holds ciphertext', () => {
  // A synthetic Ogg Opus file: OggS pages, OpusHead, OpusTags and PCM-like payload with long runs
  // of silence (zeros) and a repeating pattern, so any leak of plaintext would be visible.
  function fakeOggOpus(seed: number): Uint8Array {
    const parts: Uint8Array[] = [];
    parts.push(utf8('OggS'), new Uint8Array(23), utf8('OpusHead'), Uint8Array.of(1, 1, 0x38, 1, 0x80, 0x3e, 0, 0, 0, 0, 0));
    parts.push(utf8('OggS'), new Uint8Array(23), utf8('OpusTags'), utf8('plushlink test vendor'));
    for (let p = 0; p < 20; p++) {
      const pcm = new Uint8Array(640);
      if (p % 3 !== 0) for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(127 + 100 * Math.sin((i + seed) / 7));
      parts.push(utf8('OggS'), new Uint8Array(23), pcm);
    }
    return concatBytes(...parts);
  }
  const indexOf = (hay: Uint8Array, needle: Uint8Array): number => Buffer.from(hay).indexOf(Buffer.from(needle));

  it('no Ogg or Opus signature, no plaintext window, no long runs, high entropy', async () => {
    const outboxDir = tmp();
    const relayDir = tmp();
    const outbox = await Outbox.open(outboxDir);
    const plaintexts: Uint8Array[] = [];
    for (let i = 0; i < 4; i++) {
      const audio = fakeOggOpus(i);
      plaintexts.push(audio);
      await outbox.add(sealVoiceMessage({ audio, from: grandma, to: [child] }));
    }
    await outbox.flush(await FolderRelay.open(relayDir));
    const files = readdirSync(relayDir);
    expect(files).toHaveLength(4);
    for (const f of files) {
      const bytes = new Uint8Array(readFileSync(join(relayDir, f)));
      for (const sig of ['OggS', 'OpusHead', 'OpusTags', 'plushlink test vendor']) expect(indexOf(bytes, utf8(sig))).toBe(-1);
      // no 16-byte window of any plaintext occurs in the stored file
      for (const pt of plaintexts) {
        for (let off = 0; off + 16 <= pt.length; off += 16) expect(indexOf(bytes, pt.subarray(off, off + 16))).toBe(-1);
      }
      // the longest run of one repeated byte value is short (plaintext has runs of hundreds of zeros)
      let run = 1;
      let longest = 1;
      for (let i = 1; i < bytes.length; i++) {
        run = bytes[i] === bytes[i - 1] ? run + 1 : 1;
        longest = Math.max(longest, run);
      }
      expect(longest).toBeLessThan(6);
      // byte entropy of the content ciphertext (after header and wrapped key) is close to 8 bits
      const body = bytes.subarray(98 + 16 + 48, bytes.length - 64);
      const hist = new Array<number>(256).fill(0);
      for (const x of body) hist[x]!++;
      let h = 0;
      for (const c of hist) if (c) h -= (c / body.length) * Math.log2(c / body.length);
      expect(h).toBeGreaterThan(7.9);
      // and it still opens to the exact plaintext for the recipient
      const audio = openVoiceMessage(bytes, child).audio;
      expect(plaintexts.some((p) => Buffer.from(p).equals(Buffer.from(audio)))).toBe(true);
    }
  });
});
