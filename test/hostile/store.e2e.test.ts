/** --recursive: a file named like an image whose content is not recognised fails (exit 3); it is never skipped. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SAMPLES } from '../helpers/cli.js';
import { runMeasured } from './harness.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'hl-hostile-store-'));
  writeFileSync(path.join(dir, 'junk.img'), Buffer.alloc(8192, 0x5a));
  writeFileSync(path.join(dir, 'corrupt.raw.zst'), 'not zstd at all\n'.repeat(100));
  writeFileSync(path.join(dir, 'README.txt'), 'notes\n');
  copyFileSync(path.join(SAMPLES, 'clean.qcow2'), path.join(dir, 'clean.qcow2'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('an artifact store with junk named like images', () => {
  it('reports the junk as failed targets, audits the real image, skips the rest', () => {
    const m = runMeasured(['scan', dir, '--recursive', '--format', 'json', '--backend', 'native']);
    expect(m.status).toBe(3);
    const targets = (JSON.parse(m.stdout) as { targets: Array<{ target: string; status: string; error: string | null }> }).targets;
    const byName = Object.fromEntries(targets.map((t) => [path.basename(t.target), t]));
    expect(Object.keys(byName).sort()).toEqual(['clean.qcow2', 'corrupt.raw.zst', 'junk.img']);
    expect(byName['junk.img']).toMatchObject({ status: 'failed', error: expect.stringMatching(/unrecognised image format/) });
    expect(byName['corrupt.raw.zst']).toMatchObject({ status: 'failed' });
    expect(byName['clean.qcow2']).toMatchObject({ status: 'ok' });
  });
});

describe('an artifact store whose folder names are hostile', () => {
  let store: string;
  beforeAll(() => {
    store = mkdtempSync(path.join(os.tmpdir(), 'hl-hostile-names-'));
    // A newline in a folder's name (which fast-glob's ** silently left out, with everything below it) and a name that
    // is not UTF-8 (no string path reaches it).
    mkdirSync(path.join(store, 'build\n42'));
    copyFileSync(path.join(SAMPLES, 'clean.qcow2'), path.join(store, 'build\n42', 'disk.qcow2'));
    writeFileSync(Buffer.from(path.join(store, 'disk-\xff.img'), 'latin1'), Buffer.alloc(8192, 0x5a));
  });
  afterAll(() => rmSync(store, { recursive: true, force: true }));

  it('audits the image under the newline and names the unreadable one as failed', () => {
    const m = runMeasured(['scan', store, '--recursive', '--format', 'json', '--backend', 'native']);
    expect(m.status).toBe(3);
    const targets = (JSON.parse(m.stdout) as { targets: Array<{ target: string; status: string; error: string | null }> }).targets;
    expect(targets.map((t) => [path.relative(store, t.target), t.status, t.error]).sort()).toEqual([
      ['build\n42/disk.qcow2', 'ok', null],
      ['disk-\ufffd.img', 'failed', 'cannot be opened: its name is not UTF-8 (rename it to audit it)'],
    ]);
  });

  it('takes the same two as the products of a build folder, without --recursive', () => {
    const m = runMeasured(['scan', store, '--format', 'json']);
    expect(m.status).toBe(3);
    const targets = (JSON.parse(m.stdout) as { targets: Array<{ target: string; status: string }> }).targets;
    expect(targets.map((t) => [path.relative(store, t.target), t.status]).sort()).toEqual([
      ['build\n42/disk.qcow2', 'ok'],
      ['disk-\ufffd.img', 'failed'],
    ]);
  });

  it('with an image backend given, says the folder is not an image and what to do instead', () => {
    const m = runMeasured(['scan', store, '--format', 'json', '--backend', 'native']);
    expect(m.status).toBe(3);
    const [t] = (JSON.parse(m.stdout) as { targets: Array<{ status: string; error: string | null }> }).targets;
    expect(t).toMatchObject({ status: 'failed', error: 'a folder, not an image: name the image files in it, or leave --backend at auto to audit the images it holds' });
  });
});
