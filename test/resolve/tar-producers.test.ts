/**
 * Tars as GNU tar and bsdtar write them, read the way they read them back: every tar format each writes (v7 too, whose
 * headers have no magic), volume labels (`tar -V`, plain and gzipped, also as the first member detection sees),
 * incremental folders ('D'), and a later volume of a multi-volume set ('M'), listed like `bsdtar -tv` lists them. And
 * what a later member hides still ships: a member replaced by one of the same name (`tar -r`) or by a directory is
 * content-scanned and reported as "shipped but hidden" at the byte `tar -tvR` gives for it.
 */
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tarSource, wholeFile } from '../../src/resolve/stream.js';
import { isTarHeader, walkTar, type TarEntry } from '../../src/resolve/tar.js';
import { hostleak, json } from '../helpers/cli.js';
import { FAKE_GITHUB_TOKEN } from '../helpers/fake-secrets.js';
import { requireTool } from '../helpers/tools.js';
import type { Report } from '../../src/types.js';

requireTool('tar', 'bsdtar', 'gzip');

let tmp: string;
let src: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-tarprod-'));
  src = path.join(tmp, 'src');
  for (const d of ['etc', 'root']) mkdirSync(path.join(src, d), { recursive: true });
  writeFileSync(path.join(src, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  linkSync(path.join(src, 'etc/passwd'), path.join(src, 'etc/passwd-'));
  symlinkSync('../etc/passwd', path.join(src, 'root/pw'));
  writeFileSync(path.join(src, 'root/.env'), `GITHUB_TOKEN=${FAKE_GITHUB_TOKEN}\n`);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: tmp, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

async function members(file: string, compression: 'gzip' | null = null): Promise<{ entries: TarEntry[]; problems: string[] }> {
  const entries: TarEntry[] = [];
  const r = await walkTar(tarSource(await wholeFile(file), compression).open(), { onEntry: (e) => (entries.push(e), null) });
  return { entries, problems: r.problems };
}

const PERMS = 'rwxrwxrwx';
/** One member as `bsdtar -tv` prints it: type, permissions, size, name (and link). */
function asBsdtar(e: TarEntry): string {
  const types: Record<string, string> = { file: '-', dir: 'd', symlink: 'l', hardlink: 'h', chardev: 'c', blockdev: 'b', fifo: 'p' };
  const t = types[e.type] ?? '?';
  const perms = [...PERMS].map((c, i) => (e.mode & (0o400 >> i) ? c : '-')).join('');
  const name = e.name.replace(/\/$/, '') + (e.type === 'symlink' ? ` -> ${e.linkname}` : e.type === 'hardlink' ? ` link to ${e.linkname}` : '');
  return `${t}${perms} ${e.type === 'file' ? e.size : 0} ${name}`;
}

/** bsdtar's own listing in the same form. */
function bsdtarList(file: string): string[] {
  return run('bsdtar', ['-tvf', file])
    .trim()
    .split('\n')
    .map((l) => {
      const f = l.split(/\s+/);
      // mode links owner group size month day time-or-year name... (a 'D' folder's size is its listing: not compared)
      return `${f[0]} ${f[0]!.startsWith('d') ? 0 : f[4]} ${f.slice(8).join(' ').replace(/\/$/, '')}`;
    });
}

const ARCHIVES: Array<[string, string, string[]]> = [
  ['gnu-v7.tar', 'tar', ['--format=v7']],
  ['gnu-oldgnu.tar', 'tar', ['--format=oldgnu']],
  ['gnu-gnu.tar', 'tar', ['--format=gnu']],
  ['gnu-ustar.tar', 'tar', ['--format=ustar']],
  ['gnu-posix.tar', 'tar', ['--format=posix']],
  ['gnu-label.tar', 'tar', ['-V', 'BACKUP 2026-12']],
  ['gnu-label-posix.tar', 'tar', ['--format=posix', '-V', 'LABEL']],
  ['gnu-label.tar.gz', 'tar', ['-z', '-V', 'LABEL']],
  ['bsd-ustar.tar', 'bsdtar', ['--format', 'ustar']],
  ['bsd-pax.tar', 'bsdtar', ['--format', 'pax']],
  ['bsd-paxr.tar', 'bsdtar', ['--format', 'paxr']],
  ['bsd-gnutar.tar', 'bsdtar', ['--format', 'gnutar']],
  ['bsd-v7tar.tar', 'bsdtar', ['--format', 'v7tar']],
];

describe('every tar format GNU tar and bsdtar write', () => {
  beforeAll(() => {
    for (const [name, tool, flags] of ARCHIVES) run(tool, [...flags, '-C', src, '-cf', path.join(tmp, name), 'etc', 'root']);
  });

  it.each(ARCHIVES.map((a) => a[0]))('%s lists as bsdtar -tv lists it', async (name) => {
    const file = path.join(tmp, name);
    const { entries, problems } = await members(file, name.endsWith('.gz') ? 'gzip' : null);
    expect(entries.map(asBsdtar)).toEqual(bsdtarList(file));
    expect(problems).toEqual([]);
  });

  it('a volume label (no magic in its header) and v7 headers are recognised as tar', () => {
    const head = (n: string) => execFileSync('sh', ['-c', `head -c 512 ${JSON.stringify(path.join(tmp, n))}`]);
    expect(head('gnu-label.tar').subarray(257, 262).toString('latin1')).not.toBe('ustar');
    expect(isTarHeader(head('gnu-label.tar'))).toBe(true);
    expect(isTarHeader(head('gnu-v7.tar'))).toBe(true);
    expect(isTarHeader(Buffer.alloc(512))).toBe(false);
  });

  it('the CLI finds the planted token in each (exit 1), none "unrecognised"', () => {
    const r = hostleak(['scan', '--format', 'json', ...ARCHIVES.map((a) => path.join(tmp, a[0]))]);
    expect(r.stderr).not.toMatch(/unrecognised/);
    const report = json<Report>(r);
    for (const t of report.targets) {
      expect([path.basename(t.target), t.status, t.backend]).toEqual([path.basename(t.target), 'ok', 'tar']);
      expect([path.basename(t.target), t.findings.filter((f) => f.ruleId === 'secret-token').map((f) => f.path)]).toEqual([
        path.basename(t.target),
        ['/root/.env'],
      ]);
    }
    expect(r.status).toBe(1);
  });
});

describe('header types other tars write, read as bsdtar reads them', () => {
  /** A copy of `from` with each header whose type flag is `was` set to `now` (checksum recomputed). */
  function retype(from: string, to: string, was: string, now: string): string {
    const b = readFileSync(path.join(tmp, from));
    for (let off = 0; off + 512 <= b.length; off += 512) {
      const h = b.subarray(off, off + 512);
      if (!isTarHeader(h) || h[156] !== was.charCodeAt(0)) continue;
      h[156] = now.charCodeAt(0);
      h.fill(0x20, 148, 156);
      const sum = h.reduce((n, c) => n + c, 0);
      h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    }
    writeFileSync(path.join(tmp, to), b);
    return path.join(tmp, to);
  }

  it("Solaris 'X' extended headers are PAX headers; an unknown type is a regular file (POSIX)", async () => {
    run('tar', ['--format=posix', '-C', src, '-cf', path.join(tmp, 'pax-src.tar'), 'etc', 'root']);
    const solaris = retype('pax-src.tar', 'solaris.tar', 'x', 'X');
    run('tar', ['--format=gnu', '-C', src, '-cf', path.join(tmp, 'gnu-src.tar'), 'etc', 'root']);
    const unknown = retype('gnu-src.tar', 'unknown.tar', '0', 'Q');
    for (const file of [solaris, unknown]) {
      const { entries, problems } = await members(file);
      expect(entries.map(asBsdtar)).toEqual(bsdtarList(file));
      expect(problems).toEqual([]);
    }
    const r = hostleak(['scan', '--format', 'json', solaris, unknown]);
    expect(r.status).toBe(1);
    for (const t of json<Report>(r).targets) expect(t.findings.filter((f) => f.ruleId === 'secret-token').map((f) => f.path)).toEqual(['/root/.env']);
  });
});

describe('GNU incremental and multi-volume archives', () => {
  it("an incremental archive's 'D' folders list as bsdtar lists them and their files are audited", async () => {
    const file = path.join(tmp, 'incremental.tar');
    run('tar', ['--listed-incremental', path.join(tmp, 'snapshot'), '-C', src, '-cf', file, 'etc', 'root']);
    const { entries } = await members(file);
    expect(entries.filter((e) => e.type === 'dir').length).toBeGreaterThan(0);
    expect(entries.map(asBsdtar)).toEqual(bsdtarList(file));
    const r = hostleak(['scan', '--format', 'json', file]);
    expect(r.status).toBe(1);
    expect(json<Report>(r).targets[0]!.findings.some((f) => f.ruleId === 'secret-token' && f.path === '/root/.env')).toBe(true);
  });

  it("a later volume's 'M' continuation is read (its bytes audited) and the volume is never clean", async () => {
    const dir = path.join(tmp, 'mv');
    mkdirSync(path.join(dir, 'src/etc'), { recursive: true });
    mkdirSync(path.join(dir, 'src/usr'), { recursive: true });
    writeFileSync(path.join(dir, 'src/etc/hostname'), 'box\n');
    // 15 KB of filler, then the token: with 10 KiB volumes it lands in the second volume.
    writeFileSync(path.join(dir, 'src/usr/notes.txt'), `${'A'.repeat(15_000)}\nGITHUB_TOKEN=${FAKE_GITHUB_TOKEN}\n`);
    const vols = ['v1.tar', 'v2.tar', 'v3.tar'].map((v) => path.join(dir, v));
    run('tar', ['-c', '-M', '-L', '10', ...vols.flatMap((v) => ['-f', v]), '-C', path.join(dir, 'src'), 'etc', 'usr']);
    // GNU tar's own view of volume 2: one member, continued at a byte offset.
    const listed = run('tar', ['-tvf', vols[1]!]);
    const at = Number(/--Continued at byte (\d+)--/.exec(listed)?.[1]);
    const { entries, problems } = await members(vols[1]!);
    expect(entries.map((e) => [e.name, e.type])).toEqual([['usr/notes.txt', 'file']]);
    expect(problems).toEqual([`usr/notes.txt: continues from a previous volume at byte ${at}; only the ${entries[0]!.size} bytes in this volume are audited`]);
    expect(at + entries[0]!.size).toBe(15_000 + 1 + `GITHUB_TOKEN=${FAKE_GITHUB_TOKEN}\n`.length);
    const r = hostleak(['scan', vols[1]!]);
    expect(r.status).toBe(3);
    expect(r.stdout + r.stderr).toMatch(/continues from a previous volume/);
  });
});

describe('members a later member of the same name hides still ship', () => {
  const byteOf = (file: string, name: string): number[] =>
    run('tar', ['-tvRf', file])
      .split('\n')
      .filter((l) => l.endsWith(` ${name}`) || l.endsWith(` ${name}/`))
      .map((l) => Number(/^block (\d+):/.exec(l)![1]) * 512);

  it.each([
    ['a file of the same name (tar -r)', 'file'],
    ['a directory of that name', 'dir'],
  ])('replaced by %s: the token is reported as shipped but hidden, at its member offset', (_what, kind) => {
    const dir = path.join(tmp, `shadow-${kind}`);
    mkdirSync(path.join(dir, 'a/root'), { recursive: true });
    mkdirSync(path.join(dir, 'a/etc'), { recursive: true });
    mkdirSync(path.join(dir, 'b/root'), { recursive: true });
    writeFileSync(path.join(dir, 'a/etc/hostname'), 'box\n');
    writeFileSync(path.join(dir, 'a/root/.env'), `GITHUB_TOKEN=${FAKE_GITHUB_TOKEN}\n`);
    if (kind === 'file') writeFileSync(path.join(dir, 'b/root/.env'), 'nothing here\n');
    else mkdirSync(path.join(dir, 'b/root/.env'));
    const file = path.join(dir, 'rootfs.tar');
    run('tar', ['-C', path.join(dir, 'a'), '-cf', file, 'etc', 'root']);
    run('tar', ['-C', path.join(dir, 'b'), '-rf', file, 'root']);
    const [first, second] = byteOf(file, 'root/.env');
    expect(second).toBeGreaterThan(first!);
    const r = hostleak(['scan', '--format', 'json', file]);
    expect(r.status).toBe(1);
    const t = json<Report>(r).targets[0]!;
    expect(t.status).toBe('ok');
    const hit = t.findings.filter((f) => f.ruleId === 'secret-token');
    expect(hit.map((f) => f.path)).toEqual(['tar:/root/.env']);
    expect(hit[0]!.message).toContain(
      `(shipped but hidden: member at byte ${first} of the archive, replaced by a ${kind === 'dir' ? 'directory' : 'file'} of the same name at byte ${second} of the archive)`,
    );
    expect(r.stdout).not.toContain(FAKE_GITHUB_TOKEN);
  });
});
