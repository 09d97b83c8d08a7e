/** `hostleak convert REPORT --format F`: render a saved `--format json` report in another format. */
import { EXIT_OK, EXIT_USAGE } from '../exit.js';
import { render, type FormatName } from '../reporters/index.js';
import { readReport } from './report-file.js';
import { failOnFrom, fullReportLink, historyFor, prepareGate, terminalColumns, wantColor, writeOutput, type CommandContext, type RunResult } from './context.js';

export async function convertCommand(ctx: CommandContext): Promise<RunResult> {
  const { args, cwd } = ctx;
  const gate = await prepareGate(ctx);
  const report = await readReport(String(args.report), cwd);
  const output = args.output as string | undefined;
  const past = await historyFor(ctx);
  const text = await render(args.format as FormatName, report, {
    color: output ? false : wantColor(ctx),
    columns: terminalColumns(ctx, output),
    fullReport: fullReportLink(ctx.env),
    history: past.history,
    rules: gate.rules.map((r) => r.rule.meta),
    sarifCategory: args['sarif-category'] as string | undefined,
    failOn: failOnFrom(args, gate),
  });
  const failed = await writeOutput(text, output, cwd);
  if (failed) return { exitCode: EXIT_USAGE, stdout: '', stderr: past.warnings + failed };
  return { exitCode: EXIT_OK, stdout: output ? '' : text, stderr: past.warnings };
}
