/**
 * `plushlink/audio` on Node (the `node` condition of package.json "exports"): the same API as
 * `src/audio/index.ts`, with the `node:crypto` back end installed first.
 */
import './install.js';

export * from '../audio/index.js';
