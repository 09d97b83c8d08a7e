/**
 * ls, cat, inventory and diff through the built CLI on the sample DISK images (images-sample/out/*.raw, *.qcow2,
 * built by `npm run samples`): GPT, vfat ESP on /boot, ext4 root. The default backend (auto, native here) does most
 * of the work; libguestfs runs twice in the whole file (TCG costs 15-45 s a launch here): once for `hostleak ls
 * --backend guestfs` and once for the reference `virt-ls -lR`.
 */
import { describe, expect, it, beforeAll } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { run } from '../../src/cli.js';
import type { DiffReport } from '../../src/commands/diff.js';
import { hostleak, json, SAMPLES } from '../helpers/cli.js';
import { planted, specTree } from '../helpers/planted.js';
import { describeWithTools } from '../helpers/tools.js';

const LEAKY = path.join(SAMPLES, 'leaky.raw');
const LEAKY_QCOW2 = path.join(SAMPLES, 'leaky.qcow2');
const CLEAN = path.join(SAMPLES, 'clean.raw');
const SEEDS = ['dangling-channel-symlink', 'orphaned-home', 'root-owned-nix-defexpr'];
const GUESTFS_MS = 300_000;
/** libguestfs needs TCG on this machine (qemu crashes with KVM); the appliance cache is the machine's. */
const GUESTFS_ENV = {
  LIBGUESTFS_BACKEND_SETTINGS: 'force_tcg',
  LIBGUESTFS_CACHEDIR: process.env.LIBGUESTFS_CACHEDIR ?? process.env.TMPDIR ?? '/var/tmp',
};

const HOME_ALICE = /^drwx------ alice\s+users\s+4096 \S+ alice$/;
const HOME_BOB = /^drwxr-xr-x root\s+root\s+4096 \S+ bob$/;

/** One entry as both listings describe it. */
interface Row {
  type: string;
  mode: string;
  uid: number;
  gid: number;
  size: number;
  target: string | null;
}

/** `drwxr-sr-x` -> type `d`, mode `2755`. */
function parseModeString(s: string): { type: string; mode: string } {
  const bits = s.slice(1);
  let m = 0;
  for (let i = 0; i < 9; i++) if (!'-ST'.includes(bits[i]!)) m |= 1 << (8 - i);
  if ('sS'.includes(bits[2]!)) m |= 0o4000;
  if ('sS'.includes(bits[5]!)) m |= 0o2000;
  if ('tT'.includes(bits[8]!)) m |= 0o1000;
  return { type: s[0]!, mode: m.toString(8).padStart(4, '0') };
}

/** name -> id from a passwd or group file. */
function ids(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && f[0]) m.set(f[0], Number(f[2]));
  }
  return m;
}

/** `hostleak ls IMG / -lR`, owners turned back into numbers through the image's own passwd and group. */
function parseOurLs(text: string, users: Map<string, number>, groups: Map<string, number>): Map<string, Row> {
  const out = new Map<string, Row>();
  const num = (name: string, table: Map<string, number>) => (/^\d+$/.test(name) ? Number(name) : table.get(name) ?? NaN);
  for (const line of text.trimEnd().split('\n')) {
    const m = /^(\S{10}) +(\S+) +(\S+) +(\d+) (\S+) (.*)$/.exec(line);
    if (!m) throw new Error(`unparsable ls line: ${line}`);
    const { type, mode } = parseModeString(m[1]!);
    const rest = m[6]!.replace(/ {2}\[dangling: .*\]$/, '');
    const arrow = type === 'l' ? rest.indexOf(' -> ') : -1;
    const p = arrow >= 0 ? rest.slice(0, arrow) : rest;
    out.set(p, {
      type,
      mode,
      uid: num(m[2]!, users),
      gid: num(m[3]!, groups),
      size: Number(m[4]),
      target: arrow >= 0 ? rest.slice(arrow + 4) : null,
    });
  }
  return out;
}

/** `virt-ls -lR --uids`: `TYPE MODE SIZE UID GID PATH[ -> TARGET]`. */
function parseVirtLs(text: string): Map<string, Row> {
  const out = new Map<string, Row>();
  for (const line of text.trimEnd().split('\n')) {
    const m = /^(\S) (\d{4}) +(\d+) +(\d+) +(\d+) (.*)$/.exec(line);
    if (!m) throw new Error(`unparsable virt-ls line: ${line}`);
    const arrow = m[1] === 'l' ? m[6]!.indexOf(' -> ') : -1;
    out.set(arrow >= 0 ? m[6]!.slice(0, arrow) : m[6]!, {
      type: m[1]!,
      mode: m[2]!,
      uid: Number(m[4]),
      gid: Number(m[5]),
      size: Number(m[3]),
      target: arrow >= 0 ? m[6]!.slice(arrow + 4) : null,
    });
  }
  return out;
}

