/**
 * The pure protocol core (no I/O, no timers, no `node:` imports): runs in Node, React Native
 * and browsers. Toy firmware ports check themselves against `fixtures/vectors/`.
 */
export * from './errors.js';
export * from './bytes.js';
export * from './crypto.js';
export * from './base32.js';
export * from './setup-code.js';
export * from './tlv.js';
export * from './handshake.js';
export * from './fragment.js';
export * from './record.js';
export * from './audio-record.js';
export * from './control.js';
export * from './wire.js';
export * from './channel.js';
export * from './advertising.js';
export { CipherState, chachaNonce } from './noise/cipher-state.js';
export { SymmetricState } from './noise/symmetric-state.js';
export { HandshakeState, type HandshakeOptions, type SplitResult, MAX_NOISE_MESSAGE, PSK_LEN } from './noise/handshake-state.js';
export { getPattern, parseProtocolName, SUITE, type HandshakePattern, type Token, type MessagePattern } from './noise/patterns.js';
export { runVector, runVectorFile, isSupportedSuite, type NoiseVector, type VectorOutcome, type VectorSummary } from './noise/vectors.js';
