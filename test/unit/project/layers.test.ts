/**
 * The layer order of docs/ARCHITECTURE.md holds: dependency-cruiser, with the rules of
 * .dependency-cruiser.cjs, finds no import against it in src/, relay/src/ or web/src/. Every
 * source file is cruised and every relative import resolved, so no edge escapes the rules
 * unseen; and the same rules, run over a small planted tree, catch each kind of upward import.
 * The verdict is the list of violations, never a time (the time limit only stops a hung run).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../../..');
const CLI = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}
interface CruiseResult {
  modules: { source: string; dependencies: { module: string; resolved: string; couldNotResolve: boolean; dependencyTypes: string[] }[] }[];
  summary: { violations: Violation[]; totalCruised: number };
}

function cruise(cwd: string, dirs: string[]): CruiseResult {
  const r = spawnSync(process.execPath, [CLI, '--config', CONFIG, '--output-type', 'json', ...dirs], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 300_000, // only stops a hung run
  });
  if (r.error) throw r.error;
  if (!r.stdout.trim()) throw new Error(`dependency-cruiser printed nothing (exit ${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as CruiseResult;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (/\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(relative(ROOT, p).split('\\').join('/'));
  }
  return out;
}

describe('layers (docs/ARCHITECTURE.md)', () => {
  it('no module imports against the layer order, in src/, relay/src/ and web/src/', () => {
    const result = cruise(ROOT, ['src', 'relay/src', 'web/src']);
    const lines = result.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`);
    expect(lines).toEqual([]);
    // Nothing escaped the rules: every source file was cruised, every relative import resolved.
    const cruised = new Set(result.modules.map((m) => m.source));
    for (const f of [...tsFiles(join(ROOT, 'src')), ...tsFiles(join(ROOT, 'relay/src')), ...tsFiles(join(ROOT, 'web/src'))]) {
      expect(cruised.has(f), `${f} was not cruised`).toBe(true);
    }
    const unresolved = result.modules.flatMap((m) => m.dependencies.filter((d) => d.couldNotResolve && d.module.startsWith('.')).map((d) => `${m.source} -> ${d.module}`));
    expect(unresolved).toEqual([]);
  });

  describe('the rules catch an upward import (a planted tree)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'plushlink-layers-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const files: Record<string, string> = {
      'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true }, include: ['src'] }),
      'package.json': JSON.stringify({ name: 'planted', type: 'module' }),
      // protocol → toy (up), and protocol → node: (not pure)
      'src/protocol/wire.ts': "import { x } from '../toy/reference-toy.js';\nimport { readFileSync } from 'node:fs';\nexport const y = [x, readFileSync];\n",
      'src/toy/reference-toy.ts': "import { t } from '../transport/types.js';\nexport const x = t;\n",
      // transport → companion (up)
      'src/transport/types.ts': "import { c } from '../companion/session.js';\nexport const t = c;\n",
      'src/companion/session.ts': "import { k } from '../conformance/checks.js';\nexport const c = k;\n",
      // companion → the conformance run (up), and the conformance run → messages (not its layer)
      'src/conformance/checks.ts': "import { o } from '../messages/outbox.js';\nexport const k = o;\n",
      // the sans-IO toy core → transport (allowed for the toy driver, not for the core)
      'src/toy/toy-core.ts': "import { t } from '../transport/types.js';\nexport const core = t;\n",
      // messages → companion (sideways into the BLE side)
      'src/messages/outbox.ts': "import { c } from '../companion/session.js';\nexport const o = c;\n",
      // a library module → an entry, and → the tests
      'src/audio/files.ts': "import { i } from '../index.js';\nimport { h } from '../../test/helper.js';\nexport const f = [i, h];\n",
      'src/index.ts': 'export const i = 1;\n',
      'test/helper.ts': 'export const h = 1;\n',
    };
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), text);
    }

    it('each planted edge is reported under its rule, and nothing else', () => {
      const result = cruise(dir, ['src']);
      const got = result.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();
      expect(got).toEqual(
        [
          'protocol-is-pure: src/protocol/wire.ts -> src/toy/reference-toy.ts',
          'protocol-no-node: src/protocol/wire.ts -> fs', // node:fs, as dependency-cruiser names it
          'transport-below-its-users: src/transport/types.ts -> src/companion/session.ts',
          'toy-core-is-sans-io: src/toy/toy-core.ts -> src/transport/types.ts',
          'messages-not-the-ble-side: src/messages/outbox.ts -> src/companion/session.ts',
          'companion-not-the-toy: src/companion/session.ts -> src/conformance/checks.ts',
          'conformance-drives-the-ble-side: src/conformance/checks.ts -> src/messages/outbox.ts',
          'nothing-imports-an-entry: src/audio/files.ts -> src/index.ts',
          'library-not-the-rest: src/audio/files.ts -> test/helper.ts',
        ].sort(),
      );
    });
  });
});
