/**
 * `plushlink/toy` on Node (the `node` condition of package.json "exports"): the same API as
 * `src/toy.ts`, with the `node:crypto` back end installed first.
 */
import './install.js';

export * from '../toy.js';
