/**
 * The `plushlink` bin at its edges, as a newcomer meets them: ordinary 44.1 kHz stereo and 48 kHz
 * WAV files, corrupt files, an owned toy, Ctrl-C while pairing, a folder that does not exist yet,
 * stdin at end of file, the label's defaults, `npm run demo` with a bad flag, and `doctor` against
 * a real relay. Child processes, one after the other; no verdict depends on how fast the machine
 * is (waits are for output, never for a fixed time; time limits only stop a hung command).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveRelay } from '@plushlink/relay';
import { readOggOpus } from '../../src/audio/index.js';

const ROOT = resolve(__dirname, '../..');
const BIN = join(ROOT, 'bin/plushlink.js');
const FIX = join(ROOT, 'fixtures/audio');
/** Only stops a command that hangs; never part of a verdict. */
const HUNG_MS = 540_000;
const T = { timeout: 600_000 };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const dir = mkdtempSync(join(tmpdir(), 'plushlink-cli-edges-'));
const env: NodeJS.ProcessEnv = { ...process.env, PLUSHLINK_HOME: join(dir, 'home'), DEBUG: '' };
delete env.PLUSHLINK_RELAY;

function run(args: string[], opts: { cwd?: string; argv0?: string[] } = {}): Promise<Run> {
  return new Promise((res) => {
    execFile(process.execPath, [...(opts.argv0 ?? [BIN]), ...args], { cwd: opts.cwd ?? dir, env, timeout: HUNG_MS, maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
      res({ code: err ? ((err as { code?: unknown }).code as number | null) : 0, stdout, stderr }),
    );
  });
}

function ok<T>(r: Run): T {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

/** Starts the bin and resolves once `stream` shows `pattern`; `done` resolves at exit. */
function startUntil(args: string[], stream: 'stdout' | 'stderr', pattern: RegExp, extraEnv: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  const text = { stdout: '', stderr: '' };
  const done = new Promise<Run>((res) => child.on('exit', (code, signal) => res({ code: code ?? (signal ? -1 : null), ...text })));
  const seen = new Promise<void>((res, rej) => {
    for (const s of ['stdout', 'stderr'] as const) {
      child[s].on('data', (d: Buffer) => {
        text[s] += d.toString();
        if (s === stream && pattern.test(text[s])) res();
      });
    }
    void done.then((r) => rej(new Error(`exited (${r.code}) before ${stream} showed ${pattern}: ${r.stderr}`)));
  });
  seen.catch(() => undefined);
  const hung = setTimeout(() => child.kill('SIGKILL'), HUNG_MS);
  void done.then(() => clearTimeout(hung));
  return { child, seen, done, text };
}

describe('plushlink CLI at its edges (one after the other, against the in-process toy)', () => {
  let qr = '';

  it('label: without options it is the simulated toy\'s label, saved in $PLUSHLINK_HOME, and it says so', T, async () => {
    const a = ok<{ qr: string; state: string; saved: boolean; svg: string }>(await run(['label', '--json']));
    expect(a.state).toBe(join(dir, 'home', 'sim-toy.json'));
    expect(a.saved).toBe(true);
    expect(a.svg).toBe(join(dir, 'home', 'sim-toy.label.svg'));
    expect(readFileSync(a.svg, 'utf8')).toContain('<svg');
    expect(existsSync(join(dir, 'plushlink-label.svg'))).toBe(false); // nothing in the current folder
    qr = a.qr;
    const t = await run(['label', '--no-qr']);
    expect(t.code).toBe(0);
    expect(t.stdout).toContain(`toy identity     loaded from ${a.state}`);
    expect(t.stdout).toContain(qr);
    const fresh = ok<{ qr: string; saved: boolean; svg: string | null }>(await run(['label', '--fresh', '--json']));
    expect(fresh).toMatchObject({ saved: false, svg: null });
    expect(fresh.qr).not.toBe(qr);
  });

  it('play and message seal refuse a corrupt or non-audio file with a typed error, before the radio', T, async () => {
    const ogg = readFileSync(join(FIX, 'toy-hello.opus'));
    writeFileSync(join(dir, 'cut.opus'), ogg.subarray(0, ogg.length - 50));
    writeFileSync(join(dir, 'notes.wav'), 'not a wav at all');
    const key = ok<{ code: string }>(await run(['message', 'key', '--identity', join(dir, 'me.json'), '--json']));
    const [play, playText, seal, sealText] = await Promise.all([
      run(['--transport', 'memory', 'play', 'Bunny', 'cut.opus']),
      run(['--transport', 'memory', 'play', 'Bunny', 'notes.wav']),
      run(['message', 'seal', 'cut.opus', '--identity', join(dir, 'me.json'), '--to', key.code, '--out', 'x.plvm']),
      run(['message', 'seal', 'notes.wav', '--identity', join(dir, 'me.json'), '--to', key.code, '--out', 'x.plvm']),
    ]);
    expect(play.code).toBe(1);
    expect(play.stderr.trim()).toMatch(/^error BAD_OGG: cut\.opus: /);
    expect(playText.stderr.trim()).toMatch(/^error BAD_AUDIO: notes\.wav: not a WAV or Ogg Opus file/);
    expect(seal.code).toBe(1);
    expect(seal.stderr.trim()).toMatch(/^error BAD_OGG: /);
    expect(sealText.stderr.trim()).toMatch(/^error BAD_AUDIO: /);
    expect(existsSync(join(dir, 'x.plvm'))).toBe(false);
    expect(existsSync(join(dir, 'home', 'sim-toy.json.flash.json'))).toBe(false); // the toy was never started
  });

  it('pair as owner; a second companion is told the toy is owned and how to reset it, not "hold the button"', T, async () => {
    ok(await run(['--transport', 'memory', 'pair', 'any', '--code', qr, '--name', 'Bunny', '--json']));
    const other = await run(['--transport', 'memory', '--keystore', join(dir, 'other.json'), 'pair', 'any', '--code', qr, '--seconds', '2']);
    expect(other.code).toBe(1);
    expect(other.stderr.trim().split('\n')).toHaveLength(1);
    expect(other.stderr).toMatch(/^error NOT_IN_PAIRING_MODE: the toy nearby \(\w+\) already has an owner/);
    expect(other.stderr).toContain('factory-reset the simulated toy');
    expect(other.stderr).not.toMatch(/hold the toy's button/);
    const again = await run(['--transport', 'memory', 'pair', 'any', '--code', qr, '--seconds', '2']);
    expect(again.stderr).toMatch(/^error NOT_IN_PAIRING_MODE: "Bunny" is already paired with this companion/);
  });

  it('play takes a 44.1 kHz stereo WAV and a 48 kHz mono WAV; every frame is played', T, async () => {
    for (const [file, rate, channels] of [
      ['sing-44k1-stereo.wav', 44100, 2],
      ['sing-48k-mono.wav', 48000, 1],
    ] as const) {
      const r = ok<{ framesSent: number; framesPlayed: number; source: { sampleRate: number; channels: number; reencoded: boolean } }>(
        await run(['--transport', 'memory', 'play', 'Bunny', join(FIX, 'input', file), '--json']),
      );
      expect(r.source).toEqual({ container: 'wav', sampleRate: rate, channels, reencoded: true });
      expect(r.framesSent).toBeGreaterThan(80); // 1.76 s of voice
      expect(r.framesPlayed).toBe(r.framesSent);
    }
  });

  it('--probe finds a paired toy whose advertising key changed while this companion was away; without it the timeout says to use it', T, async () => {
    // The keystore keeps an advertising key the toy no longer uses (PROTOCOL.md §14.3): the toy's
    // tags resolve to nothing, so it looks like someone else's toy.
    const ksPath = join(dir, 'home', 'keystore.json');
    const ks = JSON.parse(readFileSync(ksPath, 'utf8')) as { toys: { name: string; advertisingKey: string }[] };
    const current = ks.toys.find((t) => t.name === 'Bunny')!.advertisingKey;
    const stale = current.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    ks.toys.find((t) => t.name === 'Bunny')!.advertisingKey = stale;
    writeFileSync(ksPath, JSON.stringify(ks));
    const wav = join(FIX, 'input', 'sing-48k-mono.wav');

    const lost = await run(['--transport', 'memory', 'play', 'Bunny', wav, '--timeout', '3']);
    expect(lost.code).toBe(1);
    expect(lost.stderr.trim()).toMatch(/^error TIMEOUT: "Bunny" was not found .*try again with --probe\)$/);
    expect((JSON.parse(readFileSync(ksPath, 'utf8')) as typeof ks).toys[0]!.advertisingKey).toBe(stale);

    const found = ok<{ framesSent: number; framesPlayed: number }>(await run(['--transport', 'memory', '--probe', 'play', 'Bunny', wav, '--json']));
    expect(found.framesPlayed).toBe(found.framesSent);
    // The toy's hello brought its current key; the keystore keeps it, so plain connects work again.
    expect((JSON.parse(readFileSync(ksPath, 'utf8')) as typeof ks).toys.find((t) => t.name === 'Bunny')!.advertisingKey).toBe(current);
    ok(await run(['--transport', 'memory', 'play', 'Bunny', wav, '--json']));
  });

  it('message seal takes a 48 kHz WAV (sealed as 16 kHz mono Ogg Opus) and a stereo Ogg Opus file (sealed unchanged)', T, async () => {
    const key = ok<{ code: string }>(await run(['message', 'key', '--identity', join(dir, 'me.json'), '--json']));
    for (const [src, out] of [
      [join(FIX, 'input', 'sing-48k-mono.wav'), 'wav'],
      [join(FIX, 'input', 'sing-48k-stereo.opus'), 'opus'],
    ] as const) {
      ok(await run(['message', 'seal', src, '--identity', join(dir, 'me.json'), '--to', key.code, '--out', `${out}.plvm`, '--json']));
      ok(await run(['message', 'open', `${out}.plvm`, '--identity', join(dir, 'me.json'), '--out', `${out}.ogg`, '--json']));
      const opened = new Uint8Array(readFileSync(join(dir, `${out}.ogg`)));
      const file = readOggOpus(opened);
      if (out === 'wav') expect(file.head.channels).toBe(1);
      else expect(Buffer.from(opened).equals(readFileSync(src))).toBe(true);
    }
  });

  it('record creates a missing folder; a folder as the file name is a usage error', T, async () => {
    const target = join(dir, 'new', 'deeper', 'mic.ogg');
    const r = ok<{ file: string; frames: number }>(await run(['--transport', 'memory', 'record', 'Bunny', target, '--seconds', '1', '--wav', join(dir, 'wavs', 'mic.wav'), '--json']));
    expect(r.frames).toBeGreaterThan(0);
    expect(readOggOpus(new Uint8Array(readFileSync(target))).complete).toBe(true);
    expect(existsSync(join(dir, 'wavs', 'mic.wav'))).toBe(true);
    mkdirSync(join(dir, 'a-folder'));
    const bad = await run(['--transport', 'memory', 'record', 'Bunny', join(dir, 'a-folder'), '--seconds', '1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toMatch(/^error USAGE: the recording .*a-folder is a folder: give a file name$/);
  });

  it('Ctrl-C while pair is looking for a toy: ABORTED with exit 130, not NOT_FOUND', T, async () => {
    const p = startUntil(['--transport', 'memory', '--keystore', join(dir, 'third.json'), 'pair', 'any', '--code', qr, '--seconds', '3600'], 'stderr', /progress: looking for a toy in pairing mode/, {
      DEBUG: 'plushlink:cli',
    });
    await p.seen;
    p.child.kill('SIGINT');
    const r = await p.done;
    expect(r.code).toBe(130);
    expect(r.stderr.trim().split('\n').at(-1)).toBe('error ABORTED: interrupted');
  });

  it('simulate-toy --in-process with stdin at end of file runs until a signal', T, async () => {
    const p = startUntil(['simulate-toy', '--in-process', '--state', join(dir, 'home', 'sim-toy.json')], 'stderr', /stdin closed/);
    await p.seen;
    expect(p.child.exitCode).toBe(null); // still running after stdin ended (it used to exit 13 here)
    p.child.kill('SIGTERM');
    const r = await p.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Toy stopped; state written.');
  });

  it('npm run demo with a bad transport or an unknown flag: one usage line, exit 2, no stack trace', T, async () => {
    const demo = (args: string[]): Promise<Run> => run(args, { cwd: ROOT, argv0: ['--import', 'tsx', join(ROOT, 'src/cli/demo/demo.ts')] });
    for (const args of [['--transport', 'bogus'], ['--bogus']]) {
      const r = await demo(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(/^error USAGE: /);
    }
  });
});

describe('plushlink doctor against a real relay', () => {
  let relay: Awaited<ReturnType<typeof serveRelay>> | undefined;
  beforeAll(async () => {
    relay = await serveRelay({ db: join(dir, 'relay.db'), host: '127.0.0.1', port: 0 });
  }, 120_000);
  afterAll(async () => {
    await relay?.close();
  });

  it('prints every check, one line each; the relay check passes against `relay serve` and fails on a closed port', T, async () => {
    const up = await run(['doctor', '--relay', relay!.url, '--json']);
    const checks = JSON.parse(up.stdout) as { id: string; status: string; summary: string; fix?: string }[];
    expect(checks.map((c) => c.id)).toEqual(['node', 'noble', 'bleno', 'build-tools', 'adapter', 'raw-sockets', 'bluetoothd', 'opus-tools', 'relay']);
    expect(checks.find((c) => c.id === 'relay')).toMatchObject({ status: 'ok' });
    expect(checks.find((c) => c.id === 'node')).toMatchObject({ status: 'ok' });
    for (const c of checks) if (c.status === 'fail') expect(c.fix, c.id).toBeTruthy();
    expect(up.code).toBe(checks.some((c) => c.status === 'fail') ? 1 : 0);

    const closed = await new Promise<number>((res) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => res(port));
      });
    });
    const down = await run(['doctor', '--relay', `http://127.0.0.1:${closed}`]);
    expect(down.code).toBe(1);
    const lines = down.stdout.trim().split('\n');
    expect(lines).toHaveLength(9);
    expect(lines.at(-1)).toMatch(/^FAIL {2}relay {7}relay http:\/\/127\.0\.0\.1:\d+ does not answer GET \/v1\/health .*→ fix: start one with `plushlink relay serve`/);
    expect(down.stderr.trim()).toMatch(/^error UNSUPPORTED: \d+ check\(s\) failed: .*relay/);
  });
});
