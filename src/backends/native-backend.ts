/**
 * The `native` backend: our own readers (qcow2, VHD, VHDX, sparse VMDK, VDI containers; GPT/MBR, LVM2; ext2/3/4,
 * vfat, xfs, btrfs, iso9660, squashfs, erofs) over the image file, no appliance. What the readers do not cover (vmdk
 * descriptor files, btrfs over several devices, thin LVM, ...) is
 * the guestfs backend's.
 */
import { withPreparedImage, type PreparedImage } from '../image/prepare.js';
import { assemble } from './assemble.js';
import { oneLine, TargetError } from '../errors.js';
import { currentReadLog } from '../image/readlog.js';
import type { Backend, OpenedImage, OpenOptions } from './backend.js';
import {
  CheckedSource,
  listNativeFilesystems,
  nativeContainer,
  nativeRefusal,
  openNativeSource,
  sourceProblems,
  WalkBudget,
  type ByteSource,
} from './native/index.js';
import { nixosIsoLayout } from './native/nixos-iso.js';

export interface NativeBackendOptions {
  allowBackingFile?: boolean;
}

/**
 * Why the native readers cannot read every filesystem of an already prepared image (a container they do not open,
 * a filesystem or feature they refuse), or null when they can.
 */
export async function nativeRefusalOf(prepared: PreparedImage): Promise<string | null> {
  if (!nativeContainer(prepared.container)) return `the ${prepared.container} container is not read natively`;
  let source: ByteSource | null = null;
  try {
    source = openNativeSource(prepared.path, prepared.container);
    return await nativeRefusal(source);
  } catch (err) {
    return oneLine(err);
  } finally {
    source?.close?.();
  }
}

/** Open a prepared image natively. The caller keeps ownership of `prepared` until close(). */
export async function openNativePrepared(prepared: PreparedImage, opts: OpenOptions): Promise<OpenedImage> {
  if (!nativeContainer(prepared.container)) {
    throw new TargetError(`${prepared.description}: the native reader does not read this container (try --backend guestfs)`);
  }
  currentReadLog()?.nativeOpened(prepared.path, prepared.compression !== null, prepared.hostReferences.length);
  const file = openNativeSource(prepared.path, prepared.container);
  return openNativeOn(file, opts, () => prepared.cleanup());
}

/**
 * Open natively the disk a byte source presents (an image file's, a remote image's: src/remote/source.ts), already
 * through its container reader. `release` runs at close(); the source is closed by close(), or here when opening fails.
 */
export async function openNativeOn(file: ByteSource, opts: OpenOptions, release: () => void): Promise<OpenedImage> {
  const started = Date.now();
  const deadline = opts.deadline;
  const source = deadline ? new CheckedSource(file, () => deadline.check()) : file;
  try {
    // The deadline by the clock too: the walk may go a long way on cached reads between two reads of the file.
    const budget = new WalkBudget({ check: deadline ? () => deadline.check() : undefined });
    const { views, problems } = await listNativeFilesystems(source, budget);
    const tAssemble = Date.now();
    opts.verbose?.(
      `phase list: ${tAssemble - started} ms (native: ${views.length} filesystem(s), ${views.reduce((n, v) => n + v.inventory.size, 0)} entries)`,
    );
    // The NixOS installer ISO boots with /nix-store.squashfs at /nix/store: audit it that way.
    const iso = await nixosIsoLayout(views, budget).catch((err: unknown) => {
      problems.push(`/nix-store.squashfs: ${(err as Error).message.split('\n')[0]}`);
      return null;
    });
    const a = await assemble(iso ? iso.rest : views);
    opts.verbose?.(`phase assemble: ${Date.now() - tAssemble} ms${iso ? ' (NixOS ISO: /nix-store.squashfs at /nix/store)' : ''}`);
    for (const n of a.notes) opts.verbose?.(`native: ${n}`);
    return {
      backend: 'native',
      filesystems: iso ? [...iso.filesystems, ...a.filesystems] : a.filesystems,
      roots: iso ? [iso.root, ...a.roots] : a.roots,
      problems: [...sourceProblems(file), ...problems, ...(iso?.problems ?? []), ...a.problems],
      async close() {
        source.close?.();
        release();
      },
    };
  } catch (err) {
    source.close?.();
    throw err;
  }
}

export function createNativeBackend(options: NativeBackendOptions = {}): Backend {
  return {
    name: 'native',
    open(target: string, opts: OpenOptions): Promise<OpenedImage> {
      const prep = { allowBackingFile: options.allowBackingFile, signal: opts.signal, verbose: opts.verbose, maxWrite: opts.maxDecompressedBytes };
      return withPreparedImage(target, prep, (prepared) => openNativePrepared(prepared, opts));
    },
  };
}
