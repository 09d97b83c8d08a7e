/**
 * cpio archives, read as a stream like tar (src/resolve/tar.ts): an initramfs (NixOS' kexec and netboot initrds, any
 * distribution's /boot/initrd), Yocto's `.cpio.gz` roots, what `cpio -o` and `bsdtar --format newc|odc|bin` write.
 * The formats: "newc" (`070701`, hex fields; `070702` adds a checksum of the data), "odc" (`070707`, octal fields,
 * POSIX.1) and the old binary one (magic 070707 as a 16-bit word, either byte order). Each member becomes the same
 * entry a tar member does, so the archive pipeline (tree, kept contents, hidden members, images inside) is tar's.
 *
 * As the kernel unpacks an initramfs: a member's name then its data; a symlink's target is its data; a newc file of
 * several links carries its data with one of them (cpio and bsdtar write it with the last), and the others are hard
 * links to it. `TRAILER!!!` ends an archive; zero padding and another archive may follow (concatenated initramfs
 * images, as the kernel reads them). Anything else after the trailer is named as not audited.
 */
import { TargetError } from '../errors.js';
import { currentBudget } from '../budget.js';
import type { EntryType } from '../types.js';
import { compressionOf } from '../image/detect.js';
import { isPromise, MAX_TRAILER, Pull, type Sink, type TarEntry, type TarWalkOptions, type TarWalkResult } from './tar.js';

/** Longest member name taken (PATH_MAX is 4096; the kernel's initramfs limit is the same). */
const MAX_NAME = 64 * 1024;
/** Longest symlink target taken. */
const MAX_LINK = 64 * 1024;
const TRAILER = 'TRAILER!!!';
const CPIO_MAGIC = ['070701', '070702', '070707'];

type Format = 'newc' | 'crc' | 'odc' | 'bin-le' | 'bin-be';

/** What an entry waiting for its data holds, roughly, in bytes (the object and its name). */
const waitBytes = (e: TarEntry) => 160 + 2 * e.name.length;

const S_IFMT = 0o170000;
const TYPES = new Map<number, EntryType>([
  [0o140000, 'socket'],
  [0o120000, 'symlink'],
  [0o100000, 'file'],
  [0o060000, 'blockdev'],
  [0o040000, 'dir'],
  [0o020000, 'chardev'],
  [0o010000, 'fifo'],
]);

const digits = (h: Buffer, from: number, to: number, radix: 8 | 16) => {
  for (let i = from; i < to; i++) {
    const c = h[i]!;
    const ok = (c >= 0x30 && c <= 0x37) || (radix === 16 && ((c >= 0x38 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)));
    if (!ok) return false;
  }
  return true;
};

function binFormat(h: Buffer): Format | null {
  if (h.length < 2) return null;
  if (h[0] === 0xc7 && h[1] === 0x71) return 'bin-le';
  if (h[0] === 0x71 && h[1] === 0xc7) return 'bin-be';
  return null;
}

/** Whether `h` starts with a cpio header (any of the formats; the binary one's 2-byte magic also needs a sane name). */
export function isCpioHeader(h: Buffer): boolean {
  const magic = h.toString('latin1', 0, 6);
  if ((magic === CPIO_MAGIC[0] || magic === CPIO_MAGIC[1]) && h.length >= 110) return digits(h, 6, 110, 16);
  if (magic === '070707' && h.length >= 76) return digits(h, 6, 76, 8);
  const bin = binFormat(h);
  if (!bin || h.length < 28) return false;
  const u16 = (o: number) => (bin === 'bin-le' ? h.readUInt16LE(o) : h.readUInt16BE(o));
  const namesize = u16(20);
  return namesize >= 2 && namesize <= 4096 && (h.length < 26 + namesize || h[26 + namesize - 1] === 0);
}

interface Header {
  dev: string;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  size: number;
  namesize: number;
  check: number;
}

const field = (h: Buffer, off: number, len: number, radix: 8 | 16, what: string): number => {
  if (!digits(h, off, off + len, radix)) throw new TargetError(`corrupt cpio header: ${what} is not a number`);
  const v = parseInt(h.toString('latin1', off, off + len), radix);
  if (!Number.isSafeInteger(v)) throw new TargetError(`corrupt cpio header: ${what} too large`);
  return v;
};

