/**
 * Ignore entries from the config: `{ rule, paths, reason, expires }`. A live entry suppresses matching findings;
 * an entry whose date has passed stops suppressing, and the run warns about it so the acceptance gets revisited.
 */
import picomatch from 'picomatch';
import type { Finding } from '../../types.js';
import { splitFindingPath } from '../../finding-path.js';

export interface IgnoreEntry {
  /** A rule id, or `*` for every rule. */
  rule: string;
  /** Globs over paths inside the image (`/etc/ssh/ssh_host_*`); absent: every path. */
  paths?: string[];
  reason: string;
  /** `YYYY-MM-DD`: the entry suppresses up to and including this day (UTC). */
  expires?: string;
}

export interface CompiledIgnore {
  entry: IgnoreEntry;
  /** Index in the config's `ignore` list (for messages). */
  index: number;
  expired: boolean;
  matches(f: Finding): boolean;
}

/** Today as `YYYY-MM-DD` in UTC. */
export function isoDay(now: Date): string {
  return now.toISOString().slice(0, 10);
}

export function isExpired(entry: IgnoreEntry, now: Date): boolean {
  return entry.expires !== undefined && entry.expires < isoDay(now);
}


export function compileIgnores(entries: IgnoreEntry[], now: Date): CompiledIgnore[] {
  return entries.map((entry, index) => {
    const globs = entry.paths && entry.paths.length > 0 ? picomatch(entry.paths, { dot: true }) : null;
    return {
      entry,
      index,
      expired: isExpired(entry, now),
      matches(f: Finding): boolean {
        if (entry.rule !== '*' && entry.rule !== f.ruleId) return false;
        if (!globs) return true;
        return globs(f.path) || globs(splitFindingPath(f.path).path);
      },
    };
  });
}

/** One warning line per expired entry (whether or not it would still match anything). */
export function expiryWarnings(ignores: CompiledIgnore[], source: string): string[] {
  return ignores
    .filter((i) => i.expired)
    .map(
      (i) =>
        `${source}: ignore[${i.index}] (rule ${i.entry.rule}${i.entry.paths ? `, ${i.entry.paths.join(', ')}` : ''}) ` +
        `expired on ${i.entry.expires} and no longer suppresses: fix the finding or renew the entry ("${i.entry.reason}")`,
    );
}

/** The live entry that suppresses this finding, if any. */
export function ignoreFor(f: Finding, ignores: CompiledIgnore[]): CompiledIgnore | undefined {
  return ignores.find((i) => !i.expired && i.matches(f));
}
