/** `plushlink demo`: the same run as `npm run demo`. */
import type { Command } from 'commander';
import { runDemo } from './demo/demo.js';
import { UsageError, out, outJson, transportOf, type GlobalOptions } from './common.js';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('no hardware: pair with an in-process toy, reconnect, control it, stream voice both ways, then refuse a stranger (same as `npm run demo`)')
    .option('--json', 'print one JSON object with the verdicts')
    .option('--out <dir>', 'where the microphone recordings go', 'out')
    .option('--family', "both hops: the toy, a relay on 127.0.0.1, the grandparent's app as a second process, a stranger, and a thief who copies the relay's database")
    .addHelpText('after', `
--transport memory (default here) or noble-sim (real noble + bleno GATT code, in-process).
--family needs the @plushlink/relay workspace package (installed in a source checkout).`)
    .action(async (o: { json?: boolean; out: string; family?: boolean }, cmd: Command) => {
      if (o.family) {
        const { runFamilyDemo } = await import('./demo/demo-family.js');
        const r = await runFamilyDemo({ outDir: o.out, ...(o.json ? {} : { log: (l: string) => out(l) }) });
        if (o.json) outJson(r);
        return;
      }
      const transport = transportOf(cmd.optsWithGlobals<GlobalOptions>(), 'memory');
      if (transport === 'noble') throw new UsageError('the demo runs in-process: use --transport memory or noble-sim');
      const r = await runDemo({ transport, outDir: o.out, ...(o.json ? {} : { log: (l: string) => out(l) }) });
      if (o.json) outJson(r);
    });
}
