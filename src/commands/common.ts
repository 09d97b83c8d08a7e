/** Pieces the inspection commands (ls, cat, inventory, diff) share. */
import type { ImageRoot, OpenedImage } from '../backends/backend.js';
import { oneLine, RequestError, TargetError } from '../errors.js';
import { EXIT_USAGE, exitCodeOf } from '../exit.js';
import type { Gate } from '../engine/gate/index.js';
import { backendChoice, backendOptions, type CommandContext, type RunResult } from './context.js';
import { splitFindingPath } from '../finding-path.js';
import { normalizePath } from '../inventory.js';
import { withBudget } from '../budget.js';
import { createBudget } from '../image/budget.js';
import { createDeadline, raceDeadline } from '../image/deadline.js';
import { pickBackend, targetTimeoutS, type BackendOptions } from '../scan.js';
import type { BackendChoice, Entry, EntryType, FilesystemInfo } from '../types.js';
import { visible } from '../escape.js';

export type Verbose = ((msg: string) => void) | undefined;

/** Open a target once, timing the phase for --verbose. */
export async function openTarget(
  target: string,
  backend: BackendChoice,
  options: BackendOptions,
  verbose: Verbose,
): Promise<OpenedImage> {
  const started = Date.now();
  // The deadline covers opening; its timer does not keep the process alive afterwards.
  const deadline = createDeadline(targetTimeoutS(options));
  const budget = createBudget({ deadline, maxWrite: options.maxDecompressedBytes });
  const image = await withBudget(budget, async () => {
    const b = await pickBackend(target, backend, options);
    return raceDeadline(b.open(target, { verbose, deadline, signal: deadline.signal, maxDecompressedBytes: options.maxDecompressedBytes }), deadline.signal);
  }).finally(() => deadline.dispose());
  const accel = image.accel ? `, ${image.accel.toUpperCase()} acceleration` : '';
  verbose?.(`phase open: ${Date.now() - started} ms (${image.backend} backend${accel})`);
  return image;
}

/**
 * Pick the root a user path refers to: `/etc/fstab` on the assembled root, or `/dev/sda1:/etc/fstab` when the
 * filesystems stand alone.
 */
export function selectRoot(image: OpenedImage, userPath: string): { root: ImageRoot; path: string } {
  const { device, path: onDevice } = splitFindingPath(userPath);
  if (device !== null) {
    const inFs = normalizePath(onDevice);
    // A filesystem mounted into the assembled root: its path there, like `virt-ls -m /dev/sda1 /`. On btrfs the path
    // is from the top level: the mounted subvolume that holds it, the deepest one (`/dev/sda2:/root/etc` is `/etc`).
    const holds = (f: FilesystemInfo) => {
      const sub = f.subvolume ?? '/';
      return sub === '/' || inFs === sub || inFs.startsWith(sub + '/');
    };
    const fs = image.filesystems
      .filter((f) => f.device === device && f.mountpoint && holds(f))
      .sort((a, b) => (b.subvolume ?? '/').length - (a.subvolume ?? '/').length)[0];
    const assembled = image.roots.find((r) => r.prefix === null);
    if (fs?.mountpoint && assembled) {
      const rest = fs.subvolume === undefined ? inFs : inFs.slice(fs.subvolume.length) || '/';
      return { root: assembled, path: rest === '/' ? fs.mountpoint : normalizePath(`${fs.mountpoint}${rest}`) };
    }
    const root = image.roots.find((r) => r.prefix === device);
    if (root) return { root, path: inFs };
    const known = [...new Set(image.filesystems.map((f) => f.device))].join(', ') || 'none';
    if (image.filesystems.some((f) => f.device === device)) {
      // btrfs mounted in parts, with nothing else in it: a top-level path outside every mounted subvolume.
      const subs = image.filesystems.filter((f) => f.device === device && f.subvolume !== undefined).map((f) => f.subvolume);
      throw new RequestError(`${device}:${inFs} is in none of the subvolumes this image mounts (${subs.join(', ')})`);
    }
    throw new RequestError(`no filesystem ${device} in this image (filesystems: ${known})`);
  }
  const root = image.roots.find((r) => r.prefix === null) ?? image.roots[0];
  if (!root) throw new TargetError('no filesystem could be read');
  if (!userPath.startsWith('/')) throw new RequestError(`paths inside the image are absolute: /${userPath}?`);
  return { root, path: normalizePath(userPath) };
}

const TYPE_CHAR: Record<EntryType, string> = {
  file: '-',
  dir: 'd',
  symlink: 'l',
  chardev: 'c',
  blockdev: 'b',
  fifo: 'p',
  socket: 's',
  unknown: '?',
};

/** `drwxr-xr-x`, with s/S and t/T for setuid, setgid and sticky, like ls. */
export function modeString(e: Pick<Entry, 'type' | 'mode'>): string {
  const m = e.mode;
  const rwx = (bits: number, special: boolean, ch: string) =>
    (bits & 4 ? 'r' : '-') + (bits & 2 ? 'w' : '-') + (special ? (bits & 1 ? ch : ch.toUpperCase()) : bits & 1 ? 'x' : '-');
  return (
    TYPE_CHAR[e.type] +
    rwx((m >> 6) & 7, (m & 0o4000) !== 0, 's') +
    rwx((m >> 3) & 7, (m & 0o2000) !== 0, 's') +
    rwx(m & 7, (m & 0o1000) !== 0, 't')
  );
}

export function octalMode(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

export function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

export interface ImageLog {
  stderr: string;
  verbose?: (m: string) => void;
}

/** Time one phase for --verbose: `phase NAME: N ms (note)`. */
export async function phase<T>(log: ImageLog, name: string, fn: () => Promise<T> | T, note?: (r: T) => string): Promise<T> {
  const t0 = Date.now();
  const r = await fn();
  log.verbose?.(`phase ${name}: ${Date.now() - t0} ms${note ? ` (${note(r)})` : ''}`);
  return r;
}

/**
 * Open a target for an inspection command, run `fn`, always close; map errors to exit codes. `outer` is the log of
 * an enclosing withImage (diff opens two images), so --verbose lines come out in the order they happened.
 */
export async function withImage(
  ctx: CommandContext,
  gate: Gate,
  target: string,
  fn: (image: OpenedImage, log: ImageLog) => Promise<RunResult>,
  outer?: ImageLog,
): Promise<RunResult> {
  const log: ImageLog = outer ?? { stderr: '' };
  if (ctx.args.verbose && !outer) log.verbose = (m: string) => void (log.stderr += `hostleak: ${visible(m)}\n`);
  const logged = () => (outer ? '' : log.stderr);
  let image: OpenedImage | null = null;
  try {
    image = await openTarget(target, backendChoice(ctx.args, gate), backendOptions(ctx, gate), log.verbose);
    const r = await fn(image, log);
    return { ...r, stderr: logged() + r.stderr };
  } catch (err) {
    const exitCode = exitCodeOf(err);
    const where = exitCode === EXIT_USAGE ? '' : `${target}: `;
    return { exitCode, stdout: '', stderr: `${logged()}hostleak: ${visible(where)}${visible(oneLine(err))}\n` };
  } finally {
    await image?.close().catch(() => undefined);
  }
}

/** The stderr line of an image that was not read completely (the command then exits 3). */
export function partialNote(image: OpenedImage, target: string): string {
  return image.problems.length > 0 ? `hostleak: ${visible(target)}: partial: ${visible(image.problems.join('; '))}\n` : '';
}
