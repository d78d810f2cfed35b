/**
 * `plushlink/testing` on Node (the `node` condition of package.json "exports"): the same API as
 * `src/testing.ts`, with the `node:crypto` back end installed first.
 */
import './install.js';

export * from '../testing.js';
