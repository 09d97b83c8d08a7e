/**
 * Assembly: turn the filesystems of a disk image into one tree, like the booted system sees it.
 *
 * 1. Find the root filesystem: it has /etc plus /etc/fstab or /nix/store. A btrfs filesystem is seen from its top
 *    level (FilesystemView.btrfs): each of its subvolumes may be the root (Fedora's `root`, Ubuntu's `@`, openSUSE's
 *    default `@/.snapshots/1/snapshot`); between look-alikes (a root and its snapshots) the one its own fstab mounts
 *    at `/` wins, then the default subvolume.
 * 2. Read its fstab, resolving symlinks inside that filesystem (NixOS: /etc/fstab -> /etc/static/fstab ->
 *    /nix/store/...-etc/etc/fstab; with /nix on a filesystem or btrfs subvolume of its own, through that one mounted
 *    at /nix for the look). Never anything on the host.
 * 3. Mount the other filesystems where fstab says, matched by /dev/disk/by-{partlabel,label,uuid,partuuid}/...,
 *    PARTLABEL=, LABEL=, UUID=, PARTUUID= or a device name; their entries are prefixed with the mountpoint and keep
 *    their own `fs`, and file reads are routed to the filesystem that holds the path. On btrfs a line mounts the
 *    subtree its `subvol=` or `subvolid=` option names, else the default subvolume; a subvolume mounted on its own is
 *    left out (an empty directory) of every other mounted part that holds it, so each file is audited once.
 * 4. Without a root, every filesystem stands alone (ImageRoot.prefix = its device: findings read `/dev/sda1:/path`).
 *    With a root, a filesystem that fstab does not mount also stands alone, and so does what fstab does not mount of
 *    a btrfs filesystem (its top level, other subvolumes, snapshots: `/dev/sda2:/.snapshots/...`), so nothing goes
 *    unaudited.
 *
 * Pure: only the views' inventories and readFiles are consulted. Shared by the guestfs and native backends.
 */
import { Inventory, normalizePath, parentOf } from '../inventory.js';
import type { FilesystemInfo } from '../types.js';
import { TargetError } from '../errors.js';
import { maxOf } from '../arrays.js';
import type { FileContent, FilesystemView, ImageRoot } from './backend.js';

export interface Assembled {
  roots: ImageRoot[];
  filesystems: FilesystemInfo[];
  /** Parts that could not be read (make the target `partial`). */
  problems: string[];
  /** Informational remarks for --verbose (an fstab line naming a device that is not in this image, ...). */
  notes: string[];
}

export interface FstabLine {
  spec: string;
  mountpoint: string;
  type: string;
  options: string[];
}

/** fstab escapes spaces and the like as octal (`\040`). */
function unescapeFstab(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseFstab(text: string): FstabLine[] {
  const out: FstabLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const f = line.split(/\s+/);
    if (f.length < 2) continue;
    out.push({
      spec: unescapeFstab(f[0]!),
      mountpoint: unescapeFstab(f[1]!),
      type: f[2] ?? 'auto',
      options: (f[3] ?? 'defaults').split(','),
    });
  }
  return out;
}

