/**
 * HTTP Message Signatures (RFC 9421) with a Content-Digest (RFC 9530), as every request to a
 * plushlink relay carries them: the relay's only authentication (docs/RELAY.md §3). Pure: no I/O,
 * no timers, no `node:`; the browser app signs with this same module.
 *
 * A signed request carries three header fields:
 *
 * ```
 * Content-Digest: sha-512=:<base64 SHA-512(body)>:
 * Signature-Input: sig1=("@method" "@path" "@query" "content-digest");created=<unix s>;nonce="<base64url 16 bytes>";keyid="<hex Ed25519 public key>";alg="ed25519";tag="plushlink-relay-v1"
 * Signature: sig1=:<base64 Ed25519 signature of the signature base>:
 * ```
 */
import {
  ParseError,
  parseDictionary,
  serializeInnerList,
  type BareItem,
  type InnerList,
  type Item,
  type Parameters,
} from 'structured-headers';
import { bytesEqual, fromBase64Url, fromHex, toBase64, toBase64Url, toHex, utf8 } from '../protocol/bytes.js';
import { ed25519Sign, isSmallOrderEd25519Key, randomBytes, sha512, withEd25519Policy, type Ed25519Verifier, type RandomSource } from '../protocol/crypto.js';
import { PlushlinkError } from '../protocol/errors.js';

/** The covered components, in this order (docs/RELAY.md §3.1). */
export const SIGNATURE_COMPONENTS = Object.freeze(['@method', '@path', '@query', 'content-digest'] as const);
/** The signature label. */
export const SIGNATURE_LABEL = 'sig1';
/** The `tag` parameter: names this application's profile of RFC 9421. */
export const SIGNATURE_TAG = 'plushlink-relay-v1';
/** The `alg` parameter. */
export const SIGNATURE_ALG = 'ed25519';
/** Nonce length in bytes (sent as 22 base64url characters). */
export const SIGNATURE_NONCE_LEN = 16;
/** Default accepted clock skew, seconds, each way (docs/RELAY.md §3.3). */
export const DEFAULT_MAX_SKEW_S = 300;

/** What a request signature covers. */
export interface SignableRequest {
  /** HTTP method, any case (signed upper-case). */
  method: string;
  /** Request target: path plus optional `?query`, exactly as sent (e.g. `/v1/envelopes/ab?to=cd`). */
  target: string;
  /** The body bytes (empty for none). */
  body?: Uint8Array;
}

/** The signer: an Ed25519 key pair (a family identity fits). */
export interface RequestSigner {
  signPublicKey: Uint8Array;
  signSecretKey: Uint8Array;
}

/** Options of {@link signRequest}. */
export interface SignRequestOptions {
  /** Creation time, seconds since the Unix epoch (default: now). */
  created?: number;
  /** The 16-byte nonce (default: random). Tests and vectors only. */
  nonce?: Uint8Array;
  /** Randomness for the nonce (default: the platform's). */
  random?: RandomSource;
}

/** The header fields of a signed request (lower-case names). */
export interface SignatureHeaders {
  [name: string]: string;
  'content-digest': string;
  'signature-input': string;
  signature: string;
}

/** Result of {@link verifyRequest}: who signed, and the replay-relevant parameters. */
export interface VerifiedRequest {
  /** The signer's Ed25519 public key (32 bytes). */
  publicKey: Uint8Array;
  /** The same, as 64 lower-case hex characters (the `keyid` parameter). */
  keyId: string;
  /** The nonce, as sent (22 base64url characters). */
  nonce: string;
  /** The `created` parameter, seconds since the Unix epoch. */
  created: number;
}

/** Options of {@link verifyRequest}. */
export interface VerifyRequestOptions {
  /** Now, seconds since the Unix epoch. */
  now: number;
  /** Accepted clock skew each way, seconds (default {@link DEFAULT_MAX_SKEW_S}). */
  maxSkewS?: number;
  /**
   * Ed25519 verification (default: the installed back end's); a server injects a native one. It
   * runs under the library's Ed25519 policy either way (PROTOCOL §18).
   */
  verify?: Ed25519Verifier;
}

/** `sha-512=:<base64>:` for these bytes (RFC 9530). */
export function contentDigest(body: Uint8Array): string {
  return `sha-512=:${toBase64(sha512(body))}:`;
}

function splitTarget(target: string): { path: string; query: string } {
  if (typeof target !== 'string' || !target.startsWith('/')) {
    throw new PlushlinkError('RELAY_BAD_REQUEST', 'request target must start with "/"');
  }
  const q = target.indexOf('?');
  // RFC 9421 §2.2.7: an absent query is signed as a lone "?".
  return q < 0 ? { path: target, query: '?' } : { path: target.slice(0, q), query: target.slice(q) };
}

