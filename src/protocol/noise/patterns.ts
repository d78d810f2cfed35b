/**
 * Noise handshake patterns (Noise spec §7: one-way, fundamental interactive and deferred
 * patterns) and the `pskN` modifiers (§9), parsed from their textual definitions.
 */
import { PlushlinkError } from '../errors.js';

export type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss' | 'psk';

/** One handshake message: its direction and tokens. */
export interface MessagePattern {
  /** True when the initiator sends it ("->"). */
  fromInitiator: boolean;
  tokens: Token[];
}

export interface HandshakePattern {
  /** Full pattern name including modifiers, e.g. `IKpsk1` or `XXpsk0+psk3`. */
  name: string;
  /** Pre-messages: which static keys each side knows in advance (`s` of initiator / responder; `e` unused by these patterns). */
  initiatorPre: Token[];
  responderPre: Token[];
  messages: MessagePattern[];
  /** True for one-way patterns (N, K, X): every message goes initiator → responder. */
  oneWay: boolean;
  /** True when the pattern has at least one psk modifier. */
  psk: boolean;
}

/** Base patterns in the notation of the Noise spec; `|` separates lines. */
const BASE: Record<string, string> = {
  // one-way (§7.4)
  N: '<- s | ... | -> e, es',
  K: '-> s | <- s | ... | -> e, es, ss',
  X: '<- s | ... | -> e, es, s, ss',
  // fundamental interactive (§7.5)
  NN: '-> e | <- e, ee',
  NK: '<- s | ... | -> e, es | <- e, ee',
  NX: '-> e | <- e, ee, s, es',
  KN: '-> s | ... | -> e | <- e, ee, se',
  KK: '-> s | <- s | ... | -> e, es, ss | <- e, ee, se',
  KX: '-> s | ... | -> e | <- e, ee, se, s, es',
  XN: '-> e | <- e, ee | -> s, se',
  XK: '<- s | ... | -> e, es | <- e, ee | -> s, se',
  XX: '-> e | <- e, ee, s, es | -> s, se',
  IN: '-> e, s | <- e, ee, se',
  IK: '<- s | ... | -> e, es, s, ss | <- e, ee, se',
  IX: '-> e, s | <- e, ee, se, s, es',
  // deferred (§18.1 / §7.6)
  NK1: '<- s | ... | -> e | <- e, ee, es',
  NX1: '-> e | <- e, ee, s | -> es',
  X1N: '-> e | <- e, ee | -> s | <- se',
  X1K: '<- s | ... | -> e, es | <- e, ee | -> s | <- se',
  XK1: '<- s | ... | -> e | <- e, ee, es | -> s, se',
  X1K1: '<- s | ... | -> e | <- e, ee, es | -> s | <- se',
  X1X: '-> e | <- e, ee, s, es | -> s | <- se',
  XX1: '-> e | <- e, ee, s | -> es, s, se',
  X1X1: '-> e | <- e, ee, s | -> es, s | <- se',
  K1N: '-> s | ... | -> e | <- e, ee | -> se',
  K1K: '-> s | <- s | ... | -> e, es | <- e, ee | -> se',
  KK1: '-> s | <- s | ... | -> e | <- e, ee, se, es',
  K1K1: '-> s | <- s | ... | -> e | <- e, ee, es | -> se',
  K1X: '-> s | ... | -> e | <- e, ee, s, es | -> se',
  KX1: '-> s | ... | -> e | <- e, ee, se, s | -> es',
  K1X1: '-> s | ... | -> e | <- e, ee, s | -> se, es',
  I1N: '-> e, s | <- e, ee | -> se',
  I1K: '<- s | ... | -> e, es, s | <- e, ee | -> se',
  IK1: '<- s | ... | -> e, s | <- e, ee, se, es',
  I1K1: '<- s | ... | -> e, s | <- e, ee, es | -> se',
  I1X: '-> e, s | <- e, ee, s, es | -> se',
  IX1: '-> e, s | <- e, ee, se, s | -> es',
  I1X1: '-> e, s | <- e, ee, s | -> se, es',
};

const TOKENS = new Set<Token>(['e', 's', 'ee', 'es', 'se', 'ss', 'psk']);

