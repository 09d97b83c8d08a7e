/** The rule contract: metadata plus one async function that queries the image and reports findings. */
import type { Inventory, ResolveResult } from '../../inventory.js';
import type { Entry, HostIdentity, RuleMeta, Severity } from '../../types.js';
import type { PackageDb } from './packages.js';
import type { ScanStats, Visitor } from './text.js';

export type { RuleMeta };
import type { Accounts } from '../runtime/accounts.js';

export interface ReadOptions {
  /** Read at most this many bytes (default: the engine's limit, 1 MiB). */
  maxBytes?: number;
  /** Keep the contents in the per-audit cache (default true). Bulk scans pass false so memory stays bounded. */
  cache?: boolean;
}

export interface ReadResult {
  /** Canonical path the read was resolved to inside the image. */
  path: string;
  data: Buffer;
  size: number;
  truncated: boolean;
}

/** The read-only view of the image that rules see. Never touches the host. */
export interface ImageFs {
  /** The entry at exactly this path (no symlink following). */
  lstat(path: string): Entry | undefined;
  /** chroot-like resolution inside the image. */
  resolve(path: string, opts?: { followFinal?: boolean }): ResolveResult;
  /** A regular file's contents, following symlinks inside the image; null when it does not resolve to a file. */
  readFile(path: string, opts?: ReadOptions): Promise<ReadResult | null>;
  /** readFile as UTF-8 text, or null. */
  readText(path: string, opts?: ReadOptions): Promise<string | null>;
}

export interface ReportInput {
  path: string;
  message: string;
  evidence?: string | null;
  /** Overrides the rule's (configured) severity for this one finding. */
  severity?: Severity;
  /**
   * What identifies the leak besides the rule and the path, for its fingerprint (src/fingerprint.ts). Leave
   * it unset when the path says it all; never put what a rebuild changes here (sizes, random bytes, temp names).
   */
  key?: string | null;
  /** Where in the file's contents (1-based; columns in Unicode code points), for content findings. */
  line?: number;
  column?: number;
  endColumn?: number;
}

export interface RuleContext {
  inventory: Inventory;
  fs: ImageFs;
  accounts: Accounts;
  host: HostIdentity;
  /** The image's package database (dpkg/apk; rpm recognised), read once per audit on the first call. */
  packages(): Promise<PackageDb>;
  /** Rule options from configuration (empty object by default). */
  options: Record<string, unknown>;
  report(finding: ReportInput): void;
  /**
   * Visit every text-file candidate (options `scanStore`, `maxTextBytes`) in the one pass all content rules share.
   * Only for rules that declare `readsText`; call it at most once per check.
   */
  scanText(visitor: Visitor): Promise<ScanStats>;
}

export interface Rule {
  meta: RuleMeta;
  /**
   * The rule reads file contents through `ctx.scanText`. The engine then runs one pass over the text files for
   * every such rule, started once each of them has subscribed (or finished), whatever it awaited first.
   */
  readsText?: boolean;
  check(ctx: RuleContext): Promise<void> | void;
  /** What decides the rule's behaviour besides its code (a declarative rule's spec), for result-cache keys. */
  definition?: unknown;
}

const ID_RE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

export function defineRule(rule: Rule): Rule {
  if (!ID_RE.test(rule.meta.id)) throw new Error(`rule id '${rule.meta.id}' is not kebab-case`);
  if (!rule.meta.description || !rule.meta.remediation) {
    throw new Error(`rule '${rule.meta.id}' needs a description and a remediation`);
  }
  return rule;
}

/**
 * The could-not-judge convention: when a fact the rule needs is missing (no readable /etc/passwd), report once, at
 * severity info, what could not be judged and why, instead of flagging everything or staying silent.
 */
export function cannotJudge(report: RuleContext['report'], path: string, what: string, why: string | null): void {
  report({ path, severity: 'info', message: `could not judge ${what}: ${why}` });
}
