/**
 * The command line. `run(argv)` returns what to print and the exit code, so the CLI is testable without a process;
 * src/bin/hostleak.ts only wires it to the real process.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yargs, { type Argv } from 'yargs';
import { FINGERPRINT_VERSION } from './fingerprint.js';
import { Registry } from './engine/registry.js';
import { prepare, readReport, startRun, type Gate, type GateArgs } from './gate.js';
import type { EnabledRule } from './engine/runner.js';
import {
  atOrAbove,
  EXIT_FINDINGS,
  EXIT_INCOMPLETE,
  EXIT_OK,
  EXIT_USAGE,
  exitCodeFor,
  ExitTracker,
  FAIL_ON_VALUES,
  type FailOn,
} from './exit.js';
import { DOCS_RULES_DIR, VERSION } from './paths.js';
import { FORMATS, render, type FormatName } from './reporters/index.js';
import { auditImage, scan } from './scan.js';
import { exitCodeOf, HostleakError, oneLine, RequestError, UsageError } from './errors.js';
import type { OpenedImage } from './backends/backend.js';
import { cat, looksBinary } from './commands/cat.js';
import { openTarget, selectRoot } from './commands/common.js';
import { diffImages, formatDiffText } from './commands/diff.js';
import { INVENTORY_FORMATS, inventoryLines, type InventoryFormat } from './commands/inventory-cmd.js';
import { ls } from './commands/ls.js';
import { BACKEND_CHOICES, type BackendChoice, type HostIdentity, type TargetResult } from './types.js';
import { doctor, formatChecks } from './doctor.js';
import { ACCEL_CHOICES, type Accel } from './backends/guestfs.js';
import type { BackendOptions } from './scan.js';
import { jsonlLine } from './reporters/jsonl.js';
import { mergeReports } from './commands/merge.js';
import { configHash, ResultCache } from './store/cache.js';
import { defaultJobs, Semaphore } from './store/pool.js';
import { terminalProgress } from './store/progress.js';
import { inShard, parseShard, type Shard } from './store/shard.js';
import { expandTargets } from './store/targets.js';
import { expandProducts, isAuditableFile } from './resolve/index.js';
import { builtinRules } from '../rules/index.js';

export interface RunIO {
  /** Whether stdout is a colour-capable terminal (the bin decides; tests pass false). */
  color?: boolean;
  /** Whether stdout is a terminal (cat refuses binary data there). Defaults to `color`. */
  tty?: boolean;
  /** Show a progress bar through writeStderr (the bin sets it on a terminal outside CI). */
  progress?: boolean;
  columns?: number;
  /** Live output: streamed formats write here as they go instead of returning one string. */
  writeStdout?: (s: string) => void;
  writeStderr?: (s: string) => void;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Raw bytes to write to stdout after `stdout` (cat of a binary file). */
  stdoutBytes?: Buffer;
}

/** Options every command that opens images takes. */
function targetOptions(y: Argv): Argv {
  return y
    .option('backend', { choices: BACKEND_CHOICES as string[], describe: 'how to read targets (default: auto)' })
    .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'print phases, timings and backend to stderr' })
    .option('allow-backing-file', {
      type: 'boolean',
      describe: 'let a qcow2/vmdk/vhd image read the host backing file it names (refused by default)',
    })
    .option('accel', { choices: ACCEL_CHOICES as string[], describe: 'guestfs appliance: kvm, tcg or auto (default)' })
    .option('timeout', { type: 'number', describe: 'seconds per image, open to report, every backend (default 300)' })
    .option('max-decompressed', {
      type: 'string',
      describe: 'most bytes decompressing one image may write to the temp dir, e.g. 8G (default: 80% of its free space)',
    })
    .option('config', { alias: 'c', type: 'string', describe: 'config file (default: ./hostleak.config.{json,yaml,yml})' });
}

