/**
 * Run the built native reader (dist/) on one image in a child process, so a hang is bounded by a timeout and a
 * crash cannot take the test runner down. Returns what it listed or the error it threw.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

export const NATIVE_DIST = path.resolve('dist/src/backends/native/index.js');

export interface ChildEntry {
  path: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  target?: string;
}

export interface ChildResult {
  supported?: boolean;
  views?: Array<{ device: string; type: string; label: string | null; uuid: string | null; entries: ChildEntry[] }>;
  problems?: string[];
  error?: { name: string; message: string; stack?: string };
  /** Set when the child died (timeout, crash). */
  died?: string;
}

const SCRIPT = `
const [dist, file, mode] = process.argv.slice(1);
const m = await import(dist);
const print = (o) => process.stdout.write(JSON.stringify(o));
try {
  const src = m.openNativeSource(file);
  const supported = await m.nativeSupports(src);
  const { views, problems } = await m.listNativeFilesystems(src);
  const out = { supported, problems, views: views.map((v) => ({ device: v.device, type: v.type, label: v.label, uuid: v.uuid,
    entries: mode === 'full' ? v.inventory.entries().map(({ fs, ...e }) => e) : [] })) };
  // Read every regular file's head, like rules would.
  for (const v of views) {
    const files = v.inventory.entries().filter((e) => e.type === 'file').map((e) => e.path);
    await v.readFiles(files, 4096);
  }
  print(out);
} catch (e) {
  print({ error: { name: e?.name ?? typeof e, message: String(e?.message ?? e), stack: e?.stack } });
}
`;

export function runNativeChild(file: string, opts: { timeoutMs?: number; full?: boolean } = {}): ChildResult {
  if (!existsSync(NATIVE_DIST)) throw new Error(`${NATIVE_DIST} missing: run \`npm run build\` first (npm test does)`);
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT, NATIVE_DIST, file, opts.full ? 'full' : 'summary'], {
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 20000,
    maxBuffer: 1 << 28,
  });
  if (r.error || r.status !== 0) {
    return { died: r.error ? String(r.error.message) : `exit ${r.status} signal ${r.signal}: ${r.stderr.slice(0, 500)}` };
  }
  return JSON.parse(r.stdout) as ChildResult;
}

/** Our error classes (CorruptImageError, UnsupportedImageError are TargetErrors). */
export const OUR_ERRORS = ['TargetError', 'CorruptImageError', 'UnsupportedImageError'];
