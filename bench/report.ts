/**
 * Result rows of the benchmark, the printed table and the JSON document. One row is one
 * measured figure with the baseline(s) it is compared to and, where the issue sets one, its goal.
 */

/** A goal a figure is judged against. */
export interface Goal {
  op: '<=' | '>=' | '==';
  target: number;
}

/** One measured figure. */
export interface Row {
  /** The figure's key from the issue, e.g. `overhead`. */
  key: string;
  /** Which case of the key, e.g. `16kbps/mtu247`; '' when the key has one case. Crypto-bound figures end in their back end (`, node` / `, pure-js`). */
  variant: string;
  /** The crypto back end the figure was measured on (bench/backends.ts), when it depends on one. */
  backend?: string;
  /** The measured value (plushlink as shipped). */
  value: number;
  unit: string;
  /** Baselines by label (measured in the same run unless the label says "spec"). */
  baselines: Record<string, number>;
  goal?: Goal;
  /** Whether {@link value} meets {@link goal}; absent when there is no goal. */
  met?: boolean;
  /** How the figure was obtained (one line). */
  how: string;
  /** Further numbers behind the figure (all finite). */
  extra?: Record<string, number>;
}

/** The machine a run happened on. */
export interface Machine {
  nproc: number;
  cpu: string;
  node: string;
  platform: string;
  totalMemGiB: number;
}

/** What `--json FILE` writes. */
export interface BenchReport {
  machine: Machine;
  quick: boolean;
  startedAt: string;
  durationS: number;
  rows: Row[];
  /** The same rows indexed as figures[key][variant || 'value']. */
  figures: Record<string, Record<string, Omit<Row, 'key' | 'variant'>>>;
}

/** The keys every full or quick run reports (the smoke test checks them). */
export const REQUIRED_KEYS = [
  'pairingRoundTrips',
  'reconnectRoundTrips',
  'reconnectMs',
  'handshakeCpuMs',
  'toyX25519PerHandshake',
  'toySignaturesPerHandshake',
  'overhead',
  'addedLatencyMs',
  'recordsPerSecond',
  'opusDecodeRealtime',
  'opusEncodeRealtime',
  'sessionMemoryKiB',
  'recordsToRawAead',
  'toyCostM4Ms',
] as const;

/** Builds a row and judges its goal. */
export function row(r: Omit<Row, 'met'>): Row {
  const out: Row = { ...r };
  if (r.goal) out.met = meets(r.value, r.goal);
  return out;
}

export function meets(value: number, g: Goal): boolean {
  if (g.op === '<=') return value <= g.target;
  if (g.op === '>=') return value >= g.target;
  return value === g.target;
}

export function indexRows(rows: Row[]): BenchReport['figures'] {
  const figures: BenchReport['figures'] = {};
  for (const { key, variant, ...rest } of rows) {
    (figures[key] ??= {})[variant || 'value'] = rest;
  }
  return figures;
}

/** Formats a number for the table: integers plainly, others with 3 significant digits (at least). */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  const a = Math.abs(n);
  if (a >= 1000) return Math.round(n).toLocaleString('en-US');
  if (a >= 100) return n.toFixed(1);
  if (a >= 10) return n.toFixed(2);
  return n.toFixed(3);
}

function goalText(g: Goal | undefined): string {
  if (!g) return '—';
  return `${g.op === '==' ? '=' : g.op === '<=' ? '≤' : '≥'} ${fmt(g.target)}`;
}

/** The table as Markdown (prints well in a terminal and pastes into README). */
export function formatTable(rows: Row[]): string {
  const head = ['figure', 'case', 'plushlink', 'baseline(s)', 'unit', 'goal', 'met'];
  const lines = rows.map((r) => [
    r.key,
    r.variant || '—',
    fmt(r.value),
    Object.entries(r.baselines)
      .map(([k, v]) => `${fmt(v)} (${k})`)
      .join('; ') || '—',
    r.unit,
    goalText(r.goal),
    r.met === undefined ? '—' : r.met ? 'met' : 'MISSED',
  ]);
  const all = [head, ...lines];
  const widths = head.map((_, i) => Math.max(...all.map((l) => l[i]!.length)));
  const fmtLine = (l: string[]): string => `| ${l.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [fmtLine(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(fmtLine)].join('\n');
}

/** The "how measured" notes, one per key. */
export function formatNotes(rows: Row[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const r of rows) {
    if (seen.has(r.key)) continue;
    seen.add(r.key);
    out.push(`- ${r.key}: ${r.how}`);
  }
  return out.join('\n');
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile (p in 0..100) of a non-empty list. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i]!;
}

export function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
