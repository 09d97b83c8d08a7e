import { ruleTester } from '../helpers/rule-tester.js';
import { withAccounts } from '../helpers/tree.js';
import rule from '../../rules/crash-dump.js';
import { elfHeader } from '../helpers/records.js';

const elf = (type: number) => elfHeader(type).toString('base64');

ruleTester(rule, {
  valid: [
    {
      name: 'empty crash folders, a script and a program named core',
      tree: withAccounts([
        { path: '/var/crash', type: 'dir', mode: '3777' },
        { path: '/var/lib/systemd/coredump', type: 'dir' },
        { path: '/usr/lib/python3/dist-packages/numpy/core', type: 'dir' },
        { path: '/usr/share/foo/core', content: '#!/bin/sh\necho core\n' },
        { path: '/usr/bin/core', contentBase64: elf(2) },
      ]),
    },
  ],
  invalid: [
    {
      name: 'systemd-coredump, apport and an ELF core file in a home',
      tree: withAccounts([
        { path: '/var/lib/systemd/coredump/core.sshd.0.abc.1234.1700000000000000.zst', content: 'zstd' },
        { path: '/var/crash/_usr_bin_python3.0.crash', content: 'ProblemType: Crash\n' },
        { path: '/root/core', contentBase64: elf(4) },
        { path: '/home/alice/app.core', contentBase64: elf(4), uid: 1000 },
      ]),
      findings: [
        { path: '/var/lib/systemd/coredump', message: ['1 crash dump file'] },
        { path: '/var/crash' },
        { path: '/root/core', message: ['ELF core dump'] },
        { path: '/home/alice/app.core', evidence: ['uid=1000'] },
      ],
    },
  ],
});
