/** `hostleak scan`: audit targets, pass the results through the CI gate, render the report, decide the exit code. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { EXIT_INCOMPLETE, EXIT_USAGE, ExitTracker } from '../exit.js';
import { startRun } from '../engine/gate/index.js';
import { render, type FormatName } from '../reporters/index.js';
import { JsonStream } from '../reporters/json.js';
import { jsonlLine } from '../reporters/jsonl.js';
import { TOOL } from '../paths.js';
import { auditStore } from '../store/index.js';
import type { RunInfo, TargetResult } from '../types.js';
import { shardFrom } from '../store/shard.js';
import {
  backendChoice,
  backendOptions,
  cannotWrite,
  failOnFrom,
  gateArgs,
  hostIdentity,
  prepareGate,
  rulesFor,
  fullReportLink,
  historyFor,
  terminalColumns,
  wantColor,
  writeOutput,
  type CommandContext,
  type RunResult,
} from './context.js';
import { visible } from '../escape.js';
import { redactTokens } from '../engine/kit/secrets.js';
import { UsageError } from '../errors.js';
import { missingArgumentsMessage } from '../cli-support.js';

/**
 * The bar on a terminal (the bin decides: stderr is one, outside CI); otherwise, for a store audit (`--recursive`)
 * or when asked (`--progress-every`), log lines: a line every N seconds (default 60; 0: only the last) and one at the
 * end. Without a live stderr (tests calling run()), the lines join the result's stderr.
 */
function progressFor(ctx: CommandContext, collect: (s: string) => void) {
  const { args, io } = ctx;
  if (io.progress && io.writeStderr) return { write: io.writeStderr, columns: io.columns };
  const every = args['progress-every'] as number | undefined;
  if (every === undefined && !args.recursive) return undefined;
  return { write: io.writeStderr ?? collect, everyS: every ?? 60 };
}

/** Lines of a targets list: one target a line, blank lines and `#` comments ignored, as written (paths from cwd). */
export function parseTargetList(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += (chunk as Buffer).toString('utf8');
  return text;
}

