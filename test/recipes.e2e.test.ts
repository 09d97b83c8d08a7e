/**
 * The Kubernetes and systemd recipes of docs/scheduled-audits.md work as written (issue 28): their scripts are taken
 * from the page and run against a small store of sample images, the way the scheduler would run them: the pod's
 * index from JOB_COMPLETION_INDEX, its cache key from the environment (the Secret), no HOME at all, and, when the
 * tests run as root, the recipe's unprivileged uid; the service with its home hidden (ProtectHome=yes). Only the
 * mount paths are mapped to folders of the test.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import type { Report } from '../src/types.js';
import { BIN, REPO, SAMPLES } from './helpers/cli.js';

const DOC = readFileSync(path.join(REPO, 'docs/scheduled-audits.md'), 'utf8');
const blocks = (lang: string) => [...DOC.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);

const tmp = mkdtempSync(path.join(os.tmpdir(), 'hostleak-recipes-'));
chmodSync(tmp, 0o755);
const bin = path.join(tmp, 'bin');
mkdirSync(bin);
// `hostleak` on the PATH, as the container image and the package install it.
writeFileSync(path.join(bin, 'hostleak'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`, { mode: 0o755 });
const store = path.join(tmp, 'store');
for (const [i, name] of ['leaky.raw', 'clean.raw', 'leaky.qcow2', 'leaky.vhd', 'clean.qcow2'].entries()) {
  mkdirSync(path.join(store, `d${i % 2}`), { recursive: true });
  copyFileSync(path.join(SAMPLES, name), path.join(store, `d${i % 2}`, name));
}
/** A folder the unprivileged user may write, like a volume mounted with fsGroup. */
const writable = (name: string) => {
  const d = path.join(tmp, name);
  mkdirSync(d, { recursive: true });
  chmodSync(d, 0o777);
  return d;
};
const root = process.getuid?.() === 0;

