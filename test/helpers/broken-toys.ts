/**
 * Deliberately broken toys, for the conformance run's own test (test/integration/conformance.test.ts):
 * each is the reference toy with one rule of docs/PROTOCOL.md broken, and nothing else. They are
 * small patches of one running toy — of its core instance's send path, its config or its
 * peripheral — never of src/toy/ itself. The core patches reach private members of ToyCore
 * (`sendControl`, `sendWire`, `onControlWrite`) and of SecureChannel (`controlOut`) by name:
 * a refactor that renames them makes these helpers throw at start, loudly, not pass silently.
 */
import { encodeControl, type ControlMessage } from '../../src/protocol/control.js';
import { encodeWire } from '../../src/protocol/wire.js';
import { advertisingSlot } from '../../src/protocol/advertising.js';
import { ReferenceToy } from '../../src/toy/reference-toy.js';
import type { ToyAction } from '../../src/toy/types.js';
import type { MemoryTargetOptions, MemoryToyParts } from '../../src/conformance/index.js';
import type { Peripheral } from '../../src/transport/types.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- reaching into one toy's private members is the point */
type Conn = { channel: any; reasmControl: { push(v: Uint8Array): unknown } };
type Core = {
  drop(c: { id: string }, reason: string, now: number, goodbye?: string): ToyAction[];
  sendControl(c: Conn, m: ControlMessage): ToyAction[];
  sendWire(c: Conn, wire: Uint8Array): ToyAction[];
  onControlWrite(c: Conn, value: Uint8Array, now: number): ToyAction[];
  identity: { publicKey: Uint8Array };
};

function member<T>(o: object, name: string): T {
  const v = (o as Record<string, unknown>)[name];
  if (typeof v !== 'function') throw new Error(`broken-toys: ToyCore has no ${name} any more; update test/helpers/broken-toys.ts`);
  return (v as (...a: unknown[]) => unknown).bind(o) as T;
}

/** A reference toy whose core gets `patch` once started (and the driver `patchToy`). */
function patchedToy(patch: (core: Core) => void, patchToy?: (toy: ReferenceToy) => void): MemoryTargetOptions['createToy'] {
  return (p: MemoryToyParts) => {
    class Broken extends ReferenceToy {
      override async start(): Promise<void> {
        await super.start();
        patch(this.core as unknown as Core);
        patchToy?.(this);
      }
    }
    return new Broken({ peripheral: p.peripheral, identity: p.identity, setupCode: p.setupCode, clock: p.clock, storage: p.storage, microphone: p.microphone, config: p.config, tickMs: 2 });
  };
}

/** Rewrites the core's outgoing control messages: `f` returns the plaintext to seal, or null to send nothing. */
function rewriteControl(f: (m: ControlMessage) => Uint8Array | null | undefined): MemoryTargetOptions['createToy'] {
  return patchedToy((core) => {
    const send = member<Core['sendControl']>(core, 'sendControl');
    const wire = member<Core['sendWire']>(core, 'sendWire');
    (core as any).sendControl = (c: Conn, m: ControlMessage): ToyAction[] => {
      const plain = c.channel ? f(m) : undefined;
      if (plain === undefined) return send(c, m);
      if (plain === null) return [];
      const out = c.channel.controlOut;
      if (typeof out?.seal !== 'function') throw new Error('broken-toys: SecureChannel has no controlOut.seal any more');
      return wire(c, encodeWire({ kind: 'record', record: out.seal(plain) }));
    };
  });
}

/** SPEAKER_STATUS with a 12-byte body (one trailing byte) instead of 11 (PROTOCOL.md §10.1). */
export const twelveByteSpeakerStatus: MemoryTargetOptions = {
  createToy: rewriteControl((m) => (m.type === 'speaker-status' ? Uint8Array.from([...encodeControl(m), 0]) : undefined)),
};

/** No SPEAKER_STATUS right after SPEAKER_START (§13.6): reports start only once the state moves off idle. */
export const noStatusAfterSpeakerStart: MemoryTargetOptions = {
  createToy: (() => {
    let quiet = true;
    return rewriteControl((m) => {
      if (m.type === 'speaker-start') quiet = true;
      if (m.type !== 'speaker-status') return undefined;
      if (m.state !== 'idle') quiet = false;
      return quiet ? null : undefined;
    });
  })(),
};