/** The targets named on the command line, then those of `--targets-from FILE` (`-`: stdin). */
async function targetsOf(ctx: CommandContext): Promise<string[]> {
  const named = (ctx.args.targets as string[] | undefined) ?? [];
  const from = ctx.args['targets-from'] as string | undefined;
  if (from === undefined) {
    if (named.length > 0) return named;
    // `scan` alone, or `scan --cache IMG` (the image taken for the cache folder): what yargs' check would have said.
    const cache = typeof ctx.args.cache === 'string' ? ['--cache', ctx.args.cache] : [];
    throw new UsageError(missingArgumentsMessage('Not enough non-option arguments', ['scan', ...cache])!);
  }
  let text: string;
  try {
    text = from === '-' ? await (ctx.io.readStdin ?? readStdin)() : await fsp.readFile(path.resolve(ctx.cwd, from), 'utf8');
  } catch (err) {
    throw new UsageError(`--targets-from ${from}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const listed = parseTargetList(text);
  if (named.length + listed.length === 0) throw new UsageError(`--targets-from ${from}: no targets in it (one path, URL or reference a line)`);
  return [...named, ...listed];
}

export async function scanCommand(ctx: CommandContext): Promise<RunResult> {
  const { args, io, env, cwd } = ctx;
  const targets = await targetsOf(ctx);
  const gate = await prepareGate(ctx);
  let stderr = gate.warnings.map((w) => `hostleak: warning: ${w}\n`).join('');
  // Verbose lines quote member names and reader messages: redacted like the report (escaped for the terminal).
  const verbose = args.verbose ? (msg: string) => void (stderr += `hostleak: ${visible(redactTokens(msg))}\n`) : undefined;
  const format = args.format as FormatName;
  const output = args.output ? path.resolve(cwd, String(args.output)) : undefined;
  const rules = rulesFor(gate, args);

  // jsonl streams each target as it finishes, json each target once those before it are written (report order, the
  // same bytes as rendering it whole); every other format is rendered once at the end. Streamed, a finished target's
  // findings are not kept: memory stays flat over a store of any size.
  const streaming = format === 'jsonl' || format === 'json';
  const gateRun = startRun(gate, gateArgs(args), cwd);
  const tracker = new ExitTracker(failOnFrom(args, gate));
  let streamed = '';
  // --output starts empty once there is something to audit (not before: nothing found writes no file).
  let truncated: Promise<void> | null = null;
  const startOutput = (file: string) => (truncated ??= fsp.writeFile(file, ''));
  // A streamed --output that cannot be written fails the run once, with the reason, like a rendered one.
  // Appends are chained: targets finishing together must not interleave their chunks in the file.
  let outputFailed: string | null = null;
  let appended: Promise<void> = Promise.resolve();
  const emit = (text: string): Promise<void> => {
    if (!output) {
      if (io.writeStdout) io.writeStdout(text);
      else streamed += text;
      return Promise.resolve();
    }
    return (appended = appended.then(async () => {
      if (outputFailed) return;
      await startOutput(output)
        .then(() => fsp.appendFile(output, text))
        .catch((err: unknown) => void (outputFailed = cannotWrite(output, err)));
    }));
  };
  const json = format === 'json' ? new JsonStream(TOOL, emit) : null;
  let run: RunInfo | undefined;
  const onResult = async (raw: TargetResult, index: number) => {
    const t = gateRun.target(raw);
    tracker.see(t);
    if (t.status !== 'ok') stderr += `hostleak: ${visible(t.target)}: ${t.status}: ${visible(t.error ?? '')}\n`;
    if (json) await json.add(t, index);
    else if (streaming) await emit(jsonlLine(t, run));
  };
  const request = {
    ...backendOptions(ctx, gate),
    backend: backendChoice(args, gate),
    rules,
    host: hostIdentity(args, env, gate.config.host),
    verbose,
    targets,
    recursive: Boolean(args.recursive),
    shard: shardFrom(
      {
        shard: args.shard === undefined ? undefined : String(args.shard),
        shardCount: args['shard-count'] as string | undefined,
        shardIndex: args['shard-index'] as string | undefined,
      },
      env,
    ),
    onStart: (r: RunInfo) => {
      run = r;
      if (json) json.run = r;
    },
    jobs: args.jobs as number | undefined,
    cacheDir: typeof args.cache === 'string' ? path.resolve(cwd, args.cache) : null,
    cacheKeyFile: typeof args['cache-key'] === 'string' ? path.resolve(cwd, args['cache-key']) : null,
    progress: progressFor(ctx, (msg) => (stderr += msg)),
    onResult,
    retain: !streaming,
  };
  const scanned = await auditStore(request);
  if (!scanned) {
    // An empty or unmounted store must not pass as a clean audit.
    const where = request.targets.join(', ');
    return { exitCode: EXIT_INCOMPLETE, stdout: '', stderr: `${stderr}hostleak: no images found in ${where} (is the store mounted?)\n` };
  }
  if (streaming && output) await emit('');
  if (json) await json.end();
  for (const m of await gateRun.finish()) stderr += `hostleak: ${m}\n`;
  if (outputFailed) return { exitCode: EXIT_USAGE, stdout: '', stderr: stderr + outputFailed };
  if (streaming) return { exitCode: tracker.code(), stdout: streamed, stderr };
  const report = { ...scanned, targets: scanned.targets.map((t) => gateRun.target(t)) };
  const past = await historyFor(ctx);
  stderr += past.warnings;
  const t0 = Date.now();
  const text = await render(format, report, {
    color: output ? false : wantColor(ctx),
    columns: terminalColumns(ctx, output),
    fullReport: fullReportLink(ctx.env),
    history: past.history,
    rules: rules.map((r) => r.rule.meta),
    sarifCategory: ctx.args['sarif-category'] as string | undefined,
    failOn: failOnFrom(args, gate),
  });
  verbose?.(`phase report: ${Date.now() - t0} ms (${format})`);
  const failed = await writeOutput(text, output, cwd);
  if (failed) return { exitCode: EXIT_USAGE, stdout: '', stderr: stderr + failed };
  return { exitCode: tracker.code(), stdout: output ? '' : text, stderr };
}
