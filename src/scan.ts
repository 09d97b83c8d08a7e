/** Audit targets: open each with a backend, run the rules over every root, and collect one result per target. */
import { promises as fsp } from 'node:fs';
import { TargetError, type Backend, type OpenedImage } from './backends/backend.js';
import { dirBackend } from './backends/dir.js';
import { createGuestfsBackend, type GuestfsBackendOptions } from './backends/guestfs.js';
import { runRules, sortFindings, type EnabledRule } from './engine/runner.js';
import { VERSION } from './paths.js';
import type { Finding, HostIdentity, Report, TargetResult } from './types.js';

export type BackendChoice = 'auto' | 'dir' | 'guestfs';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'dir', 'guestfs'];

export interface ScanOptions {
  backend: BackendChoice;
  rules: EnabledRule[];
  host: HostIdentity;
  verbose?: (msg: string) => void;
  /** Options for the guestfs backend (acceleration, per-image timeout, backing files). */
  guestfs?: GuestfsBackendOptions;
}

async function pickBackend(target: string, choice: BackendChoice, opts: ScanOptions): Promise<Backend> {
  if (choice === 'dir') return dirBackend;
  if (choice === 'guestfs') return createGuestfsBackend(opts.guestfs);
  let st;
  try {
    st = await fsp.stat(target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TargetError(code === 'ENOENT' ? 'no such file or directory' : `cannot open (${code})`);
  }
  if (st.isDirectory()) return dirBackend;
  return createGuestfsBackend(opts.guestfs);
}

function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.trim() || 'unknown error';
}

export async function scanTarget(target: string, opts: ScanOptions): Promise<TargetResult> {
  const started = Date.now();
  const result: TargetResult = {
    target,
    status: 'ok',
    error: null,
    backend: null,
    durationMs: 0,
    filesystems: [],
    findings: [],
  };
  let image: OpenedImage | null = null;
  try {
    const backend = await pickBackend(target, opts.backend, opts);
    result.backend = backend.name;
    image = await backend.open(target, { verbose: opts.verbose });
    result.filesystems = image.filesystems;
    const findings: Finding[] = [];
    for (const root of image.roots) {
      const run = await runRules(root, opts.rules, opts.host);
      opts.verbose?.(`${target}: ${root.inventory.size} entries, ${run.filesRead} files read in ${run.batches} batches`);
      findings.push(...run.findings);
    }
    result.findings = sortFindings(findings);
    if (image.problems.length > 0) {
      result.status = 'partial';
      result.error = `could not read everything: ${image.problems.slice(0, 3).join('; ')}${
        image.problems.length > 3 ? ` (and ${image.problems.length - 3} more)` : ''
      }`;
    }
  } catch (err) {
    result.status = 'failed';
    result.error = oneLine(err);
    if (!(err instanceof TargetError)) opts.verbose?.(`${target}: ${(err as Error)?.stack ?? err}`);
  } finally {
    await image?.close().catch(() => undefined);
    result.durationMs = Date.now() - started;
  }
  return result;
}

export async function scan(targets: string[], opts: ScanOptions): Promise<Report> {
  const results: TargetResult[] = [];
  for (const t of targets) results.push(await scanTarget(t, opts));
  return { version: 1, tool: { name: 'hostleak', version: VERSION }, targets: results };
}