function parseBase(name: string, text: string): Omit<HandshakePattern, 'name' | 'psk'> {
  const lines = text.split('|').map((l) => l.trim());
  const sep = lines.indexOf('...');
  const pre = sep >= 0 ? lines.slice(0, sep) : [];
  const msgs = sep >= 0 ? lines.slice(sep + 1) : lines;
  const initiatorPre: Token[] = [];
  const responderPre: Token[] = [];
  const parseLine = (line: string): MessagePattern => {
    const m = /^(->|<-)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`bad pattern line ${line} in ${name}`);
    const tokens = m[2]!.split(',').map((t) => t.trim()) as Token[];
    for (const t of tokens) if (!TOKENS.has(t)) throw new Error(`bad token ${t} in ${name}`);
    return { fromInitiator: m[1] === '->', tokens };
  };
  for (const line of pre) {
    const p = parseLine(line);
    (p.fromInitiator ? initiatorPre : responderPre).push(...p.tokens);
  }
  return { initiatorPre, responderPre, messages: msgs.map(parseLine), oneWay: name.length === 1 };
}

/** Patterns already parsed (a handshake parses its name at every start): frozen, shared. */
const parsed = new Map<string, HandshakePattern>();

/**
 * Resolves a pattern name with optional psk modifiers (`IKpsk1`, `NXpsk0+psk1+psk2`).
 * Throws `UNSUPPORTED_PROTOCOL` for anything else. The result is frozen and shared.
 */
export function getPattern(fullName: string): HandshakePattern {
  let p = parsed.get(fullName);
  if (!p) {
    p = deepFreeze(parsePattern(fullName));
    parsed.set(fullName, p);
  }
  return p;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

function parsePattern(fullName: string): HandshakePattern {
  // Modifiers in canonical spelling only (Noise spec §10.2): `psk0`, `psk12`, never `psk00`.
  const m = /^([A-Z0-9]+?)((?:psk(?:0|[1-9]\d*))(?:\+psk(?:0|[1-9]\d*))*)?$/.exec(fullName);
  const baseName = m?.[1];
  const text = baseName === undefined ? undefined : BASE[baseName];
  if (!m || baseName === undefined || text === undefined) {
    throw new PlushlinkError('UNSUPPORTED_PROTOCOL', `unsupported handshake pattern ${fullName}`);
  }
  const base = parseBase(baseName, text);
  const messages = base.messages.map((mp) => ({ fromInitiator: mp.fromInitiator, tokens: [...mp.tokens] }));
  const mods = m[2] ? m[2].split('+') : [];
  if (new Set(mods).size !== mods.length) throw new PlushlinkError('UNSUPPORTED_PROTOCOL', `a modifier appears twice in ${fullName}`);
  for (const mod of mods) {
    const n = Number(mod.slice(3));
    if (n === 0) messages[0]!.tokens.unshift('psk');
    else if (n >= 1 && n <= messages.length) messages[n - 1]!.tokens.push('psk');
    else throw new PlushlinkError('UNSUPPORTED_PROTOCOL', `modifier ${mod} out of range for ${baseName}`);
  }
  return { ...base, name: fullName, messages, psk: mods.length > 0 };
}

/** The parts of a Noise protocol name. */
export interface ProtocolName {
  pattern: HandshakePattern;
  dh: string;
  cipher: string;
  hash: string;
}

/** The one suite plushlink implements. */
export const SUITE = '25519_ChaChaPoly_SHA512';

/**
 * Parses `Noise_<pattern>_<dh>_<cipher>_<hash>`; only `25519_ChaChaPoly_SHA512` is supported
 * (`UNSUPPORTED_PROTOCOL` otherwise).
 */
export function parseProtocolName(name: string): ProtocolName {
  const parts = name.split('_');
  if (parts.length !== 5 || parts[0] !== 'Noise') {
    throw new PlushlinkError('UNSUPPORTED_PROTOCOL', `not a Noise protocol name: ${name}`);
  }
  const [, pat, dh, cipher, hash] = parts as [string, string, string, string, string];
  if (`${dh}_${cipher}_${hash}` !== SUITE) {
    throw new PlushlinkError('UNSUPPORTED_PROTOCOL', `unsupported suite ${dh}_${cipher}_${hash} (plushlink implements ${SUITE})`);
  }
  return { pattern: getPattern(pat), dh, cipher, hash };
}
