/**
 * Noise HandshakeState (Noise spec §5.3) driven by pattern tokens, for the suite
 * `25519_ChaChaPoly_SHA512`, with psk modifiers (§9). Pure and deterministic: all randomness
 * comes from the injected `random` source (or fixed ephemerals for test vectors).
 *
 * Any failure (malformed or truncated message, authentication failure, low-order point,
 * out-of-turn call) throws a typed {@link PlushlinkError} and leaves the state permanently
 * unusable: every later call throws `HANDSHAKE_STATE`. A failed handshake is never half-used.
 */
import { DH_LEN, TAG_LEN, generateX25519KeyPair, randomBytes, x25519, type RandomSource, type X25519KeyPair } from '../crypto.js';
import { PlushlinkError, isPlushlinkError } from '../errors.js';
import { concatBytes } from '../bytes.js';
import type { CipherState } from './cipher-state.js';
import { parseProtocolName, type HandshakePattern, type Token } from './patterns.js';
import { SymmetricState } from './symmetric-state.js';

/** Largest Noise message (spec §3). */
export const MAX_NOISE_MESSAGE = 65535;
/** Length of a pre-shared key. */
export const PSK_LEN = 32;

export interface HandshakeOptions {
  /** Full Noise protocol name, e.g. `Noise_IK_25519_ChaChaPoly_SHA512`. */
  protocolName: string;
  /** True for the initiator (the companion in plushlink). */
  initiator: boolean;
  /** Prologue bytes both sides must agree on (default empty). */
  prologue?: Uint8Array;
  /** Own static key pair. */
  s?: X25519KeyPair;
  /** Own ephemeral key pair; normally generated from `random` when needed. Fixed only for vectors. */
  e?: X25519KeyPair;
  /** Peer's static public key, when known in advance (pre-message). */
  rs?: Uint8Array;
  /** Peer's ephemeral public key, when known in advance (pre-message; unused by plushlink). */
  re?: Uint8Array;
  /** Pre-shared keys, in the order the pattern's psk tokens consume them. */
  psks?: Uint8Array[];
  /** Randomness source (defaults to tweetnacl's CSPRNG). */
  random?: RandomSource;
  /**
   * Called with the peer's static public key as soon as a message has delivered it (token
   * `s`), before any DH with it. Throwing aborts the handshake: the error propagates from
   * `readMessage` and the state is unusable. Lets a responder refuse an unknown initiator at
   * the cost of a message that does not authenticate (plushlink's reconnect, PROTOCOL.md §13.4).
   */
  checkRemoteStatic?: (rs: Uint8Array) => void;
}

/** Transport cipher states after a finished handshake, oriented for this party. */
export interface SplitResult {
  /** Encrypts what this party sends. For one-way patterns the responder's `send` is unusable. */
  send: CipherState;
  /** Decrypts what this party receives. */
  receive: CipherState;
  /** The final handshake hash `h` (channel binding). */
  handshakeHash: Uint8Array;
}

export class HandshakeState {
  readonly protocolName: string;
  readonly pattern: HandshakePattern;
  readonly initiator: boolean;
  private readonly ss: SymmetricState;
  private s: X25519KeyPair | undefined;
  private e: X25519KeyPair | undefined;
  private rs: Uint8Array | undefined;
  private re: Uint8Array | undefined;
  private readonly psks: Uint8Array[];
  private readonly random: RandomSource;
  private readonly checkRemoteStatic: ((rs: Uint8Array) => void) | undefined;
  private index = 0;
  private failed = false;
  private splitDone: SplitResult | undefined;

