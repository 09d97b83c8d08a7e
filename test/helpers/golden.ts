/** Golden files under test/golden/. UPDATE_GOLDEN=1 rewrites them after an intended change; in CI a missing one fails. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO } from './cli.js';

export function golden(name: string, actual: string): void {
  const file = path.join(REPO, 'test', 'golden', name);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    if (process.env.CI && !existsSync(file)) throw new Error(`golden file ${name} is missing`);
    writeFileSync(file, actual);
  }
  expect(actual).toBe(readFileSync(file, 'utf8'));
}
