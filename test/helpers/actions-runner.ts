/**
 * Runs a composite GitHub Action the way the Actions runner does, so the action is tested as GitHub runs it rather
 * than read as data:
 * - `action.yml` parsed; inputs from `with` over the declared defaults;
 * - `${{ ... }}` expressions (contexts `inputs`, `github`, `steps`, `runner`, `env`; `==`, `!=`, `&&`, `||`, `!`,
 *   string literals, `always()`/`success()`/`failure()`/`cancelled()`, `hashFiles()`) substituted in `env`, `with`, `run`,
 *   `working-directory` and the outputs; `if:` evaluated with `success() &&` implied when it names no status
 *   function;
 * - each `run:` step written to a file and run as `bash --noprofile --norc -eo pipefail FILE` (GitHub's `shell: bash`)
 *   with fresh `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`, `GITHUB_ENV` and `GITHUB_PATH` files, `RUNNER_TEMP`,
 *   `GITHUB_ACTION_PATH`, `GITHUB_WORKSPACE`, `CI=true`, `GITHUB_ACTIONS=true`; outputs (`name=value` and
 *   `name<<DELIM` blocks) and `GITHUB_ENV` lines read back after the step;
 * - `uses:` steps handed to a handler the test supplies (the test decides what the used action checks).
 * An expression or step shape it does not know is an error, never silently skipped.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fg from 'fast-glob';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

export interface WorkflowCommand {
  level: 'error' | 'warning' | 'notice';
  properties: Record<string, string>;
  message: string;
}

export interface StepResult {
  name: string;
  id: string | null;
  /** `skipped` when its `if:` was false. */
  conclusion: 'success' | 'failure' | 'skipped';
  exitCode: number | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  /** Workflow commands (annotations) the step printed. */
  commands: WorkflowCommand[];
  summary: string;
}

export type UsesHandler = (withArgs: Record<string, string>) => { ok: boolean; outputs?: Record<string, string> };

export interface ActionRunOptions {
  inputs: Record<string, string>;
  workspace: string;
  runnerTemp: string;
  uses?: Record<string, UsesHandler>;
  /** Extra environment for every step (PATH and HOME come from this process). */
  env?: Record<string, string>;
}

export interface ActionRun {
  steps: StepResult[];
  outputs: Record<string, string>;
  /** Everything the steps wrote to GITHUB_STEP_SUMMARY. */
  summary: string;
  conclusion: 'success' | 'failure';
}

/* eslint-disable @typescript-eslint/no-explicit-any */
type Ctx = Record<string, any>;

// ---- expressions -------------------------------------------------------------------------------------------------

type Tok = { t: 'id' | 'str' | 'op' | 'num'; v: string };

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (['==', '!=', '&&', '||', '<=', '>='].includes(two)) {
      out.push({ t: 'op', v: two });
      i += 2;
      continue;
    }
    if ('!()<>,'.includes(c)) {
      out.push({ t: 'op', v: c });
      i++;
      continue;
    }
    if (c === "'") {
      let j = i + 1;
      let s = '';
      for (;;) {
        if (j >= src.length) throw new Error(`unterminated string in expression: ${src}`);
        if (src[j] === "'" && src[j + 1] === "'") {
          s += "'";
          j += 2;
        } else if (src[j] === "'") break;
        else s += src[j++];
      }
      out.push({ t: 'str', v: s });
      i = j + 1;
      continue;
    }
    const num = /^\d+(?:\.\d+)?/.exec(src.slice(i));
    if (num) {
      out.push({ t: 'num', v: num[0] });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*/.exec(src.slice(i));
    if (!id) throw new Error(`cannot parse expression at '${src.slice(i)}': ${src}`);
    out.push({ t: 'id', v: id[0] });
    i += id[0].length;
  }
  return out;
}

const STATUS_FUNCTIONS = ['always', 'success', 'failure', 'cancelled'];

