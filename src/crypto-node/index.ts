/**
 * The Node crypto back end (`node:crypto`, OpenSSL) and its installer. Node only: the pure core
 * (`src/protocol/`) never imports this folder; the package's `node` export condition and Node
 * programs (the `plushlink` command, the bench) install it into the seam of
 * `src/protocol/crypto.ts`.
 */
import { cryptoBackend, useCryptoBackend, type CryptoBackendInfo } from '../protocol/crypto.js';
import { nodeCryptoAvailable, nodeCryptoBackend } from './backend.js';

export { nodeCryptoBackend, nodeCryptoAvailable };

/**
 * Makes `node:crypto` the back end of every primitive, when this Node's OpenSSL has them all
 * (otherwise the portable back end stays). Returns the back end now in use.
 */
export function installNodeCrypto(): CryptoBackendInfo {
  if (nodeCryptoAvailable()) useCryptoBackend(nodeCryptoBackend);
  return cryptoBackend();
}
