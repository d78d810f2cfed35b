import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    // In the source checkout, the workspace packages use the library's sources, not dist/
    // (the same mapping as tsconfig.json "paths").
    alias: [
      { find: /^plushlink\/messages$/, replacement: here('./src/messages/index.ts') },
      { find: /^plushlink\/protocol$/, replacement: here('./src/protocol/index.ts') },
      { find: /^plushlink\/toy$/, replacement: here('./src/toy.ts') },
      { find: /^plushlink\/audio$/, replacement: here('./src/audio/index.ts') },
      { find: /^plushlink\/testing$/, replacement: here('./src/testing.ts') },
      { find: /^plushlink$/, replacement: here('./src/index.ts') },
      { find: /^@plushlink\/relay$/, replacement: here('./relay/src/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
