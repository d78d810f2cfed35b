/**
 * The `plushlink` bin, run as a child process: help for every command, one-line errors with
 * the PlushlinkError code, labels, sealed messages and the outbox.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
/** Only stops a command that hangs (a busy machine is slow, not wrong): never part of a verdict. */
const HUNG_MS = 540_000;
const BIN = join(ROOT, 'bin/plushlink.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], opts: { cwd: string; timeoutMs?: number }): Promise<Run> {
  return new Promise((res) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: opts.cwd, env: { ...process.env, PLUSHLINK_HOME: join(opts.cwd, 'home'), DEBUG: '' }, timeout: opts.timeoutMs ?? HUNG_MS },
      (err, stdout, stderr) => res({ code: err ? ((err as { code?: unknown }).code as number) : 0, stdout, stderr }),
    );
  });
}

const json = <T>(r: Run): T => {
  expect(r.stderr.trim() === '' || !r.stderr.includes('error '), r.stderr).toBe(true);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
};

const COMMANDS = ['scan', 'pair', 'toys', 'forget', 'record', 'play', 'simulate-toy', 'label', 'demo', 'doctor', 'message', 'outbox', 'forget-all'];
const SUBCOMMANDS = [['message', 'key'], ['message', 'seal'], ['message', 'open'], ['outbox', 'list'], ['outbox', 'flush']];

describe.concurrent('plushlink CLI: help and errors', { timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'plushlink-cli-'));

  it('--help lists every command', async () => {
    const r = await run(['--help'], { cwd: dir });
    expect(r.code).toBe(0);
    const listed = [...r.stdout.matchAll(/^ {2}([a-z-]+)(?= |$)/gm)].map((m) => m[1]);
    for (const c of COMMANDS) expect(listed, `${c} is listed`).toContain(c);
    expect(r.stdout).toContain('--transport');
    expect(r.stdout).toContain('--keystore');
  });

  it('every command and subcommand has --help', async () => {
    const all = [...COMMANDS.map((c) => [c]), ...SUBCOMMANDS];
    const results = await Promise.all(all.map((c) => run([...c, '--help'], { cwd: dir })));
    results.forEach((r, i) => {
      const name = all[i]!.join(' ');
      expect(r.code, name).toBe(0);
      expect(r.stdout, name).toContain(`Usage: plushlink ${name}`);
      expect(r.stderr, name).toBe('');
    });
    // the toy-facing commands explain how --transport memory|noble-sim behaves
    for (const c of ['scan', 'pair', 'forget', 'record', 'play']) expect(results[COMMANDS.indexOf(c)]!.stdout).toContain('--toy-state FILE');
  });

  it('a mistyped setup code is one line "error BAD_CHECKSUM: ..." and exit 1, before any radio work', async () => {
    const label = json<{ code: string }>(await run(['label', '--fresh', '--json', '--svg', join(dir, 'x.svg')], { cwd: dir }));
    const last = label.code.at(-1)!;
    const typo = label.code.slice(0, -1) + (last === 'A' ? 'B' : 'A');
    const r = await run(['pair', 'any', '--code', typo, '--transport', 'memory'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error BAD_CHECKSUM: \S/);
    // no in-process toy was started: its state file was not created
    expect(existsSync(join(dir, 'home', 'sim-toy.json'))).toBe(false);
  });

  it('usage mistakes are "error USAGE: ..." with exit 2; a missing toy is NOT_FOUND', async () => {
    const [unknown, missingOpt, badTransport, notFound] = await Promise.all([
      run(['frobnicate'], { cwd: dir }),
      run(['record', 'Bunny'], { cwd: dir }),
      run(['scan', '--transport', 'carrier-pigeon'], { cwd: dir }),
      run(['forget', 'Nobody', '--local-only'], { cwd: dir }),
    ]);
    for (const r of [unknown, missingOpt, badTransport]) {
      expect(r.code).toBe(2);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^error USAGE: /);
    }
    expect(notFound.code).toBe(1);
    expect(notFound.stderr.trimEnd()).toBe('error NOT_FOUND: no paired toy "Nobody"');
  });

  it('label: an SVG with the human code and fingerprint; --state persists the identity with mode 0600', async () => {
    const state = join(dir, 'toy-label.json');
    const svg = join(dir, 'label.svg');
    const a = json<{ code: string; qr: string; fingerprint: string }>(await run(['label', '--state', state, '--svg', svg, '--json'], { cwd: dir }));
    expect(a.code).toMatch(/^([0-9A-Z]{4}-){5}[0-9A-Z]{4}$/);
    expect(a.qr.startsWith('PL1:')).toBe(true);
    const text = readFileSync(svg, 'utf8');
    expect(text).toMatch(/^<\?xml/);
    expect(text).toContain('<svg');
    expect(text).toContain(a.code);
    expect(text).toContain(a.fingerprint);
    expect(text).toMatch(/<path [^>]*d="M/); // the QR modules
    expect(statSync(state).mode & 0o777).toBe(0o600);
    // the same toy next time
    const b = json<{ code: string; qr: string }>(await run(['label', '--state', state, '--svg', svg, '--json'], { cwd: dir }));
    expect(b).toMatchObject({ code: a.code, qr: a.qr });
    // the terminal form draws the QR
    const t = await run(['label', '--state', state, '--svg', svg], { cwd: dir });
    expect(t.code).toBe(0);
    expect(t.stdout).toContain('▄');
    expect(t.stdout).toContain(a.code);
  });
});

