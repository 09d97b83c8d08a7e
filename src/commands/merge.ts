/** `hostleak merge REPORT...`: combine shard reports (JSON, or jsonl lines) into one report. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { VERSION } from '../paths.js';
import type { Report, TargetResult } from '../types.js';
import { RequestError } from '../errors.js';
import { EXIT_USAGE, exitCodeFor } from '../exit.js';
import { render, type FormatName } from '../reporters/index.js';
import { failOnFrom, prepareGate, wantColor, writeOutput, type CommandContext, type RunResult } from './context.js';

function isTarget(v: unknown): v is TargetResult {
  const t = v as TargetResult;
  return !!t && typeof t.target === 'string' && typeof t.status === 'string' && Array.isArray(t.findings);
}

export function parseReportText(text: string, file: string): TargetResult[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  try {
    const doc = JSON.parse(trimmed) as Report;
    if (doc && doc.version === 1 && Array.isArray(doc.targets) && doc.targets.every(isTarget)) return doc.targets;
    if (isTarget(doc)) return [doc];
  } catch {
    /* maybe jsonl */
  }
  const out: TargetResult[] = [];
  for (const [i, line] of trimmed.split('\n').entries()) {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new RequestError(`${file}:${i + 1}: not a hostleak JSON or jsonl report`);
    }
    if (!isTarget(v)) throw new RequestError(`${file}:${i + 1}: not a hostleak target result`);
    out.push(v);
  }
  return out;
}

/** Targets sorted by name; a target present in several inputs keeps its last occurrence. */
export async function mergeReports(files: string[]): Promise<Report> {
  const byTarget = new Map<string, TargetResult>();
  for (const file of files) {
    let text: string;
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (err) {
      throw new RequestError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
    for (const t of parseReportText(text, file)) byTarget.set(t.target, t);
  }
  const targets = [...byTarget.values()].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
  return { version: 1, tool: { name: 'hostleak', version: VERSION }, targets };
}

export async function mergeCommand(ctx: CommandContext): Promise<RunResult> {
  const { args, cwd } = ctx;
  const report = await mergeReports(args.reports as string[]);
  const format = args.format as FormatName;
  const output = args.output ? path.resolve(cwd, String(args.output)) : undefined;
  const gate = await prepareGate(ctx);
  const text = render(format, report, {
    color: output ? false : wantColor(ctx),
    rules: gate.rules.map((r) => r.rule.meta),
    sarifCategory: ctx.args['sarif-category'] as string | undefined,
  });
  const failed = await writeOutput(text, output, cwd);
  if (failed) return { exitCode: EXIT_USAGE, stdout: '', stderr: failed };
  return { exitCode: exitCodeFor(report, failOnFrom(args, gate)), stdout: output ? '' : text, stderr: '' };
}
