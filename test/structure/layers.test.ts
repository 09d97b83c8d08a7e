/**
 * The layers import downward only. Each rule names a folder (or file) of src/ and what it must not import; the
 * imports are read from the sources, so a new file is checked without being listed.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');

function sources(rel: string): string[] {
  const abs = path.join(ROOT, rel);
  if (!statSync(abs).isDirectory()) return [rel];
  return readdirSync(abs, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(rel, f));
}

/** Repository-relative paths of the local modules a file imports (static, `export ... from` and dynamic). */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g)) {
    out.push(path.join(path.dirname(file), m[1]!).replace(/\.js$/, '.ts'));
  }
  return out;
}

function violations(from: string, forbidden: string[]): string[] {
  const bad: string[] = [];
  for (const file of sources(from)) {
    for (const imp of importsOf(file)) {
      if (forbidden.some((f) => imp === f || imp.startsWith(f.endsWith('.ts') ? f : `${f}/`))) bad.push(`${file} -> ${imp}`);
    }
  }
  return bad;
}

/** The import circles among `files` (strongly connected components of more than one module), each sorted. */
function cycles(files: string[]): string[][] {
  const graph = new Map(files.map((f) => [f, importsOf(f).filter((i) => files.includes(i))]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of graph.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do scc.push((w = stack.pop()!));
      while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const f of files) if (!index.has(f)) visit(f);
  return out;
}

describe('import boundaries', () => {
  test('the importer finds imports at all (the checks below are not vacuous)', () => {
    expect(importsOf('src/scan.ts')).toContain('src/backends/backend.ts');
  });

  test('src/image/ does not import the backends above it', () => {
    expect(violations('src/image', ['src/backends'])).toEqual([]);
  });

  test('src/engine/ does not import backends, the store or the application layer', () => {
    expect(violations('src/engine', ['src/backends', 'src/resolve', 'src/store', 'src/commands', 'src/cli.ts', 'src/scan.ts'])).toEqual([]);
  });

  test('src/reporters/ see only the report contracts, never the engine or the backends', () => {
    expect(violations('src/reporters', ['src/engine', 'src/backends', 'src/resolve', 'src/store', 'src/commands', 'src/cli.ts'])).toEqual([]);
  });

  test('src/cli.ts is the parser and the dispatch: no store, backend or engine internals', () => {
    expect(violations('src/cli.ts', ['src/store', 'src/engine', 'src/scan.ts'])).toEqual([]);
    expect(readFileSync(path.join(ROOT, 'src/cli.ts'), 'utf8').split('\n').length).toBeLessThanOrEqual(300);
  });

  test('rules import from src/ only through the rule kit', () => {
    // nested-image asks the target resolver which files are images (src/resolve/nested.ts); moving that detection
    // into the kit is left to the resolver's owners.
    const allowed = new Set(['src/engine/kit/index.ts', 'src/resolve/nested.ts']);
    const bad = sources('rules').flatMap((f) =>
      importsOf(f)
        .filter((imp) => imp.startsWith('src/') && !allowed.has(imp))
        .map((imp) => `${f} -> ${imp}`),
    );
    expect(bad).toEqual([]);
    expect(importsOf('rules/orphaned-home.ts')).toContain('src/engine/kit/index.ts');
  });

  test('the rule kit imports no backend, resolver or application layer', () => {
    expect(violations('src/engine/kit', ['src/backends', 'src/resolve', 'src/store', 'src/commands', 'src/engine/gate'])).toEqual([]);
  });

  test('the store drives scan, never the reverse: scan.ts audits one target and imports nothing of the store', () => {
    expect(violations('src/scan.ts', ['src/store', 'src/commands', 'src/cli.ts'])).toEqual([]);
    expect(importsOf('src/store/run.ts')).toContain('src/scan.ts');
  });

  test('the store imports no backend or reader (it hands targets to scan.ts)', () => {
    expect(violations('src/store', ['src/backends', 'src/commands', 'src/cli.ts'])).toEqual([]);
  });

  test('backends never resolve targets: no resolver, store, scan or application layer', () => {
    expect(violations('src/backends', ['src/resolve', 'src/store', 'src/scan.ts', 'src/commands', 'src/cli.ts', 'src/engine'])).toEqual([]);
  });

  test('resolvers hand backends a source: no store, scan or application layer', () => {
    expect(violations('src/resolve', ['src/store', 'src/scan.ts', 'src/commands', 'src/cli.ts'])).toEqual([]);
  });

  test('src/remote/ speaks HTTP for the layers above it: of the backends only the ByteSource contract, no resolver or store', () => {
    const bad = violations('src/remote', ['src/backends', 'src/resolve', 'src/store', 'src/engine', 'src/scan.ts', 'src/commands', 'src/cli.ts']);
    expect(bad.filter((v) => !v.endsWith(' -> src/backends/native/source.ts'))).toEqual([]);
    expect(importsOf('src/remote/source.ts')).toContain('src/backends/native/source.ts');
    expect(importsOf('src/resolve/stream.ts')).toContain('src/remote/files.ts');
  });

  test('no circle among the modules of src/ (the rule kit and runtime included)', () => {
    expect(cycles(sources('src'))).toEqual([]);
  });

  test('native filesystem readers leave the walk to walk.ts: no other native module builds an inventory', () => {
    const bad = sources('src/backends/native')
      .filter((f) => f !== 'src/backends/native/walk.ts')
      .flatMap((f) => importsOf(f).filter((imp) => imp === 'src/inventory.ts').map((imp) => `${f} -> ${imp}`));
    expect(bad).toEqual([]);
    expect(importsOf('src/backends/native/walk.ts')).toContain('src/inventory.ts');
  });

  test('the contracts and the error model import no layer', () => {
    const layers = ['src/engine', 'src/backends', 'src/image', 'src/store', 'src/reporters', 'src/commands', 'src/cli.ts'];
    expect(violations('src/types.ts', layers)).toEqual([]);
    expect(violations('src/errors.ts', layers)).toEqual([]);
  });
});

/** The files of src/ whose text matches `re`, with the number of matches in each. */
function definitions(re: RegExp): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of sources('src')) {
    const n = [...readFileSync(path.join(ROOT, f), 'utf8').matchAll(re)].length;
    if (n > 0) out[f] = n;
  }
  return out;
}

