/**
 * A tar archive target (plain or gzip/xz/zstd/bzip2): one streaming pass lists every member and decides what the
 * archive holds:
 *   - a container image (docker-archive: manifest.json; OCI layout: oci-layout + index.json) -> container.ts;
 *   - a root tree (lxc/kexec rootfs tarballs) -> audited from the headers (owners, modes, times, link targets, hard
 *     links), file contents kept in memory when small or read again by offset / by one more pass;
 *   - disk images (Google Compute's disk.raw, an OVA's VMDK) -> each copied to a sparse temporary file during the
 *     same pass (only its non-zero blocks; free space checked first) and audited like an image file.
 * Anything else is exit 3 with the reason. Reading a tar never needs the appliance (images inside it might).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { TargetError } from '../errors.js';
import { pathComponents, plainDepth } from '../inventory.js';
import { isZero } from '../arrays.js';
import type { OpenedImage, OpenOptions } from '../backends/backend.js';
import { defaultWriteLimit, tempDir } from '../image/tmp.js';
import { currentBudget } from '../budget.js';
import { decompressToTemp } from '../image/decompress.js';
import { detectBuffer } from '../image/detect.js';
import { openContainer, tarBlobs } from './container.js';
import { combineImages, describeReads, hiddenRoots, keepBudget, KEEP_PER_FILE, listingSinks, treeRoot } from './opened.js';
import { containerLayout, looksLikeRootTree, type LayoutKind } from './shape.js';
import { sniffRange, tarSource, wholeFile, type FileRange, type TarSource } from './stream.js';
import { HeadJudge } from './nested.js';
import { teeSinks, walkTar, type Sink, type TarEntry, type TarWalkResult } from './tar.js';
import { walkCpio } from './cpio.js';
import { archiveFormat, type ArchiveFormat } from './archive-format.js';
import { ContentStore, TreeBuilder, type ContentRef } from './tree.js';

/** Bytes of a member looked at to recognise a disk or filesystem image (the btrfs superblock sits at 64 KiB). */
const HEAD = 0x10100;
/** Largest disk image a member may be copied out as (ext4's largest file with 4 KiB blocks). */
export const MAX_COPY_SIZE = 2 ** 44;
/** Members smaller than this are never disk images worth a temp file. */
const MIN_IMAGE = 64 * 1024;

export interface ArchiveOptions extends OpenOptions {
  /** Open an image file (a temp copy of a member) with the image backends. */
  openImage(file: string, label: string): Promise<OpenedImage>;
  /** How many archives this one is a member of (0: the target itself). */
  archiveDepth?: number;
}

/** How deep archives in archives are opened: the initrd (a compressed cpio) of a kexec tarball is one level. */
const MAX_ARCHIVE_DEPTH = 2;

/**
 * A member copied out of an archive: an archive itself (a kexec tarball's initrd, a compressed cpio) is opened as one,
 * anything else with the image backends.
 */
async function openMember(file: string, label: string, opts: ArchiveOptions): Promise<OpenedImage> {
  return (await openArchiveFile(file, label, opts)) ?? opts.openImage(file, label);
}

/**
 * A file copied out of an archive or an image, opened as the archive it is (tar or cpio, compressed or not), or null
 * when it is none (an image: the caller opens it).
 */
export async function openArchiveFile(file: string, label: string, opts: ArchiveOptions): Promise<OpenedImage | null> {
  const { size } = await fsp.stat(file);
  const { head, compression } = await sniffRange({ file, start: 0, length: size }, HEAD);
  const format = archiveFormat(head);
  if (!format) return null;
  const depth = (opts.archiveDepth ?? 0) + 1;
  if (depth > MAX_ARCHIVE_DEPTH) {
    throw new TargetError(`${label}: a ${format} archive inside ${depth} archives is not opened: extract it and audit it as a target of its own`);
  }
  const verbose = opts.verbose && ((m: string) => opts.verbose!(`${label}: ${m}`));
  return openStreamArchive(file, compression, { ...opts, archiveDepth: depth, verbose }, format);
}

/** How deep a member is kept by name for a container image's manifests to find (tarBlobs). */
const MEMBER_DEPTH = 3;

/** Member name as a relative path without `./` (what manifests and hydra products name). */
export function memberKey(name: string): string {
  return pathComponents(name).join('/');
}

/**
 * How many components `memberKey(name)` has (1 for the empty key), counted without making it when the name holds no
 * `..` (a member of a root tree is placed by the tree and needs no key of its own).
 */
function memberDepth(name: string): number {
  const n = plainDepth(name);
  return n < 0 ? memberKey(name).split('/').length : Math.max(n, 1);
}

/**
 * Catches members that turn out to be disk images: keeps the first HEAD bytes, then, when they look like an image,
 * writes the member to a sparse temporary file (all-zero chunks are skipped, the file is truncated to the real size).
 */
class ImageCatcher {
  private head: Buffer;
  private decided = false;
  private fh: fsp.FileHandle | null = null;
  file: string | null = null;
  isImage = false;
  private readonly budget = currentBudget();
  constructor(
    readonly entry: TarEntry,
    private readonly tmp: () => string,
    private readonly maxWrite: number | undefined,
  ) {
    this.head = Buffer.alloc(Math.min(entry.size, HEAD));
  }

