/** Where hostleak's own files are, whether it runs from dist/ or from the TypeScript sources. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder of hostleak's package.json, and its version: the file is read and parsed once, at load. */
function findPackage(): { root: string; version: string } {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (existsSync(pj)) {
      const pkg = JSON.parse(readFileSync(pj, 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'hostleak') return { root: dir, version: pkg.version };
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find hostleak package.json');
    dir = up;
  }
}

const found = findPackage();
export const PACKAGE_ROOT = found.root;
export const VERSION = found.version;
/** The `tool` of every report this build writes. */
export const TOOL = { name: 'hostleak', version: VERSION } as const;
export const DOCS_RULES_DIR = path.join(PACKAGE_ROOT, 'docs', 'rules');
