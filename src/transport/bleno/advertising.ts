/**
 * The toy's advertising payload (legacy advertising, 31 bytes per PDU):
 *
 * - advertising data: Flags (LE General Discoverable, BR/EDR not supported) and the 128-bit
 *   Service Data AD structure (type 0x21) under the plushlink service UUID;
 * - scan response: the Complete List of 128-bit Service Class UUIDs (type 0x07) with the plushlink
 *   service UUID.
 *
 * No local name, no TX power, no manufacturer data: nothing stable (docs/SECURITY.md property 6, privacy). The 31-byte
 * limit leaves {@link MAX_ADVERTISED_SERVICE_DATA} bytes of service data.
 */
import { PlushlinkError } from '../../protocol/errors.js';
import { PLUSHLINK_SERVICE_UUID, uuidToLeBytes } from '../gatt-layout.js';

/** Legacy advertising PDU payload limit. */
export const MAX_ADVERTISING_PAYLOAD = 31;
/** Service data bytes that fit next to the Flags and the 128-bit service data header: 31 − 3 − 18. */
export const MAX_ADVERTISED_SERVICE_DATA = MAX_ADVERTISING_PAYLOAD - 3 - 2 - 16;

/** Advertising data and scan response, as handed to `bleno.startAdvertisingWithEIRData`. */
export interface AdvertisingPayload {
  advertisement: Buffer;
  scanResponse: Buffer;
}

/** Builds the advertising data + scan response for `serviceData` (at most 10 bytes). */
export function buildAdvertisingPayload(serviceData: Uint8Array): AdvertisingPayload {
  if (serviceData.length > MAX_ADVERTISED_SERVICE_DATA) {
    throw new PlushlinkError(
      'BAD_FRAME',
      `advertised service data is ${serviceData.length} bytes; at most ${MAX_ADVERTISED_SERVICE_DATA} fit a legacy advertisement`,
      { length: serviceData.length, max: MAX_ADVERTISED_SERVICE_DATA },
    );
  }
  const uuid = uuidToLeBytes(PLUSHLINK_SERVICE_UUID);
  const advertisement = Buffer.alloc(3 + 2 + 16 + serviceData.length);
  advertisement.set([0x02, 0x01, 0x06], 0);
  advertisement[3] = 1 + 16 + serviceData.length;
  advertisement[4] = 0x21;
  advertisement.set(uuid, 5);
  advertisement.set(serviceData, 21);
  const scanResponse = Buffer.alloc(2 + 16);
  scanResponse[0] = 17;
  scanResponse[1] = 0x07;
  scanResponse.set(uuid, 2);
  return { advertisement, scanResponse };
}
