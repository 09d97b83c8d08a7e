/**
 * What the distribution shipped, as rules use it: where a file came from (`provenanceNote`) and how a finding on a
 * file the distribution may have shipped is judged (`judgeShipped`; `report({ ..., shipped })` does it for a rule).
 * The database itself is read by the runtime's package loader (src/engine/runtime/packages.ts), which says what
 * each package manager's records are and what they prove.
 */
import type { PackageDb, Provenance } from './image.js';
export type { Manager, PackageDb, Provenance } from './image.js';

/** True when the distribution shipped it as it is: such a file's findings are at most info. */
export function isShipped(p: Provenance): p is Extract<Provenance, { kind: 'shipped' }> {
  return p.kind === 'shipped';
}

/** A clause for a finding's message saying where the file came from ('' when nothing is known). */
export function provenanceNote(p: Provenance): string {
  switch (p.kind) {
    case 'shipped':
      return p.verified ? `installed unchanged by ${p.manager} package ${p.pkg}` : `installed by ${p.manager} package ${p.pkg}`;
    case 'changed':
      return `changed after install (${p.manager} package ${p.pkg} installed a different file)`;
    case 'unverified':
      return `installed by ${p.manager} package ${p.pkg} (too large to verify its checksum)`;
    case 'ghost':
      return `listed by ${p.manager} package ${p.pkg} as %ghost (the package installed no contents: made after install)`;
    case 'unowned':
      return 'not installed by any package';
    default:
      return '';
  }
}

/**
 * How a rule reports a finding on a file that may be the distribution's: shipped unchanged -> info with the package
 * named; changed or unowned -> the rule's severity, the message saying so.
 */
export async function judgeShipped(
  packages: () => Promise<PackageDb>,
  path: string,
  data?: Buffer,
): Promise<{ severity?: 'info'; suffix: string }> {
  const db = await packages();
  const p = await db.provenance(path, data);
  // An image whose package database could not be used (a damaged rpm database) says so instead of staying silent.
  const note = provenanceNote(p) || (p.kind === 'unknown' && db.notes.length > 0 ? `package ownership unknown (${db.notes[0]!.replace(/: file ownership unknown$/, '')})` : '');
  return { severity: isShipped(p) ? 'info' : undefined, suffix: note ? `; ${note}` : '' };
}

/** One line for --verbose: which package database was read, or why ownership is unknown. */
export function describePackageDb(db: PackageDb): string {
  const read = db.read.length > 0 ? `package database: ${db.read.join(', ')} (${db.packages} packages, ${db.paths} paths)` : 'package database: none read';
  return [read, ...db.notes].join('; ');
}
