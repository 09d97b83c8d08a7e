/**
 * xz streams whose blocks run a filter before LZMA2: the branch converters (BCJ: x86, PowerPC, IA-64, ARM, ARM-Thumb,
 * SPARC, ARM64) and Delta. `mksquashfs -comp xz -Xbcj x86` writes them (Arch Linux's and other live ISOs' root
 * squashfs), and so do `xz --x86` and its siblings. The xz decoder hostleak ships (xz-embedded compiled to WebAssembly)
 * decodes LZMA2 only and refuses such a block, so the stream is rewritten here: every block's LZMA2 data goes into a
 * new stream with LZMA2 alone and no check, that stream is decoded, then each block's output goes back through its
 * filters, last first, and is checked against the block's own check (CRC-32, CRC-64 or SHA-256) as xz would.
 *
 * The format: "The .xz File Format" 1.1.0 (Tukaani). A filter converts per block, from the block's start offset
 * (the filter's 4-byte property, default 0). Only a single stream (optionally followed by stream padding) is taken
 * apart; anything that does not add up is a corrupt block, and a filter not listed here (RISC-V, new in xz 5.6) is
 * named as unsupported.
 */
import { crc32, crc64 } from '../crc.js';
import { CorruptImageError, UnsupportedImageError } from '../errors.js';
import { nodeCrypto } from '../lazy.js';

const MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const LZMA2 = 0x21;
const DELTA = 0x03;
/** Check type: its size in bytes (the types xz writes). */
const CHECK_SIZE = new Map([
  [0x00, 0],
  [0x01, 4],
  [0x04, 8],
  [0x0a, 32],
]);

interface Filter {
  id: number;
  props: Buffer;
}

interface Block {
  /** The filters before LZMA2, in the order the encoder applied them. */
  filters: Filter[];
  uncompressed: number;
  check: Buffer;
}

/** How to decode a filtered stream: `stream` through the LZMA2 decoder, then its output through `finish`. */
export interface XzFilterPlan {
  stream: Buffer;
  finish(lzma2Output: Buffer): Buffer;
}

const bad = (why: string): never => {
  throw new CorruptImageError(`corrupt xz block (${why})`);
};

/** An xz variable-length integer at `pos`: [value, next position]. */
function varint(buf: Buffer, pos: number, end: number): [number, number] {
  let value = 0;
  for (let i = 0; i < 9; i++) {
    if (pos >= end) bad('integer cut short');
    const b = buf[pos++]!;
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) {
      if (b === 0 && i > 0) bad('integer not in its shortest form');
      if (!Number.isSafeInteger(value)) bad('integer too large');
      return [value, pos];
    }
  }
  return bad('integer too long');
}

function encodeVarint(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
  return out;
}

const pad4 = (n: number) => (n + 3) & ~3;
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const hex = (id: number) => `0x${id.toString(16).padStart(2, '0')}`;

/**
 * The plan for `input`, a whole xz stream, when its first block runs filters before LZMA2; null when it does not (the
 * decoder takes it as it is). Throws CorruptImageError when the stream's structure does not add up, and
 * UnsupportedImageError for a filter this does not convert.
 */
