/** Side-effect module: installs the `node:crypto` back end (see ./index.ts). */
import { installNodeCrypto } from './index.js';

installNodeCrypto();
