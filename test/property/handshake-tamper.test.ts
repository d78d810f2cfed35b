/**
 * PROTOCOL.md §6, docs/SECURITY.md properties 2 and 3: property tests of the Noise core and the plushlink handshakes.
 *
 * - Any byte flip, truncation or extension of a handshake message makes the receiver fail with
 *   a typed PlushlinkError, after which the state is unusable (`HANDSHAKE_STATE`). The one
 *   exception Noise itself allows is a message the receiver reads *before any key exists*
 *   (e.g. message 1 of NN / XX): its bytes are unauthenticated by design, so the tamper is
 *   detected at the very next read by the other party (the bytes went into the handshake
 *   hash). Every plushlink message is keyed, so there the failure is always immediate.
 * - A party that receives a message meant for another role, pattern, prologue or psk fails
 *   and the two never finish with agreeing keys.
 * - Two honest parties always agree on the split keys and the handshake hash.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesEqual } from '../../src/protocol/bytes.js';
import { x25519KeyPairFromSecret, type X25519KeyPair } from '../../src/protocol/crypto.js';
import { PlushlinkError } from '../../src/protocol/errors.js';
import {
  CompanionHandshake,
  toyReadMessage1,
  type HandshakeMode,
  type ToyHello,
} from '../../src/protocol/handshake.js';
import { HandshakeState } from '../../src/protocol/noise/handshake-state.js';
import { getPattern, type HandshakePattern } from '../../src/protocol/noise/patterns.js';
import type { SetupCode } from '../../src/protocol/setup-code.js';
import { CROCKFORD_ALPHABET } from '../../src/protocol/base32.js';

const SEED = 42;

/** Patterns exercised: one-way, fundamental interactive, deferred, psk variants. */
const PATTERNS = [
  'N', 'K', 'X',
  'NN', 'NK', 'NX', 'KN', 'KK', 'KX', 'XN', 'XK', 'XX', 'IN', 'IK', 'IX',
  'NK1', 'XX1', 'X1X1', 'I1K1', 'K1X',
  'NNpsk0', 'NNpsk2', 'XXpsk3', 'IKpsk1', 'IKpsk2', 'Npsk0', 'KKpsk0+psk2', 'XNpsk3',
];
const proto = (p: string): string => `Noise_${p}_25519_ChaChaPoly_SHA512`;

/** Codes a tampered or mismatched handshake message may legitimately raise. */
const TAMPER_CODES = new Set(['DECRYPT_FAILED', 'MESSAGE_TOO_SHORT', 'LOW_ORDER_POINT', 'HANDSHAKE_FAILED', 'BAD_PAYLOAD', 'UNKNOWN_VERSION', 'WRONG_ROLE', 'HANDSHAKE_STATE']);

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const keyPair = bytes32.map((b) => x25519KeyPairFromSecret(b));

interface PartyKeys {
  s: X25519KeyPair;
  e: X25519KeyPair;
}

interface Config {
  pattern: string;
  prologue: Uint8Array;
  psks: Uint8Array[];
}

function pskCount(p: HandshakePattern): number {
  return p.messages.reduce((n, m) => n + m.tokens.filter((t) => t === 'psk').length, 0);
}

function makeParty(cfg: Config, initiator: boolean, own: PartyKeys, peer: PartyKeys): HandshakeState {
  const pat = getPattern(cfg.pattern);
  const peerPre = initiator ? pat.responderPre : pat.initiatorPre;
  return new HandshakeState({
    protocolName: proto(cfg.pattern),
    initiator,
    prologue: cfg.prologue,
    s: own.s,
    e: own.e,
    rs: peerPre.includes('s') ? peer.s.publicKey : undefined,
    psks: cfg.psks.slice(0, pskCount(pat)),
    random: () => {
      throw new Error('fixed ephemerals only');
    },
  });
}

/** True when the receiver of message `i` already holds a cipher key when it decrypts the payload. */
function keyedAt(p: HandshakePattern, i: number): boolean {
  for (let k = 0; k <= i; k++) {
    for (const t of p.messages[k]!.tokens) {
      if (t === 'ee' || t === 'es' || t === 'se' || t === 'ss' || t === 'psk') return true;
      if (t === 'e' && p.psk) return true;
    }
  }
  return false;
}

const config = fc.record({
  pattern: fc.constantFrom(...PATTERNS),
  prologue: fc.uint8Array({ maxLength: 64 }),
  psks: fc.array(bytes32, { minLength: 2, maxLength: 2 }),
});
const parties = fc.record({ i: fc.record({ s: keyPair, e: keyPair }), r: fc.record({ s: keyPair, e: keyPair }) });
const payloads = fc.array(fc.uint8Array({ maxLength: 80 }), { minLength: 4, maxLength: 4 });

