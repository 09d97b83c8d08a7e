/**
 * The native disk-container readers (VHD fixed and dynamic, VHDX, VMDK monolithicSparse and streamOptimized, VDI) on
 * the leaky sample disk converted by qemu-img (images-sample/build-disks.mjs):
 *   - the guest disk they present is byte for byte what `qemu-img convert -O raw` writes;
 *   - `scan --backend native` reports what it reports on the raw disk, seed findings included, and `auto` reads
 *     them natively;
 *   - a VHDX with writes left in its log is read with the log replayed, as qemu replays it;
 *   - images whose parent or extents are host files are refused, natively too with --allow-backing-file.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openNativeSource, type ByteSource } from '../../../src/backends/native/index.js';
import type { Report } from '../../../src/types.js';
import { hostleak, json, SAMPLES } from '../../helpers/cli.js';
import { runNativeChild } from '../../helpers/native-child.js';
import { requireTools } from '../../helpers/tools.js';
import { vhdxLayout, writeDirtyLog } from '../../helpers/vhdx-log.js';

requireTools('qemu-img', 'gzip');

const CONTAINERS: Array<[string, string, string]> = [
  ['leaky.vhd', 'vpc', 'VhdSource'],
  ['leaky-fixed.vhd', 'vpc', 'VhdSource'],
  ['leaky.vhdx', 'vhdx', 'VhdxSource'],
  ['leaky.vmdk', 'vmdk', 'VmdkSource'],
  ['leaky-stream.vmdk', 'vmdk', 'VmdkSource'],
  ['leaky.vdi', 'vdi', 'VdiSource'],
];
const SEEDS = ['orphaned-home', 'root-owned-nix-defexpr', 'dangling-channel-symlink'];
const HOST = ['--host-user', 'bob', '--host-home', '/home/bob', '--host-name', 'bobs-laptop'];

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hl-containers-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function sha256(src: ByteSource, length = src.size): string {
  const h = createHash('sha256');
  for (let o = 0; o < length; o += 1 << 20) h.update(src.read(o, Math.min(1 << 20, length - o)));
  return h.digest('hex');
}

/** What qemu presents as the guest disk: `qemu-img convert -O raw`, with the format given explicitly. */
function qemuRaw(file: string, format: string): string {
  const out = path.join(tmp, `${path.basename(file)}.${format}.raw`);
  execFileSync('qemu-img', ['convert', '-f', format, '-O', 'raw', file, out]);
  return out;
}

function findingKeys(r: Report) {
  return r.targets[0]!.findings.map((f) => ({ ruleId: f.ruleId, path: f.path, severity: f.severity, message: f.message, evidence: f.evidence }));
}

