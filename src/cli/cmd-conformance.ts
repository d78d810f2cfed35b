/**
 * `plushlink conformance`: the toy conformance run (docs/CONFORMANCE.md) against a toy in range
 * (`--transport noble`, one BLE dongle), or against the in-process reference toy
 * (`--transport memory`: on a fake clock, every check runs; `noble-sim`: real noble and bleno
 * GATT code on the wall clock). Steps that need a person — holding the pairing button, the
 * factory reset — are asked for on stdin, or reported not-run with `--no-prompt`.
 */
import type { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { NobleCentral, PlushlinkError } from '../index.js';
import { generateX25519KeyPair } from '../protocol/crypto.js';
import { formatSetupCode, formatSetupQr, generateSetupCode } from '../protocol/setup-code.js';
import { ReferenceToy } from '../toy/reference-toy.js';
import { createNobleSimRadio } from '../transport/noble-sim/index.js';
import { memoryConformanceTarget, renderConformanceJson, renderConformanceText, runConformance, type ConformanceOptions, type ConformanceReport } from '../conformance/index.js';
import { interruptSignal, note, out, positiveNumber, Progress, transportOf, UsageError, type GlobalOptions } from './common.js';

interface ConformanceCliOptions {
  code?: string;
  qr?: string;
  json?: boolean;
  prompt: boolean;
  slotWait?: boolean;
  answerMs?: number;
  toy?: string;
}

/** Asks a person on stdin to do something to the toy, and waits for Enter. */
async function ask(what: string, signal: AbortSignal): Promise<void> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    await rl.question(`\n>>> ${what}, then press Enter: `, { signal });
  } finally {
    rl.close();
  }
}

export function registerConformanceCommand(program: Command): void {
  program
    .command('conformance')
    .description('check a toy against docs/PROTOCOL.md: one named check per requirement, a report to attach to a release (docs/CONFORMANCE.md)')
    .option('--code <code>', 'the toy\'s setup code as printed on its label')
    .option('--qr <payload>', 'the toy\'s QR payload (PL1:…)')
    .option('--json', 'print the report as JSON')
    .option('--no-prompt', 'do not ask a person to hold the button or reset the toy: those checks are reported not-run')
    .option('--toy <id>', 'with --no-prompt: the toy\'s transport id now (plushlink scan), so the checks that need no button still run on it')
    .option('--slot-wait', 'also wait (up to 10 min) for the next advertising slot and check the rotation')
    .option('--answer-ms <ms>', 'how long to wait for the toy to answer before concluding it sent nothing (default 2000; noble-sim 500)', positiveNumber('--answer-ms'))
    .addHelpText('after', `
The toy must be unowned (factory reset) and the only toy in pairing mode in range. The run
ends with a factory reset, so it leaves the toy unowned. Exit code 0 when no check failed.
  --transport memory     the in-process reference toy on a fake clock (no waiting; every check runs)
  --transport noble-sim  the in-process reference toy over real noble + bleno GATT code
  --transport noble      (default) your toy, through a BLE dongle (--code or --qr required)`)
    .action(async (o: ConformanceCliOptions, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const transport = transportOf(g, 'noble');
      const { signal, dispose, rearm } = interruptSignal();
      const progress = new Progress();
      const cleanup: (() => Promise<void>)[] = [];
      let report: ConformanceReport;
      try {
        let options: ConformanceOptions;
        if (transport === 'memory') {
          const t = await memoryConformanceTarget();
          cleanup.push(() => t.close());
          options = { ...t.options, toyId: t.toyId() };
        } else if (transport === 'noble-sim') {
          const sim = createNobleSimRadio({ latencyMs: 1 });
          cleanup.push(() => sim.close());
          const identity = generateX25519KeyPair();
          const setupCode = generateSetupCode();
          const toy = new ReferenceToy({ peripheral: sim.peripheral, identity, setupCode });
          await toy.start();
          cleanup.unshift(() => toy.stop());
          options = {
            central: sim.central,
            code: formatSetupCode(setupCode),
            qr: formatSetupQr(setupCode, identity.publicKey),
            toyId: sim.peripheral.address.replace(/:/g, '').toLowerCase(),
            pressButton: async () => toy.pressButton('hold'),
            resetToy: async () => toy.pressButton('reset'),
            answerWindowMs: o.answerMs ?? 500,
            target: 'reference toy over noble-sim',
          };
        } else {
          if (!o.code && !o.qr) throw new UsageError('--code or --qr is required with --transport noble');
          const central = new NobleCentral();
          cleanup.push(() => central.close());
          rearm();
          options = {
            central,
            ...(o.code ? { code: o.code } : {}),
            ...(o.qr ? { qr: o.qr } : {}),
            ...(o.prompt
              ? {
                  pressButton: (s: AbortSignal) => ask('Hold the toy\'s pairing button (about 3 s)', s),
                  resetToy: (s: AbortSignal) => ask('Factory-reset the toy (long press, about 10 s)', s),
                }
              : {}),
            target: 'toy over BLE (noble)',
          };
        }
        if (o.answerMs !== undefined) options.answerWindowMs = o.answerMs;
        if (o.toy !== undefined) options.toyId = o.toy;
        if (o.prompt && transport !== 'noble') delete options.toyId;
        if (!o.prompt && transport !== 'noble') {
          delete options.pressButton;
          delete options.resetToy;
        }
        report = await runConformance({
          ...options,
          waitForSlot: o.slotWait === true,
          signal,
          onStep: (s) => progress.update(`checking ${s}`),
          onResult: (r) => progress.update(`${r.verdict.padEnd(7)} ${r.name}`, true),
        });
      } finally {
        progress.done();
        for (const c of cleanup) await c().catch(() => undefined);
        dispose();
      }
      if (o.json) out(renderConformanceJson(report));
      else out(renderConformanceText(report));
      if (report.summary.failed > 0) {
        if (o.json) note(`${report.summary.failed} check(s) failed`);
        throw new PlushlinkError('UNSUPPORTED', `${report.summary.failed} conformance check(s) failed: ${report.results.filter((r) => r.verdict === 'failed').map((r) => r.name).join(', ')}`);
      }
    });
}
