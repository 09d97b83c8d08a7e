/** A cache edited by hand (a CI cache restored from an untrusted branch) never turns a leaky image clean. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SAMPLES } from '../helpers/cli.js';
import { runMeasured } from './harness.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'hl-hostile-cache-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a tampered result cache', () => {
  it('is ignored: the leaky image is audited again and still fails', () => {
    const cache = path.join(dir, 'cache');
    const env = { XDG_STATE_HOME: path.join(dir, 'state') };
    const args = ['scan', path.join(SAMPLES, 'leaky.raw'), '--cache', cache, '--format', 'json', '--backend', 'native', '--verbose'];
    const first = runMeasured(args, { env });
    expect(first.status).toBe(1);
    // The attacker empties every cached result (and renames the target) without the key.
    for (const f of readdirSync(path.join(cache, 'results'))) {
      const file = path.join(cache, 'results', f);
      const sealed = JSON.parse(readFileSync(file, 'utf8')) as { payload: string };
      const { result } = JSON.parse(sealed.payload) as { result: Record<string, unknown> };
      const forged = JSON.stringify({ result: { ...result, findings: [], target: 'innocent.raw' } });
      writeFileSync(file, JSON.stringify({ ...sealed, payload: forged }));
    }
    const second = runMeasured(args, { env });
    expect(second.status).toBe(1);
    expect(second.stderr).not.toMatch(/cached result/);
    const t = (JSON.parse(second.stdout) as { targets: Array<{ target: string; findings: unknown[] }> }).targets[0]!;
    expect(t.target).toBe(path.join(SAMPLES, 'leaky.raw'));
    expect(t.findings.length).toBeGreaterThan(0);
    // An honest entry (rewritten by that audit) hits again.
    expect(runMeasured(args, { env }).stderr).toMatch(/cached result/);
  });
});
