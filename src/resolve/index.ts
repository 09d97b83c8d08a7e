/**
 * Target resolution: what a target holds, decided before any reader runs (design.md, "a target is resolved into
 * what it holds"). One resolver per shape:
 *   folder    a root tree (dir backend) | a container image (OCI layout, docker-dir, docker-archive) | a folder of
 *             build products (nix `result`, a Hydra output, a build directory: each product is its own target) |
 *             neither (exit 3)
 *   file      a tar archive, plain or compressed (archive.ts: root tree, disk images, container image) | an image
 *             file (src/image + the native/guestfs backends)
 * Nothing is dropped on the way: every leaf is audited or reported as not readable.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { walkHost } from '../hostwalk.js';
import { currentBudget, withBudget } from '../budget.js';
import { createBudget } from '../image/budget.js';
import { createDeadline } from '../image/deadline.js';
import { openFailure, TargetError } from '../errors.js';
import type { Backend } from '../backends/backend.js';
import { detectBuffer } from '../image/detect.js';
// The archive and container readers load on first use (`import()`, a lazy init in the bundle: scripts/bundle.mjs):
// a scan of image files with --backend native never reads a tar or a container.
import type { ArchiveOptions } from './archive.js';
import { boundaryOf, nixStoreDir } from './boundary.js';
import { containerLayout, looksLikeRootTree, type LayoutKind } from './shape.js';
import type { Compression } from '../image/detect.js';
import type { ArchiveFormat } from './archive-format.js';
import { pushAll } from '../arrays.js';

const HEAD = 0x10100;

/** `archive`: an archive read as a stream, tar or cpio (src/resolve/archive.ts). */
export type FileShape = { kind: 'archive'; compression: Compression | null; format: ArchiveFormat } | { kind: 'image' } | { kind: 'unknown' };

/** Files sniffed in this process, by identity (a store audit classifies a folder, then audits its products). */
const sniffed = new Map<string, FileShape>();
const MAX_SNIFFED = 100_000;

/** What a file holds, by its first bytes (decompressed first when compressed). Each file is sniffed once. */
export async function sniffFile(file: string): Promise<FileShape> {
  let st;
  try {
    st = await fsp.stat(file);
  } catch {
    return { kind: 'unknown' };
  }
  if (!st.isFile() || st.size === 0) return { kind: 'unknown' };
  const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  const known = sniffed.get(key);
  if (known) return known;
  const [{ sniffRange }, { archiveFormat }] = await Promise.all([import('./stream.js'), import('./archive-format.js')]);
  const { head, compression } = await sniffRange({ file, start: 0, length: st.size }, HEAD);
  const format = archiveFormat(head);
  const shape: FileShape = format ? { kind: 'archive', compression, format } : detectBuffer(head)?.kind === 'image' ? { kind: 'image' } : { kind: 'unknown' };
  if (sniffed.size >= MAX_SNIFFED) sniffed.clear();
  sniffed.set(key, shape);
  return shape;
}

/** A file hostleak can audit: a disk or filesystem image or a tar archive (compressed or not). */
export async function isAuditableFile(file: string): Promise<boolean> {
  return (await sniffFile(file)).kind !== 'unknown';
}

export type FolderShape =
  | { kind: 'root-tree' }
  | { kind: 'container'; layout: LayoutKind }
  | { kind: 'products'; files: string[]; via: 'hydra-build-products' | 'contents' }
  | { kind: 'neither'; reason: string };

/**
 * Products named by nix-support/hydra-build-products (`file <type> <path>` lines), relative to the folder. A product
 * is named by its store path; the folder is (a link to) that store path, or a copy of it. Whether each stays inside
 * the folder is the boundary's to decide (src/resolve/boundary.ts).
 */
