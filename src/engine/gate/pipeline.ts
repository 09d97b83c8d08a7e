/**
 * Findings flow through one pipeline after the rules ran: ignore entries -> baseline -> sort.
 * Suppressed findings are dropped, or kept with a `suppressed` marker when the user asked to see them.
 * A pure function over the report: the CLI decides what to print about the counts.
 */
import type { Finding, TargetResult } from '../../types.js';
import { baselineMatch, type LoadedBaseline } from './baseline.js';
import { ignoreFor, type CompiledIgnore } from './ignores.js';
import { sortFindings } from '../runtime/runner.js';

export interface PipelineOptions {
  ignores?: CompiledIgnore[];
  /** The baseline; its source names it in the suppression reason. */
  baseline?: LoadedBaseline;
  /** Keep suppressed findings in the report, marked `suppressed`. */
  showSuppressed?: boolean;
}

export interface PipelineStats {
  ignored: number;
  baselined: number;
  /** Which ignore entries (by index) and baseline fingerprints suppressed something, to warn about the rest. */
  usedIgnores?: Set<number>;
  usedBaseline?: Set<string>;
}

/** The pipeline for one target (streamed reports call it as each target finishes); adds to `stats`. */
export function pipelineTarget(t: TargetResult, opts: PipelineOptions, stats: PipelineStats): TargetResult {
  const out: Finding[] = [];
  for (const f of t.findings) {
    const ig = opts.ignores ? ignoreFor(f, opts.ignores) : undefined;
    if (ig) {
      stats.ignored++;
      stats.usedIgnores?.add(ig.index);
      if (opts.showSuppressed) out.push({ ...f, suppressed: { kind: 'ignore', reason: ig.entry.reason } });
      continue;
    }
    const fp = opts.baseline ? baselineMatch(f, opts.baseline) : null;
    if (opts.baseline && fp) {
      stats.baselined++;
      stats.usedBaseline?.add(fp);
      if (opts.showSuppressed) out.push({ ...f, suppressed: { kind: 'baseline', reason: opts.baseline.source } });
      continue;
    }
    out.push(f);
  }
  return { ...t, findings: sortFindings(out) };
}
