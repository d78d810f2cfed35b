/** The in-memory radio: a simulated BLE link for tests, the demo and the bench (the model: ./radio.ts). */
export { MemoryRadio } from './radio.js';
export { MemoryCentral } from './central.js';
export { MemoryPeripheral } from './peripheral.js';
export { MemoryCentralLink, MemoryPeripheralLink } from './link.js';
export { RadioFaults, LinkFaults } from './faults.js';
export type {
  MemoryRadioOptions,
  MemoryCentralOptions,
  MemoryPeripheralOptions,
  MemoryRadioEvents,
  AdvertisingEvent,
  LinkStats,
  LinkDirection,
  DisconnectAfterSpec,
  DisconnectReason,
  PduTrace,
} from './types.js';
export { defaultScheduler, type Scheduler } from './scheduler.js';
