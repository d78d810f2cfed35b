/**
 * `runConformance`: drives any toy through the public `Central` interface and judges it against
 * docs/PROTOCOL.md, one named check per requirement (./checks.ts, docs/CONFORMANCE.md). Happy
 * paths go through the library's own `Companion`; what a bad central would send goes over raw
 * links built from the protocol codecs (./raw.ts). Every check ends passed, failed (with what
 * was seen) or not-run (with why) — a check that did not run is never reported passed. The run
 * ends with a factory reset through `resetToy`, so the toy is left unowned.
 */
import { Companion } from '../companion/companion.js';
import { MemoryKeystore } from '../companion/keystore.js';
import type { ToySession } from '../companion/session.js';
import { ADV_MAX_CHANGE, advertisingSlot, advertisingTag, msUntilNextSlot, parseAdvertisement, resolveAdvertisingTag } from '../protocol/advertising.js';
import { bytesEqual, fromHex } from '../protocol/bytes.js';
import { companionKeyId, decodeBattery, decodeMicStartResult, decodePairings, decodeToyInfo } from '../protocol/control.js';
import { generateX25519KeyPair, x25519KeyPairFromSecret, type X25519KeyPair } from '../protocol/crypto.js';
import { isPlushlinkError, PlushlinkError } from '../protocol/errors.js';
import { Capability, CompanionHandshake } from '../protocol/handshake.js';
import { formatSetupCode, formatSetupQr, generateSetupCode, parseSetupInput, parseSetupQr, type SetupCode } from '../protocol/setup-code.js';
import { encodeWire, type WireMessage } from '../protocol/wire.js';
import type { Advertisement, Central } from '../transport/types.js';
import { CHECKS, checkDefinition } from './checks.js';
import { describeWire, hex, RawLink, RawSession } from './raw.js';
import type { CheckResult, ConformanceClock, ConformanceOptions, ConformanceReport, Verdict } from './types.js';

/** A check failed: `evidence` is what was seen instead. */
class Failed extends Error {}
/** A check could not run: `message` says why. */
class NotRun extends Error {}

const fail = (evidence: string): never => {
  throw new Failed(evidence);
};
function expect(cond: boolean, evidence: string): asserts cond {
  if (!cond) fail(evidence);
}

/** Silent 20 ms Opus frames (a CELT frame of digital silence); the toy plays them as silence. */
const SILENCE = Uint8Array.of(0xf8, 0xff, 0xfe);

