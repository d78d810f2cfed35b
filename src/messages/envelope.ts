/**
 * End-to-end sealed voice messages ("PLVM" envelopes, format version 1).
 *
 * The audio (Ogg Opus bytes, treated as opaque) is encrypted once with a fresh random content key
 * (ChaCha20-Poly1305, the header as associated data); the content key is wrapped for every
 * recipient with tweetnacl `box` from one ephemeral X25519 key; the whole envelope is signed with
 * the sender's Ed25519 key. A relay that stores envelopes learns the recipients' key ids, the sender's
 * public key, the creation time and the audio length, and nothing else.
 *
 * Pure: no I/O, no `node:` imports. The byte-exact format and the order of checks are specified in
 * `docs/MESSAGES.md`.
 */
import nacl from 'tweetnacl';
import {
  aeadOpen,
  aeadSeal,
  ed25519Sign,
  randomBytes,
  sha512,
  withEd25519Policy,
  x25519,
  x25519KeyPairFromSecret,
  type Ed25519Verifier,
  type RandomSource,
} from '../protocol/crypto.js';
import { bytesEqual, concatBytes, fromHex, toHex, utf8, wipe } from '../protocol/bytes.js';
import { PlushlinkError, isPlushlinkError } from '../protocol/errors.js';
import { KEY_ID_LEN, keyIdOf, type FamilyIdentity, type FamilyPublicKey } from './family.js';

/** First four bytes of every envelope: ASCII "PLVM". */
export const VOICE_MESSAGE_MAGIC: Uint8Array = utf8('PLVM');
/** The envelope format version this code writes and reads. */
export const VOICE_MESSAGE_VERSION = 1;
/** Message id length in bytes (random, 128 bits). */
export const MESSAGE_ID_LEN = 16;
/** Most recipients one envelope may carry. */
export const MAX_RECIPIENTS = 64;
/** Largest audio payload accepted (16 MiB; a voice message is far smaller). */
export const MAX_AUDIO_BYTES = 16 * 1024 * 1024;

/** Offsets of the fixed header fields (see docs/MESSAGES.md). */
const OFF_VERSION = 4;
const OFF_ID = 5;
const OFF_CREATED = 21;
const OFF_SENDER = 29;
const OFF_EPHEMERAL = 61;
const OFF_COUNT = 93;
const OFF_CONTENT_LEN = 94;
/** Length of the fixed part of the header (before the key ids). */
export const FIXED_HEADER_LEN = 98;
const WRAPPED_KEY_LEN = 32 + nacl.box.overheadLength; // 48
const SIGNATURE_LEN = 64;
const TAG_LEN = 16;
const CONTENT_NONCE = new Uint8Array(12); // the content key is single-use

const SIGNATURE_CONTEXT = utf8('plushlink/voice-message/v1/signature\0');
const WRAP_NONCE_CONTEXT = utf8('plushlink/voice-message/v1/wrap-nonce\0');

/** What {@link sealVoiceMessage} needs from the sender: its Ed25519 key pair. */
export type VoiceMessageSender = Pick<FamilyIdentity, 'signPublicKey' | 'signSecretKey'>;
/** What {@link sealVoiceMessage} needs about a recipient: its X25519 box public key. */
export type VoiceMessageRecipient = Pick<FamilyPublicKey, 'boxPublicKey'>;

/** Input of {@link sealVoiceMessage}. */
export interface SealVoiceMessageOptions {
  /** The content, normally an Ogg Opus file. Opaque to this module. 0..16 MiB. */
  audio: Uint8Array;
  /** The sender's identity (only the Ed25519 keys are used). */
  from: VoiceMessageSender;
  /** Recipients (1..64); duplicates (same box key) are sealed once. */
  to: ReadonlyArray<VoiceMessageRecipient>;
  /** 16-byte message id (bytes or 32 hex chars). Default: 16 random bytes. */
  messageId?: Uint8Array | string;
  /** Creation time, milliseconds since the Unix epoch. Default: `Date.now()`. */
  createdAt?: number;
  /**
   * Randomness (tests and vectors only). Drawn in this order: message id (16, only when not
   * given), content key (32), ephemeral X25519 secret (32).
   */
  random?: RandomSource;
}

