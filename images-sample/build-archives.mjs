#!/usr/bin/env node
// Build the shapes other builders hand over, from the leaky sample, with real tools (tar, gzip, xz, zstd, qemu-img).
// Outputs under images-sample/out/:
//   leaky-rootfs.tar.xz     an lxc/kexec-style rootfs tarball (GNU tar, numeric owners)
//   leaky-gce.raw.tar.gz    Google Compute: `disk.raw` in a GNU sparse tar (tar -S), gzip
//   leaky.ova               VirtualBox: an .ovf plus a stream-optimized VMDK in a ustar archive
//   leaky-vagrant.box       vagrant-virtualbox: box.ovf, the VMDK, Vagrantfile, metadata.json in a .tar.gz
//   leaky.qcow2.gz          digital-ocean: a gzip-compressed qcow2
//   leaky-docker.tar        a docker-archive as `docker save` writes it (manifest.json, <sha>.json, <id>/layer.tar)
//   leaky-oci/ leaky-oci.tar  an OCI image layout (oci-layout, index.json, blobs/sha256: gzip and zstd layers)
//   leaky-docker-dir/       the same image in containers/image's `dir:` layout, written by `skopeo copy oci:... dir:`
//                           (what `podman save --format docker-dir` and `buildah push IMG dir:PATH` write)
//   store/<hash>-nixos-image/{nixos.qcow2,nix-support/hydra-build-products} and `result` -> it, like `nix build`
//   leaky-installer.iso     laid out like the NixOS installer ISO: iso9660 (Rock Ridge) holding /nix-store.squashfs,
//                           the leaky tree's /nix/store (with its setuid binary), which stage 1 mounts at /nix/store
//   leaky-kexec.tar.gz      NixOS' kexec installer: kexec/{bzImage,run,initrd}, the initrd two zstd cpio archives
// The container images stack three layers on the leaky tree: one adds build secrets, the next deletes them with a
// whiteout and hides a cache folder with an opaque whiteout (the deleted bytes still ship in layer 2). The image
// config carries a token in Env. Written by hand per the docker-archive and OCI image-layout specs (no daemon here).
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildStamp, haveTools, loadSpec, sh } from './build.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.join(here, 'out');


/** The fake token the samples use (test/helpers/fake-secrets.ts): format-valid, protects nothing. */
const FAKE_GITHUB_TOKEN = 'ghp_FAKEfakeFAKEfake0123456789abcdefABCD';
const FAKE_NPM_TOKEN = 'npm_FAKEfakeFAKEfake0123456789abcdefABCD';

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

/** A deterministic tar of a folder (sorted, fixed times, numeric owners). */
function tarOf(dir, file, epoch, extra = []) {
  sh('tar', ['--sort=name', `--mtime=@${epoch}`, '--numeric-owner', '--format=gnu', ...extra, '-C', dir, '-cf', file, '.']);
}

async function stageLayer(root, files, epoch) {
  await fsp.rm(root, { recursive: true, force: true });
  await fsp.mkdir(root, { recursive: true });
  for (const [rel, content, mode] of files) {
    const p = path.join(root, rel);
    await fsp.mkdir(path.dirname(p), { recursive: true });
    if (content === null) await fsp.mkdir(p, { recursive: true });
    else await fsp.writeFile(p, content);
    if (mode) await fsp.chmod(p, mode);
  }
  const all = sh('find', [root, '-depth']).toString().trim().split('\n');
  for (const p of all) await fsp.lutimes(p, epoch, epoch);
}

/** The three container layers as plain tars: [base, secrets, deletions]. */
async function containerLayers(tmp, epoch) {
  const base = path.join(tmp, 'layer1.tar');
  tarOf(path.join(outDir, 'leaky'), base, epoch);
  const l2 = path.join(tmp, 'l2');
  await stageLayer(
    l2,
    [
      ['opt/build/deploy.env', `GITHUB_TOKEN=${FAKE_GITHUB_TOKEN}\n`, 0o600],
      ['var/cache/build/a.txt', 'cached a\n'],
      ['var/cache/build/b.txt', 'cached b\n'],
    ],
    epoch,
  );
  const layer2 = path.join(tmp, 'layer2.tar');
  tarOf(l2, layer2, epoch);
  const l3 = path.join(tmp, 'l3');
  await stageLayer(
    l3,
    [
      ['opt/build/.wh.deploy.env', ''],
      ['var/cache/build/.wh..wh..opq', ''],
      ['var/cache/build/c.txt', 'fresh c\n'],
    ],
    epoch,
  );
  const layer3 = path.join(tmp, 'layer3.tar');
  tarOf(l3, layer3, epoch);
  return [base, layer2, layer3];
}

