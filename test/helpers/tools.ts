/**
 * System tools the tests need. A missing tool FAILS the test run in CI (process.env.CI set) and skips the tests
 * that need it elsewhere, with a note.
 */
import { spawnSync } from 'node:child_process';

export function haveTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v "$0"`, name], { stdio: 'ignore' }).status === 0;
}

/** True when every tool is present. In CI a missing tool throws (the suite fails); elsewhere it returns false. */
export function requireTools(...names: string[]): boolean {
  const missing = names.filter((n) => !haveTool(n));
  if (missing.length === 0) return true;
  const msg = `missing system tools: ${missing.join(', ')}`;
  if (process.env.CI) throw new Error(`${msg} (required in CI; .ci/run installs them)`);
  // eslint-disable-next-line no-console
  console.warn(`${msg}: skipping the tests that need them`);
  return false;
}

export const requireTool = (name: string): boolean => requireTools(name);
