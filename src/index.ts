/**
 * plushlink — safe connected plush toys.
 *
 * - {@link Companion} / {@link ToySession}: pair with a toy, reconnect, control it, stream voice.
 * - {@link ReferenceToy}: the executable specification of the toy side.
 * - Transports: the in-memory radio, noble (central), bleno (peripheral), noble-sim.
 * - Audio: Opus codec, Ogg Opus and WAV, jitter buffer.
 * - Messages: end-to-end sealed voice messages and a durable outbox.
 * - Protocol: the pure, I/O-free core (also at `plushlink/protocol`).
 *
 * @packageDocumentation
 */
export { PlushlinkError, isPlushlinkError, type ErrorCode } from './protocol/errors.js';

// companion
export { Companion, type CompanionOptions, type CompanionEvents, type ConnectOptions, type DiscoveredToy, type OperationOptions, type PairOptions } from './companion/companion.js';
export { ToySession, type ToySessionEvents, type SpeakerStatus, type MicStatus, type ControlResult, type RequestOptions } from './companion/session.js';
export { Speaker, opusPacketsOf, type SpeakerSource, type PlayOptions, type PlayProgress, type PlayResult, type SpeakerEvents } from './companion/speaker.js';
export { Microphone, MicrophoneStream, type MicFrame, type MicrophoneStats, type MicStartOptions, type MicrophoneEvents } from './companion/microphone.js';
export { MemoryKeystore, FileKeystore, type Keystore, type KeystoreData, type PairedToy } from './companion/keystore.js';

// toy
export { ReferenceToy, type ReferenceToyOptions, type ReferenceToyEvents, type MicrophoneSource } from './toy/reference-toy.js';
export { ToyCore, companionKeyId, type ToyCoreOptions } from './toy/toy-core.js';
export { MemoryToyStorage, FileToyStorage, type ToyStorage } from './toy/storage.js';
export { SpeakerBuffer, type SpeakerStats } from './toy/speaker-buffer.js';
export type { ToyConfig, ToyPersistentState, ToyPairing, ToyAction, ToyLogEvent, RefusalKind, ToyRefusalCounts } from './toy/types.js';

// transports
export type * from './transport/types.js';
export { MIN_ATT_MTU, MAX_ATT_MTU } from './transport/types.js';
export * from './transport/gatt-layout.js';
export { MemoryRadio, type MemoryRadioOptions, type MemoryCentralOptions, type MemoryPeripheralOptions, type LinkStats } from './transport/memory/index.js';
export { NobleCentral } from './transport/noble/central.js';
export { BlenoPeripheral } from './transport/bleno/peripheral.js';
export { createNobleSimRadio, type NobleSimOptions, type NobleSimRadio } from './transport/noble-sim/index.js';

// audio
export * from './audio/index.js';

// messages
export * from './messages/index.js';

// protocol essentials
export {
  generateSetupCode,
  formatSetupCode,
  parseSetupCode,
  formatSetupQr,
  parseSetupQr,
  parseSetupInput,
  toyKeyFingerprint,
  type SetupCode,
  type SetupQr,
} from './protocol/setup-code.js';
export { generateX25519KeyPair, x25519KeyPairFromSecret, type X25519KeyPair } from './protocol/crypto.js';
/** The crypto back end in use (`node` on Node through the package's `node` export condition, else `pure-js`), and the seam to install another. */
export { cryptoBackend, useCryptoBackend, pureCryptoBackend, type CryptoBackend, type CryptoBackendInfo } from './protocol/crypto.js';
export { PAIRING_PROTOCOL, RECONNECT_PROTOCOL, PROTOCOL_VERSION, Capability, type ToyHello, type CompanionHello, type PairingRole } from './protocol/handshake.js';
/** Why a toy ended a session (the `goodbye` event of a session, the `unpaired` event of a Companion). */
export { GoodbyeReason, goodbyeReasonName, type GoodbyeReasonName } from './protocol/control.js';