async function hydraProducts(dir: string, real: string): Promise<string[] | null> {
  let text: string;
  try {
    const file = await boundaryOf(dir).then((b) => b.resolve('nix-support/hydra-build-products'));
    text = await fsp.readFile(file, 'utf8');
  } catch {
    return null;
  }
  const out: string[] = [];
  const store = nixStoreDir();
  for (const line of text.split('\n')) {
    const m = /^\s*file\s+\S+\s+(\S+)/.exec(line);
    if (!m) continue;
    const p = m[1]!;
    if (p.startsWith(real + '/')) out.push(p.slice(real.length + 1));
    else if (p.startsWith(store + '/')) {
      const rel = p.slice(store.length + 1).split('/').slice(1).join('/');
      if (rel) out.push(rel);
    }
  }
  return out;
}

/**
 * The container layout a folder holds: an OCI layout (oci-layout + index.json), or a `manifest.json` that is a
 * docker-archive's list of images or a docker-dir's image manifest (anything else named manifest.json is not one).
 */
async function folderLayout(dir: string, names: string[]): Promise<LayoutKind | null> {
  const has = (n: string) => names.includes(n);
  const layout = containerLayout(has);
  if (layout !== 'docker-archive') return layout;
  const file = path.join(dir, 'manifest.json');
  const st = await fsp.lstat(file).catch(() => null);
  if (!st?.isFile() || st.size > 16 * 1024 * 1024) return null;
  try {
    const buf = await fsp.readFile(file);
    const { jsonDepth, manifestLayout, MAX_JSON_DEPTH } = await import('./container.js');
    return jsonDepth(buf) > MAX_JSON_DEPTH ? null : manifestLayout(JSON.parse(buf.toString('utf8')));
  } catch {
    return null;
  }
}

/** Whether a folder is one container image (OCI layout, docker-dir, unpacked docker-archive). */
export async function isContainerFolder(dir: string): Promise<boolean> {
  const names = await fsp.readdir(dir).catch(() => null);
  return names !== null && (await folderLayout(dir, names)) !== null;
}

/** Folders classified in this process (a store audit classifies a folder, then audits it as a target). */
const classified = new Map<string, FolderShape>();

/** The shape of a folder already classified, if it did not change since (its own mtime). */
async function knownShape(dir: string): Promise<FolderShape | undefined> {
  const st = await fsp.stat(dir).catch(() => null);
  return st ? classified.get(`${st.dev}:${st.ino}:${st.mtimeMs}`) : undefined;
}

async function remember(dir: string, shape: FolderShape): Promise<FolderShape> {
  const st = await fsp.stat(dir).catch(() => null);
  if (st) classified.set(`${st.dev}:${st.ino}:${st.mtimeMs}`, shape);
  return shape;
}

/** Decide what a folder is. `isTarget` says whether a file inside it can be audited on its own. */
export async function classifyFolder(dir: string, isTarget: (file: string) => Promise<boolean> = isAuditableFile): Promise<FolderShape> {
  const names = await fsp.readdir(dir);
  const layout = await folderLayout(dir, names);
  if (layout) return { kind: 'container', layout };
  const dirs: string[] = [];
  for (const n of names) {
    const st = await fsp.stat(path.join(dir, n)).catch(() => null);
    if (st?.isDirectory()) dirs.push(n);
  }
  if (looksLikeRootTree(dirs)) return { kind: 'root-tree' };
  // Every product is a path the folder names: through the host boundary, never to a host file outside it.
  const boundary = await boundaryOf(dir);
  const products = await hydraProducts(dir, boundary.real);
  const auditable = async (rels: string[]) => {
    const out: string[] = [];
    for (const rel of rels) {
      // Under the target's deadline (by the clock: a folder of thousands of files is a loop of its own).
      currentBudget()?.check();
      const host = await boundary.tryResolve(rel);
      if (!host) continue;
      const st = await fsp.stat(host).catch(() => null);
      if (st?.isFile() && (await isTarget(host))) out.push(rel);
      else if (st?.isDirectory() && (await folderLayout(host, await fsp.readdir(host).catch(() => [])))) out.push(rel);
    }
    return out;
  };
  if (products && products.length > 0) {
    const files = await auditable(products);
    if (files.length > 0) return { kind: 'products', files, via: 'hydra-build-products' };
  }
  // One walk, four levels down, nix-support/ left out; regular files and directories only (symlinks are not
  // followed). A container image folder is one product: the blobs in it are not products of their own.
  const images: string[] = [];
  const found: string[] = [];
  // A name that is not UTF-8 has no string path: it stays a product under the name it reads as, and its audit fails
  // with the reason (exit 3), so it cannot vanish from the report.
  const unreadable: string[] = [];
  const skip = (rel: string) => rel === 'nix-support' || images.includes(rel);
  for await (const e of walkHost(dir, { deep: 4, descend: (d) => !skip(d.rel) })) {
    if (e.rel === 'nix-support') continue;
    if (e.dirent.isDirectory()) {
      if (e.exact && (await isContainerFolder(path.join(dir, e.rel)))) images.push(e.rel);
    } else if (e.dirent.isFile()) (e.exact ? found : unreadable).push(e.rel);
  }
  found.sort();
  const files = [...images, ...(await auditable(found)), ...unreadable].sort();
  if (files.length > 0) return { kind: 'products', files, via: 'contents' };
  return {
    kind: 'neither',
    reason: 'a folder that is neither a root tree (no etc/, usr/, nix/ ... at its top) nor holds disk images, archives or container images',
  };
}

