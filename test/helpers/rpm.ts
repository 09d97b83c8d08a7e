/**
 * rpm databases written by the real tools (images-sample/rpmdb.mjs, shared with the fuzz harness), typed for the
 * tests, and what the real rpm lists from one.
 */
import { spawnSync } from 'node:child_process';
// @ts-expect-error plain ESM script without types
import * as m from '../../images-sample/rpmdb.mjs';

export type RpmStore = 'sqlite' | 'bdb' | 'ndb';
export const BUILD_PATH: string = m.BUILD_PATH;
/** rpmbuild the demo package (a plain file, a changed-later file, two %config, a %ghost) in `dir`; the .rpm's path. */
export const buildDemoRpm: (dir: string) => string = m.buildDemoRpm;
/** Install an .rpm into `root` with the real rpm (SQLite database in /var/lib/rpm). */
export const installRpm: (root: string, rpmFile: string) => void = m.installRpm;
/** Each installed package's header blob, as `rpmdb --exportdb` gives them. */
export const exportHeaders: (root: string, dbpath?: string) => Buffer[] = m.exportHeaders;
/** A Berkeley DB hash `Packages` of these headers, written by db_load. */
export const writeBdbPackages: (file: string, headers: Buffer[]) => void = m.writeBdbPackages;
/** An ndb `Packages.db` of these headers. */
export const ndbPackages: (headers: Buffer[]) => Buffer = m.ndbPackages;
/** Move rpm's database in `root` into `store`; returns its path inside the tree. */
export const convertStore: (root: string, store: RpmStore, headers: Buffer[]) => string = m.convertStore;
/** An rpm distribution's root with the demo package and the builder's marks: the database's path, its headers. */
export const rpmRoot: (root: string, store: RpmStore, work: string) => { db: string; headers: Buffer[] } = m.rpmRoot;

/** What the real rpm lists from a database: "path digest flags" per file (bdb through its read-only backend). */
export function rpmFileList(root: string, store: 'sqlite' | 'bdb', dbpath = '/var/lib/rpm'): string[] {
  const args = ['--root', root, '--dbpath', dbpath, '-qa', '--qf', '[%{FILENAMES} %{FILEDIGESTS} %{FILEFLAGS}\n]'];
  if (store === 'bdb') args.unshift('--define', '_db_backend bdb_ro');
  const r = spawnSync('rpm', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`rpm -qa failed: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).sort();
}