/** Answers INFO_REQUEST whether or not the pairing window is open (§11, §13.2). */
export const infoRequestAlwaysAnswered: MemoryTargetOptions = {
  createToy: patchedToy((core) => {
    const onWrite = member<Core['onControlWrite']>(core, 'onControlWrite');
    const wire = member<Core['sendWire']>(core, 'sendWire');
    (core as any).onControlWrite = (c: Conn, value: Uint8Array, now: number): ToyAction[] => {
      const single = value.length === 2 && (value[0]! & 0xc0) === 0xc0 && value[1] === 0x05;
      if (c.channel || !single) return onWrite(c, value, now);
      c.reasmControl.push(value);
      return wire(c, encodeWire({ kind: 'info-response', version: 1, toyPublicKey: core.identity.publicKey }));
    };
  }),
};

/** No pairing backoff: a failed attempt locks nothing (§13.2), so RATE_LIMITED never comes. */
export const noBackoff: MemoryTargetOptions = { config: { backoffBaseMs: 0 } };

/**
 * Keeps advertising the tag it had when the slot changes (§12): the data of a new slot with the
 * same flags is replaced by the previous slot's, from the fresh address the toy moved to.
 */
export const staleTagAfterRotation: MemoryTargetOptions = {
  wrapPeripheral: (p: Peripheral, clock: () => number): Peripheral => {
    let last: { data: Uint8Array; slot: number } | undefined;
    const advertise = async (data: Uint8Array): Promise<void> => {
      const slot = advertisingSlot(clock());
      if (last && last.slot !== slot && last.data[0] === data[0] && (data[0]! & 0x02) !== 0) data = last.data;
      else last = { data, slot };
      return p.advertise(data);
    };
    return new Proxy(p, {
      get(target, key) {
        if (key === 'advertise') return advertise;
        const v = Reflect.get(target, key, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  },
};

/**
 * Sends GOODBYE and ends the link without waiting for its indication confirmations (§10.1): what
 * it sent before the GOODBYE is confirmed first, as in the reference, but the GOODBYE's own values
 * are handed to the link and the link is dropped at once — a stack that drops queued indications
 * at a disconnect (the in-memory radio does) then loses them.
 */
export const goodbyeWithoutWaiting: MemoryTargetOptions = {
  createToy: (() => {
    const goodbyes = new WeakSet<Uint8Array>();
    return patchedToy(
      (core) => {
        const drop = member<Core['drop']>(core, 'drop');
        (core as any).drop = (c: { id: string }, reason: string, now: number, goodbye?: string): ToyAction[] => {
          const out = drop(c, reason, now, goodbye);
          if (goodbye) for (const a of out) if (a.type === 'send') goodbyes.add(a.value);
          return out;
        };
      },
      (toy) => {
        const apply = member<(a: ToyAction) => void>(toy, 'apply');
        const links = (toy as any).links as Map<string, { send(ch: 'control', v: Uint8Array): Promise<void>; disconnect(): void }> | undefined;
        const chains = (toy as any).sendChains as Map<string, Promise<void>> | undefined;
        if (!(links instanceof Map) || !(chains instanceof Map)) throw new Error('broken-toys: ReferenceToy has no links / sendChains any more');
        const held = new Map<string, Uint8Array[]>();
        (toy as any).apply = (a: ToyAction): void => {
          if (a.type === 'send' && goodbyes.has(a.value)) {
            held.set(a.connection, [...(held.get(a.connection) ?? []), a.value]);
            return;
          }
          const values = a.type === 'disconnect' ? held.get(a.connection) : undefined;
          if (a.type !== 'disconnect' || !values) return apply(a);
          held.delete(a.connection);
          const link = links.get(a.connection);
          links.delete(a.connection);
          if (!link) return;
          // everything before the GOODBYE is confirmed; the GOODBYE is not waited for
          void (chains.get(`${a.connection}/control`) ?? Promise.resolve()).finally(() => {
            for (const v of values) link.send('control', v).catch(() => undefined);
            link.disconnect();
          });
        };
      },
    );
  })(),
};
