#!/usr/bin/env node
// Build disko-like GPT disk images from the sample trees, without root or loop devices:
//   ESP  vfat  PARTLABEL disk-main-ESP   (the trees' /boot contents; mkfs.vfat + mcopy)
//   root ext4  PARTLABEL disk-main-root  (everything else; mke2fs -d, then debugfs -w for owners/modes/times)
// assembled with sfdisk on a plain file + dd. Outputs under images-sample/out/:
//   leaky.raw leaky.qcow2 leaky.raw.zst clean.raw clean.qcow2
// and the leaky disk in every container builders ship (CONTAINERS below: VHD, VHDX, VMDK, VDI), via qemu-img convert.
// Deterministic: fixed UUIDs, hash seed, volume id, disk GUIDs, E2FSPROGS_FAKE_TIME / SOURCE_DATE_EPOCH.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildStamp, contentOf, haveTools, loadSpec, sh, variantEntries } from './build.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.join(here, 'out');

const SECTOR = 512;
const DISK_SECTORS = 131072; // 64 MiB
const ESP_START = 2048;
const ESP_SECTORS = 16384; // 8 MiB
const ROOT_START = ESP_START + ESP_SECTORS;
const ROOT_SECTORS = Math.floor((DISK_SECTORS - 34 - ROOT_START) / 8) * 8;

