/**
 * The companion keystore under crashes (docs/SECURITY.md property 8) and its other file guarantees.
 *
 * - A child process (helpers/keystore-writer.ts) saves a FileKeystore over and over with growing
 *   content and SIGKILLs itself at a chosen file-system operation of its saves (`CRASH_AT`,
 *   seeded): every step of the atomic write (mkdirp, create, write — torn in half —, sync, close,
 *   rename, directory sync) is hit. The outcome is exact, whatever the speed of the machine: a
 *   crash before the rename leaves the last saved version (and a temp file once the temp file
 *   exists), a crash after it the new one; the next child continues from what it finds.
 * - A few more children are SIGKILLed from outside at random moments after their first save:
 *   the file is always the old or the new version, never anything else.
 * - A corrupt file raises KEYSTORE_CORRUPT (from the keystore and from Companion.open) and is
 *   left byte for byte as it was.
 * - The file is written with mode 0600, also when it replaces a more open one.
 *
 * Counts, not time: no verdict depends on how many saves fit in some milliseconds. The child is
 * transpiled once to plain JS (helpers/build-child.ts) and run with `node`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileKeystore } from '../../src/companion/keystore.js';
import { Companion } from '../../src/companion/companion.js';
import { MemoryRadio } from '../../src/transport/memory/index.js';
import { isTempName } from '../../src/util/durable-fs.js';
import { isPlushlinkError } from '../../src/protocol/errors.js';
import { buildChild } from './helpers/build-child.js';
import { keystoreVersion, versionOf } from './helpers/keystore-shared.js';
import { seededRandom } from '../../src/transport/memory/prng.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHILD_TS = fileURLToPath(new URL('./helpers/keystore-writer.ts', import.meta.url));
/** File-system operations of one save: mkdirp, createExclusive, write, sync, close, rename, fsyncDir. */
const OPS = ['mkdirp', 'createExclusive', 'write', 'sync', 'close', 'rename', 'fsyncDir'] as const;
const SELF_KILLS = 35;
const OUTSIDE_KILLS = 6;

let child: { entryJs: string; dir: string };
let work: string;
beforeAll(() => {
  child = buildChild(ROOT, CHILD_TS);
  work = mkdtempSync(join(tmpdir(), 'plushlink-keystore-'));
});
afterAll(() => {
  rmSync(child.dir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

interface Run {
  start: number;
  lastSaved: number;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/**
 * Runs the writer on `path`. With `crashAt` it kills itself at that operation; otherwise the
 * parent SIGKILLs it `delayMs` after its first `saved` line. A guard kills a child that hangs;
 * it decides nothing (the run is then reported with its signal).
 */
function run(path: string, opts: { crashAt?: number; delayMs?: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...(opts.crashAt ? { CRASH_AT: String(opts.crashAt) } : {}) };
    const p = spawn(process.execPath, [child.entryJs, path], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let armed = false;
    const guard = setTimeout(() => p.kill('SIGKILL'), 600_000);
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (opts.crashAt === undefined && !armed && /^saved /m.test(out)) {
        armed = true;
        setTimeout(() => p.kill('SIGKILL'), opts.delayMs ?? 0);
      }
    });
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (_code, signal) => {
      clearTimeout(guard);
      const start = Number(/^start (\d+)$/m.exec(out)?.[1] ?? NaN);
      const saved = [...out.matchAll(/^saved (\d+)$/gm)].map((m) => Number(m[1]));
      resolve({ start, lastSaved: saved.length ? saved.at(-1)! : start, signal, stderr: err });
    });
  });
}

/** Loads the file after a kill and checks it is exactly version `k` (or nothing, for k = 0). */
async function expectVersion(path: string, k: number): Promise<void> {
  const data = await new FileKeystore(path).load(); // throws KEYSTORE_CORRUPT on a broken file
  if (k === 0) {
    expect(data).toBeUndefined();
    return;
  }
  expect(data).toEqual(keystoreVersion(k));
  expect(statSync(path).mode & 0o777).toBe(0o600);
}

