/**
 * Runs Noise test vectors in the common cacophony/snow JSON format against this
 * implementation. Pure: the caller reads the files and prints the results.
 */
import { bytesEqual, fromHex, toHex } from '../bytes.js';
import { x25519KeyPairFromSecret } from '../crypto.js';
import { isPlushlinkError } from '../errors.js';
import type { CipherState } from './cipher-state.js';
import { HandshakeState, type SplitResult } from './handshake-state.js';
import { SUITE } from './patterns.js';

/** One vector of the cacophony/snow format. */
export interface NoiseVector {
  protocol_name: string;
  init_prologue?: string;
  init_static?: string;
  init_ephemeral?: string;
  init_remote_static?: string;
  init_psks?: string[];
  resp_prologue?: string;
  resp_static?: string;
  resp_ephemeral?: string;
  resp_remote_static?: string;
  resp_psks?: string[];
  handshake_hash?: string;
  messages: { payload: string; ciphertext: string }[];
}

export type VectorOutcome = { status: 'passed' } | { status: 'skipped'; reason: string } | { status: 'failed'; reason: string };

/** True when the vector's suite is the one plushlink implements. */
export function isSupportedSuite(protocolName: string): boolean {
  return protocolName.endsWith(`_${SUITE}`) && !protocolName.includes('fallback');
}

function party(v: NoiseVector, initiator: boolean): HandshakeState {
  const p = initiator ? 'init' : 'resp';
  const hex = (k: string): string | undefined => (v as unknown as Record<string, string | undefined>)[`${p}_${k}`];
  const opt = (k: string): Uint8Array | undefined => {
    const h = hex(k);
    return h === undefined ? undefined : fromHex(h);
  };
  const s = opt('static');
  const e = opt('ephemeral');
  const psks = (initiator ? v.init_psks : v.resp_psks) ?? [];
  return new HandshakeState({
    protocolName: v.protocol_name,
    initiator,
    prologue: opt('prologue') ?? new Uint8Array(0),
    s: s ? x25519KeyPairFromSecret(s) : undefined,
    e: e ? x25519KeyPairFromSecret(e) : undefined,
    rs: opt('remote_static'),
    psks: psks.map(fromHex),
    random: () => {
      throw new Error('vector needs an ephemeral key it does not provide');
    },
  });
}

/** Runs one vector: both parties write and read every message and compare bytes. */
export function runVector(v: NoiseVector): VectorOutcome {
  if (!isSupportedSuite(v.protocol_name)) return { status: 'skipped', reason: 'other suite' };
  try {
    const init = party(v, true);
    const resp = party(v, false);
    const oneWay = init.pattern.oneWay;
    let initSplit: SplitResult | undefined;
    let respSplit: SplitResult | undefined;
    for (let i = 0; i < v.messages.length; i++) {
      const msg = v.messages[i]!;
      const fromInit = oneWay || i % 2 === 0;
      const [w, r] = fromInit ? [init, resp] : [resp, init];
      const payload = fromHex(msg.payload);
      const expected = fromHex(msg.ciphertext);
      let ct: Uint8Array;
      let pt: Uint8Array;
      if (!init.finished || !resp.finished) {
        ct = w.writeMessage(payload);
        if (!bytesEqual(ct, expected)) return { status: 'failed', reason: `message ${i}: ciphertext ${toHex(ct)} != ${msg.ciphertext}` };
        pt = r.readMessage(ct);
        if (init.finished && resp.finished) {
          initSplit = init.split();
          respSplit = resp.split();
          if (v.handshake_hash && !bytesEqual(initSplit.handshakeHash, fromHex(v.handshake_hash))) {
            return { status: 'failed', reason: `handshake hash ${toHex(initSplit.handshakeHash)} != ${v.handshake_hash}` };
          }
          if (!bytesEqual(initSplit.handshakeHash, respSplit.handshakeHash)) return { status: 'failed', reason: 'parties disagree on handshake hash' };
        }
      } else {
        const send: CipherState = fromInit ? initSplit!.send : respSplit!.send;
        const recv: CipherState = fromInit ? respSplit!.receive : initSplit!.receive;
        ct = send.encryptWithAd(new Uint8Array(0), payload);
        if (!bytesEqual(ct, expected)) return { status: 'failed', reason: `transport message ${i}: ciphertext mismatch` };
        pt = recv.decryptWithAd(new Uint8Array(0), ct);
      }
      if (!bytesEqual(pt, payload)) return { status: 'failed', reason: `message ${i}: payload mismatch` };
    }
    return { status: 'passed' };
  } catch (e) {
    return { status: 'failed', reason: isPlushlinkError(e) ? `${e.code}: ${e.message}` : String(e) };
  }
}

export interface VectorSummary {
  passed: number;
  failed: number;
  skipped: number;
  failures: { protocolName: string; reason: string }[];
}

/** Runs every vector of a parsed file (`{ vectors: [...] }`). */
export function runVectorFile(json: { vectors: NoiseVector[] }): VectorSummary {
  const sum: VectorSummary = { passed: 0, failed: 0, skipped: 0, failures: [] };
  for (const v of json.vectors) {
    const r = runVector(v);
    if (r.status === 'passed') sum.passed++;
    else if (r.status === 'skipped') sum.skipped++;
    else {
      sum.failed++;
      sum.failures.push({ protocolName: v.protocol_name, reason: r.reason });
    }
  }
  return sum;
}
