/**
 * Real x86-64 (or whatever this machine runs) machine code for tests of the branch converters (xz's BCJ filters):
 * `bytes` from the middle of the largest executable section of node's own ELF executable.
 */
import { closeSync, openSync, readSync } from 'node:fs';

function readAt(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.alloc(length);
  const n = readSync(fd, buf, 0, length, position);
  return buf.subarray(0, n);
}

export function machineCode(bytes: number): Buffer {
  const fd = openSync(process.execPath, 'r');
  try {
    const eh = readAt(fd, 64, 0);
    if (eh.toString('latin1', 0, 4) !== '\x7fELF' || eh[4] !== 2) throw new Error('node is not a 64-bit ELF executable');
    const shoff = Number(eh.readBigUInt64LE(0x28));
    const shentsize = eh.readUInt16LE(0x3a);
    const shnum = eh.readUInt16LE(0x3c);
    const table = readAt(fd, shentsize * shnum, shoff);
    let best = { offset: 0, size: 0 };
    for (let i = 0; i < shnum; i++) {
      const sh = table.subarray(i * shentsize, (i + 1) * shentsize);
      const executable = (Number(sh.readBigUInt64LE(8)) & 0x4) !== 0;
      const size = Number(sh.readBigUInt64LE(0x20));
      if (executable && sh.readUInt32LE(4) === 1 && size > best.size) best = { offset: Number(sh.readBigUInt64LE(0x18)), size };
    }
    if (best.size < bytes) throw new Error(`node's largest executable section holds ${best.size} bytes, ${bytes} asked`);
    return readAt(fd, bytes, best.offset + Math.floor((best.size - bytes) / 2));
  } finally {
    closeSync(fd);
  }
}
