/**
 * What a thief gets from a copy of the relay's SQLite database (docs/RELAY.md §8), examined the way
 * a thief would: every table and column, every stored envelope, and every byte of the file (and of
 * its WAL, when copied with it).
 *
 * - `envelopes`: the sealed envelopes in the copy, with the metadata a thief can read (sender key,
 *   recipient key ids, size, time).
 * - `audioRecovered`: envelopes that open to audio with any key material found in the copy (every
 *   32-byte value of every column tried as a recipient's X25519 secret); must be 0.
 * - `secretsFound`: the family's real secret keys (given by the caller, who knows them) found
 *   anywhere in the file's raw bytes, raw or as hex or base64; must be 0.
 * - `plaintextAudio`: Ogg pages (`OggS`) found in the raw bytes; must be 0 (audio is only ever
 *   stored encrypted).
 */
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { fromHex, toHex } from '../../protocol/bytes.js';
import { inspectVoiceMessage, openVoiceMessage, type FamilyIdentity } from '../../messages/index.js';

/** One table of the copy. */
export interface StolenTable {
  name: string;
  columns: string[];
  rows: number;
}

/** What the copy holds and what it gives away. */
export interface BreachReport {
  tables: StolenTable[];
  envelopes: number;
  envelopeList: { messageId: string; sender: string; recipients: string[]; size: number; receivedAt: number }[];
  mailboxes: { mailboxId: string; keyId: string }[];
  receipts: number;
  candidateKeysTried: number;
  audioRecovered: number;
  secretsFound: number;
  secretsSearched: number;
  plaintextAudio: number;
}

function occurrences(hay: Buffer, needle: Buffer): number {
  let n = 0;
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1)) n++;
  return n;
}

/** Every 32-byte value in a cell: a 32-byte blob, 64 hex characters, or 32-byte windows of a longer blob. */
function candidates(value: unknown, out: Map<string, Uint8Array>): void {
  if (typeof value === 'string' && /^[0-9a-f]{64}$/.test(value)) out.set(value, fromHex(value));
  else if (value instanceof Uint8Array || Buffer.isBuffer(value)) {
    const b = new Uint8Array(value);
    // Windows at every 16-byte step cover any 32-byte field stored inside a longer blob.
    for (let i = 0; i + 32 <= b.length; i += 16) out.set(toHex(b.subarray(i, i + 32)), b.slice(i, i + 32));
  }
}

/** Examines a copy of a relay's SQLite database file (opened read-only). */
export function examineStolenRelayDatabase(path: string, familySecrets: readonly FamilyIdentity[], options: { extraFiles?: readonly string[] } = {}): BreachReport {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const names = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
    const tables: StolenTable[] = [];
    const keys = new Map<string, Uint8Array>();
    for (const name of names) {
      const columns = (db.prepare(`PRAGMA table_info("${name.replace(/"/g, '""')}")`).all() as { name: string }[]).map((c) => c.name);
      const rows = db.prepare(`SELECT * FROM "${name.replace(/"/g, '""')}"`).raw().all() as unknown[][];
      for (const row of rows) for (const cell of row) candidates(cell, keys);
      tables.push({ name, columns, rows: rows.length });
    }
    const envRows = names.includes('envelopes')
      ? (db.prepare('SELECT message_id, bytes, received_at FROM envelopes').all() as { message_id: string; bytes: Buffer; received_at: number }[])
      : [];
    const envelopeList: BreachReport['envelopeList'] = [];
    let audioRecovered = 0;
    for (const row of envRows) {
      const bytes = new Uint8Array(row.bytes);
      const info = inspectVoiceMessage(bytes);
      envelopeList.push({ messageId: info.messageId, sender: toHex(info.sender), recipients: info.recipients.map(toHex), size: info.size, receivedAt: row.received_at });
      for (const k of keys.values()) {
        try {
          openVoiceMessage(bytes, { boxSecretKey: k });
          audioRecovered++;
          break;
        } catch {
          // not a key that opens it: the expected outcome for every candidate
        }
      }
    }
    const mailboxes = names.includes('mailboxes')
      ? (db.prepare('SELECT mailbox_id AS mailboxId, key_id AS keyId FROM mailboxes ORDER BY mailbox_id').all() as { mailboxId: string; keyId: string }[])
      : [];
    const receipts = names.includes('receipts') ? (db.prepare('SELECT count(*) AS n FROM receipts').get() as { n: number }).n : 0;

    // The raw file, as a thief's grep would see it (freed pages included).
    const raw = Buffer.concat([readFileSync(path), ...(options.extraFiles ?? []).map((f) => readFileSync(f))]);
    let secretsFound = 0;
    let secretsSearched = 0;
    for (const id of familySecrets) {
      for (const secret of [id.signSecretKey.subarray(0, 32), id.boxSecretKey]) {
        const forms = [Buffer.from(secret), Buffer.from(toHex(secret)), Buffer.from(Buffer.from(secret).toString('base64').slice(0, 40))];
        for (const f of forms) {
          secretsSearched++;
          secretsFound += occurrences(raw, f);
        }
      }
    }
    return {
      tables,
      envelopes: envRows.length,
      envelopeList,
      mailboxes,
      receipts,
      candidateKeysTried: keys.size,
      audioRecovered,
      secretsFound,
      secretsSearched,
      plaintextAudio: occurrences(raw, Buffer.from('OggS')),
    };
  } finally {
    db.close();
  }
}
