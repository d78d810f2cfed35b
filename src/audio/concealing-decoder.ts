/**
 * Packet-loss concealment, written once. {@link ConcealingDecoder} turns an ordered Opus stream
 * into continuous mono 16 kHz PCM, concealing lost and undecodable frames with the decoder's PLC;
 * it takes one slot at a time (a packet, or `undefined` for a lost one:
 * {@link ConcealingDecoder.decode}, the microphone's path) or the output of a {@link JitterBuffer}
 * (received packets and lost runs: {@link ConcealingDecoder.process}). An undecodable packet is
 * concealed by `decodeOrConceal` (opus-codec.ts), which `decodePackets` shares.
 * {@link PacketConcealer} does the same in the packet domain: a lost slot becomes the 1-byte
 * concealment packet (`concealmentPacket`), for an Ogg Opus file or a consumer of packets.
 */
import { PlushlinkError } from '../protocol/errors.js';
import { concatPcm } from './convert.js';
import type { JitterOutput } from './jitter-buffer.js';
import { decodeOrConceal, type OpusDecoder } from './opus-codec.js';
import { concealmentPacket } from './opus-packet.js';

/** Counters of a {@link ConcealingDecoder}. */
export interface ConcealingDecoderStats {
  /** Frames decoded from a received packet. */
  received: number;
  /** Frames synthesised by loss concealment (lost, or received but undecodable). */
  concealed: number;
  /** Received packets that failed to decode (included in `concealed`). */
  decodeErrors: number;
  /** Lost frames beyond `maxGapFrames` in one run: counted, but no audio is produced for them. */
  skipped: number;
}

/** Options of {@link ConcealingDecoder}. */
export interface ConcealingDecoderOptions {
  /**
   * Longest lost run (in frames) that is concealed frame by frame, keeping the timeline; longer
   * runs (a stall, a jump in sequence numbers) produce this many frames and count the rest as
   * `skipped`. Default 500 (10 s).
   */
  maxGapFrames?: number;
}

/** Decodes jitter-buffer output to PCM with concealment. Feed outputs in the order they came. */
export class ConcealingDecoder {
  readonly stats: ConcealingDecoderStats = { received: 0, concealed: 0, decodeErrors: 0, skipped: 0 };
  readonly #decoder: OpusDecoder;
  readonly #maxGap: number;

  /** @param decoder a ready {@link OpusDecoder} (not freed by this class). */
  constructor(decoder: OpusDecoder, options: ConcealingDecoderOptions = {}) {
    const maxGap = options.maxGapFrames ?? 500;
    if (!Number.isInteger(maxGap) || maxGap < 0) throw new PlushlinkError('BAD_AUDIO', 'maxGapFrames must be an integer ≥ 0', { maxGap });
    this.#decoder = decoder;
    this.#maxGap = maxGap;
  }

  /**
   * PCM for one 20 ms slot of an ordered stream: the packet decoded, or one frame of concealment
   * when the packet is missing (`undefined`: lost) or does not decode. 320 samples.
   */
  decode(packet: Uint8Array | undefined): Int16Array {
    if (packet === undefined) return this.conceal(1);
    const { pcm, concealed } = decodeOrConceal(this.#decoder, packet);
    if (concealed) {
      this.stats.decodeErrors++;
      this.stats.concealed++;
    } else this.stats.received++;
    return pcm;
  }

  /**
   * PCM for a run of `count` lost frames: concealed frame by frame up to `maxGapFrames`, the rest
   * counted as skipped (no audio).
   */
  conceal(count: number): Int16Array {
    const n = Math.min(count, this.#maxGap);
    this.stats.skipped += count - n;
    if (n === 0) return new Int16Array(0);
    const parts: Int16Array[] = [];
    for (let i = 0; i < n; i++) parts.push(this.#decoder.conceal());
    this.stats.concealed += n;
    return concatPcm(parts);
  }

  /** PCM for one jitter-buffer output: 320 samples per 20 ms frame (received or concealed). */
  process(item: JitterOutput<Uint8Array>): Int16Array {
    return item.kind === 'frame' ? this.decode(item.data) : this.conceal(item.count);
  }

  /** PCM for several outputs, concatenated. */
  processAll(items: Iterable<JitterOutput<Uint8Array>>): Int16Array {
    const parts: Int16Array[] = [];
    for (const it of items) parts.push(this.process(it));
    return concatPcm(parts);
  }
}

/**
 * Fills the lost slots of an ordered Opus packet stream: a missing packet (`undefined`) becomes the
 * concealment packet in the mode of the last one received, so a decoder runs its PLC for exactly
 * that 20 ms; a received packet passes through.
 */
export class PacketConcealer {
  #prevToc: number | undefined;

  /** The packet to store or decode for this slot. */
  next(packet: Uint8Array | undefined): Uint8Array {
    if (packet === undefined) return concealmentPacket(this.#prevToc);
    this.#prevToc = packet[0];
    return packet;
  }
}
