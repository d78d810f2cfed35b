/** `plushlink scan`, `pair`, `toys`, `forget`: finding, pairing, listing and forgetting toys. */
import type { Command } from 'commander';
import { FileKeystore, isPlushlinkError, parseSetupInput, PlushlinkError, type DiscoveredToy } from '../index.js';
import { defaults, interruptSignal, note, out, outJson, positiveNumber, Progress, type GlobalOptions } from './common.js';
import { SIM_TRANSPORT_HELP, connectToy, describeDiscovered, scanFor, withCompanion } from './context.js';

function discoveredJson(d: DiscoveredToy): Record<string, unknown> {
  if (d.kind === 'paired') return { kind: d.kind, transportId: d.transportId, rssi: d.rssi, toy: { id: d.toy.id, name: d.toy.name } };
  return { ...d };
}

/**
 * Why no toy could be paired, from what the scan saw: a toy that already has an owner opens its
 * pairing window only for a guest its owner allowed (docs/PROTOCOL.md), so holding its button
 * does nothing for a new companion; say so, and how to reset it.
 */
function notInPairingMode(seen: readonly DiscoveredToy[], seconds: number, simToyState: string | undefined, cause?: unknown): PlushlinkError {
  const reset = simToyState
    ? `factory-reset the simulated toy: \`plushlink simulate-toy --in-process --state ${simToyState}\`, then type r (or delete ${simToyState}.flash.json)`
    : "factory-reset it (the stand-in toy: type r in `plushlink simulate-toy`; a real toy: its reset button, see its manual)";
  const mine = seen.filter((d): d is Extract<DiscoveredToy, { kind: 'paired' }> => d.kind === 'paired');
  const others = seen.filter((d) => d.kind === 'someone-elses');
  const unowned = seen.filter((d) => d.kind === 'unpaired');
  const code = cause && isPlushlinkError(cause) ? cause.code : 'NOT_IN_PAIRING_MODE';
  const opts = cause ? { cause } : undefined;
  if (mine.length > 0) {
    const names = mine.map((d) => `"${d.toy.name}"`).join(', ');
    return new PlushlinkError(code, `${names} is already paired with this companion (\`plushlink toys\`); nothing to do. To pair it from scratch, ${reset}`, { seen: seen.length }, opts);
  }
  if (unowned.length > 0 && others.length === 0) {
    return new PlushlinkError(
      code,
      `the toy nearby (${unowned.map((d) => d.transportId).join(', ')}) has no owner, but its pairing window is closed: hold its button until it signals pairing mode, then retry`,
      { seen: seen.length },
      opts,
    );
  }
  if (others.length > 0) {
    return new PlushlinkError(
      code,
      `the toy nearby (${others.map((d) => d.transportId).join(', ')}) already has an owner, so holding its button opens no pairing window for this companion. Ask its owner to allow a guest (the owner's app), or, to become its owner, ${reset}`,
      { seen: seen.length },
      opts,
    );
  }
  return new PlushlinkError(
    'NOT_FOUND',
    `no toy in pairing mode was seen within ${seconds} s: hold the toy's button until it signals pairing mode, then retry (is it on and in range?)`,
    { seen: seen.length },
    opts,
  );
}

