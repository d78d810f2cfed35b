/**
 * The toy conformance run (docs/CONFORMANCE.md): {@link runConformance} drives a toy through a
 * `Central` and judges it against docs/PROTOCOL.md; {@link memoryConformanceTarget} is the
 * in-process reference toy to run it against.
 */
export { runConformance, wallClock } from './run.js';
export { CHECKS } from './checks.js';
export { renderConformanceText, renderConformanceJson } from './report.js';
export { memoryConformanceTarget, type MemoryTarget, type MemoryTargetOptions, type MemoryToyParts } from './memory.js';
export type { CheckDefinition, CheckResult, ConformanceClock, ConformanceOptions, ConformanceReport, Verdict } from './types.js';