/** What the leaky spec stores at the end of /etc/fstab -> /etc/static/fstab -> /nix/store/...-etc/etc/fstab. */
function specFstab(): string {
  const tree = specTree('leaky');
  const storeEtc = tree.get('/etc/static')!.target!;
  expect(storeEtc).toMatch(/^\/nix\/store\/[a-z0-9]{32}-etc\/etc$/);
  const content = tree.get(`${storeEtc}/fstab`)?.content;
  expect(content).toContain('/dev/disk/by-partlabel/disk-main-ESP /boot vfat');
  return content!;
}

describe('hostleak ls on a disk image (default backend)', () => {
  it('/home -l: alice owns her home, root owns the builder home bob; auto picked the native reader', () => {
    const r = hostleak(['ls', LEAKY, '/home', '-l', '--verbose']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(HOME_ALICE);
    expect(lines[1]).toMatch(HOME_BOB);
    expect(r.stderr).toMatch(/^hostleak: phase open: \d+ ms \(native backend\)$/m);
  });

  it('qcow2 lists the same as raw', () => {
    expect(hostleak(['ls', LEAKY_QCOW2, '/', '-lR'])).toEqual(hostleak(['ls', LEAKY, '/', '-lR']));
  });

  it('/dev/sda1:/ names the ESP by device: the same entries as /boot, where it is mounted', () => {
    const byDevice = hostleak(['ls', LEAKY, '/dev/sda1:/', '-lR']);
    expect(byDevice.status).toBe(0);
    expect(byDevice.stdout).toBe(hostleak(['ls', LEAKY, '/boot', '-lR']).stdout);
    expect(byDevice.stdout).toMatch(/ \/boot\/EFI\/BOOT\/BOOTX64\.EFI\n/);
    const none = hostleak(['ls', LEAKY, '/dev/sda9:/']);
    expect(none.status).toBe(2);
    expect(none.stderr).toBe('hostleak: no filesystem /dev/sda9 in this image (filesystems: /dev/sda1, /dev/sda2)\n');
  });
});

describe('hostleak cat on a disk image', () => {
  it.each([
    ['raw', LEAKY],
    ['qcow2', LEAKY_QCOW2],
  ])('%s: /etc/fstab prints the fstab stored in /nix/store', (_kind, img) => {
    const r = hostleak(['cat', img, '/etc/fstab', '--verbose']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(specFstab());
    // The read phase names where the chain ended.
    expect(r.stderr).toMatch(/^hostleak: phase read: \d+ ms \(\/nix\/store\/[a-z0-9]{32}-etc\/etc\/fstab, \d+ bytes\)$/m);
  });

  it('reads the vfat ESP too', () => {
    const r = hostleak(['cat', LEAKY, '/boot/loader/loader.conf']);
    expect(r).toMatchObject({ status: 0, stdout: specTree('leaky').get('/boot/loader/loader.conf')!.content });
  });

  it('refuses directories and dangling links with exit 2 and a reason', () => {
    const dir = hostleak(['cat', LEAKY, '/etc']);
    expect(dir).toEqual({ status: 2, stdout: '', stderr: 'hostleak: /etc: is a directory (try: hostleak ls TARGET /etc)\n' });
    expect(hostleak(['cat', LEAKY, '/dev/sda1:/'])).toMatchObject({ status: 2, stdout: '' });
    const dangling = hostleak(['cat', LEAKY, '/home/bob/.nix-defexpr/channels']);
    expect(dangling).toMatchObject({ status: 2, stdout: '' });
    expect(dangling.stderr).toBe(
      'hostleak: /home/bob/.nix-defexpr/channels: does not resolve inside the image (/tmp/state does not exist in the image)\n',
    );
  });

  it('refuses binary data on a terminal unless --force; writes it when stdout is not a terminal', async () => {
    const p = '/var/lib/systemd/random-seed';
    const want = Buffer.from(specTree('leaky').get(p)!.contentBase64!, 'base64');
    expect(want.includes(0)).toBe(true); // binary: holds NUL bytes
    const refused = await run(['cat', LEAKY, p], { tty: true });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toBe(`hostleak: ${p}: binary data; refusing to write it to a terminal (redirect it, or add --force)\n`);
    expect(refused.stdoutBytes).toBeUndefined();
    const forced = await run(['cat', LEAKY, p, '--force'], { tty: true });
    expect(forced.exitCode).toBe(0);
    expect(forced.stdoutBytes?.equals(want)).toBe(true);
    const piped = await run(['cat', LEAKY, p], { tty: false });
    expect(piped.exitCode).toBe(0);
    expect(piped.stdoutBytes?.equals(want)).toBe(true);
    // Text goes to a terminal without --force.
    expect((await run(['cat', LEAKY, '/etc/fstab'], { tty: true })).stdoutBytes?.toString('utf8')).toBe(specFstab());
  });
});

describe('hostleak inventory on a disk image', () => {
  it('jsonl: one line per entry, raw and qcow2 alike, ESP entries on vfat', () => {
    const r = hostleak(['inventory', LEAKY, '--verbose']);
    expect(r.status).toBe(0);
    const rows = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { path: string; uid: number; filesystem: string });
    expect(new Set(rows.map((x) => x.path)).size).toBe(rows.length);
    expect(rows.find((x) => x.path === '/home/alice')).toMatchObject({ uid: 1000, filesystem: '/dev/sda2' });
    expect(rows.find((x) => x.path === '/boot/loader/loader.conf')).toMatchObject({ filesystem: '/dev/sda1' });
    expect(r.stderr).toMatch(new RegExp(`^hostleak: phase report: \\d+ ms \\(jsonl, ${rows.length} lines\\)$`, 'm'));
    expect(hostleak(['inventory', LEAKY_QCOW2]).stdout).toBe(r.stdout);
  });
});

describe('hostleak diff on disk images', () => {
  let r: ReturnType<typeof hostleak>;
  let d: DiffReport;
  beforeAll(() => {
    r = hostleak(['diff', CLEAN, LEAKY, '--format', 'json']);
    d = json<DiffReport>(r);
  });

  it('clean.raw -> leaky.raw: exits 1; the builder home is added and the three seed findings are new', () => {
    expect(r.status).toBe(1);
    expect(d.added.map((e) => e.path)).toEqual(expect.arrayContaining(['/home/bob', '/home/bob/.nix-defexpr', '/home/bob/.nix-defexpr/channels']));
    expect(d.added.find((e) => e.path === '/home/bob')).toMatchObject({ type: 'dir', mode: '0755', uid: 0, gid: 0 });
    const seeds = d.findings.new.filter((f) => f.path.startsWith('/home/bob')).map((f) => `${f.ruleId} ${f.path}`);
    expect(seeds).toEqual(
      expect.arrayContaining([
        'orphaned-home /home/bob',
        'root-owned-nix-defexpr /home/bob/.nix-defexpr',
        'dangling-channel-symlink /home/bob/.nix-defexpr/channels',
      ]),
    );
    expect(SEEDS.every((id) => d.findings.new.some((f) => f.ruleId === id))).toBe(true);
  });

  it('added, removed and changed are exactly what the spec plants (ESP included; mtimes are not compared)', () => {
    const want = planted();
    expect(d.added.map((e) => e.path)).toEqual(want.added);
    expect(d.removed.map((e) => e.path)).toEqual(want.removed);
    expect(d.changed.map((e) => e.path)).toEqual(want.changed);
    expect(want.added).toContain('/boot/loader/random-seed'); // the vfat side is part of the diff
    // Every finding of the leaky image is new; nothing at warning or above was fixed.
    const scan = json<{ targets: Array<{ findings: unknown[] }> }>(hostleak(['scan', LEAKY, '--format', 'json']));
    expect(d.findings.new).toHaveLength(scan.targets[0]!.findings.length);
    expect(d.findings.fixed.filter((f) => f.severity !== 'info')).toEqual([]);
  });

  it('raw against qcow2 of the same build: nothing changed, no new findings, exit 0', () => {
    const same = hostleak(['diff', LEAKY, LEAKY_QCOW2, '--format', 'json']);
    expect(same.status).toBe(0);
    expect(json<DiffReport>(same)).toMatchObject({ added: [], removed: [], changed: [], findings: { new: [], fixed: [] } });
  });

  it('text: directories in path order, / first, each once; store paths counted', () => {
    const t = hostleak(['diff', CLEAN, LEAKY]);
    expect(t.status).toBe(1);
    const added = t.stdout.slice(t.stdout.indexOf('Added ('), t.stdout.indexOf('Removed ('));
    const headings = added.split('\n').filter((l) => /^ {2}\//.test(l)).map((l) => l.trim());
    expect(headings[0]).toBe('/');
    expect(headings).toEqual([...headings].sort());
    expect(new Set(headings).size).toBe(headings.length);
    expect(added).toMatch(/^ {2}\/home\/\n {4}\+ bob\/ {2}drwxr-xr-x 0:0$/m);
    expect(added).toMatch(/\+ [a-z0-9]{32}-shadow-4\.14\/ {2}dr-xr-xr-x 0:0 \(\+2 entries below\)/);
    expect(t.stdout).toContain(`Changed (${planted().changed.length} ${planted().changed.length === 1 ? 'entry' : 'entries'})`);
  });
});

describe('--verbose on a disk image: phase timings and the backend', () => {
  const PHASES = /hostleak: phase list: \d+ ms \(native: 2 filesystem\(s\), \d+ entries\)\nhostleak: phase assemble: \d+ ms\nhostleak: phase open: \d+ ms \(native backend\)\n/;

  it.each([
    ['ls', ['ls', LEAKY, '/home'], /phase ls: \d+ ms \(2 lines\)/],
    ['cat', ['cat', LEAKY, '/etc/hosts'], /phase read: \d+ ms \(\/nix\/store\/\S+\/etc\/hosts, \d+ bytes\)/],
    ['inventory', ['inventory', LEAKY, '--format', 'csv'], /phase report: \d+ ms \(csv, \d+ lines\)/],
  ])('%s', (_name, args, last) => {
    const r = hostleak([...args, '--verbose']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(PHASES);
    expect(r.stderr).toMatch(last);
  });

  it('diff: both opens, then rules per image, diff and report, in that order', () => {
    const r = hostleak(['diff', CLEAN, LEAKY, '--verbose']);
    expect(r.status).toBe(1);
    const phases = [...r.stderr.matchAll(/^hostleak: phase (\w+): \d+ ms/gm)].map((m) => m[1]);
    expect(phases).toEqual(['list', 'assemble', 'open', 'list', 'assemble', 'open', 'rules', 'rules', 'diff', 'report']);
    expect(r.stderr).toMatch(/phase rules: \d+ ms \(\S+clean\.raw: \d+ rules, 0 findings\)/);
    expect(r.stderr).toMatch(/phase diff: \d+ ms \(\d+ added, 0 removed, \d+ changed\)/);
  });
});

describeWithTools(['guestfish', 'virt-ls'], 'libguestfs on the leaky disk image', () => {
  it(
    'hostleak ls --backend guestfs --accel tcg /home -l: the same owners, the TCG appliance named in --verbose',
    () => {
      const r = hostleak(['ls', LEAKY, '/home', '-l', '--backend', 'guestfs', '--accel', 'tcg', '--verbose'], {
        env: GUESTFS_ENV,
        timeoutMs: GUESTFS_MS,
      });
      expect(r.stderr).toMatch(/^hostleak: guestfs: appliance up in \d+ ms \(acceleration: TCG\)$/m);
      expect(r.stderr).toMatch(/^hostleak: phase list: \d+ ms \(2 filesystem\(s\), \d+ entries\)$/m);
      expect(r.stderr).toMatch(/^hostleak: phase open: \d+ ms \(guestfs backend, TCG acceleration\)$/m);
      expect(r.status).toBe(0);
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(HOME_ALICE);
      expect(lines[1]).toMatch(HOME_BOB);
      // Line for line what the native reader prints.
      expect(r.stdout).toBe(hostleak(['ls', LEAKY, '/home', '-l']).stdout);
    },
    GUESTFS_MS,
  );

  it(
    'ls -lR agrees with virt-ls -lR (root on /dev/sda2, ESP on /boot) on names, types, modes, owners, sizes and link targets',
    () => {
      const v = spawnSync('virt-ls', ['-lR', '--uids', '-a', LEAKY, '-m', '/dev/sda2:/', '-m', '/dev/sda1:/boot', '/'], {
        encoding: 'utf8',
        env: { ...process.env, ...GUESTFS_ENV },
        timeout: GUESTFS_MS,
      });
      expect(v.stderr).toBe('');
      expect(v.status).toBe(0);
      const theirs = parseVirtLs(v.stdout);

      const users = ids(hostleak(['cat', LEAKY, '/etc/passwd']).stdout);
      const groups = ids(hostleak(['cat', LEAKY, '/etc/group']).stdout);
      const listing = hostleak(['ls', LEAKY, '/', '-lR']);
      expect(listing.status).toBe(0);
      const ours = parseOurLs(listing.stdout, users, groups);

      expect(theirs.size).toBeGreaterThan(100);
      expect([...ours.keys()].sort()).toEqual([...theirs.keys()].sort());
      for (const [p, want] of theirs) expect({ path: p, ...ours.get(p) }).toEqual({ path: p, ...want });
      // Names that stand for accounts, and a number for uid 1001 which has none.
      expect(ours.get('/home/alice')).toMatchObject({ uid: 1000, gid: 100 });
      expect(listing.stdout).toMatch(/^drwxr-xr-x 1001 +1001 +4096 \S+ \/opt\/app$/m);

      // The numeric view (inventory) agrees too: uid and gid straight from the filesystem.
      const inv = hostleak(['inventory', LEAKY]).stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { path: string; uid: number; gid: number; mode: string; target: string | null });
      for (const row of inv) {
        const want = theirs.get(row.path);
        expect({ path: row.path, uid: row.uid, gid: row.gid, mode: row.mode, target: row.target }).toEqual({
          path: row.path,
          uid: want?.uid,
          gid: want?.gid,
          mode: want?.mode,
          target: want?.target,
        });
      }
    },
    GUESTFS_MS,
  );
});
