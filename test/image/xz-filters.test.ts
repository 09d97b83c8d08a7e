/**
 * xz blocks with filters before LZMA2, as `xz --x86` and its siblings write them (and `mksquashfs -Xbcj` inside
 * squashfs: test/backends/native/squashfs.test.ts): every branch converter and Delta decode to the bytes xz was
 * given, on machine code (from node's own executable) and on random bytes (which hit every converter's
 * patterns often), with each check type, a start offset, several blocks and two filters in a row. Damage is a
 * corrupt block; a filter chain hostleak cannot convert is named.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { decompressAsync } from '../../src/image/codecs.js';
import { crc32, crc64 } from '../../src/crc.js';
import { CorruptImageError, UnsupportedImageError } from '../../src/errors.js';
import { requireTools } from '../helpers/tools.js';
import { machineCode } from '../helpers/machine-code.js';

requireTools('xz');

let tmp: string;
const inputs: Record<string, Buffer> = {};
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hl-xz-filters-'));
  inputs.code = machineCode(1 << 20);
  inputs.random = randomBytes(200_003);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function xz(input: Buffer, ...args: string[]): Buffer {
  const file = path.join(tmp, 'in');
  writeFileSync(file, input);
  return execFileSync('xz', ['-q', '-c', ...args, file], { maxBuffer: 1 << 26 });
}

describe('xz filters before LZMA2', () => {
  const filters = ['x86', 'powerpc', 'ia64', 'arm', 'armthumb', 'sparc', 'arm64', 'delta=dist=4'];
  it.each(filters.flatMap((f) => [
    [f, 'code'],
    [f, 'random'],
  ]))('--%s on %s bytes decodes to the input', async (filter, what) => {
    const input = inputs[what]!;
    const z = xz(input, '--check=crc64', `--${filter}`, '--lzma2=preset=1');
    // The converter changed what LZMA2 holds: without undoing it the bytes would differ (see the negative below).
    expect((await decompressAsync('xz', z, input.length, true)).equals(input)).toBe(true);
  });

  it.each([
    ['sha256 check, a start offset', ['--check=sha256', '--x86=start=4096']],
    ['crc32 check, several blocks', ['--check=crc32', '--block-size=100000', '--arm']],
    ['no check, two filters', ['--check=none', '--x86', '--delta=dist=2']],
  ])('%s', async (_what, args) => {
    const z = xz(inputs.code!, ...args, '--lzma2=preset=1');
    expect((await decompressAsync('xz', z, inputs.code!.length, true)).equals(inputs.code!)).toBe(true);
  });

  it('damage in the data or the headers is a corrupt block, never other bytes', async () => {
    const z = xz(inputs.code!, '--check=crc64', '--x86', '--lzma2=preset=1');
    const outcomes: string[] = [];
    // The block header, the first byte of the range coder (always 0, which decoders skip), LZMA2 data, the check,
    // the footer.
    for (const at of [13, 30, Math.floor(z.length / 2), z.length - 30, z.length - 8]) {
      const bad = Buffer.from(z);
      bad[at] ^= 0x10;
      const out = await decompressAsync('xz', bad, inputs.code!.length).catch((err: unknown) => err);
      outcomes.push(out instanceof CorruptImageError ? 'corrupt' : out instanceof Buffer && out.equals(inputs.code!) ? 'same' : `other: ${String(out)}`);
    }
    expect(outcomes).toEqual(['corrupt', 'same', 'corrupt', 'corrupt', 'corrupt']);
    await expect(decompressAsync('xz', z.subarray(0, z.length - 40), inputs.code!.length)).rejects.toThrow(CorruptImageError);
    // More than asked for.
    await expect(decompressAsync('xz', z, inputs.code!.length - 1)).rejects.toThrow(CorruptImageError);
  });

  it('a filter it does not convert is named (the RISC-V converter of xz 5.6, ID 0x0b)', async () => {
    const z = Buffer.from(xz(inputs.random!.subarray(0, 5000), '--check=crc32', '--x86', '--lzma2=preset=1'));
    // The first filter's ID is byte 14 (after the size and flags bytes); the header's CRC-32 is written again.
    expect(z[14]).toBe(0x04);
    z[14] = 0x0b;
    const size = (z[12]! + 1) * 4;
    z.writeUInt32LE(crc32(z.subarray(12, 12 + size - 4)), 12 + size - 4);
    await expect(decompressAsync('xz', z, 5000)).rejects.toThrow(new UnsupportedImageError('xz filter 0x0b is not supported'));
  });
});

describe('crc', () => {
  it('CRC-32 and CRC-64 match their check values ("123456789")', () => {
    const nine = Buffer.from('123456789');
    expect(crc32(nine)).toBe(0xcbf43926);
    expect(crc64(nine).readBigUInt64LE(0)).toBe(0x995dc9bbdf1939fan);
  });
});
