/**
 * The streaming tar reader and the in-memory tree, on archives made by GNU tar: sparse members in every format GNU
 * tar writes, long names, hard links, hostile names (`../`, absolute, through symlinks), truncated and corrupt
 * archives, and a big member streamed with flat memory.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, closeSync, writeSync, readFileSync, rmSync, statSync, symlinkSync, linkSync, writeFileSync, truncateSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TargetError } from '../../src/errors.js';
import { treeRoot } from '../../src/resolve/opened.js';
import { tarSource, wholeFile } from '../../src/resolve/stream.js';
import { MAX_TRAILER, walkTar, type TarEntry } from '../../src/resolve/tar.js';
import { ContentStore, TreeBuilder } from '../../src/resolve/tree.js';
import { hostleak } from '../helpers/cli.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-tar-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sh = (cmd: string, args: string[], cwd = tmp) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

async function readAll(file: string, compression: 'gzip' | null = null) {
  const src = tarSource(await wholeFile(file), compression);
  const entries: TarEntry[] = [];
  const data = new Map<string, Buffer>();
  await walkTar(src.open(), {
    onEntry(e) {
      entries.push(e);
      if (e.type !== 'file') return null;
      const buf = Buffer.alloc(e.size);
      data.set(e.name, buf);
      return (chunk, off) => void chunk.copy(buf, off);
    },
  });
  return { entries, data, src };
}

async function treeOf(file: string) {
  const { src } = await readAll(file);
  const tree = new TreeBuilder(() => 'tar');
  await walkTar(src.open(), { onEntry: (e) => (tree.apply(e, 0, { whiteouts: false }), null) });
  return { tree, src, inventory: tree.inventory() };
}

describe('sparse members', () => {
  let original: Buffer;
  beforeAll(() => {
    const f = path.join(tmp, 'disk.raw');
    const fd = openSync(f, 'w');
    const a = Buffer.alloc(4096, 0x61);
    const b = Buffer.alloc(8192, 0x62);
    writeSync(fd, a, 0, a.length, 0);
    writeSync(fd, b, 0, b.length, 1024 * 1024);
    writeSync(fd, Buffer.from('tail'), 0, 4, 3 * 1024 * 1024 - 4);
    closeSync(fd);
    original = readFileSync(f);
  });

  const formats: Array<[string, string[]]> = [
    ["old GNU 'S'", ['--format=gnu']],
    ['PAX 0.0', ['--format=posix', '--sparse-version=0.0']],
    ['PAX 0.1', ['--format=posix', '--sparse-version=0.1']],
    ['PAX 1.0', ['--format=posix', '--sparse-version=1.0']],
  ];
  for (const [name, flags] of formats) {
    it(`${name}: the logical bytes are the original file's`, async () => {
      const out = path.join(tmp, `sparse-${flags.join('').replace(/\W/g, '')}.tar`);
      sh('tar', ['-S', ...flags, '-cf', out, 'disk.raw']);
      const { entries, data } = await readAll(out);
      const files = entries.filter((e) => e.type === 'file');
      expect(files.map((e) => [e.name, e.size, e.sparse])).toEqual([['disk.raw', original.length, true]]);
      // Only the data segments are stored.
      expect(files[0]!.extents.reduce((n, e) => n + e.length, 0)).toBeLessThan(64 * 1024);
      expect(data.get('disk.raw')!.equals(original)).toBe(true);
    });
  }
});

describe('names, links and owners from the headers', () => {
  it('GNU and PAX long names and link targets, hard links resolved to their file', async () => {
    const root = path.join(tmp, 'names');
    const long = 'd'.repeat(90) + '/' + 'f'.repeat(120);
    mkdirSync(path.join(root, 'd'.repeat(90)), { recursive: true });
    writeFileSync(path.join(root, long), 'long file\n');
    symlinkSync('/' + 't'.repeat(150), path.join(root, 'lnk'));
    linkSync(path.join(root, long), path.join(root, 'hard'));
    for (const fmt of ['gnu', 'posix']) {
      const out = path.join(tmp, `names-${fmt}.tar`);
      sh('tar', [`--format=${fmt}`, '--numeric-owner', '-C', root, '-cf', out, '.']);
      const { tree, src, inventory } = await treeOf(out);
      expect(inventory.get('/' + long)).toMatchObject({ type: 'file', size: 10 });
      expect(inventory.get('/lnk')).toMatchObject({ type: 'symlink', target: '/' + 't'.repeat(150) });
      expect(inventory.get('/hard')).toMatchObject({ type: 'file', size: 10 });
      // Reads by offset (plain tar) serve the hard link's bytes from its file.
      const r = treeRoot({ prefix: null, inventory, refOf: (p) => tree.refOf(p), sources: [src], store: new ContentStore(0, 0) });
      const got = await r.readFiles(['/hard', '/' + long], 1024);
      expect((got.get('/hard') as { data: Buffer }).data.toString()).toBe('long file\n');
      expect((got.get('/' + long) as { data: Buffer }).data.toString()).toBe('long file\n');
    }
  });
});

describe('compressions', () => {
  it('gzip, xz, zstd and bzip2 tars list the same tree as the plain tar, read by offset or by one more pass', async () => {
    const root = path.join(tmp, 'comp');
    mkdirSync(path.join(root, 'etc'), { recursive: true });
    writeFileSync(path.join(root, 'etc', 'hostname'), 'box\n');
    writeFileSync(path.join(root, 'etc', 'big'), Buffer.alloc(3 * 1024 * 1024, 0x42));
    const plain = path.join(tmp, 'comp.tar');
    sh('tar', ['--format=gnu', '-C', root, '-cf', plain, '.']);
    const want = (await treeOf(plain)).inventory.entries();
    for (const [tool, c] of [['gzip', 'gzip'], ['xz', 'xz'], ['zstd', 'zstd'], ['bzip2', 'bzip2']] as const) {
      const file = `${plain}.${tool}`;
      execFileSync('sh', ['-c', `${tool} -c "$0" > "$1"`, plain, file]);
      const src = tarSource(await wholeFile(file), c);
      expect(src.pread).toBeNull();
      const tree = new TreeBuilder(() => 'tar');
      await walkTar(src.open(), { onEntry: (e) => (tree.apply(e, 0, { whiteouts: false }), null) });
      expect(tree.inventory().entries()).toEqual(want);
      // Nothing kept in memory: both files come from one more pass over the compressed stream.
      const r = treeRoot({ prefix: null, inventory: tree.inventory(), refOf: (p) => tree.refOf(p), sources: [src], store: new ContentStore(0, 0) });
      const got = await r.readFiles(['/etc/hostname', '/etc/big'], 4 * 1024 * 1024);
      expect((got.get('/etc/hostname') as { data: Buffer }).data.toString()).toBe('box\n');
      expect((got.get('/etc/big') as { data: Buffer }).data.equals(Buffer.alloc(3 * 1024 * 1024, 0x42))).toBe(true);
    }
  });
});

describe('members that change the path their neighbours resolve through', () => {
  const member = (name: string, type: TarEntry['type'], linkname?: string): TarEntry => ({
    name, offset: 0, type, mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0, extents: [], sparse: false, ...(linkname ? { linkname } : {}),
  });

  it('a member that replaces a directory on its own parent path: the next member with that parent resolves again', () => {
    const tree = new TreeBuilder(() => 'tar');
    // /a/s -> / : members under a/s land in the root. The third replaces /a (on the way to a/s) by a file.
    for (const m of [member('a/', 'dir'), member('a/s', 'symlink', '/'), member('a/s/x', 'file'), member('a/s/a', 'file'), member('a/s/y', 'file')]) {
      tree.apply(m, 0, { whiteouts: false });
    }
    const inv = tree.inventory();
    expect(inv.get('/x')?.type).toBe('file');
    expect(inv.get('/a')?.type).toBe('file');
    // /a is no longer a directory: a/s/y has no parent inside the image, and is not placed at /y.
    expect(inv.get('/y')).toBeUndefined();
    expect(tree.problems).toEqual(['a/s/y: its parent is not a directory inside the image']);
  });

  it('a whiteout that deletes a directory on the parent path of the members after it: it is made again', () => {
    const tree = new TreeBuilder(() => 'layer');
    for (const m of [member('d/', 'dir'), member('l', 'symlink', 'd'), member('l/x', 'file')]) tree.apply(m, 0, { whiteouts: true });
    for (const m of [member('.wh.d', 'file'), member('l/y', 'file')]) tree.apply(m, 1, { whiteouts: true });
    // l -> d is resolved again: /d is made anew (members need not list their parents), without what it held.
    const inv = tree.inventory();
    expect(inv.get('/d')?.mtime).toBe(0);
    expect(inv.get('/d')?.type).toBe('dir');
    expect(inv.get('/d/x')).toBeUndefined();
    expect(inv.get('/d/y')?.type).toBe('file');
    expect(tree.problems).toEqual([]);
  });
});

describe('an archive that changes under the audit', () => {
  it('cut after its listing: the reads past the cut fail, saying what happened and what to do', async () => {
    const root = path.join(tmp, 'changing');
    mkdirSync(path.join(root, 'etc'), { recursive: true });
    writeFileSync(path.join(root, 'etc', 'a'), Buffer.alloc(64 * 1024, 0x61));
    writeFileSync(path.join(root, 'etc', 'z'), 'last\n');
    for (const compression of [null, 'gzip'] as const) {
      const plain = path.join(tmp, 'changing.tar');
      sh('tar', ['--format=gnu', '--sort=name', '-C', root, '-cf', plain, '.']);
      const file = compression ? `${plain}.gz` : plain;
      if (compression) execFileSync('sh', ['-c', 'gzip -c "$0" > "$1"', plain, file]);
      const src = tarSource(await wholeFile(file), compression);
      const tree = new TreeBuilder(() => 'tar');
      await walkTar(src.open(), { onEntry: (e) => (tree.apply(e, 0, { whiteouts: false }), null) });
      truncateSync(file, Math.floor(statSync(file).size / 2));
      const r = treeRoot({ prefix: null, inventory: tree.inventory(), refOf: (p) => tree.refOf(p), sources: [src], store: new ContentStore(0, 0) });
      const got = (await r.readFiles(['/etc/z'], 1024)).get('/etc/z');
      expect(got).toBeInstanceOf(Error);
      expect((got as Error).message).toMatch(compression ? /^cannot decompress \(gzip\): / : /audit a copy that nothing writes to\)$/);
    }
  });
});

describe('hostile names stay inside the image root', () => {
  it('`../`, absolute names and names through symlinks land inside the tree; nothing is written on the host', async () => {
    const root = path.join(tmp, 'hostile');
    mkdirSync(path.join(root, 'x'), { recursive: true });
    writeFileSync(path.join(root, 'x', 'passwd'), 'root::0:0::/root:/bin/sh\n');
    writeFileSync(path.join(root, 'up.txt'), 'up\n');
    symlinkSync('/etc', path.join(root, 'evil'));
    symlinkSync('../../..', path.join(root, 'climb'));
    const out = path.join(tmp, 'hostile.tar');
    // GNU tar keeps `../` and `/` prefixes only with -P; --transform renames members after they are read.
    sh('tar', [
      '-P',
      '--format=gnu',
      '-C',
      root,
      '-cf',
      out,
      '--transform=s,^x/passwd$,evil/passwd,',
      '--transform=s,^up.txt$,../../../up.txt,',
      'evil',
      'climb',
      'x/passwd',
      'up.txt',
    ]);
    sh('tar', ['-P', '--format=gnu', '-C', root, '-rf', out, '--transform=s,^x/passwd$,climb/abs/passwd,', 'x/passwd']);
    sh('tar', ['-P', '--format=gnu', '-rf', out, '--transform=s,^.*$,/abs/name.txt,', path.join(root, 'up.txt')]);
    const names = (await readAll(out)).entries.map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining(['evil/passwd', '../../../up.txt', 'climb/abs/passwd', '/abs/name.txt']));
    const { inventory } = await treeOf(out);
    const paths = inventory.entries().map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['/etc/passwd', '/up.txt', '/abs/passwd', '/abs/name.txt', '/evil', '/climb']));
    expect(paths.every((p) => p.startsWith('/') && !p.split('/').includes('..'))).toBe(true);
    expect(inventory.get('/evil/passwd')).toBeUndefined();
  });

  it('a truncated archive and a corrupt header are one-line TargetErrors; the CLI exits 3 without a stack trace', async () => {
    const root = path.join(tmp, 'trunc');
    mkdirSync(path.join(root, 'etc'), { recursive: true });
    writeFileSync(path.join(root, 'etc', 'big'), Buffer.alloc(100_000, 0x41));
    const full = path.join(tmp, 'full.tar');
    sh('tar', ['--format=gnu', '-C', root, '-cf', full, '.']);
    const cut = path.join(tmp, 'cut.tar');
    writeFileSync(cut, readFileSync(full).subarray(0, 50_000));
    await expect(readAll(cut)).rejects.toThrow(TargetError);
    await expect(readAll(cut)).rejects.toThrow(/truncated tar archive/);
    const bad = path.join(tmp, 'bad.tar');
    const b = readFileSync(full);
    b[0] ^= 0x20;
    writeFileSync(bad, b);
    await expect(readAll(bad)).rejects.toThrow(/bad header checksum/);
    const r = hostleak(['scan', cut]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/truncated tar archive/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('what follows the end-of-archive blocks', () => {
  const archiveOf = (name: string, files: Record<string, string>) => {
    const root = path.join(tmp, `${name}-root`);
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
      writeFileSync(path.join(root, f), text);
    }
    const out = path.join(tmp, `${name}.tar`);
    sh('tar', ['--format=gnu', '-C', root, '-cf', out, '.']);
    return out;
  };
  const names = (list: string) => list.split('\n').filter((l) => l !== '').sort();

  it('GNU tar\'s zero padding: read to the end, nothing said', async () => {
    const a = archiveOf('pad', { 'etc/hostname': 'a\n' });
    // GNU tar pads to its 10 KiB record: more than the two zero blocks.
    expect(statSync(a).size).toBe(10240);
    const result = await walkTar(tarSource(await wholeFile(a), null).open(), { onEntry: () => null });
    expect(result.problems).toEqual([]);
    expect(result.bytes).toBe(10240);
  });

  it('a read that fails after the last member fails the walk (the audit is never complete without it)', async () => {
    const a = readFileSync(archiveOf('eio', { 'etc/hostname': 'a\n' }));
    async function* thenEio(): AsyncGenerator<Buffer> {
      yield a.subarray(0, 3 * 512);
      yield a.subarray(3 * 512);
      throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    }
    await expect(walkTar(thenEio(), { onEntry: () => null })).rejects.toThrow(/EIO/);
  });

  it('a second archive appended with cat: tar lists the first alone, and so does this, saying what it left', async () => {
    const a = archiveOf('first', { 'etc/hostname': 'a\n' });
    const b = archiveOf('second', { 'etc/secret.conf': 'github_token = x\n' });
    const both = path.join(tmp, 'both.tar');
    writeFileSync(both, Buffer.concat([readFileSync(a), readFileSync(b)]));
    const listed: string[] = [];
    const result = await walkTar(tarSource(await wholeFile(both), null).open(), { onEntry: (e) => (listed.push(e.name), null) });
    expect(listed.sort()).toEqual(names(sh('tar', ['-tf', both]).toString()));
    expect(names(sh('tar', ['--ignore-zeros', '-tf', both]).toString())).toContain('./etc/secret.conf');
    expect(result.problems).toEqual([
      'data after the end of the archive (byte 10240) is not part of it and was not audited (tar lists it only with --ignore-zeros)',
    ]);
    // The CLI: a partial audit (exit 3), never a clean one.
    sh('gzip', ['-k', '-f', both]);
    const r = hostleak(['scan', '--format', 'json', `${both}.gz`]);
    expect(r.status).toBe(3);
    const t = JSON.parse(r.stdout).targets[0];
    expect(t.status).toBe('partial');
  });

  it(`zeros beyond ${MAX_TRAILER / (1024 * 1024)} MiB after the end are not read to their end, and that is said`, async () => {
    const a = readFileSync(archiveOf('zeros', { 'etc/hostname': 'a\n' }));
    const mib = Buffer.alloc(1024 * 1024);
    async function* padded(): AsyncGenerator<Buffer> {
      yield a;
      for (let i = 0; i <= MAX_TRAILER / mib.length + 1; i++) yield mib;
    }
    const result = await walkTar(padded(), { onEntry: () => null });
    // The end-of-archive blocks begin after the last member's data: the block after the archive's last byte not zero.
    let last = a.length - 1;
    while (a[last] === 0) last--;
    const end = Math.ceil((last + 1) / 512) * 512;
    expect(result.problems).toEqual([`more than ${MAX_TRAILER / (1024 * 1024)} MiB of zeros after the end of the archive (byte ${end}): the rest was not read`]);
    // Read whole when asked (a digest over every byte): nothing to say, every byte passed.
    const whole = await walkTar(padded(), { onEntry: () => null, drain: true });
    expect(whole.problems).toEqual([]);
    expect(whole.bytes).toBe(a.length + (MAX_TRAILER / mib.length + 2) * mib.length);
  });
});

describe('memory', () => {
  it('a 256 MiB member streams through with flat memory (its bytes are never held)', async () => {
    const root = path.join(tmp, 'big');
    mkdirSync(root);
    writeFileSync(path.join(root, 'zeros.bin'), ''); // then grown to 256 MiB of zeros, archived without -S
    truncateSync(path.join(root, 'zeros.bin'), 256 * 1024 * 1024);
    const out = path.join(tmp, 'big.tar.gz');
    execFileSync('sh', ['-c', 'tar --format=gnu -C "$0" -cf - zeros.bin | gzip -1 -c > "$1"', root, out]);
    rmSync(root, { recursive: true, force: true });
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const src = tarSource(await wholeFile(out), 'gzip');
    let seen = 0;
    await walkTar(src.open(), {
      onEntry: (e) => {
        expect(e.size).toBe(256 * 1024 * 1024);
        let n = 0;
        return (chunk) => {
          seen += chunk.length;
          if (n++ % 64 === 0) peak = Math.max(peak, process.memoryUsage().rss);
        };
      },
    });
    expect(seen).toBe(256 * 1024 * 1024);
    expect(peak - before).toBeLessThan(96 * 1024 * 1024);
  });
});
