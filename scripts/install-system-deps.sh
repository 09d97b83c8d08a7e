#!/usr/bin/env bash
# System packages the tests need (Debian 12), as root: image tools to build the samples, libguestfs and a kernel
# for its appliance, sleuthkit as a reference reader, squashfs-tools/erofs-utils/xorriso to build filesystem samples
# (genisoimage's isoinfo as an iso9660 oracle), chromium for the HTML report's browser test, zsh and fish for the
# completion scripts' test, bsdtar (libarchive-tools) and buildah/podman/skopeo/umoci to build and check tars and
# container images as real producers write them (no daemon: vfs storage in a temp folder; buildah also builds the
# Containerfile), nix-bin to evaluate and build flake.nix (test/flake.test.ts).
# cryptsetup-bin, xfsprogs and btrfs-progs make LUKS, xfs and btrfs samples; lzop writes the LZO1X blocks the lzo
# decoder (btrfs lzo extents) is checked against. rpm (rpmbuild, rpm --root) writes the
# rpm databases the package-awareness tests read, db-util's db_load the Berkeley DB store rpm no longer writes.
# dropbear-bin's dropbearkey, gnupg, openssl and systemd's systemd-creds write the key and credential files the
# secret rules' tests plant. nginx serves images to the remote-target tests (each test starts its own on a free
# loopback port from a temp prefix; the default site the package starts on :80 is not used).
# docker-registry (the reference distribution server) serves images to audit by reference on the loopback,
# apache2-utils' htpasswd -B its logins.
# The README's first command needs none of these; .ci/run and the README's test command run this first.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(libguestfs-tools linux-image-amd64 e2fsprogs dosfstools mtools fdisk qemu-utils sleuthkit
          xz-utils zstd bzip2 gzip time chromium squashfs-tools erofs-utils xorriso genisoimage zsh fish
          libarchive-tools lz4 buildah podman skopeo umoci nix-bin docker-registry apache2-utils
          cryptsetup-bin xfsprogs btrfs-progs lzop cpio rpm db-util dropbear-bin gnupg openssl systemd nginx)
apt-get update -qq
apt-get install -y -qq "${packages[@]}"