/** Evaluate one expression (the part inside `${{ }}`, or a bare `if:`). */
export function evaluate(src: string, ctx: Ctx, status: { failed: boolean }): unknown {
  const toks = tokenize(src);
  let p = 0;
  const peek = () => toks[p];
  const eat = (v?: string) => {
    const t = toks[p++];
    if (!t || (v !== undefined && t.v !== v)) throw new Error(`expected ${v ?? 'a token'} in expression: ${src}`);
    return t;
  };
  const truthy = (v: unknown) => !(v === '' || v === null || v === undefined || v === false || v === 0);
  const eq = (a: unknown, b: unknown) =>
    typeof a === 'string' && typeof b === 'string' ? a.toLowerCase() === b.toLowerCase() : String(a ?? '') === String(b ?? '');
  function primary(): unknown {
    const t = eat();
    if (t.t === 'str') return t.v;
    if (t.t === 'num') return Number(t.v);
    if (t.t === 'op' && t.v === '(') {
      const v = or();
      eat(')');
      return v;
    }
    if (t.t === 'op' && t.v === '!') return !truthy(primary());
    if (t.t === 'id') {
      if (peek()?.v === '(') {
        eat('(');
        const args: unknown[] = [];
        while (peek() && peek()!.v !== ')') {
          args.push(or());
          if (peek()?.v === ',') eat(',');
        }
        eat(')');
        if (t.v === 'hashFiles') return hashFiles(args.map(asString), String(ctx.github?.workspace ?? '.'));
        if (t.v === 'always') return true;
        if (t.v === 'success') return !status.failed;
        if (t.v === 'failure') return status.failed;
        if (t.v === 'cancelled') return false;
        throw new Error(`function ${t.v}() is not supported by this runner: ${src}`);
      }
      if (t.v === 'true') return true;
      if (t.v === 'false') return false;
      if (t.v === 'null') return null;
      const [head, ...rest] = t.v.split('.');
      if (!(head! in ctx)) throw new Error(`unknown context '${head}' in expression: ${src}`);
      let v: any = ctx[head!];
      for (const k of rest) v = v === null || v === undefined ? undefined : v[k];
      return v ?? '';
    }
    throw new Error(`unexpected '${t.v}' in expression: ${src}`);
  }
  function cmp(): unknown {
    let a = primary();
    while (peek() && ['==', '!='].includes(peek()!.v)) {
      const op = eat().v;
      const b = primary();
      a = op === '==' ? eq(a, b) : !eq(a, b);
    }
    return a;
  }
  function and(): unknown {
    let a = cmp();
    while (peek()?.v === '&&') {
      eat();
      const b = cmp();
      a = truthy(a) ? b : a;
    }
    return a;
  }
  function or(): unknown {
    let a = and();
    while (peek()?.v === '||') {
      eat();
      const b = and();
      a = truthy(a) ? a : b;
    }
    return a;
  }
  const v = or();
  if (p !== toks.length) throw new Error(`trailing tokens in expression: ${src}`);
  return v;
}

/** hashFiles(patterns...): '' when no file matches (relative to the workspace), else a sha256 of their contents. */
function hashFiles(patterns: string[], workspace: string): string {
  const files = fg.sync(patterns, { cwd: workspace, dot: true, onlyFiles: true }).sort();
  if (files.length === 0) return '';
  const h = createHash('sha256');
  for (const f of files) h.update(createHash('sha256').update(readFileSync(path.join(workspace, f))).digest());
  return h.digest('hex');
}

function asString(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return String(v);
}

/** Replace every `${{ expr }}` in a string. */
export function substitute(s: string, ctx: Ctx, status: { failed: boolean }): string {
  return s.replace(/\$\{\{([\s\S]*?)\}\}/g, (_, expr: string) => asString(evaluate(expr, ctx, status)));
}

