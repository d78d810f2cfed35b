/** Keys and message content shared by the outbox crash child and its parent test. */
import { utf8 } from '../../../src/protocol/bytes.js';
import { familyIdentityFromSecrets } from '../../../src/messages/index.js';

export const sender = familyIdentityFromSecrets('Grandma', new Uint8Array(32).fill(11), new Uint8Array(32).fill(12));
export const recipient = familyIdentityFromSecrets('Mia', new Uint8Array(32).fill(13), new Uint8Array(32).fill(14));

/** The audio of message i: recognisable, and long enough that writes are not trivial. */
export function audioOf(i: number): Uint8Array {
  return utf8(`OggS OpusHead message ${i} `.repeat(200));
}
