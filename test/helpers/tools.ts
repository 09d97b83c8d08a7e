/**
 * System tools the tests need. A missing tool fails the test under CI (process.env.CI set) and skips it elsewhere.
 *
 *   const ok = requireTool('mke2fs');   // in a describe body
 *   (ok ? it : it.skip)('...', ...)
 */
import { spawnSync } from 'node:child_process';

const cache = new Map<string, boolean>();

export function hasTool(name: string): boolean {
  let ok = cache.get(name);
  if (ok === undefined) {
    const r = spawnSync('sh', ['-c', `command -v ${JSON.stringify(name)}`], { encoding: 'utf8' });
    ok = r.status === 0 && r.stdout.trim() !== '';
    cache.set(name, ok);
  }
  return ok;
}

/**
 * True when every tool is installed. When one is missing: throws under CI (the suite fails), otherwise warns and
 * returns false so the caller can skip.
 */
export function requireTool(...names: string[]): boolean {
  const missing = names.filter((n) => !hasTool(n));
  if (missing.length === 0) return true;
  const msg = `required tool(s) not installed: ${missing.join(', ')}`;
  if (process.env.CI) throw new Error(msg);
  console.warn(`${msg}; skipping (set CI to make this a failure)`);
  return false;
}

/** `describe` when every tool is there; otherwise skip locally and fail in CI (a test saying what is missing). */
export function describeWithTools(tools: string[], name: string, fn: () => void): void {
  const missing = tools.filter((t) => !hasTool(t));
  if (missing.length === 0) return describe(name, fn);
  if (process.env.CI) {
    return describe(name, () => {
      it(`needs ${missing.join(', ')}`, () => {
        throw new Error(`missing tools in CI: ${missing.join(', ')} (.ci/run must install them)`);
      });
    });
  }
  return describe.skip(`${name} (missing ${missing.join(', ')})`, fn);
}

/** Alias with a plural name, used by the image tests. */
export const requireTools = requireTool;
