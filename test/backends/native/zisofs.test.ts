/**
 * zisofs ISOs as real producers write them (xorriso's --zisofs filter in version 1 and zisofs2 with ZF or Z2
 * entries, bsdtar's iso9660:zisofs), read by the native iso9660 reader: every entry and size as libisofs lists it,
 * every file's bytes as the producer's own extraction gives them (xorriso -osirrox, bsdtar -x) and as the host tree
 * has them, and a token inside a compressed file found (exit 1). A zisofs2 algorithm libisofs does not write is
 * refused by name and an extent outside the image is a failed read: the target is partial (exit 3), never clean.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listNativeFilesystems, openNativeSource } from '../../../src/backends/native/index.js';
import { hostleak, json } from '../../helpers/cli.js';
import { expectHostTree, expectSameEntries } from '../../helpers/fs-compare.js';
import { hostTree, isoinfoNames, xorrisoEntries } from '../../helpers/native-oracle.js';
import { buildExtTree } from '../../helpers/native-trees.js';
import { requireTool } from '../../helpers/tools.js';
import { TOKEN } from '../../helpers/unreadable.js';

requireTool('xorriso', 'bsdtar', 'isoinfo', 'mkfifo');

let tmp: string;
let tree: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'native-zisofs-'));
  tree = path.join(tmp, 'tree');
  buildExtTree(tree);
  // Symlink targets split over several SL entries are not this file's subject (libarchive's writer splits them
  // differently from libisofs): only files are compared here.
  rmSync(path.join(tree, 'links/longer'));
  // Compressible text over several 32 KiB blocks, whole blocks of zeros (zero-length zisofs blocks), and a token
  // in a file large enough to be compressed.
  writeFileSync(path.join(tree, 'big/text'), Array.from({ length: 4000 }, (_, i) => `line ${i}: alpha beta gamma\n`).join(''));
  writeFileSync(path.join(tree, 'big/zeros'), Buffer.concat([Buffer.alloc(100_000), Buffer.from('tail\n')]));
  mkdirSync(path.join(tree, 'root'));
  const pad = Array.from({ length: 300 }, (_, i) => `# padding line ${i} for the compressor\n`).join('');
  writeFileSync(path.join(tree, 'root/.env'), `${pad}GITHUB_TOKEN=${TOKEN}\n`);
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const opened: Array<{ close?(): void }> = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close?.();
});

function xorriso(img: string, zisofs: string[]): void {
  execFileSync('xorriso', [...zisofs, '-outdev', img, '-map', tree, '/', '-set_filter_r', '--zisofs', '/', '--'], { stdio: 'ignore' });
}

/** The producer's own extraction of the ISO (decoding zisofs as it does). */
/**
 * The tree's names are UTF-8 whatever the locale: libarchive takes names in the locale's charset, and without a
 * UTF-8 one (LANG unset) it cannot write the non-ASCII name's Joliet record.
 */
const UTF8 = { ...process.env, LC_ALL: 'C.UTF-8' };

function extracted(img: string, tool: 'xorriso' | 'bsdtar'): string {
  const out = `${img}.x`;
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out);
  if (tool === 'xorriso') execFileSync('xorriso', ['-osirrox', 'on', '-indev', img, '-extract', '/', out], { stdio: 'ignore' });
  else execFileSync('bsdtar', ['-xf', img, '-C', out], { stdio: 'ignore', env: UTF8 });
  return out;
}

const producers: Array<[string, 'xorriso' | 'bsdtar', (img: string) => void]> = [
  ['xorriso --zisofs (version 1, ZF "pz")', 'xorriso', (img) => xorriso(img, [])],
  ['xorriso --zisofs, zisofs2 (ZF "PZ")', 'xorriso', (img) => xorriso(img, ['-zisofs', 'version_2=on'])],
  ['xorriso --zisofs, zisofs2 (Z2 "PZ")', 'xorriso', (img) => xorriso(img, ['-zisofs', 'version_2=on:susp_z2=on'])],
  [
    'bsdtar iso9660:zisofs',
    'bsdtar',
    (img) => execFileSync('bsdtar', ['-cf', img, '--format', 'iso9660', '--options', 'iso9660:zisofs,iso9660:rockridge', '-C', tree, '.'], { env: UTF8 }),
  ],
];

async function view(img: string) {
  const src = openNativeSource(img);
  opened.push(src);
  const { views, problems } = await listNativeFilesystems(src);
  expect(problems).toEqual([]);
  return views[0]!;
}

