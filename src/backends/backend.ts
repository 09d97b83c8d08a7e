/** What every backend gives the engine: read-only views of an image, each an inventory plus a file reader. */
import type { Deadline } from '../image/deadline.js';
import type { Inventory } from '../inventory.js';
import type { ExpectedRead, FileContent, FilesystemInfo, ImageRoot } from '../types.js';
import type { ByteSource } from './native/source.js';

export type { FileContent, ImageRoot };

export interface OpenedImage {
  backend: string;
  /** The guestfs appliance's acceleration (absent for backends without an appliance). */
  accel?: 'kvm' | 'tcg';
  filesystems: FilesystemInfo[];
  roots: ImageRoot[];
  /** Parts of the image that could not be read; non-empty makes the target `partial`. */
  problems: string[];
  /** A registry image: the digest of the image manifest audited (the report names the target by it too). */
  digest?: string;
  close(): Promise<void>;
}

export interface OpenOptions {
  signal?: AbortSignal;
  /** The target's one deadline (open to report); backends stop at it with a TimeoutError. */
  deadline?: Deadline;
  /** Most real bytes decompression may write to the temp directory (default: see src/image/decompress.ts). */
  maxDecompressedBytes?: number;
  verbose?: (msg: string) => void;
  /**
   * Bytes of a regular file (by its path in the image's tree and its size) the audit's rules are expected to read, 0
   * for none (src/engine/runtime/readplan.ts). A reader that can see each file only once, in a stream (a compressed
   * tar), keeps those bytes as they pass; absent, it keeps the small files.
   */
  expectedRead?: (path: string, size: number) => ExpectedRead | null;
  /** Waits for a free appliance slot (store audits cap them by memory); returns the release function. */
  acquireAppliance?: () => Promise<() => void>;
}

export interface Backend {
  name: string;
  open(target: string, opts: OpenOptions): Promise<OpenedImage>;
}

/**
 * One filesystem of a disk image as a backend read it, before assembly. Paths in `inventory` are relative to the
 * filesystem's own root (`/etc/fstab`), and `readFiles` takes those paths. src/backends/assemble.ts turns a list of
 * these into ImageRoots (one assembled root when a root filesystem is found, else one root per filesystem).
 */
export interface FilesystemView {
  /** libguestfs-style device name: /dev/sda (bare filesystem), /dev/sdaN (partition N; MBR logicals from 5). */
  device: string;
  /** ext2, ext3, ext4, vfat, xfs, btrfs, squashfs, iso9660 ... */
  type: string;
  label: string | null;
  uuid: string | null;
  /** GPT partition name (PARTLABEL), null on MBR or bare filesystems. */
  partlabel: string | null;
  partuuid: string | null;
  inventory: Inventory;
  readFiles(paths: string[], maxBytes: number): Promise<Map<string, FileContent | Error>>;
  /**
   * btrfs: the inventory is the whole filesystem from its top level (subvolume 5, as `mount -o subvolid=5` shows
   * it), each subvolume and snapshot at the directory it is linked at. `subvolumes` names those directories (the top
   * level's is `/`) and `defaultId` the subvolume the kernel mounts without a subvol option. Assembly mounts the parts
   * the image's fstab names (`subvol=`, `subvolid=`, else the default) and audits the rest on its own.
   */
  btrfs?: { subvolumes: Array<{ id: number; path: string }>; defaultId: number };
  /**
   * Native backend only: a regular file of this filesystem (path as in `inventory`) as a random-access byte source,
   * so a filesystem image stored in it (the NixOS ISO's /nix-store.squashfs) can be read with
   * `listNativeFilesystems(source)` without copying it out. Throws a TargetError when the file cannot be mapped.
   */
  openFile?(path: string): ByteSource;
}
