/** Conversions between PCM and Ogg Opus bytes (encode + mux, demux + decode + trim). */
import { PlushlinkError } from '../protocol/errors.js';
import { decodePackets, encodePcm, OPUS_PRE_SKIP_48K, type OpusDecoder, type OpusEncoder, type OpusEncoderOptions } from './opus-codec.js';
import { readOggOpus, writeOggOpus, type OggOpusFile, type OggOpusWriterOptions } from './ogg-opus.js';

/** Joins PCM chunks into one buffer (returns the only chunk itself when there is one). */
export function concatPcm(parts: readonly Int16Array[]): Int16Array {
  if (parts.length === 1) return parts[0]!;
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Int16Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Encodes mono 16 kHz PCM to a complete Ogg Opus file (pre-skip 312, end trimmed to the exact
 * sample count). Pass `encoder` to reuse a long-lived encoder.
 */
export function pcmToOggOpus(
  pcm: Int16Array,
  options: OpusEncoderOptions & Omit<OggOpusWriterOptions, 'preSkip' | 'channels'> & { encoder?: OpusEncoder } = {},
): Uint8Array {
  const { packets, sampleCount } = encodePcm(pcm, options);
  return writeOggOpus(packets, { ...options, preSkip: OPUS_PRE_SKIP_48K, channels: 1, sampleCount });
}

/**
 * Decodes an Ogg Opus file (bytes or an already-read {@link OggOpusFile}) to mono 16 kHz PCM,
 * dropping the pre-skip and trimming the end to the final granule position.
 * @throws PlushlinkError `BAD_OGG` for a malformed file or one that is not mono/stereo family 0,
 *   `CODEC_ERROR` for an undecodable packet.
 */
export async function oggOpusToPcm(input: Uint8Array | OggOpusFile, options: { decoder?: OpusDecoder } = {}): Promise<Int16Array> {
  const file = input instanceof Uint8Array ? readOggOpus(input) : input;
  if (file.head.mappingFamily !== 0) {
    throw new PlushlinkError('BAD_OGG', 'only channel mapping family 0 (mono/stereo) can be decoded', { mappingFamily: file.head.mappingFamily });
  }
  return decodePackets(file.packets, {
    ...(options.decoder ? { decoder: options.decoder } : {}),
    preSkip: Math.round(file.head.preSkip / 3),
    sampleCount: Math.round(file.sampleCount48k / 3),
  });
}
