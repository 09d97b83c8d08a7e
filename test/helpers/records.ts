/** Binary records that rules recognise by their header: an ELF core dump and a utmp/wtmp login record. */

/** A 64-byte little-endian ELF64 header of the given type (4 = ET_CORE, 2 = ET_EXEC). */
export function elfHeader(type: number): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2;
  b[5] = 1;
  b[6] = 1;
  b.writeUInt16LE(type, 16);
  return b;
}

/** One 384-byte glibc utmp record: USER_PROCESS (7) of root on pts/0. */
export function loginRecord(): Buffer {
  const b = Buffer.alloc(384);
  b.writeInt32LE(7, 0);
  b.write('pts/0', 8);
  b.write('root', 44);
  return b;
}
