/** Renderings of a {@link ConformanceReport}: text for people, JSON to attach to a release. */
import { CHECKS } from './checks.js';
import type { ConformanceReport } from './types.js';

/** A plain-text table of the report: one line per check, evidence or reason below it. */
export function renderConformanceText(r: ConformanceReport): string {
  const mark = { passed: 'PASS   ', failed: 'FAIL   ', 'not-run': 'NOT RUN' } as const;
  const lines = [`plushlink toy conformance (PROTOCOL.md v${r.protocol}) — ${r.target} — ${r.startedAt}`, ''];
  for (const x of r.results) {
    lines.push(`${mark[x.verdict]}  ${x.name.padEnd(42)} ${x.section}`);
    const why = x.verdict === 'not-run' ? x.reason : x.evidence;
    if (why && x.verdict !== 'passed') lines.push(`         ${why}`);
  }
  lines.push('', `${r.summary.passed} passed, ${r.summary.failed} failed, ${r.summary.notRun} not run (of ${CHECKS.length}); toy left unowned: ${r.leftUnowned}`);
  return lines.join('\n');
}

/** The report as JSON (stable key order, two-space indent). */
export function renderConformanceJson(r: ConformanceReport): string {
  return JSON.stringify(r, null, 2);
}
