/**
 * End-to-end sealed voice messages, family keys, the durable outbox, relays, retention and
 * deletion. Format: docs/MESSAGES.md.
 */
export * from './family.js';
export * from './envelope.js';
export * from '../util/durable-fs.js';
export * from './relay.js';
export * from './outbox.js';
export * from './retention.js';
export * from './files.js';
export * from './http-signature.js';
export * from './relay-protocol.js';
export * from './http-relay.js';
export * from './delivery.js';
export * from './inbox.js';
export * from './inbox-files.js';
