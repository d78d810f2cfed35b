/**
 * Ogg Opus (RFC 7845 over the Ogg framing of RFC 3533): writer and reader. Pure: bytes in, bytes out.
 *
 * Why our own code: no well-kept, permissively licensed npm package writes Ogg Opus from raw Opus
 * packets simply. `mediabunny` can (MPL-2.0, ~12 MB, a whole media toolkit); `opus-recorder` /
 * `opus-encdec` are browser-worker encoders; `ogg-opus-decoder` decodes straight to PCM without
 * exposing packets and depends on `codec-parser` (LGPL-3.0, which also only reads). The container
 * is small and fully specified, so it is written here and checked against the reference tools:
 * files we write pass `opusinfo` with no warnings and `opusdec` decodes them sample-exact; files
 * made by `opusenc` are read back (see test/unit/audio/ogg-opus.test.ts).
 *
 * Layout written: page 0 = OpusHead alone (BOS, granule 0); page 1 = OpusTags alone (granule 0);
 * then audio pages of whole packets (≤ 255 lacing values, ≤ `maxPageDurationMs` of audio), each
 * with the granule position (48 kHz, pre-skip included) after its last packet; the last page has
 * EOS and, when the true sample count is given, a granule that trims the padding at the end.
 * Page checksum: CRC-32, polynomial 0x04C11DB7, not reflected, initial value 0, no final xor.
 */
import { PlushlinkError } from '../protocol/errors.js';
import { concatBytes, fromUtf8, utf8 } from '../protocol/bytes.js';
import { randomBytes } from '../protocol/crypto.js';
import { parseOpusPacket } from './opus-packet.js';

// ---------------------------------------------------------------------------------------------
// CRC

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

/** Ogg page checksum (CRC-32/0x04C11DB7, MSB first, init 0, no final xor). */
export function oggCrc32(bytes: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < bytes.length; i++) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ bytes[i]!) & 0xff]!) >>> 0;
  return crc;
}

// ---------------------------------------------------------------------------------------------
// Types

/** The OpusHead identification header (RFC 7845 §5.1). */
export interface OpusHead {
  /** Header version byte (1 for files written here; readers accept 0–15). */
  version: number;
  channels: number;
  /** Samples at 48 kHz to discard from the start of the decoded stream. */
  preSkip: number;
  /** Sample rate of the original input (informational only). */
  inputSampleRate: number;
  /** Output gain in Q7.8 dB. */
  outputGain: number;
  /** Channel mapping family (0 = mono/stereo). */
  mappingFamily: number;
}

/** The OpusTags comment header (RFC 7845 §5.2). */
export interface OpusTags {
  vendor: string;
  /** User comments, each `NAME=value`. */
  comments: string[];
}

/** What {@link readOggOpus} returns. */
export interface OggOpusFile {
  head: OpusHead;
  tags: OpusTags;
  /** Audio packets in stream order (headers excluded). */
  packets: Uint8Array[];
  /** Granule position of the last page (48 kHz, pre-skip included). */
  granule: number;
  /**
   * Playable length at 48 kHz: `granule − preSkip` (0 if negative), less the start offset of a
   * stream whose first audio page's granule exceeds its samples (RFC 7845 §4.3).
   */
  sampleCount48k: number;
  /** Stream serial number. */
  serial: number;
  /** Number of Ogg pages. */
  pageCount: number;
  /** True when the last page had the end-of-stream flag (false for a truncated recording). */
  complete: boolean;
}

/** Options of {@link OggOpusWriter} and {@link writeOggOpus}. */
export interface OggOpusWriterOptions {
  /** Stream serial number (uint32). Default: random (RFC 3533). Fix it for reproducible files. */
  serial?: number;
  /** OpusHead pre-skip at 48 kHz. Default 312 (opusscript's 104-sample lookahead at 16 kHz). */
  preSkip?: number;
  /** OpusHead input sample rate. Default 16000. */
  inputSampleRate?: number;
  /** Output gain, Q7.8 dB (int16). Default 0. */
  outputGain?: number;
  /** Channel count of the packets (1 or 2). Default 1. */
  channels?: number;
  /** OpusTags vendor string. Default 'plushlink'. */
  vendor?: string;
  /** OpusTags user comments (`NAME=value`). Default none. */
  comments?: string[];
  /** Maximum audio duration per page in ms (≥ 20). Default 1000. */
  maxPageDurationMs?: number;
}