  private async decide(): Promise<void> {
    this.decided = true;
    this.isImage = detectBuffer(this.head) !== null;
    if (!this.isImage) return;
    if (this.entry.size > MAX_COPY_SIZE) {
      throw new TargetError(
        `${this.entry.name.slice(0, 200)}: a disk image of ${this.entry.size} bytes is larger than the ${MAX_COPY_SIZE / 2 ** 40} TiB a temporary copy may be`,
      );
    }
    const dir = this.tmp();
    // Only the member's data blocks are written: its stored bytes bound the temp space it takes. Every member and
    // copy-out of the target shares one write cap (its budget).
    const stored = this.entry.extents.reduce((n, e) => n + e.length, 0);
    const limit = this.budget ? this.budget.remainingWrite() : (this.maxWrite ?? defaultWriteLimit(dir));
    if (stored > limit) {
      throw new TargetError(
        `${this.entry.name.slice(0, 200)}: ${stored} bytes to copy out pass the ${limit} bytes left of the limit on the temp directory (--max-decompressed, HOSTLEAK_TMPDIR)`,
      );
    }
    this.file = path.join(dir, `member-${Math.random().toString(36).slice(2)}.img`);
    this.fh = await fsp.open(this.file, 'w', 0o600);
    await this.write(this.head, 0);
  }

  private async write(chunk: Buffer, offset: number): Promise<void> {
    if (isZero(chunk)) return;
    this.budget?.chargeWrite(chunk.length);
    let done = 0;
    while (done < chunk.length) {
      const { bytesWritten } = await this.fh!.write(chunk, done, chunk.length - done, offset + done);
      done += bytesWritten;
    }
  }

  readonly sink: Sink = async (chunk, offset) => {
    if (!this.decided) {
      if (offset < this.head.length) chunk.copy(this.head, offset, 0, Math.min(chunk.length, this.head.length - offset));
      if (offset + chunk.length < this.head.length) return;
      await this.decide();
    }
    if (!this.isImage) return;
    const skip = Math.max(0, this.head.length - offset);
    if (skip < chunk.length) await this.write(chunk.subarray(skip), offset + skip);
  };

  /** After the member's data: decide (short or sparse-headed members) and finish the file. */
  async finish(): Promise<void> {
    if (!this.decided) await this.decide();
    if (this.fh) {
      await this.fh.truncate(this.entry.size);
      await this.fh.close();
      this.fh = null;
    }
  }

  async abort(): Promise<void> {
    await this.fh?.close().catch(() => undefined);
    this.fh = null;
  }
}

/**
 * A tar or cpio archive (`format`), compressed or not. Both are read member by member by their walker; what is built
 * from the members (a root tree, the images in it, a container image in a tar) is the same.
 */
