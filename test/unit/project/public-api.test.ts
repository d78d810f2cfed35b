/**
 * The public API, pinned: every subpath of package.json "exports" and the sorted list of names
 * (values and types) its entry file exports, compared for exact equality. Growing (or shrinking)
 * the API is then a visible decision in a diff of this file, never a side effect of an
 * `export *` somewhere below an entry. The subpaths and their audiences are in README ("Using it
 * in an app"); each entry file's TSDoc says what belongs there.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../../..');

/** The entry source of each subpath (what tsconfig "paths" and the vitest aliases map it to). */
const ENTRIES: Record<string, string> = {
  '.': 'src/index.ts',
  './toy': 'src/toy.ts',
  './audio': 'src/audio/index.ts',
  './messages': 'src/messages/index.ts',
  './protocol': 'src/protocol/index.ts',
  './testing': 'src/testing.ts',
};

const API: Record<string, string[]> = {
  '.': [
    'Advertisement', 'CHARACTERISTIC_UUIDS', 'CONTROL_CHARACTERISTIC_UUID', 'Capability', 'Central', 'CentralConnectOptions', 'CentralLink',
    'CentralLinkEvents', 'CharacteristicName', 'Companion', 'CompanionEvents', 'CompanionOptions', 'ConnectOptions', 'ControlResult', 'CryptoBackend',
    'CryptoBackendInfo', 'DiscoveredToy', 'ErrorCode', 'FileKeystore', 'GoodbyeReason', 'GoodbyeReasonName', 'Keystore', 'KeystoreData',
    'MAX_ATT_MTU', 'MICROPHONE_CHARACTERISTIC_UUID', 'MIN_ATT_MTU', 'MicFrame', 'MicStartOptions', 'MicStatus', 'Microphone', 'MicrophoneEvents',
    'MicrophoneStats', 'MicrophoneStream', 'NobleCentral', 'NobleCentralOptions', 'NobleLike', 'NotifyingCharacteristic', 'OperationOptions',
    'PLUSHLINK_SERVICE_UUID', 'PROTOCOL_VERSION', 'PairOptions', 'PairedToy', 'PairingRole', 'PlayOptions', 'PlayProgress', 'PlayResult',
    'PlushlinkError', 'RequestOptions', 'SPEAKER_CHARACTERISTIC_UUID', 'ScanOptions', 'SetupCode', 'SetupQr', 'Speaker', 'SpeakerEvents',
    'SpeakerSource', 'SpeakerStatus', 'ToyHello', 'ToySession', 'ToySessionEvents', 'UnpairedReason', 'WritableCharacteristic', 'cryptoBackend', 'formatSetupCode',
    'goodbyeReasonName', 'isPlushlinkError', 'parseSetupCode', 'parseSetupInput', 'parseSetupQr', 'pureCryptoBackend', 'toyKeyFingerprint',
    'useCryptoBackend',
  ],
  './toy': [
    'BlenoPeripheral', 'BlenoPeripheralOptions', 'CharacteristicName', 'ErrorCode', 'FileToyStorage', 'MemoryToyStorage', 'MicrophoneSource',
    'NotifyingCharacteristic', 'Peripheral', 'PeripheralEvents', 'PeripheralLink', 'PeripheralLinkEvents', 'PlushlinkError', 'ReferenceToy',
    'ReferenceToyEvents', 'ReferenceToyOptions', 'RefusalKind', 'SetupCode', 'SpeakerBuffer', 'SpeakerStats', 'ToyAction', 'ToyConfig', 'ToyCore',
    'ToyCoreOptions', 'ToyLogEvent', 'ToyPairing', 'ToyPersistentState', 'ToyRefusalCounts', 'ToyStorage', 'WritableCharacteristic', 'X25519KeyPair',
    'companionKeyId', 'formatSetupCode', 'formatSetupQr', 'generateSetupCode', 'generateX25519KeyPair', 'isPlushlinkError', 'x25519KeyPairFromSecret',
  ],
  './testing': [
    'CONFORMANCE_CHECKS', 'CheckDefinition', 'CheckResult', 'ConformanceClock', 'ConformanceOptions', 'ConformanceReport', 'DisconnectReason',
    'LinkFaults', 'LinkStats', 'MemoryCentralOptions', 'MemoryKeystore', 'MemoryPeripheralOptions', 'MemoryRadio', 'MemoryRadioEvents',
    'MemoryRadioOptions', 'MemoryTarget', 'MemoryTargetOptions', 'MemoryToyParts', 'MemoryToyStorage', 'NobleSimOptions', 'NobleSimRadio',
    'RadioFaults', 'ReferenceToy', 'ReferenceToyOptions', 'Verdict', 'createNobleSimRadio', 'memoryConformanceTarget', 'renderConformanceJson',
    'renderConformanceText', 'runConformance', 'wallClock',
  ],
  './audio': [
    'AudioContainer', 'ConcealingDecoder', 'ConcealingDecoderOptions', 'ConcealingDecoderStats', 'DEFAULT_BITRATE', 'DecodePacketsOptions',
    'ENCODER_LOOKAHEAD_SAMPLES', 'EncodedPcm', 'FRAME_MS', 'FRAME_SAMPLES', 'JitterBuffer', 'JitterBufferOptions', 'JitterBufferStats',
    'JitterOutput', 'MAX_BITRATE', 'MAX_INPUT_RATE', 'MIN_BITRATE', 'MIN_INPUT_RATE', 'OPUS_MAX_FRAME_BYTES', 'OPUS_MAX_PACKET_SAMPLES_48K',
    'OPUS_PRE_SKIP_48K', 'OggOpusFile', 'OggOpusFileWriter', 'OggOpusWriter', 'OggOpusWriterOptions', 'OpusBandwidth', 'OpusDecoder',
    'OpusDecoderStats', 'OpusEncoder', 'OpusEncoderOptions', 'OpusHead', 'OpusMode', 'OpusPacketInfo', 'OpusTags', 'PcmAudio', 'SAMPLE_RATE',
    'VoiceEncodeOptions', 'VoiceInput', 'WavAudio', 'concealmentPacket', 'decodeAudioToVoicePcm', 'decodePackets', 'decodeWav', 'downmixToMono',
    'encodeOpusHead', 'encodeOpusTags', 'encodePcm', 'encodeWav', 'floatToInt16', 'oggCrc32', 'oggOpusToPcm', 'opusConfigFrameSamples48k',
    'parseOpusHead', 'parseOpusPacket', 'parseOpusTags', 'pcmToOggOpus', 'readOggOpus', 'readOggOpusFile', 'readWavFile', 'resampleMono',
    'sniffAudio', 'toVoicePcm', 'voiceMessageAudio', 'voicePacketsFromAudio', 'writeOggOpus', 'writeOggOpusFile', 'writeWavFile',
  ],
  './messages': [
    'ClearableStore', 'CreateMailboxAnswer', 'CreateMailboxBody', 'DEFAULT_MAX_SKEW_S', 'DeleteMailboxAnswer', 'DeleteReceiptsAnswer',
    'DeliveryEventSink', 'DeliveryEvents', 'DeliveryRelay', 'DeliveryStore', 'DiscardAnswer', 'DurableFileSystem', 'ENVELOPE_LAYOUT', 'ExpiredEntry',
    'FAMILY_KEY_CODE_PREFIX', 'FAMILY_KEY_CODE_VERSION', 'FIXED_HEADER_LEN', 'FailedDelivery', 'FamilyDirectory', 'FamilyIdentity', 'FamilyPublicKey',
    'FetchInit', 'FetchLike', 'FetchResponse', 'FileInboxStore', 'FileInboxStoreOptions', 'FlushOptions', 'FlushReport', 'FolderRelay',
    'FolderRelayOptions', 'FollowOptions', 'ForgetAllOptions', 'ForgetAllReport', 'HeaderSource', 'HealthAnswer', 'HttpRelay', 'HttpRelayEvents',
    'HttpRelayOptions', 'ID_HEX_RE', 'Inbox', 'InboxEvents', 'InboxOptions', 'InboxRelay', 'InboxStore', 'InboxSyncOptions', 'InboxSyncReport',
    'InvalidReceipt', 'InvalidReceiptReason', 'KEY_HEX_RE', 'KEY_ID_LEN', 'ListPendingOptions', 'MAX_AUDIO_BYTES', 'MAX_LIST', 'MAX_NAME_BYTES',
    'MAX_RECIPIENTS', 'MAX_WAIT_S', 'MESSAGE_ID_LEN', 'MailboxAnswer', 'MemoryInboxStore', 'OpenMessageFileOptions', 'OpenVoiceMessageOptions',
    'OpenedVoiceMessage', 'Outbox', 'OutboxAddResult', 'OutboxEntry', 'OutboxEvents', 'OutboxOptions', 'OutboxSyncOptions',
    'PER_MAILBOX_UPLOAD_PROBLEMS', 'PendingAnswer', 'PendingDelivery', 'PendingEntry', 'ProblemAnswer', 'RECEIPT_CURSOR_RE', 'RELAY_API_PREFIX',
    'RELAY_PROBLEMS', 'ReceiptAnswer', 'ReceiptBody', 'ReceiptEntry', 'ReceiptsAnswer', 'ReceivedMessageInfo', 'Relay', 'RelayCallOptions',
    'RelayProblemCode', 'RelayRequestInfo', 'RelayUploadResult', 'RemovedFiles', 'RequestSigner', 'ResolvedRecipients', 'RetentionOptions',
    'RetentionPolicy', 'RetentionReport', 'SIGNATURE_ALG', 'SIGNATURE_COMPONENTS', 'SIGNATURE_LABEL', 'SIGNATURE_NONCE_LEN', 'SIGNATURE_TAG',
    'SealMessageFileOptions', 'SealVoiceMessageOptions', 'SenderAnswer', 'SignRequestOptions', 'SignableRequest', 'SignatureHeaders', 'SleepFn',
    'SyncOutboxOptions', 'SyncOutboxReport', 'UploadAnswer', 'UploadOptions', 'UploadResult', 'VOICE_MESSAGE_MAGIC', 'VOICE_MESSAGE_VERSION',
    'VerifiedRequest', 'VerifyRequestOptions', 'VoiceMessageInfo', 'VoiceMessageRecipient', 'VoiceMessageSender', 'WritableFile', 'applyRetention',
    'contentDigest', 'envelopeHash', 'familyIdentityFromSecrets', 'familyKeyCode', 'familyKeyFingerprint', 'familyPublicKey', 'flushOutbox',
    'forgetAll', 'generateFamilyIdentity', 'inspectVoiceMessage', 'isMessageId', 'isRelayProblemCode', 'keyIdHexOf', 'keyIdOf', 'listOutbox',
    'loadFamilyIdentity', 'loadOrCreateFamilyIdentity', 'mailboxIdOf', 'nodeFileSystem', 'openMessageFile', 'openVoiceMessage', 'parseFamilyIdentity',
    'parseFamilyKeyCode', 'peekMessageId', 'peekVoiceMessage', 'problemType', 'receiptMessage', 'relayPaths', 'resolveRecipients', 'sameFamilyKey',
    'saveFamilyIdentity', 'sealMessageFile', 'sealVoiceMessage', 'serializeFamilyIdentity', 'signDeliveryReceipt', 'signRequest', 'signatureBase',
    'syncOutbox', 'verifyDeliveryReceipt', 'verifyRequest',
  ],
  './protocol': [
    'ADVERTISING_KEY_LEN', 'ADV_DATA_LEN', 'ADV_FLAG_OWNED', 'ADV_FLAG_PAIRING', 'ADV_SLOT_SECONDS', 'ADV_TAG_LEN', 'AEAD_NONCE_LEN',
    'AUDIO_FORMATS_SUPPORTED', 'AUDIO_FORMATS_V1', 'AdvertisementInfo', 'AudioBatch', 'AudioFormats', 'BatteryInfo', 'CROCKFORD_ALPHABET',
    'Capability', 'Channel', 'CipherState', 'CompanionHandshake', 'CompanionHandshakeOptions', 'CompanionHello', 'ControlMessage', 'ControlRequest',
    'ControlType', 'CryptoBackend', 'CryptoBackendInfo', 'DEFAULT_MAX_MESSAGE', 'DEFAULT_REKEY_INTERVAL_MS', 'DH_LEN', 'EPOCH_SIZE', 'Ed25519KeyPair', 'Ed25519Verifier',
    'ErrorCode', 'FRAG_END', 'FRAG_START', 'FRAME_MS', 'Fragmenter', 'GoodbyeReason', 'GoodbyeReasonName', 'HASH_LEN', 'HKDF_MAX_LEN', 'HandshakeMode',
    'HandshakeOptions', 'HandshakePattern', 'HandshakeState', 'KEY_LEN', 'MAX_COUNTER', 'MAX_FRAMES_PER_RECORD', 'MAX_FRAME_BYTES',
    'MAX_NOISE_MESSAGE', 'MIN_FRAGMENT_PAYLOAD', 'MessagePattern', 'NoiseVector', 'OpenedRecord', 'PAIRING_PROTOCOL', 'PAYLOAD_VERSION',
    'PROTOCOL_VERSION', 'PSK_LEN', 'PairingEntry', 'PairingRole', 'PlushlinkError', 'QR_PREFIX', 'RECONNECT_PROTOCOL', 'RECORD_HEADER_LEN',
    'RECORD_OVERHEAD', 'RandomSource', 'Reassembler', 'ReassemblyResult', 'RecordReceiver', 'RecordSender', 'RefusalCode', 'RefusalName',
    'ResultStatus', 'ResultStatusName', 'SETUP_CODE_BITS', 'SETUP_CODE_SYMBOLS', 'SUITE', 'SecureChannel', 'SecureChannelOptions', 'SessionKeys',
    'SetupCode', 'SetupQr', 'SpeakerState', 'SplitResult', 'SymmetricState', 'TAG_LEN', 'TlvMap', 'Token', 'ToyHandshakeOptions', 'ToyHello',
    'ToyInfo', 'ToyReadResult', 'VectorOutcome', 'VectorSummary', 'WireKind', 'WireMessage', 'X25519KeyPair', 'advertisingSlot', 'advertisingTag',
    'aeadOpen', 'aeadSeal', 'aeadSealWithHeader', 'audioFrameJoinsBatch', 'audioPayloadFrameCount', 'audioPayloadSize', 'base32Decode',
    'base32Encode', 'buildAdvertisement', 'bytesEqual', 'chachaNonce', 'channelKey', 'companionKeyId', 'concatBytes', 'crockfordValue',
    'cryptoBackend', 'decodeAudioPayload', 'decodeBattery', 'decodeCompanionHello', 'decodeControl', 'decodeMicStartResult', 'decodePairings', 'decodeTlv', 'decodeToyHello',
    'decodeToyInfo', 'decodeWire', 'ed25519KeyPairFromSeed', 'ed25519Sign', 'ed25519Verify', 'encodeAudioPayload', 'encodeAudioPayloadInto',
    'encodeBattery', 'encodeCompanionHello', 'encodeControl', 'encodeMicStartResult', 'encodePairings', 'encodeTlv', 'encodeToyHello', 'encodeToyInfo', 'encodeWire',
    'firstFragmentKind', 'formatSetupCode', 'formatSetupQr', 'framesIn', 'framesPerRecord', 'fromBase64', 'fromBase64Url', 'fromHex', 'fromUtf8', 'generateEd25519KeyPair', 'generateSetupCode',
    'generateX25519KeyPair', 'getPattern', 'goodbyeReasonName', 'handshakePrologue', 'hkdfSha512', 'hmacSha512', 'isLowOrderX25519Key', 'isPlushlinkError', 'isSmallOrderEd25519Key',
    'isSupportedSuite', 'msUntilNextSlot', 'nextEpochKey', 'noiseHkdf', 'parseAdvertisement', 'parseProtocolName', 'parseSetupCode',
    'parseSetupInput', 'parseSetupQr', 'pureCryptoBackend', 'randomBytes', 'readUint', 'reconnectReadSlot', 'refusalErrorCode',
    'resolveAdvertisingTag', 'runVector', 'runVectorFile', 'setupCodeCheck', 'setupCodePsk', 'setupCodesEqual', 'sha512', 'toBase64', 'toBase64Url',
    'toHex', 'toyKeyFingerprint', 'toyReadMessage1', 'u16be', 'u32be', 'undecodableRequestAnswer', 'useCryptoBackend', 'usesEqualFrames', 'utf8',
    'wipe', 'withEd25519Policy', 'x25519', 'x25519KeyPairFromSecret', 'x25519PublicKey',
  ],
};

