import {
  buildPathPrefix,
  defineRule,
  describeFailure,
  isRuntimePath,
  normalizePath,
  parentOf,
} from '../src/engine/kit/index.js';

const GCROOTS = '/nix/var/nix/gcroots';
/** Host-only locations a GC root must never point at, even when something by that name exists in the image. */
const HOST_PREFIXES = ['/mnt/', '/tmp/', '/var/tmp/', '/private/'];

export default defineRule({
  meta: {
    id: 'host-gcroot',
    severity: 'warning',
    tags: ['nix', 'host-leak'],
    description: 'A Nix GC root points at a build-time path or at something missing from the image',
    remediation:
      "The GC root was registered while the image was built (nix-build's result link, nixos-install with " +
      '--root /mnt, a build in /tmp). Build with --no-out-link or remove the root afterwards (rm the link under ' +
      '/nix/var/nix/gcroots/auto), and install with nixos-install --no-root-passwd --root so roots are relative.',
    references: ['https://github.com/NixOS/nixpkgs/issues/83207'],
  },
  check({ inventory, report }) {
    const base = inventory.resolve(GCROOTS);
    if (!base.ok || base.entry.type !== 'dir') return;
    for (const e of inventory.walk(base.path)) {
      if (e.type !== 'symlink') continue;
      const target = e.target ?? '';
      const abs = target.startsWith('/') ? normalizePath(target) : normalizePath(`${parentOf(e.path)}/${target}`);
      if (isRuntimePath(abs)) continue; // /run/current-system, /run/booted-system
      const named = e.path.replace(base.path, GCROOTS);
      const hostPrefix = buildPathPrefix(abs) ?? HOST_PREFIXES.find((p) => abs.startsWith(p)) ?? null;
      const r = inventory.resolve(e.path);
      if (!r.ok && isRuntimePath(r.at)) continue;
      if (hostPrefix) {
        report({ path: named, message: `GC root ${named} -> ${target} points into ${hostPrefix}, a build-time location`, evidence: target });
      } else if (!r.ok) {
        report({ path: named, message: `GC root ${named} -> ${target} does not resolve inside the image (${describeFailure(r)})`, evidence: target });
      }
    }
  },
});