function badOgg(reason: string, detail?: Record<string, unknown>): PlushlinkError {
  return new PlushlinkError('BAD_OGG', `invalid Ogg Opus: ${reason}`, detail);
}
function badArg(reason: string, detail?: Record<string, unknown>): PlushlinkError {
  return new PlushlinkError('BAD_AUDIO', reason, detail);
}

const FLAG_CONTINUED = 0x01;
const FLAG_BOS = 0x02;
const FLAG_EOS = 0x04;
const OPUS_HEAD = utf8('OpusHead');
const OPUS_TAGS = utf8('OpusTags');

function startsWith(b: Uint8Array, magic: Uint8Array): boolean {
  if (b.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (b[i] !== magic[i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Writer

/** Builds one Ogg page holding whole packets (each ≤ 65024 bytes so it fits one page). */
function buildPage(flags: number, granule: bigint, serial: number, seq: number, packets: readonly Uint8Array[]): Uint8Array {
  const lacing: number[] = [];
  let bodyLen = 0;
  for (const p of packets) {
    let n = p.length;
    while (n >= 255) {
      lacing.push(255);
      n -= 255;
    }
    lacing.push(n);
    bodyLen += p.length;
  }
  if (lacing.length > 255) throw new PlushlinkError('INTERNAL', 'Ogg page with more than 255 lacing values');
  const page = new Uint8Array(27 + lacing.length + bodyLen);
  const v = new DataView(page.buffer);
  page.set([0x4f, 0x67, 0x67, 0x53], 0); // "OggS"
  page[4] = 0;
  page[5] = flags;
  v.setBigUint64(6, BigInt.asUintN(64, granule), true);
  v.setUint32(14, serial, true);
  v.setUint32(18, seq, true);
  page[26] = lacing.length;
  page.set(lacing, 27);
  let o = 27 + lacing.length;
  for (const p of packets) {
    page.set(p, o);
    o += p.length;
  }
  v.setUint32(22, oggCrc32(page), true);
  return page;
}

function lacingCount(len: number): number {
  return Math.floor(len / 255) + 1;
}

/** Serialises an OpusHead (mapping family 0). */
export function encodeOpusHead(head: Pick<OpusHead, 'channels' | 'preSkip' | 'inputSampleRate' | 'outputGain'>): Uint8Array {
  const b = new Uint8Array(19);
  const v = new DataView(b.buffer);
  b.set(OPUS_HEAD, 0);
  b[8] = 1;
  b[9] = head.channels;
  v.setUint16(10, head.preSkip, true);
  v.setUint32(12, head.inputSampleRate, true);
  v.setInt16(16, head.outputGain, true);
  b[18] = 0;
  return b;
}

/** Serialises an OpusTags header. */
export function encodeOpusTags(tags: OpusTags): Uint8Array {
  const vendor = utf8(tags.vendor);
  const comments = tags.comments.map((c) => utf8(c));
  const b = new Uint8Array(8 + 4 + vendor.length + 4 + comments.reduce((a, c) => a + 4 + c.length, 0));
  const v = new DataView(b.buffer);
  b.set(OPUS_TAGS, 0);
  let o = 8;
  v.setUint32(o, vendor.length, true);
  b.set(vendor, o + 4);
  o += 4 + vendor.length;
  v.setUint32(o, comments.length, true);
  o += 4;
  for (const c of comments) {
    v.setUint32(o, c.length, true);
    b.set(c, o + 4);
    o += 4 + c.length;
  }
  return b;
}

/**
 * Incremental Ogg Opus writer: feed packets, receive finished pages through `onPage` (write them
 * to a file or a Node `Writable` as they come: `new OggOpusWriter(p => stream.write(p), opts)`).
 * The last packet written is held back until {@link OggOpusWriter.end} so that the final page can
 * carry the end-of-stream flag and the trimming granule.
 */
export class OggOpusWriter {
  readonly #onPage: (page: Uint8Array) => void;
  readonly #serial: number;
  readonly #preSkip: number;
  readonly #channels: number;
  readonly #maxPageSamples: number;
  readonly #head: Uint8Array;
  readonly #tags: Uint8Array;
  #seq = 0;
  #headersWritten = false;
  #ended = false;
  #pending: Uint8Array[] = [];
  #pendingSegments = 0;
  #pendingSamples = 0;
  /** Granule (48 kHz) at the end of the last flushed page. */
  #flushedGranule = 0;
  /** Granule (48 kHz) at the end of all packets written so far. */
  #granule = 0;
  #packets = 0;

  constructor(onPage: (page: Uint8Array) => void, options: OggOpusWriterOptions = {}) {
    this.#onPage = onPage;
    const serial = options.serial ?? new DataView(randomBytes(4).buffer).getUint32(0, true);
    if (!Number.isInteger(serial) || serial < 0 || serial > 0xffffffff) throw badArg('serial must be a uint32', { serial });
    const preSkip = options.preSkip ?? 312;
    if (!Number.isInteger(preSkip) || preSkip < 0 || preSkip > 0xffff) throw badArg('preSkip must be a uint16', { preSkip });
    const inputSampleRate = options.inputSampleRate ?? 16000;
    if (!Number.isInteger(inputSampleRate) || inputSampleRate < 0 || inputSampleRate > 0xffffffff) {
      throw badArg('inputSampleRate must be a uint32', { inputSampleRate });
    }
    const outputGain = options.outputGain ?? 0;
    if (!Number.isInteger(outputGain) || outputGain < -32768 || outputGain > 32767) throw badArg('outputGain must be an int16', { outputGain });
    const channels = options.channels ?? 1;
    if (channels !== 1 && channels !== 2) throw badArg('channels must be 1 or 2', { channels });
    const maxMs = options.maxPageDurationMs ?? 1000;
    if (!(maxMs >= 20)) throw badArg('maxPageDurationMs must be at least 20', { maxPageDurationMs: maxMs });
    this.#serial = serial;
    this.#preSkip = preSkip;
    this.#channels = channels;
    this.#maxPageSamples = Math.floor(maxMs * 48);
    this.#head = encodeOpusHead({ channels, preSkip, inputSampleRate, outputGain });
    this.#tags = encodeOpusTags({ vendor: options.vendor ?? 'plushlink', comments: options.comments ?? [] });
    if (this.#tags.length > 1 << 20) throw badArg('OpusTags larger than 1 MiB');
  }

  /** Audio packets written so far. */
  get packetCount(): number {
    return this.#packets;
  }
  /** Granule position (48 kHz, pre-skip included) after all packets written so far. */
  get granule(): number {
    return this.#granule;
  }
  /** Pages emitted so far. */
  get pageCount(): number {
    return this.#seq;
  }

  /**
   * Adds one Opus packet.
   * @throws PlushlinkError `CODEC_ERROR` for a packet whose framing is invalid; `BAD_AUDIO` after end.
   */
  writePacket(packet: Uint8Array): void {
    if (this.#ended) throw badArg('OggOpusWriter already ended');
    const samples = parseOpusPacket(packet).samples48k;
    this.#writeHeaders();
    const segs = lacingCount(packet.length);
    if (this.#pending.length > 0 && (this.#pendingSegments + segs > 255 || this.#pendingSamples >= this.#maxPageSamples)) {
      this.#flush(0, this.#granule);
    }
    this.#pending.push(packet.slice());
    this.#pendingSegments += segs;
    this.#pendingSamples += samples;
    this.#granule += samples;
    this.#packets++;
  }

  /**
   * Ends the stream: emits the last page with the end-of-stream flag. A stream with no packet gets
   * one silent TOC-only packet trimmed to zero samples, so even an empty recording is a valid file.
   * @param sampleCount number of real 16 kHz samples in the stream (as given by `encodePcm`);
   *   the last granule becomes `preSkip + 3 × sampleCount`, trimming the padding of the last
   *   frame. Omit to keep every decoded sample.
   * @throws PlushlinkError `BAD_AUDIO` when `sampleCount` is more than the packets hold, or would
   *   trim more than the last page holds.
   */
  end(sampleCount?: number): void {
    if (this.#ended) throw badArg('OggOpusWriter already ended');
    if (this.#packets === 0) {
      // An Ogg Opus stream without audio is rejected by opusinfo/opusdec: write one 20 ms frame of
      // nothing (a TOC byte with no frame data, decoded as silence) and trim it away entirely.
      if (sampleCount !== undefined && sampleCount !== 0) throw badArg('sampleCount exceeds the audio in the packets', { sampleCount });
      this.writePacket(Uint8Array.of(this.#channels === 2 ? 0x4c : 0x48));
      this.#ended = true;
      this.#flush(FLAG_EOS, Math.min(this.#preSkip, this.#granule));
      return;
    }
    let final = this.#granule;
    if (sampleCount !== undefined) {
      if (!Number.isInteger(sampleCount) || sampleCount < 0) throw badArg('sampleCount must be a non-negative integer', { sampleCount });
      final = this.#preSkip + sampleCount * 3;
      if (final > this.#granule) {
        throw badArg('sampleCount exceeds the audio in the packets', { sampleCount, granule: this.#granule, preSkip: this.#preSkip });
      }
      if (final < this.#flushedGranule) {
        throw badArg('sampleCount trims more than the last page holds', { sampleCount });
      }
    }
    this.#writeHeaders();
    this.#ended = true;
    this.#flush(FLAG_EOS, final);
  }

  #writeHeaders(): void {
    if (this.#headersWritten) return;
    this.#headersWritten = true;
    this.#emit(FLAG_BOS, 0n, [this.#head]);
    this.#emitSplit(this.#tags);
  }

  /** Emits a header packet that may need several pages (OpusTags with long comments). */
  #emitSplit(packet: Uint8Array): void {
    const maxBody = 255 * 255; // 255 segments of 255 bytes, packet continues
    let off = 0;
    let first = true;
    while (packet.length - off >= maxBody) {
      const chunk = packet.subarray(off, off + maxBody);
      // a page full of 255s: the packet does not end here, granule -1
      this.#emitRaw(first ? 0 : FLAG_CONTINUED, -1n, chunk, false);
      off += maxBody;
      first = false;
    }
    this.#emitRaw(first ? 0 : FLAG_CONTINUED, 0n, packet.subarray(off), true);
  }

  #emitRaw(flags: number, granule: bigint, body: Uint8Array, ends: boolean): void {
    if (ends) {
      this.#emit(flags, granule, [body]);
      return;
    }
    // body.length is a multiple of 255: lacing all 255, no terminator
    const lacing = new Array<number>(body.length / 255).fill(255);
    const page = new Uint8Array(27 + lacing.length + body.length);
    const v = new DataView(page.buffer);
    page.set([0x4f, 0x67, 0x67, 0x53], 0);
    page[5] = flags;
    v.setBigUint64(6, BigInt.asUintN(64, granule), true);
    v.setUint32(14, this.#serial, true);
    v.setUint32(18, this.#seq++, true);
    page[26] = lacing.length;
    page.set(lacing, 27);
    page.set(body, 27 + lacing.length);
    v.setUint32(22, oggCrc32(page), true);
    this.#onPage(page);
  }

  #emit(flags: number, granule: bigint, packets: readonly Uint8Array[]): void {
    this.#onPage(buildPage(flags, granule, this.#serial, this.#seq++, packets));
  }

  #flush(flags: number, granule: number): void {
    this.#emit(flags, BigInt(granule), this.#pending);
    this.#flushedGranule = granule;
    this.#pending = [];
    this.#pendingSegments = 0;
    this.#pendingSamples = 0;
  }
}

/**
 * Writes a whole Ogg Opus file from Opus packets.
 * @param options.sampleCount real 16 kHz sample count for end trimming (see {@link OggOpusWriter.end}).
 */
export function writeOggOpus(packets: Iterable<Uint8Array>, options: OggOpusWriterOptions & { sampleCount?: number } = {}): Uint8Array {
  const pages: Uint8Array[] = [];
  const w = new OggOpusWriter((p) => pages.push(p), options);
  for (const p of packets) w.writePacket(p);
  w.end(options.sampleCount);
  return concatBytes(...pages);
}

// ---------------------------------------------------------------------------------------------
// Reader

/** Parses an OpusHead packet. @throws PlushlinkError `BAD_OGG` */
export function parseOpusHead(b: Uint8Array): OpusHead {
  if (!startsWith(b, OPUS_HEAD)) throw badOgg('first packet is not OpusHead');
  if (b.length < 19) throw badOgg('OpusHead too short', { length: b.length });
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const version = b[8]!;
  if (version >> 4 !== 0) throw badOgg('unsupported OpusHead major version', { version });
  const channels = b[9]!;
  if (channels < 1) throw badOgg('OpusHead with zero channels');
  const mappingFamily = b[18]!;
  if (mappingFamily === 0) {
    if (channels > 2) throw badOgg('mapping family 0 allows 1 or 2 channels', { channels });
  } else {
    if (b.length < 21 + channels) throw badOgg('OpusHead channel mapping table truncated');
    const streams = b[19]!;
    const coupled = b[20]!;
    if (streams < 1 || coupled > streams || streams + coupled > 255) throw badOgg('invalid OpusHead stream counts');
  }
  return {
    version,
    channels,
    preSkip: v.getUint16(10, true),
    inputSampleRate: v.getUint32(12, true),
    outputGain: v.getInt16(16, true),
    mappingFamily,
  };
}

/** Parses an OpusTags packet. @throws PlushlinkError `BAD_OGG` */
export function parseOpusTags(b: Uint8Array): OpusTags {
  if (!startsWith(b, OPUS_TAGS)) throw badOgg('second packet is not OpusTags');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = 8;
  const str = (what: string): string => {
    if (o + 4 > b.length) throw badOgg(`OpusTags ${what} length truncated`);
    const n = v.getUint32(o, true);
    o += 4;
    if (n > b.length - o) throw badOgg(`OpusTags ${what} overruns the packet`);
    const s = b.subarray(o, o + n);
    o += n;
    try {
      return fromUtf8(s);
    } catch {
      throw badOgg(`OpusTags ${what} is not UTF-8`);
    }
  };
  const vendor = str('vendor');
  if (o + 4 > b.length) throw badOgg('OpusTags comment count truncated');
  const count = v.getUint32(o, true);
  o += 4;
  if (count > (b.length - o) / 4) throw badOgg('OpusTags comment count overruns the packet', { count });
  const comments: string[] = [];
  for (let i = 0; i < count; i++) comments.push(str('comment'));
  return { vendor, comments };
}

/**
 * Reads an Ogg Opus file (one logical stream). Validates page structure, CRC, page sequence,
 * BOS/EOS and continuation flags, header placement (OpusHead alone on the first page, OpusTags
 * ending its page), and each audio packet's Opus framing.
 * @throws PlushlinkError `BAD_OGG` for anything malformed, with a reason in the message.
 */
export function readOggOpus(bytes: Uint8Array): OggOpusFile {
  if (!(bytes instanceof Uint8Array)) throw badOgg('input must be a Uint8Array');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const all: Uint8Array[] = [];
  const pieces: Uint8Array[] = []; // parts of the packet being assembled
  let off = 0;
  let serial = 0;
  let seq0 = 0;
  let pageCount = 0;
  let eos = false;
  let granule = 0;
  let headPage = false;
  let tagsEndedPage = false;
  let total = 0; // 48 kHz samples in the audio packets completed so far
  let startOffset: number | undefined;
  while (off < bytes.length) {
    if (eos) throw badOgg('data after the end-of-stream page', { offset: off });
    if (bytes.length - off < 27) throw badOgg('truncated page header', { offset: off });
    if (bytes[off] !== 0x4f || bytes[off + 1] !== 0x67 || bytes[off + 2] !== 0x67 || bytes[off + 3] !== 0x53) {
      throw badOgg('missing OggS capture pattern', { offset: off });
    }
    if (bytes[off + 4] !== 0) throw badOgg('unsupported Ogg version', { offset: off });
    const flags = bytes[off + 5]!;
    if (flags & ~0x07) throw badOgg('unknown page flags', { offset: off, flags });
    const gp = v.getBigInt64(off + 6, true);
    const pageSerial = v.getUint32(off + 14, true);
    const seq = v.getUint32(off + 18, true);
    const crc = v.getUint32(off + 22, true);
    const nsegs = bytes[off + 26]!;
    if (bytes.length - off < 27 + nsegs) throw badOgg('truncated segment table', { offset: off });
    let bodyLen = 0;
    for (let i = 0; i < nsegs; i++) bodyLen += bytes[off + 27 + i]!;
    const pageLen = 27 + nsegs + bodyLen;
    if (bytes.length - off < pageLen) throw badOgg('truncated page body', { offset: off });
    const page = bytes.slice(off, off + pageLen);
    page[22] = page[23] = page[24] = page[25] = 0;
    if (oggCrc32(page) !== crc) throw badOgg('page CRC mismatch', { offset: off, page: pageCount });

    if (pageCount === 0) {
      if (!(flags & FLAG_BOS)) throw badOgg('first page lacks the beginning-of-stream flag');
      serial = pageSerial;
      seq0 = seq;
    } else {
      if (flags & FLAG_BOS) throw badOgg('more than one logical stream (multiplexed or chained) is not supported', { offset: off });
      if (pageSerial !== serial) throw badOgg('page of another logical stream', { offset: off, serial: pageSerial });
      if (seq !== ((seq0 + pageCount) >>> 0)) throw badOgg('page sequence gap (missing or reordered page)', { offset: off, seq });
    }
    const continued = (flags & FLAG_CONTINUED) !== 0;
    if (continued !== pieces.length > 0) throw badOgg('continuation flag does not match the previous page', { offset: off });

    let p = off + 27 + nsegs;
    let segStart = p;
    let completed = 0;
    for (let i = 0; i < nsegs; i++) {
      const l = bytes[off + 27 + i]!;
      p += l;
      if (l < 255) {
        pieces.push(bytes.subarray(segStart, p));
        all.push(pieces.length === 1 ? pieces[0]!.slice() : concatBytes(...pieces));
        pieces.length = 0;
        completed++;
        segStart = p;
        // header placement rules
        if (all.length === 1) {
          headPage = true;
        } else if (pageCount === 0) {
          throw badOgg('OpusHead must be alone on the first page');
        }
      }
    }
    if (segStart < p) pieces.push(bytes.subarray(segStart, p));
    if (pageCount === 0 && (!headPage || pieces.length > 0)) throw badOgg('OpusHead must be alone on the first page');
    if (!tagsEndedPage && all.length >= 2) {
      if (all.length > 2 || pieces.length > 0) throw badOgg('OpusTags must end its page');
      tagsEndedPage = true;
    }
    // Opus framing and duration of the audio packets completed on this page
    for (let i = Math.max(2, all.length - completed); i < all.length; i++) {
      try {
        total += parseOpusPacket(all[i]!).samples48k;
      } catch {
        throw badOgg(`audio packet ${i - 2} has invalid Opus framing`, { packet: i - 2 });
      }
    }
    if (completed > 0) {
      // (a page on which no packet ends carries granule -1; its value is ignored here)
      if (gp < 0n) throw badOgg('page that completes packets has no granule position', { offset: off });
      if (gp > BigInt(Number.MAX_SAFE_INTEGER)) throw badOgg('granule position out of range', { offset: off });
      granule = Number(gp);
      if (all.length > 2 && startOffset === undefined) {
        // RFC 7845 §4.3: a stream may start at a granule above 0 (e.g. a cut live stream)
        startOffset = Math.max(0, granule - total);
      }
    }
    if (flags & FLAG_EOS) eos = true;
    pageCount++;
    off += pageLen;
  }
  if (pageCount === 0) throw badOgg('empty input');
  if (pieces.length > 0) {
    if (eos) throw badOgg('last packet is unfinished at end of stream');
  }
  if (all.length < 2) throw badOgg('missing OpusTags header');
  const head = parseOpusHead(all[0]!);
  const tags = parseOpusTags(all[1]!);
  const packets = all.slice(2);
  const start = startOffset ?? 0;
  if (packets.length > 0 && granule - start > total) {
    throw badOgg('final granule position is beyond the audio in the stream', { granule, total });
  }
  return {
    head,
    tags,
    packets,
    granule,
    sampleCount48k: Math.max(0, granule - start - head.preSkip),
    serial,
    pageCount,
    complete: eos,
  };
}