describe('one of each: an idea has one implementation, in one place', () => {
  test('one typeOfMode (the entry type of a POSIX mode), in src/types.ts', () => {
    expect(definitions(/function typeOfMode\b/g)).toEqual({ 'src/types.ts': 1 });
  });

  test('one visible() for image strings in every output, in src/escape.ts (the page script copies it, checked in html.test.ts)', () => {
    expect(definitions(/function visible\(\w+: string\): string/g)).toEqual({ 'src/escape.ts': 1 });
  });

  test("`..` in one place: pathComponents lexically, the symlink resolver as it walks, the boundary refusing it", () => {
    const outsideReaders = Object.fromEntries(
      Object.entries(definitions(/=== '\.\.'/g)).filter(([f]) => !f.startsWith('src/backends/native/')),
    );
    expect(outsideReaders).toEqual({ 'src/inventory.ts': 2, 'src/resolve/boundary.ts': 1 });
    // Counting components without splitting (an archive's member names) says `..` is there and leaves it to those.
    expect(definitions(/function plainDepth\b/g)).toEqual({ 'src/inventory.ts': 1 });
  });

  test('one symlink resolver (resolveLinks in src/inventory.ts): the inventory and the layer builder walk with it', () => {
    expect(definitions(/\bMAX_SYMLINK_FOLLOWS\b/g)).toEqual({ 'src/inventory.ts': 3 });
    expect(definitions(/function resolveLinks\b/g)).toEqual({ 'src/inventory.ts': 1 });
    expect(definitions(/\bresolveLinks\(/g)).toEqual({ 'src/inventory.ts': 1, 'src/resolve/tree.ts': 1 });
  });

  test('one symlink follow limit (ELOOP) and one component bound, in src/inventory.ts', () => {
    expect(definitions(/\bconst MAX_\w*(?:FOLLOWS|COMPONENTS)\b/g)).toEqual({ 'src/inventory.ts': 2 });
  });

  test('the content pass engine and the package loader are the runtime\'s; rules reach them through the kit', () => {
    expect(definitions(/class TextPasses\b/g)).toEqual({ 'src/engine/runtime/textpass.ts': 1 });
    expect(definitions(/function loadPackageDb\b/g)).toEqual({ 'src/engine/runtime/packages.ts': 1 });
    expect(violations('rules', ['src/engine/runtime'])).toEqual([]);
  });

  test('one sealed-file format (HMAC) for the cache, in src/store/seal.ts', () => {
    expect(definitions(/\bcreateHmac\(/g)).toEqual({ 'src/store/seal.ts': 1 });
  });

  test('the guestfs backend by job: output parsing and the launcher in files of their own', () => {
    expect(definitions(/function parseStatList\b/g)).toEqual({ 'src/backends/guestfs-parse.ts': 1 });
    expect(definitions(/function launch\b|let kvmBroken\b/g)).toEqual({ 'src/backends/guestfs-launch.ts': 2 });
  });

  test('one lazy loader: createRequire only in src/lazy.ts', () => {
    expect(definitions(/\bcreateRequire\b\s*\(/g)).toEqual({ 'src/lazy.ts': 1 });
  });

  test('every error class is in the one error model (src/errors.ts): it extends HostleakError at some depth', () => {
    const parent = new Map<string, string>();
    for (const f of sources('src')) {
      const text = readFileSync(path.join(ROOT, f), 'utf8');
      for (const m of text.matchAll(/\bclass (\w+) extends (\w+)/g)) parent.set(m[1]!, m[2]!);
    }
    const errors = [...parent.keys()].filter((c) => /Error$/.test(parent.get(c)!) || /Error$/.test(c));
    expect(errors).toEqual(expect.arrayContaining(['TimeoutError', 'GuestfsCommandError', 'HttpError']));
    const outside = errors.filter((c) => {
      for (let k: string | undefined = c; k; k = parent.get(k)) if (k === 'HostleakError') return false;
      return true;
    });
    expect(outside).toEqual([]);
  });

  test("the HTML report's style sheet and script are files of their own, shipped in the package", () => {
    const html = readFileSync(path.join(ROOT, 'src/reporters/html.ts'), 'utf8');
    expect(html).toContain("'report.css'");
    expect(html).not.toMatch(/--bg:|getElementById\(/);
    const files = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[] }).files;
    expect(files).toContain('src/reporters/html-assets/*');
    expect(readFileSync(path.join(ROOT, 'src/reporters/html-assets/report.js'), 'utf8')).toContain("getElementById('hostleak-report')");
  });
});