function parser(): Argv {
  return yargs()
    .scriptName('hostleak')
    .usage('$0 <command> [options]\n\nAudit built OS disk images for artifacts leaked from the machine that built them.')
    .command('scan <targets..>', 'audit images or root trees', (y) =>
      targetOptions(y)
        .positional('targets', { type: 'string', array: true, describe: 'disk images or root-tree directories' })
        .option('format', { alias: 'f', choices: FORMATS as string[], default: 'text', describe: 'report format' })
        .option('output', { alias: 'o', type: 'string', describe: 'write the report to FILE instead of stdout' })
        .option('sarif-category', {
          type: 'string',
          describe: 'SARIF automationDetails.id (code-scanning category; default: from the target names, without versions)',
        })
        .option('fail-on', {
          choices: FAIL_ON_VALUES as string[],
          describe: 'exit 1 when a finding is at or above this severity (default: error, or the config)',
        })
        .option('color', { type: 'boolean', describe: 'colour the text report (--no-color to disable)' })
        .option('host-user', { type: 'string', describe: "the build host's user name (default: current user)" })
        .option('host-home', { type: 'string', describe: "the build host's home directory (default: $HOME)" })
        .option('host-name', { type: 'string', describe: "the build host's hostname (default: this machine's)" })
        .option('recursive', { alias: 'r', type: 'boolean', default: false, describe: 'find images in directories by their magic bytes' })
        .option('jobs', { alias: 'j', type: 'number', describe: 'targets audited at once (default: fits the machine)' })
        .option('cache', { type: 'string', describe: 'reuse results of unchanged images from DIR (--no-cache: off)' })
        .option('shard', { type: 'string', describe: 'audit only shard i of n (i/n), split by target path' })
        .option('scan-store', {
          type: 'boolean',
          default: false,
          describe: 'also scan file contents inside /nix/store (world-readable, large; off by default)',
        })
        .option('rules-dir', { type: 'string', describe: 'load declarative YAML rules from DIR (repeatable)' })
        .option('baseline', { type: 'string', describe: 'report only findings whose fingerprint is not in this baseline' })
        .option('write-baseline', { type: 'string', describe: "record the current findings' fingerprints in FILE" })
        .option('show-suppressed', { type: 'boolean', default: false, describe: 'list ignored/baselined findings, marked' }),
    )
    .command('convert <report>', 'render a saved JSON report in another format', (y) =>
      y
        .positional('report', { type: 'string', describe: 'a report written with --format json' })
        .option('format', { alias: 'f', choices: FORMATS as string[], demandOption: true, describe: 'report format' })
        .option('output', { alias: 'o', type: 'string', describe: 'write the report to FILE instead of stdout' })
        .option('sarif-category', {
          type: 'string',
          describe: 'SARIF automationDetails.id (code-scanning category; default: from the target names, without versions)',
        })
        .option('color', { type: 'boolean', describe: 'colour the text report' })
        .option('config', { alias: 'c', type: 'string', describe: 'config file (rule settings for rule metadata)' })
        .option('rules-dir', { type: 'string', describe: 'declarative rules the report may name' }),
    )
    .command('merge <reports..>', 'combine JSON or jsonl reports (shards) into one', (y) =>
      y
        .positional('reports', { type: 'string', array: true })
        .option('format', { alias: 'f', choices: FORMATS as string[], default: 'json' })
        .option('output', { alias: 'o', type: 'string' })
        .option('sarif-category', {
          type: 'string',
          describe: 'SARIF automationDetails.id (code-scanning category; default: from the target names, without versions)',
        })
        .option('fail-on', { choices: FAIL_ON_VALUES as string[], describe: 'default: error, or the config' })
        .option('color', { type: 'boolean' })
        .option('config', { alias: 'c', type: 'string', describe: 'config file (rule metadata)' })
        .option('rules-dir', { type: 'string', describe: 'declarative rules the reports may name' }),
    )
    .command('ls <target> [path]', 'list entries inside an image, like ls / virt-ls', (y) =>
      targetOptions(y)
        .positional('target', { type: 'string', describe: 'disk image or root tree' })
        .positional('path', { type: 'string', default: '/', describe: 'path inside the image' })
        .option('long', { alias: 'l', type: 'boolean', default: false, describe: 'mode, owner, group, size, mtime, link target' })
        .option('recursive', { alias: 'R', type: 'boolean', default: false, describe: 'list subdirectories too (full paths)' }),
    )
    .command('cat <target> <path>', "print a file's contents, symlinks resolved inside the image", (y) =>
      targetOptions(y)
        .positional('target', { type: 'string' })
        .positional('path', { type: 'string' })
        .option('force', { type: 'boolean', default: false, describe: 'write binary data to a terminal anyway' }),
    )
    .command('inventory <target>', 'every entry of an image, one per line', (y) =>
      targetOptions(y)
        .positional('target', { type: 'string' })
        .option('format', { alias: 'f', choices: INVENTORY_FORMATS as unknown as string[], default: 'jsonl' }),
    )
    .command('diff <old> <new>', 'compare two builds: entries and findings', (y) =>
      targetOptions(y)
        .positional('old', { type: 'string' })
        .positional('new', { type: 'string' })
        .option('format', { alias: 'f', choices: ['text', 'json'], default: 'text' })
        .option('fail-on', { choices: FAIL_ON_VALUES as string[], describe: 'exit 1 on new findings at or above (default: error, or the config)' })
        .option('color', { type: 'boolean', describe: 'colour the text output (--no-color to disable)' })
        .option('rules-dir', { type: 'string', describe: 'load declarative YAML rules from DIR (repeatable)' }),
    )
    .command('rules', 'list the rules with their default severity', (y) =>
      y
        .option('config', { alias: 'c', type: 'string', describe: 'config file' })
        .option('rules-dir', { type: 'string', describe: 'also list (and validate) declarative rules' }),
    )
    .command('doctor', 'check that libguestfs works here (kernel, KVM or TCG) and time one appliance launch')
    .command('explain <rule>', "print a rule's documentation", (y) =>
      y.positional('rule', { type: 'string', describe: 'rule id' }),
    )
    .demandCommand(1, 'name a command: scan, convert, merge, ls, cat, inventory, diff, rules, doctor or explain')
    .strict()
    .help()
    .alias('h', 'help')
    .version(VERSION)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false);
}

