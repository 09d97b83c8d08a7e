/**
 * Filesystems inside filesystems.
 *
 * - The NixOS installer ISO is assembled as it boots by the native backend (src/backends/native/nixos-iso.ts).
 * - Any other file of an image that is itself a disk or filesystem image, or an initramfs (cpio, compressed or not), is
 *   found by its magic bytes
 *   (nestedImages: image-like names of any size, and every big file outside /nix/store) and audited as its own
 *   root, named `<path of the file>:/...`: mapped in place when the backend can map files (native), else copied out
 *   to a temporary file (up to a size bound); images inside those too, a few levels down. With `--no-nested` the
 *   nested-image rule names each one as not audited (warning).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { assemble } from '../backends/assemble.js';
import type { OpenedImage } from '../backends/backend.js';
import { currentBudget, memoryBudget, TargetBudget } from '../budget.js';
import { oneLine, TargetError } from '../errors.js';
import { inReadOrder, UnreadFiles } from '../engine/runtime/imagefs.js';
import { redactTokens } from '../engine/kit/secrets.js';
import { listNativeFilesystems } from '../backends/native/index.js';
import { detectBuffer, type DetectedFormat } from '../image/detect.js';
import { isCpioHeader } from './cpio.js';
import { decompressHead } from '../image/codecs.js';
import type { Inventory } from '../inventory.js';
import type { Entry, FileContent, ImageRoot, RandomAccess } from '../types.js';
import { tempDir } from '../image/tmp.js';

/** The rule that names nested images that were not audited (rules/nested-image.ts). */
export const NESTED_RULE = 'nested-image';
/** Bytes of a file looked at to recognise an image (the btrfs superblock sits at 64 KiB). */
export const NESTED_HEAD = 0x10100;
/** Names that say "image", compressed or not. */
const IMAGE_NAME = /\.(img|raw|iso|qcow2?|vmdk|vhdx?|vdi|squashfs|sqsh|sfs|erofs|ext[234]|fat|vfat|btrfs|xfs)(\.(gz|xz|zst|bz2))?$/i;
/**
 * Names of initramfs images: /boot/initrd.img-6.1.0-18-amd64, NixOS' <hash>-initrd-linux-6.6-initrd(.efi). Outside
 * /nix/store (the copy the boot loader loads; the store's is the same file).
 */
const INITRD_NAME = /(^|\/)[^/]*(initrd|initramfs)[^/]*$/i;
/** Files at least this big are checked whatever their name (outside /nix/store, where packages keep big blobs). */
const BIG = 32 * 1024;
/** Upper bound on files whose first bytes are read. */
export const MAX_NESTED_CANDIDATES = 4096;
/** Largest nested image copied out to a temporary file when the backend cannot map files in place. */
const MAX_COPY = 512 * 1024 * 1024;

const inStore = (p: string) => p === '/nix/store' || p.startsWith('/nix/store/');

/** A name that makes a file a candidate whatever its size: an image's, or an initramfs' outside the store. */
const namedCandidate = (path: string) => IMAGE_NAME.test(path) || (INITRD_NAME.test(path) && !inStore(path));

/** Whether a regular file of `size` bytes at `path` is one nestedCandidates may choose (its path and size alone). */
export function mayBeNested(path: string, size: number): boolean {
  return size >= 2048 && (namedCandidate(path) || (size >= BIG && !inStore(path)));
}

/**
 * Files that might be images, from the inventory alone (image-like names first, of those `keep` keeps), and how many
 * were left out.
 */
export function nestedCandidates(inv: Inventory, keep?: (e: Entry) => boolean): { files: Entry[]; unchecked: number } {
  const named: Entry[] = [];
  const big: Entry[] = [];
  for (const e of inv.unordered({ types: ['file'], minSize: 2048 })) {
    if (keep && !keep(e)) continue;
    if (namedCandidate(e.path)) named.push(e);
    else if (e.size >= BIG && !inStore(e.path)) big.push(e);
  }
  const byPath = (a: Entry, b: Entry) => (a.path < b.path ? -1 : 1);
  const all = [...named.sort(byPath), ...big.sort(byPath)];
  return { files: all.slice(0, MAX_NESTED_CANDIDATES), unchecked: Math.max(0, all.length - MAX_NESTED_CANDIDATES) };
}

