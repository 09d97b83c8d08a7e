#!/usr/bin/env node
// The hostile set: small images an attacker who controls the image would hand hostleak. Each builder writes one case
// into a directory and returns what a test needs to know about it. Built with real tools (qemu-img, mke2fs, zstd)
// plus byte patches where a tool cannot make the hostile shape.
//
//   node images-sample/hostile.mjs DIR        builds every case into DIR (for poking at them by hand)
//   import { buildHostile } from './hostile.mjs'; await buildHostile(dir, ['vmdk-flat-plus'])
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A string that must never appear in any output: it only exists in "host" files the images point at. */
export const HOST_MARKER = 'HOSTBYTE-7f3a9c1e5d';

const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });

function patch(file, offset, bytes) {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** A host file an image must never make us read: an ext2 filesystem holding the marker in /etc/hostname. */
function hostDisk(dir) {
  const file = path.join(dir, 'host-secret.raw');
  const tree = path.join(dir, 'host-tree');
  mkdirSync(path.join(tree, 'etc'), { recursive: true });
  writeFileSync(path.join(tree, 'etc/hostname'), `${HOST_MARKER}\n`);
  writeFileSync(path.join(tree, 'etc/passwd'), `root:x:0:0:${HOST_MARKER}:/root:/bin/sh\n`);
  run('mke2fs', ['-q', '-F', '-t', 'ext2', '-d', tree, file, '2M']);
  return file;
}

function textDescriptor(extentLines, pre = '') {
  return (
    '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n' +
    pre +
    '\n# Extent description\n' +
    extentLines +
    '\n\n# The Disk Data Base\n#DDB\n\nddb.virtualHWVersion = "4"\nddb.geometry.cylinders = "4"\n' +
    'ddb.geometry.heads = "16"\nddb.geometry.sectors = "63"\nddb.adapterType = "ide"\n'
  );
}

/** A qemu-made monolithicSparse VMDK (its descriptor at 0x200). */
function sparseVmdk(file, dir) {
  const raw = path.join(dir, 'inner.raw');
  const tree = path.join(dir, 'inner-tree');
  mkdirSync(path.join(tree, 'etc'), { recursive: true });
  writeFileSync(path.join(tree, 'etc/hostname'), 'image\n');
  run('mke2fs', ['-q', '-F', '-t', 'ext2', '-d', tree, raw, '2M']);
  run('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', raw, file]);
  return file;
}

const SECTORS = (2 * 1024 * 1024) / 512;

