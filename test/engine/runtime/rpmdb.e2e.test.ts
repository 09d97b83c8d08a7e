/**
 * The rpm database, in the three stores rpm writes, against the real rpm: a package rpmbuild made and rpm installed
 * into a tree, audited natively as an ext4 image (mke2fs -d): a file the package installed unchanged is at most
 * info, `--trust-packages` leaves it unread, a changed file, a changed %config and whatever sits at a %ghost path
 * keep their severity. The readers list what `rpm -qa` lists (sqlite; bdb through rpm's read-only backend), and
 * read real databases from RHEL 8 (Berkeley DB) and SLE 15 (ndb).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { loadPackageDb } from '../../../src/engine/runtime/packages.js';
import { ndbPackageBlobs, parseRpmHeader, readRpmDb, RpmDbError, sqlitePackageBlobs } from '../../../src/engine/runtime/rpmdb.js';
import { createImageFs } from '../../../src/engine/runtime/imagefs.js';
import type { Finding, Report } from '../../../src/types.js';
import { hostleak, json, REPO } from '../../helpers/cli.js';
import { buildDemoRpm, convertStore, exportHeaders, installRpm, rpmFileList, rpmRoot, writeBdbPackages, type RpmStore } from '../../helpers/rpm.js';
import { requireTool } from '../../helpers/tools.js';
import { memoryRoot } from '../../helpers/tree.js';

requireTool('rpm', 'rpmbuild', 'rpmdb', 'db_load', 'mke2fs');

let tmp: string;
let rpmFile: string;
/** The tree rpm installed into (SQLite database), before any change. */
let installed: string;
let headers: Buffer[];

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'rpmdb-'));
  rpmFile = buildDemoRpm(path.join(tmp, 'build'));
  installed = path.join(tmp, 'installed');
  installRpm(installed, rpmFile);
  headers = exportHeaders(installed);
}, 120_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** What our reader lists, in rpm's --qf shape: "path digest flags". */
function ourList(db: Buffer, wal?: Buffer | null): string[] {
  return readRpmDb(db, wal)
    .packages.flatMap((p) => p.files.map((f) => `${f.path} ${f.digest} ${f.flags}`))
    .sort();
}

