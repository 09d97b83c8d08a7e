/**
 * Shared checks for the native filesystem readers (squashfs, erofs, iso9660): a view against an independent oracle
 * entry by entry, against the host tree it was built from (mtimes, symlink targets, contents), and a sample image's
 * findings against the leaky sample tree's.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FilesystemView } from '../../src/backends/backend.js';
import type { OracleEntry } from './native-oracle.js';
import { hostleak, json, SAMPLES } from './cli.js';

type Oracle = Map<string, Partial<OracleEntry>>;

/** Every entry of `view` equals the oracle's (the fields the oracle has), and nothing is missing or extra. */
export function expectSameEntries(view: FilesystemView, oracle: Oracle): void {
  const ours = new Map(view.inventory.entries().map((e) => [e.path, e]));
  expect([...ours.keys()].sort()).toEqual([...oracle.keys()].sort());
  for (const [p, o] of oracle) {
    const e = ours.get(p)!;
    const got: Record<string, unknown> = { p };
    const want: Record<string, unknown> = { p };
    for (const k of Object.keys(o) as Array<keyof OracleEntry>) {
      got[k] = e[k];
      want[k] = o[k];
    }
    expect(got).toEqual(want);
  }
}

/** mtimes and symlink targets as the host tree has them; every regular file's content read back. */
export async function expectHostTree(view: FilesystemView, host: Map<string, OracleEntry>, hostRoot: string, opts: { mtime?: boolean } = {}): Promise<void> {
  for (const e of view.inventory.entries()) {
    const h = host.get(e.path);
    expect({ p: e.path, known: h !== undefined }).toEqual({ p: e.path, known: true });
    if (opts.mtime !== false && e.path !== '/') expect({ p: e.path, mtime: e.mtime }).toEqual({ p: e.path, mtime: h!.mtime });
    if (e.type === 'symlink') expect({ p: e.path, target: e.target }).toEqual({ p: e.path, target: h!.target });
  }
  await expectFilesRead(view, view.inventory.entries().filter((e) => e.type === 'file').map((e) => e.path), hostRoot);
}

/** Each of `files` read back through `view` is the host tree's file (its first MiB). */
export async function expectFilesRead(view: FilesystemView, files: string[], hostRoot: string): Promise<void> {
  const got = await view.readFiles(files, 1 << 20);
  for (const p of files) {
    const c = got.get(p)!;
    if (c instanceof Error) throw c;
    const want = readFileSync(path.join(hostRoot, p));
    expect({ p, size: c.size, truncated: c.truncated }).toEqual({ p, size: want.length, truncated: want.length > 1 << 20 });
    expect({ p, same: c.data.equals(want.subarray(0, 1 << 20)) }).toEqual({ p, same: true });
  }
}

interface JsonReport {
  targets: Array<{ status: string; error: string | null; backend: string; findings: Array<{ ruleId: string; severity: string; path: string; evidence: string | null }> }>;
}

function findingsOf(args: string[]): { status: string; backend: string; findings: string[] } {
  const r = hostleak(['scan', '--format', 'json', '--fail-on', 'never', ...args]);
  expect({ exit: r.status, stderr: r.stderr }).toEqual({ exit: 0, stderr: '' });
  const t = json<JsonReport>(r).targets[0]!;
  return {
    status: t.status,
    backend: t.backend,
    findings: t.findings.map((f) => `${f.ruleId} ${f.severity} ${f.path} ${f.evidence ?? ''}`).sort(),
  };
}

/** The leaky sample tree's findings (dir backend), computed once per test file. */
let treeFindings: string[] | null = null;
export function leakyTreeFindings(): string[] {
  treeFindings ??= findingsOf(['--backend', 'dir', path.join(SAMPLES, 'leaky')]).findings;
  return treeFindings;
}

/** A filesystem image of the leaky tree, audited with `backend`, reports exactly the tree's findings. */
export function expectLeakyFindings(image: string, backend = 'native'): string[] {
  const got = findingsOf(['--backend', backend, image]);
  expect({ status: got.status, backend: got.backend }).toEqual({ status: 'ok', backend: backend === 'auto' ? 'native' : backend });
  expect(got.findings).toEqual(leakyTreeFindings());
  // The disko seed: all three present.
  for (const id of ['orphaned-home', 'root-owned-nix-defexpr', 'dangling-channel-symlink']) {
    expect(got.findings.some((f) => f.startsWith(`${id} `))).toBe(true);
  }
  return got.findings;
}
