/**
 * Comments cite the repository's own documents (docs/PROTOCOL.md, docs/SECURITY.md,
 * docs/RELAY.md, …), never an issue number or a design brief that lives outside the repository:
 * a reader of the code has the docs beside it, not the tracker.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const FOLDERS = ['src', 'examples', 'bench', 'scripts', 'test', 'relay/src', 'web/src'];
const SKIP = new Set(['node_modules', 'dist', '.stryker-tmp', 'reports']);

function sources(dir: string, out: string[] = []): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (SKIP.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (/\.(ts|tsx|mts|js|mjs|cjs)$/.test(name)) out.push(path);
  }
  return out;
}

/** The comment text of a source file: line comments and block comments (strings are not comments). */
function comments(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\/\*[\s\S]*?\*\/|(?<![:'"`\\])\/\/[^\n]*/g)) out.push(m[0]);
  return out;
}

const FORBIDDEN: { what: string; re: RegExp }[] = [
  { what: 'an issue number', re: /\bissues? ?#?\d+\b|(?<![\w&])#\d{1,4}\b(?![0-9a-f])/i },
  { what: 'the design brief outside the repository', re: /\bDESIGN\.md\b/ },
];

describe('comment citations', () => {
  it('no comment in the code cites an issue number or a document outside the repository', () => {
    const files = FOLDERS.flatMap((f) => sources(join(ROOT, f)));
    expect(files.length).toBeGreaterThan(100);
    const found: string[] = [];
    for (const file of files) {
      if (file === import.meta.filename) continue;
      for (const c of comments(readFileSync(file, 'utf8'))) {
        for (const { what, re } of FORBIDDEN) {
          const m = re.exec(c);
          if (m) found.push(`${relative(ROOT, file)}: ${what}: "${m[0]}"`);
        }
      }
    }
    expect(found).toEqual([]);
  });

  it('the scan sees a planted citation', () => {
    const planted = '/**\n * Fixed for issue 14, see DESIGN.md.\n */\nconst x = 1; // see #12\n';
    const hits = comments(planted).flatMap((c) => FORBIDDEN.filter(({ re }) => re.test(c)).map(({ what }) => what));
    expect(hits).toEqual(['an issue number', 'the design brief outside the repository', 'an issue number']);
  });
});
