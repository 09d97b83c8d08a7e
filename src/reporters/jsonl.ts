/** `--format jsonl`: one target result per line, written as each target finishes (memory stays flat). */
import type { Report, TargetResult } from '../types.js';

export function jsonlLine(t: TargetResult): string {
  return JSON.stringify(t) + '\n';
}

export function formatJsonl(report: Report): string {
  return report.targets.map(jsonlLine).join('');
}
