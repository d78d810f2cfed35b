/**
 * `plushlink/testing` — stand-ins for an app's own tests, with no Bluetooth hardware and in one
 * process:
 *
 * - {@link MemoryRadio}: a simulated BLE link (centrals and peripherals, MTU, latency, faults).
 * - {@link createNobleSimRadio}: real noble and real bleno GATT code over a simulated controller.
 * - {@link ReferenceToy} with {@link MemoryToyStorage}: a toy to pair with.
 * - {@link MemoryKeystore}: a companion keystore that forgets everything when dropped.
 * - {@link runConformance}: the toy conformance run a toy maker points at their firmware
 *   (docs/CONFORMANCE.md), with {@link memoryConformanceTarget} (the reference toy in-process)
 *   and the report's renderings.
 *
 * Every name here is pinned by test/unit/project/public-api.test.ts: adding one is a visible decision.
 *
 * @packageDocumentation
 */
export {
  MemoryRadio,
  RadioFaults,
  LinkFaults,
  type MemoryRadioOptions,
  type MemoryCentralOptions,
  type MemoryPeripheralOptions,
  type MemoryRadioEvents,
  type LinkStats,
  type DisconnectReason,
} from './transport/memory/index.js';
export { createNobleSimRadio, type NobleSimOptions, type NobleSimRadio } from './transport/noble-sim/index.js';
export { ReferenceToy, type ReferenceToyOptions } from './toy/reference-toy.js';
export { MemoryToyStorage } from './toy/storage.js';
export { MemoryKeystore } from './companion/keystore.js';
export {
  runConformance,
  wallClock,
  CHECKS as CONFORMANCE_CHECKS,
  renderConformanceText,
  renderConformanceJson,
  memoryConformanceTarget,
  type MemoryTarget,
  type MemoryTargetOptions,
  type MemoryToyParts,
  type CheckDefinition,
  type CheckResult,
  type ConformanceClock,
  type ConformanceOptions,
  type ConformanceReport,
  type Verdict,
} from './conformance/index.js';