/** Header fields of an envelope whose signature verified (no decryption performed). */
export interface VoiceMessageInfo {
  /** Format version (1). */
  version: number;
  /** Message id, 32 lower-case hex characters. */
  messageId: string;
  /** Creation time in ms since the Unix epoch, as stated (and signed) by the sender. */
  createdAt: number;
  /** Sender's Ed25519 public key (32 bytes). */
  sender: Uint8Array;
  /** Recipients' key ids (16 bytes each), in envelope order. */
  recipients: Uint8Array[];
  /** Audio length in bytes. */
  audioLength: number;
  /** Total envelope length in bytes. */
  size: number;
}

/** Result of {@link openVoiceMessage}. */
export interface OpenedVoiceMessage<T = unknown> extends VoiceMessageInfo {
  /** The decrypted content (Ogg Opus bytes as sealed). */
  audio: Uint8Array;
  /** The `trustedSenders` entry that matched the sender, when that option was given. */
  trustedSender?: T;
}

/** Options of {@link openVoiceMessage} and {@link inspectVoiceMessage}. */
export interface OpenVoiceMessageOptions<T extends Uint8Array | Pick<FamilyPublicKey, 'signPublicKey'>> {
  /**
   * When given, the sender's Ed25519 key must be one of these (raw 32-byte keys or family public
   * keys), else `UNTRUSTED_SENDER`. Without it, any valid signer is accepted and the caller must
   * check `sender` itself.
   */
  trustedSenders?: ReadonlyArray<T>;
  /**
   * Ed25519 verification (default: the installed back end's). A server injects a native one; it
   * runs under the library's Ed25519 policy either way (PROTOCOL §18: a non-canonical S and a
   * small-order sender key are refused before it is called).
   */
  verify?: Ed25519Verifier;
}

interface ParsedEnvelope {
  header: Uint8Array; // magic .. last key id (AEAD associated data)
  signed: Uint8Array; // everything before the signature
  signature: Uint8Array;
  messageId: Uint8Array;
  createdAt: number;
  sender: Uint8Array;
  ephemeral: Uint8Array;
  keyIds: Uint8Array[];
  wrapped: Uint8Array[];
  content: Uint8Array; // ciphertext || tag
  audioLength: number;
}

function bad(message: string, detail?: Record<string, unknown>): PlushlinkError {
  return new PlushlinkError('BAD_ENVELOPE', message, detail);
}

/** The 24-byte `box` nonce for recipient slot i: SHA-512(context ‖ header ‖ u8 i)[0..24]. */
function wrapNonce(header: Uint8Array, index: number): Uint8Array {
  return sha512(concatBytes(WRAP_NONCE_CONTEXT, header, Uint8Array.of(index))).slice(0, nacl.box.nonceLength);
}

function normaliseMessageId(id: Uint8Array | string): Uint8Array {
  let b: Uint8Array;
  if (typeof id === 'string') {
    try {
      b = fromHex(id);
    } catch {
      throw new PlushlinkError('BAD_PAYLOAD', 'message id must be 32 hex characters');
    }
  } else b = Uint8Array.from(id);
  if (b.length !== MESSAGE_ID_LEN) throw new PlushlinkError('BAD_PAYLOAD', `message id must be ${MESSAGE_ID_LEN} bytes`);
  return b;
}

/**
 * Seals a voice message for one or more recipients. Returns the envelope bytes (layout in
 * docs/MESSAGES.md): header ‖ wrapped keys ‖ content ciphertext ‖ Ed25519 signature.
 *
 * Throws `BAD_PAYLOAD` (bad audio size, recipients, id or time), `INVALID_KEY` or
 * `LOW_ORDER_POINT` (bad keys).
 */