async function readHeader(pull: Pull, first: Buffer): Promise<{ format: Format; header: Header; size: number } | null> {
  const bin = binFormat(first);
  if (bin) {
    const rest = await pull.take(24);
    if (!rest) throw new TargetError('truncated cpio archive: a header cut off');
    const h = Buffer.concat([first, rest]);
    const u16 = (o: number) => (bin === 'bin-le' ? h.readUInt16LE(o) : h.readUInt16BE(o));
    const u32 = (o: number) => u16(o) * 0x10000 + u16(o + 2);
    return {
      format: bin,
      size: 26,
      header: { dev: String(u16(2)), ino: u16(4), mode: u16(6), uid: u16(8), gid: u16(10), nlink: u16(12), mtime: u32(16), namesize: u16(20), size: u32(22), check: 0 },
    };
  }
  const more = await pull.take(4);
  if (!more) throw new TargetError('truncated cpio archive: a header cut off');
  const magic = Buffer.concat([first, more]).toString('latin1');
  if (magic === '070701' || magic === '070702') {
    const h = await pull.take(104);
    if (!h) throw new TargetError('truncated cpio archive: a header cut off');
    const x = (i: number, what: string) => field(h, i * 8, 8, 16, what);
    return {
      format: magic === '070701' ? 'newc' : 'crc',
      size: 110,
      header: {
        ino: x(0, 'inode'),
        mode: x(1, 'mode'),
        uid: x(2, 'uid'),
        gid: x(3, 'gid'),
        nlink: x(4, 'link count'),
        mtime: x(5, 'mtime'),
        size: x(6, 'size'),
        dev: `${x(7, 'device')}:${x(8, 'device')}`,
        namesize: x(11, 'name size'),
        check: x(12, 'checksum'),
      },
    };
  }
  if (magic === '070707') {
    const h = await pull.take(70);
    if (!h) throw new TargetError('truncated cpio archive: a header cut off');
    const o = (off: number, len: number, what: string) => field(h, off - 6, len, 8, what);
    return {
      format: 'odc',
      size: 76,
      header: {
        dev: String(o(6, 6, 'device')),
        ino: o(12, 6, 'inode'),
        mode: o(18, 6, 'mode'),
        uid: o(24, 6, 'uid'),
        gid: o(30, 6, 'gid'),
        nlink: o(36, 6, 'link count'),
        mtime: o(48, 11, 'mtime'),
        namesize: o(59, 6, 'name size'),
        size: o(65, 11, 'size'),
        check: 0,
      },
    };
  }
  return null;
}