export const CASES = {
  // Text descriptors whose FLAT extent names a host file in ways a strict parser misses but qemu's sscanf takes.
  'vmdk-flat-plus': (dir) => {
    const host = hostDisk(dir);
    const f = path.join(dir, 'flat-plus.vmdk');
    writeFileSync(f, textDescriptor(`RW +${SECTORS} FLAT "${host}" 0`));
    return { file: f, expect: 3, reason: /extent file/ };
  },
  'vmdk-flat-linebreak': (dir) => {
    const host = hostDisk(dir);
    const f = path.join(dir, 'flat-linebreak.vmdk');
    writeFileSync(f, textDescriptor(`RW ${SECTORS}\nFLAT\n"${host}"\n0`));
    return { file: f, expect: 3, reason: /extent file/ };
  },
  'vmdk-flat-after-64k': (dir) => {
    const host = hostDisk(dir);
    const f = path.join(dir, 'flat-after-64k.vmdk');
    writeFileSync(f, textDescriptor(`RW ${SECTORS} FLAT "${host}" 0`, '#'.repeat(79).concat('\n').repeat(1024)));
    return { file: f, expect: 3, reason: /extent file/ };
  },
  // A sparse VMDK whose header's descriptor offset is zeroed: qemu still reads the parent hint at 0x200 (in a comment).
  'vmdk-sparse-parent-hint': (dir) => {
    const host = hostDisk(dir);
    const parent = path.join(dir, 'host-parent.vmdk');
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', host, parent]);
    const f = sparseVmdk(path.join(dir, 'sparse-parent.vmdk'), dir);
    const buf = readFileSync(f);
    const desc = buf.subarray(0x200, 0x200 + 10240).toString('latin1').replace(/\0.*$/s, '');
    const hostile = `# note: parentFileNameHint="${parent}"\n` + desc.replace('parentCID=ffffffff', 'parentCID=ffffffff');
    const bytes = Buffer.alloc(10240);
    bytes.write(hostile.slice(0, 10239), 'latin1');
    patch(f, 0x200, bytes);
    patch(f, 28, Buffer.alloc(16)); // descriptor offset and size: 0
    return { file: f, expect: 3, reason: /parent/ };
  },
  // A sparse VMDK header with capacity 0 and a descriptor offset: qemu parses that descriptor's extents.
  'vmdk-capacity0-descriptor': (dir) => {
    const host = hostDisk(dir);
    const f = sparseVmdk(path.join(dir, 'capacity0.vmdk'), dir);
    patch(f, 12, Buffer.alloc(8));
    const bytes = Buffer.alloc(10240);
    bytes.write(textDescriptor(`RW ${SECTORS} FLAT "${host}" 0`), 'latin1');
    patch(f, 0x200, bytes);
    return { file: f, expect: 3, reason: /extent file/ };
  },
  // Differencing VHD / VHDX / VDI: their data lives in a parent on the host.
  'vhd-differencing': (dir) => {
    const f = path.join(dir, 'diff.vhd');
    run('qemu-img', ['create', '-q', '-f', 'vpc', '-o', 'subformat=dynamic', f, '4M']);
    const b = Buffer.alloc(4);
    b.writeUInt32BE(4);
    patch(f, 60, b);
    return { file: f, expect: 3, reason: /differencing VHD/ };
  },
  'vhdx-parent-locator': (dir) => {
    const f = path.join(dir, 'diff.vhdx');
    run('qemu-img', ['create', '-q', '-f', 'vhdx', f, '4M']);
    // Turn the page-83 metadata item into a parent locator (what a differencing VHDX has).
    const page83 = guid('BECA12AB-B2E6-4523-93EF-C309E000C746');
    const buf = readFileSync(f);
    for (let at = buf.indexOf(page83); at >= 0; at = buf.indexOf(page83, at + 1)) {
      patch(f, at, guid('A8D35F2D-B30B-454D-ABF7-D3D84834AB0C'));
    }
    return { file: f, expect: 3, reason: /differencing VHDX/ };
  },
  // Decompression bombs: 50 GB of zeros (costs time, not disk: written sparse) and 4 GB of data (costs disk).
  'zero-bomb': (dir) => ({ file: zstdRle(path.join(dir, 'zeros.img.zst'), 0, 50 * 1000 ** 3), expect: 3, reason: /timed out/ }),
  'data-bomb': (dir) => ({ file: zstdRle(path.join(dir, 'data.img.zst'), 0x41, 4 * 1000 ** 3), expect: 3, reason: /limit|timed out/ }),
  // Readers that trust the image's counts: a block repeated in one directory's map, a FAT chain looping on itself,
  // tens of thousands of directories sharing one block.
  'ext2-repeated-block': (dir) => ({ file: ext2RepeatedBlock(dir), expect: 0, reason: /met twice/ }),
  'fat32-root-loop': (dir) => ({ file: fat32Loop(dir), expect: 0, reason: /loops/ }),
  'ext2-shared-dir-block': (dir) => ({ file: ext2SharedBlock(dir, 77_000), expect: 0, reason: /met twice/ }),
  // A huge leaky image: 100,000 findings must still be reported.
  'many-findings': (dir) => ({ file: manyFindings(dir, 5000), expect: 1, reason: /dangling/ }),
  // Content rules must stay linear in the bytes read.
  'pem-headers': (dir) => ({ file: pemHeaders(dir, 40), expect: 0, reason: /./ }),
  'host-identity-many': (dir) => ({ file: hostIdentityMany(dir, 5000), expect: 0, reason: /hostuser/ }),
  // Output injection and secrets in metadata.
  'output-injection': (dir) => ({ file: outputInjection(dir), expect: 1, reason: /./ }),
  // A qcow2 qemu refuses (its L1 table offset is invalid), compressed so that the prepared copy is a temp file.
  'qcow2-bad-l1': (dir) => {
    const f = path.join(dir, 'bad-l1.qcow2');
    run('qemu-img', ['create', '-q', '-f', 'qcow2', f, '16M']);
    patch(f, 40, Buffer.from([0, 0, 0, 0, 0, 1, 0x23, 0x45]));
    run('zstd', ['-q', '-f', '--rm', f, '-o', `${f}.zst`]);
    return { file: `${f}.zst`, expect: 3, reason: /qemu: Active L1 table offset invalid/ };
  },
  'vdi-differencing': (dir) => {
    const f = path.join(dir, 'diff.vdi');
    run('qemu-img', ['create', '-q', '-f', 'vdi', f, '4M']);
    const b = Buffer.alloc(4);
    b.writeUInt32LE(4);
    patch(f, 0x4c, b);
    return { file: f, expect: 3, reason: /differencing/ };
  },
  // The host boundary: paths a target names must stay inside it.
  // A result folder whose hydra-build-products names a product through a symlinked folder (`sub -> host dir`), a
  // store path through it, and a host path directly; a product link out of it; and no product of its own.
  'result-symlinked-folder': (dir) => {
    const host = hostDisk(dir);
    const result = path.join(dir, 'result');
    mkdirSync(path.join(result, 'nix-support'), { recursive: true });
    symlinkSync(path.dirname(host), path.join(result, 'sub'));
    const lines = [
      `file raw-image ${result}/sub/${path.basename(host)}`,
      `file raw-image /nix/store/0000000000000000000000000000000a-fake/sub/${path.basename(host)}`,
      `file raw-image ${host}`,
    ];
    writeFileSync(path.join(result, 'nix-support/hydra-build-products'), lines.join('\n') + '\n');
    return { file: result, expect: 3, reason: /neither a root tree/ };
  },
  'result-link-out': (dir) => {
    const host = hostDisk(dir);
    const result = path.join(dir, 'result');
    mkdirSync(result, { recursive: true });
    symlinkSync(host, path.join(result, 'disk.raw'));
    return { file: result, expect: 3, reason: /neither a root tree/ };
  },
  // A hydra line naming a host path that does not exist: must read exactly like one that does (no existence oracle).
  'result-missing-host': (dir) => {
    const result = path.join(dir, 'result');
    mkdirSync(path.join(result, 'nix-support'), { recursive: true });
    symlinkSync(path.join(dir, 'no-such-host-dir'), path.join(result, 'sub'));
    writeFileSync(path.join(result, 'nix-support/hydra-build-products'), `file raw-image ${result}/sub/host-secret.raw\n`);
    return { file: result, expect: 3, reason: /neither a root tree/ };
  },
  // A VMDK descriptor as a member of an archive: --allow-backing-file must not reach it (it names a host disk).
  'tar-vmdk-descriptor': (dir) => {
    const host = hostDisk(dir);
    const tree = path.join(dir, 'tartree');
    mkdirSync(tree, { recursive: true });
    writeFileSync(path.join(tree, 'disk.vmdk'), textDescriptor(`RW ${SECTORS} FLAT "${host}" 0`, '#'.repeat(79).concat('\n').repeat(1024)));
    const f = path.join(dir, 'descriptor.tar');
    run('tar', ['-cf', f, '-C', tree, 'disk.vmdk']);
    return { file: f, expect: 3, reason: /extent file/ };
  },
  // A VMDK descriptor found inside a filesystem image: --nested --allow-backing-file must not make qemu read the host.
  'nested-vmdk-descriptor': (dir) => {
    const host = hostDisk(dir);
    const tree = path.join(dir, 'nested-tree');
    mkdirSync(path.join(tree, 'etc'), { recursive: true });
    mkdirSync(path.join(tree, 'images'), { recursive: true });
    writeFileSync(path.join(tree, 'etc/hostname'), 'image\n');
    writeFileSync(path.join(tree, 'images/disk.vmdk'), textDescriptor(`RW ${SECTORS} FLAT "${host}" 0`, '#'.repeat(79).concat('\n').repeat(64)));
    const f = path.join(dir, 'outer.ext4');
    run('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, f, '8M']);
    return { file: f, expect: 3, reason: /extent file/ };
  },
};

/**
 * A zstd frame of RLE blocks: `bytes` copies of `byte` in 4 bytes per 128 KiB (a 50 GB frame is 1.6 MB). zstd can
 * only make such a stream by compressing the whole payload; writing the frame directly keeps the builder instant.
 */
function zstdRle(file, byte, bytes) {
  const BLOCK = 128 * 1024;
  const blocks = Math.ceil(bytes / BLOCK);
  const out = Buffer.alloc(6 + blocks * 4);
  out.writeUInt32LE(0xfd2fb528, 0);
  out[4] = 0x00; // no content size, not single segment, no checksum, no dictionary
  out[5] = 0x38; // window 128 KiB
  for (let i = 0; i < blocks; i++) {
    const size = i === blocks - 1 ? bytes - i * BLOCK : BLOCK;
    const header = (size << 3) | (1 << 1) | (i === blocks - 1 ? 1 : 0);
    const at = 6 + i * 4;
    out[at] = header & 0xff;
    out[at + 1] = (header >> 8) & 0xff;
    out[at + 2] = (header >> 16) & 0xff;
    out[at + 3] = byte;
  }
  writeFileSync(file, out);
  return file;
}

/** Little-endian u32 array as bytes. */
function u32s(values) {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32LE(v, i * 4));
  return b;
}

