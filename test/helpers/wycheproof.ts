/**
 * Loader for the Wycheproof vector files (format `testvectors_v1`) that live outside the
 * project, in `../shared/vectors/wycheproof/` relative to the project root. Nothing is copied
 * into the repository.
 *
 * Policy for a missing folder: the tests that use it are skipped with a message naming the
 * path (`describe.skipIf(!WYCHEPROOF_AVAILABLE)`), never passed silently. When the folder is
 * present, a missing or malformed file is a hard failure, not a skip.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fromHex } from '../../src/protocol/bytes.js';
import { isPlushlinkError, type ErrorCode } from '../../src/protocol/errors.js';
import { CRYPTO_BACKENDS, useCryptoBackendInSuite } from './backends.js';

/** Project root (this file is `<root>/test/helpers/wycheproof.ts`). */
const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `../shared/vectors/wycheproof/` beside the project (or under `$PLUSHLINK_SHARED_DIR`, as in shared.ts). */
export const WYCHEPROOF_DIR = resolve(process.env.PLUSHLINK_SHARED_DIR ?? resolve(PROJECT_ROOT, '..', 'shared'), 'vectors', 'wycheproof');

/** True when the Wycheproof vector folder exists. */
export const WYCHEPROOF_AVAILABLE = existsSync(WYCHEPROOF_DIR) && statSync(WYCHEPROOF_DIR).isDirectory();

/** Human message used as the suite title (and printed) when the folder is missing. */
export const WYCHEPROOF_SKIP_MESSAGE =
  `SKIPPED: Wycheproof vectors not found at ${WYCHEPROOF_DIR} ` +
  `(expected ../shared/vectors/wycheproof/ beside the project); primitive checks did NOT run`;

/**
 * Suite title: the plain name when the vectors exist, otherwise the name followed by the skip
 * message, so a skipped run says why in the reporter output. Also warns once on stderr.
 */
export function wycheproofSuiteTitle(name: string): string {
  if (WYCHEPROOF_AVAILABLE) return name;
  console.warn(`[wycheproof] ${name}: ${WYCHEPROOF_SKIP_MESSAGE}`);
  return `${name} — ${WYCHEPROOF_SKIP_MESSAGE}`;
}

/** Outcome class of a Wycheproof test case. */
export type WycheproofResult = 'valid' | 'invalid' | 'acceptable';

/** Fields every Wycheproof test case has. */
export interface WycheproofTestBase {
  tcId: number;
  comment: string;
  flags: string[];
  result: WycheproofResult;
}

/** A vector file: groups of tests sharing parameters `G`. */
export interface WycheproofFile<G, T extends WycheproofTestBase> {
  algorithm: string;
  numberOfTests: number;
  testGroups: Array<G & { type: string; tests: T[] }>;
}

/** One test together with its group's parameters. */
export interface WycheproofCase<G, T extends WycheproofTestBase> {
  group: G & { type: string };
  test: T;
}

// ---- per-schema types (only the fields the tests use) ----

/** `xdh_comp_schema_v1`: hex `public`, `private`, `shared`. */
export interface XdhCompGroup {
  curve: string;
}
export interface XdhCompTest extends WycheproofTestBase {
  public: string;
  private: string;
  shared: string;
}

/** `aead_test_schema_v1`: sizes in bits; hex fields. */
export interface AeadGroup {
  ivSize: number;
  keySize: number;
  tagSize: number;
}
export interface AeadTest extends WycheproofTestBase {
  key: string;
  iv: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
}

/** `hkdf_test_schema_v1`: `size` in bytes. */
export interface HkdfGroup {
  keySize: number;
}
export interface HkdfTest extends WycheproofTestBase {
  ikm: string;
  salt: string;
  info: string;
  size: number;
  okm: string;
}

/** `mac_test_schema_v1`: `keySize`/`tagSize` in bits; `tag` is the (possibly truncated) tag. */
export interface MacGroup {
  keySize: number;
  tagSize: number;
}
export interface MacTest extends WycheproofTestBase {
  key: string;
  msg: string;
  tag: string;
}

/** `eddsa_verify_schema_v1`: the public key is per group. */
export interface EddsaGroup {
  publicKey: { type: string; curve: string; keySize: number; pk: string };
}
export interface EddsaTest extends WycheproofTestBase {
  msg: string;
  sig: string;
}

/**
 * Reads and checks one vector file. Throws (fails the test run) when the file is missing,
 * is not `testvectors_v1`-shaped, or its tests do not add up to `numberOfTests`.
 */
