/**
 * What sends `--backend auto` to libguestfs: nativeRefusal names the filesystem, variant or feature the native
 * readers refuse (an UnsupportedImageError when a reader opens the filesystem, not only an unknown type), and says
 * nothing for what they read. The appliance side (auto reading such an image, saying why) is refusal.e2e.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nativeRefusal, openNativeSource } from '../../../src/backends/native/index.js';
import { SAMPLES } from '../../helpers/cli.js';
import { requireTool } from '../../helpers/tools.js';

requireTool('mke2fs');

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'native-refusal-'));
  mkdirSync(path.join(tmp, 'tree/etc'), { recursive: true });
  writeFileSync(path.join(tmp, 'tree/etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function refusal(img: string): Promise<string | null> {
  const src = openNativeSource(img);
  return nativeRefusal(src).finally(() => src.close?.());
}

function mkfs(name: string, args: string[]): string {
  const img = path.join(tmp, name);
  execFileSync('mke2fs', ['-q', ...args, '-d', path.join(tmp, 'tree'), img, '8M']);
  return img;
}

describe('nativeRefusal', () => {
  it('is null for what the native readers read (bigalloc ext4 included)', async () => {
    expect(await refusal(path.join(SAMPLES, 'leaky.raw'))).toBeNull();
    expect(await refusal(path.join(SAMPLES, 'leaky.erofs'))).toBeNull();
    expect(await refusal(mkfs('bigalloc.img', ['-t', 'ext4', '-O', 'bigalloc']))).toBeNull();
  });

  it('names a variant a reader refuses when it opens the filesystem (squashfs with lzo blocks)', async () => {
    expect(await refusal(path.join(SAMPLES, 'leaky.squashfs-lzo'))).toBe('/dev/sda: squashfs with lzo compression is not supported by the native reader');
  });

  it('names a feature the ext reader refuses in its superblock (ext2 compression)', async () => {
    const img = mkfs('compr.img', ['-t', 'ext2']);
    const buf = readFileSync(img);
    buf.writeUInt32LE(buf.readUInt32LE(1024 + 0x60) | 0x1, 1024 + 0x60);
    writeFileSync(img, buf);
    expect(await refusal(img)).toBe('/dev/sda: ext2 compression is not supported');
  });

  it('names what it does not recognise', async () => {
    const img = path.join(tmp, 'noise.img');
    writeFileSync(img, Buffer.alloc(1 << 20, 0x5a));
    expect(await refusal(img)).toBe('no filesystem found');
  });
});
