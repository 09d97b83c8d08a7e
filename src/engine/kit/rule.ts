/** The rule contract: metadata plus one async function that queries the image and reports findings. */
import type { Inventory } from '../../inventory.js';
import type { HostIdentity, RuleMeta, RuleOptionSpec, Severity } from '../../types.js';
import { CONTENT_PASS_OPTIONS, type ScanStats, type Visitor } from './text.js';

export type { RuleMeta };
import type { Accounts, ImageFs, PackageDb } from './image.js';
export type { ImageFs, ReadOptions, ReadResult } from './image.js';

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
  /**
   * The file may be the distribution's: the engine judges the path against the image's package database before
   * the finding is kept. Installed unchanged by a package -> severity info (unless `severity` is set) and the
   * package named; changed after install, or owned by no package -> the message says so. Pass the contents (a
   * Buffer) when you have them all, so the checksum is verified without a second read; `true` judges by the path.
   * The rule's check is not over until every such judgement is.
   */
  shipped?: true | Buffer;
}

/** The option values a rule's check sees, typed from its `meta.options` (defaults filled in by the engine). */
export type OptionValues<O> = {
  [K in keyof O]: O[K] extends { type: 'boolean' } ? boolean : O[K] extends { type: 'number' } ? number : string;
};

export interface RuleContext<Options = Record<string, unknown>> {
  inventory: Inventory;
  fs: ImageFs;
  accounts: Accounts;
  host: HostIdentity;
  /** The image's package database (dpkg/apk/rpm), read once per audit on the first call. */
  packages(): Promise<PackageDb>;
  /** The rule's options: every one its `meta.options` declares, configured or defaulted, checked for type. */
  options: Options;
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
   * The rule is in the shared content pass: it takes the pass's options (`scanStore`, `maxTextBytes`,
   * `trustPackages`; defineRule adds them to `meta.options`) and may read file contents through `ctx.scanText`. The
   * engine runs one pass over the text files for every such rule, started once each of them has subscribed (or
   * finished), whatever it awaited first.
   */
  readsText?: boolean;
  /**
   * The rule's findings report a file as a leak in itself (an editor backup, a shell history, a build log): what
   * other rules find in that file's contents, at no higher severity, is the same cause. The engine keeps such a
   * finding as info, naming this rule, so one leaked file is one finding at warning or above.
   */
  coversFile?: boolean;
  /**
   * Bytes of a regular file the rule may read, judged from its path and size alone, before the image is fully listed
   * (0: none). A prediction, never a limit: an archive reader keeps these bytes during its one streaming pass instead
   * of decompressing the archive again for them. The content pass's files (`readsText`) need not be declared.
   */
  reads?(path: string, size: number, options: Record<string, unknown>): number;
  check(ctx: RuleContext): Promise<void> | void;
  /** What decides the rule's behaviour besides its code (a declarative rule's spec), for result-cache keys. */
  definition?: unknown;
}

const ID_RE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** What a rule file passes to defineRule: its check sees options typed from its own `meta.options`. */
export interface RuleDefinition<O extends Record<string, RuleOptionSpec>> extends Omit<Rule, 'meta' | 'check'> {
  meta: RuleMeta & { options?: O };
  check(ctx: RuleContext<OptionValues<O>>): Promise<void> | void;
}

export function defineRule<const O extends Record<string, RuleOptionSpec> = Record<never, RuleOptionSpec>>(rule: RuleDefinition<O>): Rule {
  if (!ID_RE.test(rule.meta.id)) throw new Error(`rule id '${rule.meta.id}' is not kebab-case`);
  if (!rule.meta.description || !rule.meta.remediation) {
    throw new Error(`rule '${rule.meta.id}' needs a description and a remediation`);
  }
  if (!rule.readsText) return rule as unknown as Rule;
  // A rule in the content pass takes every option of the pass, so that the command line and the config set them
  // for it as for the others (one without trustPackages would get a pass of its own under --trust-packages).
  const own = Object.keys(rule.meta.options ?? {}).filter((o) => o in CONTENT_PASS_OPTIONS);
  if (own.length > 0) {
    throw new Error(`rule '${rule.meta.id}' declares readsText, which gives it ${own.join(', ')}: remove them from its meta.options`);
  }
  return { ...rule, meta: { ...rule.meta, options: { ...rule.meta.options, ...CONTENT_PASS_OPTIONS } } } as unknown as Rule;
}

/**
 * A rule's options for one run: its declared defaults, overridden by what the configuration sets. Throws (a
 * configuration error for the caller to wrap) on an option the rule does not declare or a value of the wrong type.
 */
export function resolveRuleOptions(meta: RuleMeta, configured: Record<string, unknown>): Record<string, unknown> {
  const specs = meta.options ?? {};
  const out: Record<string, unknown> = {};
  for (const [k, spec] of Object.entries(specs)) out[k] = spec.default;
  for (const [k, v] of Object.entries(configured)) {
    const spec = specs[k];
    if (!spec) {
      const known = Object.keys(specs);
      throw new Error(`unknown option '${k}' (${known.length ? `it takes ${known.join(', ')}` : 'it takes no options'})`);
    }
    const ok =
      spec.type === 'number'
        ? typeof v === 'number' && Number.isFinite(v) && (spec.min === undefined || v >= spec.min)
        : typeof v === spec.type;
    if (!ok) {
      throw new Error(`option '${k}' must be ${spec.type === 'number' && spec.min !== undefined ? `a number >= ${spec.min}` : `a ${spec.type}`}, not ${JSON.stringify(v)}`);
    }
    out[k] = v;
  }
  return out;
}

/**
 * The could-not-judge convention: when a fact the rule needs is missing (no readable /etc/passwd), report once, at
 * severity info, what could not be judged and why, instead of flagging everything or staying silent.
 */
export function cannotJudge(report: RuleContext['report'], path: string, what: string, why: string | null): void {
  report({ path, severity: 'info', message: `could not judge ${what}: ${why}` });
}
