/**
 * Vitest configuration for mutation testing only (`npm run mutation`, scripts/mutation.ts): the
 * normal configuration (same aliases, same time limits) with the test files of one mutated folder,
 * which scripts/mutation.ts passes in PLUSHLINK_MUTATION_TESTS (a JSON array of paths and
 * `prefix-*.test.ts` patterns). Not used by `npm test`.
 *
 * Test files run in the order of that list (fast unit tests first, property tests last), so that
 * a mutant is usually killed by a quick test before the slow ones start (Stryker stops a mutant's
 * run at its first failing test).
 */
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import baseConfig from './vitest.config.js';

const raw = process.env.PLUSHLINK_MUTATION_TESTS;
if (!raw) throw new Error('vitest.mutation.config.ts: PLUSHLINK_MUTATION_TESTS is not set (run it through `npm run mutation`)');
const include = JSON.parse(raw) as string[];
const patterns = include.map((g) => new RegExp(`^${g.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`));
const rank = (file: string): number => {
  const i = patterns.findIndex((re) => re.test(file));
  return i < 0 ? patterns.length : i;
};

/** Runs the test files in the order of the list, one at a time. */
class ListOrderSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    return [...files].sort((a, b) => rank(relative(root, a.moduleId)) - rank(relative(root, b.moduleId)) || a.moduleId.localeCompare(b.moduleId));
  }
}

export default {
  ...baseConfig,
  test: {
    ...baseConfig.test,
    include,
    // Stryker's sandboxes live in .stryker-tmp/ under the project; never look into them.
    exclude: ['**/node_modules/**', '.stryker-tmp/**', 'reports/**'],
    sequence: { sequencer: ListOrderSequencer },
    // One module graph per Stryker worker, reused by every run: re-importing each covering test
    // file's graph for every mutant cost about 2 s per file, most of a mutant's time (Stryker
    // switches mutants through a global, so nothing needs a fresh import). The dry run checks that
    // the suites pass this way.
    isolate: false,
  },
};