/** Which view an fstab device spec names, or null. */
export function matchSpec(spec: string, views: FilesystemView[]): FilesystemView | null {
  const eq = (a: string | null, b: string, ci = false) => a !== null && (ci ? a.toLowerCase() === b.toLowerCase() : a === b);
  const by = (key: 'partlabel' | 'label' | 'uuid' | 'partuuid', value: string) =>
    views.find((v) => eq(v[key], value, key === 'uuid' || key === 'partuuid')) ?? null;
  let m = /^\/dev\/disk\/by-(partlabel|label|uuid|partuuid)\/(.+)$/.exec(spec);
  if (m) {
    // udev escapes unsafe characters in by-label names as \xHH.
    const value = m[2]!.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    return by(m[1] as 'partlabel' | 'label' | 'uuid' | 'partuuid', value);
  }
  m = /^(PARTLABEL|LABEL|UUID|PARTUUID)=(.+)$/.exec(spec);
  if (m) {
    const value = m[2]!.replace(/^"(.*)"$/, '$1');
    return by(m[1]!.toLowerCase() as 'partlabel' | 'label' | 'uuid' | 'partuuid', value);
  }
  // An LVM logical volume, which both backends name /dev/VG/LV: the same, or device-mapper's /dev/mapper/VG-LV
  // (a dash inside a VG or LV name is doubled there).
  m = /^\/dev\/mapper\/(.+)$/.exec(spec);
  if (m) {
    const name = m[1]!;
    const mapperName = (device: string) => {
      const lv = /^\/dev\/([^/]+)\/([^/]+)$/.exec(device);
      return lv ? `${lv[1]!.replace(/-/g, '--')}-${lv[2]!.replace(/-/g, '--')}` : null;
    };
    return views.find((v) => mapperName(v.device) === name) ?? null;
  }
  if (/^\/dev\/[^/]+\/[^/]+$/.test(spec) && !spec.startsWith('/dev/disk/')) {
    const v = views.find((x) => x.device === spec);
    if (v) return v;
  }
  // Device names: the booted system may call the disk vda, xvda, hda or nvme0n1; we call it sda.
  m = /^\/dev\/(?:sd|vd|xvd|hd)([a-z])(\d*)$/.exec(spec) ?? /^\/dev\/nvme\d+n(\d+)(?:p(\d+))?$/.exec(spec);
  if (m) {
    const disk = /^\d+$/.test(m[1]!) ? String.fromCharCode(96 + Number(m[1])) : m[1]!;
    const dev = `/dev/sd${disk}${m[2] ?? ''}`;
    return views.find((v) => v.device === dev) ?? null;
  }
  return null;
}

/** Path `p` of the subtree `from` (a btrfs subvolume's directory, `/` for the whole filesystem) in the whole view. */
function within(from: string, p: string): string {
  return from === '/' ? p : p === '/' ? from : from + p;
}

/** How much the subtree `from` of a view looks like a root filesystem (0: not at all). */
function rootScore(v: FilesystemView, from: string): number {
  const inv = v.inventory;
  const at = (p: string) => within(from, p);
  if (inv.get(at('/etc'))?.type !== 'dir') return 0;
  const hasFstab = inv.has(at('/etc/fstab'));
  const hasStore = inv.get(at('/nix/store'))?.type === 'dir';
  if (!hasFstab && !hasStore) return 0;
  return (hasFstab ? 4 : 0) + (hasStore ? 2 : 0) + (inv.has(at('/etc/passwd')) ? 1 : 0);
}

/** A part of a filesystem that can be mounted: all of it (`from` = `/`), or a btrfs subvolume's subtree. */
interface Part {
  view: FilesystemView;
  from: string;
}

/** The parts a root may be: the filesystem, or for btrfs each subvolume (the top level's is `/`). */
function parts(v: FilesystemView): Part[] {
  return v.btrfs ? v.btrfs.subvolumes.map((s) => ({ view: v, from: s.path })) : [{ view: v, from: '/' }];
}

function isUnder(p: string, dir: string): boolean {
  return dir === '/' ? p !== '/' : p.startsWith(dir + '/');
}

/**
 * The btrfs subtree an fstab line mounts: `subvol=PATH` (from the top level, with or without a leading `/`),
 * `subvolid=N`, else the default subvolume. A string saying why not when the filesystem has no such subvolume.
 */
export function btrfsSubtree(v: FilesystemView, options: string[]): { from: string } | { why: string } {
  const subs = v.btrfs?.subvolumes ?? [{ id: 5, path: '/' }];
  const opt = (k: string) => options.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1);
  const subvol = opt('subvol');
  const subvolid = opt('subvolid');
  if (subvol !== undefined) {
    const path = normalizePath('/' + subvol);
    if (!subs.some((s) => s.path === path)) return { why: `subvol=${subvol} is not a subvolume of ${v.device}` };
    const byId = subvolid !== undefined ? subs.find((s) => String(s.id) === subvolid) : undefined;
    if (subvolid !== undefined && byId?.path !== path) return { why: `subvol=${subvol} and subvolid=${subvolid} name different subvolumes of ${v.device}` };
    return { from: path };
  }
  const id = subvolid ?? String(v.btrfs?.defaultId ?? 5);
  const s = subs.find((x) => String(x.id) === id);
  if (!s) return { why: subvolid !== undefined ? `subvolid=${subvolid} is not a subvolume of ${v.device}` : `the default subvolume of ${v.device} (id ${id}) is not in it` };
  return { from: s.path };
}

