/**
 * xfs as RHEL-family cloud images ship it, read natively and through the appliance: guestfish makes a GPT disk
 * (converted to qcow2) with an xfs root holding the leaky sample tree, a remote (block) symlink, a file written in
 * 40 separate pieces (its extents spill into a B+tree), and a large directory. Oracle: the kernel's xfs driver
 * through the guestfs backend; native and guestfs must agree on filesystems, every entry and every finding, and
 * `scan` (auto) must read the disk natively with the same findings.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Report } from '../../../src/types.js';
import { hostleak, json, SAMPLES } from '../../helpers/cli.js';
import { expectSameSides, HOST_ARGS, readSide, type Side } from '../../helpers/differential.js';
import { requireTools } from '../../helpers/tools.js';

requireTools('guestfish', 'qemu-img', 'tar', 'xfs_db', 'sfdisk', 'dd');

let tmp: string;
let disk: string;
let raw: string;
let native: Side;
let guestfs: Side;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hl-xfs-'));
  const tree = path.join(tmp, 'tree.tar');
  execFileSync('tar', ['-C', path.join(SAMPLES, 'leaky'), '-cf', tree, '.']);
  raw = path.join(tmp, 'xfs.raw');
  const script = [
    `sparse ${raw} 400M`,
    'run',
    'part-disk /dev/sda gpt',
    'mkfs xfs /dev/sda1 label:root',
    'mount /dev/sda1 /',
    `tar-in ${tree} /`,
    'rm-f /etc/fstab',
    'write /etc/fstab "LABEL=root / xfs defaults 0 0\\n"',
    'mkdir-p /srv/many',
    `ln-s ${'/nix/store/' + 'x'.repeat(700)} /srv/remote-link`,
    'touch /srv/pieces',
    ...Array.from({ length: 40 }, (_, i) => `pwrite /srv/pieces "piece-${i}-${'y'.repeat(100)}" ${i * 65536}`),
    ...Array.from({ length: 400 }, (_, i) => `touch /srv/many/file-with-a-longish-name-${i}`),
    'chown 1234 5678 /srv/pieces',
    'chmod 04750 /srv/pieces',
    'umount-all',
  ].join('\n');
  execFileSync('guestfish', [], { input: script, env: { ...process.env, LIBGUESTFS_BACKEND_SETTINGS: 'force_tcg' }, stdio: ['pipe', 'ignore', 'pipe'] });
  disk = path.join(tmp, 'xfs.qcow2');
  execFileSync('qemu-img', ['convert', '-c', '-f', 'raw', '-O', 'qcow2', raw, disk]);
  native = await readSide(disk, 'native', tmp);
  guestfs = await readSide(disk, 'guestfs', tmp);
}, 1_800_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('xfs natively and through the appliance', () => {
  it('the disk has what the test is about: a B+tree extent map and a remote symlink', () => {
    // xfs_db on the partition, cut out where sfdisk says it starts.
    const start = JSON.parse(execFileSync('sfdisk', ['-J', raw], { encoding: 'utf8' })).partitiontable.partitions[0].start as number;
    const part = path.join(tmp, 'part.xfs');
    execFileSync('dd', [`if=${raw}`, `of=${part}`, 'bs=512', `skip=${start}`, 'status=none', 'conv=sparse']);
    const db = (p: string) => execFileSync('xfs_db', ['-r', '-c', `path ${p}`, '-c', 'print core.format', part], { encoding: 'utf8' });
    expect(db('/srv/pieces')).toMatch(/core\.format = 3/);
    expect(db('/srv/remote-link')).toMatch(/core\.format = 2/);
  });

  it('native and guestfs agree on filesystems, entries (modes, owners, sizes, mtimes, targets) and findings', () => {
    expect(native.problems).toEqual([]);
    expectSameSides(native, guestfs);
    expect(native.filesystems.map((f) => [f.device, f.type, f.label, f.mountpoint])).toEqual([['/dev/sda1', 'xfs', 'root', '/']]);
    expect(native.entries.length).toBeGreaterThan(500);
    expect(native.entries.find((e) => e.path === '/srv/pieces')).toMatchObject({ mode: '4750', uid: 1234, gid: 5678, size: 39 * 65536 + 109 });
  });

  it('scan (auto) reads the disk natively and reports what guestfs reports', () => {
    // --no-nested: the in-process audit above (readSide) does not open nested images either.
    const r = hostleak(['scan', disk, '--format', 'json', '--no-nested', ...HOST_ARGS]);
    const t = json<Report>(r).targets[0]!;
    expect([r.status, t.backend, t.status, t.error]).toEqual([1, 'native', 'ok', null]);
    expect(t.findings.map((f) => [f.ruleId, f.path])).toEqual(guestfs.findings.map((f) => [f.ruleId, f.path]));
  });
});
