/**
 * Finding a paired toy before a reconnect: scan for its rotating advertising tag
 * (PROTOCOL.md §12), and — only when the app asks for it — probe the owned toys nearby whose tag
 * none of our keys resolves, with the reconnect handshake itself (see `ConnectOptions` of
 * companion.ts for why probing is opt-in).
 */
import { PlushlinkError, isPlushlinkError } from '../protocol/errors.js';
import { ADV_FLAG_OWNED } from '../protocol/advertising.js';
import type { Advertisement } from '../transport/types.js';
import type { PairedToy } from './keystore.js';

/** What a scan reports about one advertising toy. */
export type DiscoveredToy =
  | { kind: 'paired'; transportId: string; toy: PairedToy; rssi?: number }
  | { kind: 'pairing'; transportId: string; rssi?: number; /** true when an owned toy opened a guest window */ owned: boolean }
  /** A toy without pairings whose pairing window is closed (flags 0x00, PROTOCOL.md §12): nobody's yet; its button opens a window. */
  | { kind: 'unpaired'; transportId: string; rssi?: number }
  /** A toy with pairings (flag 0x02) whose tag none of our keys resolves. */
  | { kind: 'someone-elses'; transportId: string; rssi?: number };

/** What the locator needs of the companion: its scan and its reading of advertisements. */
export interface ToyScanner {
  /** Advertisements until `signal` aborts. */
  scan(signal: AbortSignal): AsyncIterable<Advertisement>;
  /** The companion's reading of one advertisement (paired toys resolved with its keys). */
  classify(adv: Advertisement): DiscoveredToy | undefined;
}

/** How the search may fall back to probing (resolved from the app's `ConnectOptions`). */
export interface ProbeSettings {
  /** At most this many probe handshakes; 0 = never probe. */
  maxProbes: number;
  /** Scanning time before probing starts (ms). */
  probeAfterMs: number;
}

/** Where {@link locate} found the toy. */
export type Located = { kind: 'resolved'; transportId: string } | { kind: 'unresolved'; candidates: string[] };

/**
 * Scans for `toy`'s tag. Returns at once when it resolves. With `probe`, once `probeAfterMs`
 * have passed without a match and some unresolved toy advertising as owned was seen (not in
 * `exclude`), returns those candidates instead, strongest signal first. When the caller's
 * signal ends the scan: `NOT_FOUND` (never a guess at an address the tag was not seen under).
 * A resolved toy's `lastTransportId` is updated in place.
 */
export async function locate(
  scanner: ToyScanner,
  toy: PairedToy,
  signal: AbortSignal,
  opts: { probeAfterMs: number; exclude: ReadonlySet<string>; probe: boolean; giveUpAfterGrace?: boolean },
): Promise<Located> {
  const inner = new AbortController();
  const onAbort = (): void => inner.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  const candidates = new Map<string, number>();
  let graceOver = false;
  const timer = opts.probe
    ? setTimeout(() => {
        graceOver = true;
        if (candidates.size > 0 || opts.giveUpAfterGrace) inner.abort();
      }, opts.probeAfterMs)
    : undefined;
  try {
    for await (const adv of scanner.scan(inner.signal)) {
      const d = scanner.classify(adv);
      if (!d) continue;
      if (d.kind === 'paired') {
        if (d.toy.id !== toy.id) continue; // another of our toys
        toy.lastTransportId = d.transportId;
        return { kind: 'resolved', transportId: d.transportId };
      }
      // An owned toy whose tag none of our keys resolves: maybe ours under a key we missed.
      const owned = d.kind === 'pairing' ? d.owned : (adv.serviceData[0]! & ADV_FLAG_OWNED) !== 0;
      if (!opts.probe || !owned || opts.exclude.has(d.transportId)) continue;
      candidates.set(d.transportId, Math.max(d.rssi ?? -127, candidates.get(d.transportId) ?? -127));
      if (graceOver) break;
    }
  } catch (e) {
    if (!signal.aborted && !inner.signal.aborted) throw e;
  } finally {
    if (timer) clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    inner.abort();
  }
  if (!signal.aborted && (candidates.size > 0 || (graceOver && opts.giveUpAfterGrace))) {
    return { kind: 'unresolved', candidates: [...candidates].sort((a, b) => b[1] - a[1]).map(([id]) => id) };
  }
  // Never the last transport id instead: whoever advertises there now did not show our tag.
  if (signal.aborted) throw new PlushlinkError('ABORTED', `toy ${toy.name} was not seen before the search ended`);
  throw new PlushlinkError('NOT_FOUND', `toy ${toy.name} was not seen`);
}

/**
 * Finds `toy` and reconnects to it with `reconnectAt`: where its tag resolves, or else (with
 * probing) at each unresolved owned toy nearby in turn, strongest first, until one accepts us or
 * `maxProbes` were tried. A look-alike that cannot prove the toy's key (`TOY_KEY_MISMATCH`) is
 * reported only when nothing else worked; refusals (`NOT_PAIRED`) are counted: a toy that
 * removed us refuses exactly like a foreign toy (PROTOCOL.md §13.4).
 */
export async function locateAndReconnect<T>(
  scanner: ToyScanner,
  toy: PairedToy,
  signal: AbortSignal,
  settings: ProbeSettings,
  reconnectAt: (transportId: string) => Promise<T>,
): Promise<T> {
  const { maxProbes } = settings;
  const tried = new Set<string>();
  let mismatch: PlushlinkError | undefined;
  let refused = 0;
  const giveUp = (): PlushlinkError => {
    if (mismatch) return mismatch;
    // A toy refuses an unknown companion exactly as a foreign toy refuses a message 1 made
    // for another key (PROTOCOL.md §13.4), so "removed" and "not here" look the same.
    if (refused > 0) {
      return new PlushlinkError(
        'NOT_PAIRED',
        `toy ${toy.name}: its tag was not seen and none of the ${tried.size} unresolved toys nearby accepted this companion (${refused} refused it): the toy has removed it, or is not in range`,
        { refusal: 'HANDSHAKE_FAILED', probed: tried.size },
      );
    }
    return new PlushlinkError('NOT_FOUND', `toy ${toy.name}: its tag was not seen and none of the ${tried.size} unresolved toys nearby was it`);
  };
  for (;;) {
    // After a round of probes, a grace period without a new candidate ends the search.
    const found = await locate(scanner, toy, signal, { probeAfterMs: settings.probeAfterMs, exclude: tried, probe: tried.size < maxProbes, giveUpAfterGrace: tried.size > 0 });
    if (found.kind === 'resolved') return reconnectAt(found.transportId);
    if (found.candidates.length === 0) throw giveUp();
    for (const candidate of found.candidates) {
      if (tried.size >= maxProbes) break;
      tried.add(candidate);
      try {
        return await reconnectAt(candidate);
      } catch (e) {
        if (signal.aborted) throw e;
        // A message 2 that does not prove the pinned key: a look-alike; keep looking, report it if nothing else works.
        if (isPlushlinkError(e, 'TOY_KEY_MISMATCH')) mismatch ??= e;
        // Refused (a foreign toy, or ours if it removed us: the two are indistinguishable),
        // went away, timed out: next.
        else if (isPlushlinkError(e, 'NOT_PAIRED')) refused++;
      }
    }
    if (tried.size >= maxProbes) throw giveUp();
  }
}