export type Parsed = Record<string, unknown> & { _: (string | number)[] };

function parse(argv: string[]): Promise<{ args?: Parsed; output: string; error?: Error }> {
  return new Promise((resolve) => {
    parser().parse(argv, {}, (error: Error | undefined, args: unknown, output: string) => {
      resolve({ args: args as Parsed, output, error: error ?? undefined });
    });
  });
}

export function hostIdentity(args: Parsed, env: NodeJS.ProcessEnv, fromConfig: Partial<HostIdentity> = {}): HostIdentity {
  let user: string | null = null;
  let home: string | null = null;
  try {
    const info = os.userInfo();
    user = info.username;
    home = info.homedir;
  } catch {
    /* no passwd entry for the current uid (containers): fall back to the environment */
  }
  return {
    user: (args['host-user'] as string | undefined) ?? fromConfig.user ?? env.USER ?? user,
    home: (args['host-home'] as string | undefined) ?? fromConfig.home ?? env.HOME ?? home,
    name: (args['host-name'] as string | undefined) ?? fromConfig.name ?? os.hostname(),
  };
}

function gateArgs(args: Parsed): GateArgs {
  return {
    config: args.config as string | undefined,
    // Repeatable (--rules-dir a --rules-dir b), never greedy: `scan --rules-dir DIR IMAGE` keeps IMAGE a target.
    rulesDir: args['rules-dir'] === undefined ? undefined : ([] as string[]).concat(args['rules-dir'] as string | string[]),
    baseline: args.baseline as string | undefined,
    writeBaseline: args['write-baseline'] as string | undefined,
    showSuppressed: args['show-suppressed'] as boolean | undefined,
  };
}

async function writeOutput(text: string, output: string | undefined, io: RunIO): Promise<string | null> {
  if (!output) return null;
  try {
    await fsp.writeFile(path.resolve(io.cwd ?? process.cwd(), output), text);
    return null;
  } catch (err) {
    return `hostleak: cannot write ${output}: ${(err as Error).message}\n`;
  }
}

