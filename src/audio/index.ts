/**
 * plushlink audio: Opus encode/decode with loss concealment, Ogg Opus and WAV containers, the
 * input path that turns any WAV or Ogg Opus file into voice (input.ts), and the microphone
 * jitter buffer. Voice format: mono, 16 kHz, 20 ms frames (320 samples), 12–32 kbit/s.
 */
export {
  SAMPLE_RATE,
  FRAME_SAMPLES,
  FRAME_MS,
  ENCODER_LOOKAHEAD_SAMPLES,
  OPUS_PRE_SKIP_48K,
  MIN_BITRATE,
  MAX_BITRATE,
  DEFAULT_BITRATE,
  OpusEncoder,
  OpusDecoder,
  encodePcm,
  decodePackets,
  floatToInt16,
  type OpusEncoderOptions,
  type OpusDecoderStats,
  type EncodedPcm,
  type DecodePacketsOptions,
} from './opus-codec.js';
export {
  parseOpusPacket,
  concealmentPacket,
  opusConfigFrameSamples48k,
  OPUS_MAX_FRAME_BYTES,
  OPUS_MAX_PACKET_SAMPLES_48K,
  type OpusPacketInfo,
  type OpusMode,
  type OpusBandwidth,
} from './opus-packet.js';
export {
  OggOpusWriter,
  writeOggOpus,
  readOggOpus,
  oggCrc32,
  encodeOpusHead,
  encodeOpusTags,
  parseOpusHead,
  parseOpusTags,
  type OggOpusFile,
  type OggOpusWriterOptions,
  type OpusHead,
  type OpusTags,
} from './ogg-opus.js';
export { encodeWav, decodeWav, type WavAudio } from './wav.js';
export { pcmToOggOpus, oggOpusToPcm } from './convert.js';
export {
  sniffAudio,
  downmixToMono,
  resampleMono,
  toVoicePcm,
  decodeAudioToVoicePcm,
  voicePacketsFromAudio,
  voiceMessageAudio,
  MIN_INPUT_RATE,
  MAX_INPUT_RATE,
  type AudioContainer,
  type PcmAudio,
  type VoiceEncodeOptions,
  type VoiceInput,
} from './input.js';
export { readWavFile, writeWavFile, readOggOpusFile, writeOggOpusFile, OggOpusFileWriter } from './files.js';
export {
  JitterBuffer,
  type JitterOutput,
  type JitterBufferOptions,
  type JitterBufferStats,
} from './jitter-buffer.js';
export {
  ConcealingDecoder,
  type ConcealingDecoderOptions,
  type ConcealingDecoderStats,
} from './concealing-decoder.js';
