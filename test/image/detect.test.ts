import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { mkdtempSync, promises as fsp, rmSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { compressionOf, detectBuffer, detectFormat, unrecognised } from '../../src/image/detect.js';
import { prepareImage } from '../../src/image/prepare.js';
import { requireTools } from '../helpers/tools.js';

const SAMPLES = path.resolve('images-sample/out');
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hl-detect-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('detectBuffer', () => {
  const buf = (n: number) => Buffer.alloc(n);
  it('recognises compressions and containers by magic', () => {
    expect(detectBuffer(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0]))).toMatchObject({ kind: 'compressed', compression: 'zstd' });
    expect(detectBuffer(Buffer.from('QFI\xfb\0\0\0\x03', 'latin1'))).toMatchObject({ container: 'qcow2' });
    expect(detectBuffer(Buffer.from('vhdxfile', 'latin1'))).toMatchObject({ container: 'vhdx' });
    const fixedVhdTail = Buffer.concat([Buffer.from('conectix'), buf(504)]);
    expect(detectBuffer(buf(4096), fixedVhdTail)).toMatchObject({ container: 'vpc' });
  });
  it('tells ext2, ext3 and ext4 apart', () => {
    const sb = buf(4096);
    sb.writeUInt16LE(0xef53, 1024 + 0x38);
    expect(detectBuffer(sb)).toMatchObject({ layout: 'ext2' });
    sb.writeUInt32LE(0x4, 1024 + 0x5c);
    expect(detectBuffer(sb)).toMatchObject({ layout: 'ext3' });
    sb.writeUInt32LE(0x40, 1024 + 0x60);
    expect(detectBuffer(sb)).toMatchObject({ layout: 'ext4' });
  });
  it('steps over skippable frames to the frame after them, and names compressors it does not read', () => {
    const skip = (n: number, body = 'x') => Buffer.concat([Buffer.from([0x50 + n, 0x2a, 0x4d, 0x18]), Buffer.from([body.length, 0, 0, 0]), Buffer.from(body)]);
    const zstd = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
    const lz4 = Buffer.from([0x04, 0x22, 0x4d, 0x18]);
    expect(compressionOf(Buffer.concat([skip(0, 'abcd'), skip(15, ''), zstd]))).toBe('zstd');
    expect(compressionOf(Buffer.concat([skip(3, 'abcd'), lz4]))).toBeNull();
    // Frames that run past the head: the zstd tool decides (it skips them, or refuses the stream: exit 3).
    expect(compressionOf(skip(0, 'a'.repeat(200)).subarray(0, 64))).toBe('zstd');
    expect(compressionOf(Buffer.from('P*M\x17\x04\0\0\0abcd', 'latin1'))).toBeNull();
    expect(unrecognised(Buffer.concat([skip(3, 'abcd'), lz4])).message).toMatch(/^lz4-compressed, .*`lz4 -dc FILE > OUT`/);
    expect(unrecognised(Buffer.from('LZIP\x01\x0c\0\0', 'latin1')).message).toMatch(/^lzip-compressed, .*`xz -dc FILE > OUT`/);
    expect(unrecognised(Buffer.from([0x1f, 0x9d, 0x90, 0x2e])).message).toMatch(/^compress \(\.Z\)-compressed, .*`gzip -dc FILE > OUT`/);
    expect(unrecognised(Buffer.from('hello world\n')).message).toMatch(/^unrecognised image format/);
  });
  it('returns null for text', () => {
    expect(detectBuffer(Buffer.from('hello world, not an image\n'.repeat(100)))).toBeNull();
  });
});

requireTools('qemu-img', 'zstd', 'mke2fs', 'sfdisk');
describe('on real files', () => {
  it('detects the sample disk images', async () => {
    expect(await detectFormat(path.join(SAMPLES, 'leaky.raw'))).toMatchObject({ kind: 'image', container: 'raw', layout: 'gpt' });
    expect(await detectFormat(path.join(SAMPLES, 'leaky.qcow2'))).toMatchObject({ container: 'qcow2' });
    expect(await detectFormat(path.join(SAMPLES, 'leaky.raw.zst'))).toMatchObject({ kind: 'compressed', compression: 'zstd' });
  });

  it('decompresses to a temporary sparse file and removes it on cleanup', async () => {
    const p = await prepareImage(path.join(SAMPLES, 'leaky.raw.zst'), { tmpDir: tmp });
    expect(p.layout).toBe('gpt');
    expect(p.compression).toBe('zstd');
    const st = await fsp.stat(p.path);
    expect(st.size).toBe(64 * 1024 * 1024);
    expect(st.blocks * 512).toBeLessThan(st.size / 4);
    const orig = await fsp.readFile(path.join(SAMPLES, 'leaky.raw'));
    expect((await fsp.readFile(p.path)).equals(orig)).toBe(true);
    p.cleanup();
    expect(existsSync(p.path)).toBe(false);
  });

  it('refuses a qcow2 whose backing file is a host path, unless allowed', async () => {
    const q = path.join(tmp, 'overlay.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', '/etc/hostname', '-F', 'raw', q]);
    await expect(prepareImage(q)).rejects.toThrow(/backing file on the host: \/etc\/hostname/);
    const ok = await prepareImage(q, { allowBackingFile: true });
    expect(ok.hostReferences).toEqual([{ kind: 'backing file', path: '/etc/hostname' }]);
  });

  it('reports a truncated GPT disk as truncated', async () => {
    const t = path.join(tmp, 'cut.raw');
    await fsp.copyFile(path.join(SAMPLES, 'leaky.raw'), t);
    await fsp.truncate(t, 20 * 1024 * 1024);
    await expect(prepareImage(t)).rejects.toThrow(/truncated image: partition 2 ends/);
  });

  it('rejects garbage with a one-line reason', async () => {
    const g = path.join(tmp, 'garbage.bin');
    await fsp.writeFile(g, Buffer.from('not an image at all\n'.repeat(5000)));
    await expect(prepareImage(g)).rejects.toThrow(/^unrecognised image format/);
  });
});
