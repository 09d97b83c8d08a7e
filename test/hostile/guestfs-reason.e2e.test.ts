/** When qemu refuses an image through libguestfs, the report says why in qemu's words and names no temp path. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
// @ts-expect-error plain ESM builder script without types
import { buildHostile } from '../../images-sample/hostile.mjs';
import { requireTools } from '../helpers/tools.js';
import { runMeasured } from './harness.js';

requireTools('qemu-img', 'zstd', 'guestfish', 'prlimit');

let dir: string;
let c: { file: string; reason: RegExp };
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'hl-hostile-gf-'));
  c = (buildHostile(dir, ['qcow2-bad-l1']) as Record<string, { file: string; reason: RegExp }>)['qcow2-bad-l1']!;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('libguestfs rejects an image', () => {
  it("shows qemu's reason, no temporary path, exit 3, nothing left behind", () => {
    const m = runMeasured(['scan', c.file, '--backend', 'guestfs', '--accel', 'tcg', '--timeout', '120']);
    expect(m.status).toBe(3);
    expect(m.stderr).toMatch(c.reason);
    // Besides the target's own name, no path: not the decompressed copy, not libguestfs' overlay.
    expect((m.stdout + m.stderr).split(c.file).join('TARGET')).not.toMatch(/hostleak-|libguestfs[A-Za-z0-9]{6}|overlay\d*\.qcow2|\/tmp\//);
    expect(m.leftovers).toEqual([]);
  });
});
