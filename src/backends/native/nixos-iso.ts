/**
 * The NixOS installer ISO, assembled as it boots: its iso9660 root plus `/nix-store.squashfs` mounted at `/nix/store`
 * (stage 1 mounts it there), so store findings read `/nix/store/...`. The squashfs is read in place, under the
 * target's budget.
 */
import { buildRoot } from '../assemble.js';
import type { FilesystemView } from '../backend.js';
import { TargetError } from '../../errors.js';
import type { FilesystemInfo, ImageRoot } from '../../types.js';
import { listNativeFilesystems } from './index.js';
import type { WalkBudget } from './walk.js';

/** A view under another name (a filesystem read from a file: `<outer device>:<path>`). */
function renamed(v: FilesystemView, device: string): FilesystemView {
  return { ...v, device };
}

/**
 * The NixOS installer ISO: an iso9660 filesystem holding /nix-store.squashfs. Returns the root as it boots (the
 * squashfs at /nix/store) and the remaining views, or null when the image is not laid out that way.
 */
export async function nixosIsoLayout(
  views: FilesystemView[],
  budget?: WalkBudget,
): Promise<{ root: ImageRoot; filesystems: FilesystemInfo[]; rest: FilesystemView[]; problems: string[] } | null> {
  const iso = views.find((v) => v.type === 'iso9660' && v.inventory.get('/nix-store.squashfs')?.type === 'file' && v.openFile);
  if (!iso) return null;
  const src = iso.openFile!('/nix-store.squashfs');
  const inner = await listNativeFilesystems(src, budget);
  const store = inner.views[0];
  if (!store) throw new TargetError(`${iso.device}:/nix-store.squashfs: no filesystem in it`);
  const device = `${iso.device}:/nix-store.squashfs`;
  const root = buildRoot(null, [
    { mountpoint: '/', view: iso },
    { mountpoint: '/nix/store', view: renamed(store, device) },
  ]);
  return {
    root,
    filesystems: [
      { device: iso.device, type: iso.type, label: iso.label, mountpoint: '/' },
      { device, type: store.type, label: store.label, mountpoint: '/nix/store' },
    ],
    rest: views.filter((v) => v !== iso),
    problems: inner.problems.map((p) => `${device}: ${p}`),
  };
}
