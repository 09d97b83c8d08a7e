/**
 * The one walk every native filesystem reader goes through (src/backends/native/walk.ts): its name check, cycles,
 * duplicates and budgets hold whatever a reader hands it (a reader made up here says exactly what a hostile image
 * could make a real one say), and on real images the budget and the deadline stop a listing with their typed errors,
 * and an ISO whose directory extents overlap is listed once, not once per directory over the shared sectors.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BudgetError, TimeoutError } from '../../../src/errors.js';
import { listNativeFilesystems, openNativeSource, WalkBudget } from '../../../src/backends/native/index.js';
import { walk, type DirSink, type FsReader, type Node } from '../../../src/backends/native/walk.js';
import { requireTool } from '../../helpers/tools.js';

requireTool('mke2fs', 'genisoimage');

/** A directory as a made-up reader lists it: entries, a directory naming the key of its listing. */
type Item = { name: string; dir?: number };

/** A reader over listings by key (key 1 is the root): what a hostile image can make any reader emit. */
function reader(listings: Record<number, Item[]>): FsReader<number> {
  const node = (ref: number, dir: boolean): Node<number> => ({ type: dir ? 'dir' : 'file', mode: 0o755, uid: 0, gid: 0, size: dir ? 100 : 1, mtime: 0, ref });
  return {
    type: 'made-up',
    label: null,
    uuid: null,
    root: () => node(1, true),
    readDir(key: number, sink: DirSink<number>) {
      for (const it of listings[key] ?? []) sink.entry(it.name, node(it.dir ?? 0, it.dir !== undefined));
    },
    dirKey: (key) => key,
    readFile: () => ({ data: Buffer.alloc(0), size: 0, truncated: false }),
  };
}

