/**
 * Child of the keystore crash test: `node --import tsx test/fault/helpers/keystore-writer.ts <path>`
 * (the test runs a transpiled copy with plain node). It continues from the version stored at
 * <path> and saves versions k+1, k+2, ... with FileKeystore, forever, printing `start k` first and
 * `saved k` after each save resolved.
 *
 * Environment: CRASH_AT=n makes it SIGKILL itself at the n-th file-system operation of its saves
 * (1-based; before the operation runs, except a `write`, which writes the first half of its data
 * and then dies: a torn write). Without it, the parent kills it from outside.
 *
 * Stdout lines are written synchronously, so a printed line is never lost to the kill.
 */
import { writeSync } from 'node:fs';
import { FileKeystore } from '../../../src/companion/keystore.js';
import { nodeFileSystem, type DurableFileSystem } from '../../../src/util/durable-fs.js';
import { keystoreVersion, versionOf } from './keystore-shared.js';

const path = process.argv[2];
if (!path) throw new Error('usage: keystore-writer.ts <path>');
const crashAt = Number(process.env.CRASH_AT ?? 0);
let ops = 0;
const say = (line: string): void => void writeSync(1, line + '\n');
const step = (op: string): boolean => {
  ops++;
  if (ops !== crashAt) return false;
  writeSync(2, `crash ${ops} ${op}\n`);
  return true;
};
const die = (): never => {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
};
const crashingFs: DurableFileSystem = {
  ...nodeFileSystem,
  mkdirp: async (p) => (step('mkdirp') ? die() : nodeFileSystem.mkdirp(p)),
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

const ks = new FileKeystore(path, { fs: crashingFs });
const current = await ks.load();
let k = current ? versionOf(current) : 0;
say(`start ${k}`);
for (;;) {
  k++;
  await ks.save(keystoreVersion(k));
  say(`saved ${k}`);
}