export function loadWycheproof<G, T extends WycheproofTestBase>(
  fileName: string,
  expectedAlgorithm: string,
): { file: WycheproofFile<G, T>; cases: WycheproofCase<G, T>[] } {
  const path = join(WYCHEPROOF_DIR, fileName);
  const file = JSON.parse(readFileSync(path, 'utf8')) as WycheproofFile<G, T>;
  if (file.algorithm !== expectedAlgorithm) {
    throw new Error(`${fileName}: algorithm ${String(file.algorithm)}, expected ${expectedAlgorithm}`);
  }
  if (!Array.isArray(file.testGroups) || typeof file.numberOfTests !== 'number') {
    throw new Error(`${fileName}: not a Wycheproof testvectors_v1 file`);
  }
  const cases: WycheproofCase<G, T>[] = [];
  for (const g of file.testGroups) {
    const { tests, ...group } = g;
    for (const test of tests) {
      if (test.result !== 'valid' && test.result !== 'invalid' && test.result !== 'acceptable') {
        throw new Error(`${fileName}: tcId ${test.tcId} has unknown result ${String(test.result)}`);
      }
      cases.push({ group: group as G & { type: string }, test });
    }
  }
  if (cases.length !== file.numberOfTests) {
    throw new Error(`${fileName}: ${cases.length} tests found, header says ${file.numberOfTests}`);
  }
  return { file, cases };
}

/** Hex → bytes (Wycheproof hex is lowercase, possibly empty). */
export const hex = fromHex;

/** Short label for a test title. */
export function caseTitle(t: WycheproofTestBase): string {
  const flags = t.flags.length ? ` [${t.flags.join(',')}]` : '';
  return `tcId ${t.tcId} ${t.result}${flags}${t.comment ? ` — ${t.comment}` : ''}`;
}

/** Counts per result class and how many vectors were actually checked (and passed). */
export class Tally {
  readonly checked: Record<WycheproofResult, number> = { valid: 0, invalid: 0, acceptable: 0 };
  passed = 0;

  /** Call at the end of a vector's checks (only reached when all its assertions held). */
  pass(result: WycheproofResult): void {
    this.checked[result]++;
    this.passed++;
  }

  get total(): number {
    return this.checked.valid + this.checked.invalid + this.checked.acceptable;
  }

  /** Counts per result class in a list of cases. */
  static expected(cases: ReadonlyArray<{ test: WycheproofTestBase }>): Record<WycheproofResult, number> {
    const c: Record<WycheproofResult, number> = { valid: 0, invalid: 0, acceptable: 0 };
    for (const { test } of cases) c[test.result]++;
    return c;
  }

  summary(name: string): string {
    const c = this.checked;
    return `${name}: ${this.passed} passed (valid ${c.valid}, invalid ${c.invalid}, acceptable ${c.acceptable})`;
  }
}

/** Runs `fn` and returns the PlushlinkError code it threw; fails when it returns or throws anything else. */
export function thrownCode(fn: () => unknown): ErrorCode {
  let returned: unknown;
  try {
    returned = fn();
  } catch (e) {
    if (isPlushlinkError(e)) return e.code;
    throw new Error(`expected a PlushlinkError, got ${String(e)}`, { cause: e });
  }
  throw new Error(`expected a PlushlinkError, but the call returned ${String(returned)}`);
}

/** What {@link wycheproofSuite} needs to know about one vector file and its policy. */
export interface WycheproofSuiteSpec<G, T extends WycheproofTestBase> {
  /** Suite title; `$name` is the crypto back end's name. */
  title: string;
  /** File name under the Wycheproof folder, and the `algorithm` it must declare. */
  file: string;
  algorithm: string;
  /** Lower bound on the vectors in the file, so a truncated file cannot pass. */
  minVectors: number;
  /** Checks one case under the stated policy; throws (an `expect`) when it does not hold. */
  check(group: G & { type: string }, test: T): void;
  /** Extra checks over all cases in the closing test (e.g. that each side of a policy is exercised). */
  coverage?(cases: readonly WycheproofCase<G, T>[]): void;
}

/**
 * One Wycheproof suite per crypto back end (test/helpers/backends.ts): a test per vector that
 * runs `check` and tallies its result class, then a closing test that every vector of the file
 * was checked and passed (none missing, none added, at least `minVectors`), the spec's coverage
 * checks, and a summary line. Skipped with its reason when the folder is missing.
 * Returns the loaded cases for suites of their own on the same file.
 */
export function wycheproofSuite<G, T extends WycheproofTestBase>(spec: WycheproofSuiteSpec<G, T>): readonly WycheproofCase<G, T>[] {
  const data = WYCHEPROOF_AVAILABLE ? loadWycheproof<G, T>(spec.file, spec.algorithm) : undefined;
  const cases = data?.cases ?? [];
  describe.skipIf(!WYCHEPROOF_AVAILABLE).each(CRYPTO_BACKENDS)(wycheproofSuiteTitle(spec.title), (backend) => {
    useCryptoBackendInSuite(backend);
    const tally = new Tally();
    for (const { group, test } of cases) {
      it(caseTitle(test), () => {
        spec.check(group, test);
        tally.pass(test.result);
      });
    }
    it('checked every vector of the file under the stated policy', () => {
      expect(data).toBeDefined();
      expect(cases.length).toBe(data!.file.numberOfTests);
      expect(cases.length).toBeGreaterThanOrEqual(spec.minVectors);
      expect(tally.checked).toEqual(Tally.expected(cases));
      expect(tally.passed).toBe(cases.length);
      spec.coverage?.(cases);
      console.info(tally.summary(spec.file));
    });
  });
  return cases;
}
