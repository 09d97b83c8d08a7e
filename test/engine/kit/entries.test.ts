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
    const walks = jest.spyOn(inventory, 'walkEach');
    const a: Entry[] = [];
    const b: Entry[] = [];
    const store: Entry[] = [];
    await Promise.all([
      forEachEntry(inventory, '/', (e) => a.push(e)),
      forEachEntry(inventory, '/', (e) => b.push(e)),
      forEachEntry(inventory, '/nix/store', (e) => store.push(e)),
    ]);
    expect(walks).toHaveBeenCalledTimes(1);
    expect(paths(a)).toEqual(paths([...inventory.walk('/')]));
    expect(paths(b)).toEqual(paths(a));
    expect(paths(store)).toEqual(paths([...inventory.walk('/nix/store')]));
    expect(a[0]).toBe(b[0]); // each entry is made once and shared
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
    await forEachEntry(inventory, '/no/such/dir', (e) => none.push(e));
    await forEachEntry(inventory, '/etc/hostname', (e) => none.push(e));
    expect(none).toEqual([]);
    const late: Entry[] = [];
    await forEachEntry(inventory, '/home', (e) => late.push(e));
    expect(paths(late)).toEqual(['/home/alice', '/home/alice/.bash_history']);
  });
});
