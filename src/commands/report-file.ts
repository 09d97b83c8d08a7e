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
import type { Report, TargetResult } from '../types.js';

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
  const trimmed = text.trim();
  if (trimmed === '') return [];
  let doc: unknown;
  try {
    doc = JSON.parse(trimmed);
  } catch {
    doc = undefined; // maybe jsonl
  }
  if (isReport(doc)) return checked<Report>(doc, 'report', file).targets;
  const lines = doc === undefined ? trimmed.split('\n') : [trimmed];
  return lines.map((line, i) => {
    let v: unknown;
    try {
      v = doc ?? JSON.parse(line);
    } catch {
      throw new ReportFileError(`${file}:${i + 1}: not a hostleak JSON or jsonl report`);
    }
    return checked<TargetResult>(v, 'target', `${file}:${i + 1}`);
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
