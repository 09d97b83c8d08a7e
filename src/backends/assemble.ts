/**
 * Assembly: turn the filesystems of a disk image into one tree, like the booted system sees it.
 *
 * 1. Find the root filesystem: it has /etc plus /etc/fstab or /nix/store.
 * 2. Read its fstab, resolving symlinks inside that filesystem (NixOS: /etc/fstab -> /etc/static/fstab ->
 *    /nix/store/...-etc/etc/fstab). Never anything on the host.
 * 3. Mount the other filesystems where fstab says, matched by /dev/disk/by-{partlabel,label,uuid,partuuid}/...,
 *    PARTLABEL=, LABEL=, UUID=, PARTUUID= or a device name; their entries are prefixed with the mountpoint and keep
 *    their own `fs`, and file reads are routed to the filesystem that holds the path.
 * 4. Without a root, every filesystem stands alone (ImageRoot.prefix = its device: findings read `/dev/sda1:/path`).
 *    With a root, a filesystem that fstab does not mount also stands alone, so nothing goes unaudited.
 *
 * Pure: only the views' inventories and readFiles are consulted. Shared by the guestfs and native backends.
 */
import { Inventory, normalizePath, parentOf } from '../inventory.js';
import type { FilesystemInfo } from '../types.js';
import { TargetError } from '../errors.js';
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

function rootScore(v: FilesystemView): number {
  const inv = v.inventory;
  if (inv.get('/etc')?.type !== 'dir') return 0;
  const hasFstab = inv.has('/etc/fstab');
  const hasStore = inv.get('/nix/store')?.type === 'dir';
  if (!hasFstab && !hasStore) return 0;
  return (hasFstab ? 4 : 0) + (hasStore ? 2 : 0) + (inv.has('/etc/passwd') ? 1 : 0);
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
  const mountpointOf = new Map<FilesystemView, string>();
  const scored = views.map((v) => ({ v, s: rootScore(v) })).filter((x) => x.s > 0);
  scored.sort((a, b) => b.s - a.s);
  const root = scored[0]?.v ?? null;
  const roots: ImageRoot[] = [];

  if (root) {
    mountpointOf.set(root, '/');
    const mounts: Array<{ mountpoint: string; view: FilesystemView }> = [{ mountpoint: '/', view: root }];
    const resolved = root.inventory.resolve('/etc/fstab');
    let fstab: FstabLine[] = [];
    if (!resolved.ok) {
      if (root.inventory.has('/etc/fstab')) notes.push(`${root.device}: /etc/fstab does not resolve inside the image`);
    } else if (resolved.entry.type !== 'file') {
      notes.push(`${root.device}: /etc/fstab is not a regular file`);
    } else {
      const got = (await root.readFiles([resolved.path], 1024 * 1024)).get(resolved.path);
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
      if (l.mountpoint === '/') continue;
      if (!view) {
        if (l.spec.startsWith('/dev/') || /^(PART)?(LABEL|UUID)=/.test(l.spec)) {
          notes.push(`fstab: ${l.spec} (${l.mountpoint}) is not a filesystem of this image`);
        }
        continue;
      }
      if (mountpointOf.has(view)) {
        notes.push(`fstab: ${view.device} is already mounted at ${mountpointOf.get(view)}; ignoring ${l.mountpoint}`);
        continue;
      }
      // Resolve the mountpoint like mount(8) would, inside the tree assembled so far (symlinks in the root fs).
      let mp = l.mountpoint;
      const r = root.inventory.resolve(mp);
      if (r.ok && r.entry.type === 'dir' && !mounts.some((m) => m.mountpoint !== '/' && (r.path + '/').startsWith(m.mountpoint + '/'))) {
        mp = r.path;
      }
      mountpointOf.set(view, mp);
      mounts.push({ mountpoint: mp, view });
    }
    mounts.sort((a, b) => (a.mountpoint === '/' ? -1 : b.mountpoint === '/' ? 1 : a.mountpoint.split('/').length - b.mountpoint.split('/').length));
    roots.push(buildRoot(null, mounts));
  }
  for (const v of views) {
    if (mountpointOf.has(v)) continue;
    roots.push(buildRoot(v.device, [{ mountpoint: '/', view: v }]));
  }
  const filesystems: FilesystemInfo[] = views.map((v) => ({
    device: v.device,
    type: v.type,
    label: v.label,
    mountpoint: mountpointOf.get(v) ?? null,
  }));
  return { roots, filesystems, problems, notes };
}