/** Read every member of a cpio stream (one archive or several in a row). Throws TargetError on damage. */
export async function walkCpio(src: AsyncIterable<Buffer>, opts: TarWalkOptions): Promise<TarWalkResult> {
  const pull = new Pull(src, 'cpio');
  const budget = currentBudget();
  const problems: string[] = [];
  let entries = 0;
  // newc files of several links: the names seen without data, by device and inode, and the name that got the data.
  const waiting = new Map<string, TarEntry[]>();
  const holder = new Map<string, string>();
  let next: TarWalkResult['next'];
  const emit = async (e: TarEntry): Promise<Sink | null> => {
    entries++;
    const given = opts.onEntry(e);
    return isPromise(given) ? await given : given;
  };
  try {
    archive: for (;;) {
      for (;;) {
        if (opts.signal?.aborted) throw new TargetError('cpio archive: stopped at the deadline');
        budget?.check();
        const start = pull.pos;
        const first = await pull.take(2);
        if (!first) {
          problems.push(`the cpio archive ends at byte ${start} without its ${TRAILER} member: it may be cut short`);
          break archive;
        }
        const read = await readHeader(pull, first);
        if (!read) throw new TargetError(`corrupt cpio archive: no cpio header at byte ${start}`);
        const { format, header: h } = read;
        const align = format === 'newc' || format === 'crc' ? 4 : format === 'odc' ? 1 : 2;
        const skipPad = async () => {
          const pad = (align - (pull.pos % align)) % align;
          if (pad > 0 && !(await pull.take(pad))) throw new TargetError('truncated cpio archive: padding cut off');
        };
        if (h.namesize < 1 || h.namesize > MAX_NAME) throw new TargetError(`corrupt cpio header at byte ${start}: a name of ${h.namesize} bytes`);
        const rawName = await pull.take(h.namesize);
        if (!rawName) throw new TargetError('truncated cpio archive: a name cut off');
        const nul = rawName.indexOf(0);
        const name = rawName.toString('utf8', 0, nul < 0 ? rawName.length : nul);
        await skipPad();
        if (name === TRAILER) {
          await pull.pass(h.size, null);
          await skipPad();
          break;
        }
        const type = TYPES.get(h.mode & S_IFMT);
        if (!type) throw new TargetError(`corrupt cpio header at byte ${start}: file type ${(h.mode & S_IFMT).toString(8)} of ${name.slice(0, 200)}`);
        const entry: TarEntry = { name, offset: start, type, mode: h.mode & 0o7777, uid: h.uid, gid: h.gid, mtime: h.mtime, size: 0, extents: [], sparse: false };
        if (type === 'symlink') {
          if (h.size > MAX_LINK) throw new TargetError(`corrupt cpio archive: a link target of ${h.size} bytes`);
          const target = await pull.take(h.size);
          if (!target && h.size > 0) throw new TargetError('truncated cpio archive: a link target cut off');
          entry.linkname = (target ?? Buffer.alloc(0)).toString('utf8');
          await emit(entry);
          await skipPad();
          continue;
        }
        if (type !== 'file') {
          // Devices, fifos, sockets and folders carry no data; skip what a damaged header says they do.
          await emit(entry);
          await pull.pass(h.size, null);
          await skipPad();
          continue;
        }
        const links = (format === 'newc' || format === 'crc') && h.nlink > 1 ? `${h.dev}:${h.ino}` : null;
        if (links !== null && h.size === 0) {
          // A link without the data: a hard link to the name that has it, or waiting for it.
          const to = holder.get(links);
          if (to !== undefined) await emit({ ...entry, type: 'hardlink', linkname: to });
          else {
            const list = waiting.get(links) ?? [];
            if (list.length === 0) waiting.set(links, list);
            // What waits is held here until its data comes: charged to the target's memory like the tree's entries.
            budget?.chargeMemory(waitBytes(entry), 'cpio hard links waiting for their data');
            list.push(entry);
          }
          continue;
        }
        entry.size = h.size;
        if (h.size > 0) entry.extents = [{ logical: 0, stored: pull.pos, length: h.size }];
        const sink = await emit(entry);
        let sum = 0;
        const each =
          format === 'crc'
            ? (piece: Buffer, at: number) => {
                for (let i = 0; i < piece.length; i++) sum = (sum + piece[i]!) >>> 0;
                return sink?.(piece, at - entry.extents[0]!.stored);
              }
            : sink
              ? (piece: Buffer, at: number) => sink(piece, at - entry.extents[0]!.stored)
              : null;
        await pull.pass(h.size, each);
        if (format === 'crc' && sum !== h.check) throw new TargetError(`corrupt cpio archive: the checksum of ${name.slice(0, 200)} does not match its data`);
        await skipPad();
        if (links !== null) {
          holder.set(links, name);
          const list = waiting.get(links) ?? [];
          waiting.delete(links);
          for (const w of list) budget?.releaseMemory(waitBytes(w));
          for (const w of list) await emit({ ...w, type: 'hardlink', linkname: name });
        }
      }
      // After a trailer: zeros, then another archive (a concatenated initramfs), or the end.
      const after = await pull.skipZeros(MAX_TRAILER);
      if (after === 'end') break;
      if (after === 'limit') {
        problems.push(`more than ${MAX_TRAILER / (1024 * 1024)} MiB of zeros after the cpio archive (byte ${pull.pos}): the rest was not read`);
        break;
      }
      const peek = await pull.peek(6);
      if (binFormat(peek) || CPIO_MAGIC.includes(peek.toString('latin1', 0, 6))) continue;
      const compressed = compressionOf(await pull.peek(16));
      if (compressed && opts.segments) {
        next = { offset: pull.pos, compression: compressed };
        break;
      }
      problems.push(
        compressed
          ? `a ${compressed}-compressed archive follows the cpio archive at byte ${pull.pos} (an initramfs of several parts): it was not read`
          : `data after the end of the cpio archive (byte ${pull.pos}) is not part of it and was not audited`,
      );
      break;
    }
    // Links whose data never came: empty files, as the kernel leaves them.
    for (const [key, list] of [...waiting]) {
      waiting.delete(key);
      for (const w of list) budget?.releaseMemory(waitBytes(w));
      const [first, ...rest] = list;
      await emit(first!);
      for (const w of rest) await emit({ ...w, type: 'hardlink', linkname: first!.name });
    }
  } finally {
    await pull.close();
    for (const list of waiting.values()) for (const w of list) budget?.releaseMemory(waitBytes(w));
  }
  return { entries, bytes: pull.pos, problems, ...(next ? { next } : {}) };
}
