/**
 * End-to-end through the built CLI and the guestfs backend on the sample disk images (images-sample/out, built by
 * `npm run samples`). Each appliance launch costs seconds under TCG, so targets are batched per CLI run.
 */
import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, promises as fsp, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requireTools } from '../helpers/tools.js';

const CLI = path.resolve('dist/src/bin/hostleak.js');
const OUT = path.resolve('images-sample/out');
const SEEDS = ['dangling-channel-symlink', 'orphaned-home', 'root-owned-nix-defexpr'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

let tmp: string;

/** Run the CLI with a private TMPDIR, so its appliance processes and temp files can be found afterwards. */
export function runCli(args: string[], opts: { onSpawn?: (pid: number) => void; tmpdir?: string } = {}): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: {
        ...process.env,
        TMPDIR: opts.tmpdir ?? tmp,
        NO_COLOR: '1',
        // Reuse the appliance cache of the machine (libguestfs would otherwise rebuild it inside our TMPDIR).
        LIBGUESTFS_CACHEDIR: process.env.LIBGUESTFS_CACHEDIR ?? process.env.TMPDIR ?? '/var/tmp',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    if (child.pid) opts.onSpawn?.(child.pid);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}

/** Processes whose command line or environment mentions `marker` (our private TMPDIR). */
export function processesMentioning(marker: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      if (/\) Z /.test(stat)) continue; // zombies hold no resources
      const env = readFileSync(`/proc/${pid}/environ`, 'latin1');
      if (cmd.includes(marker) || env.includes(marker)) found.push(`${pid} ${cmd.replace(/\0/g, ' ').slice(0, 80)}`);
    } catch {
      /* gone, or not ours to read */
    }
  }
  return found;
}

requireTools('guestfish', 'qemu-img', 'zstd', 'mke2fs', 'mkfs.vfat', 'mcopy', 'sfdisk', 'debugfs');
const d = describe;

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hl-e2e-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