describe('FileKeystore', () => {
  it(`survives ${SELF_KILLS} SIGKILLs at every step of its atomic write and ${OUTSIDE_KILLS} at random moments: always the old or the new version, never a broken file`, async () => {
    const dir = join(work, 'crash');
    const path = join(dir, 'keystore.json');
    const rand = seededRandom(42);
    let version = 0;
    const hit = new Map<string, number>();
    for (let i = 0; i < SELF_KILLS; i++) {
      // the crash falls in the 2nd or 3rd save of this child, at every step in turn
      const saves = 1 + (i % 2);
      const step = i % OPS.length;
      const crashAt = saves * OPS.length + step + 1;
      const r = await run(path, { crashAt });
      expect(r.signal, r.stderr).toBe('SIGKILL');
      expect(r.stderr).toContain(`crash ${crashAt} ${OPS[step]}`);
      expect(r.start).toBe(version); // the child found exactly what the last run left
      expect(r.lastSaved).toBe(version + saves); // every save before the crash completed
      hit.set(OPS[step]!, (hit.get(OPS[step]!) ?? 0) + 1);
      // Before the rename ran, the file is the last saved version; at the directory sync (after
      // the rename) it is already the new one.
      const expected = OPS[step] === 'fsyncDir' ? r.lastSaved + 1 : r.lastSaved;
      await expectVersion(path, expected);
      // a temp file is left exactly when the crash came between its creation and the rename
      const tempLeft = readdirSync(dir).some(isTempName);
      if (['write', 'sync', 'close', 'rename'].includes(OPS[step]!)) expect(tempLeft).toBe(true);
      for (const name of readdirSync(dir)) if (name !== 'keystore.json') expect(isTempName(name), name).toBe(true);
      version = expected;
    }
    expect([...hit.keys()].sort()).toEqual([...OPS].sort());
    for (let i = 0; i < OUTSIDE_KILLS; i++) {
      const r = await run(path, { delayMs: Math.floor(rand() * 10) });
      expect(r.signal, r.stderr).toBe('SIGKILL');
      expect(r.start).toBe(version);
      const data = await new FileKeystore(path).load();
      const k = versionOf(data!);
      expect([r.lastSaved, r.lastSaved + 1]).toContain(k); // the last acknowledged save, or the one in flight
      expect(data).toEqual(keystoreVersion(k));
      version = k;
    }
    expect(version).toBeGreaterThanOrEqual(SELF_KILLS + SELF_KILLS / 2 + OUTSIDE_KILLS); // the content really grew across the kills
    console.log(`keystore crash: ${SELF_KILLS} self-kills (${[...hit].map(([op, n]) => `${op} ${n}`).join(', ')}) and ${OUTSIDE_KILLS} outside kills, final version ${version}`);
  }, 600_000);

  it('a corrupt file raises KEYSTORE_CORRUPT and is left untouched (keystore and Companion.open)', async () => {
    const radio = new MemoryRadio({ timeScale: 0 });
    try {
      const valid = JSON.stringify(keystoreVersion(3), null, 2);
      const corruptions = [
        '{ "version": 1, "identity": ',
        valid.slice(0, Math.floor(valid.length / 2)), // a torn write
        JSON.stringify({ ...keystoreVersion(3), version: 2 }),
        JSON.stringify({ ...keystoreVersion(3), identity: { publicKey: 'zz', secretKey: 'zz' } }),
        '\u0000\u0001binary',
        '',
      ];
      for (const [i, text] of corruptions.entries()) {
        const path = join(work, `corrupt-${i}.json`);
        writeFileSync(path, text, { mode: 0o600 });
        const before = readFileSync(path);
        const mtime = statSync(path).mtimeMs;
        const ks = new FileKeystore(path);
        let err: unknown;
        try {
          await ks.load();
        } catch (e) {
          err = e;
        }
        expect(isPlushlinkError(err, 'KEYSTORE_CORRUPT'), `case ${i}: ${String(err)}`).toBe(true);
        let err2: unknown;
        try {
          await Companion.open({ central: radio.createCentral(), keystore: ks, displayName: 'x' });
        } catch (e) {
          err2 = e;
        }
        expect(isPlushlinkError(err2, 'KEYSTORE_CORRUPT'), `case ${i}: ${String(err2)}`).toBe(true);
        expect(readFileSync(path).equals(before)).toBe(true);
        expect(statSync(path).mtimeMs).toBe(mtime);
        expect(readdirSync(work).filter((n) => n.startsWith(`.corrupt-${i}`))).toEqual([]);
      }
    } finally {
      await radio.close();
    }
  });

  it('writes mode 0600, also over a file that was more open, and reads back what it wrote', async () => {
    const dir = join(work, 'modes', 'nested');
    const path = join(dir, 'keystore.json');
    const ks = new FileKeystore(path);
    await ks.save(keystoreVersion(2));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await ks.load()).toEqual(keystoreVersion(2));
    chmodSync(path, 0o644);
    await ks.save(keystoreVersion(5));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await ks.load()).toEqual(keystoreVersion(5));
    // Companion.open on a fresh path creates its identity with mode 0600 too
    const radio = new MemoryRadio({ timeScale: 0 });
    try {
      const fresh = join(work, 'modes', 'fresh.json');
      const c = await Companion.open({ central: radio.createCentral(), keystore: new FileKeystore(fresh), displayName: 'phone' });
      expect(statSync(fresh).mode & 0o777).toBe(0o600);
      const stored = await new FileKeystore(fresh).load();
      expect(stored?.identity.publicKey).toBe(Buffer.from(c.publicKey).toString('hex'));
    } finally {
      await radio.close();
    }
  });
});
