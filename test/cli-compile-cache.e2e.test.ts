/**
 * The built CLI starts from its bundled script through V8's code cache (src/bin/compile-cache.ts): the first run of a
 * command writes the cache, later runs use it and answer the same; a damaged cache is rejected by V8 and written anew;
 * a folder others may write to is never read or written; HOSTLEAK_COMPILE_CACHE=0 turns it off.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, hostleak, SAMPLES } from './helpers/cli.js';
import { scratch } from './helpers/gate.js';

const SAMPLE = path.join(SAMPLES, 'leaky.raw');
const scan = (dir: string) => hostleak(['scan', SAMPLE, '--backend', 'native', '--format', 'json'], { env: { HOSTLEAK_COMPILE_CACHE: dir } });
const stable = (stdout: string) => stdout.replace(/"(startedAt|auditedAt|durationMs)": [^,\n]*/g, '"$1": 0');
const caches = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.v8')) : []);

describe('the code cache of the bundled CLI', () => {
  it('is built by the build: dist/src/bin/hostleak.cjs beside the entry', () => {
    expect(existsSync(path.join(path.dirname(BIN), 'hostleak.cjs'))).toBe(true);
  });

  it('is written by the first run of a command and used by the next, with the same answer', () => {
    const { dir, cleanup } = scratch();
    try {
      const cache = path.join(dir, 'cache');
      const first = scan(cache);
      expect(first.status).toBe(1);
      const written = caches(cache);
      expect(written).toEqual([expect.stringMatching(/^scan-.*\.v8$/)]);
      const bytes = readFileSync(path.join(cache, written[0]!));
      expect(bytes.length).toBeGreaterThan(10_000);
      const second = scan(cache);
      expect(second.status).toBe(1);
      expect(stable(second.stdout)).toBe(stable(first.stdout));
      // Accepted, so not written again.
      expect(readFileSync(path.join(cache, written[0]!)).equals(bytes)).toBe(true);
      // Another command has its own.
      expect(hostleak(['rules'], { env: { HOSTLEAK_COMPILE_CACHE: cache } }).status).toBe(0);
      expect(caches(cache).sort()).toEqual([expect.stringMatching(/^rules-/), written[0]]);
    } finally {
      cleanup();
    }
  });

  it('a damaged cache is rejected and written anew, the answer unchanged', () => {
    const { dir, cleanup } = scratch();
    try {
      const cache = path.join(dir, 'cache');
      const first = scan(cache);
      const [file] = caches(cache);
      const good = readFileSync(path.join(cache, file!));
      const damaged = Buffer.from(good);
      damaged.fill(0x5a, 64, 4096);
      writeFileSync(path.join(cache, file!), damaged);
      const second = scan(cache);
      expect(second.status).toBe(1);
      expect(stable(second.stdout)).toBe(stable(first.stdout));
      expect(readFileSync(path.join(cache, file!)).equals(damaged)).toBe(false);
    } finally {
      cleanup();
    }
  });

  it('is not used in a folder others may write to, nor when turned off', () => {
    const { dir, cleanup } = scratch();
    try {
      const open = path.join(dir, 'open');
      mkdirSync(open);
      chmodSync(open, 0o777);
      expect(scan(open).status).toBe(1);
      expect(caches(open)).toEqual([]);
      const r = hostleak(['scan', SAMPLE, '--backend', 'native', '--format', 'json'], { env: { HOSTLEAK_COMPILE_CACHE: '0', XDG_CACHE_HOME: dir } });
      expect(r.status).toBe(1);
      expect(readdirSync(dir).sort()).toEqual(['open']);
    } finally {
      cleanup();
    }
  });

  it('never creates a home, and leaves nothing behind in a nix build', () => {
    const { dir, cleanup } = scratch();
    try {
      // A nix build without a sandbox: HOME is /homeless-shelter, which must not exist (nix refuses to build if it does).
      const home = path.join(dir, 'homeless-shelter');
      const run = (env: NodeJS.ProcessEnv) =>
        hostleak(['scan', SAMPLE, '--backend', 'native', '--format', 'json'], { env: { HOSTLEAK_COMPILE_CACHE: '', XDG_CACHE_HOME: '', HOME: home, ...env } });
      expect(run({ NIX_BUILD_TOP: dir }).status).toBe(1);
      expect(existsSync(home)).toBe(false);
      expect(run({ NIX_BUILD_TOP: '' }).status).toBe(1);
      expect(existsSync(home)).toBe(false);
      // A home that exists: inside a build nothing is written, outside it the cache is.
      mkdirSync(home, { mode: 0o700 });
      expect(run({ NIX_BUILD_TOP: dir }).status).toBe(1);
      expect(readdirSync(home)).toEqual([]);
      expect(run({ NIX_BUILD_TOP: '' }).status).toBe(1);
      expect(caches(path.join(home, '.cache', 'hostleak'))).toEqual([expect.stringMatching(/^scan-.*\.v8$/)]);
    } finally {
      cleanup();
    }
  });
});