interface Compiled {
  program: ts.Program;
  checker: ts.TypeChecker;
}

function compile(): Compiled {
  const config = ts.getParsedCommandLineOfConfigFile(join(ROOT, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  if (!config) throw new Error('tsconfig.json does not parse');
  const program = ts.createProgram(
    Object.values(ENTRIES).map((f) => join(ROOT, f)),
    { ...config.options, noEmit: true },
  );
  return { program, checker: program.getTypeChecker() };
}

let compiled: Compiled | undefined;
const compiler = (): Compiled => (compiled ??= compile());

function moduleSymbol(file: string): ts.Symbol {
  const { program, checker } = compiler();
  const source = program.getSourceFile(join(ROOT, file));
  const symbol = source && checker.getSymbolAtLocation(source);
  if (!symbol) throw new Error(`${file} is not a module`);
  return symbol;
}

const resolved = (s: ts.Symbol): ts.Symbol => (s.flags & ts.SymbolFlags.Alias ? compiler().checker.getAliasedSymbol(s) : s);

/**
 * Names an `export *` of an entry (or of a module it re-exports) brings that the entry exports as
 * something else: TypeScript drops such a name silently (a star export loses to any other export
 * of the same name), so one name would mean two things in the sources.
 */
function shadowedStarExports(file: string): string[] {
  const { checker } = compiler();
  const entry = moduleSymbol(file);
  const byName = new Map(checker.getExportsOfModule(entry).map((s) => [s.name, resolved(s)]));
  const out: string[] = [];
  const visit = (source: ts.SourceFile, seen: Set<string>): void => {
    if (seen.has(source.fileName)) return;
    seen.add(source.fileName);
    for (const st of source.statements) {
      if (!ts.isExportDeclaration(st) || st.exportClause || !st.moduleSpecifier) continue;
      const target = checker.getSymbolAtLocation(st.moduleSpecifier);
      if (!target) continue;
      for (const s of checker.getExportsOfModule(target)) {
        const mine = byName.get(s.name);
        if (mine && mine !== resolved(s)) out.push(`${s.name} (from ${st.moduleSpecifier.getText()} in ${source.fileName.slice(ROOT.length + 1)})`);
      }
      const decl = target.valueDeclaration ?? target.declarations?.[0];
      if (decl && ts.isSourceFile(decl)) visit(decl, seen);
    }
  };
  visit(compiler().program.getSourceFile(join(ROOT, file))!, new Set());
  return out;
}

/** Every name each entry exports (values and types), sorted, as the compiler sees them. */
function exportedNames(file: string): string[] {
  return compiler()
    .checker.getExportsOfModule(moduleSymbol(file))
    .map((s) => s.name)
    .sort();
}

describe('the public API', () => {
  it('package.json "exports" has exactly these subpaths, each with its types, node and import entries', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string> | string> };
    expect(Object.keys(pkg.exports).filter((k) => k !== './package.json').sort()).toEqual(Object.keys(ENTRIES).sort());
    for (const [sub, file] of Object.entries(ENTRIES)) {
      const e = pkg.exports[sub] as Record<string, string>;
      const dist = `./dist/${file.replace(/\.ts$/, '')}`;
      expect(e.types, sub).toBe(`${dist}.d.ts`);
      expect(e.import, sub).toBe(`${dist}.js`);
      expect(e.node, sub).toMatch(/^\.\/dist\/src\/crypto-node\/entry(-[a-z]+)?\.js$/);
    }
  });

  it('tsconfig "paths" map each subpath to its entry source', () => {
    const paths = (JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { compilerOptions: { paths: Record<string, string[]> } }).compilerOptions.paths;
    for (const [sub, file] of Object.entries(ENTRIES)) expect(paths[sub === '.' ? 'plushlink' : `plushlink/${sub.slice(2)}`], sub).toEqual([`./${file}`]);
  });

  // the timeout only stops a hung compile (a whole-program type check on a loaded machine)
  it('each subpath exports exactly its pinned names', { timeout: 600_000 }, () => {
    for (const [sub, file] of Object.entries(ENTRIES)) expect(exportedNames(file), `plushlink${sub.slice(1)}`).toEqual(API[sub]);
  });

  it('no name of a subpath is silently shadowed by an `export *`', { timeout: 600_000 }, () => {
    for (const file of Object.values(ENTRIES)) expect(shadowedStarExports(file), file).toEqual([]);
  });

  it('no subpath leaks the file-system helpers', () => {
    for (const names of Object.values(API)) {
      for (const internal of ['hasErrno', 'isTempName', 'writeFileAtomic', 'writeFileAtomicPath', 'readIfExists', 'removeTempFiles']) expect(names).not.toContain(internal);
    }
  });

});
