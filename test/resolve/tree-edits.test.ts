/**
 * The archive tree's edits: a member that replaces a path (a folder by a file by a folder), hard links that outlive
 * the name they linked to, and layers with thousands of whiteouts in one folder. Checked against what the producers'
 * own tools extract: GNU tar appending members over earlier ones (`tar -r`, extracted with `--recursive-unlink`) and
 * layers umoci writes (`umoci repack`), unpacked by `umoci unpack`.
 */
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { treeRoot } from '../../src/resolve/opened.js';
import { tarSource, wholeFile } from '../../src/resolve/stream.js';
import { walkTar, type TarEntry } from '../../src/resolve/tar.js';
import { ContentStore, TreeBuilder } from '../../src/resolve/tree.js';
import { hostleak, json } from '../helpers/cli.js';
import { FAKE_GITHUB_TOKEN } from '../helpers/fake-secrets.js';
import { requireTool } from '../helpers/tools.js';
import type { Report } from '../../src/types.js';

requireTool('tar', 'umoci');

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-edits-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = (cmd: string, args: string[], cwd = tmp) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** Write `files` (path -> content) below `dir`, making their folders; `''` for a path ending in `/` makes a folder. */
function stage(dir: string, files: Record<string, string>): void {
  for (const [p, c] of Object.entries(files)) {
    if (p.endsWith('/')) mkdirSync(path.join(dir, p), { recursive: true });
    else {
      mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
      writeFileSync(path.join(dir, p), c);
    }
  }
}

/** Every path below `dir` with its type (`/a/b file`), as `find` sees the tree a tool extracted. */
function extracted(dir: string): string[] {
  const kinds: Record<string, string> = { f: 'file', d: 'dir', l: 'symlink' };
  return run('find', ['.', '-mindepth', '1', '-printf', '/%P %y\\n'], dir)
    .trim()
    .split('\n')
    .map((l) => l.replace(/ (\w)$/, (_, k: string) => ` ${kinds[k] ?? k}`))
    .sort();
}

describe('GNU tar: one archive naming the same paths again', () => {
  it('a folder replaced by a file and by a folder again, a hard link outliving its folder: the tree tar extracts', async () => {
    const parts = ['s1', 's2', 's3'].map((s) => path.join(tmp, s));
    stage(parts[0]!, { 'd/x': `TOKEN=${FAKE_GITHUB_TOKEN}\n`, 'a/f': 'linked\n' });
    linkSync(path.join(parts[0]!, 'a/f'), path.join(parts[0]!, 'g'));
    stage(parts[1]!, { d: 'now a file\n', a: 'a file over the folder\n' });
    stage(parts[2]!, { 'd/y': 'a folder again\n' });
    const file = path.join(tmp, 'again.tar');
    run('tar', ['--format=gnu', '-C', parts[0]!, '-cf', file, 'd', 'a', 'g']);
    run('tar', ['--format=gnu', '-C', parts[1]!, '-rf', file, 'd', 'a']);
    run('tar', ['--format=gnu', '-C', parts[2]!, '-rf', file, 'd']);
    const out = path.join(tmp, 'again-out');
    mkdirSync(out);
    run('tar', ['-C', out, '-x', '--recursive-unlink', '-f', file]);

    const src = tarSource(await wholeFile(file), null);
    const tree = new TreeBuilder(() => 'tar');
    await walkTar(src.open(), { onEntry: (e) => (tree.apply(e, 0, { whiteouts: false }), null) });
    const inventory = tree.inventory();
    const want = extracted(out);
    expect([...inventory.walk('/')].map((e) => `${e.path} ${e.type}`).sort()).toEqual(want);
    expect(tree.problems).toEqual([]);
    // Every file's bytes are the ones tar extracted there (the hard link /g reads /a/f's, taken out with /a).
    const files = want.filter((l) => l.endsWith(' file')).map((l) => l.slice(0, -' file'.length));
    const root = treeRoot({ prefix: null, inventory, refOf: (p) => tree.refOf(p), sources: [src], store: new ContentStore(0, 0) });
    const got = await root.readFiles(files, 1024);
    for (const p of files) expect([p, (got.get(p) as { data: Buffer }).data.toString()]).toEqual([p, readFileSync(path.join(out, p), 'utf8')]);
    // Hidden: the file /d/x (its folder replaced by a file) and that file (replaced by a folder); not /a/f, whose
    // bytes /g still shows.
    expect(tree.hidden().map((s) => [s.entry.path, s.why.replace(/\d+/, 'N')])).toEqual([
      ['/d/x', 'replaced by a file of the same name at byte N of tar'],
      ['/d', 'replaced by a directory of the same name at byte N of tar'],
    ]);
  });

  it('members named through a symlink to a folder land in that folder, where tar -x puts them', async () => {
    const root = path.join(tmp, 'through');
    stage(root, { 'd/top': 'top\n', 'd/x/f': 'f\n', 'd/x/y/g': 'g\n' });
    symlinkSync('d', path.join(root, 'l'));
    symlinkSync('d/x', path.join(root, 'rel'));
    const file = path.join(tmp, 'through.tar');
    // `l` is archived (a symlink), so `l/x/...` is a path through it; `rel` is not, so tar -x makes it a folder, and
    // `rel/y/g` is a hard link to `l/x/y/g`.
    run('tar', ['--format=gnu', '-C', root, '-cf', file, 'd/top', 'l', 'l/x', 'rel/y']);
    expect(run('tar', ['-tf', file]).trim().split('\n')).toEqual(['d/top', 'l', 'l/x/', 'l/x/f', 'l/x/y/', 'l/x/y/g', 'rel/y/', 'rel/y/g']);
    const out = path.join(tmp, 'through-out');
    mkdirSync(out);
    run('tar', ['-C', out, '-xf', file]);

    const src = tarSource(await wholeFile(file), null);
    const tree = new TreeBuilder(() => 'tar');
    await walkTar(src.open(), { onEntry: (e) => (tree.apply(e, 0, { whiteouts: false }), null) });
    const inventory = tree.inventory();
    expect([...inventory.walk('/')].map((e) => `${e.path} ${e.type}`).sort()).toEqual(extracted(out));
    expect(tree.problems).toEqual([]);
    expect(tree.refOf('/rel/y/g')).toBe(tree.refOf('/d/x/y/g'));
    expect(tree.hidden()).toEqual([]);
  });

  it('a hard link made before a whiteout deletes its target in the same layer keeps the bytes shown', () => {
    const member = (name: string, type: TarEntry['type'], offset: number, linkname?: string): TarEntry => ({
      name, offset, type, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: type === 'file' ? 4 : 0, sparse: false,
      extents: type === 'file' ? [{ logical: 0, stored: offset + 512, length: 4 }] : [], ...(linkname ? { linkname } : {}),
    });
    const tree = new TreeBuilder(() => 'layer');
    tree.apply(member('etc/f', 'file', 0), 0, { whiteouts: true });
    tree.apply(member('etc/g', 'hardlink', 1024, 'etc/f'), 1, { whiteouts: true });
    tree.apply(member('etc/.wh.f', 'file', 1536), 1, { whiteouts: true });
    const inventory = tree.inventory();
    expect([...inventory.walk('/')].map((e) => e.path)).toEqual(['/etc', '/etc/g']);
    expect(tree.refOf('/etc/g')?.extents[0]?.stored).toBe(512);
    expect(tree.shadowed.map((s) => s.entry.path)).toEqual(['/etc/f']);
    expect(tree.hidden()).toEqual([]);
    // A whiteout of the link too: now nothing shows those bytes, and they are hidden once.
    tree.apply(member('etc/.wh.g', 'file', 2048), 1, { whiteouts: true });
    expect(tree.hidden().map((s) => s.entry.path)).toEqual(['/etc/f']);
    expect(tree.seal().inventory.size).toBe(2);
  });
});

