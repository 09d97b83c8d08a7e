/**
 * docs/debugging.md shows real outputs: scripts/debugging-doc.mjs reruns every command of its console blocks on the
 * sample images and compares (durations aside). A change that alters what a command prints fails here until the page
 * is regenerated with `node scripts/debugging-doc.mjs`.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO } from './helpers/cli.js';

describe('docs/debugging.md', () => {
  it('every output on the page is what the command prints now', () => {
    const r = spawnSync(process.execPath, [path.join(REPO, 'scripts/debugging-doc.mjs'), '--check'], { encoding: 'utf8', cwd: REPO, timeout: 300_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('says how the sample images are made, and reruns all but the appliance example', () => {
    const page = readFileSync(path.join(REPO, 'docs/debugging.md'), 'utf8');
    expect(page).toContain('node images-sample/build.mjs');
    const blocks = [...page.matchAll(/(<!-- doc: ([^>]*) -->\n)?```console\n/g)];
    expect(blocks.length).toBeGreaterThan(6);
    expect(blocks.filter((b) => b[2] === 'by hand').map((b) => page.slice(b.index!).split('\n').find((l) => l.startsWith('$ ')))).toEqual([
      '$ hostleak ls images-sample/out/leaky.raw /home -l --backend guestfs --accel tcg --verbose',
    ]);
  });
});