describe('the rpm database readers list what rpm lists', () => {
  it('SQLite, as rpm 4.18 wrote it', () => {
    const dir = path.join(installed, 'var/lib/rpm');
    const wal = path.join(dir, 'rpmdb.sqlite-wal');
    const mine = ourList(readFileSync(path.join(dir, 'rpmdb.sqlite')), readFileSync(wal));
    expect(mine).toEqual(rpmFileList(installed, 'sqlite'));
    expect(mine.some((l) => l.startsWith('/usr/share/demo/build.txt ') && / [0-9a-f]{64} 0$/.test(l))).toBe(true);
  });

  it("SQLite with a package only the write-ahead log holds (SQLite's own library wrote it, no checkpoint yet)", () => {
    const root = path.join(tmp, 'wal');
    cpSync(installed, root, { recursive: true, verbatimSymlinks: true });
    const db = path.join(root, 'var/lib/rpm/rpmdb.sqlite');
    // A second copy of the package's header, committed to the WAL; leaving without close keeps it out of the file.
    const py = [
      'import sqlite3, sys, os',
      'c = sqlite3.connect(sys.argv[1])',
      "c.execute('PRAGMA journal_mode=WAL'); c.execute('PRAGMA wal_autocheckpoint=0')",
      "c.execute('INSERT INTO Packages (blob) SELECT blob FROM Packages'); c.commit()",
      'os._exit(0)',
    ].join('\n');
    execFileSync('python3', ['-c', py, db]);
    const wal = readFileSync(`${db}-wal`);
    expect(wal.length).toBeGreaterThan(32);
    const main = readFileSync(db);
    expect(readRpmDb(main).packages).toHaveLength(1);
    const mine = ourList(main, wal);
    expect(mine).toHaveLength(2 * rpmFileList(installed, 'sqlite').length);
    expect(mine).toEqual(rpmFileList(root, 'sqlite'));
    // A WAL whose last frame does not checksum is not applied past its last good commit (as SQLite ignores it)
    const bad = Buffer.from(wal);
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff;
    expect(readRpmDb(main, bad).packages).toHaveLength(1);
  });

  it('Berkeley DB hash (db_load), as rpm\'s read-only bdb backend reads it', () => {
    const root = path.join(tmp, 'bdb-list');
    cpSync(installed, root, { recursive: true, verbatimSymlinks: true });
    convertStore(root, 'bdb', headers);
    const mine = ourList(readFileSync(path.join(root, 'var/lib/rpm/Packages')));
    expect(mine).toEqual(rpmFileList(root, 'bdb'));
    expect(mine).toEqual(rpmFileList(installed, 'sqlite'));
  });

  /** A real database from test/fixtures/rpm, listed by us and by rpm from a folder of its own. */
  const real = (fixture: string, name: string, store: 'sqlite' | 'bdb'): string[] => {
    const dir = path.join(tmp, fixture);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, name), gunzipSync(readFileSync(path.join(REPO, 'test/fixtures/rpm', fixture))));
    const mine = ourList(readFileSync(path.join(dir, name)));
    expect(mine).toEqual(rpmFileList('/', store, dir));
    return mine;
  };

  it('a real RHEL 8 Berkeley DB (go-rpmdb test data): what rpm bdb_ro lists', () => {
    expect(real('libuuid-el8.Packages.gz', 'Packages', 'bdb').length).toBeGreaterThan(3);
  });

  it('a real CBL-Mariner 2.0 SQLite database (go-rpmdb test data): what rpm lists, interior pages and overflow', () => {
    expect(real('cbl-mariner-2.0.rpmdb.sqlite.gz', 'rpmdb.sqlite', 'sqlite').length).toBeGreaterThan(1000);
  });

  it('a real SLE 15 ndb database: its 35 packages, each header as rpm reads it', () => {
    const db = gunzipSync(readFileSync(path.join(REPO, 'test/fixtures/rpm/sle15-bci.Packages.db.gz')));
    const { kind, packages } = readRpmDb(db);
    expect(kind).toBe('ndb');
    expect(packages).toHaveLength(35);
    expect(packages.slice(0, 3).map((p) => `${p.name}-${p.version}-${p.release}.${p.arch}`)).toEqual([
      'system-user-root-20190513-3.3.1.noarch',
      'filesystem-15.0-11.3.2.x86_64',
      'glibc-2.31-9.3.2.x86_64',
    ]);
    // The same header blobs in a Berkeley DB, listed by the real rpm, are what we parsed out of the ndb.
    const dir = path.join(tmp, 'sle');
    mkdirSync(dir, { recursive: true });
    writeBdbPackages(path.join(dir, 'Packages'), ndbPackageBlobs(db));
    const mine = packages.flatMap((p) => p.files.map((f) => `${f.path} ${f.digest} ${f.flags}`)).sort();
    expect(mine).toEqual(rpmFileList('/', 'bdb', dir));
  });
});

