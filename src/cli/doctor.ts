/**
 * `plushlink doctor`: checks what the real Bluetooth transport and the relay need, one line each,
 * with the fix (docs/HARDWARE.md, "Check a machine: plushlink doctor"). Bluetooth support is an
 * optional native dependency that can fail to build without a word during `npm install`; this is
 * where that silence ends.
 *
 * Every probe of the machine goes through {@link DoctorProbes}, so the checks are tested against
 * made-up machines (test/unit/cli/doctor.test.ts) as well as the real one.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { relayPaths } from '../messages/relay-protocol.js';
import { cryptoBackend } from '../protocol/crypto.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

/** One line of the report. */
export interface Check {
  id: string;
  status: CheckStatus;
  /** What was found. */
  summary: string;
  /** What to do about it (absent when nothing needs doing). */
  fix?: string;
}

/** The result of loading a Bluetooth package in a child process. */
export type LoadResult =
  | { kind: 'ok'; version: string }
  | { kind: 'not-installed' }
  | { kind: 'no-native'; version: string; message: string }
  | { kind: 'error'; version: string; code?: string; message: string };

/** Everything the checks read from the machine. */
export interface DoctorProbes {
  platform: NodeJS.Platform;
  nodeVersion: string;
  /** The crypto back end this process uses (`cryptoBackend()`), shown on the node line. */
  cryptoBackend?: { name: string; description: string };
  /** Effective user id (undefined on Windows). */
  uid: number | undefined;
  /** Absolute path of a command on PATH, or undefined. */
  which(cmd: string): string | undefined;
  exists(path: string): boolean;
  readText(path: string): string | undefined;
  listDir(path: string): string[];
  /** Names (`comm`) of running processes (Linux: /proc). */
  processNames(): string[];
  /** Output of a short command (`hciconfig`), or undefined when it fails. */
  run(cmd: string, args: string[]): Promise<string | undefined>;
  /** Loads a Bluetooth package in a child process. */
  load(pkg: string): Promise<LoadResult>;
  /** `GET /v1/health` of a relay. */
  relayHealth(url: string, timeoutMs: number): Promise<{ ok: true; version: string; store: string } | { ok: false; code: string; message: string }>;
}

export interface DoctorOptions {
  /** The relay to check (default `$PLUSHLINK_RELAY` or the local default). */
  relay: string;
  /** Time limit of the relay check, ms. */
  relayTimeoutMs: number;
}

/** The Bluetooth packages (central, peripheral). */
export const BLUETOOTH_PACKAGES = ['@abandonware/noble', '@abandonware/bleno'] as const;

const APT_BUILD = 'sudo apt-get install build-essential python3 libbluetooth-dev libudev-dev';
const CAP_NET_ADMIN = 12;
const CAP_NET_RAW = 13;

function checkNode(p: DoctorProbes): Check {
  const major = Number(/^v?(\d+)/.exec(p.nodeVersion)?.[1] ?? 0);
  if (major < 20) return { id: 'node', status: 'fail', summary: `Node ${p.nodeVersion}: plushlink needs Node 20 or later`, fix: 'install Node 20 or 22 (LTS), e.g. from your distribution or nodejs.org' };
  const crypto = p.cryptoBackend ? `; crypto back end ${p.cryptoBackend.name}: ${p.cryptoBackend.description}` : '';
  return { id: 'node', status: 'ok', summary: `Node ${p.nodeVersion} (plushlink needs ≥ 20)${crypto}` };
}