/** Run a recipe's shell script: no HOME, the given environment, the recipe's uid when we may switch to it. */
function sh(script: string, env: NodeJS.ProcessEnv, uid?: number): { status: number | null; out: string } {
  const opts: SpawnSyncOptions = {
    env: { PATH: `${bin}:/usr/bin:/bin`, ...env },
    encoding: 'utf8',
    cwd: tmp,
    timeout: 300_000,
  };
  if (root && uid !== undefined) Object.assign(opts, { uid, gid: uid });
  const r = spawnSync('/bin/sh', ['-c', script], opts);
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('Kubernetes: the Indexed Job and the merge Job', () => {
  const docs = blocks('yaml').map((b) => YAML.parse(b)).filter((d) => d?.kind === 'Job');
  const audit = docs.find((d) => d.metadata.name === 'hostleak-audit');
  const merge = docs.find((d) => d.metadata.name === 'hostleak-merge');
  const pod = audit.spec.template.spec;
  const container = pod.containers[0];
  const uid: number = pod.securityContext.runAsUser;
  const mounts: Record<string, string> = { '/store': store, '/cache': writable('cache'), '/reports': writable('reports') };
  const mapped = (script: string) => script.replace(/(?<![\w.-])\/(store|cache|reports)\b/g, (m) => mounts[m]!);
  // The Secret's value, as secretKeyRef puts it in the environment.
  const secretEnv = Object.fromEntries(
    container.env.filter((e: { valueFrom?: unknown }) => e.valueFrom).map((e: { name: string }) => [e.name, 'k'.repeat(64)]),
  );
  const completions: number = audit.spec.completions;
  const runPods = () =>
    Array.from({ length: completions }, (_, k) => sh(mapped(container.args[0]), { ...secretEnv, JOB_COMPLETION_INDEX: String(k) }, uid));
  const runMerge = () => sh(mapped(merge.spec.template.spec.containers[0].args[0]), {}, uid);

  it('the recipe asks for an unprivileged uid, the key from a Secret, and no shell arithmetic', () => {
    expect(uid).toBeGreaterThan(0);
    expect(Object.keys(secretEnv)).toEqual(['HOSTLEAK_CACHE_KEY']);
    expect(container.args[0]).not.toContain('$((');
  });

  it('every pod succeeds and writes its shard; the merge covers the store exactly once', () => {
    const pods = runPods();
    for (const p of pods) expect([p.status, p.out]).toEqual([0, expect.not.stringContaining('hostleak: warning')]);
    const reports = readdirSync(mounts['/reports']!).filter((f) => /^shard-\d+\.json$/.test(f)).sort();
    expect(reports).toHaveLength(completions);
    const shards = reports.map((f) => (JSON.parse(readFileSync(path.join(mounts['/reports']!, f), 'utf8')) as Report).run!.shard!.index);
    expect(shards.sort()).toEqual(Array.from({ length: completions }, (_, k) => k + 1));
    const m = runMerge();
    expect(m.status).toBe(1); // the leaky images' findings
    const merged = JSON.parse(readFileSync(path.join(mounts['/reports']!, 'report.json'), 'utf8')) as Report;
    expect(merged.targets).toHaveLength(5);
    expect(merged.run?.merged).toEqual({ count: completions, shards: [1, 2, 3, 4].slice(0, completions), problem: null });
    expect(existsSync(path.join(mounts['/reports']!, 'index.html'))).toBe(true);
  });

  it('a second run hits the cache every pod wrote (one key for all pods)', () => {
    runPods();
    const all = readdirSync(mounts['/reports']!)
      .filter((f) => /^shard-\d+\.json$/.test(f))
      .flatMap((f) => (JSON.parse(readFileSync(path.join(mounts['/reports']!, f), 'utf8')) as Report).targets);
    expect(all).toHaveLength(5);
    for (const t of all) expect([t.target, t.cached]).toEqual([t.target, true]);
  });

  it('a shard report that is missing fails the merge, naming it', () => {
    rmSync(path.join(mounts['/reports']!, 'shard-1.json'));
    const m = runMerge();
    expect(m.status).toBe(3);
    expect(m.out).toContain(`hostleak: merge: shard 2/${completions} is missing`);
  });
});

describe('systemd: the service with its home hidden', () => {
  const unit = blocks('ini').find((b) => b.includes('[Service]'))!;
  // Continuation lines joined, as systemd reads them.
  const line = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(unit.replace(/\\\n\s*/g, ' '))![1]!;
  const state = writable('state');
  const cache = writable('var-cache');
  const mapped = (cmd: string) =>
    cmd
      .replace(/\/usr\/bin\/hostleak/g, 'hostleak')
      .replace(/\/srv\/hydra\/build-outputs/g, store)
      .replace(/\/var\/cache\/hostleak/g, cache)
      .replace(/\/var\/lib\/hostleak/g, state);

  it('ExecStart and ExecStopPost as written: the report, the page and a cache key in the state directory', () => {
    expect(unit).toMatch(/^ProtectHome=yes$/m);
    // The service user's home exists nowhere it could be created (ProtectHome=yes makes /home empty and read-only).
    const home = root ? '/home/hostleak-recipe-test-none' : path.join(tmp, 'home-is-a-file');
    if (!root) writeFileSync(home, '');
    const env = { HOME: home };
    const start = sh(mapped(line('ExecStart')), env, 10002);
    expect([start.status, start.out]).toEqual([1, expect.stringMatching(/^hostleak: done: 5\/5 images, 0 failed, \d+s elapsed\n$/)]);
    const stop = sh(mapped(line('ExecStopPost').replace(/^-/, '')), env, 10002);
    expect(stop.status).toBe(1);
    expect(existsSync(path.join(state, 'index.html'))).toBe(true);
    expect(readFileSync(path.join(state, 'cache.key'), 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/);
    // Nothing was made where the hidden home would be.
    expect(existsSync(home)).toBe(!root);
  });
});