describe('native disk containers on the leaky sample', () => {
  it.each(CONTAINERS)('%s: the guest disk equals qemu-img convert -O raw', (name, format, reader) => {
    const file = path.join(SAMPLES, name);
    const src = openNativeSource(file);
    try {
      expect(src.constructor.name).toBe(reader);
      const raw = readFileSync(qemuRaw(file, format));
      expect(raw.length).toBe(src.size);
      expect(sha256(src)).toBe(createHash('sha256').update(raw.subarray(0, src.size)).digest('hex'));
      // The sample disk itself (64 MiB) is a prefix of every container's disk (VHD rounds up to its CHS geometry).
      const sample = readFileSync(path.join(SAMPLES, 'leaky.raw'));
      expect(src.read(0, sample.length).equals(sample)).toBe(true);
    } finally {
      src.close?.();
    }
  });

  let rawReport: Report;
  beforeAll(() => {
    const r = hostleak(['scan', path.join(SAMPLES, 'leaky.raw'), '--backend', 'native', '--format', 'json', ...HOST]);
    expect(r.status).toBe(1);
    rawReport = json<Report>(r);
  });

  it.each(CONTAINERS)('%s: scan --backend native reports what the raw disk reports, seeds included', (name) => {
    const r = hostleak(['scan', path.join(SAMPLES, name), '--backend', 'native', '--format', 'json', ...HOST]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(1);
    const report = json<Report>(r);
    expect(report.targets[0]).toMatchObject({ status: 'ok', error: null, backend: 'native' });
    expect(report.targets[0]!.filesystems).toEqual(rawReport.targets[0]!.filesystems);
    expect(findingKeys(report)).toEqual(findingKeys(rawReport));
    const seeds = report.targets[0]!.findings.filter((f) => SEEDS.includes(f.ruleId) && f.path.startsWith('/home/bob'));
    expect(seeds.map((f) => [f.ruleId, f.path])).toEqual([
      ['orphaned-home', '/home/bob'],
      ['root-owned-nix-defexpr', '/home/bob/.nix-defexpr'],
      ['dangling-channel-symlink', '/home/bob/.nix-defexpr/channels'],
    ]);
  });

  it('--backend auto reads every container natively', () => {
    const r = hostleak(['scan', ...CONTAINERS.map(([n]) => path.join(SAMPLES, n)), '--format', 'json', ...HOST]);
    expect(r.status).toBe(1);
    expect(json<Report>(r).targets.map((t) => [path.basename(t.target), t.status, t.backend])).toEqual(
      CONTAINERS.map(([n]) => [n, 'ok', 'native']),
    );
  });
});

describe('native disk containers on the corpus', () => {
  it.each(['dfvfs_ext2.vmdk', 'dfvfs_ext2.vhd'])('%s lists the same ext2 as the raw copy', (name) => {
    const raw = path.join(tmp, 'dfvfs_ext2.raw');
    execFileSync('sh', ['-c', 'gzip -dc "$0" > "$1"', path.resolve('test/fixtures/corpus/dfvfs_ext2.raw.gz'), raw]);
    const want = runNativeChild(raw, { full: true });
    const got = runNativeChild(path.resolve('test/fixtures/corpus', name), { full: true });
    expect(got.error).toBeUndefined();
    expect(got.problems).toEqual([]);
    expect(got.views!.length).toBe(1);
    expect(got.views).toEqual(want.views);
  });
});

/** Patch bytes of a copy of a sample at given offsets. */
function patched(name: string, out: string, edits: (buf: Buffer) => void): string {
  const file = path.join(tmp, out);
  const buf = readFileSync(path.join(SAMPLES, name));
  edits(buf);
  writeFileSync(file, buf);
  return file;
}

function vhdChecksum(footer: Buffer): void {
  footer.writeUInt32BE(0, 64);
  let sum = 0;
  for (const b of footer) sum += b;
  footer.writeUInt32BE(~sum >>> 0, 64);
}

describe('host files named by a container are refused', () => {
  const refused = (file: string, why: RegExp) => {
    for (const extra of [[], ['--allow-backing-file']]) {
      const r = hostleak(['scan', file, '--backend', 'native', '--format', 'json', ...extra]);
      expect(r.status).toBe(3);
      const t = json<Report>(r).targets[0]!;
      expect(t.status).toBe('failed');
      expect(t.error).toMatch(extra.length ? why : /refus|backing|parent|extent/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  };

  it('a differencing VHD', () => {
    const file = patched('leaky.vhd', 'diff.vhd', (b) => {
      for (const at of [0, b.length - 512]) {
        const f = b.subarray(at, at + 512);
        f.writeUInt32BE(4, 60);
        vhdChecksum(f);
      }
    });
    refused(file, /vhd: refusing a differencing disk/);
  });

  it('a VMDK with a parent disk, and a descriptor naming extent files', () => {
    const child = path.join(tmp, 'child.vmdk');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', '-b', path.join(SAMPLES, 'leaky.vmdk'), '-F', 'vmdk', child]);
    refused(child, /vmdk: refusing an image with a parent on the host/);
    const flat = path.join(tmp, 'flat.vmdk');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicFlat', path.join(SAMPLES, 'leaky.raw'), flat]);
    refused(flat, /only hosted sparse extents/);
  });

  it('a differencing VDI', () => {
    const file = patched('leaky.vdi', 'diff.vdi', (b) => b.writeUInt32LE(4, 0x4c));
    refused(file, /vdi: refusing a differencing image/);
  });
});

/**
 * A VHDX that was not closed cleanly: one log entry (MS-VHDX 2.3) rewrites a 4 KiB sector of a payload block and the
 * header names the log. qemu replays the log when it opens the image for writing (`qemu-img check -r all`); the
 * native reader must present the same disk without writing.
 */
describe('VHDX log replay', () => {
  it('the native reader presents the disk with the log replayed, as qemu does', () => {
    const file = path.join(tmp, 'dirty.vhdx');
    copyFileSync(path.join(SAMPLES, 'leaky.vhdx'), file);
    const sector = Buffer.alloc(4096, 0x5a);
    sector.write('replayed from the log', 100);
    writeDirtyLog(file, vhdxLayout(file).firstBlock + 64 * 4096, sector);
    const src = openNativeSource(file);
    const ours = sha256(src);
    expect((src as unknown as { problems: string[] }).problems).toEqual([]);
    src.close?.();
    // qemu replays on a writable open; then the file is clean and reads as the same disk.
    const replayed = path.join(tmp, 'replayed.vhdx');
    copyFileSync(file, replayed);
    execFileSync('qemu-img', ['check', '-q', '-r', 'all', '-f', 'vhdx', replayed]);
    const qemu = readFileSync(qemuRaw(replayed, 'vhdx'));
    expect(ours).toBe(createHash('sha256').update(qemu).digest('hex'));
    expect(qemu.indexOf('replayed from the log')).toBeGreaterThan(0);
    // Without replay the sector would read as it was: the log changed what the disk holds.
    expect(readFileSync(qemuRaw(path.join(SAMPLES, 'leaky.vhdx'), 'vhdx')).indexOf('replayed from the log')).toBe(-1);
  });

  it('a log that cannot be replayed makes the audit partial (exit 3), never silently stale', () => {
    const file = path.join(tmp, 'unreadable-log.vhdx');
    copyFileSync(path.join(SAMPLES, 'leaky.vhdx'), file);
    writeDirtyLog(file, vhdxLayout(file).firstBlock, Buffer.alloc(4096, 1), 0);
    const r = hostleak(['scan', file, '--backend', 'native', '--format', 'json', ...HOST]);
    expect(r.status).toBe(3);
    const t = json<Report>(r).targets[0]!;
    expect(t.status).toBe('partial');
    expect(JSON.stringify(t)).toContain('vhdx: the log (not cleanly closed) is unreadable');
  });
});