/** An ext2 (1 KiB blocks) whose /d has its data block B repeated through every block-map slot: 256 MiB of B. */
function ext2RepeatedBlock(dir) {
  const tree = path.join(dir, 'tree');
  mkdirSync(path.join(tree, 'd'), { recursive: true });
  for (let i = 0; i < 40; i++) writeFileSync(path.join(tree, 'd', `file-with-a-longish-name-${i}`), 'x\n');
  const f = path.join(dir, 'repeat.ext2');
  run('mke2fs', ['-q', '-F', '-t', 'ext2', '-b', '1024', '-d', tree, f, '4M']);
  const stat = run('debugfs', ['-R', 'blocks /d', f]).toString().trim().split(/\s+/);
  const b = Number(stat[0]);
  const [ind, dind, tind] = [4000, 4001, 4002];
  patch(f, ind * 1024, u32s(Array(256).fill(b)));
  patch(f, dind * 1024, u32s(Array(256).fill(ind)));
  patch(f, tind * 1024, u32s(Array(256).fill(dind)));
  const cmds = [...Array(12).keys()].map((i) => `sif /d block[${i}] ${b}`);
  cmds.push(`sif /d block[IND] ${ind}`, `sif /d block[DIND] ${dind}`, `sif /d block[TIND] ${tind}`, `sif /d size ${256 * 1024 * 1024}`);
  const script = path.join(dir, 'debugfs.cmds');
  writeFileSync(script, cmds.join('\n') + '\n');
  run('debugfs', ['-w', '-f', script, f]);
  return f;
}

