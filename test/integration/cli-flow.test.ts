/**
 * End-to-end flows of the `plushlink` bin, run as child processes with no hardware:
 * `demo` over memory and noble-sim, and pair → toys → record → play → forget against the
 * in-process simulated toy, whose identity and flash persist between invocations.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
const BIN = join(ROOT, 'bin/plushlink.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Only stops a command that hangs (a busy machine is slow, not wrong): never part of a verdict. */
function run(args: string[], cwd: string, timeoutMs = 540_000): Promise<Run> {
  return new Promise((res) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, PLUSHLINK_HOME: join(cwd, 'home'), DEBUG: '' }, timeout: timeoutMs }, (err, stdout, stderr) =>
      res({ code: err ? ((err as { code?: unknown }).code as number) : 0, stdout, stderr }),
    );
  });
}

function ok<T>(r: Run): T {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

interface DemoJson {
  transport: string;
  paired: boolean;
  pairingRoundTrips: number;
  reconnectRoundTrips: number;
  speakerFramesSent: number;
  speakerFramesPlayed: number;
  intruder: { attempts: number; accepted: number; results: { attempt: string; accepted: boolean }[] };
}

describe.concurrent('plushlink CLI flows (run concurrently: mostly real-time audio waits)', { timeout: 600_000 }, () => {
  it('demo --transport noble-sim --json prints the same verdicts as memory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plushlink-cli-demo-'));
    const [mem, sim] = await Promise.all([
      run(['demo', '--json', '--out', join(dir, 'mem')], dir).then((r) => ok<DemoJson>(r)),
      run(['demo', '--transport', 'noble-sim', '--json', '--out', join(dir, 'sim')], dir).then((r) => ok<DemoJson>(r)),
    ]);
    expect(mem.transport).toBe('memory');
    expect(sim.transport).toBe('noble-sim');
    const verdicts = (d: DemoJson) => ({
      paired: d.paired,
      pairingRoundTrips: d.pairingRoundTrips,
      reconnectRoundTrips: d.reconnectRoundTrips,
      speakerAllPlayed: d.speakerFramesPlayed === d.speakerFramesSent,
      intruderAttempts: d.intruder.attempts,
      intruderAccepted: d.intruder.accepted,
      intruderVerdicts: d.intruder.results.map((x) => [x.attempt, x.accepted]),
    });
    expect(verdicts(mem)).toMatchObject({ paired: true, pairingRoundTrips: 1, reconnectRoundTrips: 1, speakerAllPlayed: true, intruderAccepted: 0 });
    expect(verdicts(sim)).toEqual(verdicts(mem));
    expect(statSync(join(dir, 'sim', 'microphone.ogg')).size).toBeGreaterThan(1000);
  });

  it('pair → toys → scan → record → play → forget over --transport memory with the in-process toy; its state persists across invocations; a forgotten companion is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plushlink-cli-flow-'));
    const toyState = join(dir, 'toy.json');
    const g = ['--transport', 'memory', '--toy-state', toyState, '--keystore', join(dir, 'keystore.json')];
    const label = ok<{ code: string; qr: string; fingerprint: string }>(await run(['label', '--state', toyState, '--svg', join(dir, 'l.svg'), '--json'], dir));

    // a wrong (well-formed) code is refused by the toy
    const wrong = ok<{ code: string }>(await run(['label', '--fresh', '--svg', join(dir, 'w.svg'), '--json'], dir)).code;
    const refused = await run(['pair', 'any', '--code', wrong, ...g], dir);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trimEnd()).toMatch(/^error WRONG_SETUP_CODE: [^\n]+$/);
    await new Promise((r) => setTimeout(r, 1100)); // the toy's backoff after a failed attempt (1 s)

    // the typed human code (the toy is asked for its key inside the window: 2 round trips)
    const paired = ok<{ id: string; name: string; role: string; roundTrips: number }>(await run(['pair', 'any', '--code', label.code, '--name', 'Bunny', '--json', ...g], dir));
    expect(paired).toMatchObject({ id: label.fingerprint, name: 'Bunny', role: 'owner', roundTrips: 2 });
    expect(statSync(join(dir, 'keystore.json')).mode & 0o777).toBe(0o600);
    const flash = JSON.parse(readFileSync(`${toyState}.flash.json`, 'utf8')) as { pairings: { role: string; displayName: string }[] };
    expect(flash.pairings).toEqual([expect.objectContaining({ role: 'owner', displayName: 'plushlink CLI' })]);

    const toys = ok<{ id: string; name: string }[]>(await run(['toys', '--json', ...g], dir));
    expect(toys).toEqual([expect.objectContaining({ id: label.fingerprint, name: 'Bunny' })]);

    const scanned = ok<{ kind: string; toy?: { name: string } }[]>(await run(['scan', '--seconds', '0.5', '--json', ...g], dir));
    expect(scanned).toEqual([expect.objectContaining({ kind: 'paired', toy: expect.objectContaining({ name: 'Bunny' }) })]);

    const ogg = join(dir, 'rec.ogg');
    const wav = join(dir, 'rec.wav');
    const rec = ok<{ frames: number; lost: number; seconds: number }>(await run(['record', 'Bunny', ogg, '--seconds', '1', '--wav', wav, '--json', ...g], dir));
    expect(rec.frames).toBeGreaterThanOrEqual(40);
    expect(rec.frames).toBeLessThanOrEqual(60);
    expect(readFileSync(ogg).subarray(0, 4).toString('latin1')).toBe('OggS');
    expect(readFileSync(wav).subarray(0, 4).toString('latin1')).toBe('RIFF');

    for (const file of [ogg, wav]) {
      const played = ok<{ framesSent: number; framesPlayed: number; overruns: number }>(await run(['play', 'Bunny', file, '--json', ...g], dir));
      expect(played.framesSent).toBeGreaterThanOrEqual(40);
      expect(played.framesPlayed).toBe(played.framesSent);
      expect(played.overruns).toBe(0);
    }

    // forget: the toy removes us from its allow-list; an old copy of the keystore is then refused
    copyFileSync(join(dir, 'keystore.json'), join(dir, 'old-keystore.json'));
    const forgot = ok<{ removedFromToy: boolean }>(await run(['forget', 'Bunny', '--json', ...g], dir));
    expect(forgot.removedFromToy).toBe(true);
    expect(ok<unknown[]>(await run(['toys', '--json', ...g], dir))).toEqual([]);
    expect((JSON.parse(readFileSync(`${toyState}.flash.json`, 'utf8')) as { pairings: unknown[] }).pairings).toEqual([]);
    const old = ['--transport', 'memory', '--toy-state', toyState, '--keystore', join(dir, 'old-keystore.json')];
    // (the toy no longer advertises a tag for this companion, so it is not even found)
    const stale = await run(['record', 'Bunny', join(dir, 'x.ogg'), '--seconds', '1', '--timeout', '2', ...old], dir);
    expect(stale.code).toBe(1);
    expect(stale.stderr.trimEnd()).toMatch(/^error (NOT_PAIRED|TIMEOUT): [^\n]+$/);
  });
});
