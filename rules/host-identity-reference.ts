import {
  defineRule,
  HOSTNAME_FILES,
  hostTerms,
  isRuntimePath,
  isStorePath,
  placeOf,
  matchTerms,
  parentOf,
  textScanOptions,
  type ReportInput,
} from '../src/engine/kit/index.js';

export default defineRule({
  readsText: true,
  meta: {
    id: 'host-identity-reference',
    severity: 'warning',
    tags: ['host-leak', 'host-identity'],
    description:
      "The build host's user name, home directory or hostname appears in the image (paths, symlink targets, text files)",
    remediation:
      "The build recorded who built it and where: a home directory, a config rendered with the builder's " +
      'hostname (ssh host key comments, postfix main.cf). Build with a neutral environment (HOME inside the ' +
      'sandbox, no host USER/HOSTNAME passed through), set hostnames explicitly in the image configuration, and ' +
      'regenerate host-specific files on first boot. hostleak takes the identity from --host-user, --host-home and ' +
      '--host-name, defaulting to the machine it runs on.',
    references: ['https://github.com/grml/grml-debootstrap/issues/67', 'https://github.com/nix-community/disko/issues/622'],
  },
  async check(ctx) {
    const { inventory, accounts, host, options, report } = ctx;
    const { terms } = hostTerms(host, accounts, inventory);
    if (terms.length === 0) return;
    const opts = textScanOptions(options);
    const contentHits: ReportInput[] = [];
    const scanned = ctx.scanText((file) => {
      // The machine's own name files are build-hostname's (which also catches names too short to search for).
      if (HOSTNAME_FILES.has(file.entry.path)) return;
      // A binary is searched in its printable strings (a host name or home compiled in).
      const text = file.searchable();
      const m = matchTerms(text, terms);
      if (!m) return;
      const at = placeOf(file, text, m.first.index, m.first.term.value.length);
      contentHits.push({
        path: file.entry.path,
        message:
          `${file.entry.path} names the build host's ${m.first.term.kind} ${m.first.term.value} ` +
          `(${m.count} occurrence${m.count === 1 ? '' : 's'}, ${at.first})`,
        evidence: at.evidence,
        // Keyed on which identity leaked, not on the line around it (a host key comment changes with the key).
        key: `content:${m.first.term.kind}:${m.first.term.value}`,
        ...at.location,
        // A file a package installed unchanged names the host by coincidence (a word in a manual): info.
        shipped: file.data,
      });
    });

    // Paths: report the top-most entry whose path names the host; nothing below it again.
    const reported = new Set<string>();
    const under = (p: string) => {
      for (let a = p; ; a = parentOf(a)) {
        if (reported.has(a)) return true;
        if (a === '/') return false;
      }
    };
    const stack = ['/'];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      for (const name of inventory.children(dir)) {
        const p = dir === '/' ? `/${name}` : `${dir}/${name}`;
        if (isRuntimePath(p) || (!opts.includeStore && isStorePath(p))) continue;
        const e = inventory.get(p)!;
        const m = matchTerms(p, terms);
        // Only the last component is new at this level: a match in the parent was reported there.
        if (m && m.first.index + m.first.term.value.length > parentOf(p).length) {
          reported.add(p);
          const below = e.type === 'dir' ? inventory.count(p) : 0;
          report({
            path: p,
            message:
              `${p} is named after the build host's ${m.first.term.kind} ${m.first.term.value}` +
              (below > 0 ? ` (${below} entr${below === 1 ? 'y' : 'ies'} below it)` : ''),
            evidence: `${e.type}, owner uid=${e.uid} gid=${e.gid}`,
            key: `name:${m.first.term.kind}:${m.first.term.value}`,
          });
          continue;
        }
        if (e.type === 'dir') stack.push(p);
        else if (e.type === 'symlink' && e.target) {
          const t = matchTerms(e.target, terms);
          if (t) {
            reported.add(p);
            report({
              path: p,
              message: `${p} -> ${e.target} points at the build host's ${t.first.term.kind} ${t.first.term.value}`,
              evidence: e.target,
              key: `target:${t.first.term.kind}:${t.first.term.value}`,
            });
          }
        }
      }
    }
    await scanned;
    // A file a package installed unchanged names the host by coincidence (a word in a manual): info.
    for (const h of contentHits) if (!under(h.path)) report(h);
  },
});
