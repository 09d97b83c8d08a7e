/**
 * docs/targets.md's "Filesystems as their tools write them" table stays true: every row has a builder here (and
 * every builder a row), the artifact is made with the tool and options the row names, audited with the native
 * backend, and the token planted in a file large enough to be compressed is found (exit 1). The README's native
 * format list names each of them too.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hostleak, json, REPO } from '../../helpers/cli.js';
import { requireTool } from '../../helpers/tools.js';
import { TOKEN } from '../../helpers/unreadable.js';
import { machineCode } from '../../helpers/machine-code.js';

requireTool('mke2fs', 'mkfs.erofs', 'xorriso', 'bsdtar', 'mksquashfs');

/** What builds each row's artifact from `tree` into `img`, and what the README says of it. */
const BUILDERS: Record<string, { build(tree: string, img: string): void; readme: RegExp }> = {
  '`mkfs.ext4 -O bigalloc` (`-C` cluster size)': {
    build: (tree, img) => execFileSync('mke2fs', ['-q', '-t', 'ext4', '-O', 'bigalloc', '-C', '16384', '-d', tree, img, '32M']),
    readme: /ext2\/3\/4\s+\([^)]*bigalloc/,
  },
  '`mkfs.erofs --chunksize=N`': {
    build: (tree, img) => execFileSync('mkfs.erofs', ['--quiet', '--chunksize=4096', img, tree]),
    readme: /chunk-based files with block maps/,
  },
  '`mkfs.erofs --chunksize=N -Eforce-chunk-indexes`': {
    build: (tree, img) => execFileSync('mkfs.erofs', ['--quiet', '--chunksize=8192', '-Eforce-chunk-indexes', img, tree]),
    readme: /or chunk indexes/,
  },
  '`xorriso -set_filter_r --zisofs`': {
    build: (tree, img) => execFileSync('xorriso', ['-outdev', img, '-map', tree, '/', '-set_filter_r', '--zisofs', '/', '--'], { stdio: 'ignore' }),
    readme: /zisofs-compressed files, version 1/,
  },
  '`xorriso -zisofs version_2=on` (`:susp_z2=on`) `-set_filter_r --zisofs`': {
    build: (tree, img) =>
      execFileSync('xorriso', ['-zisofs', 'version_2=on:susp_z2=on', '-outdev', img, '-map', tree, '/', '-set_filter_r', '--zisofs', '/', '--'], {
        stdio: 'ignore',
      }),
    readme: /zisofs2\s+zlib files xorriso writes/,
  },
  '`bsdtar --format iso9660 --options iso9660:zisofs`': {
    build: (tree, img) => execFileSync('bsdtar', ['-cf', img, '--format', 'iso9660', '--options', 'iso9660:zisofs,iso9660:rockridge', '-C', tree, '.']),
    readme: /zisofs-compressed files/,
  },
  '`mksquashfs -comp xz -Xbcj x86,arm`': {
    build: (tree, img) => {
      // Machine code beside the token, in the same fragment block: the x86 filter makes that block smaller, so
      // mksquashfs keeps it there, and the token is read through it.
      const withCode = `${img}.tree`;
      execFileSync('cp', ['-a', tree, withCode]);
      writeFileSync(path.join(withCode, 'root/code.bin'), machineCode(96 * 1024));
      execFileSync('mksquashfs', [withCode, img, '-comp', 'xz', '-Xbcj', 'x86,arm', '-always-use-fragments', '-noappend', '-quiet', '-no-progress'], {
        stdio: 'ignore',
      });
      // xz streams whose first block header (byte 13: filter count - 1) names a filter before LZMA2.
      const bytes = readFileSync(img);
      const magic = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
      let filtered = 0;
      for (let at = bytes.indexOf(magic); at >= 0; at = bytes.indexOf(magic, at + 1)) if ((bytes[at + 13]! & 3) !== 0) filtered++;
      if (filtered === 0) throw new Error('mksquashfs kept no branch filter: the row would test nothing');
    },
    readme: /xz also\s+with branch filters as `mksquashfs -Xbcj`/,
  },
};

function rows(): string[] {
  const text = readFileSync(path.join(REPO, 'docs/targets.md'), 'utf8');
  const start = text.indexOf('## Filesystems as their tools write them');
  expect(start).toBeGreaterThan(0);
  const section = text.slice(start, text.indexOf('\n## ', start + 1));
  return section
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| Tool') && !l.startsWith('|---'))
    .map((l) => l.slice(1, -1).split(' | ')[0]!.trim());
}

let tmp: string;
let tree: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'formats-doc-'));
  tree = path.join(tmp, 'tree');
  mkdirSync(path.join(tree, 'etc'), { recursive: true });
  mkdirSync(path.join(tree, 'root'));
  writeFileSync(path.join(tree, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  writeFileSync(path.join(tree, 'etc/group'), 'root:x:0:\n');
  const pad = Array.from({ length: 3000 }, (_, i) => `# setting ${i} of the deployment, kept for reference\n`).join('');
  writeFileSync(path.join(tree, 'root/.env'), `${pad}GITHUB_TOKEN=${TOKEN}\n`);
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('docs/targets.md: filesystems as their tools write them', () => {
  const table = rows();

  it('lists exactly the variants built here, each named in the README', () => {
    expect([...table].sort()).toEqual(Object.keys(BUILDERS).sort());
    const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
    for (const row of table) expect({ row, inReadme: BUILDERS[row]!.readme.test(readme) }).toEqual({ row, inReadme: true });
  });

  it.each(table.map((r) => [r]))('%s: read natively, the planted token found (exit 1)', (row) => {
    const img = path.join(tmp, `${row.replace(/\W+/g, '-')}.img`);
    BUILDERS[row]!.build(tree, img);
    const r = hostleak(['scan', '--backend', 'native', '--format', 'json', img]);
    const t = json<{ targets: Array<{ status: string; backend: string; findings: Array<{ ruleId: string; path: string }> }> }>(r).targets[0]!;
    expect({ exit: r.status, status: t.status, backend: t.backend }).toEqual({ exit: 1, status: 'ok', backend: 'native' });
    expect(t.findings.some((f) => f.ruleId === 'secret-token' && f.path.endsWith('/root/.env'))).toBe(true);
  });
});
