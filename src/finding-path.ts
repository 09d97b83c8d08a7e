/** Finding paths: `/abs/path`, or `<device>:/abs/path` for a filesystem that stands alone (no root to mount it on). */

/** `<device>:<path>`; the device may hold slashes (`/dev/vg/lv`), the path may be left out (`/dev/sda1:`). */
const DEVICE_PATH = /^(\/dev\/[^:]+):(\/.*)?$/;

/** A filesystem as a report names it: its device, and on btrfs the subvolume mounted (findmnt's `/dev/sda2[/root]`). */
export function filesystemSource(f: { device: string; subvolume?: string }): string {
  return f.subvolume !== undefined ? `${f.device}[${f.subvolume}]` : f.device;
}

/** Split a finding path into its device (null when assembled into one root) and the path on that root. */
export function splitFindingPath(p: string): { device: string | null; path: string } {
  const m = DEVICE_PATH.exec(p);
  return m ? { device: m[1]!, path: m[2] ?? '/' } : { device: null, path: p };
}