export interface NestedImage {
  entry: Entry;
  /** `ext4 filesystem`, `qcow2 v3`, `xz-compressed` ... */
  description: string;
  /** Raw bytes a native reader can open in place (not a disk container, not compressed). */
  raw: boolean;
}

/** What nestedHead finds: an image, a compressed file (an image or an initramfs inside), or a cpio archive. */
export type NestedFormat = DetectedFormat | { kind: 'archive'; description: string };

/**
 * What image a file at `path` whose first bytes are `head` is, when it is one nestedImages reports (a compressed
 * file only when its name says image or initramfs: .img.zst, initrd.img-6.1, not a .gz log), or a cpio archive (an
 * initramfs, whose contents ship with the image as much as its filesystem's do); null otherwise.
 */
export function nestedHead(path: string, head: Buffer): NestedFormat | null {
  const d = detectBuffer(head);
  if (d?.kind === 'compressed') return IMAGE_NAME.test(path) || INITRD_NAME.test(path) ? d : null;
  if (d) return d;
  return INITRD_NAME.test(path) && isCpioHeader(head) ? { kind: 'archive', description: 'cpio archive' } : null;
}

/**
 * Whether a compressed file that only its initramfs-like name made a candidate may hold a cpio archive: its head
 * decompressed is one, or the head is too short to tell (a first zstd block of incompressible firmware is larger
 * than the head; opening it says what it is). `update-initramfs.8.gz`, a man page, decompresses to text: no.
 */
async function compressedInitramfs(path: string, head: Buffer, d: NestedFormat): Promise<boolean> {
  if (d.kind !== 'compressed' || IMAGE_NAME.test(path)) return true;
  const inner = d.compression === 'bzip2' ? null : await decompressHead(d.compression, head, 512).catch(() => null);
  return inner === null || inner.length < 6 || isCpioHeader(inner);
}

/**
 * Judges the first bytes of the files nestedCandidates may choose as a stream passes them (a tar's listing pass),
 * members one after another: what it finds no image need not be read again (ImageRoot.notAnImage). One scratch
 * buffer, whatever the number of members.
 */
export class HeadJudge<K> {
  private readonly scratch = Buffer.alloc(NESTED_HEAD);
  private cur: { key: K; path: string; len: number } | null = null;
  private readonly none = new Set<K>();

  /** `found(key, head)`: a member whose head may be an image's (a copy of the head, for whoever reads it next). */
  constructor(private readonly found?: (key: K, head: Buffer) => void) {}

  /** The member `key` at `path` of `size` bytes starts: a sink for its bytes when its head is worth judging. */
  sink(key: K, path: string, size: number): ((chunk: Buffer, offset: number) => void) | null {
    this.settle();
    if (!mayBeNested(path, size)) return null;
    const len = Math.min(size, NESTED_HEAD);
    this.scratch.fill(0, 0, len);
    this.cur = { key, path, len };
    return (chunk, offset) => {
      if (offset < len) chunk.copy(this.scratch, offset, 0, Math.min(chunk.length, len - offset));
    };
  }

  /** Judge the last member (call once its bytes have all passed: at the next member, at the end). */
  settle(): void {
    if (!this.cur) return;
    const head = this.scratch.subarray(0, this.cur.len);
    if (!nestedHead(this.cur.path, head)) this.none.add(this.cur.key);
    else this.found?.(this.cur.key, Buffer.from(head));
    this.cur = null;
  }

  notAnImage(key: K): boolean {
    return this.none.has(key);
  }
}

/** Whether a file's first bytes may make it a nested image (the test a content pass can make on the way). */
export function mayBeImage(head: Buffer): boolean {
  return detectBuffer(head) !== null || isCpioHeader(head);
}

/**
 * Which candidates are images, by their first bytes (`read` returns the heads, null when unreadable). A caller that
 * already chose the candidates passes them.
 */
