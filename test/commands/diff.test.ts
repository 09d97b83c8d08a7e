import type { OpenedImage } from '../../src/backends/backend.js';
import { diffImages, formatDiffText } from '../../src/commands/diff.js';
import { memoryRoot, type TreeEntry } from '../helpers/tree.js';

function image(tree: TreeEntry[]): OpenedImage {
  return { backend: 'mem', filesystems: [], roots: [memoryRoot(tree)], problems: [], close: async () => {} };
}

describe('diffImages', () => {
  const store = (n: number): TreeEntry[] =>
    Array.from({ length: n }, (_, i) => ({ path: `/nix/store/h${i}-pkg/share/f${i}`, content: String(i) }));

  it('detects changed mode, owner, size, target and content of same-size small files', async () => {
    const a = image([
      { path: '/etc/a', content: 'aaaa' },
      { path: '/etc/b', content: 'bbbb', mode: '0644' },
      { path: '/etc/l', target: '/x' },
      { path: '/etc/o', content: 'o', uid: 0 },
      { path: '/etc/s', content: 's' },
    ]);
    const b = image([
      { path: '/etc/a', content: 'AAAA' },
      { path: '/etc/b', content: 'bbbb', mode: '0600' },
      { path: '/etc/l', target: '/y' },
      { path: '/etc/o', content: 'o', uid: 1000 },
      { path: '/etc/s', content: 'ss' },
    ]);
    const d = await diffImages(a, b, { old: 'a', new: 'b' }, { old: [], new: [] });
    expect(Object.fromEntries(d.changed.map((c) => [c.path, Object.keys(c.changes)]))).toEqual({
      '/etc/a': ['content'],
      '/etc/b': ['mode'],
      '/etc/l': ['target'],
      '/etc/o': ['uid'],
      '/etc/s': ['size'],
    });
  });

  it('summarises store paths and large subtrees as one line with a count', async () => {
    const d = await diffImages(image([]), image([...store(3), ...Array.from({ length: 20 }, (_, i) => ({ path: `/big/f${i}`, content: 'x' }))]), { old: 'a', new: 'b' }, { old: [], new: [] });
    const text = formatDiffText(d, false);
    expect(text).toContain('+ h0-pkg/');
    expect(text).toContain('(+2 entries below)');
    expect(text).not.toContain('f0\n');
    expect(text).toContain('+ big/  drwxr-xr-x 0:0 (+20 entries below)');
  });
});
