/**
 * Transpiles a TypeScript child-process script and every file it imports (relative imports,
 * followed transitively) to plain ESM JavaScript in a temp folder, with the TypeScript compiler's
 * `transpileModule` (no type check). Fault tests that spawn dozens of children run them with plain
 * `node`, which starts several times faster than `node --import tsx` on a loaded machine.
 */
import ts from 'typescript';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';

/** Returns the path of the transpiled entry; `root` is the repository root. */
export function buildChild(root: string, entryTs: string): { entryJs: string; dir: string } {
  const out = mkdtempSync(join(tmpdir(), 'plushlink-child-'));
  const seen = new Set<string>();
  const queue = [resolve(entryTs)];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const src = readFileSync(file, 'utf8');
    for (const m of src.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)\.js'/g)) {
      queue.push(resolve(dirname(file), `${m[1]}.ts`));
    }
    const js = ts.transpileModule(src, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
      fileName: file,
    }).outputText;
    const target = join(out, relative(root, file).replace(/\.ts$/, '.js'));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, js);
  }
  writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
  symlinkSync(join(root, 'node_modules'), join(out, 'node_modules'), 'dir');
  return { entryJs: join(out, relative(root, resolve(entryTs)).replace(/\.ts$/, '.js')), dir: out };
}
