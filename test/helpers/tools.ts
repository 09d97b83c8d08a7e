/**
 * System tools the tests need. After the README's set-up (`bash scripts/install-system-deps.sh`) every one is
 * installed, so a missing tool is a failure on any machine, never a skip: the run names the tool and the fix.
 *
 *   requireTools('mke2fs', 'debugfs');           // at module level or in a describe body
 *   describeWithTools(['zstd'], 'name', () => {}) // the same, as a describe
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

function missingMessage(missing: string[]): string {
  return `required tool(s) not installed: ${missing.join(', ')} (run \`bash scripts/install-system-deps.sh\` as root first)`;
}

/** Throws, naming what is missing, unless every tool is installed. */
export function requireTool(...names: string[]): true {
  const missing = names.filter((n) => !hasTool(n));
  if (missing.length) throw new Error(missingMessage(missing));
  return true;
}

/** `describe` when every tool is there; otherwise one failing test that says which tool is missing. */
export function describeWithTools(tools: string[], name: string, fn: () => void): void {
  const missing = tools.filter((t) => !hasTool(t));
  if (missing.length === 0) return describe(name, fn);
  return describe(name, () => {
    it(`needs ${missing.join(', ')}`, () => {
      throw new Error(missingMessage(missing));
    });
  });
}

/** Alias with a plural name, used by the image tests. */
export const requireTools = requireTool;
