/**
 * The command line. `run(argv)` returns what to print and the exit code, so the CLI is testable without a process;
 * src/bin/hostleak.ts only wires it to the real process.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yargs, { type Argv } from 'yargs';
import { Registry } from './engine/registry.js';
import { finish, isSetupError, prepare, readReport, type GateArgs } from './gate.js';
import { EXIT_OK, EXIT_USAGE, exitCodeFor, FAIL_ON_VALUES, type FailOn } from './exit.js';
import { DOCS_RULES_DIR, VERSION } from './paths.js';
import { FORMATS, render, type FormatName } from './reporters/index.js';
import { BACKEND_CHOICES, scan, type BackendChoice } from './scan.js';
import type { HostIdentity } from './types.js';
import { builtinRules } from '../rules/index.js';

export interface RunIO {
  /** Whether stdout is a colour-capable terminal (the bin decides; tests pass false). */
  color?: boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

class UsageError extends Error {}

function parser(): Argv {
  return yargs()
    .scriptName('hostleak')
    .usage('$0 <command> [options]\n\nAudit built OS disk images for artifacts leaked from the machine that built them.')
    .command('scan <targets..>', 'audit images or root trees', (y) =>
      y
        .positional('targets', { type: 'string', array: true, describe: 'disk images or root-tree directories' })
        .option('format', { alias: 'f', choices: FORMATS as string[], default: 'text', describe: 'report format' })
        .option('output', { alias: 'o', type: 'string', describe: 'write the report to FILE instead of stdout' })
        .option('fail-on', {
          choices: FAIL_ON_VALUES as string[],
          describe: 'exit 1 when a finding is at or above this severity (default: error)',
        })
        .option('backend', { choices: BACKEND_CHOICES as string[], describe: 'how to read targets (default: auto)' })
        .option('color', { type: 'boolean', describe: 'colour the text report (--no-color to disable)' })
        .option('host-user', { type: 'string', describe: "the build host's user name (default: current user)" })
        .option('host-home', { type: 'string', describe: "the build host's home directory (default: $HOME)" })
        .option('host-name', { type: 'string', describe: "the build host's hostname (default: this machine's)" })
        .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'print progress and timings to stderr' })
        .option('config', { alias: 'c', type: 'string', describe: 'config file (default: ./hostleak.config.{json,yaml,yml})' })
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
        .option('color', { type: 'boolean', describe: 'colour the text report' })
        .option('config', { alias: 'c', type: 'string', describe: 'config file (rule settings for rule metadata)' })
        .option('rules-dir', { type: 'string', describe: 'declarative rules the report may name' }),
    )
    .command('rules', 'list the rules with their default severity', (y) =>
      y
        .option('config', { alias: 'c', type: 'string', describe: 'config file' })
        .option('rules-dir', { type: 'string', describe: 'also list (and validate) declarative rules' }),
    )
    .command('explain <rule>', "print a rule's documentation", (y) =>
      y.positional('rule', { type: 'string', describe: 'rule id' }),
    )
    .demandCommand(1, 'name a command: scan, convert, rules or explain')
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

function wantColor(args: Parsed, io: RunIO, env: NodeJS.ProcessEnv): boolean {
  if (typeof args.color === 'boolean') return args.color;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return io.color ?? false;
}

async function cmdScan(args: Parsed, io: RunIO, env: NodeJS.ProcessEnv): Promise<RunResult> {
  const cwd = io.cwd ?? process.cwd();
  const gate = await prepare(gateArgs(args), { cwd, builtins: builtinRules, backendChoices: BACKEND_CHOICES });
  let stderr = gate.warnings.map((w) => `hostleak: warning: ${w}\n`).join('');
  const verbose = args.verbose ? (msg: string) => void (stderr += `hostleak: ${msg}\n`) : undefined;
  const failOn = (args['fail-on'] as FailOn | undefined) ?? gate.config.failOn ?? 'error';
  const format = args.format as FormatName;
  const scanned = await scan(args.targets as string[], {
    backend: ((args.backend as string | undefined) ?? gate.config.backend.name ?? 'auto') as BackendChoice,
    rules: gate.rules,
    host: hostIdentity(args, env, gate.config.host),
    verbose,
  });
  for (const t of scanned.targets) if (t.status !== 'ok') stderr += `hostleak: ${t.target}: ${t.status}: ${t.error}\n`;
  const { report, messages } = await finish(scanned, gate, gateArgs(args), cwd);
  for (const m of messages) stderr += `hostleak: ${m}\n`;
  const output = args.output as string | undefined;
  const text = render(format, report, {
    color: output ? false : wantColor(args, io, env),
    rules: gate.rules.map((r) => r.rule.meta),
  });
  const failed = await writeOutput(text, output, io);
  if (failed) return { exitCode: EXIT_USAGE, stdout: '', stderr: stderr + failed };
  return { exitCode: exitCodeFor(report, failOn), stdout: output ? '' : text, stderr };
}

async function cmdConvert(args: Parsed, io: RunIO, env: NodeJS.ProcessEnv): Promise<RunResult> {
  const cwd = io.cwd ?? process.cwd();
  const gate = await prepare(gateArgs(args), { cwd, builtins: builtinRules, backendChoices: BACKEND_CHOICES });
  const report = await readReport(String(args.report), cwd);
  const output = args.output as string | undefined;
  const text = render(args.format as FormatName, report, {
    color: output ? false : wantColor(args, io, env),
    rules: gate.rules.map((r) => r.rule.meta),
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
      case 'convert':
        return await cmdConvert(args, io, env);
      case 'rules':
        return await cmdRules(args, io);
      case 'explain':
        return await cmdExplain(args);
      default:
        throw new UsageError(`unknown command '${args._[0]}'`);
    }
  } catch (err) {
    if (err instanceof UsageError || isSetupError(err)) {
      return { exitCode: EXIT_USAGE, stdout: '', stderr: `hostleak: ${err.message}\n` };
    }
    throw err;
  }
}
