/**
 * `plushlink/protocol` on Node (the `node` condition of package.json "exports"): the same API as
 * `src/protocol/index.ts`, with the `node:crypto` back end installed first.
 */
import './install.js';

export * from '../protocol/index.js';
