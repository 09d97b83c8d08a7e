/**
 * zstd frames as the zstd tool writes them: the declared decompressed size (which lets fzstd size its own buffers,
 * its fast path) is found by walking frame and block headers, and anything that does not declare it, or is damaged,
 * takes the bounded path. Either way a block decodes to the same bytes, never more than asked.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decompressSync, zstdFrames } from '../../src/image/codecs.js';
import { requireTool } from '../helpers/tools.js';

requireTool('zstd');

let tmp: string;
beforeAll(() => (tmp = mkdtempSync(path.join(os.tmpdir(), 'zstd-frames-'))));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `zstd -c FILE` (the size is known and written into the frame) or, with `pipe`, from stdin (it is not). */
function zstd(input: Buffer, ...args: string[]): Buffer {
  if (args.includes('pipe')) return execFileSync('zstd', ['-q', '-c'], { input, maxBuffer: 1 << 26 });
  const file = path.join(tmp, 'in');
  writeFileSync(file, input);
  return execFileSync('zstd', ['-q', '-c', ...args, file], { maxBuffer: 1 << 26 });
}
/** Compressible and not trivially so: text with random words. */
const data = (n: number): Buffer =>
  Buffer.from(Array.from({ length: Math.ceil(n / 16) }, (_, i) => `w${i % 97}-${randomBytes(3).toString('hex')} `).join('').slice(0, n));

describe('zstd frames', () => {
  it('one frame with its content size (what mksquashfs and zstd FILE write)', () => {
    const plain = data(300_000);
    const z = zstd(plain, '--content-size');
    expect(zstdFrames(z)).toEqual({ length: z.length, declared: plain.length });
    expect(decompressSync('zstd', z, plain.length, true).equals(plain)).toBe(true);
    // More than asked is refused on either path.
    expect(() => decompressSync('zstd', z, plain.length - 1)).toThrow(/corrupt zstd block/);
  });

  it('several frames and a skippable frame add up; a checksum is stepped over', () => {
    const a = data(70_000);
    const b = data(5_000);
    const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18]), Buffer.from([4, 0, 0, 0]), Buffer.from('skip')]);
    const z = Buffer.concat([zstd(a, '--content-size', '--check'), skippable, zstd(b, '--content-size', '--no-check')]);
    expect(zstdFrames(z)).toEqual({ length: z.length, declared: a.length + b.length });
    // Padding after the frames (btrfs' whole sectors) is not theirs.
    expect(zstdFrames(Buffer.concat([z, Buffer.alloc(300)]))).toEqual({ length: z.length, declared: a.length + b.length });
    expect(decompressSync('zstd', z, 1 << 20).equals(Buffer.concat([a, b]))).toBe(true);
  });

  it('a frame written from a pipe without its size is decoded on the bounded path', () => {
    const plain = data(200_000);
    const z = zstd(plain, 'pipe');
    expect(zstdFrames(z)).toEqual({ length: z.length, declared: null });
    expect(decompressSync('zstd', z, plain.length, true).equals(plain)).toBe(true);
  });

  it('damaged structure is corrupt: a cut frame, a reserved block type, a foreign magic', () => {
    const z = zstd(data(100_000), '--content-size');
    expect(() => zstdFrames(z.subarray(0, z.length - 10))).toThrow(/frame cut short/);
    expect(() => decompressSync('zstd', z.subarray(0, z.length - 10), 1 << 20)).toThrow(/corrupt zstd block/);
    expect(zstdFrames(Buffer.from('not zstd at all'))).toEqual({ length: 0, declared: 0 });
    expect(() => decompressSync('zstd', Buffer.from('not zstd at all'), 1 << 20)).toThrow(/corrupt zstd block/);
    // The first block header's type bits set to 3 (reserved).
    const headerLen = 4 + 1 + ((z[4]! >> 5) & 1 ? 0 : 1) + [0, 1, 2, 4][z[4]! & 3]! + [(z[4]! >> 5) & 1, 2, 4, 8][z[4]! >> 6]!;
    const reserved = Buffer.from(z);
    reserved[headerLen] = reserved[headerLen]! | 0b110;
    expect(() => zstdFrames(reserved)).toThrow(/reserved block type/);
    expect(() => decompressSync('zstd', reserved, 1 << 20)).toThrow(/corrupt zstd block/);
  });
});