  constructor(opts: HandshakeOptions) {
    const parsed = parseProtocolName(opts.protocolName);
    this.protocolName = opts.protocolName;
    this.pattern = parsed.pattern;
    this.initiator = opts.initiator;
    this.s = opts.s;
    this.e = opts.e;
    this.rs = opts.rs ? checkKey(opts.rs, 'remote static key') : undefined;
    this.re = opts.re ? checkKey(opts.re, 'remote ephemeral key') : undefined;
    this.checkRemoteStatic = opts.checkRemoteStatic;
    this.psks = (opts.psks ?? []).map((p) => {
      if (p.length !== PSK_LEN) throw new PlushlinkError('INVALID_KEY', 'a psk must be 32 bytes');
      return Uint8Array.from(p);
    });
    const needed = this.pattern.messages.reduce((n, m) => n + m.tokens.filter((t) => t === 'psk').length, 0);
    if (this.psks.length !== needed) {
      throw new PlushlinkError('MISSING_KEY', `${this.pattern.name} needs ${needed} psk(s), got ${this.psks.length}`);
    }
    this.random = opts.random ?? randomBytes;
    this.ss = new SymmetricState(opts.protocolName);
    this.ss.mixHash(opts.prologue ?? new Uint8Array(0));
    // Pre-messages: initiator's first, then responder's.
    const pre = (tokens: Token[], local: boolean): void => {
      for (const t of tokens) {
        const key = t === 's' ? (local ? this.s?.publicKey : this.rs) : t === 'e' ? (local ? this.e?.publicKey : this.re) : undefined;
        if (!key) throw new PlushlinkError('MISSING_KEY', `pre-message key "${t}" of the ${local ? 'local' : 'remote'} party is required by ${this.pattern.name}`);
        this.ss.mixHash(key);
        if (t === 'e' && this.pattern.psk) this.ss.mixKey(key);
      }
    };
    pre(this.pattern.initiatorPre, this.initiator);
    pre(this.pattern.responderPre, !this.initiator);
  }

  /** True once every handshake message has been written or read. */
  get finished(): boolean {
    return this.index >= this.pattern.messages.length && !this.failed;
  }

  /** True when the next action of this party is to write a message. */
  get isMyTurn(): boolean {
    const m = this.pattern.messages[this.index];
    return !!m && !this.failed && m.fromInitiator === this.initiator;
  }

  /** Index of the next handshake message (0-based). */
  get messageIndex(): number {
    return this.index;
  }

  /** The peer's static public key, once known. */
  get remoteStaticKey(): Uint8Array | undefined {
    return this.rs ? Uint8Array.from(this.rs) : undefined;
  }

  /** The current handshake hash (final after the last message). */
  get handshakeHash(): Uint8Array {
    return this.ss.handshakeHash;
  }

  /** Writes the next handshake message carrying `payload`. */
  writeMessage(payload: Uint8Array = new Uint8Array(0)): Uint8Array {
    this.checkTurn(true);
    return this.guard(() => {
      const mp = this.pattern.messages[this.index]!;
      const parts: Uint8Array[] = [];
      for (const t of mp.tokens) {
        switch (t) {
          case 'e': {
            if (!this.e) this.e = generateX25519KeyPair(this.random);
            parts.push(Uint8Array.from(this.e.publicKey));
            this.ss.mixHash(this.e.publicKey);
            if (this.pattern.psk) this.ss.mixKey(this.e.publicKey);
            break;
          }
          case 's': {
            if (!this.s) throw new PlushlinkError('MISSING_KEY', 'own static key required');
            parts.push(this.ss.encryptAndHash(this.s.publicKey));
            break;
          }
          case 'psk':
            this.ss.mixKeyAndHash(this.psks.shift()!);
            break;
          default:
            this.ss.mixKey(this.dh(t));
        }
      }
      parts.push(this.ss.encryptAndHash(payload));
      const out = concatBytes(...parts);
      if (out.length > MAX_NOISE_MESSAGE) throw new PlushlinkError('MESSAGE_TOO_LONG', 'handshake message exceeds 65535 bytes');
      this.index++;
      return out;
    });
  }