/** `512M`, `4G`, `1000000` (bytes) -> bytes; undefined when not given. */
function parseSize(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(String(v).trim());
  if (!m) throw new UsageError(`${flag} takes a size like 512M or 4G`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const n = Math.floor(Number(m[1]) * mult);
  if (!(n > 0)) throw new UsageError(`${flag} must be more than 0`);
  return n;
}

/** How images are opened: flags win over the config file, which wins over the defaults. */
function backendOptions(args: Parsed, gate: Gate, env: NodeJS.ProcessEnv): BackendOptions {
  const cfg = gate.config.backend;
  const timeout = (args.timeout as number | undefined) ?? cfg.timeout;
  if (timeout !== undefined && !(Number.isFinite(timeout) && timeout > 0)) {
    throw new UsageError('--timeout must be a positive number of seconds');
  }
  return {
    maxDecompressedBytes: parseSize(args['max-decompressed'] as string | undefined, '--max-decompressed'),
    allowBackingFile: (args['allow-backing-file'] as boolean | undefined) ?? cfg.allowBackingFile ?? false,
    guestfs: {
      accel: ((args.accel as string | undefined) ?? cfg.accel ?? 'auto') as Accel,
      timeoutS: timeout,
      env,
    },
  };
}

/** --fail-on, else the config's failOn, else error. */
function failOnFrom(args: Parsed, gate: Gate): FailOn {
  return (args['fail-on'] as FailOn | undefined) ?? gate.config.failOn ?? 'error';
}

function backendChoice(args: Parsed, gate: Gate): BackendChoice {
  return ((args.backend as string | undefined) ?? gate.config.backend.name ?? 'auto') as BackendChoice;
}

/** The gate's rules, with command-line rule options (--scan-store) added. */
function rulesFor(gate: Gate, args: Parsed): EnabledRule[] {
  if (!args['scan-store']) return gate.rules;
  return gate.rules.map((r) => ({ ...r, options: { ...r.options, scanStore: true } }));
}

async function prepareGate(args: Parsed, io: RunIO): Promise<Gate> {
  return prepare(gateArgs(args), { cwd: io.cwd ?? process.cwd(), builtins: builtinRules, backendChoices: BACKEND_CHOICES });
}

function wantColor(args: Parsed, io: RunIO, env: NodeJS.ProcessEnv): boolean {
  if (typeof args.color === 'boolean') return args.color;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return io.color ?? false;
}

async function cmdScan(args: Parsed, io: RunIO, env: NodeJS.ProcessEnv): Promise<RunResult> {
  const cwd = io.cwd ?? process.cwd();
  const gate = await prepareGate(args, io);
  let stderr = gate.warnings.map((w) => `hostleak: warning: ${w}\n`).join('');
  const verbose = args.verbose ? (msg: string) => void (stderr += `hostleak: ${msg}\n`) : undefined;
  const failOn = failOnFrom(args, gate);
  const format = args.format as FormatName;
  const output = args.output ? path.resolve(cwd, String(args.output)) : undefined;
  let shard: Shard | null = null;
  if (args.shard !== undefined) {
    try {
      shard = parseShard(String(args.shard));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  const jobsDefault = defaultJobs();
  const jobs = args.jobs === undefined ? jobsDefault.jobs : Number(args.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) throw new UsageError(`--jobs takes a whole number >= 1, not '${args.jobs}'`);

  const rules = rulesFor(gate, args);
  const host = hostIdentity(args, env, gate.config.host);
  const backend = backendChoice(args, gate);
  const backendOpts = backendOptions(args, gate, env);
  const listed = await expandTargets(args.targets as string[], { recursive: Boolean(args.recursive), isImage: isAuditableFile, verbose });
  // A folder of build products (a nix `result`, a Hydra output) is one target per product.
  const expanded = backend === 'auto' ? await expandProducts(listed, verbose) : listed;
  if (expanded.length === 0) {
    // An empty or unmounted store must not pass as a clean audit.
    // Only --recursive can find nothing: a named target is always audited, if only to fail.
    const where = (args.targets as string[]).join(', ');
    return { exitCode: EXIT_INCOMPLETE, stdout: '', stderr: `${stderr}hostleak: no images found in ${where} (is the store mounted?)\n` };
  }
  const targets = expanded.filter((t) => inShard(t, shard));
  if (shard) verbose?.(`shard ${shard.index}/${shard.count}: ${targets.length} of ${expanded.length} targets`);
  // The cache holds raw audit results; ignores and baselines are applied after it, so they never need a rescan.
  const cache =
    typeof args.cache === 'string'
      ? new ResultCache(
          path.resolve(cwd, args.cache),
          configHash({
            version: VERSION,
            fingerprintVersion: FINGERPRINT_VERSION,
            backend,
            host,
            // A rule edited under the same id (a YAML rule, or a built-in between two builds) must not hit old results.
            rules: rules.map((r) => ({
              meta: r.rule.meta,
              code: String(r.rule.check),
              definition: r.rule.definition ?? null,
              severity: r.severity,
              options: r.options,
            })),
            // With backing files allowed an overlay audits to other findings than when it is refused.
            allowBackingFile: backendOpts.allowBackingFile ?? false,
          }),
        )
      : null;

  // jsonl streams each target as it finishes; every other format is rendered once at the end.
  const streaming = format === 'jsonl';
  const gateRun = startRun(gate, gateArgs(args), cwd);
  const tracker = new ExitTracker(failOn);
  let streamed = '';
  if (streaming && output) await fsp.writeFile(output, '');
  const onResult = async (raw: TargetResult) => {
    const t = gateRun.target(raw);
    tracker.see(t);
    if (t.status !== 'ok') stderr += `hostleak: ${t.target}: ${t.status}: ${t.error}\n`;
    if (!streaming) return;
    const line = jsonlLine(t);
    if (output) await fsp.appendFile(output, line);
    else if (io.writeStdout) io.writeStdout(line);
    else streamed += line;
  };
  const progress = io.progress && io.writeStderr ? terminalProgress(targets.length, io.writeStderr, io.columns) : undefined;
  const scanned = await scan(targets, {
    ...backendOpts,
    backend,
    rules,
    host,
    verbose,
    jobs,
    appliances: new Semaphore(Math.min(jobs, jobsDefault.appliances)),
    cache,
    progress,
    onResult,
    retain: !streaming,
  });
  for (const m of await gateRun.finish()) stderr += `hostleak: ${m}\n`;
  if (streaming) return { exitCode: tracker.code(), stdout: streamed, stderr };
  const report = { ...scanned, targets: scanned.targets.map((t) => gateRun.target(t)) };
  const t0 = Date.now();
  const text = render(format, report, {
    color: output ? false : wantColor(args, io, env),
    rules: rules.map((r) => r.rule.meta),
    sarifCategory: args['sarif-category'] as string | undefined,
  });
  verbose?.(`phase report: ${Date.now() - t0} ms (${format})`);
  const failed = await writeOutput(text, output, io);
  if (failed) return { exitCode: EXIT_USAGE, stdout: '', stderr: stderr + failed };
  return { exitCode: tracker.code(), stdout: output ? '' : text, stderr };
}

async function cmdMerge(args: Parsed, io: RunIO, env: NodeJS.ProcessEnv): Promise<RunResult> {
  const report = await mergeReports(args.reports as string[]);
  const format = args.format as FormatName;
  const output = args.output ? path.resolve(io.cwd ?? process.cwd(), String(args.output)) : undefined;
  const gate = await prepareGate(args, io);
  const text = render(format, report, {
    color: output ? false : wantColor(args, io, env),
    rules: gate.rules.map((r) => r.rule.meta),
    sarifCategory: args['sarif-category'] as string | undefined,
  });
  const failed = await writeOutput(text, output, io);
  if (failed) return { exitCode: EXIT_USAGE, stdout: '', stderr: failed };
  return { exitCode: exitCodeFor(report, failOnFrom(args, gate)), stdout: output ? '' : text, stderr: '' };
}

interface ImageLog {
  stderr: string;
  verbose?: (m: string) => void;
}

/** Time one phase for --verbose: `phase NAME: N ms (note)`. */
async function phase<T>(log: ImageLog, name: string, fn: () => Promise<T> | T, note?: (r: T) => string): Promise<T> {
  const t0 = Date.now();
  const r = await fn();
  log.verbose?.(`phase ${name}: ${Date.now() - t0} ms${note ? ` (${note(r)})` : ''}`);
  return r;
}

/**
 * Open a target for an inspection command, run `fn`, always close; map errors to exit codes. `outer` is the log of
 * an enclosing withImage (diff opens two images), so --verbose lines come out in the order they happened.
 */
async function withImage(
  args: Parsed,
  opening: { gate: Gate; env: NodeJS.ProcessEnv },
  target: string,
  fn: (image: OpenedImage, log: ImageLog) => Promise<RunResult>,
  outer?: ImageLog,
): Promise<RunResult> {
  const log: ImageLog = outer ?? { stderr: '' };
  if (args.verbose && !outer) log.verbose = (m: string) => void (log.stderr += `hostleak: ${m}\n`);
  const logged = () => (outer ? '' : log.stderr);
  let image: OpenedImage | null = null;
  try {
    const choice = backendChoice(args, opening.gate);
    image = await openTarget(target, choice, backendOptions(args, opening.gate, opening.env), log.verbose);
    const r = await fn(image, log);
    return { ...r, stderr: logged() + r.stderr };
  } catch (err) {
    const exitCode = exitCodeOf(err);
    const where = exitCode === EXIT_USAGE ? '' : `${target}: `;
    return { exitCode, stdout: '', stderr: `${logged()}hostleak: ${where}${oneLine(err)}\n` };
  } finally {
    await image?.close().catch(() => undefined);
  }
}

function partialNote(image: OpenedImage, target: string): string {
  return image.problems.length > 0 ? `hostleak: ${target}: partial: ${image.problems.join('; ')}\n` : '';
}

async function cmdLs(args: Parsed, io: RunIO, env: NodeJS.ProcessEnv): Promise<RunResult> {
  const target = String(args.target);
  return withImage(args, { gate: await prepareGate(args, io), env }, target, async (image, log) => {
    const { root, path: p } = selectRoot(image, String(args.path ?? '/'));
    const stdout = await phase(
      log,
      'ls',
      () => ls(root, p, { long: Boolean(args.long), recursive: Boolean(args.recursive) }),
      (out) => `${out === '' ? 0 : out.split('\n').length - 1} lines`,
    );
    return { exitCode: image.problems.length ? EXIT_INCOMPLETE : EXIT_OK, stdout, stderr: partialNote(image, target) };
  });
}

async function cmdCat(args: Parsed, io: RunIO, env: NodeJS.ProcessEnv): Promise<RunResult> {
  const target = String(args.target);
  return withImage(args, { gate: await prepareGate(args, io), env }, target, async (image, log) => {
    const { root, path: p } = selectRoot(image, String(args.path));
    const { data, truncated } = await phase(log, 'read', () => cat(root, p), (r) => `${r.resolved}, ${r.data.length} bytes`);
    if (looksBinary(data) && (io.tty ?? io.color ?? false) && !args.force) {
      throw new RequestError(`${p}: binary data; refusing to write it to a terminal (redirect it, or add --force)`);
    }
    const note = truncated ? `hostleak: ${p}: cut at ${data.length} bytes\n` : '';
    return { exitCode: EXIT_OK, stdout: '', stdoutBytes: data, stderr: note };
  });
}

async function cmdInventory(args: Parsed, io: RunIO, env: NodeJS.ProcessEnv): Promise<RunResult> {
  const target = String(args.target);
  return withImage(args, { gate: await prepareGate(args, io), env }, target, async (image, log) => {
    const lines = await phase(
      log,
      'report',
      () => [...inventoryLines(image.roots, args.format as InventoryFormat)],
      (l) => `${args.format}, ${l.length} lines`,
    );
    return { exitCode: image.problems.length ? EXIT_INCOMPLETE : EXIT_OK, stdout: lines.join(''), stderr: partialNote(image, target) };
  });
}

async function cmdDiff(args: Parsed, io: RunIO, env: NodeJS.ProcessEnv): Promise<RunResult> {
  const [oldT, newT] = [String(args.old), String(args.new)];
  const gate = await prepareGate(args, io);
  const rules = rulesFor(gate, args);
  const host = hostIdentity(args, env, gate.config.host);
  return withImage(args, { gate, env }, oldT, (oldImage, log) =>
    withImage(
      args,
      { gate, env },
      newT,
      async (newImage) => {
        const audit = (image: OpenedImage, t: string) =>
          phase(log, 'rules', () => auditImage(image, { rules, host, verbose: log.verbose }, t), (f) => `${t}: ${rules.length} rules, ${f.length} findings`);
        const findings = { old: await audit(oldImage, oldT), new: await audit(newImage, newT) };
        const d = await phase(
          log,
          'diff',
          () => diffImages(oldImage, newImage, { old: oldT, new: newT }, findings),
          (r) => `${r.added.length} added, ${r.removed.length} removed, ${r.changed.length} changed`,
        );
        const stdout = await phase(
          log,
          'report',
          () => (args.format === 'json' ? JSON.stringify(d, null, 2) + '\n' : formatDiffText(d, wantColor(args, io, env))),
          () => String(args.format),
        );
        const incomplete = oldImage.problems.length > 0 || newImage.problems.length > 0;
        const failOn = failOnFrom(args, gate);
        const exitCode = incomplete
          ? EXIT_INCOMPLETE
          : d.findings.new.some((f) => atOrAbove(f.severity, failOn))
            ? EXIT_FINDINGS
            : EXIT_OK;
        return { exitCode, stdout, stderr: partialNote(oldImage, oldT) + partialNote(newImage, newT) };
      },
      log,
    ),
  );
}

async function cmdConvert(args: Parsed, io: RunIO, env: NodeJS.ProcessEnv): Promise<RunResult> {
  const cwd = io.cwd ?? process.cwd();
  const gate = await prepare(gateArgs(args), { cwd, builtins: builtinRules, backendChoices: BACKEND_CHOICES });
  const report = await readReport(String(args.report), cwd);
  const output = args.output as string | undefined;
  const text = render(args.format as FormatName, report, {
    color: output ? false : wantColor(args, io, env),
    rules: gate.rules.map((r) => r.rule.meta),
    sarifCategory: args['sarif-category'] as string | undefined,
  });
  const failed = await writeOutput(text, output, io);
  if (failed) return { exitCode: EXIT_USAGE, stdout: '', stderr: failed };
  return { exitCode: EXIT_OK, stdout: output ? '' : text, stderr: '' };
}

async function cmdRules(args: Parsed, io: RunIO): Promise<RunResult> {
  const gate = await prepare(gateArgs(args), { cwd: io.cwd ?? process.cwd(), builtins: builtinRules, backendChoices: BACKEND_CHOICES });
  const rules = gate.registry.all();
  const w = Math.max(...rules.map((r) => r.meta.id.length));
  const lines = rules.map((r) => `${r.meta.id.padEnd(w)}  ${r.meta.severity.padEnd(7)}  ${r.meta.description}`);
  return { exitCode: EXIT_OK, stdout: lines.join('\n') + '\n', stderr: '' };
}

async function cmdExplain(args: Parsed): Promise<RunResult> {
  const id = String(args.rule);
  const registry = new Registry(builtinRules);
  const rule = registry.get(id);
  if (!rule) throw new UsageError(`unknown rule '${id}'; 'hostleak rules' lists them`);
  let doc: string;
  try {
    doc = await fsp.readFile(path.join(DOCS_RULES_DIR, `${id}.md`), 'utf8');
  } catch {
    doc = `# ${id}\n\n${rule.meta.description}\n\nHow to fix: ${rule.meta.remediation}\n`;
  }
  return { exitCode: EXIT_OK, stdout: doc.endsWith('\n') ? doc : doc + '\n', stderr: '' };
}

export async function run(argv: string[], io: RunIO = {}): Promise<RunResult> {
  const env = io.env ?? process.env;
  const { args, output, error } = await parse(argv);
  if (error) {
    return { exitCode: EXIT_USAGE, stdout: '', stderr: `hostleak: ${error.message}\nRun 'hostleak --help' for usage.\n` };
  }
  if (!args) return { exitCode: EXIT_USAGE, stdout: '', stderr: 'hostleak: cannot parse arguments\n' };
  if (output) return { exitCode: EXIT_OK, stdout: output + '\n', stderr: '' };
  try {
    switch (args._[0]) {
      case 'scan':
        return await cmdScan(args, io, env);
      case 'merge':
        return await cmdMerge(args, io, env);
      case 'ls':
        return await cmdLs(args, io, env);
      case 'cat':
        return await cmdCat(args, io, env);
      case 'inventory':
        return await cmdInventory(args, io, env);
      case 'diff':
        return await cmdDiff(args, io, env);
      case 'convert':
        return await cmdConvert(args, io, env);
      case 'rules':
        return await cmdRules(args, io);
      case 'doctor': {
        const checks = await doctor(env);
        const usable =
          checks.find((c) => c.name === 'libguestfs')?.ok && checks.some((c) => (c.name === 'KVM' || c.name === 'TCG') && c.ok);
        return { exitCode: usable ? EXIT_OK : EXIT_INCOMPLETE, stdout: formatChecks(checks), stderr: '' };
      }
      case 'explain':
        return await cmdExplain(args);
      default:
        throw new UsageError(`unknown command '${args._[0]}'`);
    }
  } catch (err) {
    // An error of the model is one line and its exit code; anything else is a bug (the bin reports it).
    if (err instanceof HostleakError) return { exitCode: exitCodeOf(err), stdout: '', stderr: `hostleak: ${err.message}\n` };
    throw err;
  }
}
