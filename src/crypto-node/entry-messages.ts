/**
 * `plushlink/messages` on Node (the `node` condition of package.json "exports"): the same API as
 * `src/messages/index.ts`, with the `node:crypto` back end installed first.
 */
import './install.js';

export * from '../messages/index.js';
