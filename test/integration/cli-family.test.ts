/**
 * The family story through the `plushlink` bin (child processes) against a real relay on
 * 127.0.0.1: key codes, `family add|list|remove` (which keep the relay's allow-list in step),
 * `message send`, `inbox --out`, receipts back to the sender's outbox, and a stranger refused.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRelay, openSqliteStore, type RelayServer } from '@plushlink/relay';

const ROOT = resolve(__dirname, '../..');
const BIN = join(ROOT, 'bin/plushlink.js');
const AUDIO = join(ROOT, 'fixtures/audio/child-question.opus');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let relay: RelayServer;
let url: string;
const dir = mkdtempSync(join(tmpdir(), 'plushlink-cli-family-'));

function run(who: string, args: string[]): Promise<Run> {
  return new Promise((res) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: dir, env: { ...process.env, PLUSHLINK_HOME: join(dir, who), PLUSHLINK_RELAY: url, DEBUG: '' }, timeout: 60_000 },
      (err, stdout, stderr) => res({ code: err ? ((err as { code?: unknown }).code as number) : 0, stdout, stderr }),
    );
  });
}

async function ok(who: string, args: string[]): Promise<Run> {
  const r = await run(who, args);
  expect(r.code, `${who}: plushlink ${args.join(' ')}\n${r.stderr}`).toBe(0);
  return r;
}

async function keyCode(who: string): Promise<string> {
  return (JSON.parse((await ok(who, ['message', 'key', '--name', who, '--json'])).stdout) as { code: string }).code;
}

beforeAll(async () => {
  relay = await createRelay({ store: openSqliteStore({ path: join(dir, 'relay.db') }), sweepIntervalMs: 0 });
  url = await relay.listen();
});
afterAll(async () => {
  await relay.close();
});

// Each step starts the bin (a few seconds on a busy machine): generous per-test limits.
describe('plushlink family / message send / inbox', { timeout: 300_000 }, () => {
  it('carries a message from the child to the gran and a receipt back; refuses a stranger', async () => {
    const [child, gran, stranger] = await Promise.all([keyCode('child'), keyCode('gran'), keyCode('stranger')]);
    const added = JSON.parse((await ok('child', ['family', 'add', gran, '--json'])).stdout) as { added: boolean; name: string; relay: string };
    expect(added).toMatchObject({ added: true, name: 'gran' });
    expect(added.relay).toContain('1 added');
    await ok('gran', ['family', 'add', child]);
    expect((await ok('child', ['family', 'list'])).stdout).toMatch(/^gran\s+\d{5}/m);

    const sent = JSON.parse((await ok('child', ['message', 'send', AUDIO, '--to', 'gran', '--json'])).stdout) as { id: string; uploaded: boolean; queued: boolean };
    expect(sent).toMatchObject({ uploaded: true, queued: true });

    const out = join(dir, 'gran-out');
    const got = await ok('gran', ['inbox', '--out', out, '--json']);
    const lines = got.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; id?: string; from?: string });
    expect(lines.find((l) => l.event === 'message')).toMatchObject({ id: sent.id, from: 'child' });
    expect(readdirSync(out).sort()).toEqual([`${sent.id}.ogg`, `${sent.id}.wav`]);

    // The child's next inbox run collects the gran's receipt: the outbox lets the message go.
    expect(existsSync(join(dir, 'child/outbox', `${sent.id}.plvm`))).toBe(true);
    const back = await ok('child', ['inbox', '--json']);
    expect(back.stdout).toContain(`"delivered":["${sent.id}"]`);
    expect(existsSync(join(dir, 'child/outbox', `${sent.id}.plvm`))).toBe(false);

    // A stranger who has the child's key code is refused by the relay.
    await ok('stranger', ['family', 'add', child, '--offline']);
    const refused = await run('stranger', ['message', 'send', AUDIO, '--to', 'child']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error RELAY_SENDER_NOT_ALLOWED: /m);
    expect(stranger).toMatch(/^PLFK:/);

    // The child removes the gran: the relay refuses the gran's next message.
    expect((await ok('child', ['family', 'remove', 'gran'])).stdout).toContain('removed  gran');
    const afterRemove = await run('gran', ['message', 'send', AUDIO, '--to', 'child']);
    expect(afterRemove.stderr).toMatch(/^error RELAY_SENDER_NOT_ALLOWED: /m);
  });

  it('says clearly what is wrong: unknown member, bad key code, unreachable relay', async () => {
    await keyCode('solo');
    expect((await run('solo', ['message', 'send', AUDIO, '--to', 'nobody'])).stderr).toMatch(/^error NOT_FOUND: "nobody" is not in the family list/m);
    expect((await run('solo', ['family', 'add', 'PLFK:garbage', '--offline'])).stderr).toMatch(/^error [A-Z_]+: /m);
    const r = await run('solo', ['inbox', '--relay', 'http://127.0.0.1:9']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error RELAY_UNAVAILABLE: /m);
  });
});
