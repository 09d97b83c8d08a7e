/** A partition found in a partition table, with the libguestfs-style device name every backend uses. */
export interface Partition {
  /** 1-based partition number (GPT entry index + 1; MBR primaries 1-4, logicals from 5). */
  number: number;
  device: string;
  /** Byte offset and size inside the disk. */
  start: number;
  size: number;
  /** GPT partition name (PARTLABEL); null on MBR. */
  partlabel: string | null;
  /** As blkid prints PARTUUID: lowercase GUID on GPT, `<disk signature>-<NN>` on MBR. */
  partuuid: string | null;
  /** GPT type GUID (lowercase) or MBR type byte as two hex digits. */
  partType: string;
}

export const WHOLE_DISK = '/dev/sda';

export function partitionDevice(n: number): string {
  return `${WHOLE_DISK}${n}`;
}
