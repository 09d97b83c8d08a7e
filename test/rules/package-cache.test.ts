import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import rule from '../../rules/package-cache.js';

ruleTester(rule, {
  valid: [
    {
      name: 'apt lock and empty partial/, empty dnf and pacman caches',
      tree: withAccounts([
        { path: '/var/cache/apt/archives/lock', content: '' },
        { path: '/var/cache/apt/archives/partial', type: 'dir' },
        { path: '/var/lib/apt/lists/lock', content: '' },
        { path: '/var/cache/dnf', type: 'dir' },
        { path: '/var/cache/pacman/pkg', type: 'dir' },
        { path: '/var/cache/apt/archives/x.deb', content: '' },
      ]),
    },
  ],
  invalid: [
    {
      name: 'apt archives, apt lists (info), dnf, zypper, apk and pacman caches',
      tree: withAccounts([
        { path: '/var/cache/apt/archives/lock', content: '' },
        { path: '/var/cache/apt/archives/bash_5.2_amd64.deb', content: '!<arch>\ndebian-binary' },
        { path: '/var/cache/apt/archives/partial/curl_8.deb', content: '!<arch>' },
        { path: '/var/cache/apt/pkgcache.bin', content: 'cache' },
        { path: '/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease', content: 'Origin: Debian\n' },
        { path: '/var/cache/dnf/fedora-1/packages/bash.rpm', content: 'rpm' },
        { path: '/var/cache/zypp/packages/repo/x.rpm', content: 'rpm' },
        { path: '/var/cache/apk/APKINDEX.tar.gz', content: 'gz' },
        { path: '/var/cache/pacman/pkg/bash.pkg.tar.zst', content: 'zst' },
      ]),
      findings: [
        { path: '/var/cache/apt/archives', message: ['2 files'], evidence: ['bash_5.2_amd64.deb'] },
        { path: '/var/cache/apt', severity: 'info', message: ['1 file'] },
        { path: '/var/lib/apt/lists', severity: 'info' },
        { path: '/var/cache/dnf', message: ['dnf'] },
        { path: '/var/cache/zypp' },
        { path: '/var/cache/apk' },
        { path: '/var/cache/pacman/pkg' },
      ],
    },
  ],
});
