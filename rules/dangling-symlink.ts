import picomatch from 'picomatch';
import {
  aggregate,
  defineRule,
  describeFailure,
  type Entry,
  isRuntimePath,
  normalizePath,
  parentOf,
  type ResolveResult,
  runtimeAndStore,
  textScanOptions,
  forEachEntry,
  TEXT_SCAN_OPTIONS,
} from '../src/engine/kit/index.js';

/**
 * Links other rules already report: Nix channels (dangling-channel-symlink) and GC roots (host-gcroot). The globs
 * compile for the first link that may be one (a .nix-defexpr in its path, or under /nix/var/nix/), not with the
 * module: most images have none.
 */
let ownedElsewhere: ((path: string) => boolean) | undefined;
const OWNED_ELSEWHERE = (path: string): boolean =>
  (path.includes('/.nix-defexpr') || path.startsWith('/nix/var/nix/')) &&
  (ownedElsewhere ??= picomatch(
    ['/**/.nix-defexpr', '/**/.nix-defexpr/**', '/nix/var/nix/profiles/per-user/*/channels*', '/nix/var/nix/gcroots/**'],
    { dot: true },
  ))(path);

export default defineRule({
  meta: {
    id: 'dangling-symlink',
    options: { ...TEXT_SCAN_OPTIONS },
    severity: 'warning',
    tags: ['host-leak'],
    description: 'A symlink points at a path that does not exist in the image (run-time trees excepted)',
    remediation:
      'The link was made against the build host or build VM (an absolute path that exists only there, a result ' +
      'link, a checkout). Make the link relative to something the image contains, create its target in the ' +
      'image, or remove it. Links into /run, /proc, /sys and /dev are fine and never reported.',
    references: ['https://github.com/nix-community/disko/issues/622'],
  },
  async check({ inventory, options, report }) {
    const { includeStore } = textScanOptions(options);
    const bad = new Map<string, { e: Entry; r: Extract<ResolveResult, { ok: false }> }>();
    // Run-time trees (and the store unless scanned) are skipped by position, without making every link's path.
    await forEachEntry(inventory, '/', (e) => {
      if (OWNED_ELSEWHERE(e.path)) return;
      const target = e.target ?? '';
      const abs = target.startsWith('/') ? normalizePath(target) : normalizePath(`${parentOf(e.path)}/${target}`);
      if (isRuntimePath(abs)) return;
      const r = inventory.resolve(e.path);
      if (r.ok || isRuntimePath(r.at)) return;
      if (!inventory.resolve(parentOf(e.path)).ok) return;
      bad.set(e.path, { e: e.entry(), r });
    }, { skip: runtimeAndStore(includeStore), types: ['symlink'] });
    for (const g of aggregate(bad.keys())) {
      const hit = bad.get(g.path);
      if (!hit || g.merged) {
        report({ path: g.path, message: `${g.count} symlinks below ${g.path} do not resolve inside the image`, evidence: `${g.count} links` });
        continue;
      }
      // A link a package installed as it is (Debian's /etc/modules-load.d/modules.conf -> ../modules) is the
      // distribution's: info, with the package named.
      report({
        path: g.path,
        message: `${g.path} -> ${hit.e.target} does not resolve inside the image (${describeFailure(hit.r)})`,
        evidence: hit.e.target ?? '',
        shipped: true,
      });
    }
  },
});
