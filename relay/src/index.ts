/**
 * `@plushlink/relay`: the relay server for plushlink's sealed voice messages (docs/RELAY.md).
 *
 * - {@link createRelay}: the Fastify server on a {@link RelayStore}.
 * - `openStore`: SQLite (embedded default) or PostgreSQL by URL.
 * - {@link serveRelay}: what `plushlink relay serve` runs.
 *
 * @packageDocumentation
 */
export { createRelay, type RelayOptions, type RelayServer, type RelayConfig, type RateBudget, type Signer } from './app.js';
export { RelayProblem } from './problems.js';
export { nativeEd25519Verify } from './native-ed25519.js';
export { serveRelay, defaultAppDir, type ServeOptions, type ServingRelay } from './serve.js';
export * from './store/index.js';