export async function openStreamArchive(target: string, compression: TarSource['compression'], opts: ArchiveOptions, format: ArchiveFormat = 'tar'): Promise<OpenedImage> {
  const range = await wholeFile(target);
  const src = tarSource(range, compression);
  const walk = format === 'cpio' ? walkCpio : walkTar;
  const tree = new TreeBuilder(() => format, () => 'the archive');
  const store = new ContentStore(keepBudget(), KEEP_PER_FILE, opts.signal);
  const heads = new HeadJudge<ContentRef>((ref, head) => store.hold(ref, head));
  const members = new Map<string, TarEntry>();
  const catchers: ImageCatcher[] = [];
  let tmp: { dir: string; cleanup: () => void } | null = null;
  const tmpDirOf = () => (tmp ??= tempDir()).dir;
  const started = Date.now();
  // An initramfs may be an uncompressed cpio (early microcode) and then a compressed one, to the end of the file:
  // each of the two parts is a source of its own, its members placed in the one tree (the second over the first).
  const sources = [src];
  let listed: TarWalkResult;
  try {
    // Only the plain first part can end where a compressed one starts: a byte offset inside a decompressed part is
    // no place in the file (a compressed part's own compressed tail is named as not read).
    const walkPart = (part: TarSource, layer: number) => walk(part.open({ signal: opts.signal }), {
      signal: opts.signal,
      segments: format === 'cpio' && layer === 0 && compression === null && !range.sequential,
      onEntry(e) {
        const placed = tree.apply(e, layer, { whiteouts: false });
        if (e.type !== 'file') return null;
        const depth = memberDepth(e.name);
        // What a container image's manifests name (manifest.json, <id>/layer.tar, blobs/sha256/<hex>) is at most three
        // deep; the files of a root tree are not kept a second time (147k entries on the bench tree).
        if (depth <= MEMBER_DEPTH) members.set(memberKey(e.name), e);
        if (!placed) return null;
        const sinks = listingSinks(placed, heads, store, opts.expectedRead);
        // Images sit near the top of an archive (disk.raw, an OVA's vmdk, images/x.qcow2); a deeper member is a
        // file of a root tree and is reported as a nested image by the rules, if ever.
        if (e.size >= MIN_IMAGE && depth <= 2 && catchers.length < 64) {
          const c = new ImageCatcher(e, tmpDirOf, opts.maxDecompressedBytes);
          catchers.push(c);
          sinks.push(c.sink);
        }
        return teeSinks(sinks);
      },
    });
    listed = await walkPart(src, 0);
    if (listed.next) {
      // The compressed rest runs to the end of the file: its decompressor reads all of it, so there is no third part.
      const { offset, compression: next } = listed.next;
      opts.verbose?.(`${format}: a ${next}-compressed part from byte ${offset}`);
      const part = tarSource({ file: range.file, start: range.start + offset, length: range.length - offset }, next);
      sources.push(part);
      const more = await walkPart(part, 1);
      listed = { entries: listed.entries + more.entries, bytes: offset + more.bytes, problems: [...listed.problems, ...more.problems] };
    }
    heads.settle();
    for (const c of catchers) await c.finish();
  } catch (err) {
    for (const c of catchers) await c.abort();
    (tmp as { cleanup: () => void } | null)?.cleanup();
    throw err;
  }
  opts.verbose?.(`${format}: ${listed.entries} members, ${listed.bytes} bytes listed in ${Date.now() - started} ms`);
  const cleanupTmp = () => (tmp as { cleanup: () => void } | null)?.cleanup();

  // A container image is a tar of blobs; a cpio holding one is no format any tool writes.
  const layout = format === 'tar' ? containerLayout((n) => members.has(n)) : null;
  if (layout) {
    cleanupTmp();
    return openContainerArchive(target, range, src, layout, members, opts);
  }

  const { inventory, refOf, hidden } = tree.seal();
  const top = inventory.children('/').filter((n) => inventory.get(`/${n}`)?.type === 'dir' || inventory.get(`/${n}`)?.type === 'symlink');
  if (looksLikeRootTree(top)) {
    cleanupTmp();
    opts.verbose?.(`${format}: a root tree of ${inventory.size} entries`);
    return {
      backend: format,
      filesystems: [{ device: format, type: format, label: null, mountpoint: '/' }],
      // Members a later member of the same name replaced still ship in the archive: the secret rules read them too.
      roots: [treeRoot({ prefix: null, inventory, refOf, sources, store, notAnImage: (r) => heads.notAnImage(r) }), ...hiddenRoots(hidden, () => format, tree.placeOf, sources, store)],
      problems: [...tree.problems, ...listed.problems],
      async close() {
        await store.close();
        opts.verbose?.(`${format}: ${describeReads(store, sources)}`);
      },
    };
  }

  const images = catchers.filter((c) => c.isImage && c.file);
  if (images.length === 0) {
    cleanupTmp();
    throw new TargetError(
      `a ${format} archive that holds no root tree (no etc/, usr/, nix/ ... at its top), no disk image${format === 'tar' ? ' and no container image' : ''} (${listed.entries} members${
        listed.problems.length > 0 ? `; ${listed.problems[0]}` : ''
      })`,
    );
  }
  const parts: Array<{ label: string; image: OpenedImage }> = [];
  try {
    for (const c of images) {
      const label = memberKey(c.entry.name);
      opts.verbose?.(`${format}: auditing member ${label} (${c.entry.size} bytes${c.entry.sparse ? ', sparse' : ''})`);
      parts.push({ label, image: await openMember(c.file!, label, opts) });
    }
  } catch (err) {
    for (const p of parts) await p.image.close().catch(() => undefined);
    cleanupTmp();
    throw err;
  }
  const combined = combineImages(parts, parts.length === 1 ? `${format}>${parts[0]!.image.backend}` : undefined);
  const close = combined.close.bind(combined);
  return {
    ...combined,
    problems: [...tree.problems, ...listed.problems, ...combined.problems],
    async close() {
      await close();
      cleanupTmp();
    },
  };
}

/** A container image in a tar: random access to its members (decompressing the whole archive first if needed). */
async function openContainerArchive(
  target: string,
  range: FileRange,
  src: TarSource,
  layout: LayoutKind,
  members: Map<string, TarEntry>,
  opts: ArchiveOptions,
): Promise<OpenedImage> {
  if (src.compression === null) return openContainer(tarBlobs(range, members), layout, opts);
  // Compressed as a whole: members need random access, so decompress once to a sparse temporary file.
  const d = await decompressToTemp(target, src.compression, { signal: opts.signal, maxWrite: opts.maxDecompressedBytes });
  try {
    const plain = await wholeFile(d.path);
    const again = new Map<string, TarEntry>();
    await walkTar(tarSource(plain, null).open({ signal: opts.signal }), {
      signal: opts.signal,
      onEntry(e) {
        if (e.type === 'file') again.set(memberKey(e.name), e);
        return null;
      },
    });
    const image = await openContainer(tarBlobs(plain, again), layout, opts);
    return {
      ...image,
      async close() {
        await image.close();
        d.cleanup();
      },
    };
  } catch (err) {
    d.cleanup();
    throw err;
  }
}

