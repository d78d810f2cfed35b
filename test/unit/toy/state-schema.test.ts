/**
 * The toy's persistent state (PROTOCOL.md §13.1) at the edges of its schema, and the two toy
 * storages: display names counted in UTF-8 bytes (1..32), the error naming where the state is
 * wrong, a state handed back as a copy, a file storage that refuses to write a state that does
 * not match and leaves no file behind, a memory storage that keeps its own copy.
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { toHex } from '../../../src/protocol/bytes.js';
import { parseToyState } from '../../../src/toy/state-schema.js';
import { FileToyStorage, MemoryToyStorage } from '../../../src/toy/storage.js';
import type { ToyPersistentState } from '../../../src/toy/types.js';

const T0 = 1_700_000_000_000;
const hex32 = (b: number): string => toHex(new Uint8Array(32).fill(b));
const valid = (): ToyPersistentState => ({
  version: 1,
  pairings: [{ companionKey: hex32(1), role: 'owner', displayName: 'Mia', pairedAt: T0 }],
  failedAttempts: 0,
  lockedUntil: 0,
  advertisingKey: hex32(9),
  volume: 70,
});
const withName = (displayName: string): ToyPersistentState => ({ ...valid(), pairings: [{ ...valid().pairings[0]!, displayName }] });

function errorOf(f: () => unknown): { code?: string; message: string; detail?: unknown } {
  try {
    f();
  } catch (e) {
    return e as { code?: string; message: string; detail?: unknown };
  }
  throw new Error('did not throw');
}

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('toy state schema (PROTOCOL.md §13.1)', () => {
  it('display names are 1..32 bytes of UTF-8: empty and 33 bytes refused, 1 and 32 bytes kept, counted in bytes not characters', () => {
    expect(parseToyState(withName('x')).pairings[0]!.displayName).toBe('x');
    expect(parseToyState(withName('x'.repeat(32))).pairings[0]!.displayName).toBe('x'.repeat(32));
    expect(parseToyState(withName('€'.repeat(10) + 'xx')).pairings[0]!.displayName).toHaveLength(12); // 32 bytes
    for (const bad of ['', 'x'.repeat(33), '€'.repeat(11)]) {
      const e = errorOf(() => parseToyState(withName(bad)));
      expect(e.code, JSON.stringify(bad)).toBe('KEYSTORE_CORRUPT');
      expect(e.message).toContain('pairings.0.displayName');
    }
  });

  it('the error names where the state is wrong and how many problems it has; a problem of the whole state is at (root)', () => {
    const field = errorOf(() => parseToyState({ ...valid(), failedAttempts: -1 }, 'toy state file /x'));
    expect(field).toMatchObject({ code: 'KEYSTORE_CORRUPT', detail: { path: 'failedAttempts', issues: 1 } });
    expect(field.message).toMatch(/^toy state file \/x is invalid at failedAttempts: /);
    const root = errorOf(() => parseToyState({ ...valid(), pairings: [] }));
    expect(root).toMatchObject({ code: 'KEYSTORE_CORRUPT', detail: { path: '(root)' } });
    expect(root.message).toMatch(/^toy state is invalid at \(root\): /);
    expect((errorOf(() => parseToyState({ ...valid(), volume: -1, lockedUntil: -1 })).detail as { issues: number }).issues).toBe(2);
  });

  it('a valid state comes back as a copy: changing it changes nothing of the input', () => {
    const input = valid();
    const out = parseToyState(input);
    expect(out).toEqual(input);
    out.pairings[0]!.displayName = 'changed';
    out.failedAttempts = 9;
    expect(input.pairings[0]!.displayName).toBe('Mia');
    expect(input.failedAttempts).toBe(0);
  });
});

describe('toy storages', () => {
  it('the file storage refuses to write a state that does not match (KEYSTORE_CORRUPT) and writes no file; a valid one reads back equal', async () => {
    dir = mkdtempSync(join(tmpdir(), 'plushlink-toy-state-'));
    const path = join(dir, 'toy.json');
    const storage = new FileToyStorage(path);
    expect(await storage.load()).toBeUndefined();
    await expect(storage.save({ ...valid(), lockedUntil: -5 })).rejects.toMatchObject({ code: 'KEYSTORE_CORRUPT' });
    expect(existsSync(path)).toBe(false);
    await storage.save(valid());
    expect(await storage.load()).toEqual(valid());
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(valid());
  });

  it('a file that is not JSON is KEYSTORE_CORRUPT naming the file', async () => {
    dir = mkdtempSync(join(tmpdir(), 'plushlink-toy-state-'));
    const path = join(dir, 'toy.json');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path, '{"version":');
    await expect(new FileToyStorage(path).load()).rejects.toMatchObject({ code: 'KEYSTORE_CORRUPT', message: expect.stringContaining(path) });
  });

  it('the memory storage keeps its own copy and counts saves', async () => {
    const initial = valid();
    const m = new MemoryToyStorage(initial);
    initial.volume = 1;
    const loaded = (await m.load())!;
    expect(loaded.volume).toBe(70);
    loaded.volume = 2;
    expect((await m.load())!.volume).toBe(70);
    const next = { ...valid(), volume: 30 };
    await m.save(next);
    next.volume = 3;
    expect((await m.load())!.volume).toBe(30);
    expect(m.saves).toBe(1);
    expect(await new MemoryToyStorage().load()).toBeUndefined();
  });
});
