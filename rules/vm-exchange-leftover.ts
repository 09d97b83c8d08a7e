import { forEachEntry, defineRule, type Entry } from '../src/engine/kit/index.js';

export default defineRule({
  meta: {
    id: 'vm-exchange-leftover',
    severity: 'error',
    tags: ['host-leak', 'build-vm'],
    description: "The build VM's exchange directory (xchg/) or saved environment (saved-env) is left in the image",
    remediation:
      "nixpkgs' vmTools pass data between host and build VM through xchg/, and saved-env holds the host's exported " +
      'environment (HOME, USER, tokens in variables). Make sure nothing copies or mounts xchg into the target ' +
      'filesystem, and delete it before the image is sealed.',
    references: ['https://github.com/nix-community/disko/issues/622', 'https://github.com/nix-community/disko/pull/907'],
  },
  async check({ inventory, report }) {
    // Filter first, then sort the few hits by path (parents before what is below them), not the whole inventory.
    const hits: Entry[] = [];
    await forEachEntry(
      inventory,
      '/',
      (e) => {
        const name = e.name;
        if ((name === 'xchg' && e.type === 'dir') || (name === 'saved-env' && e.type === 'file')) hits.push(e.entry());
      },
      { skip: ['/nix/store'], names: (name) => name === 'xchg' || name === 'saved-env' },
    );
    hits.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const reported: string[] = [];
    for (const e of hits) {
      if (reported.some((r) => e.path.startsWith(r + '/'))) continue;
      reported.push(e.path);
      const inside = e.type === 'dir' ? inventory.count(e.path) : 0;
      report({
        path: e.path,
        message:
          e.type === 'dir'
            ? `${e.path} is the build VM's exchange directory (${inside} entr${inside === 1 ? 'y' : 'ies'})`
            : `${e.path} is the build VM's saved host environment (${e.size} bytes): it may hold the builder's variables and secrets`,
        evidence: e.type === 'dir' ? inventory.children(e.path).slice(0, 5).join(', ') || 'empty' : `${e.size} bytes`,
      });
    }
  },
});
