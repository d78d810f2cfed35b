/**
 * The `plushlink` command line (bin/plushlink.js runs {@link main}). Commands live in
 * `src/cli/`: toys (scan, pair, toys, forget), audio (record, play), the toy side
 * (simulate-toy, label), demo (`src/cli/demo/`), doctor, and messages (message, outbox, forget-all).
 * The CLI is an application of the library: only it may load the relay workspace package
 * (`relay serve`, `demo --family`), and nothing in the library imports it.
 *
 * Errors print as one line `error CODE: message` on stderr (CODE is the PlushlinkError code,
 * `USAGE` for command-line mistakes) with exit code 1 (2 for usage, 130 when interrupted).
 * `DEBUG=plushlink:*` turns on logging.
 */
import { Command, CommanderError, Option } from 'commander';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, TRANSPORTS, UsageError, formatError, log } from './common.js';
import { registerAudioCommands } from './cmd-audio.js';
import { registerConformanceCommand } from './cmd-conformance.js';
import { registerDemoCommand } from './cmd-demo.js';
import { registerDoctorCommand } from './cmd-doctor.js';
import { registerMessageCommands } from './cmd-messages.js';
import { registerRelayCommands } from './cmd-relay.js';
import { registerFamilyCommands } from './cmd-family.js';
import { registerInboxCommands } from './cmd-inbox.js';
import { registerToyCommands } from './cmd-toys.js';
import { registerToySideCommands } from './cmd-toy-side.js';

/** Builds the command tree (exported for tests and embedding). */
export function buildProgram(): Command {
  const program = new Command('plushlink')
    .description('plushlink: pair with connected plush toys over authenticated, encrypted BLE; stream voice; seal voice messages.')
    .version('0.1.0', '-V, --version')
    .addOption(new Option('--transport <kind>', 'memory | noble-sim | noble (default: noble for commands that talk to a toy, memory for demo)').choices([...TRANSPORTS]))
    .option('--keystore <path>', "the companion's keystore (default $PLUSHLINK_HOME/keystore.json, PLUSHLINK_HOME default ~/.plushlink)")
    .option('--probe', "when connecting to a paired toy, also try owned toys this companion cannot recognise (a toy whose advertising key changed while you were away); sends them this companion's reconnect message, bound to the current advertising slot (docs/PROTOCOL.md §14.3)")
    .option('--toy-state <file>', 'with --transport memory|noble-sim: the in-process toy\'s identity file (default $PLUSHLINK_HOME/sim-toy.json)')
    .showHelpAfterError(false)
    .addHelpText('after', `
Environment:
  DEBUG=plushlink:*     log what happens (plushlink:cli, plushlink:toy)
  PLUSHLINK_HOME        folder of the default keystore, outbox and identity files
  NOBLE_HCI_DEVICE_ID   the adapter the companion uses (noble, Linux)
  BLENO_HCI_DEVICE_ID   the adapter simulate-toy uses (bleno, Linux)

Errors print as one line "error CODE: message" on stderr; exit code 1 (2 for usage, 130 on Ctrl-C).`);
  program.exitOverride();
  program.configureOutput({ outputError: () => undefined });
  registerToyCommands(program);
  registerAudioCommands(program);
  registerToySideCommands(program);
  registerDemoCommand(program);
  registerDoctorCommand(program);
  registerMessageCommands(program);
  registerRelayCommands(program);
  registerFamilyCommands(program);
  registerInboxCommands(program);
  registerConformanceCommand(program);
  // every command: one-line errors, no usage dump
  const walk = (c: Command): void => {
    c.exitOverride();
    c.configureOutput({ outputError: () => undefined });
    c.commands.forEach(walk);
  };
  walk(program);
  return program;
}

/** Runs the CLI on `argv` (as `process.argv`); resolves with the exit code. Never throws. */
export async function main(argv: readonly string[] = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return EXIT.OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.OK;
      if (e.code === 'commander.executeSubCommandAsync') return e.exitCode;
      const err = new UsageError(e.message.replace(/^error:\s*/i, ''));
      process.stderr.write(formatError(err).line + '\n');
      return EXIT.USAGE;
    }
    log.cli('%O', e);
    const { line, exitCode } = formatError(e);
    process.stderr.write(line + '\n');
    return exitCode;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then((code) => process.stdout.write('', () => process.exit(code)));
}
