/**
 * `npm run vectors -- FILE...`: runs every Noise vector of the suite 25519_ChaChaPoly_SHA512
 * in each cacophony/snow-format file. Prints one line per failure and ends with
 * `N passed, N failed, N skipped` (skipped = other suites). Exit code 1 when any failed.
 */
import { readFileSync } from 'node:fs';
import { runVectorFile, type NoiseVector } from '../src/protocol/noise/vectors.js';

const files = process.argv.slice(2).filter((a) => a !== '--');
if (files.length === 0) {
  console.error('usage: npm run vectors -- FILE... (e.g. ../shared/vectors/noise/cacophony.txt)');
  process.exit(2);
}
let passed = 0;
let failed = 0;
let skipped = 0;
for (const f of files) {
  let json: { vectors: NoiseVector[] };
  try {
    json = JSON.parse(readFileSync(f, 'utf8')) as { vectors: NoiseVector[] };
  } catch (e) {
    console.error(`${f}: cannot read vectors: ${(e as Error).message}`);
    process.exit(2);
  }
  const s = runVectorFile(json);
  for (const fl of s.failures) console.log(`FAIL ${f}: ${fl.protocolName}: ${fl.reason}`);
  passed += s.passed;
  failed += s.failed;
  skipped += s.skipped;
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
