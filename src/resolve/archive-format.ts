/** Which stream archive a head starts with: the formats src/resolve/archive.ts reads member by member. */
import { detectBuffer } from '../image/detect.js';
import { isCpioHeader } from './cpio.js';
import { isTarHeader } from './tar.js';

export type ArchiveFormat = 'tar' | 'cpio';

/**
 * The archive format of a (decompressed) head, or null. A disk or filesystem image wins over cpio's old binary
 * format, whose magic is two bytes only.
 */
export function archiveFormat(head: Buffer): ArchiveFormat | null {
  if (isTarHeader(head)) return 'tar';
  if (isCpioHeader(head) && detectBuffer(head)?.kind !== 'image') return 'cpio';
  return null;
}
