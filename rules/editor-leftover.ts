import { baseName, defineRule, isStorePath, entriesNamed, plural } from '../src/engine/kit/index.js';

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
  coversFile: true,
  check({ inventory, report }) {
    for (const e of entriesNamed(inventory, (name) => KINDS.some((k) => k.re.test(name)))) {
      if (e.type !== 'file' || isStorePath(e.path) || ELSEWHERE(e.path)) continue;
      const { what } = KINDS.find((k) => k.re.test(baseName(e.path)))!;
      // A file by that name that a package installed unchanged is the distribution's (an example, a patch).
      report({ path: e.path, message: `${e.path} is ${what} (${plural(e.size, 'byte')})`, evidence: `${e.size} bytes, owner uid=${e.uid}`, shipped: true });
    }
  },
});
