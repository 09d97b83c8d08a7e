import { defineRule, type Entry, joinPath, plural } from '../src/engine/kit/index.js';
import { CLOUD_INIT_LOGS } from './cloud-init-state.js';

/** Logs other rules report: login records (login-records) and cloud-init's logs (cloud-init-state). */
const ELSEWHERE = new Set(['/var/log/wtmp', '/var/log/btmp', '/var/log/lastlog', '/var/log/faillog', ...CLOUD_INIT_LOGS]);
const ROTATED_LOGIN = /^\/var\/log\/(?:wtmp|btmp)\.[0-9]/;

/** Directories reported as one finding each (they hold many files of one kind). */
const GROUPED = ['/var/log/journal', '/nix/var/log/nix/drvs'];

function nonEmptyFiles(entries: Iterable<Entry>): Entry[] {
  return [...entries].filter((e) => e.type === 'file' && e.size > 0);
}

export default defineRule({
  meta: {
    id: 'build-log',
    severity: 'warning',
    tags: ['session-residue'],
    description: 'Non-empty logs of the build are in the image (/var/log, the journal, Nix build logs)',
    remediation:
      'Logs written while the image was built describe the builder (paths, hostnames, sometimes secrets in command ' +
      'lines) and mislead whoever debugs the first boot. Truncate /var/log and remove /var/log/journal/* and ' +
      '/nix/var/log/nix/drvs at the end of the build (virt-sysprep --operations logfiles does this).',
    references: ['https://libguestfs.org/virt-sysprep.1.html'],
  },
  coversFile: true,
  check({ inventory, report }) {
    const done = new Set<string>();
    for (const g of GROUPED) {
      const r = inventory.resolve(g);
      if (!r.ok || r.entry.type !== 'dir') continue;
      done.add(r.path);
      const files = nonEmptyFiles(inventory.walk(r.path));
      if (files.length === 0) continue;
      const bytes = files.reduce((n, e) => n + e.size, 0);
      report({
        path: g,
        message: `${g} holds ${files.length} non-empty log file${files.length === 1 ? '' : 's'} (${plural(bytes, 'byte')}) from the build`,
        evidence: files.slice(0, 3).map((e) => e.path).join(', '),
      });
    }
    const log = inventory.resolve('/var/log');
    if (!log.ok || log.entry.type !== 'dir') return;
    const stack = [log.path];
    while (stack.length > 0) {
      const d = stack.pop()!;
      for (const name of inventory.children(d)) {
        const p = joinPath(d, name);
        const e = inventory.get(p)!;
        if (e.type === 'dir') {
          if (!done.has(p)) stack.push(p);
        } else if (e.type === 'file' && e.size > 0) {
          const named = '/var/log' + p.slice(log.path.length);
          if (ELSEWHERE.has(named) || ROTATED_LOGIN.test(named)) continue;
          report({ path: named, message: `${named} is a non-empty log (${plural(e.size, 'byte')}) written during the build`, evidence: `${e.size} bytes` });
        }
      }
    }
  },
});
