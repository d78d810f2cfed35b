/**
 * The plushlink GATT layout: one primary service with three characteristics. Every adapter
 * (noble, bleno, noble-sim) uses these UUIDs; docs/PROTOCOL.md documents them.
 *
 * The UUIDs are random 128-bit (version 4) UUIDs sharing one base: the 16-bit slot in bytes 2–3
 * (`5ba1XXXX-…`) distinguishes the service and its characteristics.
 *
 * | name        | UUID                                   | properties                 |
 * | ----------- | -------------------------------------- | -------------------------- |
 * | service     | `5ba10001-9803-4692-9003-fff2fbc8cda2` | primary service            |
 * | control     | `5ba10002-9803-4692-9003-fff2fbc8cda2` | write (with response), indicate |
 * | speaker     | `5ba10003-9803-4692-9003-fff2fbc8cda2` | write without response     |
 * | microphone  | `5ba10004-9803-4692-9003-fff2fbc8cda2` | notify                     |
 */
import type { CharacteristicName } from './types.js';

/** The base UUID; `XXXX` is the 16-bit slot. */
export const PLUSHLINK_BASE_UUID = '5ba1XXXX-9803-4692-9003-fff2fbc8cda2';

/** The plushlink primary service. */
export const PLUSHLINK_SERVICE_UUID = '5ba10001-9803-4692-9003-fff2fbc8cda2';
/** `control`: write with response (central → toy), indicate (toy → central). */
export const CONTROL_CHARACTERISTIC_UUID = '5ba10002-9803-4692-9003-fff2fbc8cda2';
/** `speaker`: write without response (central → toy). */
export const SPEAKER_CHARACTERISTIC_UUID = '5ba10003-9803-4692-9003-fff2fbc8cda2';
/** `microphone`: notify (toy → central). */
export const MICROPHONE_CHARACTERISTIC_UUID = '5ba10004-9803-4692-9003-fff2fbc8cda2';

/** Characteristic UUIDs by name. */
export const CHARACTERISTIC_UUIDS: Readonly<Record<CharacteristicName, string>> = Object.freeze({
  control: CONTROL_CHARACTERISTIC_UUID,
  speaker: SPEAKER_CHARACTERISTIC_UUID,
  microphone: MICROPHONE_CHARACTERISTIC_UUID,
});

/**
 * A UUID in the form noble and bleno use internally: lowercase hex without dashes
 * (e.g. `5ba10001980346929003fff2fbc8cda2`).
 */
export function compactUuid(uuid: string): string {
  return uuid.replace(/-/g, '').toLowerCase();
}

/** The UUID's 16 bytes in little-endian order, as they appear in advertising data and ATT PDUs. */
export function uuidToLeBytes(uuid: string): Uint8Array {
  const hex = compactUuid(uuid);
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new RangeError(`not a 128-bit UUID: ${uuid}`);
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[15 - i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The characteristic name for a UUID (any case, with or without dashes), or undefined. */
export function characteristicNameOf(uuid: string): CharacteristicName | undefined {
  const c = compactUuid(uuid);
  for (const [name, u] of Object.entries(CHARACTERISTIC_UUIDS) as [CharacteristicName, string][]) {
    if (compactUuid(u) === c) return name;
  }
  return undefined;
}
