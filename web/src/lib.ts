/**
 * The library modules the app runs in the browser: the same sealing, opening, family-key,
 * request-signing and Opus code as the Node library and the companion (one code path,
 * docs/RELAY.md "The web app"). They are imported from the library's sources; none of them
 * imports from `node:` (the browser-bundle test builds this app and fails if one does).
 */
export {
  generateFamilyIdentity,
  familyPublicKey,
  familyKeyCode,
  parseFamilyKeyCode,
  familyKeyFingerprint,
  serializeFamilyIdentity,
  parseFamilyIdentity,
  sameFamilyKey,
  type FamilyIdentity,
  type FamilyPublicKey,
} from '@lib/messages/family.js';
export { sealVoiceMessage, openVoiceMessage, inspectVoiceMessage, peekVoiceMessage, type OpenedVoiceMessage } from '@lib/messages/envelope.js';
export { mailboxIdOf, keyIdHexOf } from '@lib/messages/relay-protocol.js';
export { oggOpusToPcm } from '@lib/audio/convert.js';
export { readOggOpus } from '@lib/audio/ogg-opus.js';
export { floatToInt16, SAMPLE_RATE } from '@lib/audio/opus-codec.js';
export { PlushlinkError } from '@lib/protocol/errors.js';
export { toHex, fromHex, bytesEqual, concatBytes } from '@lib/protocol/bytes.js';
export { sha512 } from '@lib/protocol/crypto.js';
export { base32Encode, base32Decode } from '@lib/protocol/base32.js';
export { HttpRelay } from '@lib/messages/http-relay.js';
export { syncOutbox, type DeliveryStore, type DeliveryEvents } from '@lib/messages/delivery.js';
export { Inbox, type InboxStore } from '@lib/messages/inbox.js';