describe('hostile rpm databases are refused with a reason, bounded', () => {
  it('a header whose counts pass its size, a tag pointing outside its data', () => {
    const h = Buffer.from(headers[0]!);
    const big = Buffer.from(h);
    big.writeUInt32BE(0x7fffffff, 0);
    expect(() => parseRpmHeader(big)).toThrow(RpmDbError);
    const off = Buffer.from(h);
    off.writeInt32BE(0x7ffffff0, 8 + 16 + 8);
    expect(() => parseRpmHeader(off)).toThrow(RpmDbError);
    expect(() => parseRpmHeader(Buffer.alloc(3))).toThrow(RpmDbError);
  });

  it('a truncated or looping SQLite file', () => {
    const db = readFileSync(path.join(installed, 'var/lib/rpm/rpmdb.sqlite'));
    expect(() => sqlitePackageBlobs(db.subarray(0, 4096))).toThrow(RpmDbError);
    // page 1 as its own interior child: a cycle
    const loop = Buffer.from(db);
    const pageSize = loop.readUInt16BE(16);
    loop[100] = 0x05;
    loop.writeUInt32BE(1, 108);
    loop.writeUInt16BE(0, 103);
    expect(() => sqlitePackageBlobs(loop)).toThrow(RpmDbError);
    expect(pageSize).toBeGreaterThanOrEqual(512);
  });

  it('an unusable database is a note, not a crash, and ownership stays unknown', async () => {
    const img = memoryRoot([
      { path: '/usr/lib/sysimage/rpm/Packages.db', contentBase64: Buffer.from('RpmP\0\0\0\0\0\0\0\0\xff\xff\xff\x7f'.padEnd(64, '\0'), 'latin1').toString('base64') },
      { path: '/etc/x', content: 'x' },
    ]);
    const db = await loadPackageDb(createImageFs(img), img.inventory);
    expect(db.managers).toEqual(['rpm']);
    expect(db.read).toEqual([]);
    expect(db.notes[0]).toMatch(/^rpm database \/usr\/lib\/sysimage\/rpm\/Packages\.db not read \(ndb slot pages pass the file\)/);
    expect(await db.provenance('/etc/x')).toEqual({ kind: 'unknown' });
  });
});

function finding(r: Report, p: string, rule = 'build-path-reference'): Finding | undefined {
  return r.targets[0]!.findings.find((f) => f.path === p && f.ruleId === rule);
}

describe.each<RpmStore>(['sqlite', 'bdb', 'ndb'])('an rpm image (%s database) audited natively', (store) => {
  let image: string;
  beforeAll(() => {
    const root = path.join(tmp, `tree-${store}`);
    rpmRoot(root, store, path.join(tmp, `work-${store}`));
    image = path.join(tmp, `${store}.ext4`);
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', root, image, '16M'], { stdio: 'pipe' });
  }, 60_000);

  const scan = (...extra: string[]) => {
    const r = hostleak(['scan', image, '--backend', 'native', '--format', 'json', '--fail-on', 'never', ...extra]);
    expect(r.status).toBe(0);
    const rep = json<Report>(r);
    expect(rep.targets[0]!.status).toBe('ok');
    return rep;
  };

  it('a file rpm installed unchanged is info, naming the package; changed files, a %ghost path keep their severity', () => {
    const r = scan();
    expect(finding(r, '/usr/share/demo/build.txt')).toMatchObject({
      severity: 'info',
      message: expect.stringContaining('installed unchanged by rpm package hostleak-demo'),
    });
    expect(finding(r, '/usr/share/demo/site.conf')).toMatchObject({ severity: 'info' });
    expect(finding(r, '/usr/share/demo/changed.txt')).toMatchObject({
      severity: 'warning',
      message: expect.stringContaining('changed after install (rpm package hostleak-demo installed a different file)'),
    });
    expect(finding(r, '/etc/demo/demo.conf')).toMatchObject({ severity: 'warning', message: expect.stringContaining('changed after install') });
    // A log at the %ghost path: build-log reports it at warning; the build path in it is judged (not shipped, the
    // ghost has no contents) and folded into that one finding as info.
    expect(finding(r, '/var/log/demo.log')).toMatchObject({ severity: 'info', message: expect.stringMatching(/as %ghost.*reported by build-log/) });
    expect(r.targets[0]!.findings.find((f) => f.path === '/var/log/demo.log' && f.ruleId === 'build-log')).toMatchObject({ severity: 'warning' });
  });

  it('--trust-packages leaves packaged files unread, still reads a %config, /etc and a %ghost path', () => {
    const r = scan('--trust-packages');
    expect(finding(r, '/usr/share/demo/build.txt')).toBeUndefined();
    // trusted by its recorded checksum without reading it: the documented price of --trust-packages
    expect(finding(r, '/usr/share/demo/changed.txt')).toBeUndefined();
    expect(finding(r, '/usr/share/demo/site.conf')).toMatchObject({ severity: 'info' });
    expect(finding(r, '/etc/demo/demo.conf')).toMatchObject({ severity: 'warning' });
    expect(finding(r, '/var/log/demo.log')).toMatchObject({ message: expect.stringContaining('as %ghost') });
  });
});
