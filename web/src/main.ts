/** Entry point: registers the service worker (installable, works offline) and starts the app. */
import { startApp, fail } from './app.js';

// Not under the dev server (`import.meta.hot`), where files change all the time.
if ('serviceWorker' in navigator && !import.meta.hot) {
  // Scope /app/: the service worker never sees the relay's API under /v1/.
  navigator.serviceWorker.register(`${import.meta.env.BASE_URL}sw.js`, { scope: import.meta.env.BASE_URL }).catch((e: unknown) => console.warn('plushlink: the app works, but not offline (no service worker):', e));
}

document.getElementById('loading')?.remove();
startApp().catch((e: unknown) => {
  fail(`The app cannot start: ${e instanceof Error ? e.message : String(e)}`);
});
