import { defineRule, describeFailure, type Entry, isRuntimePath, parentOf } from '../src/engine/kit/index.js';

export default defineRule({
  meta: {
    id: 'dangling-channel-symlink',
    severity: 'error',
    tags: ['nix', 'host-leak'],
    description: 'A Nix channels symlink points at a path that does not exist in the image',
    remediation:
      'The link was made by nix-env during the build and points into the build VM. Build with HOME set inside ' +
      "the builder (HOME=/root or HOME=$TMPDIR) and don't source the host's environment in the build VM; remove " +
      'the link from the image.',
    references: ['https://github.com/nix-community/disko/issues/622', 'https://github.com/nix-community/disko/pull/639'],
  },
  check({ inventory, report }) {
    const links = new Map<string, Entry>();
    // `/**/.nix-defexpr` and every symlink below one: found by name, then only those subtrees are walked (a glob
    // `/**/.nix-defexpr/**` would test the path of every symlink in the image).
    for (const d of inventory.named((name) => name === '.nix-defexpr')) {
      if (d.type === 'symlink') links.set(d.path, d);
      else if (d.type === 'dir') for (const e of inventory.walk(d.path)) if (e.type === 'symlink') links.set(e.path, e);
    }
    for (const e of inventory.glob('/nix/var/nix/profiles/per-user/*/channels*', { types: ['symlink'] })) {
      links.set(e.path, e);
    }
    for (const link of links.values()) {
      if (link.path.startsWith('/nix/store/')) continue;
      const r = inventory.resolve(link.path);
      if (r.ok) continue;
      if (isRuntimePath(r.at)) continue;
      // A link whose parent does not resolve is reported through that parent.
      if (!inventory.resolve(parentOf(link.path)).ok) continue;
      report({
        path: link.path,
        message: `${link.path} -> ${link.target} does not resolve inside the image (${describeFailure(r)})`,
        evidence: link.target ?? '',
      });
    }
  },
});
