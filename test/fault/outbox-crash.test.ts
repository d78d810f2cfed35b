/**
 * Crash test of the durable outbox and the folder relay. A child process (test/fault/helpers/
 * outbox-crash-child.ts, transpiled once to plain JS by helpers/build-child.ts and run with `node`)
 * seals, adds and flushes messages; it is SIGKILLed at ≥ 50 distinct points:
 *
 * - self-kill at file-system operation k (env CRASH_AT=k; a `write` is torn in half first), with
 *   the ks chosen so that every kind of operation is hit, the rest at seeded random;
 * - plus SIGKILL from the parent after a random delay into the workload.
 *
 * After each kill, the outbox and relay folders together must hold every message whose add was
 * acknowledged (printed after `add()` resolved), every stored file must open to its exact audio,
 * and a copy in both folders must be byte-identical. Then a recovery (reopen + flush) must leave
 * the outbox empty, no temp files, and the relay holding each message exactly once.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toHex } from '../../src/protocol/bytes.js';
import { FolderRelay, Outbox, openVoiceMessage } from '../../src/messages/index.js';
import { audioOf, recipient } from './helpers/outbox-crash-shared.js';
import { buildChild } from './helpers/build-child.js';
import { seededRandom } from '../../src/transport/memory/prng.js';

const CHILD_TS = fileURLToPath(new URL('./helpers/outbox-crash-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let CHILD = CHILD_TS;
const MESSAGES = 6;
const SELF_KILLS = 54;
const TIMED_KILLS = 12;

interface RunResult {
  stdout: string;
  stderr: string;
  signal: NodeJS.Signals | null;
  code: number | null;
  ms: number;
}

function run(env: Record<string, string>, killAfterStartMs?: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [CHILD], {
      cwd: ROOT,
      env: { ...process.env, MESSAGES: String(MESSAGES), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let startedAt = 0;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (killAfterStartMs !== undefined && startedAt === 0 && stdout.includes('start\n')) {
        startedAt = Date.now();
        setTimeout(() => child.kill('SIGKILL'), killAfterStartMs);
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ stdout, stderr, signal, code, ms: Date.now() - t0 }));
  });
}

/** id → index of every message whose add() resolved. */
function ackedOf(stdout: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of stdout.split('\n')) {
    const r = /^added ([0-9a-f]{32}) (\d+)$/.exec(line);
    if (r) m.set(r[1]!, Number(r[2]));
  }
  return m;
}

const EXPECTED_AUDIO = Array.from({ length: MESSAGES }, (_, i) => toHex(audioOf(i)));

/** Reads every envelope file in `dir`, checks it opens to a known message; returns id → hex bytes. */
function readFolder(dir: string, problems: string[]): Map<string, string> {
  const out = new Map<string, string>();
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return out; // folder never created before the kill
  }
  for (const name of names) {
    if (name.startsWith('.') && name.endsWith('.tmp')) continue; // crash debris, removed on open
    const m = /^([0-9a-f]{32})\.plvm$/.exec(name);
    if (!m) {
      problems.push(`unexpected file ${name} in ${dir}`);
      continue;
    }
    const bytes = new Uint8Array(readFileSync(join(dir, name)));
    try {
      const o = openVoiceMessage(bytes, recipient);
      if (o.messageId !== m[1]) problems.push(`${name}: id mismatch`);
      if (!EXPECTED_AUDIO.includes(toHex(o.audio))) problems.push(`${name}: audio is not one of the sealed messages`);
      out.set(m[1]!, toHex(bytes));
    } catch (e) {
      problems.push(`${name} in ${dir} is broken: ${String(e)}`);
    }
  }
  return out;
}

async function checkAfterKill(outboxDir: string, relayDir: string, stdout: string, label: string): Promise<string[]> {
  const problems: string[] = [];
  const acked = ackedOf(stdout);
  const inOutbox = readFolder(outboxDir, problems);
  const inRelay = readFolder(relayDir, problems);
  for (const [id, idx] of acked) {
    const copies = [inOutbox.get(id), inRelay.get(id)].filter((x): x is string => x !== undefined);
    if (copies.length === 0) problems.push(`acknowledged message ${idx} (${id}) lost`);
    if (copies.length === 2 && copies[0] !== copies[1]) problems.push(`message ${id} differs between outbox and relay`);
  }
  for (const [id, hex] of [...inOutbox, ...inRelay]) {
    const o = openVoiceMessage(Uint8Array.from(Buffer.from(hex, 'hex')), recipient);
    const idx = acked.get(id);
    if (idx !== undefined && toHex(o.audio) !== EXPECTED_AUDIO[idx]) problems.push(`message ${id} has the wrong audio`);
  }
  const before = new Set([...inOutbox.keys(), ...inRelay.keys()]);

  // Recovery: reopen (cleans temp files) and flush to the relay.
  const outbox = await Outbox.open(outboxDir);
  const relay = await FolderRelay.open(relayDir);
  const report = await outbox.flush(relay, { maxAttempts: 1 });
  if (report.failed.length > 0) problems.push(`recovery flush failed: ${JSON.stringify(report.failed.map((f) => String(f.error)))}`);
  if (readdirSync(outboxDir).length !== 0) problems.push(`outbox not empty after recovery: ${readdirSync(outboxDir).join(',')}`);
  const relayNames = readdirSync(relayDir);
  if (relayNames.some((n) => n.endsWith('.tmp'))) problems.push('temp files left in relay after recovery');
  const after = readFolder(relayDir, problems);
  for (const [id, idx] of acked) if (!after.has(id)) problems.push(`acknowledged message ${idx} missing from relay after recovery`);
  for (const id of after.keys()) if (!before.has(id)) problems.push(`relay holds ${id} that was nowhere before recovery`);
  for (const id of before) if (!after.has(id)) problems.push(`message ${id} lost by recovery`);
  if (relayNames.length !== after.size) problems.push('relay holds a message more than once');
  return problems.map((p) => `[${label}] ${p}`);
}


