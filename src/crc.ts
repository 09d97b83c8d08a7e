/**
 * CRC-32 (IEEE 802.3, as zlib, GPT and xz use it) and CRC-64 (ECMA-182, as xz uses it). node:zlib's crc32 is used
 * where node has it (20.15 and later); the table below is the same function for older nodes.
 */
import * as zlib from 'node:zlib';

let table32: Int32Array | null = null;

function crc32Table(): Int32Array {
  if (table32) return table32;
  table32 = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table32[n] = c;
  }
  return table32;
}

const native = (zlib as unknown as { crc32?: (data: Uint8Array) => number }).crc32;

/** CRC-32 of `data`, as an unsigned 32-bit number. */
export function crc32(data: Uint8Array): number {
  if (typeof native === 'function') return native(data) >>> 0;
  const t = crc32Table();
  let c = -1;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

let table64: { lo: Uint32Array; hi: Uint32Array } | null = null;

/** CRC-64/XZ (polynomial 0xC96C5795D7870F42, reflected), as two 32-bit halves. */
function crc64Table(): { lo: Uint32Array; hi: Uint32Array } {
  if (table64) return table64;
  const lo = new Uint32Array(256);
  const hi = new Uint32Array(256);
  const polyLo = 0xd7870f42;
  const polyHi = 0xc96c5795;
  for (let n = 0; n < 256; n++) {
    let l = n;
    let h = 0;
    for (let k = 0; k < 8; k++) {
      const bit = l & 1;
      l = ((l >>> 1) | ((h & 1) << 31)) >>> 0;
      h >>>= 1;
      if (bit) {
        l = (l ^ polyLo) >>> 0;
        h = (h ^ polyHi) >>> 0;
      }
    }
    lo[n] = l;
    hi[n] = h;
  }
  table64 = { lo, hi };
  return table64;
}

/** CRC-64 of `data`, as its 8 bytes little-endian (as xz stores it). */
export function crc64(data: Uint8Array): Buffer {
  const { lo, hi } = crc64Table();
  let l = 0xffffffff;
  let h = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    const x = (l ^ data[i]!) & 0xff;
    l = (((l >>> 8) | ((h & 0xff) << 24)) ^ lo[x]!) >>> 0;
    h = ((h >>> 8) ^ hi[x]!) >>> 0;
  }
  const out = Buffer.alloc(8);
  out.writeUInt32LE(~l >>> 0, 0);
  out.writeUInt32LE(~h >>> 0, 4);
  return out;
}