type Mutation = { kind: 'flip'; pos: number; mask: number } | { kind: 'truncate'; len: number } | { kind: 'extend'; extra: Uint8Array };
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), len: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 48 }) }),
);

function mutate(m: Uint8Array, mu: Mutation): Uint8Array {
  switch (mu.kind) {
    case 'flip': {
      const out = Uint8Array.from(m);
      const p = mu.pos % m.length;
      out[p] = out[p]! ^ mu.mask;
      return out;
    }
    case 'truncate':
      return m.slice(0, mu.len % m.length);
    case 'extend':
      return new Uint8Array([...m, ...mu.extra]);
  }
}

/** Asserts `fn` throws a typed PlushlinkError and returns it. */
function expectTyped(fn: () => unknown, allowed = TAMPER_CODES): PlushlinkError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a failure').toBeDefined();
  expect(caught).toBeInstanceOf(PlushlinkError);
  const e = caught as PlushlinkError;
  expect(allowed.has(e.code), `unexpected code ${e.code}: ${e.message}`).toBe(true);
  return e;
}

/** After a failure the state must refuse everything with HANDSHAKE_STATE. */
function expectUnusable(hs: HandshakeState): void {
  const only = new Set(['HANDSHAKE_STATE']);
  expectTyped(() => hs.readMessage(new Uint8Array(200)), only);
  expectTyped(() => hs.writeMessage(new Uint8Array(0)), only);
  expectTyped(() => hs.split(), only);
  expect(hs.finished).toBe(false);
}

describe('Noise core: honest parties agree', () => {
  it('split keys, handshake hash and payloads agree for random keys, prologues, payloads', () => {
    fc.assert(
      fc.property(config, parties, payloads, (cfg, ks, pls) => {
        const init = makeParty(cfg, true, ks.i, ks.r);
        const resp = makeParty(cfg, false, ks.r, ks.i);
        const msgs = init.pattern.messages;
        for (let i = 0; i < msgs.length; i++) {
          const [w, r] = msgs[i]!.fromInitiator ? [init, resp] : [resp, init];
          const ct = w.writeMessage(pls[i]!);
          expect(bytesEqual(r.readMessage(ct), pls[i]!)).toBe(true);
        }
        expect(init.finished && resp.finished).toBe(true);
        const a = init.split();
        const b = resp.split();
        expect(bytesEqual(a.handshakeHash, b.handshakeHash)).toBe(true);
        expect(bytesEqual(a.send.key!, b.receive.key!)).toBe(true);
        expect(bytesEqual(a.receive.key!, b.send.key!)).toBe(true);
        expect(bytesEqual(a.send.key!, a.receive.key!)).toBe(false);
        // the transport keys really work, both directions
        const t = a.send.encryptWithAd(new Uint8Array(0), pls[0]!);
        expect(bytesEqual(b.receive.decryptWithAd(new Uint8Array(0), t), pls[0]!)).toBe(true);
        // static keys were learned correctly
        if (init.remoteStaticKey) expect(bytesEqual(init.remoteStaticKey, ks.r.s.publicKey)).toBe(true);
        if (resp.remoteStaticKey) expect(bytesEqual(resp.remoteStaticKey, ks.i.s.publicKey)).toBe(true);
      }),
      { seed: SEED, numRuns: 100 },
    );
  });
});

describe('Noise core: tampered messages', () => {
  it('any flip/truncation/extension fails with a typed error (immediately when keyed, at the next read otherwise) and leaves the state unusable', () => {
    let immediate = 0;
    let deferred = 0;
    fc.assert(
      fc.property(config, parties, payloads, fc.nat(), mutation, (cfg, ks, pls, which, mu) => {
        const init = makeParty(cfg, true, ks.i, ks.r);
        const resp = makeParty(cfg, false, ks.r, ks.i);
        const pat = init.pattern;
        const target = which % pat.messages.length;
        let failed = false;
        for (let i = 0; i < pat.messages.length; i++) {
          const [w, r] = pat.messages[i]!.fromInitiator ? [init, resp] : [resp, init];
          let ct = w.writeMessage(pls[i]!);
          if (i === target) ct = mutate(ct, mu);
          let pt: Uint8Array | undefined;
          try {
            pt = r.readMessage(ct);
          } catch (e) {
            expect(e).toBeInstanceOf(PlushlinkError);
            expect(TAMPER_CODES.has((e as PlushlinkError).code), (e as Error).message).toBe(true);
            expectUnusable(r);
            failed = true;
            if (i === target) immediate++;
            else deferred++;
            break;
          }
          if (i === target) {
            // Accepting a tampered message is only possible when nothing was keyed yet.
            expect(keyedAt(pat, i), `keyed message ${i + 1} of ${cfg.pattern} accepted after ${mu.kind}`).toBe(false);
          } else if (i > target) {
            // A later read must not succeed after an accepted tamper.
            expect.fail(`message ${i + 1} of ${cfg.pattern} read fine after message ${target + 1} was tampered`);
          }
          void pt;
        }
        expect(failed).toBe(true);
        expect(init.finished && resp.finished).toBe(false);
      }),
      { seed: SEED, numRuns: 300 },
    );
    expect(immediate).toBeGreaterThan(0);
    expect(deferred).toBeGreaterThan(0);
  });
});

