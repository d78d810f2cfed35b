/**
 * Types of the toy conformance run ({@link runConformance}): what a toy maker passes in, and the
 * report that comes out (docs/CONFORMANCE.md).
 */
import type { Central } from '../transport/types.js';

/** The verdict of one check. A check that did not run is never `passed`. */
export type Verdict = 'passed' | 'failed' | 'not-run';

/** One named check, tied to the requirement of docs/PROTOCOL.md it tests. */
export interface CheckDefinition {
  /** Stable name, e.g. `refusal.info-request-outside-window`. */
  name: string;
  /** The PROTOCOL.md section(s) it cites, e.g. `§11, §13.2`. */
  section: string;
  /** What is sent. */
  sends: string;
  /** What must come back. */
  expects: string;
}

/** The outcome of one check. */
export interface CheckResult {
  name: string;
  section: string;
  verdict: Verdict;
  /** `failed`: what was seen instead; `passed`: what was seen. */
  evidence?: string;
  /** `not-run`: why (needs a person, cannot run over this transport, a prerequisite failed). */
  reason?: string;
}

/** The report of a run: an object, with {@link renderConformanceText} and JSON renderings. */
export interface ConformanceReport {
  /** Report format version. */
  version: 1;
  /** `PROTOCOL.md` version the checks are written from. */
  protocol: '1.1';
  /** Wall-clock time the run started (ISO 8601). */
  startedAt: string;
  /** What was tested, as given by the caller (e.g. a transport and firmware name). */
  target: string;
  results: CheckResult[];
  summary: { passed: number; failed: number; notRun: number };
  /** Whether the run's last step (factory reset through `resetToy`) left the toy unowned. */
  leftUnowned: boolean | 'unknown';
}

/**
 * The toy's time as the run sees it. On a real toy it is the wall clock and {@link advance}
 * sleeps; on a simulated toy it is the toy's own fake clock, so waiting costs nothing.
 */
export interface ConformanceClock {
  /** ms since the Unix epoch (the toy's clock must agree within an advertising slot, PROTOCOL.md §12). */
  now(): number;
  /** Lets `ms` of the toy's time pass, and returns once the toy has seen it. */
  advance(ms: number, signal?: AbortSignal): Promise<void>;
  /** True when advancing is cheap (a simulated toy): the slot-rotation check then always runs. */
  readonly simulated: boolean;
}

/** Options of {@link runConformance}. */
export interface ConformanceOptions {
  /** The central (BLE adapter) the run drives the toy through. */
  central: Central;
  /**
   * A central that asks for this ATT MTU, where the transport lets the run choose (the
   * in-memory radio does; a real dongle usually does not). Absent or undefined: the MTU
   * matrix of pairings is reported not-run.
   */
  centralWithMtu?: (mtu: number) => Central | undefined;
  /** The toy's setup code as printed (human form). One of `code` / `qr` is required. */
  code?: string;
  /** The toy's QR payload (`PL1:…`). */
  qr?: string;
  /**
   * Makes the toy open its pairing window (a ≈ 3 s button hold, PROTOCOL.md §13.2): a person
   * prompted by the CLI, or a test rig. Absent: every check that needs it is not-run.
   */
  pressButton?: (signal: AbortSignal) => Promise<void>;
  /**
   * Without `pressButton`: the toy's current transport id (from a scan; it holds within its
   * advertising slot), so the checks that need no button still run on it — the refusals to a
   * stranger, INFO_REQUEST and PAIR_M1 outside the window (the toy must be unowned with its
   * window closed) and the handshake deadline.
   */
  toyId?: string;
  /** Factory-resets the toy (a ≈ 10 s press, §13.5). Absent: the reset checks are not-run. */
  resetToy?: (signal: AbortSignal) => Promise<void>;
  /** The toy's time (default: the wall clock, advancing by sleeping). */
  clock?: ConformanceClock;
  /**
   * Resolves once the toy has sent everything it will send in answer to what it was sent (so a
   * check can conclude that nothing came). Default: waits {@link answerWindowMs} of wall-clock
   * time. The in-memory target settles its radio instead, so no verdict depends on machine speed.
   */
  settle?: (signal: AbortSignal) => Promise<void>;
  /** Default settle window, wall-clock ms (default 2000). */
  answerWindowMs?: number;
  /** How long one scan for the toy's advertisement may take, wall-clock ms (default 15 000). */
  scanTimeoutMs?: number;
  /** Hang guard of one companion operation, wall-clock ms (default 30 000); it decides no verdict. */
  operationTimeoutMs?: number;
  /** Run the advertising-rotation checks on a real clock too (waits for the next 10-minute slot). */
  waitForSlot?: boolean;
  /** What is tested, for the report (default "toy"). */
  target?: string;
  signal?: AbortSignal;
  /** Called with each result as it is decided. */
  onResult?: (result: CheckResult) => void;
  /** Called with what the run is doing (for a progress line). */
  onStep?: (step: string) => void;
}