  /** Reads the next handshake message and returns its payload. */
  readMessage(message: Uint8Array): Uint8Array {
    this.checkTurn(false);
    return this.guard(() => {
      if (message.length > MAX_NOISE_MESSAGE) throw new PlushlinkError('MESSAGE_TOO_LONG', 'handshake message exceeds 65535 bytes');
      const mp = this.pattern.messages[this.index]!;
      let off = 0;
      const take = (n: number, what: string): Uint8Array => {
        if (message.length - off < n) {
          throw new PlushlinkError('MESSAGE_TOO_SHORT', `handshake message ${this.index + 1} truncated in ${what}`);
        }
        const b = message.subarray(off, off + n);
        off += n;
        return b;
      };
      for (const t of mp.tokens) {
        switch (t) {
          case 'e': {
            const re = Uint8Array.from(take(DH_LEN, 'ephemeral key'));
            this.re = re;
            this.ss.mixHash(re);
            if (this.pattern.psk) this.ss.mixKey(re);
            break;
          }
          case 's': {
            const len = DH_LEN + (this.ss.cipher.hasKey() ? TAG_LEN : 0);
            this.rs = this.ss.decryptAndHash(take(len, 'static key'));
            this.checkRemoteStatic?.(Uint8Array.from(this.rs));
            break;
          }
          case 'psk':
            this.ss.mixKeyAndHash(this.psks.shift()!);
            break;
          default:
            this.ss.mixKey(this.dh(t));
        }
      }
      const rest = message.subarray(off);
      if (this.ss.cipher.hasKey() && rest.length < TAG_LEN) {
        throw new PlushlinkError('MESSAGE_TOO_SHORT', `handshake message ${this.index + 1} too short for its payload tag`);
      }
      const payload = this.ss.decryptAndHash(rest);
      this.index++;
      return payload;
    });
  }

  /**
   * Splits into transport cipher states after the last message. May be called more than once
   * (returns the same states).
   */
  split(): SplitResult {
    if (this.failed) throw new PlushlinkError('HANDSHAKE_STATE', 'handshake failed earlier; start a new one');
    if (!this.finished) throw new PlushlinkError('HANDSHAKE_STATE', 'handshake not finished');
    if (!this.splitDone) {
      const [c1, c2] = this.ss.split();
      this.splitDone = this.initiator
        ? { send: c1, receive: c2, handshakeHash: this.ss.handshakeHash }
        : { send: c2, receive: c1, handshakeHash: this.ss.handshakeHash };
    }
    return this.splitDone;
  }

  private dh(t: Token): Uint8Array {
    // Tokens name (initiator key, responder key).
    const [iKey, rKey] = [t[0], t[1]] as ['e' | 's', 'e' | 's'];
    const localKind = this.initiator ? iKey : rKey;
    const remoteKind = this.initiator ? rKey : iKey;
    const local = localKind === 'e' ? this.e : this.s;
    const remote = remoteKind === 'e' ? this.re : this.rs;
    if (!local) throw new PlushlinkError('MISSING_KEY', `local ${localKind} key required for ${t}`);
    if (!remote) throw new PlushlinkError('MISSING_KEY', `remote ${remoteKind} key required for ${t}`);
    return x25519(local.secretKey, remote);
  }

  private checkTurn(writing: boolean): void {
    if (this.failed) throw new PlushlinkError('HANDSHAKE_STATE', 'handshake failed earlier; start a new one');
    const m = this.pattern.messages[this.index];
    if (!m) throw new PlushlinkError('HANDSHAKE_STATE', 'handshake already finished');
    if ((m.fromInitiator === this.initiator) !== writing) {
      // An out-of-turn call is a failure like any other: the state is unusable from now on.
      this.failed = true;
      throw new PlushlinkError('WRONG_ROLE', `it is not this party's turn to ${writing ? 'write' : 'read'} message ${this.index + 1}`);
    }
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      this.failed = true;
      if (isPlushlinkError(e)) throw e;
      throw new PlushlinkError('HANDSHAKE_FAILED', `handshake failed: ${(e as Error).message}`, undefined, { cause: e });
    }
  }
}

function checkKey(k: Uint8Array, what: string): Uint8Array {
  if (k.length !== DH_LEN) throw new PlushlinkError('INVALID_KEY', `${what} must be ${DH_LEN} bytes`);
  return Uint8Array.from(k);
}