export function sealVoiceMessage(options: SealVoiceMessageOptions): Uint8Array {
  const { audio, from, to } = options;
  const random = options.random ?? randomBytes;
  if (!(audio instanceof Uint8Array)) throw new PlushlinkError('BAD_PAYLOAD', 'audio must be a Uint8Array');
  if (audio.length > MAX_AUDIO_BYTES) throw new PlushlinkError('BAD_PAYLOAD', `audio larger than ${MAX_AUDIO_BYTES} bytes`);
  if (!from || from.signSecretKey?.length !== 64 || from.signPublicKey?.length !== 32) {
    throw new PlushlinkError('INVALID_KEY', 'sender needs a 64-byte Ed25519 secret key and its public key');
  }
  if (!bytesEqual(from.signSecretKey.subarray(32), from.signPublicKey)) {
    throw new PlushlinkError('INVALID_KEY', 'sender Ed25519 public key does not match its secret key');
  }
  // Dedupe recipients by key id, keeping first occurrence order.
  const recipients: { pub: Uint8Array; keyId: Uint8Array }[] = [];
  for (const r of to ?? []) {
    const keyId = keyIdOf(r.boxPublicKey);
    if (!recipients.some((x) => bytesEqual(x.keyId, keyId))) recipients.push({ pub: r.boxPublicKey, keyId });
  }
  if (recipients.length < 1 || recipients.length > MAX_RECIPIENTS) {
    throw new PlushlinkError('BAD_PAYLOAD', `a voice message needs 1..${MAX_RECIPIENTS} recipients`, { count: recipients.length });
  }
  const createdAt = options.createdAt ?? Date.now();
  if (!Number.isSafeInteger(createdAt) || createdAt < 0) throw new PlushlinkError('BAD_PAYLOAD', 'createdAt must be a non-negative integer (ms)');
  const messageId = options.messageId !== undefined ? normaliseMessageId(options.messageId) : random(MESSAGE_ID_LEN);
  if (messageId.length !== MESSAGE_ID_LEN) throw new PlushlinkError('INTERNAL', 'random source returned the wrong length');

  const contentKey = Uint8Array.from(random(32)); // copy: wiped below, never the caller's buffer
  const ephemeral = x25519KeyPairFromSecret(random(32));
  try {
    const fixed = new Uint8Array(FIXED_HEADER_LEN);
    const dv = new DataView(fixed.buffer);
    fixed.set(VOICE_MESSAGE_MAGIC, 0);
    fixed[OFF_VERSION] = VOICE_MESSAGE_VERSION;
    fixed.set(messageId, OFF_ID);
    dv.setBigUint64(OFF_CREATED, BigInt(createdAt));
    fixed.set(from.signPublicKey, OFF_SENDER);
    fixed.set(ephemeral.publicKey, OFF_EPHEMERAL);
    fixed[OFF_COUNT] = recipients.length;
    dv.setUint32(OFF_CONTENT_LEN, audio.length);
    const header = concatBytes(fixed, ...recipients.map((r) => r.keyId));

    const wrapped = recipients.map((r, i) => {
      // Validates the recipient key (rejects low-order points) through the crypto module.
      wipe(x25519(ephemeral.secretKey, r.pub));
      return nacl.box(contentKey, wrapNonce(header, i), r.pub, ephemeral.secretKey);
    });
    const content = aeadSeal(contentKey, CONTENT_NONCE, header, audio);
    const signed = concatBytes(header, ...wrapped, content);
    const signature = ed25519Sign(from.signSecretKey, concatBytes(SIGNATURE_CONTEXT, signed));
    return concatBytes(signed, signature);
  } finally {
    wipe(contentKey);
    wipe(ephemeral.secretKey);
  }
}