function signatureParams(created: number, nonce: string, keyId: string): string {
  const params: Parameters = new Map<string, BareItem>([
    ['created', created],
    ['nonce', nonce],
    ['keyid', keyId],
    ['alg', SIGNATURE_ALG],
    ['tag', SIGNATURE_TAG],
  ]);
  const list: InnerList = [SIGNATURE_COMPONENTS.map((c): Item => [c, new Map()]), params];
  return serializeInnerList(list);
}

/**
 * The signature base of RFC 9421 §2.5 for this request: one line per covered component, then the
 * `@signature-params` line, joined by LF, no trailing LF. Exposed for the vectors and docs.
 */
export function signatureBase(request: SignableRequest, digest: string, params: string): Uint8Array {
  const { path, query } = splitTarget(request.target);
  const lines = [
    `"@method": ${request.method.toUpperCase()}`,
    `"@path": ${path}`,
    `"@query": ${query}`,
    `"content-digest": ${digest}`,
    `"@signature-params": ${params}`,
  ];
  return utf8(lines.join('\n'));
}

/** Signs a request; returns the three header fields to send with it. */
export function signRequest(request: SignableRequest, signer: RequestSigner, options: SignRequestOptions = {}): SignatureHeaders {
  const created = options.created ?? Math.floor(Date.now() / 1000);
  if (!Number.isSafeInteger(created) || created < 0) throw new PlushlinkError('BAD_PAYLOAD', 'created must be a non-negative integer');
  const nonceBytes = options.nonce ?? (options.random ?? randomBytes)(SIGNATURE_NONCE_LEN);
  if (nonceBytes.length !== SIGNATURE_NONCE_LEN) throw new PlushlinkError('BAD_PAYLOAD', `nonce must be ${SIGNATURE_NONCE_LEN} bytes`);
  if (signer.signPublicKey.length !== 32) throw new PlushlinkError('INVALID_KEY', 'Ed25519 public key must be 32 bytes');
  const digest = contentDigest(request.body ?? new Uint8Array(0));
  const params = signatureParams(created, toBase64Url(nonceBytes), toHex(signer.signPublicKey));
  const sig = ed25519Sign(signer.signSecretKey, signatureBase(request, digest, params));
  return {
    'content-digest': digest,
    'signature-input': `${SIGNATURE_LABEL}=${params}`,
    signature: `${SIGNATURE_LABEL}=:${toBase64(sig)}:`,
  };
}

function refuse(code: 'RELAY_UNSIGNED' | 'RELAY_BAD_SIGNATURE' | 'RELAY_BAD_DIGEST' | 'RELAY_CLOCK_SKEW', message: string, detail?: Record<string, unknown>): PlushlinkError {
  return new PlushlinkError(code, message, detail);
}

function dictionary(value: string, field: string): Map<string, Item | InnerList> {
  try {
    return parseDictionary(value);
  } catch (e) {
    if (e instanceof ParseError || e instanceof Error) {
      throw refuse(field === 'content-digest' ? 'RELAY_BAD_DIGEST' : 'RELAY_BAD_SIGNATURE', `${field} is not a structured dictionary`);
    }
    throw e;
  }
}

function isInnerList(v: Item | InnerList): v is InnerList {
  return Array.isArray(v[0]);
}

function asBytes(v: BareItem): Uint8Array | undefined {
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return undefined;
}

/** Header lookup: a plain object with lower-case names (as Node and Fastify give them), or `Headers`. */
export type HeaderSource = Record<string, string | string[] | undefined> | { get(name: string): string | null };

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const v = (headers as Record<string, string | string[] | undefined>)[name];
  // A repeated field would be combined by a proxy; refuse rather than guess.
  if (Array.isArray(v)) return v.length === 1 ? v[0] : '\u0000';
  return v;
}

/**
 * Verifies a signed request (docs/RELAY.md §3.3, checks in this order): the three fields present
 * (`RELAY_UNSIGNED`); exactly the label `sig1` with exactly the covered components and parameters
 * of this profile (`RELAY_BAD_SIGNATURE`); the body's SHA-512 equal to the Content-Digest
 * (`RELAY_BAD_DIGEST`); `created` within the accepted skew of `now` (`RELAY_CLOCK_SKEW`); the
 * Ed25519 signature over the signature base (`RELAY_BAD_SIGNATURE`). The nonce's freshness is the
 * caller's to check: it must remember every accepted (keyid, nonce) for the skew window.
 */