function imageConfig(diffIds, epoch) {
  const created = new Date(epoch * 1000).toISOString();
  return {
    architecture: 'amd64',
    os: 'linux',
    created,
    config: {
      Env: ['PATH=/usr/bin:/bin', `NPM_TOKEN=${FAKE_NPM_TOKEN}`],
      Cmd: ['/bin/sh'],
      Labels: { 'org.opencontainers.image.title': 'leaky' },
    },
    rootfs: { type: 'layers', diff_ids: diffIds.map((d) => `sha256:${d}`) },
    history: [
      { created, created_by: 'nix build .#image (base)' },
      { created, created_by: 'COPY deploy.env /opt/build/' },
      { created, created_by: 'RUN rm /opt/build/deploy.env' },
    ],
  };
}

async function dockerArchive(layers, epoch, tmp) {
  const dir = path.join(tmp, 'docker');
  await fsp.rm(dir, { recursive: true, force: true });
  await fsp.mkdir(dir);
  const diffIds = [];
  const names = [];
  for (const l of layers) {
    const buf = readFileSync(l);
    const id = sha256(buf);
    diffIds.push(id);
    await fsp.mkdir(path.join(dir, id));
    await fsp.writeFile(path.join(dir, id, 'layer.tar'), buf);
    names.push(`${id}/layer.tar`);
  }
  const config = Buffer.from(JSON.stringify(imageConfig(diffIds, epoch)));
  const cfgName = `${sha256(config)}.json`;
  await fsp.writeFile(path.join(dir, cfgName), config);
  await fsp.writeFile(path.join(dir, 'manifest.json'), JSON.stringify([{ Config: cfgName, RepoTags: ['leaky:latest'], Layers: names }]));
  await fsp.writeFile(path.join(dir, 'repositories'), JSON.stringify({ leaky: { latest: diffIds[diffIds.length - 1] } }));
  const out = path.join(outDir, 'leaky-docker.tar');
  sh('tar', ['--sort=name', `--mtime=@${epoch}`, '--owner=0', '--group=0', '--numeric-owner', '--format=ustar', '-C', dir, '-cf', out, '.']);
  return out;
}

async function ociLayout(layers, epoch) {
  const dir = path.join(outDir, 'leaky-oci');
  await fsp.rm(dir, { recursive: true, force: true });
  await fsp.mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (buf) => {
    const d = sha256(buf);
    await fsp.writeFile(path.join(dir, 'blobs', 'sha256', d), buf);
    return { digest: `sha256:${d}`, size: buf.length };
  };
  const diffIds = [];
  const descs = [];
  for (const [i, l] of layers.entries()) {
    const raw = readFileSync(l);
    diffIds.push(sha256(raw));
    // The first layer zstd-compressed, the others gzip: both media types a registry serves.
    const zstd = i === 0;
    const packed = zstd ? sh('zstd', ['-q', '-c', '-3', l], { maxBuffer: 1 << 30 }) : sh('gzip', ['-n', '-c', '-6', l], { maxBuffer: 1 << 30 });
    descs.push({ mediaType: `application/vnd.oci.image.layer.v1.tar+${zstd ? 'zstd' : 'gzip'}`, ...(await put(packed)) });
  }
  const config = await put(Buffer.from(JSON.stringify(imageConfig(diffIds, epoch))));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: descs,
    }),
  );
  const m = await put(manifest);
  await fsp.writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await fsp.writeFile(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
    }),
  );
  const out = path.join(outDir, 'leaky-oci.tar');
  sh('tar', ['--sort=name', `--mtime=@${epoch}`, '--owner=0', '--group=0', '--numeric-owner', '--format=ustar', '-C', dir, '-cf', out, '.']);
  return [dir, out];
}

/** The NixOS installer ISO's layout: boot files, version.txt and the store as /nix-store.squashfs. */
async function installerIso(epoch, tmp) {
  const root = path.join(tmp, 'iso');
  await fsp.mkdir(path.join(root, 'boot'), { recursive: true });
  await fsp.mkdir(path.join(root, 'EFI', 'boot'), { recursive: true });
  await fsp.writeFile(path.join(root, 'version.txt'), 'nixos-24.11-leaky-sample\n');
  await fsp.writeFile(path.join(root, 'boot', 'bzImage'), 'placeholder kernel\n');
  await fsp.writeFile(path.join(root, 'EFI', 'boot', 'grub.cfg'), 'menuentry "NixOS" { linux /boot/bzImage init=/nix/store/x/init }\n');
  sh('mksquashfs', [
    path.join(outDir, 'leaky', 'nix', 'store'),
    path.join(root, 'nix-store.squashfs'),
    '-noappend', '-quiet', '-no-progress', '-comp', 'xz', '-all-root', '-mkfs-time', String(epoch), '-all-time', String(epoch),
  ]);
  sh('find', [root, '-exec', 'touch', '-h', '-d', `@${epoch}`, '{}', '+']);
  const out = path.join(outDir, 'leaky-installer.iso');
  await fsp.rm(out, { force: true });
  sh('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-V', 'NIXOS_ISO', '-o', out, root], { env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) } });
  return out;
}

