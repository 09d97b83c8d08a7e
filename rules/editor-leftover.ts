import { baseName, defineRule, type Entry, isStorePath, judgeShipped, entriesNamed, plural } from '../src/engine/kit/index.js';

/** Editor backups and swap files, patch/merge leftovers, and package managers' kept-aside configuration files. */
const KINDS: Array<{ re: RegExp; what: string }> = [
  { re: /^\..+\.sw[a-p]$/, what: 'a vim swap file' },
  { re: /^#.+#$/, what: 'an Emacs auto-save file' },
  { re: /^\.#.+/, what: 'an Emacs lock file' },
  { re: /.~$/, what: 'an editor backup' },
  { re: /.\.bak$/, what: 'a backup copy' },
  { re: /.\.(?:orig|rej)$/, what: 'a patch or merge leftover' },
  { re: /.\.(?:dpkg-(?:old|dist|new|bak)|ucf-(?:old|dist|new)|rpmsave|rpmnew|rpmorig|pacsave|pacnew|apk-new)$/, what: 'a configuration file kept aside by the package manager' },
];
/** account-backup reports /var/backups (the dpkg job's *.bak copies of the account files). */
const ELSEWHERE = (p: string) => p === '/var/backups' || p.startsWith('/var/backups/');

export default defineRule({
  meta: {
    id: 'editor-leftover',
    severity: 'warning',
    tags: ['session-residue'],
    description: 'Editor backups and swap files (*~, .*.swp, #*#), patch and merge leftovers (*.orig, *.rej, *.bak, *.dpkg-old, *.rpmnew) outside the store',
    remediation:
      'Someone edited files by hand while building the image, or a package upgrade left the old configuration ' +
      'beside the new one: the leftover can hold the previous contents (a password, a host name) and shows a ' +
      'manual, unreproducible step. Make the change in the build script, resolve the configuration merge, and ' +
      'delete the leftover (virt-sysprep --operations backup-files).',
    references: ['https://libguestfs.org/virt-sysprep.1.html'],
  },
  async check({ inventory, packages, report }) {
    const hits: Array<{ e: Entry; what: string }> = [];
    for (const e of entriesNamed(inventory, (name) => KINDS.some((k) => k.re.test(name)))) {
      const kind = KINDS.find((k) => k.re.test(baseName(e.path)))!;
      if (e.type === 'file' && !isStorePath(e.path) && !ELSEWHERE(e.path)) hits.push({ e, what: kind.what });
    }
    await Promise.all(
      hits.map(async ({ e, what }) => {
        // A file by that name that a package installed unchanged is the distribution's (an example, a patch).
        const j = await judgeShipped(packages, e.path);
        report({ path: e.path, severity: j.severity, message: `${e.path} is ${what} (${plural(e.size, 'byte')})${j.suffix}`, evidence: `${e.size} bytes, owner uid=${e.uid}` });
      }),
    );
  },
});
