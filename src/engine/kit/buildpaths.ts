/** Paths that exist only while an image is being built: Nix sandboxes, the build VM's state, CI workspaces. */

/** Prefixes naming a build-time location. Those ending in `/` need something after them. */
export const BUILD_PATH_PREFIXES = [
  '/build/',
  '/tmp/nix-build-',
  '/private/tmp/nix-build-',
  '/homeless-shelter',
  '/tmp/state/',
  '/home/runner/work/',
  '/github/workspace',
  '/builds/',
  '/var/lib/buildkite-agent/',
] as const;

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * A build path where a path starts: not inside a longer path or URL (`/usr/src/build/`, `https://x/builds/`), and
 * for prefixes without a trailing slash, not followed by more of a name (`/homeless-shelters`).
 */
const BUILD_PATH_RE = new RegExp(
  '(?<![A-Za-z0-9._~+@%/-])(' +
    BUILD_PATH_PREFIXES.map((p) => escape(p) + (p.endsWith('/') || p.endsWith('-') ? '' : '(?![A-Za-z0-9._-])')).join('|') +
    ')',
  'g',
);

export interface BuildPathHit {
  prefix: string;
  index: number;
}

export function findBuildPaths(text: string): BuildPathHit[] {
  const out: BuildPathHit[] = [];
  BUILD_PATH_RE.lastIndex = 0;
  for (const m of text.matchAll(BUILD_PATH_RE)) out.push({ prefix: m[1]!, index: m.index ?? 0 });
  return out;
}

/** The build prefix an absolute path (a symlink target) starts with, or null. */
export function buildPathPrefix(p: string): string | null {
  for (const pre of BUILD_PATH_PREFIXES) {
    if (pre.endsWith('/') ? p.startsWith(pre) || p === pre.slice(0, -1) : p === pre || p.startsWith(pre + (pre.endsWith('-') ? '' : '/'))) {
      return pre;
    }
  }
  return null;
}
