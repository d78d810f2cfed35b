/** Where the reference toy keeps its persistent state (its "flash"). */
import { PlushlinkError } from '../protocol/errors.js';
import { readTextFileIfExists, writeFileAtomicPath } from '../util/durable-fs.js';
import { parseToyState } from './state-schema.js';
import type { ToyPersistentState } from './types.js';

export interface ToyStorage {
  load(): Promise<ToyPersistentState | undefined>;
  save(state: ToyPersistentState): Promise<void>;
}

/** Keeps the state in memory (tests, demo). */
export class MemoryToyStorage implements ToyStorage {
  state: ToyPersistentState | undefined;
  saves = 0;
  constructor(initial?: ToyPersistentState) {
    this.state = initial ? structuredClone(initial) : undefined;
  }
  async load(): Promise<ToyPersistentState | undefined> {
    return this.state ? structuredClone(this.state) : undefined;
  }
  async save(state: ToyPersistentState): Promise<void> {
    this.state = structuredClone(state);
    this.saves++;
  }
}

/**
 * A JSON file written atomically (mode 0600). Every load and every save is checked against the
 * toy-state schema (`state-schema.ts`): a file that does not match — a missing or non-numeric
 * backoff counter, a non-hex key, an unknown field — is refused with `KEYSTORE_CORRUPT` and left
 * as it is, so the toy does not start on it.
 */
export class FileToyStorage implements ToyStorage {
  constructor(readonly path: string) {}
  async load(): Promise<ToyPersistentState | undefined> {
    const text = await readTextFileIfExists(this.path);
    if (text === undefined) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new PlushlinkError('KEYSTORE_CORRUPT', `toy state file ${this.path} is corrupt: ${(e as Error).message}`, { path: this.path });
    }
    return parseToyState(json, `toy state file ${this.path}`);
  }
  async save(state: ToyPersistentState): Promise<void> {
    await writeFileAtomicPath(this.path, JSON.stringify(parseToyState(state), null, 2));
  }
}