export async function nestedImages(
  inv: Inventory,
  read: (paths: string[]) => Promise<Map<string, Buffer | null>>,
  candidates: { files: Entry[]; unchecked: number } = nestedCandidates(inv),
  order?: (path: string) => number,
): Promise<{ images: NestedImage[]; unchecked: number }> {
  const { unchecked } = candidates;
  // Read in the backend's order (a compressed archive forward), found in the candidates' order.
  const cands = order ? inReadOrder(candidates.files, order) : candidates.files;
  // Filesystems mounted from a file (the ISO's store) are audited already: their device names the file.
  const mounted = [...inv.filesystems()];
  const out: NestedImage[] = [];
  for (let i = 0; i < cands.length; i += 64) {
    const chunk = cands.slice(i, i + 64).filter((e) => !mounted.some((fs) => fs.endsWith(`:${e.path}`)));
    const heads = await read(chunk.map((e) => e.path));
    for (const e of chunk) {
      const head = heads.get(e.path);
      const d = head && nestedHead(e.path, head);
      if (!d || !(await compressedInitramfs(e.path, head, d))) continue;
      out.push({ entry: e, description: d.description, raw: d.kind === 'image' && d.container === 'raw' });
    }
  }
  if (order) {
    const rank = new Map(candidates.files.map((e, i) => [e, i]));
    out.sort((a, b) => rank.get(a.entry)! - rank.get(b.entry)!);
  }
  return { images: out, unchecked };
}

export interface NestedOptions {
  verbose?: (msg: string) => void;
  /** Open an image file with the image backends (for images copied out). */
  openImage(file: string, label: string): Promise<OpenedImage>;
  /** Open a file copied out as the archive it is (an initramfs: src/resolve/archive.ts), null when it is none. */
  openArchive?(file: string, label: string): Promise<OpenedImage | null>;
  /** The target's deadline: no nested image is opened once it fired. */
  signal?: AbortSignal;
  /** Most bytes all nested images of the target may copy out to temporary files (--max-decompressed). */
  maxCopyBytes?: number;
}

/**
 * Heads of files through a root's reader. A head that could not be read is recorded in `unread` (when given): such a
 * file may be an image nobody looked into, so the target cannot be clean.
 */
export function headReader(root: ImageRoot, unread?: UnreadFiles): (paths: string[]) => Promise<Map<string, Buffer | null>> {
  return async (all) => {
    // Files whose heads the backend judged on the way are no images: not read again, not unread.
    const paths = root.notAnImage ? all.filter((p) => !root.notAnImage!(p)) : all;
    const got = paths.length > 0 ? await root.readFiles(paths, NESTED_HEAD) : new Map<string, FileContent | Error>();
    return new Map(paths.map((p) => {
      const r = got.get(p);
      const head = r && !(r instanceof Error) && Buffer.isBuffer(r.data) ? r.data : null;
      if (!head) unread?.add(p, r ? oneLine(r) : 'the backend returned nothing for it');
      return [p, head];
    }));
  };
}

/** How many levels of images inside images are opened (an image inside a nested image is level 2). */
export const MAX_NESTED_DEPTH = 3;

/**
 * Open every image found inside the image's roots as roots of its own, named `<path>:` (and `<prefix>:<path>:` inside
 * a prefixed root), and the images inside those, down to MAX_NESTED_DEPTH levels. Returns the image with those roots
 * added and the labels audited. An image that could not be opened, or that sits deeper, is a problem of the target
 * (it is then `partial`), never silently left out.
 *
 * Budget: the target's own (src/budget.ts): no image is opened once its deadline passed, and every copy-out counts
 * against its one write cap and memory budget, with decompression and the archive members. Outside a target's audit
 * (a library caller), a budget of `maxCopyBytes` for these copy-outs alone.
 */
export async function withNestedRoots(image: OpenedImage, opts: NestedOptions): Promise<{ image: OpenedImage; audited: Set<string> }> {
  const budget = currentBudget() ?? new TargetBudget(undefined, opts.maxCopyBytes ?? Number.POSITIVE_INFINITY, memoryBudget());
  return nestedLevel(image, opts, 1, budget);
}

