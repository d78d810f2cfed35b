/**
 * `plushlink/toy` — the toy side: the reference toy (the executable specification of
 * docs/PROTOCOL.md), its sans-IO state machine {@link ToyCore}, its storage, and the peripheral
 * side of the transport with {@link BlenoPeripheral} (Bluetooth on Node through bleno).
 *
 * A toy is made with an identity key pair and a setup code (printed on its QR label):
 * {@link generateX25519KeyPair}, {@link generateSetupCode}, {@link formatSetupQr}.
 *
 * Every name here is pinned by test/unit/project/public-api.test.ts: adding one is a visible decision.
 *
 * @packageDocumentation
 */
export { PlushlinkError, isPlushlinkError, type ErrorCode } from './protocol/errors.js';

export { ReferenceToy, type ReferenceToyOptions, type ReferenceToyEvents, type MicrophoneSource } from './toy/reference-toy.js';
export { ToyCore, companionKeyId, type ToyCoreOptions } from './toy/toy-core.js';
export { MemoryToyStorage, FileToyStorage, type ToyStorage } from './toy/storage.js';
export { SpeakerBuffer, type SpeakerStats } from './toy/speaker-buffer.js';
export type { ToyConfig, ToyPersistentState, ToyPairing, ToyAction, ToyLogEvent, RefusalKind, ToyRefusalCounts } from './toy/types.js';

// the peripheral side of the transport (docs/PROTOCOL.md, "GATT")
export type { CharacteristicName, NotifyingCharacteristic, Peripheral, PeripheralEvents, PeripheralLink, PeripheralLinkEvents, WritableCharacteristic } from './transport/types.js';
export { BlenoPeripheral, type BlenoPeripheralOptions } from './transport/bleno/peripheral.js';

// the toy's identity and setup code
export { generateX25519KeyPair, x25519KeyPairFromSecret, type X25519KeyPair } from './protocol/crypto.js';
export { generateSetupCode, formatSetupCode, formatSetupQr, type SetupCode } from './protocol/setup-code.js';
