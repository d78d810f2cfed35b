/**
 * Counting the work of each side, for the bench only. {@link OpCounter.install} puts a counting
 * wrapper around the crypto back end in use (the seam of `src/protocol/crypto.ts`, so it counts
 * on either back end) and attributes every primitive call to the toy or the companion from its
 * call stack (`src/toy/` vs `src/companion/`).
 *
 * It counts what a toy's microcontroller would compute: X25519 operations (with a peer key, and
 * key generation), Ed25519 signatures and verifications, SHA-512 compression-function calls
 * (128-byte blocks, including those inside HMAC and HKDF, counted from the input lengths the
 * way RFC 2104/5869 and FIPS 180-4 process them), and ChaCha20-Poly1305 calls, bytes, ChaCha20
 * blocks (64 bytes, one more for the Poly1305 key) and Poly1305 blocks (16 bytes: AD and text
 * each padded, plus the length block), per RFC 8439 §2.8.
 */
import { cryptoBackend, useCryptoBackend, type CryptoBackend } from '../src/protocol/crypto.js';
import { nodeCryptoBackend } from '../src/crypto-node/index.js';
import { pureCryptoBackend } from '../src/protocol/crypto.js';

export type Side = 'toy' | 'companion' | 'other';

export interface OpCounts {
  /** X25519 with a peer's public key (DH). */
  x25519: number;
  /** X25519 with the base point (key generation). */
  x25519Base: number;
  sign: number;
  verify: number;
  /** SHA-512 compression-function calls (128-byte blocks), hashes, HMACs and HKDFs together. */
  sha512Blocks: number;
  /** ChaCha20-Poly1305 seals and opens. */
  aeadCalls: number;
  /** Plaintext (= ciphertext) bytes through ChaCha20-Poly1305. */
  aeadBytes: number;
  /** Associated-data bytes authenticated by Poly1305. */
  aeadAdBytes: number;
  /** ChaCha20 64-byte blocks (keystream + one per call for the Poly1305 key). */
  chachaBlocks: number;
  /** Poly1305 16-byte blocks. */
  polyBlocks: number;
}

export const zeroCounts = (): OpCounts => ({ x25519: 0, x25519Base: 0, sign: 0, verify: 0, sha512Blocks: 0, aeadCalls: 0, aeadBytes: 0, aeadAdBytes: 0, chachaBlocks: 0, polyBlocks: 0 });

/** SHA-512 blocks for a message of `n` bytes (FIPS 180-4: 0x80, zero padding, 16-byte length). */
export const sha512Blocks = (n: number): number => Math.ceil((n + 17) / 128);

/** HMAC-SHA-512 blocks (RFC 2104): a key longer than a block is hashed first; inner hash over block + data; outer over block + 64. */
export const hmacBlocks = (keyLen: number, dataLen: number): number => (keyLen > 128 ? sha512Blocks(keyLen) : 0) + sha512Blocks(128 + dataLen) + sha512Blocks(128 + 64);

/** HKDF-SHA-512 blocks (RFC 5869): extract = HMAC(salt, ikm); expand = ceil(L/64) HMACs over T(i−1) || info || i. */
export function hkdfBlocks(ikmLen: number, saltLen: number, infoLen: number, length: number): number {
  let n = hmacBlocks(saltLen, ikmLen);
  for (let i = 1; i <= Math.ceil(length / 64); i++) n += hmacBlocks(64, (i === 1 ? 0 : 64) + infoLen + 1);
  return n;
}

function addAead(c: OpCounts, adLen: number, textLen: number): void {
  c.aeadCalls++;
  c.aeadBytes += textLen;
  c.aeadAdBytes += adLen;
  c.chachaBlocks += 1 + Math.ceil(textLen / 64);
  c.polyBlocks += Math.ceil(adLen / 16) + Math.ceil(textLen / 16) + 1;
}

/** Adds `b` into `a`. */
export function addCounts(a: OpCounts, b: OpCounts): OpCounts {
  for (const k of Object.keys(a) as (keyof OpCounts)[]) a[k] += b[k];
  return a;
}

export class OpCounter {
  counts: Record<Side, OpCounts> = { toy: zeroCounts(), companion: zeroCounts(), other: zeroCounts() };
  private inner: CryptoBackend | undefined;

  /** Wraps the back end in use with counting (idempotent until {@link uninstall}). */
  install(): void {
    if (this.inner) return;
    const name = cryptoBackend().name;
    const inner = name === nodeCryptoBackend.name ? nodeCryptoBackend : name === pureCryptoBackend.name ? pureCryptoBackend : undefined;
    if (!inner) throw new Error(`cannot count on the unknown back end ${name}`);
    this.inner = inner;
    const side = (): OpCounts => this.counts[sideOfStack(new Error().stack ?? '')];
    useCryptoBackend({
      name: inner.name,
      description: `${inner.description}, counted`,
      x25519: (s, p) => (side().x25519++, inner.x25519(s, p)),
      x25519Base: (s) => (side().x25519Base++, inner.x25519Base(s)),
      sha512: (d, more) => ((side().sha512Blocks += sha512Blocks(d.length + (more?.length ?? 0))), inner.sha512(d, more)),
      hmacSha512: (k, d) => ((side().sha512Blocks += hmacBlocks(k.length, d.length)), inner.hmacSha512(k, d)),
      hkdfSha512: (ikm, salt, info, len) => ((side().sha512Blocks += hkdfBlocks(ikm.length, salt.length, info.length, len)), inner.hkdfSha512(ikm, salt, info, len)),
      aeadSeal: (k, n, ad, pt, headroom) => (addAead(side(), ad.length, pt.length), inner.aeadSeal(k, n, ad, pt, headroom)),
      aeadOpen: (k, n, ad, ct) => (addAead(side(), ad.length, Math.max(0, ct.length - 16)), inner.aeadOpen(k, n, ad, ct)),
      ed25519PublicKey: (seed) => inner.ed25519PublicKey(seed),
      ed25519Sign: (sk, m) => (side().sign++, inner.ed25519Sign(sk, m)),
      ed25519Verify: (pk, m, s) => (side().verify++, inner.ed25519Verify(pk, m, s)),
    });
  }

  uninstall(): void {
    if (this.inner) useCryptoBackend(this.inner);
    this.inner = undefined;
  }

  reset(): void {
    this.counts = { toy: zeroCounts(), companion: zeroCounts(), other: zeroCounts() };
  }
}

function sideOfStack(stack: string): Side {
  // The innermost plushlink frame outside protocol/ and the bench decides (protocol/ is shared by both sides).
  for (const line of stack.split('\n').slice(1)) {
    const l = line.replace(/\\/g, '/');
    if (l.includes('/src/toy/')) return 'toy';
    if (l.includes('/src/companion/')) return 'companion';
  }
  return 'other';
}

/** X25519 operations a Noise pattern costs each side, from its tokens (DH tokens + own ephemeral generation). */
export function x25519FromPattern(messages: { fromInitiator: boolean; tokens: string[] }[]): { initiator: number; responder: number } {
  let initiator = 0;
  let responder = 0;
  for (const m of messages) {
    for (const t of m.tokens) {
      if (t === 'ee' || t === 'es' || t === 'se' || t === 'ss') {
        initiator++;
        responder++;
      } else if (t === 'e') {
        // the sender generates an ephemeral key pair (one base-point multiplication)
        if (m.fromInitiator) initiator++;
        else responder++;
      }
    }
  }
  return { initiator, responder };
}
