/**
 * System tools some tests need. Outside CI a missing tool skips those tests; in CI (CI set) it fails them, because
 * .ci/run installs every tool and a silent skip would hide a broken setup.
 */
import { spawnSync } from 'node:child_process';

export function haveTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** `describe` when every tool is there; otherwise skip locally and fail in CI. */
export function describeWithTools(tools: string[], name: string, fn: () => void): void {
  const missing = tools.filter((t) => !haveTool(t));
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

export function requireTool(name: string): void {
  if (!haveTool(name)) throw new Error(`${name} is not installed`);
}
