/**
 * `npm run mutation [-- <folder>] [--concurrency N] [--dry-run] [--with-static] [--only <glob>]… [--force]`: StrykerJS mutation testing of
 * one folder of the project (default src/protocol), with the test files that cover that folder
 * (see FOLDERS) so that one folder fits in about half an hour on two cores. Not part of
 * `npm test`.
 *
 * Per folder `<slug>` (src/protocol → src-protocol), under reports/mutation/<slug>/:
 * - mutation.json: Stryker's JSON report (mutation-testing-report-schema), committed after a run;
 * - mutation.html: the HTML report (not committed);
 * - live.jsonl: each mutant's result as soon as it is tested, for watching a run (not committed);
 * - stryker-incremental.json: the incremental file, so that a later run only tests mutants whose
 *   code or covering tests changed (committed with the report).
 *
 * Stryker copies the project into .stryker-tmp/ (gitignored, excluded from the normal test run)
 * and runs the tests in one Vitest instance per worker (vitest.mutation.config.ts). Tests that
 * start PostgreSQL, a browser or child processes are left out: a child process does not see the
 * active mutant, so it can only cost time. The machine is shared: run it under `nice`, with
 * concurrency 1 or 2, and never two runs at once.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Stryker } from '@stryker-mutator/core';
import type { LogLevel } from '@stryker-mutator/api/core';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface FolderPlan {
  /** Globs of the files to mutate. */
  mutate: string[];
  /** Globs of the test files that cover the folder (relative to the project root). */
  tests: string[];
}

/**
 * The folders this script knows, and their tests, in the order they run (vitest.mutation.config.ts:
 * fast unit tests first, so that most mutants die before a slow property test starts). The lists
 * are chosen by what exercises the folder's code in-process; slow suites are left out: a
 * surviving mutant in code that every test reaches (the crypto seam, the handshake) runs every
 * covering test, so for src/protocol the toy-level attack suites, the fuzz suites and the
 * handshake tamper property (36 s alone) made one folder take hours on two loaded cores.
 */
const FOLDERS: Record<string, FolderPlan> = {
  'src/protocol': {
    mutate: ['src/protocol/**/*.ts', '!src/protocol/index.ts'],
    tests: [
      'test/unit/protocol/*.test.ts',
      'test/property/record-layer.test.ts',
      'test/property/fragment.test.ts',
      'test/property/setup-code.test.ts',
    ],
  },
  'src/toy': {
    mutate: ['src/toy/**/*.ts'],
    tests: [
      'test/unit/toy/*.test.ts',
      'test/unit/companion/speaker-batching.test.ts',
      'test/unit/storage/*.test.ts',
      'test/property/toy-model.test.ts',
      'test/property/inbound-fuzz.test.ts',
      'test/attack/allow-list.test.ts',
      'test/attack/concurrent-pairing.test.ts',
      'test/attack/info-request-window.test.ts',
      'test/attack/microphone-gap.test.ts',
      'test/attack/reconnect-binding.test.ts',
      'test/attack/records.test.ts',
      'test/attack/replay.test.ts',
      'test/attack/setup-code-guessing.test.ts',
      'test/attack/stranger.test.ts',
      'test/attack/toy-recognition.test.ts',
      'test/attack/unconfirmed-pairing.test.ts',
      'test/fault/channel-exhaustion.test.ts',
      'test/fault/connection-memory.test.ts',
      // Not test/fault/handshake-disconnect.test.ts: the slowest file of the list (6 s, every
      // handshake mutant that survives pays it) and it checks the companion's typed errors on a
      // wall clock; the toy's side of it (no connection or session left after a drop) is
      // connection-memory's, stranger's (the handshake deadline) and session-disconnect's.
      'test/fault/session-disconnect.test.ts',
    ],
  },
  'src/messages': {
    mutate: ['src/messages/**/*.ts', '!src/messages/index.ts'],
    tests: [
      'test/unit/messages/*.test.ts',
      'test/unit/storage/file-stores.test.ts',
      'test/unit/storage/durable-writes.test.ts',
      'test/property/messages-*.test.ts',
      'test/property/relay-signature.test.ts',
      // The relay's request authentication is http-signature.ts's verifyRequest (docs/RELAY.md §3).
      'test/attack/relay-auth.test.ts',
    ],
  },
  'relay/src': {
    mutate: ['relay/src/**/*.ts', '!relay/src/index.ts', '!relay/src/serve.ts', '!relay/src/store/postgres.ts'],
    tests: [
      'test/unit/relay/problems.test.ts',
      'test/unit/relay/native-ed25519.test.ts',
      'test/unit/relay/open-store.test.ts',
      'test/unit/relay/sqlite-store.test.ts',
      'test/unit/messages/relay-vectors.test.ts',
      'test/attack/relay-auth.test.ts',
      'test/attack/relay-mailbox.test.ts',
      // SQLite halves only: test/helpers/postgres.ts skips PostgreSQL under a mutation run.
      'test/integration/relay-store-conformance.test.ts',
      // Signed requests through the whole relay, the slowest files: a mutant of the
      // authentication hook that no earlier file kills runs all of them (relay-rules' per-key
      // budget alone sends 600 requests).
      'test/unit/relay/relay-rules.test.ts',
      'test/integration/relay-api.test.ts',
      'test/integration/relay-client-contract.test.ts',
      'test/property/relay-signature.test.ts',
    ],
  },
};

