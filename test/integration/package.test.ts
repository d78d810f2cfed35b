/**
 * The published package as an app developer gets it: `npm pack` (its prepack build), the tarball
 * installed into a fresh TypeScript app (module nodenext, strict) from the local npm cache only
 * (`npm ci --offline` with a lockfile made from the project's: no network, so the verdict never
 * depends on one), `tsc`, then `node`
 * runs it, from ESM and from CommonJS (`await import`). The tarball holds the library and its CLI:
 * no relay or web app, no server or database dependency, no source map without its source, a
 * LICENSE. Everything runs in temporary folders (a copy of the project is packed, so the
 * checkout's own dist/ is never touched and two runs at once do not meet).
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
/** Only stops a command that hangs; never part of a verdict. */
const HUNG_MS = 900_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((res) => {
    execFile(cmd, args, { cwd, timeout: HUNG_MS, maxBuffer: 1 << 26, env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' } }, (err, stdout, stderr) =>
      res({ code: err ? ((err as { code?: unknown }).code as number | null) : 0, stdout, stderr }),
    );
  });
}

function must(r: Run, what: string): string {
  expect(r.code, `${what}\n${r.stderr}\n${r.stdout}`).toBe(0);
  return r.stdout;
}

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** The app a developer writes (its own test: the in-memory radio and the reference toy), using every subpath. */
const APP_TS = `import { Companion, isPlushlinkError, type DiscoveredToy } from 'plushlink';
import { MemoryKeystore, MemoryRadio, MemoryToyStorage, ReferenceToy } from 'plushlink/testing';
import { formatSetupQr, generateSetupCode, generateX25519KeyPair } from 'plushlink/toy';
import { FRAME_SAMPLES, SAMPLE_RATE } from 'plushlink/audio';
import { familyKeyCode, generateFamilyIdentity } from 'plushlink/messages';
import { parseSetupInput } from 'plushlink/protocol';

const radio = new MemoryRadio();
const identity = generateX25519KeyPair();
const setupCode = generateSetupCode();
const toy = new ReferenceToy({ peripheral: radio.createPeripheral(), identity, setupCode, storage: new MemoryToyStorage() });
await toy.start();
toy.pressButton('hold');
const companion = await Companion.open({ central: radio.createCentral(), keystore: new MemoryKeystore(), displayName: "Mum's phone" });
let found: DiscoveredToy | undefined;
for await (const d of companion.scan()) {
  if (d.kind === 'pairing') {
    found = d;
    break;
  }
}
const session = await companion.pair(found!, formatSetupQr(setupCode, identity.publicKey), { name: 'Bunny' });
console.log(\`paired "\${session.toy.name}" as \${session.toy.role} in \${session.roundTrips} round trip\`);
await session.close();
try {
  parseSetupInput('not a code');
} catch (e) {
  console.log(\`typed error: \${isPlushlinkError(e) ? e.code : 'none'}\`);
}
console.log(\`family key: \${familyKeyCode(generateFamilyIdentity('Grandma')).slice(0, 5)}\`);
console.log(\`voice: \${SAMPLE_RATE} Hz, \${FRAME_SAMPLES} samples a frame\`);
await toy.stop();
await radio.close();
`;

/** The same package from CommonJS (the package is ESM-only: README "Using it from CommonJS"). */
const APP_CJS = `(async () => {
  const { generateSetupCode, formatSetupCode } = await import('plushlink/toy');
  const code = formatSetupCode(generateSetupCode());
  console.log('cjs setup code ' + (/^([0-9A-Z]{4}-){5}[0-9A-Z]{4}$/.test(code) ? 'ok' : code));
})();
`;

/** Every subpath of package.json "exports" (test/unit/project/public-api.test.ts pins their names). */
const SUBPATHS = ['plushlink', 'plushlink/toy', 'plushlink/audio', 'plushlink/messages', 'plushlink/protocol', 'plushlink/testing'];

/**
 * Loads one subpath alone in a fresh process and prints the crypto back end the seam then holds
 * (read from the installed file itself, which no export condition installs anything into): on
 * Node every subpath's \`node\` entry installs node:crypto first.
 */
