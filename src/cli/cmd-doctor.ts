/** `plushlink doctor`: is this machine ready for real Bluetooth and the relay? (docs/HARDWARE.md) */
import type { Command } from 'commander';
import { PlushlinkError } from '../index.js';
import { defaults, out, outJson, positiveNumber } from './common.js';
import { formatCheck, machineProbes, runDoctor } from './doctor.js';

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('check what real Bluetooth and the relay need on this machine, one line each with the fix')
    .option('--relay <url>', `the relay to check (default $PLUSHLINK_RELAY, else ${defaults.relay()})`)
    .option('--timeout <seconds>', 'time limit of the relay check', positiveNumber('--timeout'), 5)
    .option('--json', 'print the checks as JSON')
    .addHelpText('after', `
Checks: the Node version; whether @abandonware/noble and @abandonware/bleno are installed and
load (their native build fails silently without a compiler); the build prerequisites
(build-essential, python3, libbluetooth-dev, libudev-dev); a Bluetooth adapter; the raw-socket
capabilities; whether bluetoothd holds the adapter; opus-tools; and that the relay answers
GET /v1/health. Exit code 0 when nothing failed (warnings allowed), 1 otherwise.
Details and fixes: docs/HARDWARE.md.`)
    .action(async (o: { relay?: string; timeout: number; json?: boolean }) => {
      const relay = o.relay ?? defaults.relay();
      const checks = await runDoctor(machineProbes(), { relay, relayTimeoutMs: o.timeout * 1000 });
      if (o.json) outJson(checks);
      else for (const c of checks) out(formatCheck(c));
      const failed = checks.filter((c) => c.status === 'fail');
      if (failed.length > 0) {
        throw new PlushlinkError('UNSUPPORTED', `${failed.length} check(s) failed: ${failed.map((c) => c.id).join(', ')} (fixes above; docs/HARDWARE.md)`);
      }
    });
}