/** Structural parse (checks 1–3 of docs/MESSAGES.md §Order of checks). No cryptography. */
function parseEnvelope(bytes: Uint8Array): ParsedEnvelope {
  if (!(bytes instanceof Uint8Array)) throw bad('envelope must be a Uint8Array');
  // 1. magic
  if (bytes.length < OFF_VERSION + 1) throw bad('envelope too short', { length: bytes.length });
  if (!bytesEqual(bytes.subarray(0, 4), VOICE_MESSAGE_MAGIC)) throw bad('not a plushlink voice message (bad magic)');
  // 2. version
  const version = bytes[OFF_VERSION]!;
  if (version !== VOICE_MESSAGE_VERSION) {
    throw new PlushlinkError('UNKNOWN_VERSION', `unknown voice message version ${version}`, { version });
  }
  // 3. structure
  if (bytes.length < FIXED_HEADER_LEN) throw bad('envelope truncated inside the header', { length: bytes.length });
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = bytes[OFF_COUNT]!;
  if (count < 1 || count > MAX_RECIPIENTS) throw bad('recipient count out of range', { count });
  const audioLength = dv.getUint32(OFF_CONTENT_LEN);
  if (audioLength > MAX_AUDIO_BYTES) throw bad('content length out of range', { audioLength });
  const createdBig = dv.getBigUint64(OFF_CREATED);
  if (createdBig > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('creation time out of range');
  const headerLen = FIXED_HEADER_LEN + count * KEY_ID_LEN;
  const expected = headerLen + count * WRAPPED_KEY_LEN + audioLength + TAG_LEN + SIGNATURE_LEN;
  if (bytes.length !== expected) throw bad('envelope length does not match its header', { length: bytes.length, expected });
  const keyIds: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const id = bytes.slice(FIXED_HEADER_LEN + i * KEY_ID_LEN, FIXED_HEADER_LEN + (i + 1) * KEY_ID_LEN);
    if (keyIds.some((k) => bytesEqual(k, id))) throw bad('duplicate recipient key id');
    keyIds.push(id);
  }
  const wrapped: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    wrapped.push(bytes.slice(headerLen + i * WRAPPED_KEY_LEN, headerLen + (i + 1) * WRAPPED_KEY_LEN));
  }
  const contentStart = headerLen + count * WRAPPED_KEY_LEN;
  const sigStart = bytes.length - SIGNATURE_LEN;
  return {
    header: bytes.slice(0, headerLen),
    signed: bytes.subarray(0, sigStart),
    signature: bytes.slice(sigStart),
    messageId: bytes.slice(OFF_ID, OFF_ID + MESSAGE_ID_LEN),
    createdAt: Number(createdBig),
    sender: bytes.slice(OFF_SENDER, OFF_SENDER + 32),
    ephemeral: bytes.slice(OFF_EPHEMERAL, OFF_EPHEMERAL + 32),
    keyIds,
    wrapped,
    content: bytes.subarray(contentStart, sigStart),
    audioLength,
  };
}

function senderKeyOf(t: Uint8Array | Pick<FamilyPublicKey, 'signPublicKey'>): Uint8Array {
  return t instanceof Uint8Array ? t : t.signPublicKey;
}

/** Checks 1–5: structure, signature, trusted sender. */
function verifyEnvelope<T extends Uint8Array | Pick<FamilyPublicKey, 'signPublicKey'>>(
  bytes: Uint8Array,
  trustedSenders: ReadonlyArray<T> | undefined,
  verify?: Ed25519Verifier,
): { p: ParsedEnvelope; info: VoiceMessageInfo; trusted: T | undefined } {
  const p = parseEnvelope(bytes);
  // 4. signature
  if (!withEd25519Policy(verify)(p.sender, concatBytes(SIGNATURE_CONTEXT, p.signed), p.signature)) {
    throw new PlushlinkError('BAD_SIGNATURE', 'voice message signature does not verify');
  }
  // 5. trusted sender
  let trusted: T | undefined;
  if (trustedSenders !== undefined) {
    trusted = trustedSenders.find((t) => bytesEqual(senderKeyOf(t), p.sender));
    if (trusted === undefined) {
      throw new PlushlinkError('UNTRUSTED_SENDER', 'voice message signed by a key that is not a trusted sender', {
        sender: toHex(p.sender),
      });
    }
  }
  return { p, info: infoOf(p, bytes.length), trusted };
}

/**
 * Verifies an envelope's structure and signature and returns its header, without decrypting
 * (what a relay or an outbox can check). Throws `BAD_ENVELOPE`, `UNKNOWN_VERSION`,
 * `BAD_SIGNATURE` or `UNTRUSTED_SENDER`.
 */
export function inspectVoiceMessage<T extends Uint8Array | Pick<FamilyPublicKey, 'signPublicKey'> = Uint8Array>(
  bytes: Uint8Array,
  options: OpenVoiceMessageOptions<T> = {},
): VoiceMessageInfo {
  return verifyEnvelope(bytes, options.trustedSenders, options.verify).info;
}

/**
 * Opens a voice message for `recipient`. Checks run in this fixed order, the first failure wins:
 *
 * 1. magic and minimum length → `BAD_ENVELOPE`
 * 2. version byte → `UNKNOWN_VERSION`
 * 3. structure (counts, lengths, duplicate key ids) → `BAD_ENVELOPE`
 * 4. Ed25519 signature over everything before it → `BAD_SIGNATURE`
 * 5. sender in `trustedSenders` (when given) → `UNTRUSTED_SENDER`
 * 6. recipient's key id listed → `NOT_A_RECIPIENT`
 * 7. content key unwrap (`box.open`) and content AEAD → `TAMPERED`
 *
 * `TAMPERED` therefore means: validly signed, but the signer's cryptographic contents do not
 * authenticate (e.g. someone re-signed a modified envelope with their own key).
 */