export function verifyRequest(request: SignableRequest, headers: HeaderSource, options: VerifyRequestOptions): VerifiedRequest {
  const inputField = header(headers, 'signature-input');
  const sigField = header(headers, 'signature');
  const digestField = header(headers, 'content-digest');
  if (inputField === undefined || sigField === undefined || digestField === undefined) {
    throw refuse('RELAY_UNSIGNED', 'request is not signed (Signature-Input, Signature and Content-Digest are required)');
  }
  const inputs = dictionary(inputField, 'signature-input');
  const sigs = dictionary(sigField, 'signature');
  if (inputs.size !== 1 || sigs.size !== 1 || !inputs.has(SIGNATURE_LABEL) || !sigs.has(SIGNATURE_LABEL)) {
    throw refuse('RELAY_BAD_SIGNATURE', `exactly one signature labelled ${SIGNATURE_LABEL} is required`);
  }
  const input = inputs.get(SIGNATURE_LABEL)!;
  const sigItem = sigs.get(SIGNATURE_LABEL)!;
  if (!isInnerList(input) || isInnerList(sigItem)) throw refuse('RELAY_BAD_SIGNATURE', 'malformed signature fields');
  const [components, params] = input;
  const names = components.map(([v, p]) => (typeof v === 'string' && p.size === 0 ? v : '\u0000'));
  if (names.length !== SIGNATURE_COMPONENTS.length || names.some((n, i) => n !== SIGNATURE_COMPONENTS[i])) {
    throw refuse('RELAY_BAD_SIGNATURE', `the signature must cover exactly ${SIGNATURE_COMPONENTS.join(' ')}`);
  }
  const expected = ['created', 'nonce', 'keyid', 'alg', 'tag'];
  if (params.size !== expected.length || [...params.keys()].some((k, i) => k !== expected[i])) {
    throw refuse('RELAY_BAD_SIGNATURE', `signature parameters must be exactly ${expected.join(';')}, in that order`);
  }
  const created = params.get('created');
  const nonce = params.get('nonce');
  const keyId = params.get('keyid');
  if (params.get('alg') !== SIGNATURE_ALG || params.get('tag') !== SIGNATURE_TAG) {
    throw refuse('RELAY_BAD_SIGNATURE', `alg must be "${SIGNATURE_ALG}" and tag "${SIGNATURE_TAG}"`);
  }
  if (typeof created !== 'number' || !Number.isSafeInteger(created) || created < 0) throw refuse('RELAY_BAD_SIGNATURE', 'created must be an integer');
  if (typeof keyId !== 'string' || !/^[0-9a-f]{64}$/.test(keyId)) throw refuse('RELAY_BAD_SIGNATURE', 'keyid must be 64 lower-case hex characters');
  const publicKey = fromHex(keyId);
  if (isSmallOrderEd25519Key(publicKey)) {
    throw refuse('RELAY_BAD_SIGNATURE', 'keyid is a small-order Ed25519 point: anyone can sign under it');
  }
  let nonceOk = false;
  if (typeof nonce === 'string') {
    try {
      nonceOk = fromBase64Url(nonce).length === SIGNATURE_NONCE_LEN && nonce.length === 22;
    } catch {
      nonceOk = false;
    }
  }
  if (!nonceOk) throw refuse('RELAY_BAD_SIGNATURE', `nonce must be ${SIGNATURE_NONCE_LEN} bytes in base64url`);
  const signature = asBytes(sigItem[0]);
  if (!signature || signature.length !== 64 || sigItem[1].size !== 0) throw refuse('RELAY_BAD_SIGNATURE', 'signature must be a 64-byte byte sequence');

  const digests = dictionary(digestField, 'content-digest');
  const d = digests.get('sha-512');
  const dBytes = d && !isInnerList(d) ? asBytes(d[0]) : undefined;
  if (!dBytes || !bytesEqual(dBytes, sha512(request.body ?? new Uint8Array(0)))) {
    throw refuse('RELAY_BAD_DIGEST', 'Content-Digest sha-512 does not match the body');
  }

  const skew = options.maxSkewS ?? DEFAULT_MAX_SKEW_S;
  if (Math.abs(created - options.now) > skew) {
    throw refuse('RELAY_CLOCK_SKEW', `created is outside ±${skew} s of the relay's clock`, { created, now: options.now });
  }

  const base = signatureBase(request, digestField, serializeInnerList(input));
  const verify = withEd25519Policy(options.verify);
  if (!verify(publicKey, base, signature)) throw refuse('RELAY_BAD_SIGNATURE', 'signature does not verify');
  return { publicKey, keyId, nonce: nonce as string, created };
}
