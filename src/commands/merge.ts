/**
 * `hostleak merge REPORT...`: combine shard reports (JSON, or jsonl lines) into one report. When the inputs are
 * shards (their runs record `i/n` of a store), they must be shards 1..n of one store and one configuration, each
 * exactly once: otherwise the merged report would look complete while part of the store was never audited (or was
 * counted twice). The report is still written, with what is missing or doubled in `run.merged.problem`, and the
 * exit code is 3.
 */
import path from 'node:path';
import { TOOL } from '../paths.js';
import type { Report, RunInfo } from '../types.js';
import { EXIT_INCOMPLETE, EXIT_USAGE, exitCodeFor } from '../exit.js';
import { render, type FormatName } from '../reporters/index.js';
import { readReports, type ReportInput } from './report-file.js';
import { failOnFrom, fullReportLink, historyFor, prepareGate, terminalColumns, wantColor, writeOutput, type CommandContext, type RunResult } from './context.js';

/** How a shard input is named in messages: `a.json (2/3)`. */
const named = (i: ReportInput) => `${i.file}${i.run?.shard ? ` (${i.run.shard.index}/${i.run.shard.count})` : ''}`;

/** What the shard inputs say about the merged run: the shards joined, and what is wrong with them, if anything. */
export function checkShards(inputs: ReportInput[]): RunInfo['merged'] | undefined {
  const sharded = inputs.filter((i) => i.run?.shard);
  if (sharded.length === 0) return undefined;
  const first = sharded[0]!.run!.shard!;
  const shards = [...new Set(sharded.map((i) => i.run!.shard!.index))].sort((a, b) => a - b);
  const merged = { count: first.count, shards, problem: null as string | null };
  const unsharded = inputs.filter((i) => !i.run?.shard);
  if (unsharded.length > 0) {
    merged.problem = `${unsharded.map((i) => i.file).join(', ')}: not a shard report, merged with shard reports`;
    return merged;
  }
  const audit = (i: ReportInput) => {
    const s = i.run!.shard!;
    return JSON.stringify([s.count, s.store, s.configHash]);
  };
  const others = sharded.filter((i) => audit(i) !== audit(sharded[0]!));
  if (others.length > 0) {
    const o = others[0]!.run!.shard!;
    const why =
      o.count !== first.count
        ? `split into ${first.count} and into ${o.count} shards`
        : JSON.stringify(o.store) !== JSON.stringify(first.store)
          ? `of different stores (${first.store.join(' ')} and ${o.store.join(' ')})`
          : 'audited with different rules or configuration';
    merged.problem = `${named(sharded[0]!)} and ${named(others[0]!)} are shards of different audits: ${why}`;
    return merged;
  }
  const problems: string[] = [];
  for (let k = 1; k <= first.count; k++) {
    const holders = sharded.filter((i) => i.run!.shard!.index === k);
    if (holders.length === 0) problems.push(`shard ${k}/${first.count} is missing`);
    else if (holders.length > 1) problems.push(`shard ${k}/${first.count} is given ${holders.length} times (${holders.map((i) => i.file).join(', ')})`);
  }
  merged.problem = problems.length > 0 ? problems.join('; ') : null;
  return merged;
}

/** Combine shard reports (JSON, or jsonl lines) into one report. */
export async function mergeReports(files: string[], cwd = process.cwd()): Promise<Report> {
  const { targets, inputs } = await readReports(files, cwd);
  const starts = inputs.map((i) => i.run?.startedAt).filter((s): s is string => typeof s === 'string').sort();
  const merged = checkShards(inputs);
  const report: Report = { version: 1, tool: { ...TOOL }, targets };
  if (starts.length > 0 || merged) {
    report.run = { startedAt: starts[0] ?? new Date().toISOString() };
    if (merged) report.run.merged = merged;
  }
  return report;
}

export async function mergeCommand(ctx: CommandContext): Promise<RunResult> {
  const { args, cwd } = ctx;
  const report = await mergeReports(args.reports as string[], cwd);
  const format = args.format as FormatName;
  const output = args.output ? path.resolve(cwd, String(args.output)) : undefined;
  const gate = await prepareGate(ctx);
  const failOn = failOnFrom(args, gate);
  const past = await historyFor(ctx);
  const text = await render(format, report, {
    color: output ? false : wantColor(ctx),
    columns: terminalColumns(ctx, output),
    fullReport: fullReportLink(ctx.env),
    history: past.history,
    rules: gate.rules.map((r) => r.rule.meta),
    sarifCategory: ctx.args['sarif-category'] as string | undefined,
    failOn,
  });
  const failed = await writeOutput(text, output, cwd);
  if (failed) return { exitCode: EXIT_USAGE, stdout: '', stderr: past.warnings + failed };
  const problem = report.run?.merged?.problem;
  return {
    exitCode: problem ? EXIT_INCOMPLETE : exitCodeFor(report, failOn),
    stdout: output ? '' : text,
    stderr: past.warnings + (problem ? `hostleak: merge: ${problem}\n` : ''),
  };
}
