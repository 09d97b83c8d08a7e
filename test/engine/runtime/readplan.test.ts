/**
 * The read plan (what an archive reader keeps during its one streaming pass) must predict every file the engine
 * itself reads: the account files and each package database. The engine's loaders run here over a root that has all
 * of them, and every path they read must be in the plan with at least the bytes they asked for; a loader that starts
 * reading a new file without the plan knowing fails this test.
 */
import { createImageFs } from '../../../src/engine/runtime/imagefs.js';
import { loadAccounts } from '../../../src/engine/runtime/accounts.js';
import { loadPackageDb } from '../../../src/engine/runtime/packages.js';
import { readPlan } from '../../../src/engine/runtime/readplan.js';
import { memoryRoot, withAccounts } from '../../helpers/tree.js';

describe('read plan', () => {
  it('predicts every file the engine reads for the accounts and the package databases (dpkg, ucf, apk)', async () => {
    const root = memoryRoot(
      withAccounts([
        { path: '/var/lib/dpkg/status', content: 'Package: base-files\nStatus: install ok installed\nConffiles:\n /etc/issue 0123456789abcdef0123456789abcdef\n' },
        { path: '/var/lib/dpkg/diversions', content: '/bin/sh\n/bin/sh.distrib\ndash\n' },
        { path: '/var/lib/dpkg/info/base-files.list', content: '/etc\n/etc/issue\n' },
        { path: '/var/lib/dpkg/info/base-files.md5sums', content: '0123456789abcdef0123456789abcdef  etc/issue\n' },
        { path: '/var/lib/ucf/registry', content: 'openssh-server \t /etc/ssh/sshd_config\n' },
        { path: '/var/lib/ucf/hashfile', content: '0123456789abcdef0123456789abcdef  /etc/ssh/sshd_config\n' },
        { path: '/lib/apk/db/installed', content: 'P:busybox\nF:bin\nR:busybox\nZ:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\n' },
        { path: '/etc/issue', content: 'Debian\n' },
      ]),
    );
    const fs = createImageFs(root);
    await loadAccounts(fs);
    const db = await loadPackageDb(fs, root.inventory);
    expect(db.managers).toEqual(expect.arrayContaining(['dpkg', 'apk']));
    const read = [...new Set(root.reads.flat())].sort();
    expect(read).toEqual(
      expect.arrayContaining(['/etc/passwd', '/etc/group', '/var/lib/dpkg/status', '/var/lib/ucf/registry', '/lib/apk/db/installed']),
    );
    const plan = readPlan([]);
    for (const p of read) {
      const size = root.inventory.get(p)!.size;
      expect([p, plan(p, size)]).toEqual([p, { bytes: size, scattered: true }]);
    }
    // And nothing else: a file no rule and no loader reads is not kept.
    expect(plan('/usr/share/doc/x/README', 100)).toBeNull();
  });
});