/** Fixed identities per variant, so images are byte-for-byte reproducible. */
const IDS = {
  leaky: { n: 1 },
  clean: { n: 2 },
  // A second build of leaky (rebuilds.json): other filesystem UUIDs and disk GUIDs, as a real rebuild has.
  'leaky-rebuilt': { n: 3 },
};
const uuid = (n, tag) => {
  const h = createHash('sha256').update(`hostleak-sample-${n}-${tag}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

/** Write the entries (paths relative to `base`, which is stripped) into a staging directory. */
async function stage(entries, dest, base, epoch) {
  await fsp.rm(dest, { recursive: true, force: true });
  await fsp.mkdir(dest, { recursive: true });
  for (const e of entries) {
    const rel = base === '/' ? e.path : e.path.slice(base.length);
    const p = path.join(dest, rel);
    if (e.type === 'dir') await fsp.mkdir(p, { recursive: true });
    else if (e.type === 'file') await fsp.writeFile(p, contentOf(e));
    else if (e.type === 'symlink') await fsp.symlink(e.target, p);
  }
  for (const e of [...entries].reverse()) {
    const rel = base === '/' ? e.path : e.path.slice(base.length);
    await fsp.lutimes(path.join(dest, rel), epoch, epoch);
  }
}

const TYPE_BITS = { dir: 0o040000, file: 0o100000, symlink: 0o120000 };

async function buildRootFs(entries, file, ids, epoch, tmp) {
  const staging = path.join(tmp, 'root');
  await stage(entries, staging, '/', epoch);
  await fsp.rm(file, { force: true });
  await fsp.writeFile(file, '');
  await fsp.truncate(file, ROOT_SECTORS * SECTOR);
  const env = { ...process.env, E2FSPROGS_FAKE_TIME: String(epoch), SOURCE_DATE_EPOCH: String(epoch) };
  sh('mke2fs', [
    '-q', '-F', '-t', 'ext4', '-b', '4096', '-L', 'nixos', '-U', uuid(ids.n, 'rootfs'),
    '-E', `hash_seed=${uuid(ids.n, 'hash')},root_owner=0:0`, '-d', staging, file,
  ], { env });
  // Owners, modes and times exactly as the spec says, whoever runs the build.
  const lines = [];
  for (const e of [{ path: '/', type: 'dir', uid: 0, gid: 0, mode: '0755' }, ...entries]) {
    const q = `"${e.path}"`;
    const mode = TYPE_BITS[e.type] | parseInt(e.mode, 8);
    lines.push(`sif ${q} uid ${e.uid}`, `sif ${q} gid ${e.gid}`, `sif ${q} mode 0${mode.toString(8)}`);
    for (const t of ['mtime', 'atime', 'ctime']) lines.push(`sif ${q} ${t} ${epoch}`);
  }
  const script = path.join(tmp, 'debugfs.cmds');
  await fsp.writeFile(script, lines.join('\n') + '\n');
  sh('debugfs', ['-w', '-f', script, file], { env });
  sh('e2fsck', ['-fn', file], { env });
}

async function buildEsp(entries, file, ids, epoch, tmp) {
  const staging = path.join(tmp, 'esp');
  await stage(entries, staging, '/boot', epoch);
  await fsp.rm(file, { force: true });
  const env = { ...process.env, SOURCE_DATE_EPOCH: String(epoch), MTOOLS_SKIP_CHECK: '1' };
  const volid = createHash('sha256').update(`esp-${ids.n}`).digest('hex').slice(0, 8);
  sh('mkfs.vfat', ['-C', '-n', 'ESP', '-i', volid, file, String((ESP_SECTORS * SECTOR) / 1024)], { env });
  const top = await fsp.readdir(staging);
  if (top.length > 0) {
    sh('mcopy', ['-i', file, '-s', '-m', '-Q', ...top.sort().map((n) => path.join(staging, n)), '::/'], { env });
  }
}

async function buildDisk(variant, ids, spec, tmp) {
  const entries = variantEntries(spec, variant);
  const espEntries = entries.filter((e) => e.path.startsWith('/boot/'));
  const rootEntries = entries.filter((e) => !e.path.startsWith('/boot/'));
  const rootImg = path.join(tmp, 'root.img');
  const espImg = path.join(tmp, 'esp.img');
  await buildRootFs(rootEntries, rootImg, ids, spec.epoch, tmp);
  await buildEsp(espEntries, espImg, ids, spec.epoch, tmp);
  const raw = path.join(outDir, `${variant}.raw`);
  await fsp.rm(raw, { force: true });
  await fsp.writeFile(raw, '');
  await fsp.truncate(raw, DISK_SECTORS * SECTOR);
  const table = [
    'label: gpt',
    `label-id: ${uuid(ids.n, 'disk').toUpperCase()}`,
    'unit: sectors',
    'first-lba: 2048',
    `start=${ESP_START}, size=${ESP_SECTORS}, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=${uuid(ids.n, 'esp-part').toUpperCase()}, name="disk-main-ESP"`,
    `start=${ROOT_START}, size=${ROOT_SECTORS}, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=${uuid(ids.n, 'root-part').toUpperCase()}, name="disk-main-root"`,
  ].join('\n');
  sh('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', raw], { input: table + '\n' });
  sh('dd', [`if=${espImg}`, `of=${raw}`, `bs=${SECTOR}`, `seek=${ESP_START}`, 'conv=notrunc,sparse', 'status=none']);
  sh('dd', [`if=${rootImg}`, `of=${raw}`, `bs=${SECTOR}`, `seek=${ROOT_START}`, 'conv=notrunc,sparse', 'status=none']);
  const qcow = path.join(outDir, `${variant}.qcow2`);
  await fsp.rm(qcow, { force: true });
  sh('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow]);
  const made = [raw, qcow];
  if (variant === 'leaky') {
    const zst = `${raw}.zst`;
    sh('zstd', ['-q', '-f', '-3', raw, '-o', zst]);
    made.push(zst);
    for (const c of CONTAINERS) {
      const out = path.join(outDir, c.file);
      await fsp.rm(out, { force: true });
      sh('qemu-img', ['convert', '-f', 'raw', '-O', c.format, ...(c.options ? ['-o', c.options] : []), raw, out]);
      made.push(out);
    }
  }
  return made;
}

/**
 * The leaky disk converted to each disk container `nixos-rebuild build-image` and cloud exports produce (amazon: dynamic
 * VHD, azure: fixed VHD, hyperv: VHDX, vmware: VMDK, virtualbox: stream-optimized VMDK in an OVA, VDI).
 */
export const CONTAINERS = [
  { file: 'leaky.vhd', format: 'vpc', options: 'subformat=dynamic' },
  { file: 'leaky-fixed.vhd', format: 'vpc', options: 'subformat=fixed' },
  { file: 'leaky.vhdx', format: 'vhdx', options: '' },
  { file: 'leaky.vmdk', format: 'vmdk', options: 'subformat=monolithicSparse' },
  { file: 'leaky-stream.vmdk', format: 'vmdk', options: 'subformat=streamOptimized' },
  { file: 'leaky.vdi', format: 'vdi', options: '' },
];

const TOOLS = ['mke2fs', 'debugfs', 'e2fsck', 'mkfs.vfat', 'mcopy', 'sfdisk', 'qemu-img', 'zstd', 'dd'];

export async function buildDisks({ force = false } = {}) {
  if (!haveTools(TOOLS, 'disk images')) return;
  const spec = loadSpec();
  const outputs = [...Object.keys(IDS).map((v) => path.join(outDir, `${v}.raw`)), ...CONTAINERS.map((c) => path.join(outDir, c.file))];
  const stamp = buildStamp('.disks-stamp', import.meta.url, [path.join(here, 'rebuilds.json')], outputs);
  if (!force && stamp.fresh) {
    console.log('images-sample: disk images up to date');
    return;
  }
  await fsp.mkdir(outDir, { recursive: true });
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'hostleak-samples-'));
  try {
    for (const [variant, ids] of Object.entries(IDS)) {
      const made = await buildDisk(variant, ids, spec, tmp);
      console.log(`images-sample: built ${made.map((m) => path.relative(process.cwd(), m)).join(' ')}`);
    }
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
  await stamp.write();
}

/**
 * The image the README's first command audits: leaky.raw, gzip-compressed (gzip is on every Debian machine) and
 * committed, so a fresh machine needs neither root, nor mke2fs/mtools, nor libguestfs to run the main job.
 * test/bundled.test.ts checks that it still matches what this script builds from trees.json.
 */
export const BUNDLED = path.join(here, 'leaky.raw.gz');

export function writeBundle() {
  const raw = path.join(outDir, 'leaky.raw');
  execFileSync('sh', ['-c', 'gzip -9 -n -c "$0" > "$1"', raw, BUNDLED]);
  console.log(`images-sample: wrote ${path.relative(process.cwd(), BUNDLED)}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  await buildDisks({ force: process.argv.includes('--force') });
  if (process.argv.includes('--bundle')) writeBundle();
}
