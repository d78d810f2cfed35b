/**
 * Service worker (scope /app/): keeps the app's own files so it opens without a connection and
 * installs as a PWA. It caches only this build's files (listed at build time, web/vite.config.ts)
 * and never touches the relay's API (/v1/…), which is always the network's.
 */
declare const __PLUSHLINK_PRECACHE__: { version: string; files: string[] };

interface ExtendableEvent extends Event {
  waitUntil(p: Promise<unknown>): void;
}
interface FetchEvent extends ExtendableEvent {
  request: Request;
  respondWith(r: Promise<Response> | Response): void;
}
interface SWScope {
  registration: { scope: string };
  skipWaiting(): Promise<void>;
  clients: { claim(): Promise<void> };
  addEventListener(type: 'install' | 'activate', cb: (e: ExtendableEvent) => void): void;
  addEventListener(type: 'fetch', cb: (e: FetchEvent) => void): void;
}

const sw = self as unknown as SWScope;
const PRECACHE = __PLUSHLINK_PRECACHE__;
const CACHE = `plushlink-app-${PRECACHE.version}`;
const scope = new URL(sw.registration.scope);

sw.addEventListener('install', (e) => {
  e.waitUntil(
    caches
      .open(CACHE)
      .then((c) => c.addAll(PRECACHE.files.map((f) => new URL(f, scope).href)))
      .then(() => sw.skipWaiting()),
  );
});

sw.addEventListener('activate', (e) => {
  e.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('plushlink-app-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => sw.clients.claim()),
  );
});

sw.addEventListener('fetch', (e) => {
  const req = e.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
  if (req.mode === 'navigate') {
    // The page: the network first (a new version), the cached page when offline.
    e.respondWith(
      fetch(req).catch(async () => (await caches.match(new URL('./', scope).href, { cacheName: CACHE })) ?? Response.error()),
    );
    return;
  }
  // Hashed assets: the cache first.
  e.respondWith(caches.match(req, { cacheName: CACHE }).then((hit) => hit ?? fetch(req)));
});