describe('Noise core: mismatched role, pattern, prologue or psk', () => {
  it('two parties with different configurations never both finish and agree', () => {
    const variant = fc.constantFrom('pattern', 'prologue', 'psk', 'remote-key', 'role');
    fc.assert(
      fc.property(config, config, variant, parties, keyPair, payloads, (a, b0, v, ks, stranger, pls) => {
        const b: Config = { ...a };
        if (v === 'pattern') b.pattern = b0.pattern === a.pattern ? (a.pattern === 'XX' ? 'IK' : 'XX') : b0.pattern;
        if (v === 'prologue') b.prologue = new Uint8Array([...a.prologue, 1]);
        if (v === 'psk') {
          if (pskCount(getPattern(a.pattern)) === 0) b.pattern = 'NNpsk0';
          b.psks = a.psks.map((p) => p.map((x) => x ^ 0x80));
        }
        let init: HandshakeState;
        let resp: HandshakeState;
        if (v === 'remote-key') {
          // the initiator pinned someone else's key: patterns with a responder pre-message only
          b.pattern = ['IK', 'NK', 'XK', 'KK', 'IKpsk1'].includes(a.pattern) ? a.pattern : 'IK';
          init = makeParty(b, true, ks.i, { s: stranger, e: stranger });
          resp = makeParty(b, false, ks.r, ks.i);
        } else if (v === 'role') {
          // an initiator's message 1 delivered to another initiator
          init = makeParty(a, true, ks.i, ks.r);
          resp = makeParty(a, true, ks.r, ks.i);
          const e = expectTyped(() => resp.readMessage(init.writeMessage(pls[0]!)));
          expect(e.code).toBe('WRONG_ROLE');
          return;
        } else {
          init = makeParty(a, true, ks.i, ks.r);
          resp = makeParty(b, false, ks.r, ks.i);
        }
        let error: unknown;
        for (let step = 0; step < 6 && !error; step++) {
          const [w, r] = init.isMyTurn ? [init, resp] : resp.isMyTurn ? [resp, init] : [undefined, undefined];
          if (!w || !r) break;
          try {
            r.readMessage(w.writeMessage(pls[step % pls.length]!));
          } catch (e) {
            error = e;
          }
        }
        if (error !== undefined) {
          expect(error).toBeInstanceOf(PlushlinkError);
          expect(TAMPER_CODES.has((error as PlushlinkError).code)).toBe(true);
        }
        const agreed = init.finished && resp.finished && bytesEqual(init.handshakeHash, resp.handshakeHash);
        expect(agreed).toBe(false);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
});

// ---------------------------------------------------------------- plushlink handshakes

const symbol = fc.constantFrom(...CROCKFORD_ALPHABET.split(''));
const setupCode = fc.array(symbol, { minLength: 22, maxLength: 22 }).map((s): SetupCode => ({ secret: s.join('') }));
const displayName = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s.length > 0 && new TextEncoder().encode(s).length <= 32);
const mode = fc.constantFrom<HandshakeMode>('pair', 'reconnect');

/** The toy hello of `m`: only a reconnect hello carries the advertising key (PROTOCOL.md §7). */
const hello = (m: HandshakeMode, adv: Uint8Array): ToyHello => ({ firmwareVersion: '1.2.3', capabilities: 15, speakerBufferMs: 400, role: 'owner', ...(m === 'reconnect' ? { advertisingKey: adv } : {}) });

const flightParams = fc.record({ mode, toy: keyPair, comp: keyPair, ce: bytes32, te: bytes32, code: setupCode, name: displayName });
/** Builds the (stateful) companion side inside the property, so a replayed counterexample starts fresh. */
function build(x: typeof flightParams extends fc.Arbitrary<infer T> ? T : never) {
  const companion = new CompanionHandshake(x.mode, {
    companion: x.comp,
    toyPublicKey: x.toy.publicKey,
    hello: { displayName: x.name },
    setupCode: x.code,
    random: () => x.ce,
  });
  return { ...x, companion, m1: companion.message1, toyRandom: () => x.te };
}
const flight = flightParams;

describe('plushlink handshakes', () => {
  it('honest companion and toy agree on keys, hash and payloads', () => {
    fc.assert(
      fc.property(flight, bytes32, (fp, adv) => {
        const f = build(fp);
        const read = toyReadMessage1(f.mode, f.m1, { toy: f.toy, setupCode: f.code, random: f.toyRandom });
        expect(bytesEqual(read.companionPublicKey, f.comp.publicKey)).toBe(true);
        expect(read.companion.displayName).toBe(f.name);
        const { message2, keys: tk } = read.respond(hello(f.mode, adv));
        const { toy, keys: ck } = f.companion.readMessage2(message2);
        if (f.mode === 'reconnect') expect(bytesEqual(toy.advertisingKey!, adv)).toBe(true);
        else expect(toy.advertisingKey).toBeUndefined();
        expect(bytesEqual(ck.sendKey, tk.receiveKey)).toBe(true);
        expect(bytesEqual(ck.receiveKey, tk.sendKey)).toBe(true);
        expect(bytesEqual(ck.handshakeHash, tk.handshakeHash)).toBe(true);
        expectTyped(() => read.respond(hello(f.mode, adv)), new Set(['HANDSHAKE_STATE']));
      }),
      { seed: SEED, numRuns: 60 },
    );
  });

  it('the toy refuses any tampered message 1 with a typed error', () => {
    fc.assert(
      fc.property(flight, mutation, (fp, mu) => {
        const f = build(fp);
        const bad = mutate(f.m1, mu);
        expectTyped(() => toyReadMessage1(f.mode, bad, { toy: f.toy, setupCode: f.code, random: f.toyRandom }));
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('the companion refuses any tampered message 2 with a typed error and is unusable afterwards', () => {
    fc.assert(
      fc.property(flight, bytes32, mutation, (fp, adv, mu) => {
        const f = build(fp);
        const { message2 } = toyReadMessage1(f.mode, f.m1, { toy: f.toy, setupCode: f.code, random: f.toyRandom }).respond(hello(f.mode, adv));
        expectTyped(() => f.companion.readMessage2(mutate(message2, mu)));
        // even the genuine message 2 is refused now: the state is burnt
        expectTyped(() => f.companion.readMessage2(message2), new Set(['HANDSHAKE_STATE']));
      }),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('messages fed to the wrong role or mode fail', () => {
    fc.assert(
      fc.property(flight, bytes32, setupCode, keyPair, (fp, adv, otherCode, otherToy) => {
        const f = build(fp);
        const other: HandshakeMode = f.mode === 'pair' ? 'reconnect' : 'pair';
        const opts = { toy: f.toy, setupCode: f.code, random: f.toyRandom };
        // m1 of one mode read as the other mode (reconnect m1 to a pairing read and vice versa)
        expectTyped(() => toyReadMessage1(other, f.m1, opts));
        // m1 for another toy
        expectTyped(() => toyReadMessage1(f.mode, f.m1, { ...opts, toy: otherToy }));
        // pairing with another setup code
        if (f.mode === 'pair' && otherCode.secret !== f.code.secret) {
          expect(expectTyped(() => toyReadMessage1('pair', f.m1, { ...opts, setupCode: otherCode })).code).toBe('DECRYPT_FAILED');
        }
        const { message2 } = toyReadMessage1(f.mode, f.m1, opts).respond(hello(f.mode, adv));
        // message 2 fed to the toy (both modes)
        expectTyped(() => toyReadMessage1(f.mode, message2, opts));
        expectTyped(() => toyReadMessage1(other, message2, opts));
        // message 1 reflected back to the companion
        expectTyped(() => f.companion.readMessage2(f.m1));
      }),
      { seed: SEED, numRuns: 60 },
    );
  });

  it('a message 2 of the other mode (same keys) is refused by the companion', () => {
    fc.assert(
      fc.property(flight, bytes32, (fp, adv) => {
        const f = build(fp);
        const other: HandshakeMode = f.mode === 'pair' ? 'reconnect' : 'pair';
        const twin = new CompanionHandshake(other, {
          companion: f.comp,
          toyPublicKey: f.toy.publicKey,
          hello: { displayName: f.name },
          setupCode: f.code,
          random: () => f.ce,
        });
        const { message2 } = toyReadMessage1(other, twin.message1, { toy: f.toy, setupCode: f.code, random: f.toyRandom }).respond(hello(other, adv));
        expectTyped(() => f.companion.readMessage2(message2));
      }),
      { seed: SEED, numRuns: 40 },
    );
  });

  it('random bytes never authenticate and errors are always typed', () => {
    fc.assert(
      fc.property(flight, fc.uint8Array({ maxLength: 300 }), (fp, junk) => {
        const f = build(fp);
        expectTyped(() => toyReadMessage1(f.mode, junk, { toy: f.toy, setupCode: f.code, random: f.toyRandom }));
        expectTyped(() => f.companion.readMessage2(junk));
      }),
      { seed: SEED, numRuns: 100 },
    );
  });
});
