/**
 * The native iso9660 reader against libisofs (`xorriso -find -exec lsdl`: types, modes, owners, sizes, symlink
 * targets with Rock Ridge) and cdrtools' isoinfo (Joliet and plain names), the host tree it was built from (mtimes,
 * targets, contents) and blkid (label, uuid); the leaky sample as an ISO reports the sample tree's findings.
 */
import { execFileSync } from 'node:child_process';
import { lutimesSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listNativeFilesystems, nativeSupports, openNativeSource } from '../../../src/backends/native/index.js';
import { SAMPLES } from '../../helpers/cli.js';
import { expectHostTree, expectLeakyFindings, expectSameEntries } from '../../helpers/fs-compare.js';
import { hostTree, isoinfoNames, xorrisoEntries } from '../../helpers/native-oracle.js';
import { buildExtTree } from '../../helpers/native-trees.js';
import { requireTool } from '../../helpers/tools.js';

requireTool('xorriso', 'genisoimage', 'isoinfo', 'blkid', 'mkfifo', 'xz');

let tmp: string;
let tree: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'native-iso-'));
  tree = path.join(tmp, 'tree');
  buildExtTree(tree, { manyFiles: 400 });
  // A name longer than Joliet's 64 characters, and distinct mtimes.
  writeFileSync(path.join(tree, 'etc', 'a-very-long-file-name-that-rock-ridge-keeps-whole-but-joliet-would-cut-short.conf'), 'long\n');
  lutimesSync(path.join(tree, 'big/data.bin'), 1600000000, 1600000001);
  lutimesSync(path.join(tree, 'links/long'), 1500000000, 1500000002);
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const opened: Array<{ close?(): void }> = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close?.();
});

/** xorriso always writes Rock Ridge; genisoimage writes Joliet-only and plain ISOs. */
function mkiso(name: string, flags: string[], src = tree, tool: 'xorriso' | 'genisoimage' = 'xorriso'): string {
  const img = path.join(tmp, `${name}.iso`);
  const args = [...flags, '-V', name.toUpperCase(), '-o', img, src];
  if (tool === 'xorriso') execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', ...args], { stdio: 'ignore' });
  // The tree's names are UTF-8 whatever the locale (genisoimage would take them in the locale's charset).
  else execFileSync('genisoimage', ['-quiet', '-input-charset', 'utf-8', ...args], { stdio: 'ignore' });
  return img;
}