function usage(code: number): never {
  console.error(`usage: npm run mutation [-- <folder>] [--concurrency N] [--dry-run] [--with-static] [--only <glob>[:<lines>]]… [--force]\n  folders: ${Object.keys(FOLDERS).join(', ')}`);
  process.exit(code);
}

const args = process.argv.slice(2).filter((a) => a !== '--');
let folder = 'src/protocol';
let concurrency = 2;
let dryRunOnly = false;
let ignoreStatic = true;
const only: string[] = [];
let force = false;
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === '--concurrency') {
    concurrency = Number(args[++i]);
    if (!Number.isInteger(concurrency) || concurrency < 1) usage(2);
  } else if (a === '--dry-run') dryRunOnly = true;
  else if (a === '--with-static') ignoreStatic = false;
  else if (a === '--only') {
    const glob = args[++i];
    if (!glob) usage(2);
    only.push(glob);
  } else if (a === '--force') force = true;
  else if (a === '-h' || a === '--help') usage(0);
  else if (a.startsWith('-')) usage(2);
  else folder = a.replace(/\/+$/, '');
}
const plan = FOLDERS[folder];
if (!plan) usage(2);

process.chdir(ROOT);
const slug = folder.replace(/\//g, '-');
const outDir = join('reports', 'mutation', slug);
mkdirSync(outDir, { recursive: true });

// The test runner workers inherit the environment: the test list for vitest.mutation.config.ts,
// and where the public vectors are (tests find ../shared beside the project, which from a
// sandbox in .stryker-tmp/ would be the wrong place).
process.env.PLUSHLINK_MUTATION_TESTS = JSON.stringify(plan.tests);
process.env.PLUSHLINK_MUTATION = folder;
// Tests that read a source file's text (the toy policy's purity check) read the project's file,
// not the sandbox's instrumented copy.
process.env.PLUSHLINK_SOURCE_ROOT = ROOT;
// Each mutant's result, one JSON line as soon as it is tested (scripts/mutation-live-reporter.mjs).
process.env.PLUSHLINK_MUTATION_LIVE = join(ROOT, outDir, 'live.jsonl');
const shared = resolve(ROOT, '..', 'shared');
if (!process.env.PLUSHLINK_SHARED_DIR && existsSync(shared)) process.env.PLUSHLINK_SHARED_DIR = shared;
if (!process.env.PLUSHLINK_SHARED_DIR) console.warn(`${shared} is missing: the Noise and Wycheproof vector tests are skipped (set PLUSHLINK_SHARED_DIR)`);

// --only (repeatable): mutate part of the folder (same report and incremental file): a glob, or
// one file with a range (`relay/src/app.ts:120-140`, Stryker's mutate ranges). Results of the
// rest of the folder are kept from the incremental file, so a long folder can be done in steps
// that each end with a whole report.
// --force: test the mutants in scope again even where the incremental file has a result for them,
// e.g. after a change to a test helper, which Stryker's incremental diff does not see (it tracks
// the mutated files and the test files only).
if (only.some((o) => !o.startsWith(`${folder}/`))) usage(2);
const stryker = new Stryker({
  mutate: only.length === 0 ? plan.mutate : [...only, ...plan.mutate.filter((m) => m.startsWith('!'))],
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  coverageAnalysis: 'perTest',
  concurrency,
  incremental: true,
  force,
  incrementalFile: join(outDir, 'stryker-incremental.json'),
  reporters: ['json', 'html', 'progress-append-only', 'plushlink-live'],
  appendPlugins: [join(ROOT, 'scripts', 'mutation-live-reporter.mjs')],
  jsonReporter: { fileName: join(outDir, 'mutation.json') },
  htmlReporter: { fileName: join(outDir, 'mutation.html') },
  tempDirName: '.stryker-tmp',
  // Only what the tests need goes into a sandbox (docs/ stays: tests check tables against
  // PROTOCOL.md, e.g. the toy policy's request rules).
  ignorePatterns: ['reports', 'web', 'bench', 'dist', 'coverage', '*.log', '.vitest-report.json'],
  // A loaded shared machine: a mutant that makes the tests ten times slower is a timeout, not
  // one that is merely slowed down by a neighbour.
  timeoutMS: 10_000,
  timeoutFactor: 3,
  dryRunTimeoutMinutes: 15,
  dryRunOnly,
  // Static mutants (module-level code: tables, constants, protocol names) are active while a
  // module loads, so Stryker must run every test for each of them: about half of the run for
  // one mutant in ten. They are reported as Ignored unless --with-static.
  ignoreStatic,
  cleanTempDir: true,
  logLevel: 'info' as LogLevel,
  fileLogLevel: 'off' as LogLevel,
});
const started = Date.now();
const results = await stryker.runMutationTest();
const count = (s: string): number => results.filter((r) => r.status === s).length;
const killed = count('Killed') + count('Timeout');
const survived = count('Survived');
const noCoverage = count('NoCoverage');
const valid = killed + survived + noCoverage;
console.log(
  `${folder}: ${results.length} mutants, killed ${count('Killed')}, timeout ${count('Timeout')}, survived ${survived}, no coverage ${noCoverage}, ` +
    `errors ${count('CompileError') + count('RuntimeError')}, ignored ${count('Ignored')}; ` +
    `score ${valid ? ((100 * killed) / valid).toFixed(2) : '-'} %; ${((Date.now() - started) / 60_000).toFixed(1)} min; report ${join(outDir, 'mutation.json')}`,
);