export function xzFilterPlan(input: Buffer): XzFilterPlan | null {
  // Stream header (12 bytes), then the first block header: its size byte, then flags whose low bits count filters.
  if (input.length < 24 || !input.subarray(0, 6).equals(MAGIC) || input[12] === 0 || (input[13]! & 3) === 0) return null;
  const flags = input.subarray(6, 8);
  if (crc32(flags) !== input.readUInt32LE(8)) bad('stream header checksum');
  const checkType = input[7]!;
  const checkSize = CHECK_SIZE.get(checkType);
  if (flags[0] !== 0 || checkSize === undefined) throw new UnsupportedImageError(`xz check type ${checkType} is not supported`);

  // The footer, after any stream padding (zero bytes in fours), says where the index is.
  let end = input.length;
  while (end >= 4 && input.readUInt32LE(end - 4) === 0) end -= 4;
  if (end < 24 || input.toString('latin1', end - 2, end) !== 'YZ') bad('no stream footer');
  const footer = input.subarray(end - 12, end);
  if (crc32(footer.subarray(4, 10)) !== footer.readUInt32LE(0)) bad('stream footer checksum');
  if (!footer.subarray(8, 10).equals(flags)) bad('stream footer flags differ from the header');
  const indexStart = end - 12 - (footer.readUInt32LE(4) + 1) * 4;
  if (indexStart < 12 || input[indexStart] !== 0) bad('no index');
  const indexEnd = end - 12;
  if (crc32(input.subarray(indexStart, indexEnd - 4)) !== input.readUInt32LE(indexEnd - 4)) bad('index checksum');
  let q = indexStart + 1;
  let count: number;
  [count, q] = varint(input, q, indexEnd - 4);
  const records: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) {
    let unpadded: number;
    let uncompressed: number;
    [unpadded, q] = varint(input, q, indexEnd - 4);
    [uncompressed, q] = varint(input, q, indexEnd - 4);
    records.push([unpadded, uncompressed]);
  }

  // The blocks, each checked against its index record.
  const blocks: Block[] = [];
  const parts: Buffer[] = [Buffer.concat([MAGIC, Buffer.from([0, 0]), u32(crc32(Buffer.from([0, 0])))])];
  const newRecords: number[] = [];
  let p = 12;
  let total = 0;
  for (const [unpadded, uncompressed] of records) {
    if (p >= indexStart) bad('blocks run into the index');
    const size = (input[p]! + 1) * 4;
    if (input[p] === 0 || p + size > indexStart) bad('block header');
    const header = input.subarray(p, p + size);
    if (crc32(header.subarray(0, size - 4)) !== header.readUInt32LE(size - 4)) bad('block header checksum');
    const bflags = header[1]!;
    if (bflags & 0x3c) throw new UnsupportedImageError('xz block header flags are not supported');
    let h = 2;
    let declaredCompressed: number | null = null;
    if (bflags & 0x40) [declaredCompressed, h] = varint(header, h, size - 4);
    if (bflags & 0x80) {
      let declared: number;
      [declared, h] = varint(header, h, size - 4);
      if (declared !== uncompressed) bad('block size differs from the index');
    }
    const filters: Filter[] = [];
    for (let i = 0; i <= (bflags & 3); i++) {
      let id: number;
      let propsSize: number;
      [id, h] = varint(header, h, size - 4);
      [propsSize, h] = varint(header, h, size - 4);
      if (h + propsSize > size - 4) bad('filter properties');
      filters.push({ id, props: header.subarray(h, h + propsSize) });
      h += propsSize;
    }
    for (let i = h; i < size - 4; i++) if (header[i] !== 0) bad('block header padding');
    const last = filters.pop()!;
    if (last.id !== LZMA2 || last.props.length !== 1) throw new UnsupportedImageError(`xz filter chain ending in filter ${hex(last.id)} is not supported`);
    for (const f of filters) checkFilter(f);
    const compressed = unpadded - size - checkSize;
    if (compressed <= 0 || (declaredCompressed !== null && declaredCompressed !== compressed)) bad('block size differs from the index');
    const checkAt = p + pad4(size + compressed);
    if (checkAt + checkSize > indexStart) bad('block cut short');
    // The new block: a 12-byte header naming LZMA2 alone (size byte 2, flags 0, ID 0x21, 1 property byte).
    const nh = Buffer.from([2, 0, LZMA2, 1, last.props[0]!, 0, 0, 0, 0, 0, 0, 0]);
    nh.writeUInt32LE(crc32(nh.subarray(0, 8)), 8);
    parts.push(nh, input.subarray(p + size, p + size + compressed), Buffer.alloc(pad4(compressed) - compressed));
    newRecords.push(...encodeVarint(12 + compressed), ...encodeVarint(uncompressed));
    blocks.push({ filters, uncompressed, check: input.subarray(checkAt, checkAt + checkSize) });
    total += uncompressed;
    if (!Number.isSafeInteger(total)) bad('block sizes too large');
    p = checkAt + checkSize;
  }
  if (p !== indexStart) throw new UnsupportedImageError('an xz file of several streams with filters before LZMA2 is not supported');

  const index = [0, ...encodeVarint(count), ...newRecords];
  while (index.length % 4 !== 0) index.push(0);
  const indexBuf = Buffer.from(index);
  const newFooter = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x59, 0x5a]);
  newFooter.writeUInt32LE((indexBuf.length + 4) / 4 - 1, 4);
  newFooter.writeUInt32LE(crc32(newFooter.subarray(4, 10)), 0);
  parts.push(indexBuf, u32(crc32(indexBuf)), newFooter);

  return {
    stream: Buffer.concat(parts),
    finish(out: Buffer): Buffer {
      if (out.length !== total) bad(`${out.length} bytes decompressed, the index says ${total}`);
      let at = 0;
      for (const b of blocks) {
        const data = out.subarray(at, at + b.uncompressed);
        for (let i = b.filters.length - 1; i >= 0; i--) unfilter(b.filters[i]!, data);
        if (!checkOf(checkType, data).equals(b.check)) bad('check mismatch');
        at += b.uncompressed;
      }
      return out;
    },
  };
}

