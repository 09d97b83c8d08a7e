import { jest } from '@jest/globals';
import { forEachEntry } from '../../../src/engine/kit/entries.js';
import type { Inventory } from '../../../src/inventory.js';
import type { Entry } from '../../../src/types.js';
import { memoryRoot } from '../../helpers/tree.js';

function tree(): Inventory {
  return memoryRoot([
    { path: '/etc/hostname', content: 'h\n' },
    { path: '/etc/ssh/sshd_config', content: 'x\n' },
    { path: '/nix/store/abc-hello/bin/hello', content: 'ELF' },
    { path: '/nix/store/abc-hello/share', target: 'bin' },
    { path: '/home/alice/.bash_history', content: 'ls\n' },
  ]).inventory;
}

const paths = (es: Entry[]) => es.map((e) => e.path);

describe('forEachEntry: one shared pass over the entries', () => {
  it('gives every subscriber of the same tick the entries walk() gives, in its order, from one walk', async () => {
    const inventory = tree();
    const walks = jest.spyOn(inventory, 'visitAll');
    const a: Entry[] = [];
    const b: Entry[] = [];
    const store: Entry[] = [];
    await Promise.all([
      forEachEntry(inventory, '/', (e) => a.push(e.entry())),
      forEachEntry(inventory, '/', (e) => b.push(e.entry())),
      forEachEntry(inventory, '/nix/store', (e) => store.push(e.entry())),
    ]);
    expect(walks).toHaveBeenCalledTimes(1);
    expect(a).toEqual([...inventory.walk('/')]);
    expect(paths(b)).toEqual(paths(a));
    expect(store).toEqual([...inventory.walk('/nix/store')]);
    expect(a[0]).toBe(b[0]); // an entry kept by two visitors is made once
  });

  it('hands a cursor that reads what walk() gives, column by column, without making the entry', async () => {
    const inventory = tree();
    const read: Array<Record<string, unknown>> = [];
    await forEachEntry(inventory, '/', (c) =>
      void read.push({ path: c.path, name: c.name, type: c.type, mode: c.mode, uid: c.uid, gid: c.gid, size: c.size, target: c.target }),
    );
    const walked = [...inventory.walk('/')].map((e) => ({
      path: e.path, name: e.path.slice(e.path.lastIndexOf('/') + 1), type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, size: e.size, target: e.target,
    }));
    expect(read).toEqual(walked);
    expect(read.find((r) => r.path === '/nix/store/abc-hello/share')).toMatchObject({ type: 'symlink', target: 'bin' });
  });

  it('skips what is at and below the `skip` paths, as isStorePath would say of each path', async () => {
    const inventory = tree();
    const seen: string[] = [];
    const home: string[] = [];
    await Promise.all([
      forEachEntry(inventory, '/', (e) => void seen.push(e.path), { skip: ['/nix/store', '/etc/ssh/sshd_config', '/no/such'] }),
      forEachEntry(inventory, '/home', (e) => void home.push(e.path), { skip: ['/home/alice/.bash_history'] }),
    ]);
    const all = paths([...inventory.walk('/')]);
    expect(seen).toEqual(all.filter((p) => p !== '/nix/store' && !p.startsWith('/nix/store/') && p !== '/etc/ssh/sshd_config'));
    expect(seen).toContain('/nix');
    expect(home).toEqual(['/home/alice']);
  });

  it('hands the visitor only entries of the `types` and `names` asked for, the name test asked once per name', async () => {
    const inventory = memoryRoot([
      { path: '/a/bin/hello', content: 'x' },
      { path: '/b/bin/hello', content: 'y' },
      { path: '/b/bin/other', content: 'z' },
      { path: '/c/hello', target: '../a/bin/hello' },
    ]).inventory;
    const asked: string[] = [];
    const files: string[] = [];
    const links: string[] = [];
    await Promise.all([
      forEachEntry(inventory, '/', (e) => void files.push(e.path), { types: ['file'], names: (n) => (asked.push(n), n === 'hello') }),
      forEachEntry(inventory, '/', (e) => void links.push(e.path), { types: ['symlink', 'dir'], names: (n) => n !== 'bin' }),
    ]);
    expect(files).toEqual(['/a/bin/hello', '/b/bin/hello']);
    expect(links).toEqual(['/a', '/b', '/c', '/c/hello']);
    expect(asked.filter((n) => n === 'hello')).toHaveLength(1);
  });

  it('a visitor that throws rejects its own promise; the others still get every entry', async () => {
    const inventory = tree();
    const seen: string[] = [];
    const after: string[] = [];
    const failing = forEachEntry(inventory, '/', (e) => {
      if (e.path === '/etc/ssh') throw new Error('rule bug');
    });
    const next = forEachEntry(inventory, '/', (e) => void seen.push(e.path));
    const third = forEachEntry(inventory, '/', (e) => void after.push(e.path));
    await expect(failing).rejects.toThrow('rule bug');
    await Promise.all([next, third]);
    expect(seen).toEqual(paths([...inventory.walk('/')]));
    expect(after).toEqual(seen);
  });

  it('a subtree that is not a directory ends at once; a later subscriber gets a pass of its own', async () => {
    const inventory = tree();
    const none: Entry[] = [];
    await forEachEntry(inventory, '/no/such/dir', (e) => none.push(e.entry()));
    await forEachEntry(inventory, '/etc/hostname', (e) => none.push(e.entry()));
    expect(none).toEqual([]);
    const late: Entry[] = [];
    await forEachEntry(inventory, '/home', (e) => late.push(e.entry()));
    expect(paths(late)).toEqual(['/home/alice', '/home/alice/.bash_history']);
  });
});