d('guestfs backend on the sample disk images', () => {
  it('finds the three seed findings on leaky raw, qcow2 and zst with one appliance per image, and assembles the ESP at /boot', async () => {
    const targets = ['leaky.raw', 'leaky.qcow2', 'leaky.raw.zst', 'clean.raw'].map((f) => path.join(OUT, f));
    const r = await runCli(['scan', '--backend', 'guestfs', '--accel', 'tcg', '--format', 'json', '--verbose', ...targets]);
    expect(r.stderr).not.toMatch(/internal error|at .*\.js:\d+/);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.targets).toHaveLength(4);
    for (const t of report.targets.slice(0, 3)) {
      expect(t).toMatchObject({ status: 'ok', backend: 'guestfs', error: null });
      const seeds = t.findings.filter((f: { path: string }) => f.path.startsWith('/home/bob'));
      expect([...new Set(seeds.map((f: { ruleId: string }) => f.ruleId))]).toEqual(expect.arrayContaining(SEEDS));
      // The ESP's seed is reported where the booted system sees it.
      expect(t.findings).toContainEqual(
        expect.objectContaining({ ruleId: 'baked-random-seed', path: '/boot/loader/random-seed', filesystem: '/dev/sda1' }),
      );
      const dangling = t.findings.find((f: { ruleId: string }) => f.ruleId === 'dangling-channel-symlink');
      expect(dangling).toMatchObject({ path: '/home/bob/.nix-defexpr/channels', filesystem: '/dev/sda2' });
      expect(t.filesystems).toEqual([
        { device: '/dev/sda1', type: 'vfat', label: 'ESP', mountpoint: '/boot' },
        { device: '/dev/sda2', type: 'ext4', label: 'nixos', mountpoint: '/' },
        // The sample's nested scratch image is audited by default and named as a filesystem of its own.
        { device: '/var/lib/machines/builder-scratch.raw:/dev/sda', type: 'squashfs', label: null, mountpoint: null },
      ]);
    }
    expect(report.targets[3]).toMatchObject({ status: 'ok', findings: [] });
    // Exactly one appliance launch per image, and nothing left behind.
    const launches = r.stderr.split('\n').filter((l) => /guestfs: launching appliance/.test(l));
    expect(launches).toHaveLength(4);
    expect(processesMentioning(tmp)).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('exits 0 on the clean qcow2; --verbose says what the file reads cost', async () => {
    const r = await runCli(['scan', '--backend', 'guestfs', '--accel', 'tcg', '--verbose', path.join(OUT, 'clean.qcow2')]);
    expect(r.stdout).toMatch(/no findings/);
    expect(r.code).toBe(0);
    // One pread per non-empty file (per MiB of it): /etc/fstab, the account files, the text files.
    const m = /guestfs: read (\d+) files \(([\d.]+) MiB\) in (\d+) pread commands over (\d+) batches; (\d+) guestfish commands in all$/m.exec(r.stderr);
    expect(m).not.toBeNull();
    const [files, preads, batches, commands] = [m![1], m![3], m![4], m![5]].map(Number);
    expect(files).toBeGreaterThanOrEqual(3);
    expect(preads).toBeGreaterThan(0); // an empty file costs no pread
    expect(batches).toBeGreaterThan(1);
    expect(commands).toBeGreaterThan(preads);
  });

  it('fails garbage, truncated and backing-file images with exit 3 and one-line reasons, quickly', async () => {
    const garbage = path.join(tmp, '..', `hl-garbage-${process.pid}.img`);
    const cut = path.join(tmp, '..', `hl-cut-${process.pid}.raw`);
    const overlay = path.join(tmp, '..', `hl-overlay-${process.pid}.qcow2`);
    await fsp.writeFile(garbage, Buffer.alloc(3 * 1024 * 1024, 'garbage '));
    await fsp.copyFile(path.join(OUT, 'leaky.raw'), cut);
    await fsp.truncate(cut, 30 * 1024 * 1024);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', '/etc/hostname', '-F', 'raw', overlay]);
    try {
      // The same refusals whichever backend would have read the image: they happen before any is chosen.
      for (const backend of ['auto', 'native']) {
        const other = await runCli(['scan', '--backend', backend, '--format', 'json', garbage, cut, overlay]);
        expect(other.code).toBe(3);
        expect(JSON.parse(other.stdout).targets.map((x: { status: string }) => x.status)).toEqual(['failed', 'failed', 'failed']);
      }
      const r = await runCli(['scan', '--backend', 'guestfs', '--accel', 'tcg', '--format', 'json', garbage, cut, overlay]);
      expect(r.code).toBe(3);
      const t = JSON.parse(r.stdout).targets;
      expect(t.map((x: { status: string }) => x.status)).toEqual(['failed', 'failed', 'failed']);
      expect(t[0].error).toMatch(/unrecognised image format/);
      expect(t[1].error).toMatch(/truncated/);
      expect(t[2].error).toMatch(/backing file.*\/etc\/hostname/);
      for (const x of t) {
        expect(x.error).not.toContain('\n');
        expect(x.durationMs).toBeLessThan(60000);
      }
      expect(r.stderr.trim().split('\n')).toHaveLength(3);
    } finally {
      for (const f of [garbage, cut, overlay]) await fsp.rm(f, { force: true });
    }
  });

  it('kills the appliance on --timeout and leaves no process behind', async () => {
    const r = await runCli(['scan', '--backend', 'guestfs', '--accel', 'tcg', '--timeout', '4', '--format', 'json', path.join(OUT, 'leaky.raw.zst')]);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout).targets[0].error).toMatch(/timed out after 4 s/);
    expect(processesMentioning(tmp)).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('cleans up the appliance and the decompressed copy on SIGINT', async () => {
    let pid = 0;
    const running = runCli(['scan', '--backend', 'guestfs', '--accel', 'tcg', path.join(OUT, 'leaky.raw.zst')], { onSpawn: (p) => (pid = p) });
    // Wait until the appliance is starting (a guestfish/qemu with our TMPDIR exists).
    const until = Date.now() + 60000;
    const appliance = () => processesMentioning(tmp).filter((p) => /guestfish|qemu/.test(p));
    while (appliance().length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    expect(appliance().length).toBeGreaterThan(0);
    process.kill(pid, 'SIGINT');
    const r = await running;
    expect(r.code).not.toBe(0);
    await new Promise((res) => setTimeout(res, 500));
    expect(processesMentioning(tmp)).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]);
  });
});