/**
 * The part `from` of a view as a view of its own (its `/` is `from`; reads and opens go to the whole view), with
 * nothing below the directories of `emptied` (parts mounted elsewhere). The view itself when nothing changes.
 */
function partView(v: FilesystemView, from: string, emptied: string[]): FilesystemView {
  if (from === '/' && emptied.length === 0) return v;
  const inner = (p: string) => within(from, p);
  return {
    device: v.device,
    type: v.type,
    label: v.label,
    uuid: v.uuid,
    partlabel: v.partlabel,
    partuuid: v.partuuid,
    inventory: v.inventory.subtree(from, emptied),
    async readFiles(paths, maxBytes) {
      const got = await v.readFiles(paths.map(inner), maxBytes);
      return new Map(paths.map((p) => [p, got.get(inner(p)) ?? new Error(`${p}: not read`)]));
    },
    openFile: v.openFile ? (p: string) => v.openFile!(inner(p)) : undefined,
  };
}

/** The `/` line of a root's own fstab, when it is a regular file there (no symlinks followed: a tie-break only). */
async function ownRootLine(p: Part): Promise<FstabLine | null> {
  const path = within(p.from, '/etc/fstab');
  if (p.view.inventory.get(path)?.type !== 'file') return null;
  const got = (await p.view.readFiles([path], TIE_FSTAB_BYTES)).get(path);
  if (!got || got instanceof Error) return null;
  return parseFstab(got.data.toString('utf8')).find((l) => l.mountpoint === '/') ?? null;
}

/** Look-alike roots whose own fstab is read to break a tie (snapper keeps dozens; an image may hold thousands). */
const TIE_FSTABS = 32;
const TIE_FSTAB_BYTES = 64 * 1024;

/**
 * The root: the part that looks most like one. Between btrfs subvolumes that look alike (a root and its snapshots),
 * the one its own fstab mounts at `/` (among the first TIE_FSTABS in the order that follows), then the default
 * subvolume, then the one nearest the top level.
 */
async function findRoot(views: FilesystemView[]): Promise<Part | null> {
  const scored = views.flatMap(parts).map((p, i) => ({ p, i, s: rootScore(p.view, p.from) })).filter((x) => x.s > 0);
  if (scored.length === 0) return null;
  const best = maxOf(scored.map((x) => x.s));
  const top = scored.filter((x) => x.s === best);
  if (top.length === 1 || !top.some((x) => x.p.view.btrfs)) return top[0]!.p;
  const keyed = top.map((x) => {
    const b = x.p.view.btrfs;
    const isDefault = !b || b.subvolumes.some((s) => s.path === x.p.from && s.id === b.defaultId) ? 1 : 0;
    return { x, isDefault, depth: x.p.from === '/' ? 0 : x.p.from.split('/').length };
  });
  keyed.sort((a, b) => b.isDefault - a.isDefault || a.depth - b.depth || a.x.i - b.x.i);
  // One fstab at a time, each at most TIE_FSTAB_BYTES: a crafted image cannot make this hold much.
  for (const k of keyed.slice(0, TIE_FSTABS)) {
    const v = k.x.p.view;
    if (!v.btrfs) continue;
    const line = await ownRootLine(k.x.p);
    const sub = line && matchSpec(line.spec, views) === v ? btrfsSubtree(v, line.options) : null;
    if (sub && 'from' in sub && sub.from === k.x.p.from) return k.x.p;
  }
  return keyed[0]!.x.p;
}

