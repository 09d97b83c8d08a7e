import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import buildPathReference from '../../rules/build-path-reference.js';
import { FAKE_GITHUB_TOKEN } from '../helpers/fake-secrets.js';

ruleTester(buildPathReference, {
  valid: [
    {
      name: 'similar paths, store files, binaries, oversized files',
      tree: withAccounts([
        { path: '/etc/make.conf', content: 'O=/usr/src/linux/build/\nURL=https://ci.example.org/builds/1\n' },
        { path: '/nix/store/aaaa-x/lib/x.pc', content: 'prefix=/build/source\n' },
        { path: '/etc/udev/hwdb.bin', contentBase64: Buffer.from('\0KSLP/build/systemd\0').toString('base64') },
        { path: '/srv/huge.txt', content: `${'x'.repeat(2000)}\n/build/x\n` },
        { path: '/etc/link', target: '/nix/store/aaaa-x' },
      ]),
      options: { maxTextBytes: 1024 },
    },
  ],
  invalid: [
    {
      name: 'contents and symlink targets naming build paths, one finding per file',
      tree: withAccounts([
        { path: '/etc/systemd/system/app.service', content: `[Service]\nEnvironment=TOKEN=${FAKE_GITHUB_TOKEN}\nExecStart=/build/source/app --x /build/source/y\n` },
        { path: '/etc/profile.local', content: 'export PATH=/tmp/nix-build-hello-2.12.drv-0/bin:$PATH\n' },
        { path: '/var/lib/app/state.json', content: '{"workspace":"/home/runner/work/proj/proj"}' },
        { path: '/opt/app/current', target: '/private/tmp/nix-build-app.drv-0/out' },
      ]),
      findings: [
        { path: '/etc/systemd/system/app.service', message: ['/build/', '2 occurrences', 'line 3'], evidence: ['line 3: ExecStart=/build/source/app'], absent: [FAKE_GITHUB_TOKEN] },
        { path: '/etc/profile.local', message: ['/tmp/nix-build-'] },
        { path: '/var/lib/app/state.json', message: ['/home/runner/work/'] },
        { path: '/opt/app/current', message: ['/private/tmp/nix-build-'] },
      ],
    },
    {
      name: 'the store with the store scan on',
      options: { scanStore: true },
      tree: withAccounts([{ path: '/nix/store/aaaa-x/lib/x.pc', content: 'prefix=/build/source\n' }]),
      findings: [{ path: '/nix/store/aaaa-x/lib/x.pc' }],
    },
  ],
});