function condition(cond: unknown, ctx: Ctx, status: { failed: boolean }): boolean {
  let expr = cond === undefined ? 'success()' : String(cond).trim();
  const m = /^\$\{\{([\s\S]*)\}\}$/.exec(expr);
  if (m) expr = m[1]!.trim();
  if (!STATUS_FUNCTIONS.some((f) => new RegExp(`\\b${f}\\(\\)`).test(expr))) expr = `success() && (${expr})`;
  const v = evaluate(expr, ctx, status);
  return !(v === '' || v === null || v === undefined || v === false || v === 0);
}

// ---- files the runner hands to steps ------------------------------------------------------------------------------

/** `name=value` lines and `name<<DELIM` ... `DELIM` blocks (GITHUB_OUTPUT, GITHUB_ENV). */
export function parseKeyValueFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const body: string[] = [];
      for (i++; i < lines.length && lines[i] !== heredoc[2]; i++) body.push(lines[i]!);
      if (i >= lines.length) throw new Error(`unterminated ${heredoc[1]}<<${heredoc[2]} block`);
      out[heredoc[1]!] = body.join('\n');
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`malformed line: ${line}`);
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** Workflow commands in a step's output, with the runner's unescaping of properties and data. */
export function parseCommands(stdout: string): WorkflowCommand[] {
  const unData = (s: string) => s.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
  const unProp = (s: string) => unData(s.replace(/%3A/g, ':').replace(/%2C/g, ','));
  const out: WorkflowCommand[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^::(error|warning|notice)(?: ([^:]*))?::(.*)$/.exec(line);
    if (!m) continue;
    const properties: Record<string, string> = {};
    for (const kv of (m[2] ?? '').split(',').filter(Boolean)) {
      const eq = kv.indexOf('=');
      properties[kv.slice(0, eq)] = unProp(kv.slice(eq + 1));
    }
    out.push({ level: m[1] as WorkflowCommand['level'], properties, message: unData(m[3]!) });
  }
  return out;
}

// ---- the run -------------------------------------------------------------------------------------------------------

export interface StepsRunOptions {
  workspace: string;
  runnerTemp: string;
  /** The action's directory (GITHUB_ACTION_PATH, github.action_path); absent for workflow steps. */
  actionDir?: string;
  inputs?: Record<string, string>;
  uses?: Record<string, UsesHandler>;
  env?: Record<string, string>;
}