async function open(img: string) {
  const src = openNativeSource(img);
  opened.push(src);
  expect(await nativeSupports(src)).toBe(true);
  const { views, problems } = await listNativeFilesystems(src);
  expect(problems).toEqual([]);
  expect(views).toHaveLength(1);
  const b = Object.fromEntries(
    execFileSync('blkid', ['-p', '-o', 'export', img], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const view = views[0]!;
  expect({ type: view.type, label: view.label, uuid: view.uuid }).toEqual({ type: 'iso9660', label: b.LABEL ?? null, uuid: b.UUID ?? null });
  return view;
}

describe('native iso9660 reader', () => {
  it('Rock Ridge (+ Joliet): every entry as libisofs lists it; mtimes, long names, long symlinks and contents as the host tree', async () => {
    const img = mkiso('rr', ['-R', '-J', '-joliet-long']);
    const view = await open(img);
    expectSameEntries(view, xorrisoEntries(img));
    await expectHostTree(view, hostTree(tree), tree);
    expect(view.inventory.get('/links/longer')).toMatchObject({ type: 'symlink', target: '/x'.repeat(150), size: 300 });
    expect(view.inventory.get('/links/relative')).toMatchObject({ target: '../etc/passwd' });
    expect(view.inventory.get('/tmp')).toMatchObject({ mode: 0o1777 });
    expect(view.inventory.get('/home/alice/.bashrc')).toMatchObject({ uid: 100000, gid: 70000, mode: 0o600 });
    // A file as a random-access source (what the NixOS ISO's /nix-store.squashfs needs).
    const src = view.openFile!('/big/data.bin');
    const want = readFileSync(path.join(tree, 'big/data.bin'));
    expect(src.read(1000, 200000).equals(want.subarray(1000, 201000))).toBe(true);
  });

  it('Joliet without Rock Ridge: UCS-2 names as isoinfo -J lists them, r-x for all, owned by root (the kernel default)', async () => {
    const img = mkiso('joliet', ['-J', '-joliet-long'], tree, 'genisoimage');
    const view = await open(img);
    expectSameEntries(view, isoinfoNames(img, true));
    expect(view.inventory.get('/nix/store/päckage-ünïcode')).toMatchObject({ type: 'file', mode: 0o555, uid: 0, gid: 0, size: 1 });
    const c = (await view.readFiles(['/etc/passwd'], 4096)).get('/etc/passwd');
    expect(c).toMatchObject({ data: readFileSync(path.join(tree, 'etc/passwd')) });
  });

  it('plain iso9660: 8.3 names without version, lower-cased like the kernel', async () => {
    const plainTree = path.join(tmp, 'plain');
    execFileSync('mkdir', ['-p', path.join(plainTree, 'DIR')]);
    writeFileSync(path.join(plainTree, 'DIR', 'FILE.TXT'), 'hello\n');
    writeFileSync(path.join(plainTree, 'README'), 'x');
    const img = mkiso('plain', [], plainTree, 'genisoimage');
    const view = await open(img);
    expectSameEntries(view, isoinfoNames(img, false));
    expect(view.inventory.get('/dir/file.txt')).toMatchObject({ type: 'file', size: 6 });
  });

  it('a multi-extent file (records with the "not final" flag, same name) is one file of all its extents', async () => {
    // genisoimage splits only files over 4 GiB; two adjacent files are made one by setting the first record's
    // multi-extent flag and giving the second its name, which is exactly what a split file's records look like.
    const t = path.join(tmp, 'multi');
    execFileSync('mkdir', ['-p', t]);
    writeFileSync(path.join(t, 'A'), Buffer.alloc(2048, 0x61));
    writeFileSync(path.join(t, 'B'), Buffer.alloc(1000, 0x62));
    const img = mkiso('multi', [], t, 'genisoimage');
    const buf = readFileSync(img);
    const a = buf.indexOf('A.;1');
    const b = buf.indexOf('B.;1');
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(a);
    buf[a - 33 + 25] |= 0x80;
    buf.write('A', b, 'latin1');
    writeFileSync(img, buf);
    // isoinfo lists the two records under one name.
    expect(execFileSync('isoinfo', ['-l', '-i', img], { encoding: 'latin1' }).match(/ A\.;1/g)).toHaveLength(2);
    const view = await open(img);
    expect(view.inventory.entries().map((e) => [e.path, e.size])).toEqual([
      ['/', 2048],
      ['/a', 3048],
    ]);
    const c = (await view.readFiles(['/a'], 1 << 20)).get('/a');
    expect(c).toMatchObject({ size: 3048, truncated: false, data: Buffer.concat([Buffer.alloc(2048, 0x61), Buffer.alloc(1000, 0x62)]) });
    expect(view.openFile!('/a').read(2040, 16).toString('latin1')).toBe('aaaaaaaabbbbbbbb');
  });

  it('the leaky sample as an ISO (Rock Ridge + Joliet) reports the sample tree findings (disko seed included)', () => {
    expectLeakyFindings(path.join(SAMPLES, 'leaky.iso'));
  });

  it('reads the corpus ISOs (genisoimage Rock Ridge + Joliet, plain)', async () => {
    const rrj = path.join(tmp, 'rrj.iso');
    writeFileSync(rrj, execFileSync('xz', ['-dc', path.resolve('test/fixtures/corpus/ul_iso-rr-joliet.img.xz')]));
    expectSameEntries(await open(rrj), xorrisoEntries(rrj));
    const plain = path.resolve('test/fixtures/corpus/dfvfs_iso9660.raw');
    expectSameEntries(await open(plain), isoinfoNames(plain, false));
  });
});
