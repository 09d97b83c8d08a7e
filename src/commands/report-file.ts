/**
 * Saved reports read back (`convert` takes a `--format json` report; `merge` takes JSON or jsonl shards): one
 * reader, one strictness. Every target and finding is checked before a reporter sees it; a bad file is a
 * ReportFileError naming the file and the place (exit 2).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ReportFileError } from '../errors.js';
import { SEVERITIES, type Report, type TargetResult } from '../types.js';

const STATUSES: readonly string[] = ['ok', 'partial', 'failed'];

/** What is wrong with a would-be target result, or null when it is one (missing `filesystems` is filled in). */
function targetProblem(v: unknown, where: string): string | null {
  const t = v as Partial<TargetResult> | null;
  if (!t || typeof t !== 'object' || typeof t.target !== 'string' || !Array.isArray(t.findings) || !STATUSES.includes(t.status!)) {
    return `${where}: not a target result`;
  }
  for (const [j, f] of t.findings.entries()) {
    if (!f || typeof f.ruleId !== 'string' || typeof f.path !== 'string' || !(SEVERITIES as readonly string[]).includes(f.severity)) {
      return `${where}.findings[${j}]: not a finding`;
    }
  }
  t.filesystems ??= [];
  return null;
}

function checkedTargets(targets: unknown[], file: string): TargetResult[] {
  targets.forEach((t, i) => {
    const problem = targetProblem(t, `${file}: targets[${i}]`);
    if (problem) throw new ReportFileError(problem);
  });
  return targets as TargetResult[];
}

async function readText(file: string, cwd: string): Promise<string> {
  try {
    return await fsp.readFile(path.resolve(cwd, file), 'utf8');
  } catch (err) {
    throw new ReportFileError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
}

function isReport(v: unknown): v is Report {
  const r = v as Partial<Report> | null;
  return !!r && typeof r === 'object' && r.version === 1 && Array.isArray(r.targets);
}

/** A saved `--format json` report (for `hostleak convert`). */
export async function readReport(file: string, cwd: string): Promise<Report> {
  const text = await readText(file, cwd);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ReportFileError(`${file}: not JSON (${(err as Error).message})`);
  }
  if (!isReport(data)) throw new ReportFileError(`${file}: not a hostleak JSON report (version 1)`);
  checkedTargets(data.targets, file);
  return data;
}

/** The target results of a JSON report, or of jsonl lines (one target result per line), for `hostleak merge`. */
export function parseReportText(text: string, file: string): TargetResult[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  let doc: unknown;
  try {
    doc = JSON.parse(trimmed);
  } catch {
    doc = undefined; // maybe jsonl
  }
  if (isReport(doc)) return checkedTargets(doc.targets, file);
  const lines = doc === undefined ? trimmed.split('\n') : [trimmed];
  return lines.map((line, i) => {
    let v: unknown;
    try {
      v = doc ?? JSON.parse(line);
    } catch {
      throw new ReportFileError(`${file}:${i + 1}: not a hostleak JSON or jsonl report`);
    }
    if (targetProblem(v, `${file}:${i + 1}`)) throw new ReportFileError(`${file}:${i + 1}: not a hostleak target result`);
    return v as TargetResult;
  });
}

/** Merge saved reports: targets sorted by name; a target present in several inputs keeps its last occurrence. */
export async function readReports(files: string[], cwd: string): Promise<TargetResult[]> {
  const byTarget = new Map<string, TargetResult>();
  for (const file of files) {
    for (const t of parseReportText(await readText(file, cwd), file)) byTarget.set(t.target, t);
  }
  return [...byTarget.values()].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
}
