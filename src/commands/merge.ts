/** `hostleak merge REPORT...`: combine shard reports (JSON, or jsonl lines) into one report. */
import path from 'node:path';
import { TOOL } from '../paths.js';
import type { Report } from '../types.js';
import { EXIT_USAGE, exitCodeFor } from '../exit.js';
import { render, type FormatName } from '../reporters/index.js';
import { readReports } from './report-file.js';
import { failOnFrom, prepareGate, wantColor, writeOutput, type CommandContext, type RunResult } from './context.js';

/** Combine shard reports (JSON, or jsonl lines) into one report. */
export async function mergeReports(files: string[], cwd = process.cwd()): Promise<Report> {
  return { version: 1, tool: { ...TOOL }, targets: await readReports(files, cwd) };
}

export async function mergeCommand(ctx: CommandContext): Promise<RunResult> {
  const { args, cwd } = ctx;
  const report = await mergeReports(args.reports as string[], cwd);
  const format = args.format as FormatName;
  const output = args.output ? path.resolve(cwd, String(args.output)) : undefined;
  const gate = await prepareGate(ctx);
  const text = render(format, report, {
    color: output ? false : wantColor(ctx),
    rules: gate.rules.map((r) => r.rule.meta),
    sarifCategory: ctx.args['sarif-category'] as string | undefined,
    failOn: failOnFrom(args, gate),
  });
  const failed = await writeOutput(text, output, cwd);
  if (failed) return { exitCode: EXIT_USAGE, stdout: '', stderr: failed };
  return { exitCode: exitCodeFor(report, failOnFrom(args, gate)), stdout: output ? '' : text, stderr: '' };
}
