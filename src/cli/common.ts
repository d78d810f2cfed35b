/**
 * Shared plumbing of the `plushlink` CLI: global options, default paths, output, errors,
 * progress lines and logging.
 */
import createDebug from 'debug';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { PlushlinkError, isPlushlinkError } from '../index.js';

/** `DEBUG=plushlink:*` loggers. */
export const log = {
  cli: createDebug('plushlink:cli'),
  toy: createDebug('plushlink:toy'),
  transport: createDebug('plushlink:transport'),
};

/** The transports a command can run over. */
export type TransportKind = 'memory' | 'noble-sim' | 'noble';
export const TRANSPORTS: readonly TransportKind[] = ['memory', 'noble-sim', 'noble'];

/** Options every command sees (`cmd.optsWithGlobals()`). */
export interface GlobalOptions {
  transport?: string;
  keystore?: string;
  toyState?: string;
  /**
   * Also probe owned toys whose rotating tag this companion cannot resolve (`probeUnresolved`,
   * PROTOCOL.md §14.3): finds a paired toy whose advertising key changed while this companion was
   * away, at the cost of sending the slot-bound reconnect message 1 to devices that may not be it.
   */
  probe?: boolean;
}

/** The folder of the CLI's files: `$PLUSHLINK_HOME`, default `~/.plushlink`. */
export function plushlinkHome(): string {
  const env = process.env.PLUSHLINK_HOME;
  return env ? resolve(env) : join(homedir(), '.plushlink');
}

export const defaults = {
  keystore: (): string => join(plushlinkHome(), 'keystore.json'),
  toyState: (): string => join(plushlinkHome(), 'sim-toy.json'),
  identity: (): string => join(plushlinkHome(), 'family-identity.json'),
  family: (): string => join(plushlinkHome(), 'family.json'),
  inbox: (): string => join(plushlinkHome(), 'inbox'),
  /** The relay: `$PLUSHLINK_RELAY`, default a local `plushlink relay serve`. */
  relay: (): string => process.env.PLUSHLINK_RELAY ?? 'http://127.0.0.1:8787',
  outbox: (): string => join(plushlinkHome(), 'outbox'),
  recordings: (): string => join(plushlinkHome(), 'recordings'),
};

/** Resolves `--transport` against the command's default. */
export function transportOf(g: GlobalOptions, fallback: TransportKind): TransportKind {
  const t = g.transport ?? fallback;
  if (!(TRANSPORTS as readonly string[]).includes(t)) throw new UsageError(`unknown transport "${t}" (use ${TRANSPORTS.join('|')})`);
  return t as TransportKind;
}

/** A command-line usage mistake: printed as `error USAGE: ...`, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Exit codes: 0 ok, 1 a plushlink error, 2 usage, 130 interrupted. */
export const EXIT = { OK: 0, ERROR: 1, USAGE: 2, INTERRUPTED: 130 } as const;

/**
 * The one line printed for an error: `error CODE: message`. PlushlinkError codes are used as
 * they are; a missing file is `NOT_FOUND`; anything else is `INTERNAL`.
 */
export function formatError(e: unknown): { line: string; exitCode: number } {
  const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' ').trim();
  if (e instanceof UsageError) return { line: `error USAGE: ${oneLine(e.message)}`, exitCode: EXIT.USAGE };
  if (isPlushlinkError(e)) {
    // every TRANSPORT_UNAVAILABLE points to `plushlink doctor` (docs/HARDWARE.md)
    const hint = e.code === 'TRANSPORT_UNAVAILABLE' && !e.message.includes('plushlink doctor') ? ' (run `plushlink doctor` to check Bluetooth support)' : '';
    return { line: `error ${e.code}: ${oneLine(e.message)}${hint}`, exitCode: e.code === 'ABORTED' ? EXIT.INTERRUPTED : EXIT.ERROR };
  }
  const errno = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  if (errno === 'ENOENT') return { line: `error NOT_FOUND: ${oneLine(message)}`, exitCode: EXIT.ERROR };
  return { line: `error INTERNAL: ${oneLine(message)}${typeof errno === 'string' ? ` (${errno})` : ''}`, exitCode: EXIT.ERROR };
}

/** Prints a line on stdout. */
export function out(line = ''): void {
  process.stdout.write(line + '\n');
}

/** Prints a value as JSON on stdout (Uint8Array as hex). */
export function outJson(value: unknown): void {
  process.stdout.write(
    JSON.stringify(value, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v), 2) + '\n',
  );
}

/** Prints a note on stderr (never part of the command's machine-readable output). */
export function note(line: string): void {
  process.stderr.write(line + '\n');
}

/**
 * A progress line on stderr, redrawn in place; silent unless stderr is a TTY (so pipes and
 * tests see only the final result on stdout). Every update also goes to `DEBUG=plushlink:cli`.
 */
export class Progress {
  private shown = false;
  private last = 0;
  constructor(private readonly enabled: boolean = Boolean(process.stderr.isTTY)) {}

  /** Shows `text` (throttled to 10 updates/s unless `force`). */
  update(text: string, force = false): void {
    log.cli('progress: %s', text);
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    const width = (process.stderr.columns ?? 80) - 1;
    process.stderr.write(`\r\x1b[2K${text.length > width ? text.slice(0, width) : text}`);
    this.shown = true;
  }

  /** Clears the line. */
  done(): void {
    if (this.enabled && this.shown) process.stderr.write('\r\x1b[2K');
    this.shown = false;
  }
}

/** A text progress bar: `[#####.....] 50%`. */
export function bar(fraction: number, width = 24): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  const n = Math.round(f * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}] ${String(Math.round(f * 100)).padStart(3)}%`;
}

/**
 * An AbortSignal that fires on Ctrl-C (SIGINT) or SIGTERM. The first signal aborts with
 * `ABORTED` so the command can finish cleanly (a recording is closed properly); a second one
 * exits at once.
 */
export function interruptSignal(): { signal: AbortSignal; dispose(): void; rearm(): void } {
  const ctl = new AbortController();
  const onSignal = (): void => {
    if (ctl.signal.aborted) process.exit(EXIT.INTERRUPTED);
    log.cli('interrupted');
    ctl.abort(new PlushlinkError('ABORTED', 'interrupted'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const dispose = (): void => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  return {
    signal: ctl.signal,
    dispose,
    // noble's HCI bindings add a SIGINT handler that exits at once when it is the last one:
    // after the radio is up, move ours behind it so Ctrl-C still ends a recording cleanly.
    rearm: () => {
      dispose();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    },
  };
}

/** Parses a positive number option. */
export function positiveNumber(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${name} must be a positive number (got "${v}")`);
    return n;
  };
}

/** Parses a positive integer option. */
export function positiveInt(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${name} must be a positive integer (got "${v}")`);
    return n;
  };
}

/** Collects a repeatable option into an array. */
export function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

/** Sleeps `ms`, or less when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((r) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      r();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