export function registerToyCommands(program: Command): void {
  program
    .command('scan')
    .description('list plushlink toys nearby: your paired toys by name; others only as "unpaired toy in pairing mode" or "someone else\'s toy"')
    .option('--seconds <n>', 'how long to scan', positiveNumber('--seconds'), 5)
    .option('--press-button', 'simulated transports only: hold the in-process toy\'s button first (pairing mode)')
    .option('--json', 'print one JSON array at the end')
    .addHelpText('after', SIM_TRANSPORT_HELP)
    .action(async (o: { seconds: number; pressButton?: boolean; json?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const { signal, dispose } = interruptSignal();
      try {
        await withCompanion(g, { pressButton: o.pressButton }, async (ctx) => {
          const progress = new Progress();
          progress.update(`scanning for ${o.seconds} s…`, true);
          const found = await scanFor(ctx, o.seconds, {
            signal,
            onToy: (d) => {
              if (o.json) return;
              progress.done();
              out(describeDiscovered(d));
            },
          });
          progress.done();
          if (o.json) outJson(found.map(discoveredJson));
          else if (found.length === 0) note('no plushlink toy seen');
        });
      } finally {
        dispose();
      }
    });

  program
    .command('pair')
    .description('pair with a toy in pairing mode (hold its button first) using the setup code or QR payload on its label')
    .argument('<toy>', 'the transport id shown by `scan`, or "any" for the first toy in pairing mode')
    .requiredOption('--code <code>', 'the setup code (XXXX-XXXX-XXXX-XXXX-XXXX-XXXX) or the QR payload (PL1:...)')
    .option('--name <name>', 'a name for the toy (default "toy <fingerprint>")')
    .option('--as <name>', 'how this companion introduces itself to the toy', 'plushlink CLI')
    .option('--seconds <n>', 'with "any": how long to look for a toy in pairing mode', positiveNumber('--seconds'), 10)
    .option('--json', 'print the paired toy as JSON')
    .option('--timeout <seconds>', 'give up connecting and pairing after this long', positiveNumber('--timeout'), 30)
    .addHelpText('after', `
A QR payload pins the toy's public key and pairs in one round trip; a typed code first asks
the toy for its key (answered only inside its pairing window). A wrong code fails with
WRONG_SETUP_CODE, a mistyped one with BAD_CHECKSUM before anything is sent.
${SIM_TRANSPORT_HELP}`)
    .action(async (toy: string, o: { code: string; name?: string; as: string; seconds: number; json?: boolean; timeout: number }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      parseSetupInput(o.code); // a mistyped code fails here, before the radio is touched
      const { signal, dispose } = interruptSignal();
      const progress = new Progress();
      try {
        await withCompanion(g, { displayName: o.as, pressButton: true }, async (ctx) => {
          let target = toy;
          let seen: DiscoveredToy[] = [];
          if (toy === 'any') {
            progress.update(`looking for a toy in pairing mode (${o.seconds} s)…`, true);
            seen = await scanFor(ctx, o.seconds, { signal, stopWhen: (d) => d.kind === 'pairing' });
            signal.throwIfAborted(); // Ctrl-C while looking: ABORTED, not "nothing found"
            const p = seen.find((d) => d.kind === 'pairing');
            if (!p) throw notInPairingMode(seen, o.seconds, ctx.simToy ? (g.toyState ?? defaults.toyState()) : undefined);
            target = p.transportId;
          }
          progress.update(`pairing with ${target}: connecting, handshake…`, true);
          let session;
          try {
            session = await ctx.companion.pair(target, o.code, { signal, timeoutMs: o.timeout * 1000, ...(o.name ? { name: o.name } : {}) });
          } catch (e) {
            signal.throwIfAborted();
            if (isPlushlinkError(e, 'NOT_IN_PAIRING_MODE') && toy !== 'any') {
              // Which toy said no? A short scan tells an owned toy from one whose window is closed.
              progress.update(`${target} is not in pairing mode; checking whether it has an owner…`, true);
              seen = (await scanFor(ctx, 3, { signal })).filter((d) => d.transportId === target);
              signal.throwIfAborted();
              if (seen.length > 0) throw notInPairingMode(seen, 0, ctx.simToy ? (g.toyState ?? defaults.toyState()) : undefined, e);
            }
            throw e;
          }
          progress.done();
          try {
            const t = session.toy;
            if (o.json) outJson({ id: t.id, name: t.name, role: t.role, firmwareVersion: t.firmwareVersion, roundTrips: session.roundTrips, transportId: target });
            else out(`paired with "${t.name}" (${t.id}) as ${t.role} in ${session.roundTrips} round trip${session.roundTrips === 1 ? '' : 's'}; stored in ${ctx.keystorePath}`);
          } finally {
            await session.close();
          }
        });
      } catch (e) {
        if (signal.aborted) throw signal.reason instanceof PlushlinkError ? signal.reason : new PlushlinkError('ABORTED', 'interrupted');
        throw e;
      } finally {
        progress.done();
        dispose();
      }
    });

  program
    .command('toys')
    .description('list the toys this companion has paired (reads the keystore; no radio)')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const data = await new FileKeystore(g.keystore ?? defaults.keystore()).load();
      const toys = data?.toys ?? [];
      if (o.json) {
        outJson(toys.map((t) => ({ id: t.id, name: t.name, role: t.role, firmwareVersion: t.firmwareVersion, pairedAt: new Date(t.pairedAt).toISOString() })));
        return;
      }
      if (toys.length === 0) {
        note('no paired toys (pair one with `plushlink pair`)');
        return;
      }
      for (const t of toys) out(`${t.name}\t${t.id}\t${t.role}\tfirmware ${t.firmwareVersion}\tpaired ${new Date(t.pairedAt).toISOString()}`);
    });

  program
    .command('forget')
    .description('remove this companion from the toy\'s allow-list, then forget the toy locally')
    .argument('<toy>', 'the toy\'s name or id (see `toys`)')
    .option('--local-only', 'do not contact the toy: forget it here only (the toy keeps listing this companion until its owner removes it or it is factory reset)')
    .option('--json', 'print JSON')
    .option('--timeout <seconds>', 'give up finding and connecting to the toy after this long', positiveNumber('--timeout'), 30)
    .addHelpText('after', SIM_TRANSPORT_HELP)
    .action(async (toy: string, o: { localOnly?: boolean; json?: boolean; timeout: number }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const { signal, dispose } = interruptSignal();
      const progress = new Progress();
      try {
        if (o.localOnly) {
          const ks = new FileKeystore(g.keystore ?? defaults.keystore());
          const data = await ks.load();
          const t = data?.toys.find((x) => x.id === toy || x.name === toy);
          if (!data || !t) throw new PlushlinkError('NOT_FOUND', `no paired toy "${toy}"`);
          data.toys = data.toys.filter((x) => x.id !== t.id);
          await ks.save(data);
          if (o.json) outJson({ id: t.id, name: t.name, removedFromToy: false });
          else out(`forgot "${t.name}" (${t.id}) locally; the toy still lists this companion until its owner removes it or it is factory reset`);
          return;
        }
        await withCompanion(g, {}, async (ctx) => {
          const session = await connectToy(ctx, toy, signal, (s) => progress.update(s, true), o.timeout, g.probe === true);
          progress.done();
          let t;
          try {
            t = await ctx.companion.forget(session.toy.id, { session });
          } catch (e) {
            await session.close();
            throw e;
          }
          await session.close().catch(() => undefined);
          if (o.json) outJson({ id: t.id, name: t.name, removedFromToy: true });
          else out(`"${t.name}" (${t.id}) removed this companion from its allow-list; forgotten locally`);
        });
      } catch (e) {
        if (!o.localOnly && (isPlushlinkError(e, 'TIMEOUT') || (isPlushlinkError(e, 'NOT_FOUND') && /was not seen/.test(e.message)))) {
          throw new PlushlinkError(e.code, `${e.message} (use --local-only to forget it here without contacting it)`);
        }
        throw e;
      } finally {
        progress.done();
        dispose();
      }
    });
}