describe.concurrent('plushlink CLI: message, outbox, forget-all', { timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'plushlink-cli-msg-'));
  const audio = join(ROOT, 'fixtures/audio/toy-hello.opus');

  it('message key/seal/open round trip; wrong recipient, tampering and untrusted senders fail with their codes', async () => {
    const [grandma, child] = await Promise.all([
      run(['message', 'key', '--identity', join(dir, 'grandma.json'), '--name', 'Grandma', '--json'], { cwd: dir }).then((r) => json<{ code: string; fingerprint: string }>(r)),
      run(['message', 'key', '--identity', join(dir, 'child.json'), '--name', 'Child', '--json'], { cwd: dir }).then((r) => json<{ code: string }>(r)),
    ]);
    expect(grandma.code.startsWith('PLFK:')).toBe(true);
    const env = join(dir, 'msg.plvm');
    const sealed = json<{ id: string; size: number }>(await run(['message', 'seal', audio, '--identity', join(dir, 'child.json'), '--to', grandma.code, '--out', env, '--json'], { cwd: dir }));
    expect(sealed.id).toMatch(/^[0-9a-f]{32}$/);
    const bytes = readFileSync(env);
    expect(bytes.length).toBe(sealed.size);
    expect(bytes.includes(Buffer.from('OggS'))).toBe(false);

    const outFile = join(dir, 'opened.ogg');
    const opened = json<{ id: string; senderName: string; audioBytes: number }>(
      await run(['message', 'open', env, '--identity', join(dir, 'grandma.json'), '--from', child.code, '--out', outFile, '--json'], { cwd: dir }),
    );
    expect(opened.id).toBe(sealed.id);
    expect(opened.senderName).toBe('Child');
    expect(readFileSync(outFile).equals(readFileSync(audio))).toBe(true);

    const tampered = join(dir, 'tampered.plvm');
    const t = Buffer.from(bytes);
    t[t.length - 100]! ^= 0x01;
    writeFileSync(tampered, t);
    const [notRecipient, tamper, untrusted] = await Promise.all([
      run(['message', 'open', env, '--identity', join(dir, 'child.json')], { cwd: dir }),
      run(['message', 'open', tampered, '--identity', join(dir, 'grandma.json')], { cwd: dir }),
      run(['message', 'open', env, '--identity', join(dir, 'grandma.json'), '--from', grandma.code], { cwd: dir }),
    ]);
    expect(notRecipient.stderr).toMatch(/^error NOT_A_RECIPIENT: /);
    expect(tamper.stderr).toMatch(/^error BAD_SIGNATURE: /); // docs/MESSAGES.md: any signed byte changed
    expect(untrusted.stderr).toMatch(/^error UNTRUSTED_SENDER: /);
    for (const r of [notRecipient, tamper, untrusted]) {
      expect(r.code).toBe(1);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    }
  });

  it('outbox list|flush with a folder relay; forget-all deletes the outbox, keys and keystore', async () => {
    const outbox = join(dir, 'outbox');
    const relay = join(dir, 'relay');
    const key = json<{ code: string }>(await run(['message', 'key', '--identity', join(dir, 'me.json'), '--json'], { cwd: dir }));
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      ids.push(json<{ id: string }>(await run(['message', 'seal', audio, '--identity', join(dir, 'me.json'), '--to', key.code, '--outbox', outbox, '--json'], { cwd: dir })).id);
    }
    const listed = json<{ id: string; size: number }[]>(await run(['outbox', 'list', '--outbox', outbox, '--json'], { cwd: dir }));
    expect(listed.map((e) => e.id).sort()).toEqual([...ids].sort());

    const flushed = json<{ uploaded: string[]; duplicates: string[]; failed: unknown[]; remaining: number }>(
      await run(['outbox', 'flush', '--outbox', outbox, '--relay', relay, '--json'], { cwd: dir }),
    );
    expect(flushed.uploaded.sort()).toEqual([...ids].sort());
    expect(flushed.remaining).toBe(0);
    const stored = readdirSync(relay).filter((n) => n.endsWith('.plvm')).sort();
    expect(stored).toEqual(ids.map((id) => `${id}.plvm`).sort());
    for (const n of stored) expect(readFileSync(join(relay, n)).includes(Buffer.from('OggS'))).toBe(false);
    expect(json<unknown[]>(await run(['outbox', 'list', '--outbox', outbox, '--json'], { cwd: dir }))).toEqual([]);

    // forget-all: a dry run first, then for real
    await run(['message', 'seal', audio, '--identity', join(dir, 'me.json'), '--to', key.code, '--outbox', outbox], { cwd: dir });
    const args = ['forget-all', '--outbox', outbox, '--identity', join(dir, 'me.json'), '--recordings', join(dir, 'recordings'), '--keystore', join(dir, 'ks.json')];
    const dry = await run(args, { cwd: dir });
    expect(dry.code).toBe(0);
    expect(existsSync(join(dir, 'me.json'))).toBe(true);
    const report = json<{ outbox: { count: number }; familyKeys: { count: number }; errors: unknown[] }>(await run([...args, '--yes', '--json'], { cwd: dir }));
    expect(report.outbox.count).toBe(1);
    expect(report.familyKeys.count).toBe(1);
    expect(report.errors).toEqual([]);
    expect(existsSync(join(dir, 'me.json'))).toBe(false);
    expect(json<unknown[]>(await run(['outbox', 'list', '--outbox', outbox, '--json'], { cwd: dir }))).toEqual([]);
  });
});