/**
 * A new OCI layout `tmp/<name>` (tag `t`, no layers yet) and the rootfs of its bundle: what is changed there becomes
 * a layer with each `repack()`, as umoci writes it.
 */
function umociImage(name: string): { image: string; rootfs: string; repack: () => void } {
  const umoci = (...args: string[]) => run('umoci', args);
  const image = path.join(tmp, name);
  const bundle = path.join(tmp, `bundle-${name}`);
  umoci('init', '--layout', image);
  umoci('new', '--image', `${image}:t`);
  umoci('unpack', '--rootless', '--image', `${image}:t`, bundle);
  return { image, rootfs: path.join(bundle, 'rootfs'), repack: () => void umoci('repack', '--refresh-bundle', '--image', `${image}:t`, bundle) };
}

/**
 * The final root of the OCI layout `image` (tag `t`) as hostleak's inventory lists it (`/a/b file`), checked equal to
 * the tree `umoci unpack` extracts into `tmp/<into>`.
 */
function finalRootOf(image: string, into: string): string[] {
  const unpacked = path.join(tmp, into);
  run('umoci', ['unpack', '--rootless', '--image', `${image}:t`, unpacked]);
  const inv = hostleak(['inventory', image]);
  expect(inv.status).toBe(0);
  const finalRoot = inv.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { path: string; type: string })
    .filter((e) => e.path.startsWith('/') && e.path !== '/')
    .map((e) => `${e.path} ${e.type}`)
    .sort();
  expect(finalRoot).toEqual(extracted(path.join(unpacked, 'rootfs')));
  return finalRoot;
}