/**
 * NixOS' kexec installer tarball: `kexec/` with a kernel, a run script and the initrd, two zstd-compressed newc cpio
 * archives one after another as NixOS builds it (the system's tree, then one holding the store as
 * /nix-store.squashfs with firmware that does not compress), written by GNU cpio.
 */
async function kexecTarball(epoch, tmp) {
  const kexec = path.join(tmp, 'kexec-pack', 'kexec');
  const store = path.join(tmp, 'kexec-store');
  await fsp.mkdir(kexec, { recursive: true });
  await fsp.mkdir(path.join(store, 'lib', 'firmware'), { recursive: true });
  sh('mksquashfs', [
    path.join(outDir, 'leaky', 'nix', 'store'),
    path.join(store, 'nix-store.squashfs'),
    '-noappend', '-quiet', '-no-progress', '-comp', 'xz', '-all-root', '-mkfs-time', String(epoch), '-all-time', String(epoch),
  ]);
  const blocks = Array.from({ length: 3072 }, (_, i) => createHash('sha256').update(`firmware ${i}`).digest());
  await fsp.writeFile(path.join(store, 'lib', 'firmware', 'blob.bin'), Buffer.concat(blocks));
  sh('find', [store, '-exec', 'touch', '-h', '-d', `@${epoch}`, '{}', '+']);
  const initrd = path.join(kexec, 'initrd');
  const cpio = 'find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible | zstd -q -19 -c';
  sh('sh', ['-c', `(cd "$0" && ${cpio}) > "$2" && (cd "$1" && ${cpio}) >> "$2"`, path.join(outDir, 'leaky'), store, initrd]);
  await fsp.writeFile(path.join(kexec, 'bzImage'), Buffer.alloc(96 * 1024, 0x90));
  await fsp.writeFile(path.join(kexec, 'run'), '#!/bin/sh\nkexec --load ./bzImage --initrd=./initrd --command-line "init=/nix/store/x/init"\nkexec -e\n');
  sh('find', [path.dirname(kexec), '-exec', 'touch', '-h', '-d', `@${epoch}`, '{}', '+']);
  const out = path.join(outDir, 'leaky-kexec.tar.gz');
  sh('sh', ['-c', `tar --sort=name --numeric-owner --owner=0 --group=0 -C "$0" -cf - kexec | gzip -n -c > "$1"`, path.dirname(kexec), out]);
  return out;
}