describe('zisofs ISOs', () => {
  it.each(producers)('%s: entries as libisofs lists them, bytes as the producer extracts them', async (name, tool, make) => {
    const img = path.join(tmp, `${name.replace(/\W+/g, '-')}.iso`);
    make(img);
    // The files really are compressed: their recorded extents are far smaller than their contents.
    const recorded = isoinfoNames(img, false);
    expect(recorded.get('/big/text')!.size).toBeLessThan(20_000);
    expect(recorded.get('/big/zeros')!.size).toBeLessThan(1000);
    const v = await view(img);
    expectSameEntries(v, xorrisoEntries(img));
    expect(v.inventory.get('/big/zeros')!.size).toBe(100_005);
    const out = extracted(img, tool);
    await expectHostTree(v, hostTree(out), out, { mtime: false });
    await expectHostTree(v, hostTree(tree), tree, { mtime: false });
    // Random access across block boundaries (a nested image in a zisofs file is read in place).
    const want = readFileSync(path.join(tree, 'big/text'));
    expect(v.openFile!('/big/text').read(32_000, 70_000).equals(want.subarray(32_000, 102_000))).toBe(true);
  });

  it.each(producers)('%s: a token in a compressed file is found (exit 1)', (name, _tool, make) => {
    const img = path.join(tmp, `${name.replace(/\W+/g, '-')}-scan.iso`);
    make(img);
    const r = hostleak(['scan', '--backend', 'native', '--format', 'json', img]);
    const t = json<{ targets: Array<{ status: string; findings: Array<{ ruleId: string; path: string }> }> }>(r).targets[0]!;
    expect({ exit: r.status, status: t.status }).toEqual({ exit: 1, status: 'ok' });
    expect(t.findings).toContainEqual(expect.objectContaining({ ruleId: 'secret-token', path: '/root/.env' }));
  });

  it('a zisofs2 algorithm libisofs does not write (xz) is refused by name: partial, exit 3', () => {
    const img = path.join(tmp, 'xz.iso');
    xorriso(img, ['-zisofs', 'version_2=on']);
    // Rewrite every ZF entry's algorithm from "PZ" (zlib) to "XZ".
    const buf = readFileSync(img);
    let n = 0;
    for (let at = buf.indexOf('ZF\x10\x02PZ', 0, 'latin1'); at >= 0; at = buf.indexOf('ZF\x10\x02PZ', at + 1, 'latin1')) {
      buf.write('XZ', at + 4, 'latin1');
      n++;
    }
    expect(n).toBeGreaterThan(3);
    writeFileSync(img, buf);
    const r = hostleak(['scan', '--backend', 'native', '--format', 'json', img]);
    const t = json<{ targets: Array<{ status: string; error: string }> }>(r).targets[0]!;
    expect({ exit: r.status, status: t.status }).toEqual({ exit: 3, status: 'partial' });
    expect(t.error).toMatch(/could not read \d+ files: .*\(zisofs2 xz compression is not supported\)/);
  });

  it('a file extent past the end of the image is a failed read: partial, exit 3', () => {
    const img = path.join(tmp, 'past-end.iso');
    execFileSync('xorriso', ['-outdev', img, '-map', tree, '/', '--'], { stdio: 'ignore' });
    // The .env record's extent (both-endian block number) moved past the end of the image.
    const lba = Number(/\[\s*(\d+) 00\]\s+\.env/.exec(execFileSync('isoinfo', ['-R', '-l', '-i', img], { encoding: 'latin1' }))![1]);
    const buf = readFileSync(img);
    const pair = Buffer.alloc(8);
    pair.writeUInt32LE(lba, 0);
    pair.writeUInt32BE(lba, 4);
    const at = buf.indexOf(pair);
    expect(at).toBeGreaterThan(0);
    expect(buf.indexOf(pair, at + 1)).toBe(-1);
    const far = Math.floor(buf.length / 2048) + 1000;
    buf.writeUInt32LE(far, at);
    buf.writeUInt32BE(far, at + 4);
    writeFileSync(img, buf);
    const r = hostleak(['scan', '--backend', 'native', '--format', 'json', img]);
    const t = json<{ targets: Array<{ status: string; error: string }> }>(r).targets[0]!;
    expect({ exit: r.status, status: t.status }).toEqual({ exit: 3, status: 'partial' });
    expect(t.error).toContain('could not read 1 file: /root/.env (');
  });
});
