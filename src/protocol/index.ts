/**
 * The pure protocol core (no I/O, no timers, no `node:` imports): runs in Node, React Native
 * and browsers. Toy firmware ports check themselves against `fixtures/vectors/`.
 *
 * Every name is listed (no `export *`), so a module's new export stays internal until it is added
 * here; test/unit/project/public-api.test.ts pins the list.
 */
export { type ErrorCode, isPlushlinkError, PlushlinkError } from './errors.js';
export {
  bytesEqual, concatBytes, fromBase64, fromBase64Url, fromHex, fromUtf8, toBase64, toBase64Url, toHex, utf8, wipe,
} from './bytes.js';
export {
  AEAD_NONCE_LEN, aeadOpen, aeadSeal, aeadSealWithHeader, cryptoBackend, type CryptoBackend, type CryptoBackendInfo, DH_LEN,
  type Ed25519KeyPair, ed25519KeyPairFromSeed, ed25519Sign, ed25519Verify, type Ed25519Verifier, generateEd25519KeyPair, generateX25519KeyPair, HASH_LEN,
  HKDF_MAX_LEN, hkdfSha512, hmacSha512, isLowOrderX25519Key, isSmallOrderEd25519Key, KEY_LEN, noiseHkdf, pureCryptoBackend, randomBytes, type RandomSource, sha512, TAG_LEN,
  useCryptoBackend, withEd25519Policy, x25519, type X25519KeyPair, x25519KeyPairFromSecret, x25519PublicKey,
} from './crypto.js';
export { base32Decode, base32Encode, CROCKFORD_ALPHABET, crockfordValue } from './base32.js';
export {
  formatSetupCode, formatSetupQr, generateSetupCode, parseSetupCode, parseSetupInput, parseSetupQr, QR_PREFIX, SETUP_CODE_BITS,
  SETUP_CODE_SYMBOLS, type SetupCode, setupCodeCheck, setupCodePsk, setupCodesEqual, type SetupQr, toyKeyFingerprint,
} from './setup-code.js';
export { decodeTlv, encodeTlv, readUint, type TlvMap, u16be, u32be } from './tlv.js';
export {
  Capability, CompanionHandshake, type CompanionHandshakeOptions, type CompanionHello, decodeCompanionHello, decodeToyHello,
  encodeCompanionHello, encodeToyHello, type HandshakeMode, handshakePrologue, PAIRING_PROTOCOL, type PairingRole, PAYLOAD_VERSION,
  PROTOCOL_VERSION, RECONNECT_PROTOCOL, reconnectReadSlot, type SessionKeys, type ToyHandshakeOptions, type ToyHello, toyReadMessage1,
  type ToyReadResult,
} from './handshake.js';
export {
  DEFAULT_MAX_MESSAGE, firstFragmentKind, FRAG_END, FRAG_START, Fragmenter, MIN_FRAGMENT_PAYLOAD, Reassembler, type ReassemblyResult,
} from './fragment.js';
export {
  type Channel, channelKey, EPOCH_SIZE, MAX_COUNTER, nextEpochKey, type OpenedRecord, RECORD_HEADER_LEN, RECORD_OVERHEAD, RecordReceiver,
  RecordSender,
} from './record.js';
export {
  AUDIO_FORMATS_SUPPORTED, AUDIO_FORMATS_V1, AudioFormats, audioFrameJoinsBatch, audioPayloadFrameCount, audioPayloadSize,
  decodeAudioPayload, encodeAudioPayload, encodeAudioPayloadInto, FRAME_MS, framesIn, framesPerRecord, MAX_FRAME_BYTES,
  MAX_FRAMES_PER_RECORD, usesEqualFrames,
} from './audio-record.js';
export {
  ADVERTISING_KEY_LEN, type BatteryInfo, companionKeyId, type ControlMessage, type ControlRequest, ControlType, decodeBattery,
  decodeControl, decodeMicStartResult, decodePairings, decodeToyInfo, encodeBattery, encodeControl, encodeMicStartResult, encodePairings,
  encodeToyInfo, GoodbyeReason, goodbyeReasonName, type GoodbyeReasonName, type PairingEntry, ResultStatus, type ResultStatusName,
  type SpeakerState, type ToyInfo, undecodableRequestAnswer,
} from './control.js';
export { decodeWire, encodeWire, RefusalCode, refusalErrorCode, type RefusalName, WireKind, type WireMessage } from './wire.js';
export { type AudioBatch, DEFAULT_REKEY_INTERVAL_MS, SecureChannel, type SecureChannelOptions } from './channel.js';
export {
  ADV_DATA_LEN, ADV_FLAG_OWNED, ADV_FLAG_PAIRING, ADV_SLOT_SECONDS, ADV_TAG_LEN, type AdvertisementInfo, advertisingSlot, advertisingTag,
  buildAdvertisement, msUntilNextSlot, parseAdvertisement, resolveAdvertisingTag,
} from './advertising.js';
export { CipherState, chachaNonce } from './noise/cipher-state.js';
export { SymmetricState } from './noise/symmetric-state.js';
export { HandshakeState, type HandshakeOptions, type SplitResult, MAX_NOISE_MESSAGE, PSK_LEN } from './noise/handshake-state.js';
export { getPattern, parseProtocolName, SUITE, type HandshakePattern, type Token, type MessagePattern } from './noise/patterns.js';
export { runVector, runVectorFile, isSupportedSuite, type NoiseVector, type VectorOutcome, type VectorSummary } from './noise/vectors.js';
