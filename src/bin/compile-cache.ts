/**
 * Start-up through V8's code cache. Node 20 has no compile cache of its own (22's module.enableCompileCache), so the
 * build bundles the CLI into one CommonJS script (scripts/bundle.mjs) and this compiles it as v8-compile-cache does:
 * a vm.Script given the code V8 serialized after an earlier run, so the functions that run compiled then are not
 * parsed and compiled again (docs/performance.md, `node bench/startup.mjs`).
 *
 * One cache file per command word (a scan and `rules` run different code; `--help` is `help`), in
 * $HOSTLEAK_COMPILE_CACHE, else $XDG_CACHE_HOME/hostleak, else ~/.cache/hostleak; `HOSTLEAK_COMPILE_CACHE=0` turns it
 * off. The name holds node's version, the architecture and the script's size, mtime and inode: a rebuilt or
 * reinstalled script never meets code cached from another (V8 itself checks only the source's length). The folder
 * must be the user's own and writable by no one else, since V8 runs what it finds there, and V8 checks each cache's
 * checksum (a damaged one would run, or crash the process). A cache V8 rejects (other V8 flags, damage) is written
 * anew; every error of the cache is ignored: it only ever costs the compile it would have saved.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { Script } from 'node:vm';

export interface Bundle<T> {
  exports: T;
  /** Write the code cache if there was none or V8 rejected it: call after the run, when its functions are compiled. */
  save(): void;
}

/**
 * The cache folder, or none. Inside a nix build (`NIX_BUILD_TOP`; HOME is the non-existent /homeless-shelter) a run
 * leaves nothing behind: without a sandbox, creating HOME there makes every later build on the machine fail.
 * Elsewhere the folder is created only below a home (or $XDG_CACHE_HOME's parent) that already exists.
 */
function cacheDir(env: NodeJS.ProcessEnv): { dir: string; from: string } | undefined {
  const given = env.HOSTLEAK_COMPILE_CACHE;
  if (given === '0' || given === 'off') return undefined;
  if (given) return { dir: given, from: path.dirname(path.resolve(given)) };
  if (env.NIX_BUILD_TOP) return undefined;
  let base = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : undefined;
  try {
    // No HOME and a uid the passwd file does not name (a pod's runAsUser): os.homedir() throws. No cache then.
    base ??= path.join(os.homedir(), '.cache');
  } catch {
    return undefined;
  }
  return { dir: path.join(base, 'hostleak'), from: path.dirname(base) };
}

/** The folder is ours alone (owner, no group or other write), or not to be used. */
function ours(dir: string): boolean {
  const st = statSync(dir);
  return st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o022) === 0;
}

/**
 * Compile and run the CommonJS script `file`, through the code cache; undefined when there is no such script. It
 * requires packages and builtins with this module's `require` (both files are in dist/src/bin).
 */
export function loadBundle<T>(file: string, command: string | undefined, env: NodeJS.ProcessEnv): Bundle<T> | undefined {
  let st;
  try {
    st = statSync(file);
  } catch {
    return undefined;
  }
  const where = cacheDir(env);
  const dir = where?.dir;
  const word = /^-{0,2}([a-z]{1,20})$/.exec(command ?? '')?.[1] ?? 'other';
  const key = `${process.version}-${process.arch}-${st.size}-${Math.trunc(st.mtimeMs)}-${st.ino}`;
  const cacheFile = dir && path.join(dir, `${word}-${key}.v8`);
  let cachedData: Buffer | undefined;
  try {
    if (cacheFile && ours(dir)) cachedData = readFileSync(cacheFile);
  } catch {
    /* no cache yet */
  }
  // V8 checks a code cache's checksum only when told to (a damaged cache would otherwise run, or crash the process).
  v8.setFlagsFromString('--verify-snapshot-checksum');
  // ASCII (scripts/bundle.mjs checks it): latin1 is the same text, without UTF-8 decoding.
  const source = readFileSync(file, 'latin1');
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  const module = { exports: {} as T };
  (script.runInThisContext() as (...a: unknown[]) => void)(module.exports, require, module, file, path.dirname(file));
  return {
    exports: module.exports,
    save() {
      // A usage error (exit 2: a mistyped command word among them) ran little and keeps no cache.
      if (!cacheFile || (cachedData && !script.cachedDataRejected) || process.exitCode === 2) return;
      try {
        if (!statSync(where!.from).isDirectory()) return;
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        if (!ours(dir)) return;
        // Caches of earlier builds of this command go.
        for (const f of readdirSync(dir)) if (f.startsWith(`${word}-`) && f.endsWith('.v8')) rmSync(path.join(dir, f), { force: true });
        const tmp = `${cacheFile}.${process.pid}.tmp`;
        writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
        renameSync(tmp, cacheFile);
      } catch {
        /* a read-only home, a full disk: the next run compiles again */
      }
    },
  };
}