/** `nix build` output: a store folder with the image and nix-support/, and a `result` symlink to it. */
async function nixResult() {
  const store = path.join(outDir, 'store', 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6-nixos-image-leaky');
  await fsp.rm(path.join(outDir, 'store'), { recursive: true, force: true });
  await fsp.mkdir(path.join(store, 'nix-support'), { recursive: true });
  await fsp.copyFile(path.join(outDir, 'leaky.qcow2'), path.join(store, 'nixos.qcow2'));
  await fsp.writeFile(
    path.join(store, 'nix-support', 'hydra-build-products'),
    `file qcow2 /nix/store/${path.basename(store)}/nixos.qcow2\n`,
  );
  await fsp.writeFile(path.join(store, 'nix-support', 'system'), 'x86_64-linux\n');
  const result = path.join(outDir, 'result');
  await fsp.rm(result, { force: true });
  await fsp.symlink(path.relative(outDir, store), result);
  // A folder of build output that holds no image at all.
  const none = path.join(outDir, 'no-images');
  await fsp.rm(none, { recursive: true, force: true });
  await fsp.mkdir(path.join(none, 'nix-support'), { recursive: true });
  await fsp.writeFile(path.join(none, 'README'), 'build log only\n');
  await fsp.writeFile(path.join(none, 'nix-support', 'hydra-build-products'), 'doc none /nix/store/x-doc/README\n');
  return [result, none];
}

const TOOLS = ['tar', 'gzip', 'xz', 'zstd', 'qemu-img', 'mksquashfs', 'xorriso', 'skopeo', 'cpio'];

export async function buildArchives({ force = false } = {}) {
  const leakyRaw = path.join(outDir, 'leaky.raw');
  if (!haveTools(TOOLS, 'archives')) return;
  if (!existsSync(leakyRaw)) throw new Error('images-sample: build the disk images first (out/leaky.raw is missing)');
  const spec = loadSpec();
  const outputs = ['leaky-rootfs.tar.xz', 'leaky-gce.raw.tar.gz', 'leaky.ova', 'leaky-docker.tar', 'leaky-oci.tar', 'leaky-docker-dir', 'result', 'leaky-installer.iso', 'leaky-vagrant.box', 'leaky.qcow2.gz', 'leaky-kexec.tar.gz'].map((o) => path.join(outDir, o));
  const stamp = buildStamp('.archives-stamp', import.meta.url, [leakyRaw], outputs);
  if (!force && stamp.fresh) {
    console.log('images-sample: archives up to date');
    return;
  }
  const epoch = spec.epoch;
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'hostleak-archives-'));
  const made = [];
  try {
    const rootfs = path.join(outDir, 'leaky-rootfs.tar.xz');
    sh('sh', ['-c', `tar --sort=name --mtime=@${epoch} --numeric-owner -C "$0" -cf - . | xz -T1 -6 -c > "$1"`, path.join(outDir, 'leaky'), rootfs]);
    made.push(rootfs);

    // GCE: disk.raw, sparse (tar -S writes GNU sparse members), then gzip.
    const gceDir = path.join(tmp, 'gce');
    await fsp.mkdir(gceDir);
    sh('cp', ['--sparse=always', leakyRaw, path.join(gceDir, 'disk.raw')]);
    await fsp.utimes(path.join(gceDir, 'disk.raw'), epoch, epoch);
    const gce = path.join(outDir, 'leaky-gce.raw.tar.gz');
    sh('sh', ['-c', `tar --sparse --format=gnu --numeric-owner --owner=0 --group=0 -C "$0" -cf - disk.raw | gzip -n -c > "$1"`, gceDir, gce]);
    made.push(gce);

    // OVA: the .ovf first, then the stream-optimized VMDK (VirtualBox's layout).
    const ovaDir = path.join(tmp, 'ova');
    await fsp.mkdir(ovaDir);
    sh('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', leakyRaw, path.join(ovaDir, 'leaky-disk001.vmdk')]);
    await fsp.writeFile(
      path.join(ovaDir, 'leaky.ovf'),
      '<?xml version="1.0"?>\n<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1">\n' +
        '  <References><File ovf:href="leaky-disk001.vmdk" ovf:id="file1"/></References>\n</Envelope>\n',
    );
    for (const f of ['leaky.ovf', 'leaky-disk001.vmdk']) await fsp.utimes(path.join(ovaDir, f), epoch, epoch);
    const ova = path.join(outDir, 'leaky.ova');
    sh('tar', ['--format=ustar', '--numeric-owner', '--owner=0', '--group=0', '-C', ovaDir, '-cf', ova, 'leaky.ovf', 'leaky-disk001.vmdk']);
    made.push(ova);

    // vagrant-virtualbox: a .box is a gzip tar of box.ovf, the VMDK, a Vagrantfile and metadata.json.
    await fsp.rename(path.join(ovaDir, 'leaky.ovf'), path.join(ovaDir, 'box.ovf'));
    await fsp.writeFile(path.join(ovaDir, 'Vagrantfile'), 'Vagrant.configure("2") { |c| c.vm.base_mac = "0800274B8A4B" }\n');
    await fsp.writeFile(path.join(ovaDir, 'metadata.json'), '{"provider":"virtualbox"}\n');
    for (const f of ['box.ovf', 'Vagrantfile', 'metadata.json']) await fsp.utimes(path.join(ovaDir, f), epoch, epoch);
    const box = path.join(outDir, 'leaky-vagrant.box');
    sh('sh', ['-c', `tar --format=ustar --numeric-owner --owner=0 --group=0 -C "$0" -cf - metadata.json Vagrantfile box.ovf leaky-disk001.vmdk | gzip -n -c > "$1"`, ovaDir, box]);
    made.push(box);

    // digital-ocean: a gzip-compressed qcow2.
    const doImage = path.join(outDir, 'leaky.qcow2.gz');
    sh('sh', ['-c', 'gzip -n -c "$0" > "$1"', path.join(outDir, 'leaky.qcow2'), doImage]);
    made.push(doImage);

    const layers = await containerLayers(tmp, epoch);
    made.push(await dockerArchive(layers, epoch, tmp));
    const [oci] = await ociLayout(layers, epoch);
    made.push(oci, path.join(outDir, 'leaky-oci.tar'));
    // skopeo, not a hand-written copy: the docker-dir layout as containers/image writes it.
    const dockerDir = path.join(outDir, 'leaky-docker-dir');
    await fsp.rm(dockerDir, { recursive: true, force: true });
    sh('skopeo', ['copy', '-q', `oci:${oci}:latest`, `dir:${dockerDir}`]);
    made.push(dockerDir);
    made.push(...(await nixResult()));
    made.push(await installerIso(epoch, tmp));
    made.push(await kexecTarball(epoch, tmp));
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
  await stamp.write();
  console.log(`images-sample: built ${made.map((m) => path.relative(process.cwd(), m)).join(' ')}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  await buildArchives({ force: process.argv.includes('--force') });
}
