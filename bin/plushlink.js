#!/usr/bin/env node
// The `plushlink` command. Runs the compiled CLI (dist/src/cli/main.js) when the package was
// built; in a source checkout it registers tsx (a devDependency) and runs src/cli/main.ts.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'src', 'cli', 'main.js');

let cli;
if (existsSync(built)) {
  // The command runs on Node: node:crypto is the crypto back end (src/crypto-node/, docs/BENCHMARK.md).
  await import(pathToFileURL(join(root, 'dist', 'src', 'crypto-node', 'install.js')).href);
  cli = await import(pathToFileURL(built).href);
} else {
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    process.stderr.write('error INTERNAL: plushlink is not built (no dist/) and tsx is not installed: run `npm run build` or `npm install`\n');
    process.exit(1);
  }
  register({ tsconfig: join(root, 'tsconfig.json') });
  await import(pathToFileURL(join(root, 'src', 'crypto-node', 'install.ts')).href);
  cli = await import(pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href);
}
const code = await cli.main(process.argv);
// Exit even when a Bluetooth library keeps a handle open; wait for stdout to drain first.
process.stdout.write("", () => process.exit(code));
