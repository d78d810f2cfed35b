/**
 * The companion keystore under crashes (DESIGN.md property 8) and its other file guarantees.
 *
 * - A child process (helpers/keystore-writer.ts) saves a FileKeystore over and over with growing
 *   content; the parent SIGKILLs it at ≥ 30 seeded random moments. After each kill the file
 *   parses and equals one of the versions written: the last acknowledged one or the one in
 *   flight, never anything else; the next child continues from it. Only `.<name>.*.tmp`
 *   debris may be left beside it.
 * - A corrupt file raises KEYSTORE_CORRUPT (from the keystore and from Companion.open) and is
 *   left byte for byte as it was.
 * - The file is written with mode 0600, also when it replaces a more open one.
 *
 * The child is transpiled once to plain JS (helpers/build-child.ts) and run with `node`, which
 * starts several times faster than `node --import tsx` (it runs either way).
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
const KILLS = 32;

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

/** Runs the writer on `path` and SIGKILLs it `delayMs` after it printed `start`. */
function runAndKill(path: string, delayMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child.entryJs, path], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let armed = false;
    const guard = setTimeout(() => p.kill('SIGKILL'), 10_000);
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!armed && out.includes('\n')) {
        armed = true;
        setTimeout(() => p.kill('SIGKILL'), delayMs);
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

describe('FileKeystore', () => {
  it(`survives ${KILLS} SIGKILLs at random moments of repeated saves: always the old or the new version, never a broken file`, async () => {
    const dir = join(work, 'crash');
    const path = join(dir, 'keystore.json');
    const rand = seededRandom(42);
    let inFlightSeen = 0;
    let totalSaved = 0;
    let previous = 0;
    for (let i = 0; i < KILLS; i++) {
      const delay = Math.floor(rand() * 25);
      const r = await runAndKill(path, delay);
      expect(r.signal, r.stderr).toBe('SIGKILL');
      expect(r.start).toBe(previous); // the child found exactly what the last run left
      totalSaved += r.lastSaved - r.start;
      const data = await new FileKeystore(path).load(); // throws KEYSTORE_CORRUPT on a broken file
      if (r.lastSaved === 0) {
        if (data === undefined) continue;
      }
      expect(data).toBeDefined();
      const k = versionOf(data!);
      // the last acknowledged save, or the one that was in flight when the kill came
      expect([r.lastSaved, r.lastSaved + 1]).toContain(k);
      if (k === r.lastSaved + 1) inFlightSeen++;
      expect(data).toEqual(keystoreVersion(k));
      expect(statSync(path).mode & 0o777).toBe(0o600);
      for (const name of readdirSync(dir)) if (name !== 'keystore.json') expect(isTempName(name), name).toBe(true);
      previous = k;
    }
    expect(previous).toBeGreaterThan(KILLS); // the content really grew across the kills
    expect(totalSaved).toBeGreaterThan(0);
    // some kills landed inside a save (a temp file left behind: between create and rename)
    const debris = readdirSync(dir).filter(isTempName).length;
    console.log(`keystore crash: ${KILLS} kills, ${totalSaved} saves, final version ${previous}, ${inFlightSeen} in-flight versions found, ${debris} temp files left`);
    expect(debris).toBeGreaterThan(0);
  }, 120_000);

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
