/**
 * The CI-gate layer between the CLI and the engine: configuration, custom rules, ignore entries and baselines.
 * `prepare` runs before any target is opened (every configuration error surfaces as exit 2 with nothing audited);
 * `finish` runs the findings pipeline over the report and writes a baseline when asked.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { baselineUpgradeNote, createBaseline, loadBaseline, serializeBaseline, type LoadedBaseline } from './baseline.js';
import { checkRuleIds, enabledRulesFrom, loadConfig, type Config } from './config.js';
import { registerRulesDirs } from './declarative.js';
import { compileIgnores, expiryWarnings, type CompiledIgnore } from './ignores.js';
import { pipelineTarget, type PipelineOptions, type PipelineStats } from './pipeline.js';
import { Registry } from '../runtime/registry.js';
import type { Rule } from '../kit/rule.js';
import type { EnabledRule } from '../runtime/runner.js';
import { BaselineError } from '../../errors.js';
import { plural } from '../../words.js';
import { RULE_CRASHED, type Report, type TargetResult } from '../../types.js';

export interface GateArgs {
  config?: string;
  rulesDir?: string[];
  baseline?: string;
  writeBaseline?: string;
  showSuppressed?: boolean;
}

export interface Gate {
  config: Config;
  registry: Registry;
  rules: EnabledRule[];
  ignores: CompiledIgnore[];
  baseline: LoadedBaseline | null;
  /** Lines for stderr (expired ignore entries, ...), without the `hostleak: ` prefix. */
  warnings: string[];
}

export async function prepare(
  args: GateArgs,
  opts: { cwd: string; builtins: Rule[]; backendChoices: readonly string[]; now?: Date },
): Promise<Gate> {
  const config = await loadConfig(args.config, opts.cwd, opts.backendChoices);
  const registry = new Registry(opts.builtins);
  const dirs = [...config.rulesDir, ...(args.rulesDir ?? []).map((d) => path.resolve(opts.cwd, d))];
  await registerRulesDirs(registry, [...new Set(dirs)]);
  checkRuleIds(config, registry, [RULE_CRASHED]);
  const now = opts.now ?? new Date();
  const ignores = compileIgnores(config.ignore, now);
  const warnings = expiryWarnings(ignores, config.source ?? 'config');
  let baseline: Gate['baseline'] = null;
  if (args.baseline !== undefined) {
    let text: string;
    try {
      text = await fsp.readFile(path.resolve(opts.cwd, args.baseline), 'utf8');
    } catch (err) {
      throw new BaselineError(`${args.baseline}: cannot read baseline (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
    baseline = loadBaseline(text, args.baseline);
    const note = baselineUpgradeNote(baseline);
    if (note) warnings.push(note);
  }
  return { config, registry, rules: enabledRulesFrom(registry, config), ignores, baseline, warnings };
}

/** One scan's pass through the gate, target by target (so streamed reports work too). */
export interface GateRun {
  /**
   * ignore -> baseline -> sort for one finished target. Returns the target to report and to feed the exit code;
   * calling it again with the same object returns the same result without counting twice.
   */
  target(t: TargetResult): TargetResult;
  /** After the last target: write the baseline if asked; returns lines for stderr (without `hostleak: `). */
  finish(): Promise<string[]>;
}

export function startRun(gate: Gate, args: GateArgs, cwd: string): GateRun {
  const stats: PipelineStats = { ignored: 0, baselined: 0, usedIgnores: new Set(), usedBaseline: new Set() };
  const done = new WeakMap<TargetResult, TargetResult>();
  // For --write-baseline: the findings left after ignore entries (an entry's expiry must still bring them back).
  const forBaseline: TargetResult[] = [];
  let incomplete = false;
  const opts: PipelineOptions = {
    ignores: gate.ignores,
    baseline: gate.baseline ?? undefined,
    showSuppressed: args.showSuppressed === true,
  };
  return {
    target(t) {
      const seen = done.get(t);
      if (seen) return seen;
      if (t.status !== 'ok') incomplete = true;
      if (args.writeBaseline !== undefined) {
        forBaseline.push(pipelineTarget(t, { ignores: gate.ignores }, { ignored: 0, baselined: 0 }));
      }
      const out = pipelineTarget(t, opts, stats);
      done.set(t, out);
      return out;
    },
    async finish() {
      const messages: string[] = [];
      if (args.writeBaseline !== undefined) {
        const b = createBaseline({ version: 1, tool: { name: 'hostleak', version: '' }, targets: forBaseline });
        try {
          await fsp.writeFile(path.resolve(cwd, args.writeBaseline), serializeBaseline(b));
        } catch (err) {
          throw new BaselineError(`${args.writeBaseline}: cannot write baseline (${(err as Error).message})`);
        }
        messages.push(`wrote ${plural(b.findings.length, 'fingerprint')} to baseline ${args.writeBaseline}`);
        if (incomplete) messages.push('the baseline is incomplete: not every target was audited completely');
      }
      const hint = args.showSuppressed ? '' : ' (--show-suppressed lists them)';
      if (gate.baseline) {
        messages.push(
          `${plural(stats.baselined, 'finding')} suppressed by baseline ${gate.baseline.source}${stats.baselined > 0 ? hint : ''}`,
        );
      }
      if (stats.ignored > 0) {
        messages.push(`${plural(stats.ignored, 'finding')} suppressed by ignore entries in ${gate.config.source}${hint}`);
      }
      messages.push(...unusedWarnings(gate, stats, incomplete));
      return messages;
    },
  };
}

/**
 * Warnings about acceptances that matched nothing in this run: a live ignore entry that suppressed no finding, and
 * baseline entries no finding matched (the leak was fixed, or its fingerprint changed). Stale entries would let the
 * same leak back in unnoticed later, so the run names them. When a target was not audited completely the run says
 * that instead: the unread part may hold what they match.
 */
function unusedWarnings(gate: Gate, stats: PipelineStats, incomplete: boolean): string[] {
  const out: string[] = [];
  const caveat = incomplete ? ' (not every target was audited completely, so they may match what was not read)' : '';
  for (const i of gate.ignores) {
    if (i.expired || stats.usedIgnores?.has(i.index)) continue;
    out.push(
      `warning: ${gate.config.source ?? 'config'}: ignore[${i.index}] (rule ${i.entry.rule}` +
        `${i.entry.paths ? `, ${i.entry.paths.join(', ')}` : ''}) matched no finding${caveat}; remove it if the leak is fixed`,
    );
  }
  const b = gate.baseline;
  if (b) {
    const unused = b.entries.filter((e) => !stats.usedBaseline?.has(e.fingerprint));
    if (unused.length > 0) {
      const shown = unused.slice(0, 5).map((e) => `${e.ruleId} ${e.path}`).join('; ');
      out.push(
        `warning: ${b.source}: ${unused.length} entr${unused.length === 1 ? 'y' : 'ies'} matched no finding${caveat}: ${shown}` +
          `${unused.length > 5 ? `; and ${unused.length - 5} more` : ''}. Write the baseline again to drop fixed leaks`,
      );
    }
  }
  return out;
}
