/**
 * Images that name host files the way qemu parses them: every backend and every command refuses them (exit 3) and
 * no byte of the host file reaches any output.
 */
import { describe, expect, it } from '@jest/globals';
// @ts-expect-error plain ESM builder script without types
import { HOST_MARKER } from '../../images-sample/hostile.mjs';
import { requireTools } from '../helpers/tools.js';
import { hostileCases, record, runMeasured } from './harness.js';

requireTools('qemu-img', 'mke2fs', '/usr/bin/time');

const NAMES = [
  'vmdk-flat-plus',
  'vmdk-flat-linebreak',
  'vmdk-flat-after-64k',
  'vmdk-sparse-parent-hint',
  'vmdk-capacity0-descriptor',
  'vhd-differencing',
  'vhdx-parent-locator',
  'vdi-differencing',
];

const cases = hostileCases(NAMES);

describe.each(NAMES)('%s', (name) => {
  // Refusal happens before any backend opens the image; every backend and each command that opens an image is tried.
  const runs: Array<[string, string[]]> = [
    ['native', ['scan', '--format', 'json']],
    ['guestfs', ['scan']],
    ['auto', ['scan']],
    ['auto', ['cat', '@', '/etc/hostname']],
    ['guestfs', ['ls', '-lR', '@']],
  ];
  it.each(runs)('is refused by the %s backend: %j', (backend, cmd) => {
    const c = cases[name]!;
    const args = cmd.includes('@') ? cmd.map((a) => (a === '@' ? c.file : a)) : [...cmd, c.file];
    const m = record(`${name} ${backend} ${cmd[0]}`, runMeasured([...args, '--backend', backend, '--accel', 'tcg', '--timeout', '60']));
    expect(m.status).toBe(3);
    expect(m.stdout + m.stderr).not.toContain(HOST_MARKER);
    expect(m.stdout + m.stderr).toMatch(c.reason);
    expect(m.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(m.leftovers).toEqual([]);
    expect(m.peakMiB).toBeLessThan(512);
  });
});