describe('umoci: a layer of thousands of whiteouts in one folder, a file replaced by a folder', () => {
  let image: string;
  let layers: string[];
  beforeAll(() => {
    let rootfs: string;
    let repack: () => void;
    ({ image, rootfs, repack } = umociImage('oci'));
    // 1: /many with 3,000 files (one holds a token), /gone/in/s, a hard-linked pair in /keep.
    const many: Record<string, string> = {};
    for (let i = 1; i <= 3000; i++) many[`many/f${i}`] = i === 1000 ? `TOKEN=${FAKE_GITHUB_TOKEN}\n` : `${i}\n`;
    stage(rootfs, { ...many, 'gone/in/s': 'in a folder deleted later\n', 'keep/a': 'kept\n' });
    linkSync(path.join(rootfs, 'keep/a'), path.join(rootfs, 'keep/b'));
    repack();
    // 2: 2,222 of them deleted (f1*, f2*: a whiteout each), the folder /gone and the link's first name deleted.
    for (let i = 1; i <= 3000; i++) if (/^[12]/.test(String(i))) rmSync(path.join(rootfs, `many/f${i}`));
    rmSync(path.join(rootfs, 'gone'), { recursive: true });
    rmSync(path.join(rootfs, 'keep/a'));
    repack();
    // 3: /swap a file with a token; 4: /swap a folder.
    stage(rootfs, { swap: `TOKEN=${FAKE_GITHUB_TOKEN}\n` });
    repack();
    rmSync(path.join(rootfs, 'swap'));
    stage(rootfs, { 'swap/n': 'a folder now\n' });
    repack();
    const blob = (digest: string) => readFileSync(path.join(image, 'blobs', ...digest.split(':')), 'utf8');
    const index = JSON.parse(readFileSync(path.join(image, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const manifest = JSON.parse(blob(index.manifests[0]!.digest)) as { layers: Array<{ digest: string }> };
    layers = manifest.layers.map((l) => l.digest);
  });

  it('the layers hold the whiteouts umoci wrote: one per deleted file', () => {
    expect(layers).toHaveLength(4);
    const blob = path.join(image, 'blobs', ...layers[1]!.split(':'));
    const names = execFileSync('sh', ['-c', 'gzip -dc "$0" | tar -t', blob], { encoding: 'utf8', maxBuffer: 1 << 26 }).trim().split('\n');
    expect(names.filter((n) => n.startsWith('many/.wh.')).length).toBe(2222);
  });

  it('the final root is the one umoci unpacks; deleted and replaced files are shipped but hidden', () => {
    const finalRoot = finalRootOf(image, 'unpacked');
    expect(finalRoot).toContain('/keep/b file');
    expect(finalRoot).toContain('/swap dir');

    const r = hostleak(['scan', '--format', 'json', image]);
    expect(r.status).toBe(1);
    const t = json<Report>(r).targets[0]!;
    expect(t.status).toBe('ok');
    const hits = t.findings.filter((f) => f.ruleId === 'secret-token').map((f) => [f.path, f.message.replace(/.*\(shipped but hidden: (.*)\)$/, '$1').replace(/byte \d+/g, 'byte N')]);
    expect(hits.sort()).toEqual(
      [
        [`${layers[0]}:/many/f1000`, `member at byte N of layer 1 (${layers[0]}), deleted by a whiteout at byte N of layer 2 (${layers[1]})`],
        [`${layers[2]}:/swap`, `member at byte N of layer 3 (${layers[2]}), replaced by a directory of the same name at byte N of layer 4 (${layers[3]})`],
      ].sort(),
    );
    expect(r.stdout).not.toContain(FAKE_GITHUB_TOKEN);
  });
});

describe('umoci: a folder replaced by a file', () => {
  it('the whiteouts umoci writes below the file delete nothing: the root umoci unpacks, a complete audit', () => {
    const { image, rootfs, repack } = umociImage('oci-folder-to-file');
    stage(rootfs, { 'swap/in': `TOKEN=${FAKE_GITHUB_TOKEN}\n`, 'etc/hostname': 'box\n' });
    repack();
    rmSync(path.join(rootfs, 'swap'), { recursive: true });
    stage(rootfs, { swap: 'a file now\n' });
    repack();
    // What umoci wrote: the file, then a whiteout below it for the file the folder held.
    const index = JSON.parse(readFileSync(path.join(image, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const blob = (digest: string) => path.join(image, 'blobs', ...digest.split(':'));
    const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as { layers: Array<{ digest: string }> };
    const top = manifest.layers[1]!.digest;
    const names = execFileSync('sh', ['-c', 'gzip -dc "$0" | tar -t', blob(top)], { encoding: 'utf8' }).trim().split('\n');
    expect(names).toEqual(expect.arrayContaining(['swap', 'swap/.wh.in']));

    const finalRoot = finalRootOf(image, 'unpacked-folder-to-file');
    expect(finalRoot).toContain('/swap file');

    const r = hostleak(['scan', '--format', 'json', image]);
    const t = json<Report>(r).targets[0]!;
    expect(t.status).toBe('ok');
    // The token the folder held ships in the lower layer, hidden by the file that replaced its folder.
    const hits = t.findings.filter((f) => f.ruleId === 'secret-token').map((f) => f.path);
    expect(hits).toEqual([`${manifest.layers[0]!.digest}:/swap/in`]);
  });
});