function checkOf(type: number, data: Buffer): Buffer {
  if (type === 0x01) return u32(crc32(data));
  if (type === 0x04) return crc64(data);
  if (type === 0x0a) return nodeCrypto().createHash('sha256').update(data).digest();
  return Buffer.alloc(0);
}

type Converter = (buf: Uint8Array, start: number) => void;

const CONVERTERS = new Map<number, Converter>([
  [0x04, x86],
  [0x05, powerpc],
  [0x06, ia64],
  [0x07, arm],
  [0x08, armThumb],
  [0x09, sparc],
  [0x0a, arm64],
]);

function checkFilter(f: Filter): void {
  if (f.id === DELTA) {
    if (f.props.length !== 1) bad('delta filter properties');
    return;
  }
  if (!CONVERTERS.has(f.id)) throw new UnsupportedImageError(`xz filter ${hex(f.id)} is not supported`);
  if (f.props.length !== 0 && f.props.length !== 4) bad('branch filter properties');
}

/** Undo one filter over a block's output, in place. */
function unfilter(f: Filter, data: Buffer): void {
  if (f.id === DELTA) {
    const distance = f.props[0]! + 1;
    for (let i = distance; i < data.length; i++) data[i] = (data[i]! + data[i - distance]!) & 0xff;
    return;
  }
  CONVERTERS.get(f.id)!(data, f.props.length === 4 ? f.props.readUInt32LE(0) : 0);
}

// The branch converters, decoding: an absolute address the encoder wrote back to the relative one of the
// instruction. Positions and addresses are 32-bit unsigned, wrapping (`>>> 0`), from `start` at the block's byte 0.

function x86(buf: Uint8Array, start: number): void {
  const allowed = [true, true, true, false, true, false, false, false];
  const bitNumber = [0, 1, 2, 2, 3, 3, 3, 3];
  const msByte = (b: number) => b === 0 || b === 0xff;
  if (buf.length < 5) return;
  let prevMask = 0;
  let prevPos = (start - 5) >>> 0;
  const limit = buf.length - 5;
  let i = 0;
  while (i <= limit) {
    let b = buf[i]!;
    if (b !== 0xe8 && b !== 0xe9) {
      i++;
      continue;
    }
    const offset = (start + i - prevPos) >>> 0;
    prevPos = (start + i) >>> 0;
    if (offset > 5) prevMask = 0;
    else for (let k = 0; k < offset; k++) prevMask = (prevMask & 0x77) << 1;
    b = buf[i + 4]!;
    if (msByte(b) && allowed[(prevMask >>> 1) & 7] && prevMask >>> 1 < 0x10) {
      let src = ((b << 24) | (buf[i + 3]! << 16) | (buf[i + 2]! << 8) | buf[i + 1]!) >>> 0;
      let dest: number;
      for (;;) {
        dest = (src - (start + i + 5)) >>> 0;
        if (prevMask === 0) break;
        const n = bitNumber[prevMask >>> 1]!;
        if (!msByte((dest >>> (24 - n * 8)) & 0xff)) break;
        src = (dest ^ (2 ** (32 - n * 8) - 1)) >>> 0;
      }
      buf[i + 4] = ~(((dest >>> 24) & 1) - 1) & 0xff;
      buf[i + 3] = (dest >>> 16) & 0xff;
      buf[i + 2] = (dest >>> 8) & 0xff;
      buf[i + 1] = dest & 0xff;
      i += 5;
      prevMask = 0;
    } else {
      i++;
      prevMask |= 1;
      if (msByte(b)) prevMask |= 0x10;
    }
  }
}

function powerpc(buf: Uint8Array, start: number): void {
  for (let i = 0; i + 4 <= buf.length; i += 4) {
    if (buf[i]! >>> 2 !== 0x12 || (buf[i + 3]! & 3) !== 1) continue;
    const src = (((buf[i]! & 3) << 24) | (buf[i + 1]! << 16) | (buf[i + 2]! << 8) | (buf[i + 3]! & ~3)) >>> 0;
    const dest = (src - (start + i)) >>> 0;
    buf[i] = 0x48 | ((dest >>> 24) & 3);
    buf[i + 1] = (dest >>> 16) & 0xff;
    buf[i + 2] = (dest >>> 8) & 0xff;
    buf[i + 3] = (buf[i + 3]! & 3) | (dest & 0xff);
  }
}