const backendAfter = (subpath: string, seam: string): string => `const m = await import(${JSON.stringify(subpath)});
const { cryptoBackend } = await import(${JSON.stringify(seam)});
console.log(Object.keys(m).length > 0 ? cryptoBackend().name : 'empty');
`;

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  optional?: boolean;
  dev?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  link?: boolean;
  [k: string]: unknown;
}

/**
 * The app's package-lock.json: the tarball, @types/node, and the closure of their dependencies with
 * the entries (paths, versions, integrity) of the project's own lock. The Bluetooth packages and
 * what only they need are kept as optional entries (npm ci --omit=optional leaves them out).
 */
function appLock(root: Record<string, LockEntry>, manifest: LockEntry, pack: { integrity: string; version: string }, spec: string, typesNode: string, registry: string): unknown {
  const where = (from: string, name: string): string => {
    // npm's lookup: node_modules below the dependent, then each folder above it
    let base = from;
    for (;;) {
      const p = `${base ? `${base}/` : ''}node_modules/${name}`;
      if (root[p]) return p;
      if (!base) throw new Error(`${name} (needed by ${from || 'the app'}) is not in package-lock.json`);
      const i = base.lastIndexOf('/node_modules/');
      base = i < 0 ? '' : base.slice(0, i);
    }
  };
  const walk = (start: Array<[string, string]>, into: Set<string>): void => {
    const todo = [...start];
    while (todo.length) {
      const [from, name] = todo.pop()!;
      const p = where(from, name);
      if (into.has(p)) continue;
      into.add(p);
      const e = root[p]!;
      for (const d of Object.keys({ ...e.dependencies, ...e.optionalDependencies })) todo.push([p, d]);
    }
  };
  const required = new Set<string>();
  walk([...Object.keys(manifest.dependencies ?? {}).map((d): [string, string] => ['', d]), ['', '@types/node']], required);
  const optional = new Set<string>();
  walk(Object.keys(manifest.optionalDependencies ?? {}).map((d): [string, string] => ['', d]), optional);
  const packages: Record<string, LockEntry> = {
    '': { name: 'an-app', version: '1.0.0', dependencies: { '@types/node': typesNode, plushlink: spec } },
    'node_modules/plushlink': {
      version: pack.version,
      resolved: spec,
      integrity: pack.integrity,
      license: 'MIT',
      dependencies: manifest.dependencies,
      optionalDependencies: manifest.optionalDependencies,
      bin: manifest.bin,
      engines: manifest.engines,
    },
  };
  for (const p of [...required, ...optional].sort()) {
    if (packages[p]) continue;
    const { dev: _d, devOptional: _o, optional: _x, peer: _p, ...e } = root[p]!;
    if (e.link) throw new Error(`${p} is a workspace link, not a registry package`);
    if (!e.resolved) {
      // this npm writes locks without download addresses; give the registry's (the tarball itself
      // then comes from the cache by its integrity)
      const name = p.slice(p.lastIndexOf('node_modules/') + 'node_modules/'.length);
      e.resolved = `${registry.replace(/\/$/, '')}/${name}/-/${name.split('/').pop()}-${e.version}.tgz`;
    }
    packages[p] = required.has(p) ? e : { ...e, optional: true };
  }
  return { name: 'an-app', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

describe('the packed tarball in a fresh TypeScript app', () => {
  it('packs only the library and CLI, installs offline, typechecks under nodenext/strict and runs from ESM and CommonJS', { timeout: 3_600_000 }, async () => {
    const work = mkdtempSync(join(tmpdir(), 'plushlink-pack-'));

    // 1. a copy of the project (what the prepack build reads and what "files" ships), packed
    const stage = join(work, 'stage');
    mkdirSync(stage);
    for (const p of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'LICENSE', 'src', 'examples', 'bin', 'docs', 'fixtures']) {
      cpSync(join(ROOT, p), join(stage, p), { recursive: true });
    }
    // the workspaces' manifests, and the relay's sources that `plushlink relay serve` is typed against
    for (const ws of ['relay', 'web']) {
      mkdirSync(join(stage, ws), { recursive: true });
      cpSync(join(ROOT, ws, 'package.json'), join(stage, ws, 'package.json'));
    }
    cpSync(join(ROOT, 'relay', 'src'), join(stage, 'relay', 'src'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'), 'dir');
    const packed = JSON.parse(must(await run(NPM, ['pack', '--json', '--pack-destination', work], stage), 'npm pack')) as { filename: string; files: { path: string }[] }[];
    const tarball = join(work, packed[0]!.filename);
    const files = packed[0]!.files.map((f) => f.path);

    expect(files).toContain('LICENSE');
    expect(files).toContain('dist/src/index.js');
    expect(files).toContain('dist/src/index.d.ts');
    expect(files).toContain('dist/src/cli/main.js');
    expect(files).toContain('bin/plushlink.js');
    expect(files.filter((f) => /^(relay|web|dist\/relay|dist\/web|test|scripts|bench)\//.test(f)), 'no relay, web app, tests or scripts').toEqual([]);
    expect(files.filter((f) => f.startsWith('fixtures/audio/input/')), 'test-only audio stays out').toEqual([]);
    // no source map that points to a source the package does not hold
    for (const map of files.filter((f) => f.endsWith('.map'))) {
      const m = JSON.parse(readFileSync(join(stage, map), 'utf8')) as { sources: string[] };
      for (const s of m.sources) expect(files, `${map} → ${s}`).toContain(join(map, '..', s).replace(/\\/g, '/'));
    }
    const manifest = JSON.parse(readFileSync(join(stage, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; optionalDependencies: Record<string, string>; license: string };
    expect(manifest.license).toBe('MIT');
    for (const server of ['fastify', 'better-sqlite3', 'pg', '@fastify/static', '@plushlink/relay']) expect(manifest.dependencies, server).not.toHaveProperty(server);

    // 2. a fresh app: the tarball and @types/node from the local cache only
    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, outDir: 'out', types: ['node'], skipLibCheck: false }, include: ['index.ts'] }, null, 2),
    );
    writeFileSync(join(app, 'index.ts'), APP_TS);
    writeFileSync(join(app, 'app.cjs'), APP_CJS);
    // A lockfile for the app, written from the project's own: `npm ci --offline` then takes every
    // tarball from the cache by its integrity and asks the registry nothing (the cache holds them:
    // `npm ci` / `npm install` of the project put them there).
    const rootLock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
    const typesNode = rootLock.packages['node_modules/@types/node']!.version!;
    const pack = packed[0]! as unknown as { filename: string; integrity: string; version: string };
    const spec = `file:../${pack.filename}`;
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'an-app', version: '1.0.0', private: true, type: 'module', dependencies: { '@types/node': typesNode, plushlink: spec } }, null, 2),
    );
    const registry = must(await run(NPM, ['config', 'get', 'registry'], app), 'npm config get registry').trim();
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify(appLock(rootLock.packages, manifest as unknown as LockEntry, pack, spec, typesNode, registry), null, 2));
    // --omit=optional: the Bluetooth packages build native code (docs/HARDWARE.md); the library loads them lazily
    must(await run(NPM, ['ci', '--offline', '--omit=optional', '--no-audit', '--no-fund'], app), 'npm ci --offline (the tarball and its dependencies from the npm cache)');

    // 3. tsc (the project's TypeScript), then node
    must(await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', app], app), 'tsc in the app');
    const esm = must(await run(process.execPath, [join(app, 'out/index.js')], app), 'node out/index.js');
    expect(esm.trim().split('\n')).toEqual(['paired "Bunny" as owner in 1 round trip', 'typed error: BAD_LENGTH', 'family key: PLFK:', 'voice: 16000 Hz, 320 samples a frame']);
    const seam = pathToFileURL(join(app, 'node_modules/plushlink/dist/src/protocol/crypto.js')).href;
    for (const [i, subpath] of SUBPATHS.entries()) {
      writeFileSync(join(app, `subpath-${i}.mjs`), backendAfter(subpath, seam));
      const r = must(await run(process.execPath, [join(app, `subpath-${i}.mjs`)], app), `node: import('${subpath}')`);
      expect(r.trim(), subpath).toBe('node');
    }
    const cjs = must(await run(process.execPath, [join(app, 'app.cjs')], app), 'node app.cjs');
    expect(cjs.trim()).toBe('cjs setup code ok');

    // 4. the installed CLI runs, and says where Bluetooth support is checked
    const help = must(await run(process.execPath, [join(app, 'node_modules/plushlink/bin/plushlink.js'), '--help'], app), 'plushlink --help');
    expect(help).toContain('doctor');
  });
});
