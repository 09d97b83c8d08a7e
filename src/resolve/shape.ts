/** What a set of top-level names says about a tree: a root filesystem, a container layout, or neither. */

/** Top-level directories of an OS root tree. */
const ROOT_DIRS = new Set(['etc', 'usr', 'nix', 'bin', 'sbin', 'lib', 'lib64', 'var', 'root', 'home', 'boot', 'opt', 'srv', 'run', 'tmp']);
/** Any one of these alone makes a root tree; otherwise two of ROOT_DIRS are needed (a package output has bin/ only). */
const STRONG = new Set(['etc', 'usr', 'nix', 'var']);

/** A tree is a root tree when its top level has the directories an OS root has. */
export function looksLikeRootTree(topLevelDirs: Iterable<string>): boolean {
  let n = 0;
  for (const d of topLevelDirs) {
    if (STRONG.has(d)) return true;
    if (ROOT_DIRS.has(d)) n++;
  }
  return n >= 2;
}

export type LayoutKind = 'docker-archive' | 'oci-layout' | 'docker-dir';

/**
 * A docker-archive has manifest.json at its top; an OCI image layout has oci-layout and index.json. (A docker-dir
 * has a manifest.json too: container.ts tells the two apart by what it says.)
 */
export function containerLayout(has: (name: string) => boolean): LayoutKind | null {
  if (has('oci-layout') && has('index.json')) return 'oci-layout';
  if (has('manifest.json')) return 'docker-archive';
  return null;
}
