/**
 * The checks of the toy conformance run, one per requirement of docs/PROTOCOL.md, in the order
 * they run. The table in docs/CONFORMANCE.md is this list.
 */
import type { CheckDefinition } from './types.js';

const c = (name: string, section: string, sends: string, expects: string): CheckDefinition => ({ name, section, sends, expects });

export const CHECKS: readonly CheckDefinition[] = [
  c('pairing.qr.mtu23', '§2, §6, §6.4', 'pairing by QR over a central that asks for ATT MTU 23', 'PAIR_M2 with role owner, ADVERTISING_KEY after CONFIRM; every value ≤ MTU − 3'),
  c('goodbye.before-disconnect', '§10.1, §13.5', 'REMOVE_PAIRING of itself from the companion of pairing.qr.mtu23 (a GOODBYE is 2 indications at MTU 23)', 'RESULT OK, then the whole GOODBYE PAIRING_REMOVED before the link ends: the toy waits for its indication confirmations'),
  c('pairing.qr.mtu185', '§2, §6, §6.4', 'pairing by QR at MTU 185', 'as above'),
  c('pairing.qr.mtu247', '§2, §6, §6.4', 'pairing by QR at MTU 247', 'as above'),
  c('pairing.code.mtu23', '§2, §6, §6.4', 'INFO_REQUEST then pairing with the typed code at MTU 23', 'INFO_RESPONSE with the toy key, then as above'),
  c('pairing.code.mtu185', '§2, §6, §6.4', 'typed-code pairing at MTU 185', 'as above'),
  c('pairing.code.mtu247', '§2, §6, §6.4', 'typed-code pairing at MTU 247', 'as above'),
  c('pairing.info-request-in-window', '§4, §6, §13.2', 'INFO_REQUEST while the pairing window is open', 'INFO_RESPONSE version 1 with the key of the QR label'),
  c('refusal.stranger-control-before-session', '§4, §11', 'a RECORD (and a forged MIC_START record) before any handshake', 'exactly one ERROR NOT_AUTHENTICATED (retry-after 0) per message; link stays up'),
  c('refusal.stranger-speaker-before-session', '§4, §11', 'an audio record on speaker before any handshake', 'no answer at all; link stays up and still answers INFO_REQUEST'),
  c('refusal.wrong-setup-code', '§6.3, §11, §13.2', 'PAIR_M1 made with a wrong setup code, inside the window', 'ERROR HANDSHAKE_FAILED, then the toy disconnects'),
  c('backoff.rate-limited', '§11, §13.2', 'PAIR_M1 again right after a failed attempt; again after the retry-after', 'the failure carries retry-after ≥ 1 s; then RATE_LIMITED with 1 ≤ retry-after ≤ that, link stays up; after it, PAIR_M1 is read (PAIR_M2)'),
  c('session.handshake-kind-dropped', '§4, §13.9', 'a second PAIR_M1 on a link whose PAIR_M1 the toy answered with PAIR_M2 (a session, unconfirmed)', 'nothing: dropped without an answer; link stays up'),
  c('pairing.qr', '§6, §6.4, §13.2', 'pairing by QR (the run\'s owner)', 'role owner in one round trip; ADVERTISING_KEY; the toy then advertises owned, window closed'),
  c('refusal.info-request-outside-window', '§11, §13.2', 'INFO_REQUEST to the owned toy, window closed', 'ERROR NOT_IN_PAIRING_MODE retry-after 0, no INFO_RESPONSE, link stays up'),
  c('refusal.pairing-outside-window', '§11, §13.2', 'a fresh PAIR_M1 with the right code, window closed', 'ERROR NOT_IN_PAIRING_MODE retry-after 0, link stays up'),
  c('refusal.replayed-pair-m1', '§6.3, §14.2', 'a PAIR_M1 the toy read (PAIR_M2) but never confirmed, replayed after the window closed', 'ERROR NOT_IN_PAIRING_MODE; its key is not on LIST_PAIRINGS'),
  c('reconnect.one-round-trip', '§6, §13.4', 'RECONNECT_M1 bound to the current slot, from the owner', 'RECONNECT_M2 in one round trip, role owner, the advertising key in the hello'),
  c('control.get-info', '§10.1, §10.3, §13.8', 'GET_INFO', 'RESULT OK with a toy-info body'),
  c('control.get-battery', '§10.1, §10.3, §13.8', 'GET_BATTERY (when the battery capability is announced)', 'RESULT OK: percent 0..100, charging 0/1; else UNSUPPORTED'),
  c('control.set-volume', '§10.1, §13.8', 'SET_VOLUME to another value, then back', 'RESULT OK echoing the volume; GET_INFO shows it'),
  c('control.list-pairings', '§10.1, §10.3, §13.5', 'LIST_PAIRINGS from the owner', 'RESULT OK listing the owner with role owner'),
  c('reconnect.stale-slot', '§6, §13.4, §14.3', 'the owner\'s RECONNECT_M1 bound to the advertising slot two before the current one', 'ERROR HANDSHAKE_FAILED retry-after 0, then disconnect'),
  c('speaker.status-after-start', '§13.6', 'SPEAKER_START', 'RESULT OK, then a SPEAKER_STATUS right away'),
  c('speaker.status-body', '§10.1', 'a speaker stream (start, 10 frames, end)', 'every SPEAKER_STATUS plaintext is 13 bytes (11-byte body), state 0..4'),
  c('speaker.stream', '§9, §13.6', '10 frames in 2 audio records, SPEAKER_END', 'frames played, SPEAKER_STATUS done after the end'),
  c('speaker.audio-outside-stream', '§13.6', '5 frames after the stream reported done, without a new SPEAKER_START', 'no SPEAKER_STATUS: audio while no stream is open is dropped'),
  c('speaker.counters-cumulative', '§10.1, §13.6', 'a new SPEAKER_START after a stream that ended done', 'its first SPEAKER_STATUS keeps frames played, underruns and overruns of the done report (cumulative since the toy started)'),
  c('microphone.stream', '§9, §13.7', 'MIC_START, then MIC_STOP', 'RESULT OK with u32 first frame; records that open numbered from it; MIC_STATUS active 0 with next frame'),
  c('microphone.stop-order', '§13.7', 'MIC_STOP (from microphone.stream)', 'RESULT OK before MIC_STATUS active 0'),
  c('control.allow-guest-pairing', '§10.1, §13.2', 'ALLOW_GUEST_PAIRING from the owner, then a button hold', 'RESULT OK; the hold opens a window'),
  c('advertising.tag-changes-with-flags', '§12', 'ALLOW_GUEST_PAIRING and a button hold: the owned toy\'s flags go from 0x02 to 0x03 within a slot', 'a new address and a new tag (the slot\'s change counter), which the owner still resolves'),
  c('pairing.code', '§6, §13.2', 'a guest pairs with the typed code', 'INFO_RESPONSE, PAIR_M2 with role guest (two round trips)'),
  c('control.guest-refused', '§10.2, §13.5', 'LIST_PAIRINGS, ALLOW_GUEST_PAIRING, REMOVE_PAIRING(owner) from a guest', 'RESULT NOT_OWNER each; GET_INFO OK'),
  c('control.guest-remove-unknown', '§13.5', 'REMOVE_PAIRING of a key id nobody has, from a guest', 'RESULT NOT_OWNER (who before what: a guest learns nothing of the allow-list)'),
  c('allow-list.full', '§6.3, §11, §13.5', 'three more guests, then a sixth companion pairs', 'ERROR ALLOW_LIST_FULL, disconnect'),
  c('removal.owner-removes-guest', '§10.4, §13.5', 'REMOVE_PAIRING of a connected guest, from the owner', 'ADVERTISING_KEY to the owner before RESULT OK; GOODBYE PAIRING_REMOVED to the guest; its reconnect refused'),
  c('removal.guest-removes-itself', '§13.5', 'REMOVE_PAIRING of itself, from a guest', 'RESULT OK, then GOODBYE PAIRING_REMOVED'),
  c('advertising.tag-rotates-per-slot', '§12', 'nothing: the run waits for the next 10-minute slot', 'a new tag that resolves under the new slot'),
  c('advertising.address-moves-with-data', '§12', 'nothing: the run watches every advertisement across the slot change', 'each address carries one service data; a new address comes with new data only'),
  c('handshake.deadline', '§13.3', 'a connection that sends nothing', 'ERROR TIMEOUT and a disconnect 5 s after connecting'),
  c('factory-reset', '§13.5', 'the factory reset (resetToy)', 'GOODBYE FACTORY_RESET to the owner\'s session; the owner\'s reconnect refused; the toy advertises unowned'),
];

/** The definition of a check by name. */
export function checkDefinition(name: string): CheckDefinition {
  const d = CHECKS.find((x) => x.name === name);
  if (!d) throw new Error(`unknown conformance check ${name}`);
  return d;
}