describe('the walk', () => {
  it('refuses the same names for every reader: empty, ".", "..", "/" and NUL, one problem each, nothing listed', async () => {
    const w = await walk(reader({ 1: [{ name: 'ok' }, { name: '' }, { name: '.' }, { name: '..' }, { name: 'a/b' }, { name: 'a\0b' }, { name: '..x' }] }), '/dev/x');
    expect(w.inventory.entries().map((e) => e.path).sort()).toEqual(['/', '/..x', '/ok']);
    expect(w.problems).toEqual(['/dev/x:/: invalid file name in directory']);
  });

  it('keeps the first of two entries with one name and says so', async () => {
    const w = await walk(reader({ 1: [{ name: 'a', dir: 2 }, { name: 'a' }], 2: [{ name: 'in' }] }), '/dev/x');
    expect(w.inventory.entries().map((e) => e.path).sort()).toEqual(['/', '/a', '/a/in']);
    expect(w.problems).toEqual(['/dev/x:/a: duplicate name in directory']);
  });

  it('reads a directory key once: a cycle back to the root or a sibling is a problem, and the walk ends', async () => {
    const w = await walk(reader({ 1: [{ name: 'a', dir: 2 }, { name: 'b', dir: 2 }], 2: [{ name: 'up', dir: 1 }, { name: 'f' }] }), '/dev/x');
    expect(w.inventory.entries().map((e) => e.path).sort()).toEqual(['/', '/a', '/a/f']);
    expect(w.problems.sort()).toEqual(['/dev/x:/a/up: directory appears twice (directory cycle)', '/dev/x:/b: directory appears twice (directory cycle)']);
  });

  it('stops a directory fan-out at the entries budget with a BudgetError, not after listing it', async () => {
    // 1,000 directories each listing 1,000 more names: a million entries if nothing stopped it.
    const names = Array.from({ length: 1000 }, (_, i) => ({ name: `f${i}` }));
    const listings: Record<number, Item[]> = { 1: Array.from({ length: 1000 }, (_, i) => ({ name: `d${i}`, dir: i + 2 })) };
    for (let i = 0; i < 1000; i++) listings[i + 2] = names;
    const r = reader(listings);
    let read = 0;
    const readDir = r.readDir.bind(r);
    r.readDir = (key, sink) => {
      read++;
      return readDir(key, sink);
    };
    const err = await walk(r, '/dev/x', new WalkBudget({ maxEntries: 5000 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BudgetError);
    expect((err as Error).message).toBe('more than 5000 entries listed; the rest was not read (the entries budget)');
    expect(read).toBeLessThanOrEqual(6);
  });

  it('checks the deadline by the clock while listing, even when no read reaches the image', async () => {
    const listings: Record<number, Item[]> = { 1: Array.from({ length: 50_000 }, (_, i) => ({ name: `f${i}` })) };
    let checks = 0;
    const check = () => {
      if (++checks > 10) throw new TimeoutError('timed out after 1 s (see --timeout)');
    };
    const err = await walk(reader(listings), '/dev/x', new WalkBudget({ check })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(checks).toBe(11);
  });

  it('skips a directory bigger than the per-directory bound, and stops at the total directory bytes', async () => {
    const listings: Record<number, Item[]> = { 1: [{ name: 'a', dir: 2 }, { name: 'b', dir: 3 }], 2: [{ name: 'x' }], 3: [{ name: 'y' }] };
    const w = await walk(reader(listings), '/dev/x', new WalkBudget({ maxDirBytes: 99 }));
    expect(w.problems).toEqual(['/dev/x:/: directory too large (100 bytes)']);
    const err = await walk(reader(listings), '/dev/x', new WalkBudget({ maxTotalDirBytes: 250 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BudgetError);
  });
});

describe('the walk on real images', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'native-walk-'));
  });
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('ends an ext4 listing at the entries budget with a BudgetError (the target fails, nothing is called clean)', async () => {
    const tree = path.join(tmp, 'tree');
    for (let d = 0; d < 10; d++) {
      mkdirSync(path.join(tree, `d${d}`), { recursive: true });
      for (let f = 0; f < 20; f++) writeFileSync(path.join(tree, `d${d}`, `f${f}`), 'x');
    }
    const img = path.join(tmp, 'ext4.img');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, img, '4M'], { stdio: 'ignore' });
    const whole = openNativeSource(img);
    try {
      const { views, problems } = await listNativeFilesystems(whole, new WalkBudget({ maxEntries: 1000 }));
      expect(problems).toEqual([]);
      expect(views[0]!.inventory.size).toBe(1 + 1 + 10 + 200); // /, lost+found, d*, d*/f*
      await expect(listNativeFilesystems(whole, new WalkBudget({ maxEntries: 100 }))).rejects.toThrow(BudgetError);
    } finally {
      whole.close?.();
    }
  });

  it('lists an ISO whose directories overlap one pool of sectors once, and names the overlap', async () => {
    // A plain ISO (genisoimage, no Rock Ridge): /pool holds 600 files and 40 directories. The 40 directory records
    // are then pointed into the pool's own sectors, each of which is made to start with a "." record: a reader that
    // trusts them lists the rest of the pool again under every one of them (and under their copies inside it).
    const tree = path.join(tmp, 'iso-tree');
    mkdirSync(path.join(tree, 'pool'), { recursive: true });
    for (let f = 0; f < 600; f++) writeFileSync(path.join(tree, 'pool', `F${String(f).padStart(4, '0')}`), '');
    for (let d = 0; d < 40; d++) mkdirSync(path.join(tree, 'pool', `SUB${String(d).padStart(3, '0')}`));
    const img = path.join(tmp, 'overlap.iso');
    execFileSync('genisoimage', ['-quiet', '-o', img, tree], { stdio: 'ignore' });
    const iso = readFileSync(img);
    const SECTOR = 2048;
    const records = (sector: number, size: number): Array<{ at: number; len: number; name: string }> => {
      const out: Array<{ at: number; len: number; name: string }> = [];
      for (let p = sector * SECTOR; p < sector * SECTOR + size; ) {
        const len = iso[p]!;
        if (len === 0) {
          p = (Math.floor(p / SECTOR) + 1) * SECTOR;
          continue;
        }
        out.push({ at: p, len, name: iso.toString('latin1', p + 33, p + 33 + iso[p + 32]!) });
        p += len;
      }
      return out;
    };
    const setExtent = (at: number, sector: number, size: number) => {
      iso.writeUInt32LE(sector, at + 2);
      iso.writeUInt32BE(sector, at + 6);
      iso.writeUInt32LE(size, at + 10);
      iso.writeUInt32BE(size, at + 14);
    };
    const pvd = 16 * SECTOR;
    const root = records(iso.readUInt32LE(pvd + 156 + 2), iso.readUInt32LE(pvd + 156 + 10));
    const poolRec = root.find((r) => r.name === 'POOL')!;
    const pool = iso.readUInt32LE(poolRec.at + 2);
    const poolSize = iso.readUInt32LE(poolRec.at + 10);
    const sectors = poolSize / SECTOR;
    expect(sectors).toBeGreaterThan(10);
    const inPool = records(pool, poolSize);
    // Sector k of the pool (k >= 1) starts with a "." record of a directory of the rest of the pool.
    for (let k = 1; k < sectors; k++) {
      const first = (pool + k) * SECTOR;
      const len = iso[first]!;
      iso.fill(0, first + 1, first + len);
      iso[first] = len;
      iso[first + 25] = 0x02;
      iso[first + 32] = 1;
      iso[first + 33] = 0;
      setExtent(first, pool + k, poolSize - k * SECTOR);
    }
    const subs = inPool.filter((r) => r.name.startsWith('SUB') && r.at % SECTOR !== 0);
    expect(subs.length).toBeGreaterThan(30);
    subs.forEach((r, i) => {
      const k = 1 + (i % (sectors - 1));
      setExtent(r.at, pool + k, poolSize - k * SECTOR);
    });
    writeFileSync(img, iso);

    const src = openNativeSource(img);
    try {
      const { views, problems } = await listNativeFilesystems(src);
      expect(problems.join('\n')).toMatch(/^\/dev\/sda:\/pool\/sub\d+: directory extent at sector \d+ overlaps another directory's; not read$/m);
      // The root, /pool, its files and its directories: each listed once (the pool's sectors are read once).
      const files = views[0]!.inventory.entries().map((e) => e.path).filter((p) => /^\/pool\/f\d+$/.test(p));
      expect(files.length).toBeGreaterThan(550);
      expect(views[0]!.inventory.size).toBeLessThan(1 + 1 + 600 + 40 + 1);
    } finally {
      src.close?.();
    }
  });
});
