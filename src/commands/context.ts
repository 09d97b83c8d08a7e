/**
 * What every command handler gets (the parsed arguments, the I/O the bin wired, the environment) and the option
 * precedence they share: flags win over the config file, which wins over the defaults.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Accel } from '../backends/guestfs.js';
import type { EnabledRule } from '../engine/runtime/runner.js';
import { UsageError } from '../errors.js';
import type { FailOn } from '../exit.js';
import { prepare, type Gate, type GateArgs } from '../engine/gate/index.js';
import type { BackendOptions } from '../scan.js';
import { insecureRegistries, parsePlatform } from '../remote/reference.js';
import { BACKEND_CHOICES, type BackendChoice, type HostIdentity } from '../types.js';
import { builtinRules } from '../../rules/index.js';
import type { RunSummary } from '../reporters/html.js';
import { readHistory } from './report-file.js';

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
  /** All of standard input (`--targets-from -`); default: the process's. */
  readStdin?: () => Promise<string>;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Raw bytes to write to stdout after `stdout` (cat of a binary file). */
  stdoutBytes?: Buffer;
}

export type Parsed = Record<string, unknown> & { _: (string | number)[] };

/** One command invocation. `env` and `cwd` are the only environment a command reads. */
export interface CommandContext {
  args: Parsed;
  io: RunIO;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export type Command = (ctx: CommandContext) => Promise<RunResult>;

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

export function gateArgs(args: Parsed): GateArgs {
  return {
    config: args.config as string | undefined,
    // Repeatable (--rules-dir a --rules-dir b), never greedy: `scan --rules-dir DIR IMAGE` keeps IMAGE a target.
    rulesDir: args['rules-dir'] === undefined ? undefined : ([] as string[]).concat(args['rules-dir'] as string | string[]),
    baseline: args.baseline as string | undefined,
    writeBaseline: args['write-baseline'] as string | undefined,
    showSuppressed: args['show-suppressed'] as boolean | undefined,
  };
}

export function prepareGate(ctx: CommandContext): Promise<Gate> {
  return prepare(gateArgs(ctx.args), { cwd: ctx.cwd, builtins: builtinRules, backendChoices: BACKEND_CHOICES });
}

/** The stderr line for an `--output` that cannot be written: what failed, and what to check. */
export function cannotWrite(output: string, err: unknown): string {
  return `hostleak: cannot write ${output}: ${(err as Error).message} (check that its folder exists and is writable, or drop --output to print to stdout)\n`;
}

/** Write a rendered report to `--output`; returns the error line for stderr, or null. */
export async function writeOutput(text: string, output: string | undefined, cwd: string): Promise<string | null> {
  if (!output) return null;
  try {
    await fsp.writeFile(path.resolve(cwd, output), text);
    return null;
  } catch (err) {
    return cannotWrite(output, err);
  }
}

/** `512M`, `4G`, `1000000` (bytes) -> bytes; undefined when not given. */
export function parseSize(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(String(v).trim());
  if (!m) throw new UsageError(`${flag} takes a size like 512M or 4G`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const n = Math.floor(Number(m[1]) * mult);
  if (!(n > 0)) throw new UsageError(`${flag} must be more than 0`);
  return n;
}

/** How images are opened: flags win over the config file, which wins over the defaults. */
export function backendOptions(ctx: CommandContext, gate: Gate): BackendOptions {
  const { args, env } = ctx;
  const cfg = gate.config.backend;
  const timeout = (args.timeout as number | undefined) ?? cfg.timeout;
  if (timeout !== undefined && !(Number.isFinite(timeout) && timeout > 0)) {
    throw new UsageError('--timeout must be a positive number of seconds');
  }
  return {
    maxDecompressedBytes: parseSize(args['max-decompressed'] as string | undefined, '--max-decompressed'),
    allowBackingFile: (args['allow-backing-file'] as boolean | undefined) ?? cfg.allowBackingFile ?? false,
    // Images inside images are audited unless --no-nested.
    nested: args.nested !== false,
    registry: { platform: parsePlatform(args.platform), insecure: insecureRegistries(args['insecure-registry']), env },
    guestfs: {
      accel: ((args.accel as string | undefined) ?? cfg.accel ?? 'auto') as Accel,
      timeoutS: timeout,
      env,
    },
  };
}

/** --fail-on, else the config's failOn, else error. */
export function failOnFrom(args: Parsed, gate: Gate): FailOn {
  return (args['fail-on'] as FailOn | undefined) ?? gate.config.failOn ?? 'error';
}

export function backendChoice(args: Parsed, gate: Gate): BackendChoice {
  return ((args.backend as string | undefined) ?? gate.config.backend.name ?? 'auto') as BackendChoice;
}

/** Rule options the command line sets for every rule that takes them. */
const CLI_RULE_OPTIONS = [
  ['scan-store', 'scanStore'],
  ['trust-packages', 'trustPackages'],
] as const;

/** The gate's rules, with command-line rule options (--scan-store, --trust-packages) added. */
export function rulesFor(gate: Gate, args: Parsed): EnabledRule[] {
  const set = CLI_RULE_OPTIONS.filter(([flag]) => args[flag] === true).map(([, option]) => option);
  if (set.length === 0) return gate.rules;
  return gate.rules.map((r) => {
    const own = set.filter((o) => r.rule.meta.options?.[o]);
    return own.length === 0 ? r : { ...r, options: { ...r.options, ...Object.fromEntries(own.map((o) => [o, true])) } };
  });
}

/**
 * Colour or not: `--color`/`--no-color`, else NO_COLOR (any non-empty value: off), else FORCE_COLOR (`0` or `false`:
 * off, any other non-empty value: on), else off on TERM=dumb, else whether stdout is a colour terminal.
 */
export function wantColor(ctx: CommandContext): boolean {
  const { args, env, io } = ctx;
  if (typeof args.color === 'boolean') return args.color;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '') return !['0', 'false'].includes(env.FORCE_COLOR.toLowerCase());
  if (env.TERM === 'dumb') return false;
  return io.color ?? false;
}

/** The width text output wraps to: the terminal's, when stdout is one and no --output file is written. */
export function terminalColumns(ctx: CommandContext, output: string | undefined): number | undefined {
  return !output && (ctx.io.tty ?? ctx.io.color) ? ctx.io.columns : undefined;
}

/** Where a cut step summary sends readers: the GitHub Actions run page (its artifacts hold the full report). */
export function fullReportLink(env: NodeJS.ProcessEnv): string | undefined {
  const { GITHUB_SERVER_URL: server, GITHUB_REPOSITORY: repo, GITHUB_RUN_ID: id } = env;
  return server && repo && id ? `the artifacts of ${server}/${repo}/actions/runs/${id}` : undefined;
}

/** `--history DIR`: the earlier runs' summaries for the HTML trend, and a warning per file left out. */
export async function historyFor(ctx: CommandContext): Promise<{ history?: RunSummary[]; warnings: string }> {
  const dir = ctx.args.history;
  if (typeof dir !== 'string') return { warnings: '' };
  const { reports, skipped } = await readHistory(dir, ctx.cwd);
  const { summarizeRun } = await import('../reporters/html.js');
  return {
    history: reports.map(summarizeRun).filter((r): r is RunSummary => r !== null),
    warnings: skipped.map((s) => `hostleak: warning: --history: left out ${s}\n`).join(''),
  };
}
