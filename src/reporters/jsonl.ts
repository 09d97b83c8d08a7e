/** `--format jsonl`: one target result per line, written as each target finishes (memory stays flat). */
import type { Report, RunInfo, TargetResult } from '../types.js';

/** One line; each carries the run (start time, shard) it belongs to, since jsonl has no head to say it once. */
export function jsonlLine(t: TargetResult, run?: RunInfo): string {
  return JSON.stringify(run ? { ...t, run } : t) + '\n';
}

export function formatJsonl(report: Report): string {
  return report.targets.map((t) => jsonlLine(t, report.run ?? t.run)).join('');
}