/** The wall clock, advancing by sleeping. */
export function wallClock(): ConformanceClock {
  return { now: () => Date.now(), advance: (ms, signal) => sleep(ms, signal), simulated: false };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs every check against one toy and returns the report. The toy must be unowned and in range
 * (only one toy in pairing mode nearby). Needs `code` or `qr`.
 */
export async function runConformance(opts: ConformanceOptions): Promise<ConformanceReport> {
  if (!opts.code && !opts.qr) throw new PlushlinkError('BAD_SETUP_CODE', 'runConformance needs the toy\'s setup code or QR payload');
  const startedAt = new Date().toISOString();
  const signal = opts.signal ?? new AbortController().signal;
  const clock = opts.clock ?? wallClock();
  const answerMs = opts.answerWindowMs ?? 2000;
  const settle = opts.settle ?? ((s: AbortSignal) => sleep(answerMs, s));
  const opTimeout = opts.operationTimeoutMs ?? 30_000;
  const scanTimeout = opts.scanTimeoutMs ?? 15_000;
  const results = new Map<string, CheckResult>();
  const step = (s: string): void => opts.onStep?.(s);

  const setup = parseSetupInput((opts.qr ?? opts.code)!);
  const code: SetupCode = setup.code;
  let toyKey: Uint8Array | undefined = opts.qr ? parseSetupQr(opts.qr).toyPublicKey : undefined;
  const typedCode = opts.code ?? formatSetupCode(code);

  function record(name: string, verdict: Verdict, text: string): void {
    if (results.has(name)) return;
    const d = checkDefinition(name);
    const r: CheckResult = { name, section: d.section, verdict, ...(verdict === 'not-run' ? { reason: text } : { evidence: text }) };
    results.set(name, r);
    opts.onResult?.(r);
  }

  /** Runs one check; a thrown Failed fails it, NotRun skips it, anything else fails it with the error. */
  async function check(name: string, fn: () => Promise<string>): Promise<boolean> {
    if (results.has(name)) return results.get(name)!.verdict === 'passed';
    signal.throwIfAborted();
    step(name);
    try {
      record(name, 'passed', await fn());
      return true;
    } catch (e) {
      if (signal.aborted) throw e;
      if (e instanceof NotRun) record(name, 'not-run', e.message);
      else record(name, 'failed', e instanceof Failed ? e.message : `${isPlushlinkError(e) ? e.code + ': ' : ''}${(e as Error).message}`);
      return false;
    }
  }

  const notRun = (names: string[], reason: string): void => {
    for (const n of names) record(n, 'not-run', reason);
  };

  // ------------------------------------------------------------------ helpers

  const companions: Companion[] = [];
  const sessions: ToySession[] = [];
  const rawLinks: RawLink[] = [];

  async function newCompanion(name: string, central: Central = opts.central): Promise<{ companion: Companion; identity: X25519KeyPair }> {
    const keystore = new MemoryKeystore();
    const companion = await Companion.open({ central, keystore, displayName: name, clock: () => clock.now(), handshakeTimeoutMs: opTimeout, connectTimeoutMs: opTimeout });
    companions.push(companion);
    const data = (await keystore.load())!;
    return { companion, identity: x25519KeyPairFromSecret(fromHex(data.identity.secretKey)) };
  }

  const op = { timeoutMs: opTimeout, signal };

  /** The first advertisement that satisfies `pred`, from a fresh scan. */
  async function findAdvert(pred: (ad: Advertisement) => boolean, what: string, central: Central = opts.central): Promise<Advertisement> {
    const ctl = new AbortController();
    const onAbort = (): void => ctl.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => ctl.abort(), scanTimeout);
    try {
      for await (const ad of central.scan({ signal: ctl.signal })) if (pred(ad)) return ad;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      ctl.abort();
    }
    signal.throwIfAborted();
    throw new Failed(`no advertisement of ${what} within ${scanTimeout} ms of scanning`);
  }

  /** Every advertisement a scan reports until the toy has settled (a negative check: what is on the air now). */
  async function currentAdverts(): Promise<Advertisement[]> {
    const ctl = new AbortController();
    const seen: Advertisement[] = [];
    const scanning = (async () => {
      for await (const ad of opts.central.scan({ signal: ctl.signal })) seen.push(ad);
    })().catch(() => undefined);
    try {
      await settle(signal);
    } finally {
      ctl.abort();
      await scanning;
    }
    return seen;
  }

  const inWindow = (ad: Advertisement): boolean => {
    try {
      return parseAdvertisement(ad.serviceData).pairing;
    } catch {
      return false;
    }
  };

  /** A button hold, then the toy's transport id in pairing mode. */
  async function hold(central?: Central): Promise<string> {
    if (!opts.pressButton) throw new NotRun('needs the pairing button held on the toy (no pressButton given; the CLI asks a person unless --no-prompt)');
    await opts.pressButton(signal);
    await clock.advance(0, signal);
    return (await findAdvert(inWindow, 'a toy in pairing mode after the button hold', central)).id;
  }

  /** The owned toy's transport id, from the owner's view of the tags. */
  async function ownedToyId(owner: Companion): Promise<string> {
    return (await findAdvert((ad) => owner.classify(ad)?.kind === 'paired', 'the owned toy (its tag resolved by the owner)')).id;
  }

  async function rawConnect(id: string, central: Central = opts.central): Promise<RawLink> {
    const link = await central.connect(id, { signal, timeoutMs: opTimeout });
    const r = new RawLink(link, { settle, signal });
    rawLinks.push(r);
    return r;
  }

  /** A PAIR_M1 (wire bytes) of a throwaway companion identity. */
  function pairM1(key: Uint8Array, withCode: SetupCode): Uint8Array {
    return new CompanionHandshake('pair', { companion: generateX25519KeyPair(), toyPublicKey: key, hello: { displayName: 'conformance' }, setupCode: withCode }).wireMessage1();
  }

  async function rawSessionOf(id: string, identity: X25519KeyPair): Promise<RawSession> {
    const raw = await rawConnect(id);
    return RawSession.reconnect(raw, identity, toyKey!, advertisingSlot(clock.now()), clock.now());
  }

  const errorOf = async (p: Promise<unknown>): Promise<PlushlinkError> => {
    try {
      await p;
    } catch (e) {
      if (isPlushlinkError(e)) return e;
      throw e;
    }
    return fail('the operation succeeded');
  };

  const plaintextTypes = (ps: Uint8Array[]): string => ps.map((p) => `0x${p[0]!.toString(16)}/${p.length}B`).join(', ') || 'none';

  // Checks that run in more than one place (with the button, or on `toyId` without it).
  function strangerControl(id: string): Promise<boolean> {
    return check('refusal.stranger-control-before-session', async () => {
      const raw = await rawConnect(id);
      await raw.send('control', encodeWire({ kind: 'record', record: new Uint8Array(40).fill(7) }));
      const a = await raw.drain();
      // a forged MIC_START: a RECORD kind like any other before a session (§11)
      await raw.send('control', Uint8Array.of(0x10, 0, 0, 0, 0, ...new Uint8Array(16), 0x04, 0x01));
      const b = await raw.drain();
      const connected = !raw.disconnected;
      await raw.close();
      const seen = [...a, ...b].map(describeWire).join('; ') || 'nothing';
      expect(a.length === 1 && b.length === 1, `expected one ERROR per message, got: ${seen}`);
      for (const m of [a[0]!, b[0]!]) expect(m.kind === 'error' && m.refusal === 'NOT_AUTHENTICATED' && m.retryAfterSec === 0, `got ${seen}`);
      expect(connected, 'the toy disconnected (NOT_AUTHENTICATED keeps the link)');
      return 'ERROR NOT_AUTHENTICATED retry-after 0 for each of 2 messages; link kept';
    });
  }
  function strangerSpeaker(id: string): Promise<boolean> {
    return check('refusal.stranger-speaker-before-session', async () => {
      const raw = await rawConnect(id);
      await raw.send('speaker', new Uint8Array(4 + 16 + 4).fill(3));
      const a = await raw.drain();
      const mic = raw.microphone.length;
      expect(a.length === 0 && mic === 0, `the toy answered a speaker write before a session: ${a.map(describeWire).join('; ')}${mic ? `, ${mic} microphone values` : ''}`);
      expect(!raw.disconnected, 'the toy disconnected');
      await raw.send('control', encodeWire({ kind: 'info-request' }));
      const m = await raw.next();
      await raw.close();
      // in the window an INFO_RESPONSE, outside it NOT_IN_PAIRING_MODE (§13.2): either way the link still serves
      expect(m?.kind === 'info-response' || (m?.kind === 'error' && m.refusal === 'NOT_IN_PAIRING_MODE'), `afterwards INFO_REQUEST got ${describeWire(m)}`);
      return `no answer, link kept, INFO_REQUEST still answered (${describeWire(m)})`;
    });
  }
  function infoOutsideWindow(id: string): Promise<boolean> {
    return check('refusal.info-request-outside-window', async () => {
      const raw = await rawConnect(id);
      await raw.send('control', encodeWire({ kind: 'info-request' }));
      const all = await raw.drain();
      const kept = !raw.disconnected;
      await raw.close();
      const seen = all.map(describeWire).join('; ') || 'nothing';
      expect(all.length === 1 && all[0]!.kind === 'error' && all[0]!.refusal === 'NOT_IN_PAIRING_MODE' && all[0]!.retryAfterSec === 0, `INFO_REQUEST with the window closed got: ${seen}`);
      expect(kept, 'the toy disconnected');
      return `${seen}; link kept`;
    });
  }
  function pairingOutsideWindow(id: string, key: Uint8Array): Promise<boolean> {
    return check('refusal.pairing-outside-window', async () => {
      const raw = await rawConnect(id);
      await raw.send('control', pairM1(key, code));
      const all = await raw.drain();
      const kept = !raw.disconnected;
      await raw.close();
      const seen = all.map(describeWire).join('; ') || 'nothing';
      expect(all.length === 1 && all[0]!.kind === 'error' && all[0]!.refusal === 'NOT_IN_PAIRING_MODE' && all[0]!.retryAfterSec === 0, `PAIR_M1 with the window closed got: ${seen}`);
      expect(kept, 'the toy disconnected');
      return `${seen}; link kept`;
    });
  }
  function handshakeDeadline(): Promise<boolean> {
    return check('handshake.deadline', async () => {
      let id: string;
      if (ownerC && ownerC.toys().length) id = await ownedToyId(ownerC);
      else if (opts.toyId) id = opts.toyId;
      else throw new NotRun('the toy cannot be told apart from others in range (it is not owned by the run, and no toyId was given)');
      const raw = await rawConnect(id);
      await clock.advance(5000 + 500, signal);
      await settle(signal);
      const all = await raw.drain();
      const gone = raw.disconnected;
      await raw.close();
      const seen = all.map(describeWire).join('; ') || 'nothing';
      expect(all.length === 1 && all[0]!.kind === 'error' && all[0]!.refusal === 'TIMEOUT', `after 5.5 s without a handshake the toy sent: ${seen}`);
      expect(gone, 'the toy kept the link after TIMEOUT');
      return `${seen}, then disconnect`;
    });
  }

  // ------------------------------------------------------------------ the run

  let ownerC: Companion | undefined;
  let ownerId: X25519KeyPair | undefined;
  let ownerSession: ToySession | undefined;
  let leftUnowned: boolean | 'unknown' = 'unknown';
  let stopped = 'the run stopped before it';
  try {
    // 1. The MTU matrix: each pairing on its own window, undone by removing itself (§13.5).
    let goodbyeSeen: { mtu: number; said: string[]; closed: string } | undefined;
    for (const via of ['qr', 'code'] as const) {
      for (const mtu of [23, 185, 247]) {
        const name = `pairing.${via}.mtu${mtu}`;
        const central = opts.centralWithMtu?.(mtu);
        if (!central) {
          record(name, 'not-run', 'this transport does not let the run choose the ATT MTU');
          if (mtu === 23 && via === 'qr') record('goodbye.before-disconnect', 'not-run', 'needs a central at ATT MTU 23 (this transport does not let the run choose the MTU); removal.* and factory-reset check the GOODBYE at the link\'s MTU');
          continue;
        }
        await check(name, async () => {
          const id = await hold(central);
          const { companion } = await newCompanion(`mtu${mtu}-${via}`, central);
          let input = typedCode;
          if (via === 'qr') {
            if (!toyKey) {
              const raw = await rawConnect(id, central);
              await raw.send('control', encodeWire({ kind: 'info-request' }));
              const m = await raw.next();
              await raw.close();
              if (m?.kind !== 'info-response') return fail(`INFO_REQUEST in the window got ${describeWire(m)}`);
              toyKey = m.toyPublicKey;
            }
            input = formatSetupQr(code, toyKey);
          }
          const s = await companion.pair(id, input, op);
          sessions.push(s);
          expect(s.hello.role === 'owner', `role ${s.hello.role} for the first pairing`);
          expect(s.mtu <= mtu, `the link runs at MTU ${s.mtu}, above the ${mtu} asked for`);
          const stored = companion.toys()[0];
          expect(stored?.advertisingKey?.length === 64, 'no ADVERTISING_KEY arrived after the confirmation');
          const rt = s.roundTrips;
          // Its own removal ends in GOODBYE PAIRING_REMOVED (§13.5): seen only if the toy waited for it (§10.1).
          const said: string[] = [];
          s.on('goodbye', (why) => said.push(why));
          const closed = new Promise<string>((r) => s.once('close', (reason) => r(reason)));
          await companion.forget(stored!, { session: s });
          await settle(signal);
          if (mtu === 23 && via === 'qr') goodbyeSeen = { mtu: s.mtu, said, closed: await Promise.race([closed, settle(signal).then(() => 'the link stayed up')]) };
          return `paired at MTU ${s.mtu} in ${rt} round trip(s), role owner, advertising key received; removed itself again`;
        });
        if (mtu === 23 && via === 'qr') {
          await check('goodbye.before-disconnect', async () => {
            if (!goodbyeSeen) throw new NotRun('needs pairing.qr.mtu23 to pass');
            const { said, closed } = goodbyeSeen;
            expect(said.length === 1 && said[0] === 'PAIRING_REMOVED', `after RESULT OK to its own REMOVE_PAIRING at MTU ${goodbyeSeen.mtu} the companion saw ${said.length ? `GOODBYE ${said.join(', ')}` : 'no GOODBYE'}, then: ${closed}`);
            return `GOODBYE PAIRING_REMOVED at MTU ${goodbyeSeen.mtu}, then: ${closed}`;
          });
        }
      }
    }

    // 2. The first window of the main run: what a stranger may not do, the backoff, and the owner.
    let windowId: string | undefined;
    try {
      windowId = await hold();
    } catch (e) {
      if (e instanceof NotRun && opts.toyId) {
        // No button: what needs none runs on the toy the caller named (unowned, window closed).
        const id = opts.toyId;
        await strangerControl(id);
        await strangerSpeaker(id);
        await infoOutsideWindow(id);
        if (toyKey) await pairingOutsideWindow(id, toyKey);
        else record('refusal.pairing-outside-window', 'not-run', 'needs the toy key: give the QR payload');
        await handshakeDeadline();
      }
      if (e instanceof NotRun || e instanceof Failed) {
        notRun(
          CHECKS.map((d) => d.name).filter((n) => !results.has(n) && n !== 'handshake.deadline'),
          e instanceof NotRun ? e.message : `the toy did not open its pairing window: ${e.message}`,
        );
      } else throw e;
    }
    let replayed: Uint8Array | undefined;
    if (windowId !== undefined) {
      const id = windowId;
      await check('pairing.info-request-in-window', async () => {
        const raw = await rawConnect(id);
        await raw.send('control', encodeWire({ kind: 'info-request' }));
        const m = await raw.next();
        await raw.close();
        if (m?.kind !== 'info-response') return fail(`INFO_REQUEST in the window got ${describeWire(m)}`);
        expect(m.version === 1, `INFO_RESPONSE version ${m.version}`);
        if (toyKey) expect(bytesEqual(toyKey, m.toyPublicKey), 'INFO_RESPONSE carries a key other than the QR label\'s');
        toyKey = m.toyPublicKey;
        return 'INFO_RESPONSE version 1 with the toy key';
      });
      if (!toyKey) {
        notRun(CHECKS.map((d) => d.name).filter((n) => !results.has(n) && n !== 'handshake.deadline'), 'the toy key is unknown (no QR given and INFO_REQUEST failed)');
      } else {
        const key = toyKey;
        await strangerControl(id);
        await strangerSpeaker(id);
        let retryAfter = 0;
        const wrong = (): Uint8Array => {
          let w = generateSetupCode();
          while (w.secret === code.secret) w = generateSetupCode();
          return pairM1(key, w);
        };
        await check('refusal.wrong-setup-code', async () => {
          const raw = await rawConnect(id);
          await raw.send('control', wrong());
          const m = await raw.next();
          await settle(signal);
          const gone = raw.disconnected;
          await raw.close();
          if (m?.kind !== 'error' || m.refusal !== 'HANDSHAKE_FAILED') return fail(`PAIR_M1 with a wrong code got ${describeWire(m)}`);
          retryAfter = m.retryAfterSec;
          expect(gone, 'the toy kept the link after HANDSHAKE_FAILED');
          return `${describeWire(m)}, then disconnect`;
        });
        await check('backoff.rate-limited', async () => {
          if (results.get('refusal.wrong-setup-code')?.verdict !== 'passed') throw new NotRun('needs refusal.wrong-setup-code to pass');
          expect(retryAfter >= 1, `the failed attempt carried retry-after ${retryAfter} (a backoff of at least 1 s is due)`);
          // On a real link a new connection may take longer than a 1 s lock: a lock that ran out
          // first means another failure and a doubled lock (1, 2, 4 s), so up to three tries —
          // at most four failures in the window, which closes at five (§13.2).
          const seen = [`HANDSHAKE_FAILED retry-after ${retryAfter}`];
          let m: WireMessage | undefined;
          let kept = false;
          for (let attempt = 0; attempt < 3; attempt++) {
            const raw = await rawConnect(id);
            await raw.send('control', wrong());
            m = await raw.next();
            kept = !raw.disconnected;
            await raw.close();
            seen.push(describeWire(m));
            if (m?.kind !== 'error' || m.refusal !== 'HANDSHAKE_FAILED') break;
            expect(m.retryAfterSec > retryAfter, `the backoff did not grow: ${seen.join(', ')}`);
            retryAfter = m.retryAfterSec;
            await settle(signal);
          }
          if (m?.kind !== 'error' || m.refusal !== 'RATE_LIMITED') return fail(`PAIR_M1 during the backoff got: ${seen.join(', ')}`);
          expect(m.retryAfterSec >= 1 && m.retryAfterSec <= retryAfter, `RATE_LIMITED retry-after ${m.retryAfterSec}, the backoff was ${retryAfter}`);
          expect(kept, 'the toy disconnected after RATE_LIMITED');
          await clock.advance(m.retryAfterSec * 1000, signal);
          return `${seen.join('; ')}, link kept; read again after it (see refusal.replayed-pair-m1)`;
        });
        // A PAIR_M1 the toy reads (PAIR_M2) and that is never confirmed: kept to replay later.
        {
          const hs = new CompanionHandshake('pair', { companion: generateX25519KeyPair(), toyPublicKey: key, hello: { displayName: 'replayed' }, setupCode: code });
          const raw = await rawConnect(id);
          await raw.send('control', hs.wireMessage1());
          const m = await raw.next();
          if (m?.kind === 'pair-m2') {
            await check('session.handshake-kind-dropped', async () => {
              await raw.send('control', pairM1(key, code));
              const all = await raw.drain();
              const kept = !raw.disconnected;
              const seen = all.map(describeWire).join('; ') || 'nothing';
              // the link has a session from PAIR_M2 on: only RECORD counts, anything else is dropped unanswered (§4, §13.9)
              expect(all.length === 0, `a second PAIR_M1 after PAIR_M2 on one link got: ${seen}`);
              expect(kept, 'the toy disconnected');
              return 'no answer; link kept';
            });
          } else record('session.handshake-kind-dropped', 'not-run', `needs a PAIR_M1 the toy reads (it answered ${describeWire(m)})`);
          await raw.close();
          await settle(signal);
          if (m?.kind === 'pair-m2') replayed = hs.wireMessage1();
          else {
            record('refusal.replayed-pair-m1', 'failed', `a valid PAIR_M1 inside the window got ${describeWire(m)} instead of PAIR_M2`);
            if (results.get('backoff.rate-limited')?.verdict === 'passed') {
              results.delete('backoff.rate-limited');
              record('backoff.rate-limited', 'failed', `after the retry-after a valid PAIR_M1 got ${describeWire(m)}`);
            }
          }
        }
        const owner = await newCompanion('conformance owner');
        ownerC = owner.companion;
        ownerId = owner.identity;
        await check('pairing.qr', async () => {
          const s = await owner.companion.pair(id, formatSetupQr(code, key), op);
          sessions.push(s);
          ownerSession = s;
          expect(s.hello.role === 'owner', `role ${s.hello.role}`);
          expect(s.roundTrips === 1, `${s.roundTrips} round trips`);
          expect(owner.companion.toys()[0]?.advertisingKey?.length === 64, 'no ADVERTISING_KEY after the confirmation');
          await settle(signal);
          const ad = await findAdvert((a) => owner.companion.classify(a)?.kind === 'paired', 'the toy under a tag the new owner resolves');
          const info = parseAdvertisement(ad.serviceData);
          expect(info.owned && !info.pairing, `the toy advertises flags owned=${info.owned} pairing=${info.pairing}`);
          return 'role owner in 1 round trip, advertising key received; advertises owned with the window closed, tag resolved';
        });
      }
    }

    const paired = ownerC !== undefined && results.get('pairing.qr')?.verdict === 'passed';
    if (!paired) {
      notRun(
        CHECKS.map((d) => d.name).filter((n) => !results.has(n) && n !== 'handshake.deadline'),
        'needs the owner\'s pairing (pairing.qr) to pass',
      );
    } else {
      const owner = ownerC!;
      const key = toyKey!;
      const ownedId = await ownedToyId(owner);
      await infoOutsideWindow(ownedId);
      await pairingOutsideWindow(ownedId, key);
      await check('refusal.replayed-pair-m1', async () => {
        if (!replayed) throw new NotRun('no PAIR_M1 was read in the window to replay');
        const raw = await rawConnect(await ownedToyId(owner));
        await raw.send('control', replayed);
        const all = await raw.drain();
        await raw.close();
        const seen = all.map(describeWire).join('; ') || 'nothing';
        expect(all.length === 1 && all[0]!.kind === 'error' && all[0]!.refusal === 'NOT_IN_PAIRING_MODE', `the replayed PAIR_M1 got: ${seen}`);
        const list = decodePairings(await okBody(ownerSession!, { type: 'list-pairings' }));
        expect(list.length === 1, `LIST_PAIRINGS has ${list.length} entries after an unconfirmed pairing and its replay`);
        return `${seen}; LIST_PAIRINGS lists the owner only`;
      });
      await ownerSession?.close();
      await check('reconnect.one-round-trip', async () => {
        const s = await owner.connect(owner.toys()[0]!, op);
        sessions.push(s);
        ownerSession = s;
        expect(s.roundTrips === 1, `${s.roundTrips} round trips`);
        expect(s.hello.role === 'owner', `role ${s.hello.role}`);
        expect(s.hello.advertisingKey?.length === 32, 'the reconnect hello carries no advertising key');
        return 'RECONNECT_M2 in 1 round trip, role owner, advertising key in the hello';
      });
      if (!ownerSession?.open) {
        ownerSession = await owner.connect(owner.toys()[0]!, op);
        sessions.push(ownerSession);
      }
      let os = ownerSession;
      let volume = 70;
      await check('control.get-info', async () => {
        const info = decodeToyInfo(await okBody(os, { type: 'get-info' }));
        volume = info.volume;
        return `firmware "${info.firmwareVersion}", model "${info.model}", capabilities 0x${info.capabilities.toString(16)}, volume ${info.volume}`;
      });
      await check('control.get-battery', async () => {
        const r = await os.request({ type: 'get-battery' }, op);
        if (!(os.hello.capabilities & Capability.BATTERY)) {
          expect(r.status === 'UNSUPPORTED', `no battery capability, but GET_BATTERY answered ${r.status}`);
          return 'no battery capability: UNSUPPORTED';
        }
        expect(r.status === 'OK', `RESULT ${r.status}`);
        const b = decodeBattery(r.body);
        return `${b.percent} %${b.charging ? ', charging' : ''}`;
      });
      await check('control.set-volume', async () => {
        if (!(os.hello.capabilities & Capability.VOLUME)) throw new NotRun('the toy announces no volume capability');
        const other = volume === 40 ? 41 : 40;
        const echo = await okBody(os, { type: 'set-volume', volume: other });
        expect(echo.length === 1 && echo[0] === other, `SET_VOLUME ${other} echoed ${hex(echo)}`);
        const info = decodeToyInfo(await okBody(os, { type: 'get-info' }));
        expect(info.volume === other, `GET_INFO shows volume ${info.volume} after SET_VOLUME ${other}`);
        await okBody(os, { type: 'set-volume', volume });
        return `volume ${other} echoed and shown by GET_INFO; set back to ${volume}`;
      });
      await check('control.list-pairings', async () => {
        const list = decodePairings(await okBody(os, { type: 'list-pairings' }));
        const me = companionKeyId(owner.publicKey);
        expect(list.some((e) => e.keyId === me && e.role === 'owner'), `the owner is not listed as owner: ${JSON.stringify(list.map((e) => [e.keyId, e.role]))}`);
        return `${list.length} entry: the owner, role owner`;
      });

      // Speaker and microphone on a session made by hand, to see the toy's plaintext bytes. The
      // owner's session closes first: a BLE stack holds one link per peer (noble does).
      await os.close();
      await settle(signal);
      const toyId = await ownedToyId(owner).catch(() => undefined);
      let rs: RawSession | undefined;
      let rsError = '';
      await check('reconnect.stale-slot', async () => {
        if (!toyId) throw new NotRun('the owned toy was not found');
        const raw = await rawConnect(toyId);
        const slot = advertisingSlot(clock.now()) - 2;
        const hs = new CompanionHandshake('reconnect', { companion: ownerId!, toyPublicKey: key, hello: { displayName: 'stale slot' }, slot });
        await raw.send('control', hs.wireMessage1());
        const m = await raw.next();
        await settle(signal);
        const gone = raw.disconnected;
        await raw.close();
        expect(m?.kind === 'error' && m.refusal === 'HANDSHAKE_FAILED' && m.retryAfterSec === 0, `the owner's RECONNECT_M1 bound to a slot two back got ${describeWire(m)}`);
        expect(gone, 'the toy kept the link after HANDSHAKE_FAILED');
        return `${describeWire(m)}, then disconnect`;
      });
      if (toyId) {
        try {
          rs = await rawSessionOf(toyId, ownerId!);
        } catch (e) {
          rsError = (e as Error).message;
        }
      } else rsError = 'the owned toy was not found';
      let micStopOrder: { result: number; status: number } | undefined;
      if (!rs) notRun(['speaker.status-after-start', 'speaker.status-body', 'speaker.stream', 'speaker.audio-outside-stream', 'speaker.counters-cumulative', 'microphone.stream', 'microphone.stop-order'], `no raw session: ${rsError}`);
      else {
        const s = rs;
        const statuses = (): Uint8Array[] => s.plaintexts.filter((p) => p[0] === 0x81);
        const resultOf = (id: number): Uint8Array | undefined => s.plaintexts.find((p) => p[0] === 0x80 && p[1] === id);
        let speakerOk = true;
        if (!(s.hello.capabilities & Capability.SPEAKER)) {
          speakerOk = false;
          notRun(['speaker.status-after-start', 'speaker.status-body', 'speaker.stream', 'speaker.audio-outside-stream', 'speaker.counters-cumulative'], 'the toy announces no speaker capability');
        }
        if (speakerOk) {
          const first = s.channel.nextAudioFrame;
          const mark = s.plaintexts.length;
          await check('speaker.status-after-start', async () => {
            const id = await s.request({ type: 'speaker-start', firstFrame: first });
            await settle(signal);
            const after = s.since(mark);
            const r = after.findIndex((p) => p[0] === 0x80 && p[1] === id);
            expect(r >= 0, `no RESULT to SPEAKER_START (toy sent: ${plaintextTypes(after)})`);
            expect(after[r]![2] === 0, `SPEAKER_START got RESULT status ${after[r]![2]}`);
            expect(after.slice(r + 1).some((p) => p[0] === 0x81), `no SPEAKER_STATUS after the RESULT (toy sent: ${plaintextTypes(after)})`);
            return 'RESULT OK, then SPEAKER_STATUS';
          });
          await check('speaker.stream', async () => {
            const frames = Array.from({ length: 5 }, () => SILENCE);
            await s.sendAudio(frames);
            await s.sendAudio(frames);
            const endId = await s.request({ type: 'speaker-end', lastFrame: first + 9 });
            await settle(signal);
            const res = resultOf(endId);
            expect(res !== undefined && res[2] === 0, `SPEAKER_END got ${res ? `status ${res[2]}` : 'no RESULT'}`);
            // play out: 10 frames of 20 ms, in the toy's time
            for (let i = 0; i < 40 && !statuses().some((p) => p.length === 13 && p[2] === 3); i++) {
              await clock.advance(100, signal);
              await settle(signal);
            }
            const done = statuses().filter((p) => p[2] === 3);
            expect(done.length > 0, `no SPEAKER_STATUS done after SPEAKER_END and 4 s of play-out (states seen: ${statuses().map((p) => p[2]).join(',') || 'none'})`);
            const last = done[done.length - 1]!;
            const played = last.length >= 9 ? ((last[5]! << 24) | (last[6]! << 16) | (last[7]! << 8) | last[8]!) >>> 0 : 0;
            expect(played >= 10, `SPEAKER_STATUS done reports ${played} frames played after 10 were sent`);
            return `state done, ${played} frames played since start`;
          });
          await check('speaker.status-body', async () => {
            const all = statuses();
            if (all.length === 0) throw new NotRun('the toy sent no SPEAKER_STATUS to judge');
            const bad = all.filter((p) => p.length !== 13 || p[1] !== 0 || p[2]! > 4);
            expect(bad.length === 0, `${bad.length} of ${all.length} SPEAKER_STATUS plaintexts are not type+id 0+11-byte body: ${bad.map((p) => `${p.length - 2}-byte body`).join(', ')}`);
            return `${all.length} SPEAKER_STATUS, each an 11-byte body`;
          });
          await check('speaker.audio-outside-stream', async () => {
            if (results.get('speaker.stream')?.verdict !== 'passed') throw new NotRun('needs speaker.stream (a stream that ended done)');
            const mark = s.plaintexts.length;
            await s.sendAudio(Array.from({ length: 5 }, () => SILENCE));
            await settle(signal);
            await clock.advance(300, signal);
            await settle(signal);
            const after = s.since(mark).filter((p) => p[0] === 0x81);
            expect(after.length === 0, `audio after the stream was done, without SPEAKER_START, got ${after.length} SPEAKER_STATUS (states ${after.map((p) => p[2]).join(',')}): the toy took it as a stream`);
            return '5 frames after done, without SPEAKER_START: no SPEAKER_STATUS (dropped)';
          });
          await check('speaker.counters-cumulative', async () => {
            const done = statuses().filter((p) => p.length >= 13 && p[2] === 3).at(-1);
            if (!done) throw new NotRun('needs speaker.stream (a SPEAKER_STATUS done)');
            const mark = s.plaintexts.length;
            const id = await s.request({ type: 'speaker-start', firstFrame: s.channel.nextAudioFrame });
            await settle(signal);
            const after = s.since(mark);
            const r = after.findIndex((p) => p[0] === 0x80 && p[1] === id);
            const st = r >= 0 ? after.slice(r + 1).find((p) => p[0] === 0x81 && p.length >= 13) : undefined;
            expect(st !== undefined, `a new SPEAKER_START got ${plaintextTypes(after)}: no SPEAKER_STATUS after the RESULT to read the counters from`);
            const u32 = (p: Uint8Array, o: number): number => ((p[o]! << 24) | (p[o + 1]! << 16) | (p[o + 2]! << 8) | p[o + 3]!) >>> 0;
            const u16 = (p: Uint8Array, o: number): number => (p[o]! << 8) | p[o + 1]!;
            const was = `frames played ${u32(done, 5)}, underruns ${u16(done, 9)}, overruns ${u16(done, 11)}`;
            const now = `frames played ${u32(st, 5)}, underruns ${u16(st, 9)}, overruns ${u16(st, 11)}`;
            expect(was === now, `after a new SPEAKER_START: ${now}; when the last stream was done: ${was} (the counters are cumulative since the toy started, and nothing played in between)`);
            await s.request({ type: 'speaker-stop' });
            await settle(signal);
            return `the new stream's first report keeps the counters: ${now}`;
          });
        }
        await check('microphone.stream', async () => {
          if (!(s.hello.capabilities & Capability.MICROPHONE)) throw new NotRun('the toy announces no microphone capability');
          const startId = await s.request({ type: 'mic-start' });
          await settle(signal);
          const r = resultOf(startId);
          expect(r !== undefined && r[2] === 0 && r.length === 7, `MIC_START got ${r ? `status ${r[2]}, ${r.length - 3}-byte body` : 'no RESULT'}`);
          const firstFrame = decodeMicStartResult(r.slice(3));
          await clock.advance(200, signal);
          await settle(signal);
          const stopId = await s.request({ type: 'mic-stop' });
          await settle(signal);
          const stop = resultOf(stopId);
          expect(stop !== undefined && stop[2] === 0, `MIC_STOP got ${stop ? `status ${stop[2]}` : 'no RESULT'}`);
          expect(s.openErrors.length === 0, `records that did not open: ${s.openErrors.join('; ')}`);
          let expectNext = firstFrame;
          for (const b of s.audio) {
            expect(b.firstFrame >= expectNext, `a microphone record numbered ${b.firstFrame}, expected ≥ ${expectNext}`);
            expectNext = b.firstFrame + b.frames;
          }
          const ms = s.plaintexts.filter((p) => p[0] === 0x82);
          const off = ms.find((p) => p.length === 7 && p[2] === 0);
          expect(off !== undefined, `no MIC_STATUS active 0 after MIC_STOP (${ms.length} MIC_STATUS seen)`);
          const next = ((off[3]! << 24) | (off[4]! << 16) | (off[5]! << 8) | off[6]!) >>> 0;
          expect(next === expectNext, `MIC_STATUS next frame ${next}, expected ${expectNext}`);
          const frames = s.audio.reduce((n, b) => n + b.frames, 0);
          micStopOrder = { result: s.plaintexts.findIndex((p) => p[0] === 0x80 && p[1] === stopId), status: s.plaintexts.indexOf(off) };
          return `first frame ${firstFrame}, ${frames} frames in ${s.audio.length} records, MIC_STATUS off with next frame ${next}`;
        });
        await check('microphone.stop-order', async () => {
          if (!micStopOrder) throw new NotRun('needs microphone.stream');
          const { result, status } = micStopOrder;
          expect(result >= 0 && result < status, `MIC_STOP's RESULT came ${result < 0 ? 'never' : `after the MIC_STATUS (plaintext ${result} vs ${status})`}`);
          return 'RESULT OK, then MIC_STATUS active 0';
        });
        await s.raw.close();
        await settle(signal);
      }
      os = await owner.connect(owner.toys()[0]!, op);
      sessions.push(os);
      ownerSession = os;

      // Guests.
      const guests: { companion: Companion; session: ToySession; identity: X25519KeyPair }[] = [];
      async function addGuest(name: string, via: 'qr' | 'code'): Promise<ToySession> {
        await okBody(os, { type: 'allow-guest-pairing' });
        const id = await hold();
        const g = await newCompanion(name);
        const s = await g.companion.pair(id, via === 'qr' ? formatSetupQr(code, key) : typedCode, op);
        sessions.push(s);
        guests.push({ ...g, session: s });
        return s;
      }
      await check('control.allow-guest-pairing', async () => {
        await okBody(os, { type: 'allow-guest-pairing' });
        return 'RESULT OK (the window it allows is opened by the next check)';
      });
      await check('advertising.tag-changes-with-flags', async () => {
        const ownedNow = (): Promise<Advertisement> => findAdvert((a) => owner.classify(a)?.kind === 'paired' && !inWindow(a), 'the owned toy with its window closed');
        let before = await ownedNow();
        // which change of this slot the tag is (§12): at the last one (7) the next change keeps it
        const changeOf = (ad: Advertisement): number => {
          const tag = hex(parseAdvertisement(ad.serviceData).tag);
          const k = fromHex(owner.toys()[0]!.advertisingKey);
          for (let n = 0; n <= ADV_MAX_CHANGE; n++) if (hex(advertisingTag(k, advertisingSlot(clock.now()), n)) === tag) return n;
          return -1;
        };
        if (changeOf(before) === ADV_MAX_CHANGE) {
          if (!clock.simulated) throw new NotRun(`the toy's advertisement already changed ${ADV_MAX_CHANGE} times in this slot (the most, §12); run again in a later slot`);
          await clock.advance(msUntilNextSlot(clock.now()) + 1000, signal);
          await settle(signal);
          before = await ownedNow();
        }
        await okBody(os, { type: 'allow-guest-pairing' });
        if (!opts.pressButton) throw new NotRun('needs the pairing button held on the toy');
        await opts.pressButton(signal);
        await clock.advance(0, signal);
        const during = await findAdvert((a) => owner.classify(a)?.kind === 'paired' && inWindow(a), 'the owned toy in its guest window (its tag resolved by the owner)');
        const t0 = hex(parseAdvertisement(before.serviceData).tag);
        const t1 = hex(parseAdvertisement(during.serviceData).tag);
        expect(t0 !== t1, `the guest window's advertisement (flags 0x03) carries the tag ${t1} of the advertisement before it (flags 0x02): an observer links the two addresses`);
        expect(before.id !== during.id, `the toy kept address ${before.id} when its flags changed`);
        return `flags 0x02 → 0x03 within the slot: tag ${t0} → ${t1}, address ${before.id} → ${during.id}`;
      });
      await check('pairing.code', async () => {
        const s = await addGuest('guest 1', 'code');
        expect(s.hello.role === 'guest', `role ${s.hello.role}`);
        expect(s.roundTrips === 2, `${s.roundTrips} round trips (INFO_REQUEST + handshake)`);
        return 'INFO_RESPONSE, then role guest in 2 round trips';
      });
      await check('control.guest-refused', async () => {
        const g = guests[0];
        if (!g) throw new NotRun('needs pairing.code (a guest)');
        const got: string[] = [];
        for (const body of [{ type: 'list-pairings' }, { type: 'allow-guest-pairing' }, { type: 'remove-pairing', keyId: companionKeyId(owner.publicKey) }] as const) {
          const r = await g.session.request(body, op);
          got.push(`${body.type}: ${r.status}`);
        }
        expect(got.every((x) => x.endsWith('NOT_OWNER')), got.join(', '));
        const info = await g.session.request({ type: 'get-info' }, op);
        expect(info.status === 'OK', `GET_INFO from a guest: ${info.status}`);
        return `${got.join(', ')}; get-info: OK`;
      });
      await check('control.guest-remove-unknown', async () => {
        const g = guests[0];
        if (!g) throw new NotRun('needs pairing.code (a guest)');
        const r = await g.session.request({ type: 'remove-pairing', keyId: '00000000000000ff' }, op);
        expect(r.status === 'NOT_OWNER', `REMOVE_PAIRING of a key id nobody has, from a guest: ${r.status} (NOT_FOUND would tell a guest who is paired)`);
        return 'NOT_OWNER';
      });
      await check('allow-list.full', async () => {
        if (guests.length < 1) throw new NotRun('needs pairing.code (the first guest)');
        for (let i = 2; i <= 4; i++) await addGuest(`guest ${i}`, 'qr');
        await okBody(os, { type: 'allow-guest-pairing' });
        const id = await hold();
        const extra = await newCompanion('one too many');
        const e = await errorOf(extra.companion.pair(id, formatSetupQr(code, key), op));
        expect(e.code === 'ALLOW_LIST_FULL', `the sixth companion's pairing failed with ${e.code}: ${e.message}`);
        return 'owner + 4 guests; the sixth: ALLOW_LIST_FULL';
      });
      await check('removal.owner-removes-guest', async () => {
        const g = guests[0];
        if (!g?.session.open) throw new NotRun('needs a connected guest (pairing.code)');
        const order: string[] = [];
        const onKey = (): void => void order.push('ADVERTISING_KEY');
        const goodbye = new Promise<string>((r) => g.session.once('goodbye', (why) => r(why)));
        os.on('advertising-key', onKey);
        const res = await os.request({ type: 'remove-pairing', keyId: companionKeyId(g.companion.publicKey) }, op);
        order.push(`RESULT ${res.status}`);
        os.off('advertising-key', onKey);
        await settle(signal);
        expect(res.status === 'OK', `RESULT ${res.status}`);
        expect(order[0] === 'ADVERTISING_KEY', `the owner got ${order.join(' then ')} (ADVERTISING_KEY must come before the RESULT)`);
        const why = await Promise.race([goodbye, settle(signal).then(() => 'nothing')]);
        expect(why === 'PAIRING_REMOVED', `the removed guest's session got ${why === 'nothing' ? 'no GOODBYE' : `GOODBYE ${why}`}`);
        // Its reconnect (made by hand: the Companion forgot the toy at the GOODBYE) must be refused.
        const raw = await rawConnect(await ownedToyId(owner));
        const hs = new CompanionHandshake('reconnect', { companion: g.identity, toyPublicKey: key, hello: { displayName: 'removed' }, slot: advertisingSlot(clock.now()) });
        await raw.send('control', hs.wireMessage1());
        const m = await raw.next();
        await raw.close();
        expect(m?.kind === 'error' && m.refusal === 'HANDSHAKE_FAILED', `the removed guest's RECONNECT_M1 got ${describeWire(m)}`);
        return 'ADVERTISING_KEY then RESULT OK to the owner; GOODBYE PAIRING_REMOVED to the guest; its reconnect: HANDSHAKE_FAILED';
      });
      await check('removal.guest-removes-itself', async () => {
        const g = guests.find((x, i) => i > 0 && x.session.open);
        if (!g) throw new NotRun('needs a second connected guest (allow-list.full)');
        const goodbye = new Promise<string>((r) => g.session.once('goodbye', (why) => r(why)));
        const res = await g.session.request({ type: 'remove-pairing', keyId: companionKeyId(g.companion.publicKey) }, op);
        expect(res.status === 'OK', `RESULT ${res.status}`);
        const why = await Promise.race([goodbye, settle(signal).then(() => 'nothing')]);
        expect(why === 'PAIRING_REMOVED', `then ${why === 'nothing' ? 'no GOODBYE' : `GOODBYE ${why}`}`);
        return 'RESULT OK, then GOODBYE PAIRING_REMOVED';
      });

      // Advertising rotation: watch every advertisement across the next slot boundary.
      if (!clock.simulated && !opts.waitForSlot) {
        notRun(['advertising.tag-rotates-per-slot', 'advertising.address-moves-with-data'], 'waits up to 10 minutes for the next advertising slot; ask for it (--slot-wait)');
      } else {
        const seen: { id: string; data: string; at: number }[] = [];
        const ctl = new AbortController();
        const watching = (async () => {
          for await (const ad of opts.central.scan({ signal: ctl.signal })) {
            const last = [...seen].reverse().find((x) => x.id === ad.id);
            const data = hex(ad.serviceData);
            if (last?.data !== data) seen.push({ id: ad.id, data, at: clock.now() });
          }
        })().catch(() => undefined);
        let before: Advertisement | undefined;
        let after: Advertisement | undefined;
        let why = '';
        try {
          before = await findAdvert((a) => owner.classify(a)?.kind === 'paired', 'the owned toy');
          if (inWindow(before)) {
            // a window an earlier check left open closes first (120 s, §13.2): its flag change is not the slot's
            await clock.advance(121_000, signal);
            await settle(signal);
            before = await findAdvert((a) => owner.classify(a)?.kind === 'paired' && !inWindow(a), 'the owned toy with its window closed');
          }
          await clock.advance(msUntilNextSlot(clock.now()) + 1000, signal);
          await settle(signal);
          // what is on the air now: the owned toy under a tag the owner resolves (±1 slot, §12)
          after = (await currentAdverts()).find((a) => owner.classify(a)?.kind === 'paired');
          if (!after) why = 'the owner resolves no advertisement after the slot boundary';
        } finally {
          await settle(signal);
          ctl.abort();
          await watching;
        }
        await check('advertising.tag-rotates-per-slot', async () => {
          expect(after !== undefined, `no new tag after the slot boundary: ${why}`);
          const tag = parseAdvertisement(after.serviceData).tag;
          const k = fromHex(owner.toys()[0]!.advertisingKey);
          const slot = advertisingSlot(clock.now());
          expect(resolveAdvertisingTag(tag, [k], clock.now()) === 0, 'the new tag does not resolve');
          expect(!bytesEqual(tag, parseAdvertisement(before!.serviceData).tag), 'same tag as before the boundary');
          return `tag ${hex(parseAdvertisement(before!.serviceData).tag)} → ${hex(tag)} at slot ${slot}`;
        });
        await check('advertising.address-moves-with-data', async () => {
          // the toy's own advertisements: those whose tag the owner resolves, and every address that carried one
          const isOurs = (data: string): boolean => {
            try {
              return owner.classify({ id: '', serviceData: fromHex(data) })?.kind === 'paired';
            } catch {
              return false;
            }
          };
          const ids = new Set(seen.filter((x) => isOurs(x.data)).map((x) => x.id));
          const dataOf = new Map<string, string>();
          const idOf = new Map<string, string>();
          for (const s of seen.filter((x) => ids.has(x.id))) {
            const d = dataOf.get(s.id);
            expect(d === undefined || d === s.data, `address ${s.id} carried two service data: ${d} then ${s.data}`);
            const other = idOf.get(s.data);
            expect(other === undefined || other === s.id, `service data ${s.data} went on the air from a new address ${s.id} (first from ${other})`);
            dataOf.set(s.id, s.data);
            idOf.set(s.data, s.id);
          }
          const beforeId = before?.id;
          const afterId = after?.id;
          expect(beforeId !== undefined && afterId !== undefined, 'the toy was not seen on both sides of the boundary');
          expect(beforeId !== afterId, `the toy kept address ${beforeId} across the slot change`);
          return `${dataOf.size} address(es) seen, each with one service data; ${beforeId} → ${afterId}`;
        });
      }
    }

    // Handshake deadline: any toy, any state.
    await handshakeDeadline();

    // Factory reset: the owner's session gets GOODBYE, the owner is refused, the toy is unowned.
    await check('factory-reset', async () => {
      if (!opts.resetToy) throw new NotRun('needs the toy factory-reset (no resetToy given; the CLI asks a person unless --no-prompt)');
      if (!ownerC || !ownerC.toys().length) throw new NotRun('needs the toy owned by the run (pairing.qr)');
      const owner = ownerC;
      const stored = owner.toys()[0]!;
      let s = ownerSession;
      if (!s?.open) {
        s = await owner.connect(stored, op);
        sessions.push(s);
      }
      const goodbye = new Promise<string>((r) => s.once('goodbye', (why) => r(why)));
      await opts.resetToy!(signal);
      await clock.advance(0, signal);
      await settle(signal);
      const why = await Promise.race([goodbye, settle(signal).then(() => 'nothing')]);
      expect(why === 'FACTORY_RESET', `the owner's session got ${why === 'nothing' ? 'no GOODBYE' : `GOODBYE ${why}`}`);
      const ads = await currentAdverts();
      const owned = ads.some((a) => {
        try {
          const info = parseAdvertisement(a.serviceData);
          return info.owned && resolveAdvertisingTag(info.tag, [fromHex(stored.advertisingKey)], clock.now()) >= 0;
        } catch {
          return false;
        }
      });
      expect(!owned, 'the toy still advertises the old owner\'s tag');
      leftUnowned = true;
      return 'GOODBYE FACTORY_RESET; the old tag is gone from the air';
    });
  } catch (e) {
    // a step between checks failed (the toy went away, a session could not be reopened): the
    // checks not reached yet are not-run, with that as the reason; the run itself does not throw
    if (signal.aborted) throw e;
    stopped = `the run stopped before it: ${isPlushlinkError(e) ? e.code + ': ' : ''}${(e as Error).message}`;
  } finally {
    for (const s of sessions) await s.close().catch(() => undefined);
    for (const r of rawLinks) await r.close();
    // Leave the toy as it was found: a reset undoes whatever a failed check left behind.
    if (results.get('factory-reset')?.verdict !== 'passed' && opts.resetToy && !signal.aborted && (ownerC?.toys().length ?? 0) > 0) {
      await opts.resetToy(signal).then(
        () => (leftUnowned = true),
        () => undefined,
      );
    }
    if (leftUnowned === 'unknown' && !ownerC?.toys().length) leftUnowned = 'unknown';
  }

  const ordered = CHECKS.map((d) => results.get(d.name) ?? { name: d.name, section: d.section, verdict: 'not-run' as const, reason: stopped });
  return {
    version: 1,
    protocol: '1.1',
    startedAt,
    target: opts.target ?? 'toy',
    results: ordered,
    summary: {
      passed: ordered.filter((r) => r.verdict === 'passed').length,
      failed: ordered.filter((r) => r.verdict === 'failed').length,
      notRun: ordered.filter((r) => r.verdict === 'not-run').length,
    },
    leftUnowned,
  };

  async function okBody(s: ToySession, body: Parameters<ToySession['request']>[0]): Promise<Uint8Array> {
    const r = await s.request(body, op);
    if (r.status !== 'OK') fail(`${body.type} got RESULT ${r.status}`);
    return r.body;
  }
}
