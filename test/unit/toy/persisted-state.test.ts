/**
 * Every persisted file the toy and the companion read is parsed against a schema (valibot) and
 * bad input is refused with a typed error (SECURITY.md properties 5, 7, 8); the pairing backoff
 * fails closed: a toy whose counters are missing or unreadable does not start, so no wrong code
 * ever reaches the crypto unthrottled.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { FileKeystore, MemoryKeystore, parseKeystore, type KeystoreData } from '../../../src/companion/keystore.js';
import { toHex } from '../../../src/protocol/bytes.js';
import { generateX25519KeyPair } from '../../../src/protocol/crypto.js';
import { isPlushlinkError } from '../../../src/protocol/errors.js';
import { generateSetupCode, toyKeyFingerprint } from '../../../src/protocol/setup-code.js';
import { ReferenceToy } from '../../../src/toy/reference-toy.js';
import { parseToyState } from '../../../src/toy/state-schema.js';
import { FileToyStorage, MemoryToyStorage } from '../../../src/toy/storage.js';
import { ToyCore } from '../../../src/toy/toy-core.js';
import type { ToyPersistentState } from '../../../src/toy/types.js';
import { MemoryRadio } from '../../../src/transport/memory/index.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

const T0 = 1_700_000_000_000;
const hex32 = (b: number): string => toHex(new Uint8Array(32).fill(b));

function validToyState(): ToyPersistentState {
  return {
    version: 1,
    pairings: [
      { companionKey: hex32(1), role: 'owner', displayName: 'Mia’s tablet', pairedAt: T0 },
      { companionKey: hex32(2), role: 'guest', displayName: 'Grandpa', pairedAt: T0 + 1 },
    ],
    failedAttempts: 3,
    lockedUntil: T0 + 4000,
    advertisingKey: hex32(9),
    volume: 70,
  };
}

function validKeystore(): KeystoreData {
  const id = generateX25519KeyPair();
  const toyKey = hex32(7);
  return {
    version: 1,
    identity: { publicKey: toHex(id.publicKey), secretKey: toHex(id.secretKey) },
    displayName: 'Mum’s phone',
    toys: [
      {
        id: toyKeyFingerprint(Buffer.from(toyKey, 'hex')),
        name: 'Bunny',
        toyPublicKey: toyKey,
        advertisingKey: hex32(8),
        role: 'owner',
        firmwareVersion: '1.0.0',
        capabilities: 15,
        speakerBufferMs: 400,
        pairedAt: T0,
      },
    ],
  };
}

/** Writes `json` (an object, or raw text) as the toy's state file and loads it. */
async function loadToyFile(json: unknown): Promise<ToyPersistentState | undefined> {
  dir ??= mkdtempSync(join(tmpdir(), 'plushlink-state-'));
  const path = join(dir, 'toy.flash.json');
  writeFileSync(path, typeof json === 'string' ? json : JSON.stringify(json));
  return new FileToyStorage(path).load();
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return isPlushlinkError(e) ? e.code : `untyped ${(e as Error).name}: ${(e as Error).message}`;
  }
}

function without<T extends object>(o: T, key: keyof T): T {
  const c = structuredClone(o);
  delete c[key];
  return c;
}