/**
 * Expand folders of build products into one target per product (`result` -> `result/nixos.qcow2`); root trees,
 * OCI layouts, files and folders that are neither stay as they are (the latter fail with the reason when opened).
 */
export async function expandProducts(targets: string[], verbose?: (msg: string) => void, timeoutS?: number): Promise<string[]> {
  const out: string[] = [];
  for (const t of targets) {
    const st = await fsp.stat(t).catch(() => null);
    if (!st?.isDirectory()) {
      out.push(t);
      continue;
    }
    // Under the folder's own deadline: a folder that cannot be classified in time stays a target, whose audit
    // classifies it again under its deadline (files already sniffed are not sniffed again) and says why it failed.
    const deadline = timeoutS === undefined ? undefined : createDeadline(timeoutS);
    const shape = await withBudget(createBudget({ deadline }), async () => remember(t, await classifyFolder(t)))
      .catch(() => null)
      .finally(() => deadline?.dispose());
    if (shape?.kind === 'products') {
      verbose?.(`${t}: a folder of build products (from ${shape.via}): ${shape.files.join(', ')}`);
      pushAll(out, shape.files.map((f) => path.join(t, f)));
    } else out.push(t);
  }
  return [...new Set(out)];
}

/**
 * The backend for a target under `--backend auto`, or null for image files (the caller's image backend).
 * `image` opens an image file (a member of an archive copied out) with the image backends.
 */
export async function resolveBackend(target: string, dirBackend: Backend, image: (file: string, label: string, o: ArchiveOptions) => ReturnType<Backend['open']>): Promise<Backend | null> {
  let st;
  try {
    st = await fsp.stat(target);
  } catch (err) {
    throw openFailure(target, err);
  }
  if (st.isDirectory()) {
    const shape = (await knownShape(target)) ?? (await classifyFolder(target));
    if (shape.kind === 'root-tree') return dirBackend;
    if (shape.kind === 'container') {
      const { dirBlobs, openContainer } = await import('./container.js');
      return { name: 'container', open: (_t, o) => openContainer(dirBlobs(target), shape.layout, o) };
    }
    if (shape.kind === 'products') {
      throw new TargetError(`a folder of ${shape.files.length} build product(s) (${shape.files.slice(0, 3).join(', ')}): scan audits each as its own target`);
    }
    throw new TargetError(shape.reason);
  }
  if (!st.isFile()) return null;
  const shape = await sniffFile(target);
  if (shape.kind !== 'archive') return null;
  const { openStreamArchive } = await import('./archive.js');
  return {
    name: shape.format,
    open(t, o) {
      const opts: ArchiveOptions = { ...o, openImage: (file, label) => image(file, label, opts) };
      return openStreamArchive(t, shape.compression, opts, shape.format);
    },
  };
}
