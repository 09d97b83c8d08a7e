/** Which stream archive a head starts with: the formats src/resolve/archive.ts reads member by member. */
import { isCpioHeader } from './cpio.js';
import { isTarHeader } from './tar.js';

export type ArchiveFormat = 'tar' | 'cpio';

export function archiveFormat(head: Buffer): ArchiveFormat | null {
  if (isTarHeader(head)) return 'tar';
  if (isCpioHeader(head)) return 'cpio';
  return null;
}