/** A FAT32 whose root directory's cluster chain points back at itself. */
function fat32Loop(dir) {
  const f = path.join(dir, 'loop.fat32');
  run('mkfs.vfat', ['-C', '-F', '32', f, String(40 * 1024)]);
  const bs = readFileSync(f).subarray(0, 512);
  const reserved = bs.readUInt16LE(14);
  const fats = bs[16];
  const fatSectors = bs.readUInt32LE(36);
  const root = bs.readUInt32LE(44);
  for (let i = 0; i < fats; i++) patch(f, (reserved + i * fatSectors) * 512 + root * 4, u32s([root]));
  return f;
}

/**
 * An ext2 (4 KiB blocks) with `count` directory inodes that all use one data block S, and S lists 300 of them: a
 * walk that trusts the metadata lists 300 names under each of `count` directories.
 */
function ext2SharedBlock(dir, count) {
  const tree = path.join(dir, 'tree');
  mkdirSync(path.join(tree, 'd'), { recursive: true });
  const f = path.join(dir, 'shared.ext2');
  run('mke2fs', ['-q', '-F', '-t', 'ext2', '-b', '4096', '-I', '128', '-N', String(count + 64), '-d', tree, f, '64M']);
  const img = readFileSync(f);
  const sb = img.subarray(1024, 2048);
  const inodesPerGroup = sb.readUInt32LE(0x28);
  const inodeSize = sb.readUInt16LE(0x58);
  const groups = Math.ceil(sb.readUInt32LE(0x0) / inodesPerGroup);
  const gdt = img.subarray(4096, 4096 + groups * 32);
  const table = (g) => gdt.readUInt32LE(g * 32 + 8);
  const dInode = Number(/Inode: (\d+)/.exec(run('debugfs', ['-R', 'stat /d', f]).toString())[1]);
  const shared = Number(run('debugfs', ['-R', 'blocks /d', f]).toString().trim().split(/\s+/)[0]);
  const first = 32; // past the reserved inodes and /d
  const inodeAt = (ino) => table(Math.floor((ino - 1) / inodesPerGroup)) * 4096 + ((ino - 1) % inodesPerGroup) * inodeSize;
  const dirInode = Buffer.alloc(128);
  dirInode.writeUInt16LE(0x41ed, 0); // drwxr-xr-x
  dirInode.writeUInt32LE(4096, 4); // size
  dirInode.writeUInt16LE(2, 26); // links
  dirInode.writeUInt32LE(8, 28); // 512-byte sectors
  dirInode.writeUInt32LE(shared, 40); // block[0]
  const fd = openSync(f, 'r+');
  try {
    for (let i = 0; i < count; i++) writeSync(fd, dirInode, 0, 128, inodeAt(first + i));
    // S: ".", "..", then 300 entries naming the first 300 of those inodes, the last one padded to the block end.
    const blk = Buffer.alloc(4096);
    let p = 0;
    const entry = (ino, name, last) => {
      const len = last ? 4096 - p : (8 + name.length + 3) & ~3;
      blk.writeUInt32LE(ino, p);
      blk.writeUInt16LE(len, p + 4);
      blk[p + 6] = name.length;
      blk[p + 7] = 2; // directory
      blk.write(name, p + 8, 'latin1');
      p += len;
    };
    entry(dInode, '.', false);
    entry(2, '..', false);
    for (let i = 0; i < 300; i++) entry(first + (i % count), `s${i}`, i === 299);
    writeSync(fd, blk, 0, 4096, shared * 4096);
  } finally {
    closeSync(fd);
  }
  return f;
}

