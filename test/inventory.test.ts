import { Inventory, normalizePath, pathComponents, plainDepth } from '../src/inventory.js';
import { memoryRoot } from './helpers/tree.js';

function inv(tree: Parameters<typeof memoryRoot>[0]): Inventory {
  return memoryRoot(tree).inventory;
}

describe('plainDepth', () => {
  it('counts what pathComponents makes of a name without `..`, and says -1 for one with a `..` component', () => {
    // Every name of up to four pieces over these (joined by `/`), and ranges of it.
    const pieces = ['a', 'bc', '.', '..', '', '.x', 'x..y', '...'];
    let level = pieces;
    const names = [...level];
    for (let k = 2; k <= 4; k++) names.push(...(level = level.flatMap((n) => pieces.map((p) => `${n}/${p}`))));
    const wrong: Array<[string, number, number, number]> = [];
    let checked = 0;
    for (const name of names) {
      for (let from = 0; from <= name.length; from++) {
        for (const to of [from, Math.min(name.length, from + 3), name.length]) {
          const text = name.slice(from, to);
          const want = text.split('/').includes('..') ? -1 : pathComponents(text).length;
          if (plainDepth(name, from, to) !== want) wrong.push([name, from, to, plainDepth(name, from, to)]);
          checked++;
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(checked).toBeGreaterThan(10_000);
  });
});

describe('normalizePath', () => {
  it('folds slashes, dots and never climbs above /', () => {
    expect(normalizePath('/a//b/./c/')).toBe('/a/b/c');
    expect(normalizePath('/../../etc/passwd')).toBe('/etc/passwd');
    expect(normalizePath('/')).toBe('/');
  });
});

describe('Inventory.resolve (chroot-like)', () => {
  const tree = inv([
    { path: '/etc/static', target: '/nix/store/abc-etc/etc' },
    { path: '/etc/fstab', target: '/etc/static/fstab' },
    { path: '/nix/store/abc-etc/etc/fstab', content: 'fstab\n' },
    { path: '/nix/var/nix/profiles/system', target: 'system-1-link' },
    { path: '/nix/var/nix/profiles/system-1-link', target: '/nix/store/xyz-system' },
    { path: '/nix/store/xyz-system', type: 'dir' },
    { path: '/a/escape', target: '../../../../../../etc/fstab' },
    { path: '/a/host-only', target: '/definitely/only/on/the/host' },
    { path: '/a/loop1', target: 'loop2' },
    { path: '/a/loop2', target: '/a/loop1' },
    { path: '/a/self', target: 'self' },
    { path: '/a/dotdot-dir', target: '../nix/store/xyz-system/..' },
    { path: '/a/file', content: 'x' },
    { path: '/a/through-file', target: '/a/file/child' },
    { path: '/a/empty', target: '' },
    ...Array.from({ length: 45 }, (_, i) => ({ path: `/chain/l${i}`, target: `l${i + 1}` })),
    { path: '/chain/l45', content: 'end' },
  ]);

  it('follows absolute targets from the image root through a link chain', () => {
    const r = tree.resolve('/etc/fstab');
    expect(r).toMatchObject({ ok: true, path: '/nix/store/abc-etc/etc/fstab' });
  });

  it('follows relative targets from the link directory', () => {
    expect(tree.resolve('/nix/var/nix/profiles/system')).toMatchObject({ ok: true, path: '/nix/store/xyz-system' });
  });

  it('never lets .. climb above the image root', () => {
    expect(tree.resolve('/a/escape')).toMatchObject({ ok: true, path: '/nix/store/abc-etc/etc/fstab' });
    expect(tree.resolve('/../../../etc/fstab')).toMatchObject({ ok: true, path: '/nix/store/abc-etc/etc/fstab' });
    expect(tree.resolve('/a/dotdot-dir')).toMatchObject({ ok: true, path: '/nix/store' });
  });

  it('treats a target that exists only on the host as missing', () => {
    expect(tree.resolve('/a/host-only')).toEqual({ ok: false, reason: 'missing', at: '/definitely' });
  });

  it('detects loops, including a self loop', () => {
    expect(tree.resolve('/a/loop1')).toMatchObject({ ok: false, reason: 'loop' });
    expect(tree.resolve('/a/self')).toMatchObject({ ok: false, reason: 'loop' });
  });

  it('bounds the chain length like the kernel (40 follows)', () => {
    expect(tree.resolve('/chain/l5')).toMatchObject({ ok: true, path: '/chain/l45' });
    expect(tree.resolve('/chain/l0')).toMatchObject({ ok: false, reason: 'loop' });
  });

  it('rejects a path through a regular file and empty targets', () => {
    expect(tree.resolve('/a/through-file')).toMatchObject({ ok: false, reason: 'not-a-directory', at: '/a/file' });
    expect(tree.resolve('/a/empty')).toMatchObject({ ok: false, reason: 'empty-target' });
  });

  it('followFinal: false stops at the last link (lstat)', () => {
    expect(tree.resolve('/etc/fstab', { followFinal: false })).toMatchObject({ ok: true, path: '/etc/fstab' });
    expect(tree.resolve('/etc/static/fstab', { followFinal: false })).toMatchObject({
      ok: true,
      path: '/nix/store/abc-etc/etc/fstab',
    });
  });
});

describe('Inventory.glob', () => {
  const tree = inv([
    { path: '/home/alice/.nix-defexpr/channels', target: '/x' },
    { path: '/home/bob/.nix-defexpr', type: 'dir' },
    { path: '/root/.nix-defexpr/channels_root', target: '/y' },
    { path: '/home/alice/.bashrc', content: '' },
  ]);

  it('matches dot files and respects the static prefix', () => {
    expect(tree.glob('/home/*/.nix-defexpr').map((e) => e.path)).toEqual([
      '/home/alice/.nix-defexpr',
      '/home/bob/.nix-defexpr',
    ]);
    expect(tree.glob('/**/.nix-defexpr/**', { types: ['symlink'] }).map((e) => e.path)).toEqual([
      '/home/alice/.nix-defexpr/channels',
      '/root/.nix-defexpr/channels_root',
    ]);
    expect(tree.glob('/home/alice/.bashrc').map((e) => e.path)).toEqual(['/home/alice/.bashrc']);
    expect(tree.glob('/nope/*')).toEqual([]);
  });

  it('lists children sorted', () => {
    expect(tree.children('/home')).toEqual(['alice', 'bob']);
  });
});

describe('Inventory.walk skips subtrees', () => {
  const tree = inv([
    { path: '/etc/hostname', content: 'x\n' },
    { path: '/nix/store/abc-pkg/bin/tool', content: 'x' },
    { path: '/nix/var/db', type: 'dir' },
    { path: '/proc/1/status', content: 'x' },
    { path: '/zz', content: 'x' },
  ]);
  const paths = (it: Iterable<{ path: string }>) => [...it].map((e) => e.path);

  it('yields a skipped directory but nothing below it, and keeps walking after it', () => {
    const skip = (d: { path: string }) => d.path === '/nix/store' || d.path === '/proc';
    const walked = paths(tree.walk('/', { skip }));
    expect(walked).toContain('/nix/store');
    expect(walked).toContain('/proc');
    expect(walked.filter((p) => p.startsWith('/nix/store/') || p.startsWith('/proc/'))).toEqual([]);
    expect(walked).toEqual(expect.arrayContaining(['/etc/hostname', '/nix/var/db', '/zz']));
    // Without skip: the same walk plus exactly the pruned entries.
    const all = paths(tree.walk('/'));
    expect(all.filter((p) => !walked.includes(p)).every((p) => p.startsWith('/nix/store/') || p.startsWith('/proc/'))).toBe(true);
    expect(all.length).toBeGreaterThan(walked.length);
  });

  it('prunes below a directory that is walked from', () => {
    expect(paths(tree.walk('/nix', { skip: (d) => d.path === '/nix/store' }))).toEqual(['/nix/store', '/nix/var', '/nix/var/db']);
  });
});

describe('Inventory walk order', () => {
  it('is depth first, each directory\'s children in code-unit order of their names, however they were added', () => {
    // Names that sort differently by code unit than by locale or by number, repeated across directories, added in a
    // scrambled order (as a reader meets them in hash-ordered directory blocks).
    const names = ['b', 'B', 'a10', 'a9', 'é', 'e', 'Z', '_x', '.hidden', 'bin', 'lib', 'f0', 'f1', 'f10', 'f2'];
    const paths: string[] = [];
    for (const d of ['b', 'a', 'B', 'é']) {
      paths.push(`/${d}`);
      for (const x of names) {
        paths.push(`/${d}/${x}`);
        if (x === 'bin' || x === 'b') for (const y of names) paths.push(`/${d}/${x}/${y}`);
      }
    }
    let seed = 7;
    const scrambled = [...paths].sort(() => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 3) - 1);
    const dirs = new Set(paths.flatMap((p) => [...paths].filter((q) => q.startsWith(p + '/')).length > 0 ? [p] : []));
    const tree = new Inventory();
    tree.setRoot('dir', 0o755, 0, 0, 0, 0, 'fs');
    // Parents first, in the scrambled order otherwise.
    for (const p of [...scrambled].sort((x, y) => x.split('/').length - y.split('/').length)) {
      const parent = p.slice(0, p.lastIndexOf('/')) || '/';
      tree.addChild(tree.indexOf(parent), p.slice(p.lastIndexOf('/') + 1), dirs.has(p) ? 'dir' : 'file', 0o644, 0, 0, 1, 0, 'fs');
    }
    const byComponents = (x: string, y: string) => {
      const a = x.split('/');
      const b = y.split('/');
      for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
      return a.length - b.length;
    };
    const expected = [...paths].sort(byComponents);
    expect([...tree.walk('/')].map((e) => e.path)).toEqual(expected);
    const visited: string[] = [];
    tree.visitAll((c) => void visited.push(c.path));
    expect(visited).toEqual(expected);
    expect([...tree.walk('/b')].map((e) => e.path)).toEqual(expected.filter((p) => p.startsWith('/b/')));
    expect(tree.named((n) => n === 'f10').map((e) => e.path)).toEqual(expected.filter((p) => p.endsWith('/f10')));
  });
});

describe('Inventory.reserve (sizing hint from a reader)', () => {
  /** A tree of `dirs` directories with `files` files each, built the way the fast readers build it. */
  function build(inventory: Inventory, dirs: number, files: number): void {
    inventory.setRoot('dir', 0o755, 0, 0, 0, 0, '/dev/sda');
    for (let d = 0; d < dirs; d++) {
      const di = inventory.addChild(Inventory.ROOT, `d${d}`, 'dir', 0o755, 0, 0, 0, 0, '/dev/sda');
      for (let f = 0; f < files; f++) inventory.addChild(di, `f${f}`, 'file', 0o644, d, f, f, 0, '/dev/sda');
    }
  }

  it.each([
    ['too small a hint (grows past it)', 10],
    ['an exact hint', 1 + 30 + 30 * 40],
    ['too large a hint', 100_000],
  ])('holds the same tree whatever the hint: %s', (_label, hint) => {
    const plain = new Inventory();
    build(plain, 30, 40);
    const hinted = new Inventory();
    hinted.reserve(hint);
    build(hinted, 30, 40);
    expect(hinted.size).toBe(plain.size);
    expect([...hinted.walk('/')]).toEqual([...plain.walk('/')]);
    expect(hinted.get('/d29/f39')).toMatchObject({ type: 'file', uid: 29, gid: 39, size: 39 });
    expect(hinted.addChild(hinted.indexOf('/d3'), 'f7', 'file', 0, 0, 0, 0, 0, '/dev/sda')).toBe(-1);
  });

  it('keeps what was added before the hint', () => {
    const inventory = new Inventory();
    build(inventory, 3, 3);
    inventory.reserve(5000);
    inventory.addChild(inventory.indexOf('/d1'), 'late', 'file', 0o600, 0, 0, 1, 0, '/dev/sda');
    expect(inventory.get('/d2/f2')).toMatchObject({ type: 'file', uid: 2, gid: 2 });
    expect(inventory.get('/d1/late')).toMatchObject({ mode: 0o600 });
    expect(inventory.size).toBe(1 + 3 + 9 + 1);
  });

  it('caps an untrusted hint', () => {
    const inventory = new Inventory();
    expect(() => inventory.reserve(2 ** 40)).not.toThrow();
    expect(() => inventory.reserve(Number.NaN)).not.toThrow();
    build(inventory, 2, 2);
    expect(inventory.size).toBe(7);
  });
});

describe('Inventory.subtree (a btrfs subvolume on its own)', () => {
  it('re-roots a directory, keeps each entry and its filesystem, and empties the directories asked', () => {
    const whole = inv([
      { path: '/root/etc/fstab', content: 'x' },
      { path: '/root/etc/link', target: '/etc/fstab' },
      { path: '/root/var/log/a', content: 'yy' },
      { path: '/root/var/log/b', content: 'zzz' },
      { path: '/home/alice/.bashrc', content: 'h' },
    ]);
    const sub = whole.subtree('/root', ['/root/var', '/home']);
    expect(sub.entries().map((e) => e.path)).toEqual(['/', '/etc', '/etc/fstab', '/etc/link', '/var']);
    expect(sub.get('/etc/link')).toMatchObject({ type: 'symlink', target: '/etc/fstab' });
    expect(sub.resolve('/etc/link')).toMatchObject({ ok: true, path: '/etc/fstab' });
    expect(sub.get('/etc/fstab')).toEqual({ ...whole.get('/root/etc/fstab'), path: '/etc/fstab' });
    // The whole is left as it was.
    expect(whole.has('/root/var/log/b')).toBe(true);
    expect(whole.subtree('/', ['/root']).entries().map((e) => e.path)).toEqual(['/', '/home', '/home/alice', '/home/alice/.bashrc', '/root']);
    expect(whole.subtree('/nowhere').size).toBe(0);
  });
});