/** Run a list of steps (a composite action's, or a workflow job's) as the runner does. */
export function runSteps(steps: any[], opts: StepsRunOptions): { run: ActionRun; ctx: Ctx; status: { failed: boolean } } {
  const stepsCtx: Record<string, { outputs: Record<string, string>; outcome: string; conclusion: string }> = {};
  const envFromFile: Record<string, string> = {};
  const ctx: Ctx = {
    inputs: opts.inputs ?? {},
    github: { action_path: opts.actionDir ?? '', workspace: opts.workspace, job: 'audit', workflow: 'test' },
    runner: { temp: opts.runnerTemp, os: 'Linux' },
    steps: stepsCtx,
    env: envFromFile,
  };
  const status = { failed: false };
  const results: StepResult[] = [];
  let summary = '';
  const stepDir = path.join(opts.runnerTemp, '_runner_file_commands');
  mkdirSync(stepDir, { recursive: true });

  steps.forEach((step, n) => {
    const name = String(step.name ?? step.uses ?? step.run ?? `step ${n}`);
    const id = step.id === undefined ? null : String(step.id);
    const record = (r: Omit<StepResult, 'name' | 'id'>) => {
      results.push({ name, id, ...r });
      if (r.conclusion === 'failure') status.failed = true;
      if (id) stepsCtx[id] = { outputs: r.outputs, outcome: r.conclusion, conclusion: r.conclusion };
    };
    if (!condition(step.if, ctx, status)) {
      record({ conclusion: 'skipped', exitCode: null, stdout: '', stderr: '', outputs: {}, commands: [], summary: '' });
      return;
    }
    if (step.uses) {
      const handler = opts.uses?.[String(step.uses)];
      if (!handler) throw new Error(`no handler for uses: ${step.uses}`);
      const withArgs = Object.fromEntries(
        Object.entries<any>(step.with ?? {}).map(([k, v]) => [k, substitute(asString(v), ctx, status)]),
      );
      const r = handler(withArgs);
      record({ conclusion: r.ok ? 'success' : 'failure', exitCode: r.ok ? 0 : 1, stdout: '', stderr: '', outputs: r.outputs ?? {}, commands: [], summary: '' });
      return;
    }
    if (step.run === undefined) throw new Error(`${name}: neither run nor uses`);
    if (step.shell !== 'bash') throw new Error(`${name}: shell '${step.shell}' is not what this runner runs (bash)`);
    const files = {
      GITHUB_OUTPUT: path.join(stepDir, `output_${n}`),
      GITHUB_STEP_SUMMARY: path.join(stepDir, `step_summary_${n}`),
      GITHUB_ENV: path.join(stepDir, `env_${n}`),
      GITHUB_PATH: path.join(stepDir, `path_${n}`),
    };
    for (const f of Object.values(files)) writeFileSync(f, '');
    const script = path.join(opts.runnerTemp, `step_${n}.sh`);
    writeFileSync(script, substitute(String(step.run), ctx, status));
    const stepEnv = Object.fromEntries(
      Object.entries<any>(step.env ?? {}).map(([k, v]) => [k, substitute(asString(v), ctx, status)]),
    );
    const cwd = step['working-directory'] ? path.resolve(opts.workspace, substitute(String(step['working-directory']), ctx, status)) : opts.workspace;
    const r = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], {
      cwd,
      encoding: 'utf8',
      timeout: 300_000,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/root',
        CI: 'true',
        GITHUB_ACTIONS: 'true',
        ...(opts.actionDir ? { GITHUB_ACTION_PATH: opts.actionDir } : {}),
        GITHUB_WORKSPACE: opts.workspace,
        RUNNER_TEMP: opts.runnerTemp,
        ...(opts.env ?? {}),
        ...envFromFile,
        ...files,
        ...stepEnv,
      },
    });
    if (r.error) throw r.error;
    Object.assign(envFromFile, parseKeyValueFile(readFileSync(files.GITHUB_ENV, 'utf8')));
    const stepSummary = readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8');
    summary += stepSummary;
    record({
      conclusion: r.status === 0 ? 'success' : 'failure',
      exitCode: r.status,
      stdout: r.stdout,
      stderr: r.stderr,
      outputs: parseKeyValueFile(readFileSync(files.GITHUB_OUTPUT, 'utf8')),
      commands: parseCommands(r.stdout),
      summary: stepSummary,
    });
  });
  return { run: { steps: results, outputs: {}, summary, conclusion: status.failed ? 'failure' : 'success' }, ctx, status };
}

export function runCompositeAction(actionDir: string, opts: ActionRunOptions): ActionRun {
  const action = YAML.parse(readFileSync(path.join(actionDir, 'action.yml'), 'utf8'));
  if (action?.runs?.using !== 'composite') throw new Error('not a composite action');
  const inputs: Record<string, string> = {};
  for (const [name, spec] of Object.entries<any>(action.inputs ?? {})) {
    if (name in opts.inputs) inputs[name] = opts.inputs[name]!;
    else if (spec?.required) throw new Error(`input ${name} is required`);
    else inputs[name] = asString(spec?.default ?? '');
  }
  for (const name of Object.keys(opts.inputs)) if (!(name in inputs)) throw new Error(`unknown input ${name}`);
  const { run, ctx, status } = runSteps(action.runs.steps as any[], { ...opts, inputs, actionDir });
  run.outputs = Object.fromEntries(
    Object.entries<any>(action.outputs ?? {}).map(([k, spec]) => [k, substitute(asString(spec?.value ?? ''), ctx, status)]),
  );
  return run;
}