function checkPackage(pkg: string, role: string, r: LoadResult, p: DoctorProbes): Check {
  const id = pkg.split('/')[1]!;
  const rebuild = `${p.platform === 'linux' ? `${APT_BUILD}, then ` : 'install a C++ compiler and Python 3, then '}npm rebuild ${pkg}`;
  switch (r.kind) {
    case 'ok':
      return { id, status: 'ok', summary: `${pkg} ${r.version} is installed and loads (${role})` };
    case 'not-installed':
      return {
        id,
        status: 'fail',
        summary: `${pkg} is not installed (${role}): it is an optional dependency whose native build fails without a word when the build tools are missing`,
        fix: `${p.platform === 'linux' ? `${APT_BUILD}, then ` : ''}npm install ${pkg}`,
      };
    case 'no-native':
      return { id, status: 'fail', summary: `${pkg} ${r.version} is installed but its native addon did not build (${r.message})`, fix: rebuild };
    case 'error': {
      if (r.code === 'EAFNOSUPPORT') {
        return { id, status: 'fail', summary: `${pkg} ${r.version} is built, but this system has no Bluetooth sockets (EAFNOSUPPORT: a container, VM or WSL)`, fix: 'use a machine with a Bluetooth adapter and a kernel with Bluetooth support' };
      }
      if (r.code === 'EPERM' || r.code === 'EACCES') {
        return { id, status: 'fail', summary: `${pkg} ${r.version} is built, but opening the adapter was refused (${r.code})`, fix: 'see "raw-sockets" below' };
      }
      return { id, status: 'fail', summary: `${pkg} ${r.version} failed to load: ${r.message}`, fix: `${rebuild}; if it still fails, see docs/HARDWARE.md (Troubleshooting)` };
    }
  }
}

function checkBuildTools(p: DoctorProbes, needed: boolean): Check {
  if (p.platform !== 'linux') return { id: 'build-tools', status: 'skip', summary: `build prerequisites are checked on Linux only (here: ${p.platform})` };
  const missing: string[] = [];
  if (!p.which('make') || !(p.which('g++') ?? p.which('c++'))) missing.push('build-essential');
  if (!p.which('python3')) missing.push('python3');
  if (!p.exists('/usr/include/bluetooth/bluetooth.h')) missing.push('libbluetooth-dev');
  if (!p.exists('/usr/include/libudev.h')) missing.push('libudev-dev');
  if (missing.length === 0) return { id: 'build-tools', status: 'ok', summary: 'build prerequisites present: build-essential, python3, libbluetooth-dev, libudev-dev' };
  return {
    id: 'build-tools',
    status: needed ? 'fail' : 'warn',
    summary: `missing build prerequisites: ${missing.join(', ')}${needed ? ' (needed to build noble/bleno)' : ' (only needed to rebuild noble/bleno)'}`,
    fix: `sudo apt-get install ${missing.join(' ')}`,
  };
}

async function checkAdapter(p: DoctorProbes): Promise<Check> {
  if (p.platform !== 'linux') return { id: 'adapter', status: 'skip', summary: `adapters are listed on Linux only (here: ${p.platform}; noble uses the system's Bluetooth)` };
  const adapters = p.listDir('/sys/class/bluetooth').filter((n) => /^hci\d+$/.test(n)).sort();
  if (adapters.length === 0) {
    return { id: 'adapter', status: 'fail', summary: 'no Bluetooth adapter (/sys/class/bluetooth lists none)', fix: 'plug in a Bluetooth 4.0+ LE USB dongle (two for the HIL suite); in a VM or container, pass the USB device through' };
  }
  const hci = p.which('hciconfig') ? await p.run('hciconfig', []) : undefined;
  if (hci === undefined) {
    return { id: 'adapter', status: 'ok', summary: `adapter(s): ${adapters.join(', ')} (install bluez to see whether they are up: hciconfig)` };
  }
  const down = adapters.filter((a) => {
    const block = hci.split(/\n(?=\S)/).find((b) => b.startsWith(`${a}:`));
    return block !== undefined && !/\bUP\b/.test(block);
  });
  if (down.length > 0) return { id: 'adapter', status: 'warn', summary: `adapter(s): ${adapters.join(', ')}; down: ${down.join(', ')}`, fix: down.map((a) => `sudo hciconfig ${a} up`).join('; ') };
  return { id: 'adapter', status: 'ok', summary: `adapter(s) up: ${adapters.join(', ')}` };
}

