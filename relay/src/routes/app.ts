/** The relative's web app, served as static files at `/app/` (no signature: public files only). */
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';

export async function appRoutes(app: FastifyInstance, appDir: string): Promise<void> {
  await app.register(fastifyStatic, {
    root: appDir,
    prefix: '/app/',
    // Same-origin only: nothing of the app may come from a third party (docs/RELAY.md §9).
    setHeaders: (res) => {
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('referrer-policy', 'no-referrer');
      res.setHeader(
        'content-security-policy',
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'self'",
      );
    },
  });
  app.get('/app', { config: { signed: false } }, (_req, reply) => reply.redirect('/app/'));
  app.get('/', { config: { signed: false } }, (_req, reply) => reply.redirect('/app/'));
}
