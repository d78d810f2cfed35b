/**
 * Bundles a TypeScript child-process script that imports workspace packages (the relay and the
 * library through tsconfig.json "paths") and their dependencies into one plain ESM file in a temp
 * folder, with esbuild (tsx's own compiler); the database drivers stay external and load from the
 * repository's node_modules (better-sqlite3 is a native add-on, and a child that patches a
 * driver's prototype must share the one instance its store uses). Fault tests that restart a child dozens of times run it with plain
 * `node`: one file of a relay starts in about a third of the time of `node --import tsx` on a
 * loaded machine (one module graph to resolve instead of hundreds of files). When esbuild cannot
 * be loaded, the child runs with tsx instead (slower, same behaviour).
 */
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

/** How to start the child: `node ...argv`; `cleanup` removes the bundle. */
export interface ChildCommand {
  argv: string[];
  cleanup(): void;
}

export async function bundleChild(root: string, entryTs: string): Promise<ChildCommand> {
  let esbuild: typeof import('esbuild') | undefined;
  try {
    esbuild = await import('esbuild');
  } catch {
    esbuild = undefined;
  }
  if (!esbuild) return { argv: ['--import', 'tsx', entryTs], cleanup: () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'plushlink-child-'));
  const outfile = join(dir, basename(entryTs).replace(/\.ts$/, '.mjs'));
  await esbuild.build({
    entryPoints: [entryTs],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // The drivers load from node_modules, through a real `require`.
    external: ['better-sqlite3', 'pg', 'pg-native'],
    banner: { js: "import { createRequire as __plushlinkRequire } from 'node:module'; const require = __plushlinkRequire(import.meta.url);" },
    tsconfig: join(root, 'tsconfig.json'),
    logLevel: 'error',
  });
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return { argv: [outfile], cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
