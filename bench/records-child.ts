/**
 * Child process of the record-layer figure (bench/records.ts): installs one crypto back end for
 * the whole process, measures, and prints one JSON line on stdout.
 *
 *   node --import tsx bench/records-child.ts node|pure-js quick|full
 */
import { useCryptoBackend } from '../src/protocol/crypto.js';
import { BENCH_BACKENDS } from './backends.js';
import { measureRecords } from './records.js';

const [name, mode] = process.argv.slice(2);
const backend = BENCH_BACKENDS.find((b) => b.name === name);
if (!backend) throw new Error(`unknown back end ${name}`);
useCryptoBackend(backend);
process.stdout.write(`${JSON.stringify(measureRecords(backend.name, mode === 'quick'))}\n`);
