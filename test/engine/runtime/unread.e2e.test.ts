/**
 * The unreadable-file rule through the kernel: the ext2 image whose /root/.env points outside the filesystem (see
 * unread.test.ts for the native readers) is not "ok" through libguestfs either, whatever step of the appliance fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hostleak } from '../../helpers/cli.js';
import { requireTool } from '../../helpers/tools.js';
import { badBlockExt2 } from '../../helpers/unreadable.js';

requireTool('mke2fs', 'debugfs', 'guestfish');

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'unread-e2e-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

it('an ext2 file with a block outside the filesystem is partial through libguestfs, exit 3', () => {
  const img = badBlockExt2(tmp);
  const r = hostleak(['scan', '--backend', 'guestfs', '--format', 'json', img], { timeoutMs: 600_000 });
  expect(r.status).toBe(3);
  const t = (JSON.parse(r.stdout) as { targets: Array<{ status: string; error: string }> }).targets[0]!;
  expect(t.status).toBe('partial');
  expect(t.error).toContain('/root/.env');
});
