/**
 * Child process of the session-memory figure (run with `node --expose-gc --import tsx`):
 * N toys and N companions on one in-memory radio (one toy per companion: a toy's allow-list
 * holds 5 companions, so "one toy with N sessions" is not possible by design). Heap is read
 * with `process.memoryUsage().heapUsed` after forced garbage collections:
 *
 *   H0  everything created and paired, no connection
 *   H1  N idle connections (GATT connected and subscribed, no handshake)  → baseline
 *   H2  back to no connection
 *   H3  N live sessions (reconnected with Noise_IK)                        → the figure
 *
 * Prints one JSON line on stdout.
 */
import { MemoryRadio, type MemoryCentralLink } from '../src/transport/memory/index.js';
import type { ToySession } from '../src/companion/session.js';
import { makeCompanion, makeToy, pairQr, type BenchCompanion, type BenchToy } from './rig.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

function heap(): { heapUsed: number; arrayBuffers: number } {
  for (let i = 0; i < 4; i++) gc!();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
}

async function inChunks<T, R>(items: T[], size: number, fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map((t, j) => fn(t, i + j)))));
  return out;
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 200);
  // A long handshake deadline so idle connections stay up while they are measured; a slow tick.
  const radio = new MemoryRadio({ connectionIntervalMs: 1, timeScale: 0, seed: 3, advertisingIntervalMs: 0 });
  const config = { handshakeDeadlineMs: 600_000 };
  const toys: BenchToy[] = [];
  const comps: BenchCompanion[] = [];
  for (let i = 0; i < n; i++) {
    toys.push(await makeToy(radio, { config, tickMs: 200 }));
    comps.push(await makeCompanion(radio, { name: `c${i}` }));
  }
  await inChunks(toys, 25, async (t, i) => {
    const s = await pairQr(t, comps[i]!, `toy${i}`);
    await s.close();
  });
  await radio.settle();
  const h0 = heap();

  const links: MemoryCentralLink[] = await inChunks(toys, 25, (t, i) => comps[i]!.central.connect(t.peripheral.id));
  await radio.settle();
  const h1 = heap();
  if (links.filter((l) => l.connected).length !== n) throw new Error('an idle connection dropped before it was measured');
  await Promise.all(links.map((l) => l.disconnect()));
  links.length = 0;
  await radio.settle();
  const h2 = heap();

  const sessions: ToySession[] = await inChunks(toys, 25, (t, i) => comps[i]!.app.connect(`toy${i}`, { transportId: t.peripheral.id }));
  await radio.settle();
  const h3 = heap();
  const live = sessions.filter((s) => s.open).length;
  const toySessions = toys.reduce((a, t) => a + t.toy.core.sessionCount, 0);

  process.stdout.write(
    JSON.stringify({
      n,
      live,
      toySessions,
      sessionBytes: (h3.heapUsed - h2.heapUsed) / n,
      idleConnectionBytes: (h1.heapUsed - h0.heapUsed) / n,
      sessionArrayBufferBytes: (h3.arrayBuffers - h2.arrayBuffers) / n,
      idleArrayBufferBytes: (h1.arrayBuffers - h0.arrayBuffers) / n,
      heap: { h0: h0.heapUsed, h1: h1.heapUsed, h2: h2.heapUsed, h3: h3.heapUsed },
    }) + '\n',
  );
  for (const s of sessions) await s.close();
  for (const t of toys) await t.toy.stop();
  await radio.close();
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