function ia64(buf: Uint8Array, start: number): void {
  const branch = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 6, 6, 0, 0, 7, 7, 4, 4, 0, 0, 4, 4, 0, 0];
  for (let i = 0; i + 16 <= buf.length; i += 16) {
    const mask = branch[buf[i]! & 0x1f]!;
    for (let slot = 0, bitPos = 5; slot < 3; slot++, bitPos += 41) {
      if (((mask >>> slot) & 1) === 0) continue;
      const bytePos = bitPos >>> 3;
      const bitRes = BigInt(bitPos & 7);
      let instruction = 0n;
      for (let j = 0; j < 6; j++) instruction |= BigInt(buf[i + j + bytePos]!) << BigInt(8 * j);
      let norm = instruction >> bitRes;
      if (((norm >> 37n) & 0xfn) !== 0x5n || ((norm >> 9n) & 0x7n) !== 0n) continue;
      let src = Number((norm >> 13n) & 0xfffffn);
      src |= Number((norm >> 36n) & 1n) << 20;
      src = (src << 4) >>> 0;
      const dest = ((src - (start + i)) >>> 0) >>> 4;
      norm &= ~(0x8fffffn << 13n);
      norm |= BigInt(dest & 0xfffff) << 13n;
      norm |= BigInt(dest & 0x100000) << 16n;
      instruction &= (1n << bitRes) - 1n;
      instruction |= norm << bitRes;
      for (let j = 0; j < 6; j++) buf[i + j + bytePos] = Number((instruction >> BigInt(8 * j)) & 0xffn);
    }
  }
}

function arm(buf: Uint8Array, start: number): void {
  for (let i = 0; i + 4 <= buf.length; i += 4) {
    if (buf[i + 3] !== 0xeb) continue;
    const src = (((buf[i + 2]! << 16) | (buf[i + 1]! << 8) | buf[i]!) << 2) >>> 0;
    const dest = ((src - (start + i + 8)) >>> 0) >>> 2;
    buf[i + 2] = (dest >>> 16) & 0xff;
    buf[i + 1] = (dest >>> 8) & 0xff;
    buf[i] = dest & 0xff;
  }
}

function armThumb(buf: Uint8Array, start: number): void {
  for (let i = 0; i + 4 <= buf.length; i += 2) {
    if ((buf[i + 1]! & 0xf8) !== 0xf0 || (buf[i + 3]! & 0xf8) !== 0xf8) continue;
    const src = ((((buf[i + 1]! & 7) << 19) | (buf[i]! << 11) | ((buf[i + 3]! & 7) << 8) | buf[i + 2]!) << 1) >>> 0;
    const dest = ((src - (start + i + 4)) >>> 0) >>> 1;
    buf[i + 1] = 0xf0 | ((dest >>> 19) & 7);
    buf[i] = (dest >>> 11) & 0xff;
    buf[i + 3] = 0xf8 | ((dest >>> 8) & 7);
    buf[i + 2] = dest & 0xff;
    i += 2;
  }
}

function sparc(buf: Uint8Array, start: number): void {
  for (let i = 0; i + 4 <= buf.length; i += 4) {
    const b0 = buf[i]!;
    const b1 = buf[i + 1]!;
    if (!((b0 === 0x40 && (b1 & 0xc0) === 0) || (b0 === 0x7f && (b1 & 0xc0) === 0xc0))) continue;
    const src = (((b0 << 24) | (b1 << 16) | (buf[i + 2]! << 8) | buf[i + 3]!) << 2) >>> 0;
    let dest = ((src - (start + i)) >>> 0) >>> 2;
    dest = ((((0 - ((dest >>> 22) & 1)) << 22) & 0x3fffffff) | (dest & 0x3fffff) | 0x40000000) >>> 0;
    buf[i] = dest >>> 24;
    buf[i + 1] = (dest >>> 16) & 0xff;
    buf[i + 2] = (dest >>> 8) & 0xff;
    buf[i + 3] = dest & 0xff;
  }
}

function arm64(buf: Uint8Array, start: number): void {
  for (let i = 0; i + 4 <= buf.length; i += 4) {
    const pc = (start + i) >>> 0;
    let instr = (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24)) >>> 0;
    if (instr >>> 26 === 0x25) {
      // BL
      instr = (0x94000000 | ((instr - (pc >>> 2)) & 0x03ffffff)) >>> 0;
    } else if (((instr & 0x9f000000) >>> 0) === 0x90000000) {
      // ADRP, within +-512 MiB
      const src = ((instr >>> 29) & 3) | ((instr >>> 3) & 0x001ffffc);
      if (((src + 0x00020000) & 0x001c0000) !== 0) continue;
      const dest = (src - (pc >>> 12)) >>> 0;
      instr = ((instr & 0x9000001f) | ((dest & 3) << 29) | ((dest & 0x0003fffc) << 3) | ((0 - (dest & 0x00020000)) & 0x00e00000)) >>> 0;
    } else {
      continue;
    }
    buf[i] = instr & 0xff;
    buf[i + 1] = (instr >>> 8) & 0xff;
    buf[i + 2] = (instr >>> 16) & 0xff;
    buf[i + 3] = instr >>> 24;
  }
}
