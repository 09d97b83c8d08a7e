import { forEachEntry, aggregate, defineRule, type Entry, isRuntimePath } from '../src/engine/kit/index.js';

/** Temporary directories, where world-writable (sticky) entries are the point. */
const TEMP = ['/tmp', '/var/tmp', '/dev/shm', '/run', '/var/lock', '/var/spool/mail'];

function isTemp(p: string): boolean {
  return TEMP.some((t) => p === t || p.startsWith(t + '/'));
}

export default defineRule({
  meta: {
    id: 'world-writable',
    severity: 'warning',
    tags: ['permissions'],
    description: 'World-writable files, or world-writable directories without the sticky bit, outside temporary directories',
    remediation:
      'Anyone on a machine booted from the image can modify these. The build usually copied them from a host ' +
      'checkout or ran under umask 000: set umask 022 in the build and chmod o-w the paths (or add the sticky bit ' +
      'to shared directories).',
    references: ['https://libguestfs.org/virt-sysprep.1.html'],
  },
  async check({ inventory, report }) {
    const flagged = new Map<string, Entry>();
    await forEachEntry(inventory, '/', (e) => {
      // Columns first (every symlink has mode 0777): the path is made only for what they flag.
      const mode = e.mode;
      if ((mode & 0o002) === 0) return;
      const type = e.type;
      if (type !== 'file' && (type !== 'dir' || (mode & 0o1000) !== 0)) return;
      if (isRuntimePath(e.path) || isTemp(e.path)) return;
      flagged.set(e.path, e.entry());
    });
    for (const g of aggregate(flagged.keys())) {
      const e = flagged.get(g.path);
      const what = e ? `${e.type === 'dir' ? 'directory' : 'file'} with mode ${e.mode.toString(8).padStart(4, '0')}` : 'directory';
      report({
        path: g.path,
        message:
          (g.merged ? `${g.count} world-writable entries below ${g.path}` : `${g.path} is a world-writable ${what}`) +
          (!g.merged && g.count > 1 ? ` (${g.count - 1} more world-writable entries below it)` : ''),
        evidence: e ? `mode=${e.mode.toString(8).padStart(4, '0')} uid=${e.uid} gid=${e.gid}` : `${g.count} entries`,
      });
    }
  },
});
