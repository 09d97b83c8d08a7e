// rpm databases as the real tools write them, for the rpm package-awareness tests and the fuzz harness's seeds:
// a tiny noarch package built by rpmbuild and installed into a tree by Debian's rpm 4.18 (SQLite backend). The same
// package's header, as `rpmdb --exportdb` gives it, goes into a Berkeley DB hash `Packages` through Berkeley DB's own
// db_load (Debian's rpm reads that store, bdb_ro, but no longer writes it) and into ndb's slot/blob layout framed
// here (Debian builds rpm without ndb; the ndb reader is also checked against a real SLE 15 database,
// test/fixtures/rpm/).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const BUILD_PATH = '/home/runner/work/demo/demo';

const SPEC = `Name: hostleak-demo
Version: 1.0
Release: 1
Summary: hostleak test package
License: MIT
BuildArch: noarch
%description
A package with plain files, two %config files and a %ghost, for hostleak's rpm database tests.
%install
mkdir -p %{buildroot}/usr/share/demo %{buildroot}/etc/demo %{buildroot}/var/log
echo "BUILD_DIR=${BUILD_PATH}/build" > %{buildroot}/usr/share/demo/build.txt
echo "SRC_DIR=${BUILD_PATH}/src" > %{buildroot}/usr/share/demo/changed.txt
echo "prefix=${BUILD_PATH}/out" > %{buildroot}/usr/share/demo/site.conf
echo "root=${BUILD_PATH}/etc" > %{buildroot}/etc/demo/demo.conf
%files
/usr/share/demo/build.txt
/usr/share/demo/changed.txt
%config /usr/share/demo/site.conf
%config(noreplace) /etc/demo/demo.conf
%ghost /var/log/demo.log
`;

/** rpmbuild the demo package in `dir`; returns the .rpm's path. */
export function buildDemoRpm(dir) {
  mkdirSync(path.join(dir, 'SPECS'), { recursive: true });
  writeFileSync(path.join(dir, 'SPECS/demo.spec'), SPEC);
  execFileSync('rpmbuild', ['--define', `_topdir ${dir}`, '-bb', path.join(dir, 'SPECS/demo.spec')], {
    stdio: 'pipe',
    env: { ...process.env, HOME: dir },
  });
  return path.join(dir, 'RPMS/noarch/hostleak-demo-1.0-1.noarch.rpm');
}

/** Install `rpmFile` into `root` with the real rpm (SQLite database in /var/lib/rpm). */
export function installRpm(root, rpmFile) {
  execFileSync('rpm', ['--root', root, '--dbpath', '/var/lib/rpm', '-i', '--nodeps', '--noscripts', rpmFile], { stdio: 'pipe' });
}

/** Each installed package's header blob, as rpm exports them (the 8-byte header intro dropped). */
export function exportHeaders(root, dbpath = '/var/lib/rpm') {
  const all = execFileSync('rpmdb', ['--root', root, '--dbpath', dbpath, '--exportdb'], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28 });
  const out = [];
  for (let o = 0; o + 16 <= all.length; ) {
    const il = all.readUInt32BE(o + 8);
    const dl = all.readUInt32BE(o + 12);
    out.push(all.subarray(o + 8, o + 16 + il * 16 + dl));
    o += 16 + il * 16 + dl;
  }
  return out;
}

/**
 * A Berkeley DB hash `Packages` holding these headers, written by db_load (page size 512, so a header spills onto
 * overflow pages), with rpm's key-0 counter record.
 */
export function writeBdbPackages(file, headers) {
  const key = (n) => {
    const k = Buffer.alloc(4);
    k.writeUInt32LE(n);
    return k.toString('hex');
  };
  let dump = 'VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=512\nHEADER=END\n';
  dump += ` ${key(0)}\n ${key(headers.length + 1)}\n`;
  headers.forEach((h, i) => (dump += ` ${key(i + 1)}\n ${h.toString('hex')}\n`));
  dump += 'DATA=END\n';
  rmSync(file, { force: true });
  writeFileSync(`${file}.dump`, dump);
  execFileSync('db_load', ['-f', `${file}.dump`, file], { stdio: 'pipe' });
  rmSync(`${file}.dump`);
}

