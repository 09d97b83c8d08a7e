/**
 * Make a VHDX "not cleanly closed": write one log entry (MS-VHDX 2.3: header + one data descriptor + one data
 * sector) that rewrites the 4 KiB sector at `target`, and point both headers at the log with a higher sequence
 * number. qemu replays such a log when it opens the image for writing.
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { crc32c } from '../../src/backends/native/vhdx.js';

const KiB = 1024;

function readAt(fd: number, at: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  readSync(fd, b, 0, len, at);
  return b;
}

/** File offsets of a VHDX's BAT, metadata region and log, from its current header and first region table. */
export function vhdxLayout(file: string): { bat: number; metadata: number; log: number; firstBlock: number } {
  const fd = openSync(file, 'r');
  try {
    const h1 = readAt(fd, 64 * KiB, 4096);
    const h2 = readAt(fd, 128 * KiB, 4096);
    const cur = h1.readBigUInt64LE(8) >= h2.readBigUInt64LE(8) ? h1 : h2;
    const rt = readAt(fd, 192 * KiB, 64 * KiB);
    const region = (guidHead: string) => {
      for (let i = 0; i < rt.readUInt32LE(8); i++) {
        if (rt.subarray(16 + i * 32, 20 + i * 32).toString('hex') === guidHead) return Number(rt.readBigUInt64LE(16 + i * 32 + 16));
      }
      throw new Error(`region ${guidHead} not found`);
    };
    const bat = region('6677c22d');
    return { bat, metadata: region('06a27c8b'), log: Number(cur.readBigUInt64LE(72)), firstBlock: Number(readAt(fd, bat, 8).readBigUInt64LE(0) & ~0xfffffn) };
  } finally {
    closeSync(fd);
  }
}

/** `logLength` overrides the log length the headers give (0: a log that cannot be read). */
export function writeDirtyLog(file: string, target: number, sector: Buffer, logLength?: number): void {
  if (sector.length !== 4096 || target % 4096 !== 0) throw new Error('one aligned 4 KiB sector');
  const { log } = vhdxLayout(file);
  const fd = openSync(file, 'r+');
  try {
    const h1 = readAt(fd, 64 * KiB, 4096);
    const h2 = readAt(fd, 128 * KiB, 4096);
    const seqNow = h1.readBigUInt64LE(8) >= h2.readBigUInt64LE(8) ? h1.readBigUInt64LE(8) : h2.readBigUInt64LE(8);
    const size = BigInt(fstatSync(fd).size);
    const guid = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const seq = 0x100000001n;
    const entry = Buffer.alloc(8192);
    entry.write('loge', 0);
    entry.writeUInt32LE(8192, 8); // entry length
    entry.writeUInt32LE(0, 12); // tail: this entry
    entry.writeBigUInt64LE(seq, 16);
    entry.writeUInt32LE(1, 24); // one descriptor
    guid.copy(entry, 32);
    entry.writeBigUInt64LE(size, 48); // flushed file offset
    entry.writeBigUInt64LE(size, 56); // last file offset
    const d = 64;
    entry.write('desc', d);
    sector.copy(entry, d + 4, 4092, 4096); // trailing 4 bytes
    sector.copy(entry, d + 8, 0, 8); // leading 8 bytes
    entry.writeBigUInt64LE(BigInt(target), d + 16);
    entry.writeBigUInt64LE(seq, d + 24);
    const data = entry.subarray(4096);
    data.write('data', 0);
    data.writeUInt32LE(Number(seq >> 32n), 4);
    sector.copy(data, 8, 8, 4092);
    data.writeUInt32LE(Number(seq & 0xffffffffn), 4092);
    entry.writeUInt32LE(crc32c(entry), 4);
    writeSync(fd, entry, 0, entry.length, log);
    for (const [at, h, bump] of [[64 * KiB, h1, 1n], [128 * KiB, h2, 2n]] as const) {
      const n = Buffer.from(h);
      n.writeBigUInt64LE(seqNow + bump, 8);
      guid.copy(n, 48);
      if (logLength !== undefined) n.writeUInt32LE(logLength, 68);
      n.writeUInt32LE(0, 4);
      n.writeUInt32LE(crc32c(n), 4);
      writeSync(fd, n, 0, n.length, at);
    }
  } finally {
    closeSync(fd);
  }
}
