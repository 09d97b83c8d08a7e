import {
  baseName,
  defineRule,
  type Entry,
  humanBytes,
  nonEmptyFilesUnder,
  plural,
  type Severity,
  someNames,
} from '../src/engine/kit/index.js';

interface Cache {
  dir: string;
  what: string;
  /** Lists of package indexes are cheap to refetch but not wrong to keep: info. */
  severity?: Severity;
  keep?: (e: Entry) => boolean;
}

/** Lock files are the package manager's, empty files and folders (apt's `partial/`) hold nothing. */
const notLock = (e: Entry) => !/^(?:lock|.*\.lock|\.lock.*)$/.test(baseName(e.path));

const CACHES: Cache[] = [
  { dir: '/var/cache/apt/archives', what: 'apt\'s downloaded packages' },
  { dir: '/var/cache/apt', what: 'apt\'s package cache', severity: 'info', keep: (e) => /^(?:src)?pkgcache\.bin$/.test(baseName(e.path)) },
  { dir: '/var/lib/apt/lists', what: 'apt\'s downloaded package lists', severity: 'info' },
  { dir: '/var/cache/dnf', what: 'dnf\'s cache (metadata and packages)' },
  { dir: '/var/cache/libdnf5', what: 'dnf5\'s cache (metadata and packages)' },
  { dir: '/var/cache/yum', what: 'yum\'s cache (metadata and packages)' },
  { dir: '/var/cache/zypp', what: 'zypper\'s cache (metadata and packages)' },
  { dir: '/var/cache/apk', what: 'apk\'s package cache' },
  { dir: '/var/cache/pacman/pkg', what: 'pacman\'s downloaded packages' },
];

export default defineRule({
  meta: {
    id: 'package-cache',
    severity: 'warning',
    tags: ['session-residue'],
    description: 'Package manager caches (apt, dnf/yum, zypper, apk, pacman) left by the build; apt\'s lists at info',
    remediation:
      'The build downloaded packages and left them in the image: tens of megabytes per image, and a record of the ' +
      'mirrors and versions the builder used. Clean the cache as the last build step (apt-get clean; ' +
      'dnf clean all; zypper clean -a; rm -rf /var/cache/apk/*; pacman -Scc), or mount a tmpfs/cache volume ' +
      'over it during the build. virt-sysprep --operations package-manager-cache does the same.',
    references: ['https://libguestfs.org/virt-sysprep.1.html', 'https://manpages.debian.org/bookworm/apt/apt-get.8.en.html'],
  },
  check({ inventory, report }) {
    const done = new Set<string>();
    for (const c of CACHES) {
      const r = inventory.resolve(c.dir);
      if (!r.ok) continue;
      const files = nonEmptyFilesUnder(inventory, c.dir, (e) => notLock(e) && ![...done].some((d) => e.path.startsWith(`${d}/`)) && (c.keep?.(e) ?? true));
      done.add(r.path);
      if (files.length === 0) continue;
      const bytes = files.reduce((n, e) => n + e.size, 0);
      report({
        path: c.dir,
        severity: c.severity,
        message: `${c.dir} holds ${c.what}: ${plural(files.length, 'file')}, ${humanBytes(bytes)}`,
        evidence: someNames(files),
      });
    }
  },
});
