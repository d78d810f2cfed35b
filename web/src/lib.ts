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
} from '../../src/messages/family.js';
export { sealVoiceMessage, openVoiceMessage, inspectVoiceMessage, peekVoiceMessage, type OpenedVoiceMessage } from '../../src/messages/envelope.js';
export { mailboxIdOf, keyIdHexOf } from '../../src/messages/relay-protocol.js';
export { oggOpusToPcm } from '../../src/audio/convert.js';
export { readOggOpus } from '../../src/audio/ogg-opus.js';
export { floatToInt16, SAMPLE_RATE } from '../../src/audio/opus-codec.js';
export { PlushlinkError } from '../../src/protocol/errors.js';
export { toHex, fromHex, bytesEqual, concatBytes } from '../../src/protocol/bytes.js';
export { sha512 } from '../../src/protocol/crypto.js';
export { base32Encode, base32Decode } from '../../src/protocol/base32.js';
export { HttpRelay } from '../../src/messages/http-relay.js';
export { syncOutbox, type DeliveryStore, type DeliveryEvents } from '../../src/messages/delivery.js';
export { Inbox, type InboxStore } from '../../src/messages/inbox.js';
