/** Heap per live session with N concurrent sessions, measured in a child process (see memory-child.ts). */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './rig.js';
import { row, type Row } from './report.js';

interface ChildResult {
  n: number;
  live: number;
  toySessions: number;
  sessionBytes: number;
  idleConnectionBytes: number;
  sessionArrayBufferBytes: number;
  idleArrayBufferBytes: number;
}

function runChild(n: number): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', join(ROOT, 'bench/memory-child.ts'), String(n)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`memory child exited ${code}: ${err}`));
      const line = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as ChildResult);
      } catch {
        reject(new Error(`memory child printed no JSON: ${out} ${err}`));
      }
    });
  });
}

export async function benchMemory(opts: { quick: boolean }): Promise<Row[]> {
  const n = opts.quick ? 20 : 200;
  const r = await runChild(n);
  if (r.live !== n || r.toySessions !== n) throw new Error(`only ${r.live}/${n} companion sessions and ${r.toySessions}/${n} toy sessions were live`);
  return [
    row({
      key: 'sessionMemoryKiB',
      variant: `${n} sessions`,
      value: (r.sessionBytes + r.sessionArrayBufferBytes) / 1024,
      unit: 'KiB/session',
      baselines: { 'idle connection, no session': (r.idleConnectionBytes + r.idleArrayBufferBytes) / 1024 },
      goal: { op: '<=', target: 256 },
      how: `child process (node --expose-gc): ${n} toys + ${n} companions on one in-memory radio (one toy per companion: the allow-list holds 5), all paired beforehand; (heapUsed + arrayBuffers) after gc with ${n} live reconnected sessions minus the same with no connection, ÷ ${n}: companion session + toy session + radio link; baseline: ${n} GATT-connected, subscribed links without a handshake`,
      extra: { heapBytesPerSession: r.sessionBytes, arrayBufferBytesPerSession: r.sessionArrayBufferBytes, sessions: n },
    }),
  ];
}