function checkCapabilities(p: DoctorProbes): Check {
  if (p.platform !== 'linux') return { id: 'raw-sockets', status: 'skip', summary: `raw HCI sockets are a Linux matter (here: ${p.platform})` };
  if (p.uid === 0) return { id: 'raw-sockets', status: 'ok', summary: 'running as root: raw HCI sockets allowed' };
  const line = p.readText('/proc/self/status')?.split('\n').find((l) => l.startsWith('CapEff:'));
  const eff = line ? BigInt(`0x${line.split(/\s+/)[1] ?? '0'}`) : 0n;
  const has = (bit: number): boolean => (eff >> BigInt(bit)) & 1n ? true : false;
  if (has(CAP_NET_RAW) && has(CAP_NET_ADMIN)) return { id: 'raw-sockets', status: 'ok', summary: 'node has cap_net_raw and cap_net_admin' };
  return {
    id: 'raw-sockets',
    status: 'fail',
    summary: 'node lacks cap_net_raw/cap_net_admin, which noble and bleno need for raw HCI sockets',
    fix: 'sudo setcap cap_net_raw,cap_net_admin+eip $(readlink -f $(which node))   (again after each Node upgrade), or run as root',
  };
}

function checkBluetoothd(p: DoctorProbes): Check {
  if (p.platform !== 'linux') return { id: 'bluetoothd', status: 'skip', summary: `bluetoothd is a Linux (BlueZ) matter (here: ${p.platform})` };
  if (!p.processNames().includes('bluetoothd')) return { id: 'bluetoothd', status: 'ok', summary: 'bluetoothd is not running: it does not hold the adapter' };
  return {
    id: 'bluetoothd',
    status: 'warn',
    summary: 'bluetoothd is running and may hold the adapter plushlink needs (scans then miss toys, bleno cannot advertise)',
    fix: 'sudo systemctl stop bluetooth (and disable it if it comes back), then sudo hciconfig hci0 up',
  };
}

function checkOpusTools(p: DoctorProbes): Check {
  const missing = ['opusinfo', 'opusdec', 'opusenc'].filter((c) => !p.which(c));
  if (missing.length === 0) return { id: 'opus-tools', status: 'ok', summary: 'opus-tools present (opusinfo, opusdec, opusenc: to check and play recordings)' };
  return {
    id: 'opus-tools',
    status: 'warn',
    summary: `opus-tools missing (${missing.join(', ')}): optional, to check and play recordings; the audio tests that use them are skipped`,
    fix: p.platform === 'darwin' ? 'brew install opus-tools' : 'sudo apt-get install opus-tools',
  };
}

async function checkRelay(p: DoctorProbes, o: DoctorOptions): Promise<Check> {
  const r = await p.relayHealth(o.relay, o.relayTimeoutMs);
  if (r.ok) return { id: 'relay', status: 'ok', summary: `relay ${o.relay} answers: version ${r.version}, ${r.store} store` };
  return {
    id: 'relay',
    status: 'fail',
    summary: `relay ${o.relay} does not answer GET /v1/health (${r.code}: ${r.message})`,
    fix: 'start one with `plushlink relay serve` (docs/RELAY.md), or point to yours with --relay URL or PLUSHLINK_RELAY',
  };
}

/** Runs every check, in the order they are printed. */
export async function runDoctor(p: DoctorProbes, o: DoctorOptions): Promise<Check[]> {
  const [noble, bleno] = await Promise.all(BLUETOOTH_PACKAGES.map((pkg) => p.load(pkg)));
  const needBuild = [noble!, bleno!].some((r) => r.kind === 'not-installed' || r.kind === 'no-native');
  return [
    checkNode(p),
    checkPackage(BLUETOOTH_PACKAGES[0], 'the companion side: real Bluetooth for the CLI and apps', noble!, p),
    checkPackage(BLUETOOTH_PACKAGES[1], 'the toy side: simulate-toy on a dongle', bleno!, p),
    checkBuildTools(p, needBuild),
    await checkAdapter(p),
    checkCapabilities(p),
    checkBluetoothd(p),
    checkOpusTools(p),
    await checkRelay(p, o),
  ];
}

