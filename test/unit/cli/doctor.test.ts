/**
 * `plushlink doctor` against made-up machines: each check says what it found and how to fix it,
 * from the probes alone (src/cli/doctor.ts).
 */
import { describe, expect, it } from 'vitest';
import { formatCheck, runDoctor, type Check, type DoctorProbes, type LoadResult } from '../../../src/cli/doctor.js';
import { formatError } from '../../../src/cli/common.js';
import { PlushlinkError } from '../../../src/protocol/errors.js';
import { toUnavailable } from '../../../src/transport/noble/optional-require.js';

/** A healthy Linux box with a dongle, unless overridden. */
function machine(over: Partial<DoctorProbes> & { loads?: Record<string, LoadResult>; files?: string[]; commands?: string[] } = {}): DoctorProbes {
  const files = new Set(over.files ?? ['/usr/include/bluetooth/bluetooth.h', '/usr/include/libudev.h']);
  const commands = new Set(over.commands ?? ['make', 'g++', 'python3', 'hciconfig', 'opusinfo', 'opusdec', 'opusenc']);
  const loads = over.loads ?? {};
  return {
    platform: 'linux',
    nodeVersion: 'v20.20.2',
    uid: 1000,
    which: (c) => (commands.has(c) ? `/usr/bin/${c}` : undefined),
    exists: (p) => files.has(p),
    readText: (p) => (p === '/proc/self/status' ? 'Name:\tnode\nCapEff:\t0000000000003000\n' : undefined),
    listDir: (p) => (p === '/sys/class/bluetooth' ? ['hci0', 'hci1'] : []),
    processNames: () => ['systemd', 'node'],
    run: async () => 'hci1:\tType: Primary  Bus: USB\n\tUP RUNNING\n\nhci0:\tType: Primary  Bus: USB\n\tUP RUNNING\n',
    load: async (pkg) => loads[pkg] ?? { kind: 'ok', version: '1.0.0' },
    relayHealth: async () => ({ ok: true, version: '0.1.0', store: 'sqlite' }),
    ...over,
  };
}

const byId = (checks: Check[]): Record<string, Check> => Object.fromEntries(checks.map((c) => [c.id, c]));
const opts = { relay: 'http://127.0.0.1:8787', relayTimeoutMs: 1000 };

