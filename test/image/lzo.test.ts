/**
 * The LZO1X decoder (btrfs lzo extents) on blocks the lzop tool writes, at its fastest level (lzo1x_1) and its best
 * (lzo1x_999, which uses every match form), over text, long runs (extended lengths) and far repeats (the 16 KiB+
 * distance form): each block decodes to the input's bytes. Damaged blocks fail with a CorruptImageError, never more
 * output than asked for.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { decompressSync } from '../../src/image/codecs.js';
import { CorruptImageError } from '../../src/errors.js';
import { requireTool } from '../helpers/tools.js';

requireTool('lzop');

/** The blocks of an lzop file: [decompressed size, compressed bytes] (stored blocks left out). */
function lzopBlocks(file: Buffer): Array<[number, Buffer]> {
  expect(file.subarray(0, 9).toString('latin1')).toBe('\x89LZO\x00\r\n\x1a\n');
  const version = file.readUInt16BE(9);
  let p = 13 + (version >= 0x0940 ? 2 : 0);
  const method = file[p++]!;
  expect([1, 2, 3]).toContain(method); // LZO1X variants
  if (version >= 0x0940) p++;
  const flags = file.readUInt32BE(p);
  p += 4;
  if (flags & 0x800) p += 4;
  p += 8 + (version >= 0x0940 ? 4 : 0);
  p += 1 + file[p]! + 4;
  if (flags & 0x40) p += 4 + file.readUInt32BE(p) + 4;
  const out: Array<[number, Buffer]> = [];
  for (;;) {
    const dst = file.readUInt32BE(p);
    if (dst === 0) break;
    const src = file.readUInt32BE(p + 4);
    p += 8 + (flags & 1 ? 4 : 0) + (flags & 0x100 ? 4 : 0);
    if (src < dst) p += (flags & 2 ? 4 : 0) + (flags & 0x200 ? 4 : 0);
    if (src < dst) out.push([dst, file.subarray(p, p + src)]);
    p += src;
  }
  return out;
}

const text = Buffer.from(Array.from({ length: 30000 }, (_, i) => `line ${i} of a file w${i % 97}-${randomBytes(2).toString('hex')}\n`).join(''));
const far = randomBytes(40000);
const inputs: Array<[string, Buffer]> = [
  ['text', text],
  ['a long run', Buffer.alloc(300000, 'a')],
  ['far repeats', Buffer.concat([far, far, text.subarray(0, 50000), far])],
  ['short', Buffer.from(`${'abc'.repeat(30)} the end\n`)],
];

describe('lzo1x decoding', () => {
  it.each(inputs.flatMap(([name, data]) => ['-1', '-9'].map((level) => [`${name} (lzop ${level})`, level, data] as const)))(
    '%s decodes to the input',
    (_name, level, data) => {
      const blocks = lzopBlocks(execFileSync('lzop', ['-c', level], { input: data, maxBuffer: 1 << 26 }));
      // lzop cuts the input into 256 KiB blocks, each compressed here (none stored as is).
      expect(blocks.length).toBe(Math.ceil(data.length / (256 * 1024)));
      const got = Buffer.concat(blocks.map(([n, b]) => decompressSync('lzo', b, n, true)));
      expect(got.equals(data)).toBe(true);
    },
  );

  it('a cut, damaged or too large block is a CorruptImageError', () => {
    const [[n, b]] = lzopBlocks(execFileSync('lzop', ['-c', '-9'], { input: text }));
    expect(() => decompressSync('lzo', b.subarray(0, b.length >> 1), n)).toThrow(CorruptImageError);
    expect(() => decompressSync('lzo', b, n - 1)).toThrow(/more than \d+ bytes decompressed/);
    expect(() => decompressSync('lzo', b, n + 1, true)).toThrow(CorruptImageError);
    const bad = Buffer.from(b);
    bad[bad.length - 2] = 0xff; // the end marker's distance
    expect(() => decompressSync('lzo', bad, n)).toThrow(CorruptImageError);
    // A back reference before the start of the output.
    expect(() => decompressSync('lzo', Buffer.from([0x12, 0x41, 0x42, 0x7f, 0xff, 0x11, 0, 0]), 100)).toThrow(/look-behind/);
  });
});
