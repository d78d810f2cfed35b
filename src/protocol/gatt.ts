/**
 * The plushlink GATT service as the protocol sees it (PROTOCOL.md §2): the names and UUIDs of its
 * three characteristics, and the ATT payload rule (one fragment of at most MTU − 3 bytes per
 * write, indication or notification). Pure: the sans-IO toy core and the companion take these
 * from here; `src/transport/` re-exports them for the adapters and the public API.
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

/** The three characteristics of the plushlink GATT service. */
export type CharacteristicName = 'control' | 'speaker' | 'microphone';
/** Characteristics a central writes to. */
export type WritableCharacteristic = 'control' | 'speaker';
/** Characteristics a peripheral sends on (control by indication, microphone by notification). */
export type NotifyingCharacteristic = 'control' | 'microphone';

/** The smallest ATT MTU BLE allows; payload per write/notification is MTU − 3. */
export const MIN_ATT_MTU = 23;
/** The largest ATT MTU BLE allows. */
export const MAX_ATT_MTU = 517;
/** The ATT header of a write, indication or notification (opcode + handle). */
export const ATT_HEADER_LEN = 3;

/**
 * The most bytes one write, indication or notification carries at ATT MTU `mtu`: MTU − 3
 * (20 at MTU 23, 244 at MTU 247; PROTOCOL.md §2 "MTU rules"). Every fragment fits one.
 */
export function attPayload(mtu: number): number {
  return mtu - ATT_HEADER_LEN;
}

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
