/**
 * A counting shim over tweetnacl, for the bench only: wraps `nacl.scalarMult` (X25519 with a
 * peer key), `nacl.scalarMult.base` (X25519 key generation), `nacl.sign` / `nacl.sign.detached`
 * (Ed25519 signing) and `nacl.sign.detached.verify` (Ed25519 verification) — the module object
 * `src/protocol/crypto.ts` calls through — and attributes every call to the toy or the
 * companion from its call stack (`src/toy/` vs `src/companion/`). Nested calls (tweetnacl's
 * `sign.detached` calls `sign`) count once.
 */
import nacl from 'tweetnacl';

export type Side = 'toy' | 'companion' | 'other';
export type OpKind = 'x25519' | 'x25519Base' | 'sign' | 'verify';

export interface OpCounts {
  x25519: number;
  x25519Base: number;
  sign: number;
  verify: number;
}

const zero = (): OpCounts => ({ x25519: 0, x25519Base: 0, sign: 0, verify: 0 });

export class OpCounter {
  counts: Record<Side, OpCounts> = { toy: zero(), companion: zero(), other: zero() };
  private depth = 0;
  private restore: (() => void) | undefined;

  /** Installs the shim (idempotent until {@link uninstall}). */
  install(): void {
    if (this.restore) return;
    const n = nacl as unknown as {
      scalarMult: ((a: Uint8Array, b: Uint8Array) => Uint8Array) & { base: (a: Uint8Array) => Uint8Array; scalarLength: number; groupElementLength: number };
      sign: ((m: Uint8Array, k: Uint8Array) => Uint8Array) & Record<string, unknown> & {
        detached: ((m: Uint8Array, k: Uint8Array) => Uint8Array) & { verify: (m: Uint8Array, s: Uint8Array, k: Uint8Array) => boolean };
      };
    };
    const sm = n.scalarMult;
    const sign = n.sign;
    const detached = n.sign.detached;
    const verify = n.sign.detached.verify;
    const wrap = <A extends unknown[], R>(kind: OpKind, f: (...a: A) => R) =>
      (...a: A): R => {
        if (this.depth === 0) this.counts[sideOfStack(new Error().stack ?? '')][kind]++;
        this.depth++;
        try {
          return f(...a);
        } finally {
          this.depth--;
        }
      };
    const smW = Object.assign(wrap('x25519', sm), { base: wrap('x25519Base', sm.base), scalarLength: sm.scalarLength, groupElementLength: sm.groupElementLength });
    const detachedW = Object.assign(wrap('sign', detached), { verify: wrap('verify', verify) });
    const signW = Object.assign(wrap('sign', sign), { ...sign, detached: detachedW });
    n.scalarMult = smW;
    n.sign = signW as typeof n.sign;
    this.restore = () => {
      n.scalarMult = sm;
      n.sign = sign;
    };
  }

  uninstall(): void {
    this.restore?.();
    this.restore = undefined;
  }

  reset(): void {
    this.counts = { toy: zero(), companion: zero(), other: zero() };
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
