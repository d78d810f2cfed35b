/**
 * The relay under benchmark (bench/relay.ts), in its own process like a deployed one
 * (docs/RELAY.md), on the node:crypto back end as `plushlink relay serve` runs it:
 * `openStore(RELAY_DB)` (a SQLite file or a `postgres://` URL), `createRelay` with
 * the defaults except the per-key and per-address rate limits, which are off (one load generator
 * on one address and a few keys would hit them at once), listening on 127.0.0.1 on a free port.
 * Prints `url <base URL>`; SIGTERM closes it.
 */
// As the `plushlink` command runs the relay: node:crypto is the library's crypto back end.
import '../src/crypto-node/install.js';
import { createRelay } from '../relay/src/app.js';
import { openStore } from '../relay/src/store/index.js';

async function main(): Promise<void> {
  const db = process.env.RELAY_DB;
  if (!db) throw new Error('RELAY_DB is not set');
  const relay = await createRelay({ store: openStore(db), perKey: false, perAddress: false });
  const url = await relay.listen({ host: '127.0.0.1', port: 0 });
  process.once('SIGTERM', () => {
    relay.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
  process.stdout.write(`url ${url}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${String((e as Error)?.stack ?? e)}\n`);
  process.exit(1);
});