export function openVoiceMessage<T extends Uint8Array | Pick<FamilyPublicKey, 'signPublicKey'> = Uint8Array>(
  bytes: Uint8Array,
  recipient: Pick<FamilyIdentity, 'boxSecretKey'>,
  options: OpenVoiceMessageOptions<T> = {},
): OpenedVoiceMessage<T> {
  if (!recipient || !(recipient.boxSecretKey instanceof Uint8Array) || recipient.boxSecretKey.length !== 32) {
    throw new PlushlinkError('INVALID_KEY', 'recipient needs a 32-byte X25519 secret key');
  }
  const { p, info, trusted } = verifyEnvelope(bytes, options.trustedSenders, options.verify);
  // 6. recipient
  const me = x25519KeyPairFromSecret(recipient.boxSecretKey);
  const myId = keyIdOf(me.publicKey);
  const index = p.keyIds.findIndex((k) => bytesEqual(k, myId));
  wipe(me.secretKey);
  if (index < 0) throw new PlushlinkError('NOT_A_RECIPIENT', 'this key is not among the voice message recipients');
  // 7. unwrap + decrypt
  try {
    wipe(x25519(recipient.boxSecretKey, p.ephemeral)); // rejects a low-order ephemeral key
  } catch (e) {
    throw new PlushlinkError('TAMPERED', 'ephemeral key is invalid', undefined, { cause: e });
  }
  const contentKey = nacl.box.open(p.wrapped[index]!, wrapNonce(p.header, index), p.ephemeral, recipient.boxSecretKey);
  if (!contentKey || contentKey.length !== 32) {
    throw new PlushlinkError('TAMPERED', 'content key does not unwrap (envelope modified and re-signed)');
  }
  try {
    const audio = aeadOpen(contentKey, CONTENT_NONCE, p.header, p.content);
    const out: OpenedVoiceMessage<T> = { ...info, audio };
    if (trusted !== undefined) out.trustedSender = trusted;
    return out;
  } catch (e) {
    if (isPlushlinkError(e, 'DECRYPT_FAILED')) {
      throw new PlushlinkError('TAMPERED', 'content does not authenticate (envelope modified and re-signed)', undefined, { cause: e });
    }
    throw e;
  } finally {
    wipe(contentKey);
  }
}

function infoOf(p: ParsedEnvelope, size: number): VoiceMessageInfo {
  return {
    version: VOICE_MESSAGE_VERSION,
    messageId: toHex(p.messageId),
    createdAt: p.createdAt,
    sender: p.sender,
    recipients: p.keyIds,
    audioLength: p.audioLength,
    size,
  };
}

/**
 * The header of an envelope after only the structural checks (1–3: `BAD_ENVELOPE`,
 * `UNKNOWN_VERSION`); the signature is NOT checked, so nothing in it is authenticated. For
 * bookkeeping of envelopes already verified once (the outbox verifies on `add`).
 */
export function peekVoiceMessage(bytes: Uint8Array): VoiceMessageInfo {
  return infoOf(parseEnvelope(bytes), bytes.length);
}

/** The message id (hex) of an envelope, after only the structural checks (see {@link peekVoiceMessage}). */
export function peekMessageId(bytes: Uint8Array): string {
  return toHex(parseEnvelope(bytes).messageId);
}

/** Internal, for tests and docs: offsets of the fixed header fields. */
export const ENVELOPE_LAYOUT = Object.freeze({
  magic: 0,
  version: OFF_VERSION,
  messageId: OFF_ID,
  createdAt: OFF_CREATED,
  sender: OFF_SENDER,
  ephemeral: OFF_EPHEMERAL,
  recipientCount: OFF_COUNT,
  contentLength: OFF_CONTENT_LEN,
  keyIds: FIXED_HEADER_LEN,
  keyIdLength: KEY_ID_LEN,
  wrappedKeyLength: WRAPPED_KEY_LEN,
  tagLength: TAG_LEN,
  signatureLength: SIGNATURE_LEN,
});
