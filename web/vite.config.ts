/**
 * Vite build of the relative's web app (docs/RELAY.md, "The web app"). Output: web/dist, served by
 * the relay at `/app/`. Everything the page loads comes from that origin: the library's own
 * modules, the opusscript and opus-decoder wasm, the service worker
 * and the manifest. The library's modules are imported from its sources (../src) by relative
 * paths. The `no-node-imports` plugin makes the build fail when any module of the
 * bundle imports a Node built-in (a browser module must not import from `node:`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { defineConfig, type Plugin, type UserConfig } from 'vite';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
const require = createRequire(import.meta.url);

/** One import of a Node built-in found in the bundle. */
export interface NodeImport {
  specifier: string;
  importer: string;
}

/** What the build saw: every module id, and every Node built-in import (should stay empty). */
export interface BundleReport {
  modules: Set<string>;
  nodeImports: NodeImport[];
}

const BUILTINS = new Set(builtinModules.filter((m) => !m.startsWith('_')));

/**
 * Fails the build when any module imports `node:…`, or when the library's or the app's own code
 * imports a Node built-in by its bare name. (Packages such as tweetnacl and opusscript name `fs`
 * or `crypto` behind a run-time check and map them away with their `browser` field; Vite stubs
 * those as `__vite-browser-external`, which is allowed for them only.)
 */
export function noNodeImports(report: BundleReport = { modules: new Set(), nodeImports: [] }): Plugin {
  return {
    name: 'plushlink:no-node-imports',
    enforce: 'pre',
    resolveId(source, importer) {
      const bare = source.split('/')[0]!;
      if (source.startsWith('node:') || (BUILTINS.has(bare) && !importer?.includes('/node_modules/'))) {
        report.nodeImports.push({ specifier: source, importer: importer ?? '(entry)' });
      }
      return null;
    },
    moduleParsed(info) {
      report.modules.add(info.id);
      for (const id of [...info.importedIds, ...info.dynamicallyImportedIds]) {
        const ours = !info.id.includes('/node_modules/');
        if (id.startsWith('node:') || id.includes('__vite-browser-external:node:') || (ours && id.includes('__vite-browser-external'))) {
          report.nodeImports.push({ specifier: id, importer: info.id });
        }
      }
    },
    buildEnd() {
      if (report.nodeImports.length > 0) {
        const list = report.nodeImports.map((n) => `  ${n.specifier} imported by ${n.importer}`).join('\n');
        this.error(`browser bundle imports Node built-ins:\n${list}`);
      }
    },
  };
}

const OPUSSCRIPT_WASM = 'opusscript_native_wasm.wasm';

/**
 * opusscript (the library's Opus encoder) fetches its wasm synchronously from the folder of the
 * script that runs it: in the app that is the encoder Web Worker in `assets/`. Emit it there, and
 * serve it from any path in development.
 */
function opusscriptWasm(): Plugin {
  const wasmPath = require.resolve(`opusscript/build/${OPUSSCRIPT_WASM}`);
  return {
    name: 'plushlink:opusscript-wasm',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        if (!req.url?.split('?')[0]!.endsWith(`/${OPUSSCRIPT_WASM}`)) return next();
        res.setHeader('content-type', 'application/wasm');
        res.end(readFileSync(wasmPath));
      });
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: `assets/${OPUSSCRIPT_WASM}`, source: readFileSync(wasmPath) });
    },
  };
}

/**
 * The service worker (src/sw.ts) is built as its own entry at `sw.js` (scope `/app/`); the list
 * of every emitted file is written into it, with a cache name derived from that list, so a new
 * build replaces the old cache.
 */
function serviceWorkerPrecache(): Plugin {
  return {
    name: 'plushlink:sw-precache',
    enforce: 'post',
    apply: 'build',
    generateBundle(_options, bundle) {
      const sw = bundle['sw.js'];
      if (!sw || sw.type !== 'chunk') this.error('sw.js missing from the bundle');
      const files = [...Object.keys(bundle).filter((f) => f !== 'sw.js' && !f.endsWith('.map')), ...readdirSync(here('public'))].sort();
      const version = createHash('sha256').update(files.join('\n')).digest('hex').slice(0, 16);
      sw.code = sw.code.replace('__PLUSHLINK_PRECACHE__', JSON.stringify({ version, files: ['./', ...files] }));
    },
  };
}

/** A strict Content-Security-Policy in the built page: nothing but this origin, no inline code. */
function contentSecurityPolicy(): Plugin {
  const policy = [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "connect-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "worker-src 'self'",
    "style-src 'self'",
    "font-src 'self'",
    "manifest-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  return {
    name: 'plushlink:csp',
    apply: 'build',
    transformIndexHtml: () => [{ tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: policy }, injectTo: 'head-prepend' }],
  };
}

/** The app's Vite configuration; `report` collects what the no-`node:` check saw. */
export function webConfig(report?: BundleReport): UserConfig {
  const check = report ?? { modules: new Set<string>(), nodeImports: [] };
  return {
    root: here('.'),
    base: '/app/',
    publicDir: here('public'),
    resolve: {
      alias: [
        // opusscript also ships an asm.js build (600 kB) for engines without WebAssembly; the app
        // needs WebAssembly anyway (opus-decoder), so that fallback is left out.
        { find: /^\.\/build\/opusscript_native_nasm\.js$/, replacement: here('src/audio/no-asmjs.js') },
      ],
    },
    plugins: [noNodeImports(check), opusscriptWasm(), serviceWorkerPrecache(), contentSecurityPolicy()],
    worker: { format: 'es', plugins: () => [noNodeImports(check)] },
    build: {
      outDir: here('dist'),
      emptyOutDir: true,
      target: 'es2022',
      sourcemap: false,
      chunkSizeWarningLimit: 1024,
      rollupOptions: {
        // opusscript's module only defines its class: the page (which decodes but never encodes)
        // drops it; the encoder worker keeps it.
        treeshake: { moduleSideEffects: (id: string) => !id.includes('/node_modules/opusscript/') },
        input: { index: here('index.html'), sw: here('src/sw.ts') },
        output: {
          entryFileNames: (chunk) => (chunk.name === 'sw' ? 'sw.js' : 'assets/[name]-[hash].js'),
        },
      },
    },
    server: { host: '127.0.0.1' },
  };
}

export default defineConfig(webConfig());
