import picomatch from 'picomatch';
import { forEachEntry, defineRule, plural } from '../src/engine/kit/index.js';

/** Shell and REPL history files, by name (fish keeps its own under .local/share/fish). */
export const HISTORY_NAMES = new Set([
  '.bash_history', '.zsh_history', '.sh_history', '.ash_history', '.history', '.histfile', '.python_history',
  '.node_repl_history', '.psql_history', '.mysql_history', '.sqlite_history', '.lesshst', '.viminfo', '.irb_history',
  '.rediscli_history', '.ts_node_repl_history', '.scala_history', '.guile_history', '.nix_repl_history',
]);
/** fish's history, compiled on first use: most images have no file of that name. */
let fish: ((path: string) => boolean) | undefined;
const FISH = (path: string): boolean => (fish ??= picomatch('/**/.local/share/fish/fish_history', { dot: true }))(path);

export default defineRule({
  meta: {
    id: 'shell-history',
    severity: 'warning',
    tags: ['session-residue', 'secret'],
    description: 'A non-empty shell or REPL history (bash, zsh, python, node, psql, mysql, less, vim) is in the image',
    remediation:
      'Someone (or a build script run through an interactive shell) worked in the image and the history was ' +
      'saved: it records commands, paths and often secrets typed on the command line. Remove the file, rotate any ' +
      'secret it contains, and build non-interactively (HISTFILE=/dev/null).',
    references: ['https://libguestfs.org/virt-sysprep.1.html'],
  },
  coversFile: true,
  async check({ inventory, report }) {
    // By name (FISH ends in one too), asked once per distinct name: the path is made only for the few that pass.
    const named = (name: string) => HISTORY_NAMES.has(name) || name === 'fish_history';
    await forEachEntry(
      inventory,
      '/',
      (e) => {
        if (e.size === 0 || (e.name === 'fish_history' && !FISH(e.path))) return;
        report({
          path: e.path,
          message: `${e.path} is a non-empty history file (${plural(e.size, 'byte')}) left from a session on the builder or in the image`,
          evidence: `${e.size} bytes, owner uid=${e.uid}`,
        });
      },
      { skip: ['/nix/store'], types: ['file'], names: named },
    );
  },
});