async function pool<T>(items: T[], width: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

describe('outbox crash safety (child process SIGKILLed at ≥ 50 points)', () => {
  it('never loses an acknowledged message, never leaves a broken one, and recovers to exactly-once', async () => {
    const base = mkdtempSync(join(tmpdir(), 'plushlink-crash-'));
    const t0 = Date.now();
    const built = buildChild(ROOT, CHILD_TS);
    CHILD = built.entryJs;
    try {
      // 1. A full run with an operation trace: the op count, the kinds, and the workload time.
      const full = await run({ OUTBOX_DIR: join(base, 'full-o'), RELAY_DIR: join(base, 'full-r'), TRACE: '1' });
      expect(full.code, full.stderr).toBe(0);
      const ops = [...full.stderr.matchAll(/^op (\d+) (\w+)$/gm)].map((m) => m[2]!);
      const done = /^done (\d+) (\d+)$/m.exec(full.stdout)!;
      const total = Number(done[1]);
      const workMs = Math.max(20, Number(done[2]));
      expect(ops).toHaveLength(total);
      expect(ackedOf(full.stdout).size).toBe(MESSAGES);
      expect(await checkAfterKill(join(base, 'full-o'), join(base, 'full-r'), full.stdout, 'full')).toEqual([]);

      // 2. Kill points: at least 3 of every operation kind, the rest seeded-random, all distinct.
      const rnd = seededRandom(42);
      const chosen = new Set<number>();
      const kinds = [...new Set(ops)];
      for (const kind of kinds) {
        const at = ops.flatMap((o, i) => (o === kind ? [i + 1] : []));
        for (let j = 0; j < 3 && at.length > 0; j++) chosen.add(at.splice(Math.floor(rnd() * at.length), 1)[0]!);
      }
      while (chosen.size < Math.min(SELF_KILLS, total)) chosen.add(1 + Math.floor(rnd() * total));
      const points = [...chosen].sort((a, b) => a - b);

      const problems: string[] = [];
      const killedAt: string[] = [];
      await pool(points, 4, async (k) => {
        const o = join(base, `k${k}-o`);
        const r = join(base, `k${k}-r`);
        const res = await run({ OUTBOX_DIR: o, RELAY_DIR: r, CRASH_AT: String(k) });
        const crash = /^crash (\d+) (\w+)$/m.exec(res.stderr);
        if (res.signal !== 'SIGKILL' || !crash) {
          problems.push(`k=${k}: child was not killed (code ${res.code}, ${res.stderr.slice(0, 300)})`);
          return;
        }
        killedAt.push(`${k}:${crash[2]}`);
        problems.push(...(await checkAfterKill(o, r, res.stdout, `k=${k} ${crash[2]}`)));
      });

      // 3. Timed SIGKILLs from outside, at random moments of the workload.
      const delays = Array.from({ length: TIMED_KILLS }, () => Math.floor(rnd() * workMs));
      let timedKills = 0;
      await pool(
        delays.map((d, i) => [d, i] as const),
        4,
        async ([delay, i]) => {
          const o = join(base, `t${i}-o`);
          const r = join(base, `t${i}-r`);
          const res = await run({ OUTBOX_DIR: o, RELAY_DIR: r }, delay);
          if (res.signal === 'SIGKILL') timedKills++;
          problems.push(...(await checkAfterKill(o, r, res.stdout, `timed ${delay}ms`)));
        },
      );

      expect(problems).toEqual([]);
      expect(killedAt.length).toBeGreaterThanOrEqual(50);
      const byKind = new Map<string, number>();
      for (const x of killedAt) byKind.set(x.split(':')[1]!, (byKind.get(x.split(':')[1]!) ?? 0) + 1);
      for (const kind of kinds) expect(byKind.get(kind) ?? 0, `kills during ${kind}`).toBeGreaterThan(0);
      console.log(
        `outbox crash test: ${killedAt.length} self-kills at distinct ops of ${total} ` +
          `(${[...byKind].map(([k, n]) => `${k}×${n}`).join(', ')}), ${timedKills}/${TIMED_KILLS} timed kills landed, ` +
          `${Date.now() - t0} ms`,
      );
    } finally {
      rmSync(base, { recursive: true, force: true });
      rmSync(built.dir, { recursive: true, force: true });
    }
    // A hang guard only: every verdict above is a count (kill points, messages), never a duration;
    // on a loaded 2-core machine the ~80 child processes alone took longer than 120 s.
  }, 900_000);
});
