/** Noise SymmetricState (Noise spec §5.2) for SHA-512. */
import { HASH_LEN, KEY_LEN, noiseHkdf, sha512 } from '../crypto.js';
import { utf8 } from '../bytes.js';
import { CipherState } from './cipher-state.js';

/** The initial h of each protocol name seen (a handshake starts from it; Noise spec §5.2). */
const initialH = new Map<string, Uint8Array>();

function initialHash(protocolName: string): Uint8Array {
  let h = initialH.get(protocolName);
  if (!h) {
    const name = utf8(protocolName);
    if (name.length <= HASH_LEN) {
      h = new Uint8Array(HASH_LEN);
      h.set(name);
    } else {
      h = sha512(name);
    }
    initialH.set(protocolName, h);
  }
  return h;
}

export class SymmetricState {
  readonly cipher = new CipherState();
  private ck: Uint8Array;
  private h: Uint8Array;

  constructor(protocolName: string) {
    this.h = Uint8Array.from(initialHash(protocolName));
    this.ck = Uint8Array.from(this.h);
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, tempK] = noiseHkdf(this.ck, ikm, 2) as [Uint8Array, Uint8Array];
    this.ck = ck;
    this.cipher.initializeKey(tempK.subarray(0, KEY_LEN)); // initializeKey copies
  }

  mixHash(data: Uint8Array): void {
    this.h = sha512(this.h, data);
  }

  mixKeyAndHash(ikm: Uint8Array): void {
    const [ck, tempH, tempK] = noiseHkdf(this.ck, ikm, 3) as [Uint8Array, Uint8Array, Uint8Array];
    this.ck = ck;
    this.mixHash(tempH);
    this.cipher.initializeKey(tempK.subarray(0, KEY_LEN));
  }

  get handshakeHash(): Uint8Array {
    return Uint8Array.from(this.h);
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const c = this.cipher.encryptWithAd(this.h, plaintext);
    this.mixHash(c);
    return c;
  }

  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const p = this.cipher.decryptWithAd(this.h, ciphertext);
    this.mixHash(ciphertext);
    return p;
  }

  split(): [CipherState, CipherState] {
    const [k1, k2] = noiseHkdf(this.ck, new Uint8Array(0), 2) as [Uint8Array, Uint8Array];
    return [new CipherState(k1.subarray(0, KEY_LEN)), new CipherState(k2.subarray(0, KEY_LEN))];
  }
}