describe('the toy state file is parsed against its schema', () => {
  it('a file without failedAttempts or lockedUntil, or with unreadable counters, is refused (KEYSTORE_CORRUPT), and the toy does not start on it', async () => {
    const bad: [string, unknown][] = [
      ['no failedAttempts', without(validToyState(), 'failedAttempts')],
      ['no lockedUntil', without(validToyState(), 'lockedUntil')],
      ['failedAttempts as text', { ...validToyState(), failedAttempts: '3' }],
      ['lockedUntil null', { ...validToyState(), lockedUntil: null }],
      ['negative failedAttempts', { ...validToyState(), failedAttempts: -1 }],
      ['fractional lockedUntil', { ...validToyState(), lockedUntil: 1.5 }],
    ];
    for (const [what, json] of bad) {
      expect(await codeOf(loadToyFile(json)), what).toBe('KEYSTORE_CORRUPT');
      // whatever storage hands it over, the toy refuses to run on it
      const toy = new ReferenceToy({ peripheral: new MemoryRadio({ timeScale: 0 }).createPeripheral(), identity: generateX25519KeyPair(), setupCode: generateSetupCode(), storage: new MemoryToyStorage(json as ToyPersistentState) });
      expect(await codeOf(toy.start()), what).toBe('KEYSTORE_CORRUPT');
    }
  });

  it('a non-hex advertising key, or any other malformed field, is a typed KEYSTORE_CORRUPT at load, never an untyped error at start', async () => {
    const s = validToyState();
    const bad: [string, unknown][] = [
      ['non-hex advertising key', { ...s, advertisingKey: 'zz'.repeat(32) }],
      ['short advertising key', { ...s, advertisingKey: 'ab' }],
      ['upper-case companion key', { ...s, pairings: [{ ...s.pairings[0]!, companionKey: 'AB'.repeat(32) }] }],
      ['unknown role', { ...s, pairings: [{ ...s.pairings[0]!, role: 'admin' }] }],
      ['two owners', { ...s, pairings: [s.pairings[0]!, { ...s.pairings[1]!, role: 'owner' }] }],
      ['the same companion twice', { ...s, pairings: [s.pairings[0]!, { ...s.pairings[1]!, companionKey: s.pairings[0]!.companionKey }] }],
      ['a display name of 33 bytes', { ...s, pairings: [{ ...s.pairings[0]!, displayName: 'x'.repeat(33) }] }],
      ['pairings without an advertising key', without(s, 'advertisingKey')],
      ['an advertising key without pairings', { ...s, pairings: [] }],
      ['volume 101', { ...s, volume: 101 }],
      ['version 2', { ...s, version: 2 }],
      ['an unknown field', { ...s, debugUnlock: true }],
      ['pairings not an array', { ...s, pairings: {} }],
      ['not JSON', '{"version":1,'],
      ['null', 'null'],
    ];
    for (const [what, json] of bad) expect(await codeOf(loadToyFile(json)), what).toBe('KEYSTORE_CORRUPT');
    expect(await loadToyFile(s)).toEqual(s);
  });

  it('ToyCore itself refuses a state that does not match, from any storage', () => {
    const identity = generateX25519KeyPair();
    const setupCode = generateSetupCode();
    const make = (state: unknown) => () => new ToyCore({ identity, setupCode, state: state as ToyPersistentState, now: T0 });
    expect(make(without(validToyState(), 'lockedUntil'))).toThrow(expect.objectContaining({ code: 'KEYSTORE_CORRUPT' }));
    expect(make({ ...validToyState(), failedAttempts: Number.NaN })).toThrow(expect.objectContaining({ code: 'KEYSTORE_CORRUPT' }));
    expect(make(validToyState())).not.toThrow();
  });

  it('property: any mutation of a valid state either loads as a state that matches the schema, or is refused with KEYSTORE_CORRUPT', async () => {
    const keys = Object.keys(validToyState()) as (keyof ToyPersistentState)[];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...keys), fc.option(fc.jsonValue(), { nil: undefined }), async (key, value) => {
        const json = validToyState() as unknown as Record<string, unknown>;
        if (value === undefined) delete json[key];
        else json[key] = value;
        let loaded: ToyPersistentState | undefined;
        try {
          loaded = await loadToyFile(json);
        } catch (e) {
          expect(isPlushlinkError(e, 'KEYSTORE_CORRUPT'), String(e)).toBe(true);
          return;
        }
        expect(parseToyState(loaded)).toEqual(loaded);
        expect(Number.isSafeInteger(loaded!.failedAttempts) && Number.isSafeInteger(loaded!.lockedUntil)).toBe(true);
      }),
      { seed: 20_261_128, numRuns: 300 },
    );
  });
});