describe('plushlink doctor', () => {
  it('a ready machine: every check ok, one line each, in a fixed order', async () => {
    const checks = await runDoctor(machine(), opts);
    expect(checks.map((c) => c.id)).toEqual(['node', 'noble', 'bleno', 'build-tools', 'adapter', 'raw-sockets', 'bluetoothd', 'opus-tools', 'relay']);
    expect(checks.filter((c) => c.status !== 'ok')).toEqual([]);
    for (const c of checks) expect(formatCheck(c)).not.toContain('\n');
    expect(byId(checks).adapter!.summary).toBe('adapter(s) up: hci0, hci1');
  });

  it('no compiler: noble and bleno are missing, and the build tools are named with the apt-get line', async () => {
    const checks = byId(
      await runDoctor(
        machine({ commands: ['python3'], files: [], loads: { '@abandonware/noble': { kind: 'not-installed' }, '@abandonware/bleno': { kind: 'not-installed' } } }),
        opts,
      ),
    );
    expect(checks.noble).toMatchObject({ status: 'fail' });
    expect(checks.noble!.summary).toMatch(/not installed/);
    expect(checks.noble!.fix).toContain('npm install @abandonware/noble');
    expect(checks.noble!.fix).toContain('build-essential');
    expect(checks['build-tools']).toMatchObject({ status: 'fail', fix: 'sudo apt-get install build-essential libbluetooth-dev libudev-dev' });
  });

  it('installed but unbuilt, no Bluetooth sockets, refused sockets: each its own cause and fix', async () => {
    const checks = byId(
      await runDoctor(
        machine({
          loads: {
            '@abandonware/noble': { kind: 'no-native', version: '1.9.2-26', message: 'Could not locate the bindings file' },
            '@abandonware/bleno': { kind: 'error', version: '0.6.2', code: 'EAFNOSUPPORT', message: 'EAFNOSUPPORT, Address family not supported by protocol' },
          },
        }),
        opts,
      ),
    );
    expect(checks.noble!.summary).toMatch(/native addon did not build/);
    expect(checks.noble!.fix).toMatch(/npm rebuild @abandonware\/noble$/);
    expect(checks.bleno!.summary).toMatch(/no Bluetooth sockets/);
    expect(checks['build-tools']!.status).toBe('ok'); // the tools are there: only a rebuild is needed
  });

  it('no adapter, an adapter down, no capabilities, bluetoothd running, no opus-tools', async () => {
    const checks = byId(
      await runDoctor(
        machine({
          commands: ['make', 'g++', 'python3', 'hciconfig'],
          listDir: () => ['hci0'],
          run: async () => 'hci0:\tType: Primary  Bus: USB\n\tDOWN\n',
          readText: () => 'CapEff:\t0000000000000000\n',
          processNames: () => ['bluetoothd'],
        }),
        opts,
      ),
    );
    expect(checks.adapter).toMatchObject({ status: 'warn', fix: 'sudo hciconfig hci0 up' });
    expect(checks['raw-sockets']!.status).toBe('fail');
    expect(checks['raw-sockets']!.fix).toContain('setcap cap_net_raw,cap_net_admin+eip');
    expect(checks.bluetoothd).toMatchObject({ status: 'warn' });
    expect(checks.bluetoothd!.fix).toContain('systemctl stop bluetooth');
    expect(checks['opus-tools']).toMatchObject({ status: 'warn', fix: 'sudo apt-get install opus-tools' });
    const none = byId(await runDoctor(machine({ listDir: () => [] }), opts));
    expect(none.adapter!.status).toBe('fail');
  });

  it('old Node fails; root passes the capability check; other platforms skip the Linux checks', async () => {
    expect(byId(await runDoctor(machine({ nodeVersion: 'v18.19.0' }), opts)).node!.status).toBe('fail');
    expect(byId(await runDoctor(machine({ uid: 0, readText: () => undefined }), opts))['raw-sockets']!.status).toBe('ok');
    const mac = byId(await runDoctor(machine({ platform: 'darwin' }), opts));
    for (const id of ['build-tools', 'adapter', 'raw-sockets', 'bluetoothd']) expect(mac[id]!.status, id).toBe('skip');
  });

  it('the node line names the crypto back end in use', async () => {
    const node = byId(await runDoctor(machine({ cryptoBackend: { name: 'node', description: 'node:crypto (OpenSSL 3.0.19)' } }), opts)).node!;
    expect(formatCheck(node)).toBe('ok    node        Node v20.20.2 (plushlink needs ≥ 20); crypto back end node: node:crypto (OpenSSL 3.0.19)');
  });

  it('an unreachable relay fails with the way to start one', async () => {
    const checks = byId(await runDoctor(machine({ relayHealth: async () => ({ ok: false, code: 'RELAY_UNAVAILABLE', message: 'unreachable' }) }), opts));
    expect(checks.relay!.status).toBe('fail');
    expect(checks.relay!.summary).toContain('http://127.0.0.1:8787');
    expect(checks.relay!.fix).toContain('plushlink relay serve');
  });
});

describe('every TRANSPORT_UNAVAILABLE points to plushlink doctor', () => {
  it('from the Bluetooth package loader (missing package, failed load) and in the CLI\'s error line', () => {
    const missing = toUnavailable('@abandonware/noble', '@abandonware/noble', Object.assign(new Error('Cannot find module'), { code: 'MODULE_NOT_FOUND' }));
    const broken = toUnavailable('@abandonware/bleno', '@abandonware/bleno', Object.assign(new Error('EAFNOSUPPORT, Address family not supported'), { code: 'EAFNOSUPPORT' }));
    for (const e of [missing, broken]) {
      expect(e.code).toBe('TRANSPORT_UNAVAILABLE');
      expect(e.message).toContain('plushlink doctor');
      expect(formatError(e).line.match(/plushlink doctor/g)).toHaveLength(1); // not twice
    }
    const closed = formatError(new PlushlinkError('TRANSPORT_UNAVAILABLE', 'the radio is closed'));
    expect(closed.line).toBe('error TRANSPORT_UNAVAILABLE: the radio is closed (run `plushlink doctor` to check Bluetooth support)');
  });
});
