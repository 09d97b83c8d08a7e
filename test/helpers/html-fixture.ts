/** A fixed multi-image report for the HTML reporter: every status, every severity, and hostile strings. */
import type { Report } from '../../src/types.js';

export const XSS_IMG = '<img src=x onerror="window.__pwned=1;alert(1)">';
export const XSS_SCRIPT = '</script><script>window.__pwned=2;alert(2)</script><!--';

export const STORE_REPORT: Report = {
  version: 1,
  tool: { name: 'hostleak', version: '0.1.0' },
  targets: [
    {
      target: 'store/nixos-a/disk.raw',
      status: 'ok',
      error: null,
      backend: 'native',
      durationMs: 1234,
      filesystems: [
        { device: '/dev/sda1', type: 'vfat', label: 'ESP', mountpoint: '/boot' },
        { device: '/dev/sda2', type: 'ext4', label: 'nixos', mountpoint: '/' },
      ],
      findings: [
        {
          ruleId: 'orphaned-home',
          severity: 'error',
          path: '/home/bob',
          filesystem: '/dev/sda2',
          message: "/home/bob is not the home of any account in the image's /etc/passwd",
          evidence: 'owner uid=0 gid=0 mode=0755',
          remediation: 'Set HOME=/root before switch-to-configuration.',
        },
        {
          ruleId: 'machine-id',
          severity: 'warning',
          path: '/etc/machine-id',
          filesystem: '/dev/sda2',
          message: '/etc/machine-id is not empty: every machine booted from the image shares it',
          evidence: '3f2a...',
          remediation: 'Empty /etc/machine-id at the end of the build.',
        },
        {
          ruleId: 'build-path',
          severity: 'info',
          path: '/var/log/build.log',
          filesystem: '/dev/sda2',
          message: XSS_IMG,
          evidence: XSS_SCRIPT,
          remediation: 'Remove build logs & "temp" files <before> packing.',
        },
      ],
    },
    {
      target: 'store/<b>odd</b> "name"/disk.qcow2',
      status: 'partial',
      error: 'filesystem /dev/sda3 (xfs) is not supported by the native backend',
      backend: 'native',
      durationMs: 75_500,
      filesystems: [{ device: '/dev/sda2', type: 'ext4', label: null, mountpoint: '/' }],
      findings: [
        {
          ruleId: 'orphaned-home',
          severity: 'error',
          path: '/home/alice\u202etxt.exe',
          filesystem: '/dev/sda2',
          message: '/home/alice is not the home of any account\u001b[31m',
          evidence: null,
          remediation: 'Set HOME=/root before switch-to-configuration.',
        },
        {
          ruleId: 'auth-token',
          severity: 'error',
          path: '/root/.npmrc',
          filesystem: '/dev/sda2',
          message: 'an npm token is in /root/.npmrc',
          evidence: '//registry.npmjs.org/:_authToken=npm_****',
          remediation: 'Never copy credentials into the image; pass them as build secrets.',
        },
      ],
    },
    {
      target: 'store/clean/disk.raw',
      status: 'ok',
      error: null,
      backend: 'dir',
      durationMs: 8,
      filesystems: [{ device: 'dir', type: 'dir', label: null, mountpoint: '/' }],
      findings: [],
    },
    {
      target: 'store/junk.img',
      status: 'failed',
      error: 'not a disk image: no partition table or filesystem found </td><script>alert(3)</script>',
      backend: null,
      durationMs: 0,
      filesystems: [],
      findings: [],
    },
  ],
};
