/**
 * A small Debian-like root tree with a REAL dpkg database: each package is built with `dpkg-deb --build` and
 * installed with `dpkg --root` (no maintainer scripts, no chroot), so /var/lib/dpkg/{status,info/*.list,*.md5sums}
 * are exactly what dpkg writes. Tests cannot debootstrap; bench/accuracy.mjs does that on real Debian 12 roots.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface FakePackage {
  name: string;
  /** path -> file contents, or { target } for a symlink. */
  files: Record<string, string | { target: string }>;
  conffiles?: string[];
}

function put(root: string, p: string, what: string | Buffer | { target: string }): void {
  const full = path.join(root, p);
  mkdirSync(path.dirname(full), { recursive: true });
  if (typeof what === 'object' && !Buffer.isBuffer(what)) symlinkSync(what.target, full);
  else writeFileSync(full, what);
}

/** Build the packages and install them into a new root; returns the root (remove it with rmSync when done). */
export function debianRoot(packages: FakePackage[]): string {
  const work = mkdtempSync(path.join(os.tmpdir(), 'hostleak-debian-'));
  const root = path.join(work, 'root');
  for (const d of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers']) mkdirSync(path.join(root, d), { recursive: true });
  writeFileSync(path.join(root, 'var/lib/dpkg/status'), '');
  const debs: string[] = [];
  for (const pkg of packages) {
    const dir = path.join(work, 'build', pkg.name);
    put(dir, 'DEBIAN/control', `Package: ${pkg.name}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: hostleak tests <tests@example.org>\nDescription: test package\n`);
    if (pkg.conffiles) put(dir, 'DEBIAN/conffiles', pkg.conffiles.join('\n') + '\n');
    for (const [p, what] of Object.entries(pkg.files)) put(dir, p, what);
    const deb = path.join(work, `${pkg.name}.deb`);
    execFileSync('dpkg-deb', ['--build', '--root-owner-group', dir, deb], { stdio: 'ignore' });
    debs.push(deb);
  }
  if (debs.length > 0) {
    execFileSync('dpkg', ['--root', root, '--force-script-chrootless', '--force-not-root', '--log=/dev/null', '-i', ...debs], { stdio: 'ignore' });
  }
  return root;
}

/** Write files into the root after the packages are installed (what the image's builder does). */
export function plant(root: string, files: Record<string, string | Buffer | { target: string }>): void {
  for (const [p, what] of Object.entries(files)) {
    rmSync(path.join(root, p), { force: true });
    put(root, p, what);
  }
}

export function removeRoot(root: string): void {
  rmSync(path.dirname(root), { recursive: true, force: true });
}
