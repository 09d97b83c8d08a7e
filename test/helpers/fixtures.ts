/**
 * Built fixtures shared by every test file and every worker: the npm package, the release tree of the action, the
 * hostile cases, the reader trees. Each is built once, by the real tools, into a directory of the repository's
 * ignored test/output/fixtures named by a key of everything it is made of (the builder's name and options, the
 * bytes of the files it reads, and the machine: node's version and the installed packages). A build holds a lock
 * file, so a second worker waits for it instead of building it again; a build that died is noticed (its owner
 * process is gone) and made again; a fixture is complete only once its `.complete` file is written. The same key
 * finds the same directory in the next run; any change to what it is made of makes a new one (entries unused for a
 * week are pruned by test/helpers/tiers/quick-setup.cjs, the global set-up).
 *
 * A fixture is read-only to the tests that share it: copy it before changing it.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { alive } from '../../src/image/tmp.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = path.join(REPO, 'test', 'output', 'fixtures');

/** What was built: its directory, and the value the builder returned (JSON; RegExps kept). */
export interface Fixture<T> {
  dir: string;
  value: T;
}

export interface FixtureSpec {
  /** Names the directory (`hostile-many-findings`); with `options`, part of the key. */
  name: string;
  /** The builder's options (`manyFiles=3000`). */
  options?: string[];
  /** Files and folders (repository-relative or absolute) whose bytes the fixture is made from: the builder's source and inputs. */
  inputs?: string[];
}

/** node's version and the installed system packages: a tool upgraded makes every fixture again. */
function machine(): string {
  const parts = [process.version, process.platform, process.arch];
  for (const f of ['/var/lib/dpkg/status', '/var/lib/rpm/rpmdb.sqlite']) {
    const st = statSync(f, { throwIfNoEntry: false });
    if (st) parts.push(`${f}:${st.size}:${st.mtimeMs}`);
  }
  return parts.join('\n');
}

function hashInput(h: ReturnType<typeof createHash>, p: string): void {
  const full = path.resolve(REPO, p);
  const st = statSync(full);
  if (st.isDirectory()) {
    for (const e of readdirSync(full).sort()) hashInput(h, path.join(full, e));
    return;
  }
  h.update(`\0${path.relative(REPO, full)}\0${st.size}\0`);
  h.update(readFileSync(full));
}

/** The key of a fixture: its name, options, the bytes of its inputs and the machine. */
export function fixtureKey(spec: FixtureSpec): string {
  const h = createHash('sha256');
  h.update(`${spec.name}\0${(spec.options ?? []).join('\0')}\0${machine()}\0`);
  for (const p of spec.inputs ?? []) hashInput(h, p);
  return h.digest('hex').slice(0, 16);
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number) => Atomics.wait(sleeper, 0, 0, ms);

const encode = (_k: string, v: unknown) => (v instanceof RegExp ? { $regexp: v.source, flags: v.flags } : v);
const decode = (_k: string, v: unknown) => {
  const r = v as { $regexp?: string; flags?: string } | null;
  return r && typeof r === 'object' && typeof r.$regexp === 'string' ? new RegExp(r.$regexp, r.flags) : v;
};

/**
 * The fixture `spec` names, built by `build(dir)` into its own empty directory the first time any test asks for it
 * (synchronously: the caller's beforeAll). `build` may return a JSON value (RegExps allowed) that every later
 * caller gets back.
 */
export function sharedFixture<T = undefined>(spec: FixtureSpec, build: (dir: string) => T, opts: { waitMs?: number } = {}): Fixture<T> {
  mkdirSync(FIXTURES, { recursive: true });
  const dir = path.join(FIXTURES, `${spec.name}-${fixtureKey(spec)}`);
  const done = path.join(dir, '.complete');
  const lock = `${dir}.lock`;
  const deadline = Date.now() + (opts.waitMs ?? 900_000);
  for (;;) {
    if (existsSync(done)) {
      const now = new Date();
      utimesSync(done, now, now);
      return { dir, value: JSON.parse(readFileSync(done, 'utf8'), decode).value as T };
    }
    let fd: number;
    try {
      fd = openSync(lock, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner = 0;
      try {
        owner = Number(readFileSync(lock, 'utf8').trim());
      } catch {
        continue; // released meanwhile
      }
      // A lock just created has no pid yet; a lock whose owner died is taken over.
      if (owner > 0 && !alive(owner)) rmSync(lock, { force: true });
      else if (Date.now() > deadline) throw new Error(`fixture ${spec.name}: still being built by process ${owner} (${lock})`);
      else sleep(200);
      continue;
    }
    try {
      writeSync(fd, String(process.pid));
      closeSync(fd);
      if (existsSync(done)) continue;
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const value = build(dir);
      writeFileSync(done, JSON.stringify({ name: spec.name, options: spec.options ?? [], value }, encode));
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    } finally {
      rmSync(lock, { force: true });
    }
  }
}

/** What the npm package is made of (package.json `files`, the manifest and the lockfile its install follows). */
const PACKAGE_INPUTS = ['package.json', 'package-lock.json', 'README.md', 'LICENSE', 'dist/src', 'dist/rules', 'src/reporters/html-assets', 'rules', 'docs/rules', 'docs/report.schema.json', 'action.yml', 'hostleak.gitlab-ci.yml'];

/** `npm pack` of the built checkout, once: the tarball's path and the files npm listed. */
export function packedPackage(): { tarball: string; files: string[] } {
  const f = sharedFixture({ name: 'npm-pack', inputs: PACKAGE_INPUTS }, (dir) => {
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
    ) as Array<{ filename: string; files: Array<{ path: string }> }>;
    return { tarball: packed[0]!.filename, files: packed[0]!.files.map((x) => x.path) };
  });
  return { tarball: path.join(f.dir, f.value.tarball), files: f.value.files };
}

/**
 * The packed package installed as a user installs it (`npm install --global --prefix`), once: the prefix, its
 * `bin/hostleak` and the installed package folder.
 */
export function installedPackage(): { prefix: string; bin: string; installed: string } {
  const { tarball } = packedPackage();
  const f = sharedFixture({ name: 'npm-install-global', inputs: PACKAGE_INPUTS }, (dir) => {
    // The dependencies come from npm's cache when `npm ci` already ran (as in .ci/run), from the registry otherwise.
    execFileSync('npm', ['install', '--global', '--prefix', path.join(dir, 'prefix'), '--prefer-offline', '--no-audit', '--no-fund', tarball], {
      cwd: dir,
      stdio: 'ignore',
    });
  });
  const prefix = path.join(f.dir, 'prefix');
  return { prefix, bin: path.join(prefix, 'bin', 'hostleak'), installed: path.join(prefix, 'lib', 'node_modules', 'hostleak') };
}

/** The tree a release ref of the action ships (scripts/pack-action.sh), once. */
export function releaseTree(): string {
  const f = sharedFixture({ name: 'action-release-tree', inputs: [...PACKAGE_INPUTS, 'scripts/pack-action.sh'] }, (dir) => {
    execFileSync(path.join(REPO, 'scripts', 'pack-action.sh'), [path.join(dir, 'tree')], { stdio: 'pipe', timeout: 240_000 });
  });
  return path.join(f.dir, 'tree');
}
