/**
 * The companion side of a CLI command: a central on the chosen transport, the keystore, and
 * — for `--transport memory|noble-sim` — an in-process simulated toy on the same simulated air,
 * started from `--toy-state FILE` so that every command can run (and be tested) without hardware.
 */
import { Companion, FileKeystore, NobleCentral, PlushlinkError, isPlushlinkError, type Central, type DiscoveredToy, type ToySession } from '../index.js';
import { createAir, type Air } from './transports.js';
import { defaults, interruptSignal, log, Progress, sleep, transportOf, type GlobalOptions, type TransportKind } from './common.js';
import { startSimToy, type SimToy } from './sim-toy.js';

/** What the companion commands share. */
export interface CompanionContext {
  transport: TransportKind;
  companion: Companion;
  central: Central;
  keystorePath: string;
  /** The in-process toy (memory / noble-sim only). */
  simToy?: SimToy;
  /** Releases the central, stops the simulated toy (writing its flash) and the air. */
  close(): Promise<void>;
}

/** Help text shared by the commands that talk to a toy. */
export const SIM_TRANSPORT_HELP = `
Transports:
  --transport noble      (default) real Bluetooth through @abandonware/noble; needs a BLE
                         adapter and the capabilities described in docs/HARDWARE.md.
  --transport memory     no hardware: the command runs against an in-process simulated toy
  --transport noble-sim  (memory: the in-memory radio; noble-sim: real noble + bleno GATT code).
                         The simulated toy's identity and setup code are read from
                         --toy-state FILE (default $PLUSHLINK_HOME/sim-toy.json, created on first
                         use; print its label with \`plushlink label --state FILE\`) and its flash
                         (pairings, advertising key, volume) from FILE.flash.json, so pairings
                         persist between invocations. \`pair\` holds the simulated toy's button
                         first (the physical-presence step); \`scan --press-button\` does too.`;

