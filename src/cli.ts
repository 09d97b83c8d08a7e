/**
 * The command line. `run(argv)` returns what to print and the exit code, so the CLI is testable without a process;
 * src/bin/hostleak.ts only wires it to the real process.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yargs, { type Argv } from 'yargs';
import { Registry } from './engine/registry.js';
import type { EnabledRule } from './engine/runner.js';
import { doctor, formatChecks } from './doctor.js';
import { EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE, exitCodeFor, FAIL_ON_VALUES, type FailOn } from './exit.js';
import { DOCS_RULES_DIR, VERSION } from './paths.js';
import { FORMATS, render, type FormatName } from './reporters/index.js';
import { BACKEND_CHOICES, scan, type BackendChoice } from './scan.js';
import { ACCEL_CHOICES, DEFAULT_TIMEOUT_S, type Accel } from './backends/guestfs.js';
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
          default: 'error',
          describe: 'exit 1 when a finding is at or above this severity',
        })
        .option('backend', { choices: BACKEND_CHOICES as string[], default: 'auto', describe: 'how to read targets' })
        .option('color', { type: 'boolean', describe: 'colour the text report (--no-color to disable)' })
        .option('host-user', { type: 'string', describe: "the build host's user name (default: current user)" })
        .option('host-home', { type: 'string', describe: "the build host's home directory (default: $HOME)" })
        .option('host-name', { type: 'string', describe: "the build host's hostname (default: this machine's)" })
        .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'print progress and timings to stderr' })
        .option('allow-backing-file', {
          type: 'boolean',
          default: false,
          describe: 'let a qcow2/vmdk/vhd image read the host backing file it names (refused by default)',
        })
        .option('accel', { choices: ACCEL_CHOICES as string[], default: 'auto', describe: 'guestfs appliance: KVM, TCG or auto' })
        .option('timeout', { type: 'number', default: DEFAULT_TIMEOUT_S, describe: 'per-image timeout in seconds' }),
    )
    .command('rules', 'list the rules with their default severity')
    .command('doctor', 'check that libguestfs works here (kernel, KVM or TCG) and time one appliance launch')
    .command('explain <rule>', "print a rule's documentation", (y) =>
      y.positional('rule', { type: 'string', describe: 'rule id' }),
    )
    .demandCommand(1, 'name a command: scan, rules or explain')
    .strict()
    .help()
    .alias('h', 'help')
    .version(VERSION)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false);
}

type Parsed = Record<string, unknown> & { _: (string | number)[] };

function parse(argv: string[]): Promise<{ args?: Parsed; output: string; error?: Error }> {
  return new Promise((resolve) => {
    parser().parse(argv, {}, (error: Error | undefined, args: unknown, output: string) => {
      resolve({ args: args as Parsed, output, error: error ?? undefined });
    });
  });
}

function hostIdentity(args: Parsed, env: NodeJS.ProcessEnv): HostIdentity {
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
    user: (args['host-user'] as string | undefined) ?? env.USER ?? user,
    home: (args['host-home'] as string | undefined) ?? env.HOME ?? home,
    name: (args['host-name'] as string | undefined) ?? os.hostname(),
  };
}

function enabledRules(registry: Registry): EnabledRule[] {
  return registry.all().map((rule) => ({ rule, severity: rule.meta.severity, options: {} }));
}

function wantColor(args: Parsed, io: RunIO, env: NodeJS.ProcessEnv): boolean {
  if (typeof args.color === 'boolean') return args.color;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return io.color ?? false;
}

async function cmdScan(args: Parsed, io: RunIO, env: NodeJS.ProcessEnv): Promise<RunResult> {
  const registry = new Registry(builtinRules);
  let stderr = '';
  const verbose = args.verbose ? (msg: string) => void (stderr += `hostleak: ${msg}\n`) : undefined;
  const failOn = args['fail-on'] as FailOn;
  const timeout = args.timeout as number;
  if (!(Number.isFinite(timeout) && timeout > 0)) throw new UsageError('--timeout must be a positive number of seconds');
  const format = args.format as FormatName;
  const report = await scan(args.targets as string[], {
    backend: args.backend as BackendChoice,
    rules: enabledRules(registry),
    host: hostIdentity(args, env),
    verbose,
    guestfs: {
      accel: args.accel as Accel,
      timeoutS: args.timeout as number,
      allowBackingFile: args['allow-backing-file'] as boolean,
      env,
    },
  });
  for (const t of report.targets) if (t.status !== 'ok') stderr += `hostleak: ${t.target}: ${t.status}: ${t.error}\n`;
  const output = args.output as string | undefined;
  const text = render(format, report, { color: output ? false : wantColor(args, io, env) });
  let stdout = text;
  if (output) {
    try {
      await fsp.writeFile(path.resolve(io.cwd ?? process.cwd(), output), text);
    } catch (err) {
      return { exitCode: EXIT_USAGE, stdout: '', stderr: stderr + `hostleak: cannot write ${output}: ${(err as Error).message}\n` };
    }
    stdout = '';
  }
  return { exitCode: exitCodeFor(report, failOn), stdout, stderr };
}

function cmdRules(): RunResult {
  const rules = new Registry(builtinRules).all();
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
      case 'rules':
        return cmdRules();
      case 'doctor': {
        const checks = await doctor(env);
        const usable = checks.find((c) => c.name === 'libguestfs')?.ok && checks.some((c) => (c.name === 'KVM' || c.name === 'TCG') && c.ok);
        return { exitCode: usable ? EXIT_OK : EXIT_INCOMPLETE, stdout: formatChecks(checks), stderr: '' };
      }
      case 'explain':
        return await cmdExplain(args);
      default:
        throw new UsageError(`unknown command '${args._[0]}'`);
    }
  } catch (err) {
    if (err instanceof UsageError) return { exitCode: EXIT_USAGE, stdout: '', stderr: `hostleak: ${err.message}\n` };
    throw err;
  }
}
