/**
 * Builds the web app programmatically (for the tests and scripts): the same configuration as
 * `vite build` (vite.config.ts), into `outDir`, returning what the no-`node:` check saw.
 */
import { build } from 'vite';
import { webConfig, type BundleReport } from './vite.config.js';

export type { BundleReport, NodeImport } from './vite.config.js';

export async function buildWebApp(outDir: string): Promise<BundleReport> {
  const report: BundleReport = { modules: new Set(), nodeImports: [] };
  const config = webConfig(report);
  await build({
    ...config,
    configFile: false,
    mode: 'production',
    logLevel: 'warn',
    build: { ...config.build, outDir, emptyOutDir: true },
  });
  return report;
}
