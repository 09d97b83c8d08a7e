/**
 * A filesystem image stored as a regular file inside a filesystem is opened without copying it out: the outer
 * filesystem's openFile() maps the file's extents to a byte source, and listNativeFilesystems() reads that source
 * like any image (the NixOS installer ISO's /nix-store.squashfs is the real case).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listNativeFilesystems, openNativeSource } from '../../../src/backends/native/index.js';
import { buildExtTree } from '../../helpers/native-trees.js';
import { requireTool } from '../../helpers/tools.js';

requireTool('mke2fs');

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'native-nested-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('a filesystem image inside an ext4 filesystem', () => {
  it('reads the inner image through the outer file, entry for entry like the inner image itself', async () => {
    const inner = path.join(tmp, 'inner');
    buildExtTree(inner);
    const outer = path.join(tmp, 'outer');
    mkdirSync(outer);
    const innerImg = path.join(outer, 'inner.img');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '1024', '-d', inner, innerImg, '8M']);
    const outerImg = path.join(tmp, 'outer.img');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', outer, outerImg, '32M']);

    const direct = openNativeSource(innerImg);
    const outerSrc = openNativeSource(outerImg);
    try {
      const want = (await listNativeFilesystems(direct)).views[0]!;
      const { views } = await listNativeFilesystems(outerSrc);
      const view = views[0]!;
      const src = view.openFile!('/inner.img');
      expect(src.size).toBe(readFileSync(innerImg).length);
      expect(src.read(0, src.size).equals(readFileSync(innerImg))).toBe(true);
      const got = (await listNativeFilesystems(src)).views[0]!;
      expect(got.inventory.entries()).toEqual(want.inventory.entries());
      const [content] = (await got.readFiles(['/big/data.bin'], 1 << 20)).values();
      expect(content).toEqual((await want.readFiles(['/big/data.bin'], 1 << 20)).get('/big/data.bin'));
      expect(() => view.openFile!('/nope')).toThrow(/no such file/);
    } finally {
      direct.close?.();
      outerSrc.close?.();
    }
  });
});