/** A root made of one filesystem, optionally with others mounted into it (mounts[0] at `/`). */
export function buildRoot(
  prefix: string | null,
  mounts: Array<{ mountpoint: string; view: FilesystemView }>,
): ImageRoot {
  // One filesystem at `/` whose entries already carry its device: its own inventory is the root's, not a copy.
  const alone = mounts.length === 1 && mounts[0]!.view.inventory.allOnFilesystem(mounts[0]!.view.device);
  const inventory = alone ? mounts[0]!.view.inventory : new Inventory();
  // mounts[0] is at '/', the rest ordered parents first.
  for (const { mountpoint, view } of alone ? [] : mounts) {
    if (mountpoint !== '/') inventory.removeSubtree(mountpoint);
    for (let p = parentOf(mountpoint); mountpoint !== '/' && !inventory.has(p); p = parentOf(p)) {
      // A mountpoint whose parent does not exist: the kernel would need it; add a placeholder directory.
      inventory.add({ path: p, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0, fs: mounts[0]!.view.device });
      if (p === '/') break;
    }
    inventory.graft(mountpoint, view.inventory, view.device);
  }
  const byDepth = [...mounts].sort((a, b) => b.mountpoint.length - a.mountpoint.length);
  const route = (p: string): { view: FilesystemView; inner: string } => {
    for (const m of byDepth) {
      if (m.mountpoint === '/') return { view: m.view, inner: p };
      if (p === m.mountpoint) return { view: m.view, inner: '/' };
      if (p.startsWith(m.mountpoint + '/')) return { view: m.view, inner: p.slice(m.mountpoint.length) };
    }
    return { view: mounts[0]!.view, inner: p };
  };
  return {
    prefix,
    inventory,
    openFile: mounts.some((m) => m.view.openFile)
      ? (p: string) => {
          const { view, inner } = route(p);
          if (!view.openFile) throw new TargetError(`${p}: ${view.type} files cannot be opened as images`);
          return view.openFile(inner);
        }
      : undefined,
    async readFiles(paths: string[], maxBytes: number): Promise<Map<string, FileContent | Error>> {
      const groups = new Map<FilesystemView, Array<{ outer: string; inner: string }>>();
      for (const p of paths) {
        const { view, inner } = route(p);
        let g = groups.get(view);
        if (!g) groups.set(view, (g = []));
        g.push({ outer: p, inner });
      }
      const out = new Map<string, FileContent | Error>();
      await Promise.all(
        [...groups].map(async ([view, items]) => {
          let got: Map<string, FileContent | Error>;
          try {
            got = await view.readFiles(
              items.map((i) => i.inner),
              maxBytes,
            );
          } catch (err) {
            got = new Map(items.map((i) => [i.inner, err as Error]));
          }
          for (const i of items) out.set(i.outer, got.get(i.inner) ?? new Error(`${i.outer}: not read`));
        }),
      );
      return out;
    },
  };
}

