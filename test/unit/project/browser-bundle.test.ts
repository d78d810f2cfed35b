/**
 * One code path (docs/RELAY.md, the web app): the web app's
 * browser bundle is built here with its real configuration, and the build fails if any module in
 * it imports from `node:` (or, for the library's and the app's own code, a Node built-in by its
 * bare name). The bundle must also be made of the library's own modules for sealing, opening,
 * family keys, request signing, the relay clients and Opus.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'vite';
import { afterAll, describe, expect, it } from 'vitest';
import { buildWebApp, type BundleReport } from '../../../web/build.js';
import { noNodeImports } from '../../../web/vite.config.js';
import { PROJECT_ROOT } from '../../helpers/shared.js';

const dirs: string[] = [];
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the web app browser bundle', () => {
  it('builds with no Node built-in imported by any module, from the library’s own modules', async () => {
    const out = tempDir('plushlink-web-');
    const report = await buildWebApp(out);
    expect(report.nodeImports).toEqual([]);

    const modules = [...report.modules].map((m) => m.split('?')[0]!);
    const library = [
      'src/messages/envelope.ts', // sealing and opening
      'src/messages/family.ts', // family keys, key codes, fingerprints
      'src/messages/http-signature.ts', // request signing
      'src/messages/http-relay.ts', // the relay client
      'src/messages/delivery.ts', // the outbox sync over receipts
      'src/messages/relay-protocol.ts',
      'src/audio/opus-codec.ts', // Opus encoder and decoder
      'src/audio/ogg-opus.ts',
      'src/audio/convert.ts',
    ];
    for (const m of library) expect(modules.some((id) => id === join(PROJECT_ROOT, m)), `${m} in the bundle`).toBe(true);
    // The Node-only modules of the library stay out.
    for (const m of ['src/messages/outbox.ts', 'src/messages/files.ts', 'src/audio/files.ts', 'src/util/durable-fs.ts']) {
      expect(modules.some((id) => id === join(PROJECT_ROOT, m)), `${m} not in the bundle`).toBe(false);
    }

    // What the relay serves at /app/: the page, the service worker at the scope's root, the
    // manifest and the encoder's wasm next to its worker.
    for (const f of ['index.html', 'sw.js', 'manifest.webmanifest', 'icon-192.png', 'icon-512.png', 'assets/opusscript_native_wasm.wasm']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).toContain('Content-Security-Policy');
    expect(html).toMatch(/connect-src &#39;self&#39;|connect-src 'self'/);
    // Every URL the page names is on its own origin, under /app/.
    const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(urls.length).toBeGreaterThan(3);
    for (const u of urls) expect(u.startsWith('#') || u.startsWith('/app/'), u).toBe(true);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.webmanifest'), 'utf8')) as { start_url: string; scope: string };
    expect(manifest.start_url).toBe('/app/');
    expect(manifest.scope).toBe('/app/');
    // The service worker precaches exactly this build.
    const sw = readFileSync(join(out, 'sw.js'), 'utf8');
    expect(sw).not.toContain('__PLUSHLINK_PRECACHE__');
    expect(sw).toContain('opusscript_native_wasm.wasm');
  });

  it('the check fails a bundle in which a module imports from node: (control)', async () => {
    const root = tempDir('plushlink-web-control-');
    // A browser entry that pulls in the library's file-backed outbox, which imports node:path.
    writeFileSync(join(root, 'entry.js'), `import { Outbox } from ${JSON.stringify(join(PROJECT_ROOT, 'src/messages/outbox.ts'))};\nconsole.log(Outbox);\n`);
    const report: BundleReport = { modules: new Set(), nodeImports: [] };
    await expect(
      build({
        configFile: false,
        root,
        logLevel: 'silent',
        plugins: [noNodeImports(report)],
        build: { outDir: join(root, 'dist'), write: false, rollupOptions: { input: join(root, 'entry.js') } },
      }),
    ).rejects.toThrow(/browser bundle imports Node built-ins/);
    expect(report.nodeImports.some((n) => n.specifier.startsWith('node:') && n.importer.endsWith('src/messages/outbox.ts'))).toBe(true);
  });
});