function adler32(b) {
  let a = 1, s = 0;
  for (const x of b) {
    a = (a + x) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}

/** An ndb `Packages.db` holding these headers: a 32-byte header, one page of slots, then each blob in 16-byte blocks. */
export function ndbPackages(headers) {
  const parts = [];
  const slots = Buffer.alloc(4096);
  slots.write('RpmP', 0, 'latin1');
  slots.writeUInt32LE(0, 4); // version
  slots.writeUInt32LE(1, 8); // generation
  slots.writeUInt32LE(1, 12); // slot pages
  slots.writeUInt32LE(headers.length + 1, 16); // next package index
  for (let o = 32; o < 4096; o += 16) slots.write('Slot', o, 'latin1');
  let block = 4096 / 16;
  headers.forEach((h, i) => {
    const blocks = Math.ceil((16 + h.length + 12) / 16);
    const blob = Buffer.alloc(blocks * 16);
    blob.write('BlbS', 0, 'latin1');
    blob.writeUInt32LE(i + 1, 4);
    blob.writeUInt32LE(1, 8);
    blob.writeUInt32LE(h.length, 12);
    h.copy(blob, 16);
    blob.writeUInt32LE(adler32(blob.subarray(0, blob.length - 12)), blob.length - 12);
    blob.writeUInt32LE(h.length, blob.length - 8);
    blob.write('BlbE', blob.length - 4, 'latin1');
    const s = 32 + i * 16;
    slots.writeUInt32LE(i + 1, s + 4);
    slots.writeUInt32LE(block, s + 8);
    slots.writeUInt32LE(blocks, s + 12);
    parts.push(blob);
    block += blocks;
  });
  return Buffer.concat([slots, ...parts]);
}

/**
 * Move the database rpm wrote in `root` into `store` ('sqlite' | 'bdb' | 'ndb'): sqlite stays where rpm put it; bdb
 * replaces it with /var/lib/rpm/Packages; ndb puts Packages.db in /usr/lib/sysimage/rpm with /var/lib/rpm a link to
 * it (openSUSE). Returns the database's path inside the tree.
 */
export function convertStore(root, store, headers) {
  if (store === 'sqlite') return '/var/lib/rpm/rpmdb.sqlite';
  const varlib = path.join(root, 'var/lib/rpm');
  rmSync(varlib, { recursive: true, force: true });
  if (store === 'bdb') {
    mkdirSync(varlib, { recursive: true });
    writeBdbPackages(path.join(varlib, 'Packages'), headers);
    return '/var/lib/rpm/Packages';
  }
  const sys = path.join(root, 'usr/lib/sysimage/rpm');
  mkdirSync(sys, { recursive: true });
  writeFileSync(path.join(sys, 'Packages.db'), ndbPackages(headers));
  symlinkSync('../../usr/lib/sysimage/rpm', varlib);
  return '/usr/lib/sysimage/rpm/Packages.db';
}

/**
 * An rpm distribution's root in `root`: the demo package installed by rpm (its database in `store`), the files that
 * make a root (fstab, accounts, os-release), and the builder's marks: a packaged file and a %config edited after
 * install, a file at the %ghost path. `work` is a scratch folder for rpmbuild. Returns the database's path in the
 * tree and the package headers it holds.
 */
export function rpmRoot(root, store, work) {
  const installed = path.join(work, 'installed');
  rmSync(installed, { recursive: true, force: true });
  installRpm(installed, buildDemoRpm(path.join(work, 'build')));
  const headers = exportHeaders(installed);
  cpSync(installed, root, { recursive: true, verbatimSymlinks: true });
  const db = convertStore(root, store, headers);
  writeFileSync(path.join(root, 'etc/fstab'), 'UUID=0 / ext4 defaults 0 1\n');
  writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\n');
  writeFileSync(path.join(root, 'etc/os-release'), 'NAME="Fedora Linux"\nID=fedora\nVERSION_ID=39\n');
  writeFileSync(path.join(root, 'usr/share/demo/changed.txt'), `SRC_DIR=${BUILD_PATH}/src-edited\n`);
  writeFileSync(path.join(root, 'etc/demo/demo.conf'), `root=${BUILD_PATH}/etc-edited\n`);
  mkdirSync(path.join(root, 'var/log'), { recursive: true });
  writeFileSync(path.join(root, 'var/log/demo.log'), `built in ${BUILD_PATH}/log\n`);
  return { db, headers };
}
