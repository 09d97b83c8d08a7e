import {
  buildPathPrefix,
  defineRule,
  findBuildPaths,
  placeOf,
  runtimeAndStore,
  textScanOptions,
  forEachEntry,
} from '../src/engine/kit/index.js';

export default defineRule({
  readsText: true,
  meta: {
    id: 'build-path-reference',
    severity: 'warning',
    tags: ['host-leak', 'build-path'],
    description:
      'A symlink target or a text file names a build-time path (/build/, /tmp/nix-build-*, /homeless-shelter, /tmp/state/, CI workspaces)',
    remediation:
      'A file generated during the build recorded where it was built. Generate it with the final path (pass ' +
      '--prefix / the install location instead of $PWD), strip build directories (e.g. remove-references-to, ' +
      'substituteInPlace), or regenerate it on the target at first boot. Symlinks must point at image paths.',
    references: ['https://github.com/NixOS/nixpkgs/pull/292561', 'https://github.com/NixOS/nixpkgs/issues/83207'],
  },
  async check(ctx) {
    const { inventory, options, report } = ctx;
    const opts = textScanOptions(options);
    // Hits are judged against the package database (`shipped`): a file a package installed unchanged carries the
    // distribution's build path (Debian's _sysconfigdata, npm's code), not the image builder's.
    // Subscribe to the shared content pass first (synchronously), then look at symlinks while it runs.
    const scanned = ctx.scanText((file) => {
      // A binary is searched in its printable strings (compiled-in paths: __FILE__, rpaths, debug info).
      const text = file.searchable();
      const hits = findBuildPaths(text);
      if (hits.length === 0) return;
      const first = hits[0]!;
      const at = placeOf(file, text, first.index, first.prefix.length);
      const prefixes = [...new Set(hits.map((h) => h.prefix))];
      report({
        path: file.entry.path,
        message:
          `${file.entry.path} names the build-time path ${prefixes.join(', ')} (${hits.length} occurrence${hits.length === 1 ? '' : 's'}, ` +
          `${at.first})`,
        evidence: at.evidence,
        key: `content:${[...prefixes].sort().join(' ')}`,
        ...at.location,
        shipped: file.data,
      });
    });
    // Run-time trees (and the store unless scanned) are skipped by position, without making every link's path.
    await forEachEntry(inventory, '/', (e) => {
      const target = e.target;
      const prefix = target && target.startsWith('/') ? buildPathPrefix(target) : null;
      if (!prefix) return;
      // The link's own path identifies it (key 'link'): its target names a temp dir that differs on every build.
      report({ path: e.path, message: `${e.path} -> ${target} points into the build-time path ${prefix}`, evidence: target, key: 'link', shipped: true });
    }, { skip: runtimeAndStore(opts.includeStore), types: ['symlink'] });
    await scanned;
  },
});
