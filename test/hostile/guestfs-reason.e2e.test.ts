/** When qemu refuses an image through libguestfs, the report says why in qemu's words and names no temp path. */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { requireTools } from '../helpers/tools.js';
import { loadHostileCases, runMeasured, type HostileCase } from './harness.js';

requireTools('qemu-img', 'zstd', 'guestfish', 'prlimit');

let c: HostileCase;
beforeAll(async () => {
  c = (await loadHostileCases(['qcow2-bad-l1']))['qcow2-bad-l1']!;
});

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
