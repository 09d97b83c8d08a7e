/** The stable, versioned JSON report (see docs: "JSON report"). */
import type { Report } from '../types.js';

export function formatJson(report: Report): string {
  return JSON.stringify(report, null, 2) + '\n';
}