describe('the companion keystore is parsed against its schema', () => {
  it('refuses malformed identities and toy entries with KEYSTORE_CORRUPT, from the file and from memory', async () => {
    const k = validKeystore();
    const t = k.toys[0]!;
    const other = generateX25519KeyPair();
    const bad: [string, unknown][] = [
      ['a public key that is not the secret key’s', { ...k, identity: { ...k.identity, publicKey: toHex(other.publicKey) } }],
      ['a toy id that is not its key’s fingerprint', { ...k, toys: [{ ...t, id: 'AAAA-BBBB-CCCC-DDDD' }] }],
      ['a non-hex advertising key', { ...k, toys: [{ ...t, advertisingKey: 'g'.repeat(64) }] }],
      ['no role', { ...k, toys: [without(t, 'role')] }],
      ['an unknown role', { ...k, toys: [{ ...t, role: 'admin' }] }],
      ['capabilities −1', { ...k, toys: [{ ...t, capabilities: -1 }] }],
      ['speaker buffer 65536', { ...k, toys: [{ ...t, speakerBufferMs: 65_536 }] }],
      ['an empty firmware version', { ...k, toys: [{ ...t, firmwareVersion: '' }] }],
      ['the same toy twice', { ...k, toys: [t, t] }],
      ['a display name of 33 bytes', { ...k, displayName: 'x'.repeat(33) }],
      ['an unknown field', { ...k, toys: [{ ...t, trusted: true }] }],
      ['version 2', { ...k, version: 2 }],
    ];
    dir = mkdtempSync(join(tmpdir(), 'plushlink-ks-'));
    for (const [i, [what, json]] of bad.entries()) {
      const path = join(dir, `ks-${i}.json`);
      writeFileSync(path, JSON.stringify(json));
      const before = readFileSync(path);
      expect(await codeOf(new FileKeystore(path).load()), what).toBe('KEYSTORE_CORRUPT');
      expect(readFileSync(path).equals(before), what).toBe(true); // left untouched
      expect(await codeOf(new MemoryKeystore().save(json as KeystoreData)), what).toBe('KEYSTORE_CORRUPT');
    }
    const path = join(dir, 'good.json');
    await new FileKeystore(path).save(k);
    expect(await new FileKeystore(path).load()).toEqual(k);
    expect(parseKeystore(k)).toEqual(k);
  });

  it('property: any mutation of a valid keystore either loads as data that matches the schema, or is refused with KEYSTORE_CORRUPT', async () => {
    dir = mkdtempSync(join(tmpdir(), 'plushlink-ks-'));
    const path = join(dir, 'keystore.json');
    const base = validKeystore();
    const fields = ['version', 'identity', 'displayName', 'toys', 'toys.0.id', 'toys.0.toyPublicKey', 'toys.0.advertisingKey', 'toys.0.role', 'toys.0.capabilities', 'toys.0.pairedAt'];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...fields), fc.option(fc.jsonValue(), { nil: undefined }), async (field, value) => {
        const json = structuredClone(base) as unknown as Record<string, unknown>;
        const parts = field.split('.');
        let o = json as Record<string, unknown>;
        for (const p of parts.slice(0, -1)) o = o[p] as Record<string, unknown>;
        const last = parts.at(-1)!;
        if (value === undefined) delete o[last];
        else o[last] = value;
        writeFileSync(path, JSON.stringify(json));
        let loaded: KeystoreData | undefined;
        try {
          loaded = await new FileKeystore(path).load();
        } catch (e) {
          expect(isPlushlinkError(e, 'KEYSTORE_CORRUPT'), String(e)).toBe(true);
          return;
        }
        expect(parseKeystore(loaded)).toEqual(loaded);
      }),
      { seed: 20_261_128, numRuns: 300 },
    );
  });
});
