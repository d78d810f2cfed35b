import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runVectorFile, type NoiseVector } from '../../../src/protocol/noise/vectors.js';
import { PROJECT_ROOT, sharedPath } from '../../helpers/shared.js';
import { CRYPTO_BACKENDS, useCryptoBackendInSuite } from '../../helpers/backends.js';

const files = ['cacophony.txt', 'snow.txt'];

for (const name of files) {
  const path = sharedPath('vectors', 'noise', name);
  describe.skipIf(!path).each(CRYPTO_BACKENDS)(`Noise vectors: ${name} (25519_ChaChaPoly_SHA512) [$name back end]`, (backend) => {
    useCryptoBackendInSuite(backend);
    it('passes every vector of the suite', () => {
      const json = JSON.parse(readFileSync(path!, 'utf8')) as { vectors: NoiseVector[] };
      const s = runVectorFile(json);
      expect(s.failures).toEqual([]);
      // every vector of our suite ran: cacophony has 59, snow 51
      const ours = json.vectors.filter((v) => v.protocol_name.endsWith('_25519_ChaChaPoly_SHA512')).length;
      expect(ours).toBeGreaterThan(40);
      expect(s.passed).toBe(ours);
      expect(s.passed + s.skipped).toBe(json.vectors.length);
    });
  });
}

const both = files.map((f) => sharedPath('vectors', 'noise', f));
// Also skipped under mutation testing (scripts/mutation.ts): the CLI runs in a child process,
// which does not see Stryker's active mutant, so it cannot kill one and only costs time.
describe.skipIf(both.some((p) => !p) || process.env.PLUSHLINK_MUTATION !== undefined)('npm run vectors (the CLI runner)', () => {
  it('prints the summary line and exits 0', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/run-noise-vectors.ts', ...(both as string[])], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
    });
    expect(out.trim().split('\n').at(-1)).toMatch(/^110 passed, 0 failed, 1242 skipped$/);
  });

  it('reports a corrupted vector as a failure with its protocol name and exits 1', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const json = JSON.parse(readFileSync(both[0]!, 'utf8')) as { vectors: NoiseVector[] };
    const v = json.vectors.find((x) => x.protocol_name === 'Noise_IKpsk1_25519_ChaChaPoly_SHA512')!;
    const bad = structuredClone(v);
    const c = bad.messages[1]!.ciphertext;
    bad.messages[1]!.ciphertext = c.slice(0, -2) + (c.endsWith('00') ? '01' : '00');
    const dir = mkdtempSync(join(tmpdir(), 'plushlink-vec-'));
    const f = join(dir, 'bad.json');
    writeFileSync(f, JSON.stringify({ vectors: [v, bad] }));
    let status = 0;
    let out = '';
    try {
      execFileSync(process.execPath, ['--import', 'tsx', 'scripts/run-noise-vectors.ts', f], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    } catch (e) {
      const err = e as { status: number; stdout: string };
      status = err.status;
      out = err.stdout;
    }
    expect(status).toBe(1);
    expect(out).toContain('Noise_IKpsk1_25519_ChaChaPoly_SHA512');
    expect(out.trim().split('\n').at(-1)).toBe('1 passed, 1 failed, 0 skipped');
  });
});
