import { judgeShipped, provenanceNote } from '../../../src/engine/kit/packages.js';
import { loadPackageDb, parseApkInstalled, parseDpkgConffiles, parseDpkgDiversions } from '../../../src/engine/runtime/packages.js';
import { createImageFs } from '../../../src/engine/runtime/imagefs.js';
import { runRules } from '../../../src/engine/runtime/runner.js';
import { defineRule } from '../../../src/engine/kit/rule.js';
import { createHash } from 'node:crypto';
import { dirBackend } from '../../../src/backends/dir.js';
import { memoryRoot } from '../../helpers/tree.js';
import { debianRoot, plant, removeRoot } from '../../helpers/debian-root.js';
import { hostleak, json, REPO } from '../../helpers/cli.js';
import type { Report } from '../../../src/types.js';
import path from 'node:path';

describe('package database', () => {
  let root: string;
  beforeAll(() => {
    root = debianRoot([
      {
        name: 'fakepython',
        files: {
          'usr/lib/python3.11/_sysconfigdata.py': "BUILD = '/build/python3.11-abc/build'\n",
          'usr/lib/python3.11/changed.py': 'x = 1\n',
          'etc/modules-load.d/modules.conf': { target: '../modules' },
          'etc/fake.conf': 'a = 1\n',
        },
        conffiles: ['/etc/fake.conf'],
      },
    ]);
    // ucf: a configuration file the maintainer script wrote (Debian's sshd_config), then edited by the builder
    const md5 = createHash('md5').update('Port 22\n').digest('hex');
    plant(root, {
      'usr/lib/python3.11/changed.py': 'x = 2\n',
      'etc/app.conf': 'y\n',
      'var/lib/ucf/registry': 'openssh-server \t /etc/ssh/sshd_config\nopenssh-server \t /etc/ssh/moduli.conf\n',
      'var/lib/ucf/hashfile': `${md5}  /etc/ssh/sshd_config\n${md5}  /etc/ssh/moduli.conf\n`,
      'etc/ssh/sshd_config': 'Port 22\nInclude /build/extra.conf\n',
      'etc/ssh/moduli.conf': 'Port 22\n',
    });
  });
  afterAll(() => removeRoot(root));

  it('knows what dpkg installed, and whether it is still what dpkg installed', async () => {
    const img = (await dirBackend.open(root, {} as never)).roots[0]!;
    const fs = createImageFs(img);
    const db = await loadPackageDb(fs, img.inventory);
    expect(db.read).toEqual(['dpkg']);
    expect(db.packages).toBe(1);
    expect(db.owner('/usr/lib/python3.11/_sysconfigdata.py')).toEqual({ pkg: 'fakepython', manager: 'dpkg' });
    expect(await db.provenance('/usr/lib/python3.11/_sysconfigdata.py')).toEqual({ kind: 'shipped', pkg: 'fakepython', manager: 'dpkg', verified: true });
    expect(await db.provenance('/etc/fake.conf')).toMatchObject({ kind: 'shipped', verified: true });
    expect(await db.provenance('/etc/modules-load.d/modules.conf')).toMatchObject({ kind: 'shipped', verified: false });
    const changed = await db.provenance('/usr/lib/python3.11/changed.py');
    expect(changed).toEqual({ kind: 'changed', pkg: 'fakepython', manager: 'dpkg' });
    expect(provenanceNote(changed)).toContain('changed after install');
    expect(provenanceNote(await db.provenance('/etc/app.conf'))).toBe('not installed by any package');
    expect(await db.provenance('/etc/ssh/sshd_config')).toEqual({ kind: 'changed', pkg: 'openssh-server', manager: 'dpkg' });
    expect(await db.provenance('/etc/ssh/moduli.conf')).toMatchObject({ kind: 'shipped', pkg: 'openssh-server', verified: true });
  });

  it("report({ shipped }) judges each finding: shipped unchanged -> info with the package, else the rule's severity and why", async () => {
    const img = (await dirBackend.open(root, {} as never)).roots[0]!;
    const paths = ['/usr/lib/python3.11/_sysconfigdata.py', '/usr/lib/python3.11/changed.py', '/etc/app.conf'];
    const rule = defineRule({
      meta: { id: 'shipped-judge', severity: 'warning', tags: [], description: 'test', remediation: 'test', references: [] },
      async check({ fs, report }) {
        const data = (await fs.readFile(paths[0]!))!.data;
        report({ path: paths[0]!, message: 'with contents', shipped: data });
        report({ path: paths[1]!, message: 'by path', shipped: true });
        report({ path: paths[2]!, message: 'by path', shipped: true });
        // A severity the rule sets stays, whatever the package database says.
        report({ path: paths[0]!, message: 'forced', severity: 'error', shipped: true });
      },
    });
    const { findings } = await runRules(img, [{ rule, severity: 'warning', options: {} }], { user: null, home: null, name: null });
    expect(findings.map((f) => [f.path, f.severity, f.message])).toEqual([
      [paths[0], 'error', 'forced; installed unchanged by dpkg package fakepython'],
      [paths[2], 'warning', 'by path; not installed by any package'],
      [paths[1], 'warning', 'by path; changed after install (dpkg package fakepython installed a different file)'],
      [paths[0], 'info', 'with contents; installed unchanged by dpkg package fakepython'],
    ]);
  });

  it('says nothing without a database, and says so when an rpm database cannot be read', async () => {
    const none = memoryRoot([{ path: '/etc/x', content: 'x' }]);
    const db = await loadPackageDb(createImageFs(none), none.inventory);
    expect(await db.provenance('/etc/x')).toEqual({ kind: 'unknown' });
    const rpm = memoryRoot([{ path: '/var/lib/rpm/rpmdb.sqlite', content: 'SQLite format 3\0' }, { path: '/etc/x', content: 'x' }]);
    const rdb = await loadPackageDb(createImageFs(rpm), rpm.inventory);
    expect(rdb.managers).toEqual(['rpm']);
    expect(rdb.notes[0]).toBe('rpm database /var/lib/rpm/rpmdb.sqlite not read (not an rpm database (neither SQLite, Berkeley DB hash nor ndb)): file ownership unknown');
    expect(provenanceNote(await rdb.provenance('/etc/x'))).toBe('');
    // ...and findings on an rpm image say so instead of staying silent
    const j = await judgeShipped(async () => rdb, '/etc/x');
    expect(j).toEqual({ severity: undefined, suffix: expect.stringContaining('package ownership unknown (rpm database /var/lib/rpm/rpmdb.sqlite not read') });
  });

  it('reads Alpine\'s installed database with its Q1 sha1 checksums', async () => {
    const sha1 = (s: string) => `Q1${createHash('sha1').update(s).digest('base64')}`;
    const db = `P:busybox\nV:1.36\nF:bin\nR:busybox\nZ:${sha1('BB')}\nF:etc\nR:securetty\nZ:${sha1('tty1\n')}\n\nP:musl\nF:lib\nR:ld-musl-x86_64.so.1\n`;
    expect(parseApkInstalled(db).map((r) => r[1])).toEqual(['/bin', '/bin/busybox', '/etc', '/etc/securetty', '/lib', '/lib/ld-musl-x86_64.so.1']);
    const img = memoryRoot([
      { path: '/lib/apk/db/installed', content: db },
      { path: '/bin/busybox', content: 'BB' },
      { path: '/etc/securetty', content: 'tty1\nttyS0\n' },
    ]);
    const pdb = await loadPackageDb(createImageFs(img), img.inventory);
    expect(await pdb.provenance('/bin/busybox')).toMatchObject({ kind: 'shipped', pkg: 'busybox', verified: true });
    expect(await pdb.provenance('/etc/securetty')).toMatchObject({ kind: 'changed', pkg: 'busybox' });
  });

  it('parses dpkg conffiles, skipping obsolete ones', () => {
    const status = 'Package: a\nStatus: install ok installed\nConffiles:\n /etc/a 0123456789abcdef0123456789abcdef\n /etc/old 0123456789abcdef0123456789abcdef obsolete\nDescription: x\n';
    expect(parseDpkgConffiles(status)).toEqual([['a', '/etc/a', '0123456789abcdef0123456789abcdef']]);
  });

  it("parses dpkg's diversions: the diverted paths, local or by a package", () => {
    const text = '/usr/bin/x\n/usr/bin/x.distrib\n:\n/sbin/start-stop-daemon\n/sbin/start-stop-daemon.REAL\nmmdebstrap\n/usr/bin/cut-off\n';
    expect(parseDpkgDiversions(text)).toEqual(['/usr/bin/x', '/sbin/start-stop-daemon']);
    expect(parseDpkgDiversions('')).toEqual([]);
  });

  it('verifies a real Alpine root against its apk database (Q1 sha1): the stock crontab is alpine-baselayout\'s', () => {
    const r = hostleak(['scan', path.join(REPO, 'test/fixtures/corpus/trivy_alpine-310.tar.gz'), '--format', 'json', '--fail-on', 'never']);
    const cron = json<Report>(r).targets[0]!.findings.find((f) => f.path === '/etc/crontabs/root')!;
    expect(cron).toMatchObject({ ruleId: 'spool-leftover', severity: 'info' });
    expect(cron.message).toContain('installed unchanged by apk package alpine-baselayout');
  });
});