/** One line per check: `ok   node        Node v20…  → fix`. */
export function formatCheck(c: Check): string {
  const tag = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' }[c.status];
  return `${tag}  ${c.id.padEnd(11)} ${c.summary}${c.fix ? `  → fix: ${c.fix}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// The real machine

const LOAD_SCRIPT = `
const [pkg, from] = process.argv.slice(1);
const { createRequire } = require('node:module');
const req = createRequire(from);
let version = '?';
try { version = req(pkg + '/package.json').version; } catch (e) { console.log(JSON.stringify({ kind: 'not-installed' })); process.exit(0); }
try {
  req(pkg);
  console.log(JSON.stringify({ kind: 'ok', version }));
} catch (e) {
  const message = String(e && e.message || e).split('\\n')[0];
  const native = /\\.node\\b|bindings|Could not locate the bindings file|NODE_MODULE_VERSION/.test(message) || e.code === 'MODULE_NOT_FOUND';
  console.log(JSON.stringify(native ? { kind: 'no-native', version, message } : { kind: 'error', version, code: e && e.code, message }));
}
process.exit(0);
`;

function runChild(cmd: string, args: string[], timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8', env: { ...process.env, DEBUG: '' } }, (err, stdout) => resolve(err && !stdout ? undefined : stdout));
  });
}

/** The probes of this machine. Loading noble/bleno happens in a child process (they open sockets and add signal handlers). */
export function machineProbes(): DoctorProbes {
  const paths = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  return {
    platform: process.platform,
    nodeVersion: process.version,
    cryptoBackend: cryptoBackend(),
    uid: typeof process.getuid === 'function' ? process.getuid() : undefined,
    which: (cmd) => paths.map((d) => join(d, cmd)).find((f) => existsSync(f)),
    exists: (path) => existsSync(path),
    readText: (path) => {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    listDir: (path) => {
      try {
        return readdirSync(path);
      } catch {
        return [];
      }
    },
    processNames: () => {
      const names: string[] = [];
      for (const pid of (() => {
        try {
          return readdirSync('/proc').filter((d) => /^\d+$/.test(d));
        } catch {
          return [];
        }
      })()) {
        try {
          names.push(readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
        } catch {
          // the process ended meanwhile
        }
      }
      return names;
    },
    run: (cmd, args) => runChild(cmd, args, 10_000),
    load: async (pkg) => {
      // resolved from plushlink's own location, as the library resolves it (src/transport/noble/optional-require.ts)
      const from = fileURLToPath(import.meta.url);
      // A load that hangs (a driver waiting on the adapter) is reported, not waited for.
      const out = await runChild(process.execPath, ['-e', LOAD_SCRIPT, pkg, from], 60_000);
      try {
        return JSON.parse(out?.trim().split('\n').at(-1) ?? '') as LoadResult;
      } catch {
        return { kind: 'error', version: '?', message: 'loading it did not finish (killed after 60 s, or it crashed the process)' };
      }
    },
    relayHealth: async (url, timeoutMs) => {
      // A plain GET of the unsigned health route (docs/RELAY.md): reachability and `ok: true` are
      // what this check is about, whatever else the answer carries.
      let target: URL;
      try {
        target = new URL(`${url.replace(/\/+$/, '')}${relayPaths.health()}`);
        if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error('not http(s)');
      } catch {
        return { ok: false, code: 'USAGE', message: `"${url}" is not an http(s) URL` };
      }
      try {
        const res = await fetch(target, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
        const text = await res.text();
        let body: { ok?: unknown; version?: unknown; store?: unknown } = {};
        try {
          body = JSON.parse(text) as typeof body;
        } catch {
          // not JSON: reported below
        }
        if (res.status !== 200 || body.ok !== true) return { ok: false, code: `HTTP ${res.status}`, message: `unexpected answer ${JSON.stringify(text.slice(0, 80))} (is this a plushlink relay?)` };
        return { ok: true, version: String(body.version ?? '?'), store: String(body.store ?? '?') };
      } catch (e) {
        const err = e as { name?: string; cause?: { code?: string; message?: string }; message?: string };
        if (err.name === 'TimeoutError') return { ok: false, code: 'TIMEOUT', message: `no answer within ${timeoutMs / 1000} s` };
        return { ok: false, code: err.cause?.code ?? 'RELAY_UNAVAILABLE', message: err.cause?.code === 'ECONNREFUSED' ? 'connection refused: nothing listens there' : (err.cause?.message ?? err.message ?? String(e)) };
      }
    },
  };
}