export async function assemble(views: FilesystemView[]): Promise<Assembled> {
  const problems: string[] = [];
  const notes: string[] = [];
  /** What is mounted where, the root first. */
  const mounted: Array<Part & { mountpoint: string }> = [];
  const rootPart = await findRoot(views);
  const roots: ImageRoot[] = [];

  if (rootPart) {
    mounted.push({ ...rootPart, mountpoint: '/' });
    // The root on its own, for its fstab and mountpoints; what other mounts take out of it is taken out at the end.
    const root = partView(rootPart.view, rootPart.from, []);
    // NixOS's fstab is a link into /nix/store; with /nix on a filesystem or subvolume of its own (disko's layouts),
    // it resolves only with that mounted: the one part whose top holds `store`, mounted at /nix for this look only.
    let fstabIn: ImageRoot = { prefix: null, inventory: root.inventory, readFiles: (p, n) => root.readFiles(p, n) };
    let resolved = root.inventory.resolve('/etc/fstab');
    if (!resolved.ok && resolved.reason === 'missing' && (resolved.at + '/').startsWith('/nix/') && !root.inventory.has('/nix/store')) {
      const nix = views.flatMap(parts).find((p) => p.view.inventory.get(within(p.from, '/store'))?.type === 'dir');
      if (nix) {
        fstabIn = buildRoot(null, [
          { mountpoint: '/', view: root },
          { mountpoint: '/nix', view: partView(nix.view, nix.from, []) },
        ]);
        resolved = fstabIn.inventory.resolve('/etc/fstab');
      }
    }
    let fstab: FstabLine[] = [];
    if (!resolved.ok) {
      if (root.inventory.has('/etc/fstab')) notes.push(`${root.device}: /etc/fstab does not resolve inside the image`);
    } else if (resolved.entry.type !== 'file') {
      notes.push(`${root.device}: /etc/fstab is not a regular file`);
    } else {
      const got = (await fstabIn.readFiles([resolved.path], 1024 * 1024)).get(resolved.path);
      if (!got || got instanceof Error) problems.push(`${root.device}: cannot read /etc/fstab (${got?.message ?? 'not read'})`);
      else fstab = parseFstab(got.data.toString('utf8'));
    }
    // Parents first, so /boot is mounted before /boot/efi.
    const lines = fstab
      .filter((l) => l.mountpoint.startsWith('/') && !l.options.includes('bind'))
      .map((l) => ({ ...l, mountpoint: normalizePath(l.mountpoint) }))
      .sort((a, b) => a.mountpoint.split('/').length - b.mountpoint.split('/').length);
    for (const l of lines) {
      const view = matchSpec(l.spec, views);
      if (!view) {
        if (l.mountpoint !== '/' && (l.spec.startsWith('/dev/') || /^(PART)?(LABEL|UUID)=/.test(l.spec))) {
          notes.push(`fstab: ${l.spec} (${l.mountpoint}) is not a filesystem of this image`);
        }
        continue;
      }
      const sub = view.btrfs ? btrfsSubtree(view, l.options) : { from: '/' };
      if ('why' in sub) {
        notes.push(`fstab: ${sub.why} (${l.mountpoint}); what is there is audited on its own`);
        continue;
      }
      if (l.mountpoint === '/') {
        // The root was found by its content; say so when its own fstab mounts something else there.
        if (view !== rootPart.view || sub.from !== rootPart.from) {
          notes.push(`fstab: ${l.spec} is mounted at /, but the root found is ${rootPart.view.device}${rootPart.from === '/' ? '' : `[${rootPart.from}]`}`);
        }
        continue;
      }
      const already = mounted.find((m) => m.view === view && m.from === sub.from);
      if (already) {
        const what = view.btrfs && sub.from !== '/' ? `${view.device}[${sub.from}]` : view.device;
        notes.push(`fstab: ${what} is already mounted at ${already.mountpoint}; ignoring ${l.mountpoint}`);
        continue;
      }
      // Resolve the mountpoint like mount(8) would, inside the tree assembled so far (symlinks in the root fs).
      let mp = l.mountpoint;
      const r = root.inventory.resolve(mp);
      if (r.ok && r.entry.type === 'dir' && !mounted.some((m) => m.mountpoint !== '/' && (r.path + '/').startsWith(m.mountpoint + '/'))) {
        mp = r.path;
      }
      mounted.push({ view, from: sub.from, mountpoint: mp });
    }
    // A btrfs subvolume mounted on its own is left out of every other mounted part that holds it: each file once.
    const emptiedIn = (m: Part) => mounted.filter((o) => o.view === m.view && isUnder(o.from, m.from)).map((o) => o.from);
    const mounts = mounted.map((m) => {
      const emptied = emptiedIn(m);
      for (const e of emptied) notes.push(`${m.view.device}: subvolume ${e} is mounted on its own; left out of ${m.mountpoint}`);
      return { mountpoint: m.mountpoint, view: m.mountpoint === '/' && emptied.length === 0 ? root : partView(m.view, m.from, emptied) };
    });
    mounts.sort((a, b) => (a.mountpoint === '/' ? -1 : b.mountpoint === '/' ? 1 : a.mountpoint.split('/').length - b.mountpoint.split('/').length));
    roots.push(buildRoot(null, mounts));
  }
  const filesystems: FilesystemInfo[] = [];
  for (const v of views) {
    const info = { device: v.device, type: v.type, label: v.label };
    const mine = mounted.filter((m) => m.view === v);
    for (const m of mine) filesystems.push({ ...info, mountpoint: m.mountpoint, ...(v.btrfs && m.from !== '/' ? { subvolume: m.from } : {}) });
    if (mine.length === 0) {
      roots.push(buildRoot(v.device, [{ mountpoint: '/', view: v }]));
      filesystems.push({ ...info, mountpoint: null });
      continue;
    }
    // A btrfs filesystem mounted in parts: what no part holds (the top level, other subvolumes and snapshots) stands
    // alone, so that nothing in it goes unaudited.
    const froms = mine.map((m) => m.from);
    if (froms.includes('/')) continue;
    const rest = partView(v, '/', froms);
    const mountedOrAbove = (p: string) => froms.some((f) => f === p || isUnder(f, p));
    let holds = false;
    for (const e of rest.inventory.unordered()) {
      if (!mountedOrAbove(e.path)) {
        holds = true;
        break;
      }
    }
    if (!holds) continue;
    notes.push(`${v.device}: the parts of this btrfs filesystem fstab does not mount are audited on their own (${v.device}:/...)`);
    roots.push(buildRoot(v.device, [{ mountpoint: '/', view: rest }]));
    filesystems.push({ ...info, mountpoint: null });
  }
  return { roots, filesystems, problems, notes };
}
