/**
 * Saved reports read back (`convert` takes a `--format json` report; `merge` takes JSON or jsonl shards): one
 * reader, one strictness. The whole file is validated against the published schema of the report
 * (docs/report.schema.json, shipped in the package) before a reporter sees any of it: every field has its type
 * (numbers are numbers: a `durationMs` or `line` that is HTML never reaches the HTML or markdown report), no field
 * is unknown. A bad file is a ReportFileError naming the file and the field (exit 2).
 */
import { promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import type { SchemaObject } from 'ajv';
import { validate } from '../engine/gate/schema.js';
import { redactResult } from '../engine/runtime/redact-result.js';
import { ReportFileError } from '../errors.js';
import { PACKAGE_ROOT } from '../paths.js';
import type { Report, RunInfo, TargetResult } from '../types.js';

/** Where the report's JSON Schema is published (in the repository and in the npm package). */
export const REPORT_SCHEMA_FILE = path.join(PACKAGE_ROOT, 'docs', 'report.schema.json');

let schemas: { report: SchemaObject; target: SchemaObject } | null = null;
/** The report's schema, and the one of a single target (a jsonl line), loaded on first use. */
function reportSchemas(): { report: SchemaObject; target: SchemaObject } {
  if (!schemas) {
    const report = JSON.parse(readFileSync(REPORT_SCHEMA_FILE, 'utf8')) as SchemaObject;
    schemas = { report, target: { definitions: report.definitions as SchemaObject, $ref: '#/definitions/target' } };
  }
  return schemas;
}

/** Reports written before `filesystems` existed still load: it is filled in (as empty) before validation. */
function fillDefaults(doc: unknown, isTarget: boolean): void {
  const targets = isTarget ? [doc] : ((doc as { targets?: unknown } | null)?.targets ?? []);
  if (!Array.isArray(targets)) return;
  for (const t of targets) if (t && typeof t === 'object' && !Array.isArray(t)) (t as Partial<TargetResult>).filesystems ??= [];
}

/** Throws a one-line ReportFileError unless `doc` is a valid report (or target result, for a jsonl line). */
function checked<T>(doc: unknown, kind: 'report' | 'target', where: string): T {
  fillDefaults(doc, kind === 'target');
  const problem = validate(reportSchemas()[kind], doc);
  if (problem) {
    const what = kind === 'report' ? 'hostleak JSON report' : 'hostleak target result';
    throw new ReportFileError(`${where}: not a valid ${what}: ${problem.field} ${problem.message}`);
  }
  // A report written by an older hostleak (or by hand) is redacted like a fresh one before it is rendered.
  if (kind === 'target') return redactResult(doc as TargetResult) as T;
  const report = doc as Report;
  return { ...report, targets: report.targets.map(redactResult) } as T;
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
  return checked<Report>(data, 'report', file);
}

/** The target results of a JSON report, or of jsonl lines (one target result per line), for `hostleak merge`. */
export function parseReportText(text: string, file: string): TargetResult[] {
  return parseReportFile(text, file).targets;
}

/** A saved report's targets and the run that wrote it (a JSON report's `run`, or the one its jsonl lines carry). */
export function parseReportFile(text: string, file: string): { targets: TargetResult[]; run: RunInfo | null } {
  const trimmed = text.trim();
  if (trimmed === '') return { targets: [], run: null };
  let doc: unknown;
  try {
    doc = JSON.parse(trimmed);
  } catch {
    doc = undefined; // maybe jsonl
  }
  if (isReport(doc)) {
    const report = checked<Report>(doc, 'report', file);
    return { targets: report.targets, run: report.run ?? null };
  }
  const lines = doc === undefined ? trimmed.split('\n') : [trimmed];
  let run: RunInfo | null = null;
  const targets = lines.map((line, i) => {
    let v: unknown;
    try {
      v = doc ?? JSON.parse(line);
    } catch {
      throw new ReportFileError(`${file}:${i + 1}: not a hostleak JSON or jsonl report`);
    }
    const { run: lineRun, ...t } = checked<TargetResult>(v, 'target', `${file}:${i + 1}`);
    if (i === 0) run = lineRun ?? null;
    else if (JSON.stringify(lineRun ?? null) !== JSON.stringify(run)) {
      throw new ReportFileError(`${file}:${i + 1}: this line belongs to another run than line 1 (jsonl files of two runs joined?)`);
    }
    return t;
  });
  return { targets, run };
}

/** One saved report as merge reads it. */
export interface ReportInput {
  file: string;
  run: RunInfo | null;
}

/**
 * Merge saved reports: targets sorted by name; a target present in several inputs keeps its last occurrence. The
 * run of each input comes along, for the shard check.
 */
export async function readReports(files: string[], cwd: string): Promise<{ targets: TargetResult[]; inputs: ReportInput[] }> {
  const byTarget = new Map<string, TargetResult>();
  const inputs: ReportInput[] = [];
  for (const file of files) {
    const { targets, run } = parseReportFile(await readText(file, cwd), file);
    inputs.push({ file, run });
    for (const t of targets) byTarget.set(t.target, t);
  }
  const targets = [...byTarget.values()].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
  return { targets, inputs };
}

/**
 * The earlier reports in `dir` (`--history DIR`), for the HTML report's trend: every `*.json` or `*.jsonl` there that
 * is a hostleak report recording when it ran. Anything else is named in `skipped` and left out.
 */
export async function readHistory(dir: string, cwd: string): Promise<{ reports: Report[]; skipped: string[] }> {
  let names: string[];
  try {
    names = (await fsp.readdir(path.resolve(cwd, dir))).filter((n) => /\.jsonl?$/.test(n)).sort();
  } catch (err) {
    throw new ReportFileError(`--history ${dir}: cannot read the folder (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  const reports: Report[] = [];
  const skipped: string[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      const { targets, run } = parseReportFile(await readText(file, cwd), file);
      if (run?.startedAt) reports.push({ version: 1, tool: { name: 'hostleak', version: '' }, run, targets });
      else skipped.push(`${file} (no run date: written by an older hostleak)`);
    } catch (err) {
      skipped.push(`${file} (${(err as Error).message.replace(`${file}: `, '')})`);
    }
  }
  return { reports, skipped };
}