/** Opens the companion for a toy-facing command. */
export async function openCompanion(g: GlobalOptions, opts: { displayName?: string; pressButton?: boolean } = {}): Promise<CompanionContext> {
  const transport = transportOf(g, 'noble');
  const keystorePath = g.keystore ?? defaults.keystore();
  let air: Air | undefined;
  let simToy: SimToy | undefined;
  let central: Central;
  if (transport === 'noble') {
    central = new NobleCentral();
  } else {
    air = await createAir(transport);
    try {
      simToy = await startSimToy({ peripheral: air.peripheral, statePath: g.toyState ?? defaults.toyState() });
    } catch (e) {
      await air.close().catch(() => undefined);
      throw e;
    }
    log.cli('in-process toy %s on %s (transport id %s)', simToy.label.fingerprint, transport, air.toyId);
    if (opts.pressButton) simToy.toy.pressButton('hold');
    central = air.newCentral();
  }
  const close = async (): Promise<void> => {
    await central.close().catch((e: Error) => log.cli('central close: %s', e.message));
    await simToy?.stop().catch((e: Error) => log.cli('toy stop: %s', e.message));
    await air?.close().catch((e: Error) => log.cli('air close: %s', e.message));
  };
  try {
    const companion = await Companion.open({ central, keystore: new FileKeystore(keystorePath), ...(opts.displayName ? { displayName: opts.displayName } : {}) });
    return { transport, companion, central, keystorePath, ...(simToy ? { simToy } : {}), close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Runs `fn` with an open companion and always closes it. */
export async function withCompanion<T>(g: GlobalOptions, opts: Parameters<typeof openCompanion>[1], fn: (ctx: CompanionContext) => Promise<T>): Promise<T> {
  const ctx = await openCompanion(g, opts);
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

/**
 * Scans for `seconds` (or until `stopWhen` returns true) and returns what was seen, one entry
 * per transport id (the latest classification wins).
 */
export async function scanFor(
  ctx: CompanionContext,
  seconds: number,
  opts: { signal?: AbortSignal; stopWhen?: (d: DiscoveredToy) => boolean; onToy?: (d: DiscoveredToy, isNew: boolean) => void } = {},
): Promise<DiscoveredToy[]> {
  const seen = new Map<string, DiscoveredToy>();
  const ctl = new AbortController();
  const stop = (): void => ctl.abort();
  opts.signal?.addEventListener('abort', stop, { once: true });
  const timer = sleep(seconds * 1000, ctl.signal).then(stop);
  try {
    for await (const d of ctx.companion.scan({ signal: ctl.signal })) {
      const prev = seen.get(d.transportId);
      const isNew = !prev || prev.kind !== d.kind;
      seen.set(d.transportId, d);
      if (isNew) opts.onToy?.(d, true);
      if (opts.stopWhen?.(d)) break;
    }
  } finally {
    stop();
    opts.signal?.removeEventListener('abort', stop);
    await timer;
  }
  return [...seen.values()];
}

/** One line about a scan result. */
export function describeDiscovered(d: DiscoveredToy): string {
  const rssi = d.rssi !== undefined ? `  ${d.rssi} dBm` : '';
  switch (d.kind) {
    case 'paired':
      return `paired         ${d.transportId}  "${d.toy.name}" (${d.toy.id})${rssi}`;
    case 'pairing':
      return `pairing mode   ${d.transportId}  ${d.owned ? 'an owned toy opened a guest pairing window' : 'unpaired toy in pairing mode'}${rssi}`;
    case 'unpaired':
      return `unpaired       ${d.transportId}  no owner, pairing window closed (hold its button to pair)${rssi}`;
    case 'someone-elses':
      return `someone else's ${d.transportId}${rssi}`;
  }
}

/**
 * Connects to a paired toy (scans for its rotating tag) with a progress line; with `probe`, also
 * probes owned toys whose tag it cannot resolve (PROTOCOL.md §14.3, the global `--probe`).
 */
export async function connectToy(ctx: CompanionContext, toy: string, signal: AbortSignal, onProgress?: (s: string) => void, timeoutSeconds = 30, probe = false): Promise<ToySession> {
  const stored = ctx.companion.findToy(toy);
  onProgress?.(`looking for "${stored.name}" and connecting…`);
  let session: ToySession;
  try {
    session = await ctx.companion.connect(stored, { signal, timeoutMs: timeoutSeconds * 1000, probeUnresolved: probe });
  } catch (e) {
    if (isPlushlinkError(e, 'TIMEOUT')) {
      const hint = probe
        ? ''
        : '; if its advertising key changed while this companion was away (another member was removed), it looks like someone else\'s toy: try again with --probe';
      throw new PlushlinkError(
        'TIMEOUT',
        `"${stored.name}" was not found or did not answer within ${timeoutSeconds} s (is it on and in range? a toy that no longer lists this companion does not advertise for it${hint})`,
      );
    }
    throw e;
  }
  log.cli('connected to %s in %d round trip(s), mtu %d', stored.name, session.roundTrips, session.mtu);
  return session;
}

/**
 * Runs `fn` in a session with a paired toy: opens the companion, connects with a progress line,
 * arms Ctrl-C (the first press aborts `signal`, the second exits) and closes the session,
 * the companion and the progress line afterwards, whatever `fn` does.
 */
export async function withToySession<T>(
  g: GlobalOptions,
  toy: string,
  timeoutSeconds: number,
  fn: (session: ToySession, signal: AbortSignal, progress: Progress) => Promise<T>,
): Promise<T> {
  const { signal, dispose, rearm } = interruptSignal();
  const progress = new Progress();
  try {
    return await withCompanion(g, {}, async (ctx) => {
      const session = await connectToy(ctx, toy, signal, (s) => progress.update(s, true), timeoutSeconds, g.probe === true);
      rearm();
      try {
        return await fn(session, signal, progress);
      } finally {
        await session.close();
      }
    });
  } finally {
    progress.done();
    dispose();
  }
}
