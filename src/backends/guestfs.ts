/**
 * The `guestfs` backend: ONE read-only libguestfs appliance per image, driven through `guestfish --ro`.
 *
 * - The detected format is always passed explicitly (`add-drive IMG readonly:true format:F`); images naming host
 *   backing files were refused before we get here (src/image/prepare.ts).
 * - Partitions are probed one at a time (vfs-type, vfs-label, vfs-uuid, part-get-name, part-get-gpt-guid), so one
 *   broken partition makes the target `partial`, not failed.
 * - Inventory route: `find0` into a host file (names), then `lstatnslist` per directory in batches of names under
 *   guestfish's line limit (type, mode, uid, gid, size, mtime), then `readlinklist` per directory for symlinks.
 *   All commands are pipelined into guestfish's stdin without waiting on each other.
 * - File reads for rules: `pread` per file (chunks of 1 MiB), the whole batch pipelined in one write. Not `tar-out`
 *   of the directories that hold the files: measured under TCG on a real Debian disk (bench/guestfs-debian.mjs), one
 *   `tar-out DIR` takes about as long as or longer than the pipelined `pread`s of the same files from a cold cache
 *   (1.0x to 3.0x; it reads whole files), since the cost is the appliance's own work per file (0.8 to 1.3 ms
 *   whatever carries the file: `pread`, `tar-out`, `checksums-out`) and per byte, not the round trips: the pipeline
 *   keeps the appliance busy. `--verbose` counts what the reads cost.
 * - Acceleration: `auto` tries KVM and, if qemu fails, retries once with TCG (LIBGUESTFS_BACKEND_SETTINGS=force_tcg).
 * - A per-image timeout kills the appliance's process group.
 * By job: guestfish.ts drives the process, guestfs-parse.ts reads its output, guestfs-launch.ts starts the appliance
 * (with the KVM -> TCG fallback), guestfs-image.ts probes, lists and reads one image in it; this file is the backend.
 */
import type { Accel } from '../types.js';
import { withPreparedImage, type PreparedImage } from '../image/prepare.js';
import { DEFAULT_TIMEOUT_S } from '../image/deadline.js';
import { assemble } from './assemble.js';
import { oneLine, TargetError } from '../errors.js';
import type { Backend, FilesystemView, OpenedImage, OpenOptions } from './backend.js';
import { Guestfish, GuestfsCommandError } from './guestfish.js';
import { GuestfsImage } from './guestfs-image.js';
import { launch } from './guestfs-launch.js';

export { ACCEL_CHOICES, type Accel } from '../types.js';
export { DEFAULT_TIMEOUT_S };

export interface GuestfsBackendOptions {
  accel?: Accel;
  /** Per-image timeout in seconds. */
  timeoutS?: number;
  allowBackingFile?: boolean;
  /**
   * The environment the CLI was given (its `io.env`): libguestfs settings, HOSTLEAK_TMPDIR,
   * HOSTLEAK_KVM_LAUNCH_TIMEOUT_MS. Library callers that pass none get this process's.
   */
  env?: NodeJS.ProcessEnv;
}

/**
 * Open an already prepared image through one appliance. The caller keeps ownership of `img` until close() (which
 * cleans it up). `opts.acquireAppliance` caps how many appliances run at once.
 */
export async function openGuestfsPrepared(
  img: PreparedImage,
  target: string,
  options: GuestfsBackendOptions,
  opts: OpenOptions,
): Promise<OpenedImage> {
  const verbose = opts.verbose;
  const accel = options.accel ?? 'auto';
  const timeoutS = opts.deadline?.seconds ?? options.timeoutS ?? DEFAULT_TIMEOUT_S;
  // Time spent waiting for an appliance slot is not the target's: it does not count against --timeout.
  const slot = opts.acquireAppliance?.();
  const release = (slot && (await (opts.deadline ? opts.deadline.paused(slot) : slot))) ?? (() => {});
  const deadline = opts.deadline?.at ?? Date.now() + timeoutS * 1000;
  let g: Guestfish | null = null;
  let image: GuestfsImage | null = null;
  try {
    const env = options.env ?? process.env;
    const launched = await launch(img, accel, deadline, timeoutS, env, verbose);
    g = launched.g;
    image = new GuestfsImage(g, env, verbose);
    const im = image;
    const fss = await im.probe();
    const mounted = await im.mountAll(fss);
    const views: FilesystemView[] = [];
    const tList = Date.now();
    for (const { fs, mp } of mounted) {
      const inventory = await im.list(fs, mp);
      const btrfs = fs.type === 'btrfs' ? await im.btrfs(fs, mp, inventory) : undefined;
      views.push({
        ...fs,
        ...(btrfs ? { btrfs } : {}),
        inventory,
        readFiles: (paths, maxBytes) => im.readFiles(inventory, mp, paths, maxBytes),
      });
    }
    const tAssemble = Date.now();
    verbose?.(`phase list: ${tAssemble - tList} ms (${views.length} filesystem(s), ${views.reduce((n, v) => n + v.inventory.size, 0)} entries)`);
    const a = await assemble(views);
    verbose?.(`phase assemble: ${Date.now() - tAssemble} ms`);
    for (const n of [...im.notes, ...a.notes]) verbose?.(n);
    verbose?.(`guestfs: ${g.commands} guestfish commands so far`);
    const gg = g;
    return {
      backend: 'guestfs',
      accel: launched.mode,
      filesystems: a.filesystems,
      roots: a.roots,
      problems: [...im.problems, ...a.problems],
      async close() {
        const r = im.readStats;
        verbose?.(
          `guestfs: read ${r.files} files (${(r.bytes / 1048576).toFixed(1)} MiB) in ${r.preads} pread commands over ${r.calls} batches; ${gg.commands} guestfish commands in all`,
        );
        await gg.close().catch(() => undefined);
        im.cleanup();
        img.cleanup();
        release();
      },
    };
  } catch (err) {
    await g?.close().catch(() => undefined);
    image?.cleanup();
    release();
    if (err instanceof GuestfsCommandError) throw new TargetError(`libguestfs: ${oneLine(err.message)}`);
    throw err;
  }
}

export function createGuestfsBackend(options: GuestfsBackendOptions = {}): Backend {
  return {
    name: 'guestfs',
    open(target: string, opts: OpenOptions): Promise<OpenedImage> {
      const prep = { allowBackingFile: options.allowBackingFile, signal: opts.signal, verbose: opts.verbose, maxWrite: opts.maxDecompressedBytes };
      return withPreparedImage(target, prep, (img) => openGuestfsPrepared(img, target, options, opts));
    },
  };
}
