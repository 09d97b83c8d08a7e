/** Where hostleak's own files are, whether it runs from dist/ or from the TypeScript sources. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'hostleak') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find hostleak package.json');
    dir = up;
  }
}

export const PACKAGE_ROOT = findPackageRoot();
export const VERSION = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;
/** The `tool` of every report this build writes. */
export const TOOL = { name: 'hostleak', version: VERSION } as const;
export const DOCS_RULES_DIR = path.join(PACKAGE_ROOT, 'docs', 'rules');
