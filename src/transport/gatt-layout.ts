/**
 * The plushlink GATT layout (one primary service with three characteristics), for the adapters
 * (noble, bleno, noble-sim) and the public API. The names, the UUIDs and the UUID helpers are
 * wire rules and live in `src/protocol/gatt.ts` (PROTOCOL.md §2); this module re-exports them.
 */
export {
  PLUSHLINK_BASE_UUID,
  PLUSHLINK_SERVICE_UUID,
  CONTROL_CHARACTERISTIC_UUID,
  SPEAKER_CHARACTERISTIC_UUID,
  MICROPHONE_CHARACTERISTIC_UUID,
  CHARACTERISTIC_UUIDS,
  compactUuid,
  uuidToLeBytes,
  characteristicNameOf,
} from '../protocol/gatt.js';
