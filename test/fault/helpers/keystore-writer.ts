/**
 * Child of the keystore crash test: `node --import tsx test/fault/helpers/keystore-writer.ts <path>`
 * (the test runs a transpiled copy with plain node). It continues from the version stored at
 * <path> and saves versions k+1, k+2, ... with FileKeystore, forever, printing `start k` first and
 * `saved k` after each save resolved. The parent SIGKILLs it at random moments.
 */
import { FileKeystore } from '../../../src/companion/keystore.js';
import { keystoreVersion, versionOf } from './keystore-shared.js';

const path = process.argv[2];
if (!path) throw new Error('usage: keystore-writer.ts <path>');
const ks = new FileKeystore(path);
const current = await ks.load();
let k = current ? versionOf(current) : 0;
process.stdout.write(`start ${k}\n`);
for (;;) {
  k++;
  await ks.save(keystoreVersion(k));
  process.stdout.write(`saved ${k}\n`);
}
