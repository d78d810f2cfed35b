/**
 * `plushlink` — the companion app's API: find toys, pair with a setup code, reconnect, control a
 * toy, and stream voice both ways.
 *
 * - {@link Companion}: scan, pair, reconnect, list and forget toys; {@link ToySession}: one
 *   connected toy (control requests, {@link Speaker}, {@link Microphone}).
 * - Keystores that keep the companion's identity and its paired toys ({@link FileKeystore}, or
 *   your own {@link Keystore}).
 * - The central side of the transport: the {@link Central} interface every Bluetooth adapter
 *   implements, and {@link NobleCentral} (Bluetooth on Node through noble).
 * - Setup codes as typed or scanned, errors ({@link PlushlinkError} with a stable `code`), and the
 *   crypto back end in use.
 *
 * The other audiences have their own subpaths (README, "Using it in an app"):
 * `plushlink/toy` (the toy side), `plushlink/audio` (Opus, Ogg Opus, WAV),
 * `plushlink/messages` (sealed voice messages and relays), `plushlink/protocol` (the pure wire
 * protocol, for firmware authors) and `plushlink/testing` (the in-memory radio, the reference toy
 * and in-memory stores, for an app's own tests).
 *
 * Every name here is pinned by test/unit/project/public-api.test.ts: adding one is a visible decision.
 *
 * @packageDocumentation
 */
export { PlushlinkError, isPlushlinkError, type ErrorCode } from './protocol/errors.js';

// companion
export { Companion, type CompanionOptions, type CompanionEvents, type ConnectOptions, type DiscoveredToy, type OperationOptions, type PairOptions, type UnpairedReason } from './companion/companion.js';
export { ToySession, type ToySessionEvents, type SpeakerStatus, type MicStatus, type ControlResult, type RequestOptions } from './companion/session.js';
export { Speaker, type SpeakerSource, type PlayOptions, type PlayProgress, type PlayResult, type SpeakerEvents } from './companion/speaker.js';
export { Microphone, MicrophoneStream, type MicFrame, type MicrophoneStats, type MicStartOptions, type MicrophoneEvents } from './companion/microphone.js';
export { FileKeystore, type Keystore, type KeystoreData, type PairedToy } from './companion/keystore.js';

// the central side of the transport (docs/PROTOCOL.md, "GATT")
export {
  MIN_ATT_MTU,
  MAX_ATT_MTU,
  type Advertisement,
  type Central,
  type CentralConnectOptions,
  type CentralLink,
  type CentralLinkEvents,
  type CharacteristicName,
  type NotifyingCharacteristic,
  type ScanOptions,
  type WritableCharacteristic,
} from './transport/types.js';
export {
  PLUSHLINK_SERVICE_UUID,
  CONTROL_CHARACTERISTIC_UUID,
  SPEAKER_CHARACTERISTIC_UUID,
  MICROPHONE_CHARACTERISTIC_UUID,
  CHARACTERISTIC_UUIDS,
} from './transport/gatt-layout.js';
export { NobleCentral, type NobleCentralOptions, type NobleLike } from './transport/noble/central.js';

// setup codes as the app reads them (QR payload or typed), and the toy's key fingerprint
export { parseSetupInput, parseSetupCode, parseSetupQr, formatSetupCode, toyKeyFingerprint, type SetupCode, type SetupQr } from './protocol/setup-code.js';
/** The crypto back end in use (`node` on Node through the package's `node` export condition, else `pure-js`), and the seam to install another. */
export { cryptoBackend, useCryptoBackend, pureCryptoBackend, type CryptoBackend, type CryptoBackendInfo } from './protocol/crypto.js';
/** What a session tells about its toy (`session.hello`, `session.toy.role`). */
export { PROTOCOL_VERSION, Capability, type ToyHello, type PairingRole } from './protocol/handshake.js';
/** Why a toy ended a session (the `goodbye` event of a session, the `unpaired` event of a Companion). */
export { GoodbyeReason, goodbyeReasonName, type GoodbyeReasonName } from './protocol/control.js';