/** An ext4 with `dirs` x 20 dangling symlinks: 20 per directory stay separate findings (no aggregation). */
function manyFindings(dir, dirs) {
  const tree = path.join(dir, 'tree');
  for (let d = 0; d < dirs; d++) {
    const sub = path.join(tree, 'srv', String(d));
    mkdirSync(sub, { recursive: true });
    for (let i = 0; i < 20; i++) symlinkSync(`/nonexistent/${d}/${i}`, path.join(sub, `l${i}`));
  }
  const f = path.join(dir, 'many.ext4');
  run('mke2fs', ['-q', '-F', '-t', 'ext4', '-N', String(dirs * 21 + 1024), '-d', tree, f, '256M']);
  rmSync(tree, { recursive: true, force: true });
  return f;
}

/** An ext4 of `files` files, each 1 MiB of PEM BEGIN lines (no body): a per-header scan would be quadratic. */
function pemHeaders(dir, files) {
  const tree = path.join(dir, 'tree');
  mkdirSync(path.join(tree, 'srv'), { recursive: true });
  const line = '-----BEGIN RSA PRIVATE KEY-----\n';
  const body = line.repeat(Math.floor((1024 * 1024) / line.length));
  for (let i = 0; i < files; i++) writeFileSync(path.join(tree, 'srv', `k${i}.txt`), body);
  const f = path.join(dir, 'pem.ext4');
  run('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, f, '96M']);
  rmSync(tree, { recursive: true, force: true });
  return f;
}

/**
 * An ext4 where the build host's user (`hostuser`) names `n` directories and appears in `n` files: every content hit
 * is checked against every reported path unless that check is indexed.
 */
function hostIdentityMany(dir, n) {
  const tree = path.join(dir, 'tree');
  for (let i = 0; i < n; i++) {
    mkdirSync(path.join(tree, 'srv', String(i), 'hostuser'), { recursive: true });
    writeFileSync(path.join(tree, 'srv', String(i), 'f'), `HOME=/home/hostuser\n`);
  }
  const f = path.join(dir, 'identity.ext4');
  run('mke2fs', ['-q', '-F', '-t', 'ext4', '-N', String(n * 4 + 1024), '-d', tree, f, '160M']);
  rmSync(tree, { recursive: true, force: true });
  return f;
}

/** A GitHub-token-shaped value (not a real token) that must never appear unredacted in any output. */
export const FAKE_TOKEN = 'ghp_' + 'Zq8Xw2Lm4Np6Rt8Vx0Bz2Dc4Fg6Hj8Kl0Mn2';

/**
 * An ext4 whose names and link targets try to drive a terminal or a spreadsheet (ESC sequences, an OSC-8 hyperlink,
 * CR, newline, a formula as a link target) and leak a token (in a link target and a file name), plus a 2 MiB .env
 * with the token on line 1.
 */
function outputInjection(dir) {
  const tree = path.join(dir, 'tree');
  const srv = path.join(tree, 'srv');
  mkdirSync(srv, { recursive: true });
  writeFileSync(path.join(srv, 'clear\x1b[2J\x1b[H-screen'), 'x\n');
  writeFileSync(path.join(srv, 'link\x1b]8;;https:evil.example\x07click\x1b]8;;\x07'), 'x\n');
  symlinkSync('/nonexistent\rFAKE REPORT LINE: 0 errors', path.join(srv, 'cr-target'));
  symlinkSync('/gone\n  error   /forged  forged-rule', path.join(srv, 'newline\nname'));
  symlinkSync('=HYPERLINK("https://evil.example/","x")', path.join(srv, 'formula'));
  symlinkSync('+cmd|calc', path.join(srv, 'formula2'));
  symlinkSync(`/home/alice/.config/gh/${FAKE_TOKEN}`, path.join(srv, 'token-link'));
  writeFileSync(path.join(srv, `${FAKE_TOKEN}.txt`), 'x\n');
  writeFileSync(path.join(srv, '.env'), `GITHUB_TOKEN=${FAKE_TOKEN}\n` + 'PADDING=' + 'x'.repeat(2 * 1024 * 1024) + '\n');
  const f = path.join(dir, 'inject.ext4');
  run('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, f, '16M']);
  rmSync(tree, { recursive: true, force: true });
  return f;
}

function guid(s) {
  const b = Buffer.from(s.replace(/-/g, ''), 'hex');
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  return b;
}

/** Build the named cases (default: all) into dir, each in its own sub-directory. Returns name -> case info. */
export function buildHostile(dir, names = Object.keys(CASES)) {
  const out = {};
  for (const name of names) {
    const sub = path.join(dir, name);
    mkdirSync(sub, { recursive: true });
    out[name] = { name, dir: sub, ...CASES[name](sub) };
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node images-sample/hostile.mjs DIR');
    process.exit(2);
  }
  for (const c of Object.values(buildHostile(dir))) console.log(`${c.name}: ${path.relative(process.cwd(), c.file)}`);
}
