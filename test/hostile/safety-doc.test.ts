/**
 * The README's Safety section states the budget (time, memory, disk) and the host boundary; this keeps what it says
 * equal to the constants the code enforces and the bound the hostile tests measure against.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_MEMORY } from '../../src/budget.js';
import { STALE_MS } from '../../src/image/tmp.js';
import { MAX_JSON_DEPTH } from '../../src/resolve/container.js';
import { MAX_PATH } from '../../src/resolve/tree.js';
import { DEFAULT_TIMEOUT_S } from '../../src/backends/guestfs.js';
import { REPO } from '../helpers/cli.js';
import { MEMORY_MIB } from './harness.js';

const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
const safety = readme.slice(readme.indexOf('### Safety'), readme.indexOf('\n### ', readme.indexOf('### Safety') + 1)).replace(/\s+/g, ' ');

describe('README Safety section', () => {
  it('states the time, disk and memory budget the code enforces', () => {
    expect(safety).toContain(`\`--timeout\` (default ${DEFAULT_TIMEOUT_S} s) is one deadline per target`);
    expect(safety).toContain('`--max-decompressed SIZE` real bytes written');
    expect(safety).toContain(`memory budget (${DEFAULT_MEMORY / 2 ** 20} MiB by default, \`HOSTLEAK_MEMORY\``);
    expect(safety).toContain(`paths longer than ${MAX_PATH} bytes`);
    expect(safety).toContain(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
    expect(safety).toContain(`once they are a day old`);
    expect(STALE_MS).toBe(24 * 3600 * 1000);
    expect(safety).toContain(`Peak RSS on the hostile set (\`test/hostile/\`) stays under ${MEMORY_MIB} MiB`);
  });
  it('states the host boundary', () => {
    expect(safety).toContain('`--allow-backing-file` applies to the images you name, never to an image found inside one');
    expect(safety).toContain('a symlinked folder inside a target is never followed');
  });
});
