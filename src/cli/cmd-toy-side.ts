/** `plushlink simulate-toy` and `plushlink label`: the toy's side. */
import type { Command } from 'commander';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { isPlushlinkError } from '../index.js';
import { BlenoPeripheral, type Peripheral, type ToyLogEvent } from '../toy.js';
import { createAir, type Air } from './transports.js';
import { UsageError, defaults, log, note, out, outJson, type GlobalOptions } from './common.js';
import { labelSvg, terminalQr } from './label-svg.js';
import { describeToyEvent, flashPathOf, freshToyIdentity, loadOrCreateToyIdentity, startSimToy, type ToyLabel } from './sim-toy.js';

export function registerToySideCommands(program: Command): void {
  program
    .command('simulate-toy')
    .description('run the reference toy: on a BLE dongle through bleno (a stand-in toy for hardware tests), or --in-process on the simulated radio')
    .option('--state <file>', 'identity + setup code file (mode 0600, created on first run); the toy\'s flash is FILE.flash.json', defaults.toyState())
    .option('--in-process', 'run on the simulated radio of --transport memory|noble-sim (default noble-sim) instead of bleno')
    .option('--mic <file.ogg>', "what the toy's microphone hears (mono Ogg Opus; default a bundled clip)")
    .option('--json', 'print JSON lines (label, ready, advertising, toy events) instead of text')
    .addHelpText('after', `
Keys (type, then Enter):  b  hold the button (opens the pairing window)
                          r  factory reset (erases every pairing)
                          q  quit (or Ctrl-C, SIGTERM)
Without a terminal (stdin at end of file, as under systemd or nohup) the toy runs until a signal.

On a dongle, bleno needs the raw-HCI capabilities and bluetoothd off the adapter; pick the
adapter with BLENO_HCI_DEVICE_ID (see docs/HARDWARE.md). bleno serves one central at a time.
--in-process runs the same toy on the in-process air (no other process can reach it): it is
for trying the toy's state machine — button, reset, advertising, persisted state — without a
dongle. Companion commands with --transport memory|noble-sim start their own in-process toy
from --toy-state FILE, which may be the same file as --state here.`)
    .action(async (o: { state: string; inProcess?: boolean; mic?: string; json?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      let air: Air | undefined;
      let peripheral: Peripheral;
      let transport: string;
      if (o.inProcess) {
        transport = g.transport ?? 'noble-sim';
        if (transport !== 'memory' && transport !== 'noble-sim') throw new UsageError(`--in-process runs on --transport memory or noble-sim (got "${transport}")`);
        air = await createAir(transport);
        peripheral = air.peripheral;
      } else {
        if (g.transport && g.transport !== 'noble') throw new UsageError(`simulate-toy without --in-process uses bleno on a real adapter; add --in-process for --transport ${g.transport}`);
        transport = 'bleno';
        peripheral = new BlenoPeripheral();
      }
      const emit = (event: string, data: Record<string, unknown>, text: string): void => {
        if (o.json) process.stdout.write(JSON.stringify({ event, ...data }) + '\n');
        else out(text);
      };
      // The label first, then the toy's events.
      const { toy: id, created } = await loadOrCreateToyIdentity(o.state);
      const lbl = id.label;
      emit('label', { ...lbl, state: o.state, flash: flashPathOf(o.state), created }, [
        `Toy label (${created ? 'new toy, saved to' : 'loaded from'} ${o.state})`,
        `  setup code       ${lbl.code}`,
        `  QR payload       ${lbl.qr}`,
        `  key fingerprint  ${lbl.fingerprint}`,
      ].join('\n'));
      let fail: (e: Error) => void = () => undefined;
      const failed = new Promise<never>((_, reject) => (fail = reject));
      failed.catch(() => undefined);
      const sim = await startSimToy({
        peripheral,
        statePath: o.state,
        ...(o.mic ? { microphone: o.mic } : {}),
        onEvent: (e: ToyLogEvent) => emit('toy', { ...e }, `toy: ${describeToyEvent(e)}`),
        onAdvertise: (a) =>
          emit('advertising', a, `advertising: ${a.pairing ? (a.owned ? 'guest pairing window' : 'pairing mode') : a.owned ? 'owned toy, rotating tag' : 'unowned toy, random tag'} (tag ${a.tag})`),
        // An adapter that stops working (advertising refused) ends the command.
        onError: (e) => {
          if (isPlushlinkError(e, 'TRANSPORT_UNAVAILABLE')) fail(e);
        },
      });
      try {
        await sim.advertising; // no dongle, no permission: fails here with TRANSPORT_UNAVAILABLE
      } catch (e) {
        await sim.stop().catch(() => undefined);
        await air?.close().catch(() => undefined);
        throw e;
      }
      emit('ready', { transport, ...(air ? { transportId: air.toyId } : {}) }, `Running on ${transport}${air ? ` (transport id ${air.toyId})` : ''}. Keys: b = hold the button, r = factory reset, q = quit.`);

      let quit: () => void = () => undefined;
      const quitting = new Promise<void>((r) => (quit = r));
      const rl = createInterface({ input: process.stdin, terminal: false });
      rl.on('line', (line) => {
        const k = line.trim().toLowerCase();
        if (k === 'b') sim.toy.pressButton('hold');
        else if (k === 'r') sim.toy.pressButton('reset');
        else if (k === 'q') quit();
        else if (k) note(`unknown key "${k}" (b, r, q)`);
      });
      // stdin at end of file (systemd, nohup, CI, `< /dev/null`): the keys are gone, the toy runs
      // on until a signal. The in-process radio holds no handle of its own, so this timer keeps
      // Node from ending the command (exit 13) while it waits.
      const keepAlive = setInterval(() => undefined, 1 << 30);
      rl.on('close', () => {
        if (!o.json) note('stdin closed: keys are off; the toy runs until Ctrl-C or SIGTERM');
      });
      const onSignal = (): void => quit();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        await Promise.race([quitting, failed]);
      } finally {
        clearInterval(keepAlive);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        rl.close();
        await sim.stop().catch((e: Error) => log.toy('stop: %s', e.message));
        await air?.close().catch(() => undefined);
        emit('stopped', {}, 'Toy stopped; state written.');
      }
    });

  program
    .command('label')
    .description("print a toy's setup code as a QR code in the terminal and write a printable SVG label")
    .option('--state <file>', "the toy's identity file, created when missing (the same default as simulate-toy and --toy-state)", defaults.toyState())
    .option('--fresh', 'print the label of a new, throwaway identity that is NOT saved (ignores --state)')
    .option('--svg <file>', 'where to write the SVG label (default: beside the identity file, FILE.label.svg; with --fresh none unless given)')
    .option('--no-qr', 'do not draw the QR code in the terminal')
    .option('--json', 'print the label as JSON (code, qr, fingerprint, state, svg)')
    .addHelpText('after', `
Without options this is the label of the simulated toy that \`simulate-toy\` and the companion
commands with --transport memory|noble-sim use ($PLUSHLINK_HOME/sim-toy.json). Every run says
which identity file it read or created and where the SVG went.`)
    .action(async (o: { state: string; fresh?: boolean; svg?: string; qr: boolean; json?: boolean }) => {
      let lbl: ToyLabel;
      let identity: string;
      if (o.fresh) {
        lbl = freshToyIdentity().label;
        identity = 'a fresh identity, NOT saved (--fresh)';
      } else {
        const r = await loadOrCreateToyIdentity(o.state);
        lbl = r.toy.label;
        identity = `${r.created ? 'created' : 'loaded from'} ${o.state}`;
      }
      const svg = o.svg ?? (o.fresh ? undefined : `${o.state.replace(/\.json$/i, '')}.label.svg`);
      if (svg) {
        await mkdir(dirname(resolve(svg)), { recursive: true });
        await writeFile(svg, await labelSvg(lbl));
      }
      if (o.json) {
        outJson({ ...lbl, state: o.fresh ? null : o.state, saved: !o.fresh, svg: svg ?? null });
        return;
      }
      if (o.qr) out(await terminalQr(lbl.qr));
      out(`toy identity     ${identity}`);
      out(`setup code       ${lbl.code}`);
      out(`QR payload       ${lbl.qr}`);
      out(`key fingerprint  ${lbl.fingerprint}`);
      out(`SVG label        ${svg ?? 'not written (add --svg FILE)'}`);
    });
}
