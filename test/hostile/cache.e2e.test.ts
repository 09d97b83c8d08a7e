/** A cache edited by hand (a CI cache restored from an untrusted branch) never turns a leaky image clean. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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

describe('the cache opens nothing it did not make', () => {
  const SUBDIRS = ['paths', 'results', 'index', 'ranges'];
  const setup = (name: string) => {
    const cache = path.join(dir, name);
    const env = { XDG_STATE_HOME: path.join(dir, 'state') };
    const args = ['scan', path.join(SAMPLES, 'leaky.raw'), '--cache', cache, '--format', 'json', '--backend', 'native', '--verbose', '--timeout', '30'];
    return { cache, env, args };
  };
  const entries = (cache: string) => SUBDIRS.flatMap((s) => readdirSync(path.join(cache, s)).map((f) => path.join(cache, s, f)));
  /** Replace every entry by what `plant` puts at its name. */
  const replaceEntries = (cache: string, plant: (file: string) => void) => {
    const all = entries(cache);
    expect(all.length).toBeGreaterThanOrEqual(3);
    for (const f of all) {
      rmSync(f);
      plant(f);
    }
    return all;
  };
  const expectRewritten = (cache: string) => {
    for (const f of entries(cache)) {
      const st = lstatSync(f);
      expect({ f, file: st.isFile(), mode: (st.mode & 0o777).toString(8) }).toEqual({ f, file: true, mode: '600' });
    }
  };

  it('writes entries 0600 in folders 0700', () => {
    const { cache, env, args } = setup('modes');
    expect(runMeasured(args, { env }).status).toBe(1);
    expect((lstatSync(cache).mode & 0o777).toString(8)).toBe('700');
    for (const s of SUBDIRS) expect([s, (lstatSync(path.join(cache, s)).mode & 0o777).toString(8)]).toEqual([s, '700']);
    expectRewritten(cache);
  });

  it('ignores a FIFO in place of an entry (never blocks on it) and rewrites it', () => {
    const { cache, env, args } = setup('fifo');
    expect(runMeasured(args, { env }).status).toBe(1);
    const planted = replaceEntries(cache, (f) => execFileSync('mkfifo', [f]));
    const m = runMeasured(args, { env, timeoutMs: 120_000 });
    expect({ status: m.status, cached: /cached result/.test(m.stderr) }).toEqual({ status: 1, cached: false });
    expect((JSON.parse(m.stdout) as { targets: Array<{ findings: unknown[] }> }).targets[0]!.findings.length).toBeGreaterThan(0);
    for (const f of planted) expect(lstatSync(f).isFIFO()).toBe(false);
    expectRewritten(cache);
    expect(runMeasured(args, { env }).stderr).toMatch(/cached result/);
  });

  it('ignores a symlink to /dev/zero in place of an entry (reads nothing through it) and rewrites it', () => {
    const { cache, env, args } = setup('zero');
    expect(runMeasured(args, { env }).status).toBe(1);
    const planted = replaceEntries(cache, (f) => symlinkSync('/dev/zero', f));
    const m = runMeasured(args, { env, timeoutMs: 120_000 });
    expect({ status: m.status, cached: /cached result/.test(m.stderr) }).toEqual({ status: 1, cached: false });
    expect(m.peakMiB).toBeLessThan(512);
    for (const f of planted) expect(lstatSync(f).isSymbolicLink()).toBe(false);
    expectRewritten(cache);
  });

  it('ignores an entry larger than the cap', () => {
    const { cache, env, args } = setup('huge');
    expect(runMeasured(args, { env }).status).toBe(1);
    // Sparse: 100 MiB that take no disk, each a valid-looking JSON start.
    replaceEntries(cache, (f) => {
      writeFileSync(f, '{"format":4,"payload":"');
      execFileSync('truncate', ['-s', '100M', f]);
    });
    const m = runMeasured(args, { env, timeoutMs: 120_000 });
    expect({ status: m.status, cached: /cached result/.test(m.stderr) }).toEqual({ status: 1, cached: false });
    expect(m.peakMiB).toBeLessThan(512);
    expectRewritten(cache);
  });

  it.each(SUBDIRS)('refuses a symlinked %s/ folder, naming it, and writes nothing through it', (sub) => {
    const { cache, env, args } = setup(`link-${sub}`);
    const elsewhere = path.join(dir, `elsewhere-${sub}`);
    mkdirSync(elsewhere);
    mkdirSync(cache, { mode: 0o700 });
    symlinkSync(elsewhere, path.join(cache, sub));
    const m = runMeasured(args, { env });
    expect(m.status).toBe(2);
    expect(m.stderr.trim().split('\n').filter((l) => /symlink/.test(l))).toEqual([expect.stringContaining(path.join(cache, sub))]);
    expect(m.stderr).not.toMatch(/\n\s+at /);
    expect(readdirSync(elsewhere)).toEqual([]);
  });
});
