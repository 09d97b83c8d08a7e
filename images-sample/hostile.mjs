#!/usr/bin/env node
// The hostile set: small images an attacker who controls the image would hand hostleak. Each builder writes one case
// into a directory and returns what a test needs to know about it. Built with real tools (qemu-img, mke2fs, zstd)
// plus byte patches where a tool cannot make the hostile shape.
//
//   node images-sample/hostile.mjs DIR        builds every case into DIR (for poking at them by hand)
//   import { buildHostile } from './hostile.mjs'; await buildHostile(dir, ['vmdk-flat-plus'])
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
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
  // One budget per target: time, memory and disk shared by everything the target opens.
  'pax-globals': (dir) => ({ file: emitted('pax-globals', path.join(dir, 'globals.tar.zst'), 'zstd -q -c'), expect: 3, reason: /memory budget/ }),
  'deep-links': (dir) => ({ file: deepLinks(dir), expect: 3, reason: /deeper than 4096 bytes/ }),
  'cpio-waiting-links': (dir) => ({ file: cpioWaitingLinks(dir, 20_000), expect: 3, reason: /memory budget/ }),
  'ten-images': (dir) => {
    const fs = path.join(dir, 'head.ext2');
    run('mke2fs', ['-q', '-F', '-t', 'ext2', fs, '1M']);
    return { file: emitted('ten-images', path.join(dir, 'ten.tar.zst'), 'zstd -q -c', [fs]), expect: 3, reason: /limit/ };
  },
  'nested-zero-bomb': (dir) => ({ file: nestedBomb(dir, 0, 50 * 1000 ** 3), expect: 3, reason: /timed out/ }),
  'nested-data-bomb': (dir) => ({ file: nestedBomb(dir, 0x41, 4 * 1000 ** 3), expect: 3, reason: /limit/ }),
  'deep-env': (dir) => ({ file: deepEnv(dir, 200_000), expect: 3, reason: /nests deeper than/ }),
  'iso-overlap': (dir) => ({ file: isoOverlap(dir, 640), expect: 3, reason: /overlaps another directory's/ }),
  'result-many-gz': (dir) => ({ file: manyGz(dir, 3000), expect: 3, reason: /neither a root tree/ }),
  'impossible-times': (dir) => ({ file: impossibleTimes(dir), expect: 0, reason: /./ }),
  'huge-sparse': (dir) => ({ file: hugeSparse(dir), expect: 3, reason: /larger than the 16 TiB/ }),
};

/**
 * A newc cpio (the initramfs format) of `n` files that each claim a second link and carry no data: a reader holds each
 * until the link with the data comes, which never does (cpio itself cannot be made to write this).
 */
function cpioWaitingLinks(dir, n) {
  const hex = (v) => v.toString(16).padStart(8, '0');
  const entry = (name, mode, nlink, ino, data = Buffer.alloc(0)) => {
    const nameBuf = Buffer.from(`${name}\0`);
    const fields = [ino, mode, 0, 0, nlink, 0, data.length, 0, 0, 0, 0, nameBuf.length, 0];
    const head = Buffer.from(`070701${fields.map(hex).join('')}`, 'latin1');
    const pad = (k) => Buffer.alloc((4 - (k % 4)) % 4);
    return Buffer.concat([head, nameBuf, pad(head.length + nameBuf.length), data, pad(data.length)]);
  };
  const parts = [entry('etc', 0o40755, 2, 1), entry('etc/hostname', 0o100644, 1, 2, Buffer.from('image\n'))];
  for (let i = 0; i < n; i++) parts.push(entry(`etc/link-${i}`, 0o100644, 2, 100 + i));
  parts.push(entry('TRAILER!!!', 0, 1, 0));
  const file = path.join(dir, 'waiting-links.cpio');
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

// ---- a small tar writer, for the shapes tar itself will not write (6,000 PAX global headers, 40k-deep link chains,
// impossible times, a sparse member of 2^50 bytes). Members are emitted on stdout by `node hostile.mjs --emit NAME`
// and piped into the real compressor, so a multi-GB archive is never on disk.

function octal(buf, off, len, v) {
  buf.write(v.toString(8).padStart(len - 1, '0') + '\0', off, len, 'latin1');
}

function base256(buf, off, len, v) {
  let x = BigInt(v);
  for (let i = len - 1; i > 0; i--) {
    buf[off + i] = Number(x & 0xffn);
    x >>= 8n;
  }
  buf[off] = 0x80;
}

/** One 512-byte header. `mtime`/`size` as numbers (base-256 when octal does not fit); `raw` patches bytes. */
function tarHeader({ name, type = '0', size = 0, linkname = '', mode = 0o644, mtime = 0, raw = [] }) {
  const h = Buffer.alloc(512);
  h.write(name.slice(0, 100), 0, 100, 'utf8');
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  if (size < 8 ** 11) octal(h, 124, 12, size);
  else base256(h, 124, 12, size);
  if (mtime < 8 ** 11) octal(h, 136, 12, mtime);
  else base256(h, 136, 12, mtime);
  h.write(type, 156, 1, 'latin1');
  h.write(linkname.slice(0, 100), 157, 100, 'utf8');
  h.write(type === 'S' ? 'ustar  \0' : 'ustar\x0000', 257, 8, 'latin1');
  for (const [off, bytes] of raw) bytes.copy(h, off);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

const pad = (n) => Buffer.alloc((512 - (n % 512)) % 512);

/** A PAX header ('x' for the next member, 'g' global) with its records, padded. */
function paxHeader(type, records, name = 'pax') {
  const body = Buffer.concat(
    records.map(([k, v]) => {
      const rec = ` ${k}=${v}\n`;
      let len = Buffer.byteLength(rec);
      len += String(len + String(len).length).length;
      return Buffer.from(`${len}${rec}`);
    }),
  );
  return Buffer.concat([tarHeader({ name, type, size: body.length }), body, pad(body.length)]);
}

function member(name, data = Buffer.alloc(0), opts = {}) {
  return Buffer.concat([tarHeader({ name, size: data.length, ...opts }), data, pad(data.length)]);
}

const END = Buffer.alloc(1024);

/** Archives too big for the disk, written to stdout (see --emit below). */
const EMIT = {
  // 6,000 PAX global headers of 1 MB, each a new key: kept for every later member.
  'pax-globals': (write) => {
    const value = 'g'.repeat(1_000_000 - 40);
    for (let i = 0; i < 6000; i++) write(paxHeader('g', [[`hostile.${i}`, value]], 'pax_global_header'));
    write(member('etc/hostname', Buffer.from('image\n')));
    write(END);
  },
  // Ten 96 MB disk images (an ext2 head, then data that is not zero): 960 MB to copy out of a small archive.
  'ten-images': (write, head) => {
    const size = 96 * 1024 * 1024;
    const fill = Buffer.alloc(1024 * 1024, 0x41);
    for (let i = 0; i < 10; i++) {
      write(tarHeader({ name: `disk${i}.raw`, size }));
      write(head);
      for (let n = head.length; n < size; n += fill.length) write(fill.subarray(0, Math.min(fill.length, size - n)));
    }
    write(END);
  },
};

function emitArchive(name, out, args = []) {
  const head = args[0] ? readFileSync(args[0]) : null;
  EMIT[name]((b) => {
    let done = 0;
    while (done < b.length) done += writeSync(out, b, done, b.length - done);
  }, head);
}

/** `node hostile.mjs --emit NAME | COMPRESSOR > FILE`, run through a shell. */
function emitted(name, file, compressor, args = []) {
  const me = fileURLToPath(import.meta.url);
  const q = (s) => `'${s.replace(/'/g, "'\\''")}'`;
  run('sh', ['-c', `${q(process.execPath)} ${q(me)} --emit ${name} ${args.map(q).join(' ')} | ${compressor} > ${q(file)}`]);
  return file;
}

/** Directories ~40k deep from 20 members: each link adds 2,000 levels and the next member goes through it. */
function deepLinks(dir) {
  const parts = [];
  const names = [];
  for (let i = 1; i <= 20; i++) {
    names.push(`s${i}`);
    parts.push(paxHeader('x', [['path', names.join('/')], ['linkpath', 'd/'.repeat(2000)]]));
    parts.push(tarHeader({ name: `s${i}`, type: '2', linkname: 'd' }));
  }
  parts.push(member('etc/hostname', Buffer.from('image\n')));
  parts.push(paxHeader('x', [['path', `${names.join('/')}/f`]]));
  parts.push(member('f', Buffer.from('deep\n')));
  parts.push(END);
  const tar = path.join(dir, 'deep.tar');
  writeFileSync(tar, Buffer.concat(parts));
  run('gzip', ['-9', '-f', tar]);
  return `${tar}.gz`;
}

/** A root tree whose times no Date can hold: PAX mtime=1e300, base-256 2^52, a negative 1e300. */
function impossibleTimes(dir) {
  const tar = path.join(dir, 'times.tar');
  writeFileSync(
    tar,
    Buffer.concat([
      member('etc/', Buffer.alloc(0), { type: '5', mode: 0o755 }),
      paxHeader('x', [['mtime', '1e300']]),
      member('etc/hostname', Buffer.from('image\n')),
      member('etc/motd', Buffer.from('hi\n'), { mtime: 2 ** 52 }),
      paxHeader('x', [['mtime', '-1e300']]),
      member('etc/issue', Buffer.from('x\n')),
      END,
    ]),
  );
  return tar;
}

/** A GNU sparse member (tar -S) whose real size is 2^50: one 1 MiB segment of an ext2 filesystem. */
function hugeSparse(dir) {
  const fs = path.join(dir, 'seg.ext2');
  run('mke2fs', ['-q', '-F', '-t', 'ext2', fs, '1M']);
  const data = readFileSync(fs);
  const raw = [];
  const map = Buffer.alloc(24);
  octal(map, 0, 12, 0);
  octal(map, 12, 12, data.length);
  raw.push([386, map]);
  const real = Buffer.alloc(12);
  base256(real, 0, 12, 2 ** 50);
  raw.push([483, real]);
  const tar = path.join(dir, 'sparse.tar');
  writeFileSync(tar, Buffer.concat([tarHeader({ name: 'disk.raw', type: 'S', size: data.length, raw }), data, pad(data.length), END]));
  return tar;
}

/** A docker-archive whose image config's Env nests `depth` arrays. */
function deepEnv(dir, depth) {
  const tree = path.join(dir, 'docker');
  mkdirSync(path.join(tree, 'layer'), { recursive: true });
  mkdirSync(path.join(tree, 'root/etc'), { recursive: true });
  writeFileSync(path.join(tree, 'root/etc/hostname'), 'image\n');
  run('tar', ['-cf', path.join(tree, 'layer/layer.tar'), '-C', path.join(tree, 'root'), 'etc']);
  const layer = readFileSync(path.join(tree, 'layer/layer.tar'));
  const diff = createHash('sha256').update(layer).digest('hex');
  const config = `{"config":{"Env":${'['.repeat(depth)}"A=1"${']'.repeat(depth)}},"rootfs":{"type":"layers","diff_ids":["sha256:${diff}"]}}`;
  const cfgName = `${createHash('sha256').update(config).digest('hex')}.json`;
  writeFileSync(path.join(tree, cfgName), config);
  writeFileSync(path.join(tree, 'manifest.json'), JSON.stringify([{ Config: cfgName, RepoTags: ['deep:env'], Layers: ['layer/layer.tar'] }]));
  const f = path.join(dir, 'deep-env.tar');
  run('tar', ['-cf', f, '-C', tree, 'manifest.json', cfgName, 'layer/layer.tar']);
  return f;
}

/**
 * An iso9660 whose directory /POOL is `sectors` directory extents overlapping one pool of sectors: each sector starts
 * with a "." record claiming the rest of the pool, holds a record of the next sector as a subdirectory and file
 * records. Every extent is a new directory to the walk, and lists everything after it: ~sectors^2 * 25 entries from
 * 1.3 MB (xz-compressed: the image is decompressed to the temp folder first).
 */
function isoOverlap(dir, sectors) {
  const tree = path.join(dir, 'iso-tree');
  mkdirSync(path.join(tree, 'pool'), { recursive: true });
  writeFileSync(path.join(tree, 'blob'), Buffer.alloc(sectors * 2048, 1));
  const iso = path.join(dir, 'overlap.iso');
  run('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, tree]);
  rmSync(tree, { recursive: true, force: true });
  const buf = readFileSync(iso);
  const pvd = 16 * 2048;
  const rootExt = buf.readUInt32LE(pvd + 156 + 2);
  const rootSize = buf.readUInt32LE(pvd + 156 + 10);
  const find = (name) => {
    for (let p = rootExt * 2048; p < rootExt * 2048 + rootSize; ) {
      const len = buf[p];
      if (len === 0) {
        p = (Math.floor(p / 2048) + 1) * 2048;
        continue;
      }
      if (buf.toString('latin1', p + 33, p + 33 + buf[p + 32]).replace(/;1$/, '').replace(/\.$/, '') === name) return p;
      p += len;
    }
    throw new Error(`${name} not in the iso root`);
  };
  const both32 = (at, v) => {
    buf.writeUInt32LE(v, at);
    buf.writeUInt32BE(v, at + 4);
  };
  const blob = buf.readUInt32LE(find('BLOB') + 2);
  const record = (name, extent, size, isDir) => {
    const n = Buffer.from(name, 'latin1');
    const len = 33 + n.length + ((33 + n.length) % 2);
    const r = Buffer.alloc(len);
    r[0] = len;
    r.writeUInt32LE(extent, 2);
    r.writeUInt32BE(extent, 6);
    r.writeUInt32LE(size, 10);
    r.writeUInt32BE(size, 14);
    r[18] = 126; // 2026
    r[19] = 1;
    r[20] = 1;
    r[25] = isDir ? 2 : 0;
    r.writeUInt16LE(1, 28);
    r.writeUInt16BE(1, 30);
    r[32] = n.length;
    n.copy(r, 33);
    return r;
  };
  let id = 0;
  for (let j = 0; j < sectors; j++) {
    const sec = Buffer.alloc(2048);
    let p = 0;
    const put = (r) => {
      r.copy(sec, p);
      p += r.length;
    };
    put(record('\0', blob + j, (sectors - j) * 2048, true));
    if (j + 1 < sectors) put(record(`D${(id++).toString(36).toUpperCase()}`, blob + j + 1, (sectors - j - 1) * 2048, true));
    while (p + 40 <= 2048) put(record(`F${(id++).toString(36).toUpperCase()};1`, 0, 0, false));
    sec.copy(buf, (blob + j) * 2048);
  }
  const pool = find('POOL');
  both32(pool + 2, blob);
  both32(pool + 10, sectors * 2048);
  writeFileSync(iso, buf);
  run('xz', ['-f', '-T1', iso]);
  return `${iso}.xz`;
}

/** A result folder of `n` tiny gzip files (logs, not images): each must be looked at once, quickly, in-process. */
function manyGz(dir, n) {
  const result = path.join(dir, 'result');
  mkdirSync(path.join(result, 'logs'), { recursive: true });
  const one = gzipSync(Buffer.from('build log line\n'));
  for (let i = 0; i < n; i++) writeFileSync(path.join(result, 'logs', `${i}.log.gz`), one);
  return result;
}

/** An ext4 holding one compressed bomb under images/ (an image by its name and magic): for --nested. */
function nestedBomb(dir, byte, bytes) {
  const tree = path.join(dir, 'bomb-tree');
  mkdirSync(path.join(tree, 'etc'), { recursive: true });
  mkdirSync(path.join(tree, 'images'), { recursive: true });
  writeFileSync(path.join(tree, 'etc/hostname'), 'image\n');
  zstdRle(path.join(tree, 'images/bomb.img.zst'), byte, bytes);
  const f = path.join(dir, 'outer.ext4');
  run('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, f, '16M']);
  rmSync(tree, { recursive: true, force: true });
  return f;
}

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

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--emit') {
  emitArchive(process.argv[3], 1, process.argv.slice(4));
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node images-sample/hostile.mjs DIR');
    process.exit(2);
  }
  for (const c of Object.values(buildHostile(dir))) console.log(`${c.name}: ${path.relative(process.cwd(), c.file)}`);
}
