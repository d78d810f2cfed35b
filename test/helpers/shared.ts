/** Locates `../shared/` (beside the project) for tests that read the public vectors. */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED_DIR = process.env.PLUSHLINK_SHARED_DIR ?? resolve(PROJECT_ROOT, '..', 'shared');

/** Absolute path of a file under shared/, or undefined (with a console note) when it is missing. */
export function sharedPath(...parts: string[]): string | undefined {
  const p = join(SHARED_DIR, ...parts);
  if (!existsSync(p)) {
    console.warn(`[plushlink tests] ${p} is missing: the tests that need it are SKIPPED (put shared/ beside the project).`);
    return undefined;
  }
  return p;
}