async function nestedLevel(image: OpenedImage, opts: NestedOptions, level: number, budget: TargetBudget): Promise<{ image: OpenedImage; audited: Set<string> }> {
  const parts: Array<{ label: string; image: OpenedImage }> = [];
  const problems: string[] = [];
  const audited = new Set<string>();
  const cleanups: Array<() => void> = [];
  for (const root of image.roots) {
    if (root.ruleTags) continue;
    const unread = new UnreadFiles();
    const order = root.readOrder && ((p: string) => root.readOrder!(p));
    const { images: found } = await nestedImages(root.inventory, headReader(root, unread), undefined, order);
    const failed = unread.problem(redactTokens, root.prefix ? `${root.prefix}:` : '');
    if (failed) problems.push(`looking for images inside: ${failed}`);
    for (const n of found) {
      budget.check();
      const label = root.prefix ? `${root.prefix}:${n.entry.path}` : n.entry.path;
      if (opts.signal?.aborted) throw opts.signal.reason instanceof Error ? opts.signal.reason : new TargetError('interrupted');
      if (level > MAX_NESTED_DEPTH) {
        problems.push(`${label}: nested ${n.description} not audited: more than ${MAX_NESTED_DEPTH} levels of images inside images`);
        continue;
      }
      let opened: OpenedImage | null = null;
      try {
        // In place when the reader maps the file's bytes; a file it cannot map (one stored compressed) is copied out.
        let src: RandomAccess | null = null;
        if (n.raw && root.openFile) {
          try {
            src = root.openFile(n.entry.path);
          } catch (err) {
            opts.verbose?.(`nested: ${label}: not mapped in place (${(err as Error).message.split('\n')[0]}): copied out`);
          }
        }
        if (src) {
          const listed = await listNativeFilesystems(src);
          const a = await assemble(listed.views);
          opened = {
            backend: 'native',
            filesystems: a.filesystems,
            roots: a.roots,
            problems: [...listed.problems, ...a.problems],
            async close() {
              src!.close?.();
            },
          };
        } else {
          if (n.entry.size > MAX_COPY) throw new TargetError(`${n.description} of ${n.entry.size} bytes is too big to copy out (limit ${MAX_COPY})`);
          // A copy-out is held in memory once and written once: both come out of the target's budget.
          if (n.entry.size > budget.remainingWrite()) {
            throw new TargetError(`${n.entry.size} bytes to copy out pass the ${budget.remainingWrite()} bytes left of the limit on the temp directory (--max-decompressed)`);
          }
          budget.chargeMemory(n.entry.size, `copying out ${label}`);
          let file: string;
          try {
            const got = (await root.readFiles([n.entry.path], n.entry.size)).get(n.entry.path);
            if (!got || got instanceof Error) throw new TargetError(`cannot read it (${got?.message ?? 'not read'})`);
            budget.chargeWrite(got.data.length);
            const tmp = tempDir();
            cleanups.push(tmp.cleanup);
            file = path.join(tmp.dir, 'nested.img');
            await fsp.writeFile(file, got.data, { mode: 0o600 });
          } finally {
            budget.releaseMemory(n.entry.size);
          }
          // An archive (an initramfs) is read as one, anything else with the image backends.
          opened = (await opts.openArchive?.(file, label)) ?? (await opts.openImage(file, label));
        }
        // The images inside this one, one level down: their labels are this image's label plus theirs.
        const inner = await nestedLevel(opened, opts, level + 1, budget);
        opened = inner.image;
        for (const a of inner.audited) audited.add(`${label}:${a}`);
        opts.verbose?.(`nested: ${label} (${n.description}) audited as its own root`);
        parts.push({ label, image: opened });
        audited.add(label);
      } catch (err) {
        await opened?.close().catch(() => undefined);
        if (opts.signal?.aborted) throw opts.signal.reason instanceof Error ? opts.signal.reason : err;
        problems.push(`${label}: nested ${n.description} not audited: ${(err as Error).message.split('\n')[0]}`);
      }
    }
  }
  if (parts.length === 0 && problems.length === 0) return { image, audited };
  // The combining code (and the archive tree under it) loads only for an image that holds images.
  const nested = parts.length > 0 ? (await import('./opened.js')).combineImages(parts, 'nested', true) : null;
  return {
    image: {
      ...image,
      filesystems: [...image.filesystems, ...(nested?.filesystems ?? [])],
      roots: [...image.roots, ...(nested?.roots ?? [])],
      problems: [...image.problems, ...(nested?.problems ?? []), ...problems],
      async close() {
        await nested?.close();
        await image.close();
        for (const c of cleanups) c();
      },
    },
    audited,
  };
}
