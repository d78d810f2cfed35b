/**
 * Child process for test/fault/outbox-crash.test.ts. Seals messages, adds them to an outbox and
 * flushes them to a FolderRelay (which fails every third upload, so retries happen), through a
 * file system wrapper that counts every operation.
 *
 * Environment:
 *   OUTBOX_DIR, RELAY_DIR  folders to use
 *   CRASH_AT=k             SIGKILL itself at file-system operation k (1-based): before the
 *                          operation runs, except a `write`, which writes the first half of its
 *                          data and then dies (a torn write). 0 or unset: never.
 *   MESSAGES=n             how many messages (default 8)
 *   TRACE=1                print `op <k> <name>` on stderr for every operation
 *
 * Stdout protocol (pipe writes are synchronous on Linux, so a printed line is never lost):
 *   start | added <id> <index> (only after add() resolved: the message is durable)
 *   | flushed <uploaded> <duplicates> | done <ops> <workload ms>
 * Stderr: `crash <k> <op>` right before self-kill.
 */
import { writeSync } from 'node:fs';
import {
  FolderRelay,
  Outbox,
  nodeFileSystem,
  sealVoiceMessage,
  type DurableFileSystem,
  type Relay,
} from '../../../src/messages/index.js';

import { audioOf, recipient, sender } from './outbox-crash-shared.js';

const crashAt = Number(process.env.CRASH_AT ?? 0);
let ops = 0;
const say = (line: string): void => void writeSync(1, line + '\n');

const trace = process.env.TRACE === '1';
function step(op: string): boolean {
  ops++;
  if (trace) writeSync(2, `op ${ops} ${op}\n`);
  if (ops === crashAt) {
    writeSync(2, `crash ${ops} ${op}\n`);
    return true;
  }
  return false;
}
const die = (): never => {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
};

const crashingFs: DurableFileSystem = {
  mkdirp: async (p) => (step('mkdirp') ? die() : nodeFileSystem.mkdirp(p)),
  readdir: async (p) => (step('readdir') ? die() : nodeFileSystem.readdir(p)),
  readFile: async (p) => (step('readFile') ? die() : nodeFileSystem.readFile(p)),
  stat: async (p) => (step('stat') ? die() : nodeFileSystem.stat(p)),
  rename: async (a, b) => (step('rename') ? die() : nodeFileSystem.rename(a, b)),
  unlink: async (p) => (step('unlink') ? die() : nodeFileSystem.unlink(p)),
  fsyncDir: async (p) => (step('fsyncDir') ? die() : nodeFileSystem.fsyncDir(p)),
  async createExclusive(p) {
    if (step('createExclusive')) die();
    const f = await nodeFileSystem.createExclusive(p);
    return {
      async write(data) {
        if (step('write')) {
          await f.write(data.subarray(0, data.length >> 1));
          die();
        }
        await f.write(data);
      },
      sync: async () => (step('sync') ? die() : f.sync()),
      close: async () => (step('close') ? die() : f.close()),
    };
  },
};

async function main(): Promise<void> {
  const n = Number(process.env.MESSAGES ?? 8);
  const t0 = performance.now();
  say('start');
  const outbox = await Outbox.open(process.env.OUTBOX_DIR!, { fs: crashingFs, sleep: async () => undefined });
  const folder = await FolderRelay.open(process.env.RELAY_DIR!, { fs: crashingFs });
  let calls = 0;
  const flaky: Relay = {
    upload: async (id, bytes) => {
      if (++calls % 3 === 0) throw new Error('simulated network error');
      return folder.upload(id, bytes);
    },
  };
  const sealed: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const env = sealVoiceMessage({ audio: audioOf(i), from: sender, to: [recipient], createdAt: 1_767_225_600_000 + i });
    sealed.push(env);
    const { id } = await outbox.add(env);
    say(`added ${id} ${i}`);
    if (i === 4) {
      // Re-adding an envelope already queued or already uploaded: idempotent / relay 'duplicate'.
      const again = await outbox.add(sealed[1]!);
      say(`added ${again.id} 1`);
    }
    if (i % 2 === 1) {
      const r = await outbox.flush(flaky, { maxAttempts: 5 });
      say(`flushed ${r.uploaded.length} ${r.duplicates.length}`);
    }
  }
  const r = await outbox.flush(flaky, { maxAttempts: 5 });
  say(`flushed ${r.uploaded.length} ${r.duplicates.length}`);
  say(`done ${ops} ${Math.round(performance.now() - t0)}`);
}

main().catch((e) => {
  writeSync(2, `error ${String(e?.stack ?? e)}\n`);
  process.exit(1);
});
