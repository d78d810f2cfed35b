/** Entry point: registers the service worker (installable, works offline) and starts the app. */
import { startApp, fail } from './app.js';

if ('serviceWorker' in navigator && import.meta.env.PROD) {
  // Scope /app/: the service worker never sees the relay's API under /v1/.
  navigator.serviceWorker.register(`${import.meta.env.BASE_URL}sw.js`, { scope: import.meta.env.BASE_URL }).catch(() => undefined);
}

document.getElementById('loading')?.remove();
startApp().catch((e: unknown) => {
  fail(`The app cannot start: ${e instanceof Error ? e.message : String(e)}`);
});
