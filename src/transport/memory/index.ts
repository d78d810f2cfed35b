/** The in-memory radio: a simulated BLE link for tests, the demo and the bench. */
export {
  MemoryRadio,
  MemoryCentral,
  MemoryPeripheral,
  MemoryCentralLink,
  MemoryPeripheralLink,
  RadioFaults,
  LinkFaults,
  type MemoryRadioOptions,
  type MemoryCentralOptions,
  type MemoryPeripheralOptions,
  type MemoryRadioEvents,
  type AdvertisingEvent,
  type LinkStats,
  type LinkDirection,
  type DisconnectAfterSpec,
  type DisconnectReason,
  type PduTrace,
} from './radio.js';
export { defaultScheduler, type Scheduler } from './scheduler.js';
