/**
 * The contracts that cross layers: what backends hand the engine (ImageRoot), what rules declare (RuleMeta), what
 * the engine hands reporters (Report, Finding), and the CLI's backend choices. Layers import these from here, never
 * from each other's implementation modules.
 */
import type { Inventory } from './inventory.js';

export type Severity = 'error' | 'warning' | 'info';
export const SEVERITIES: readonly Severity[] = ['error', 'warning', 'info'];
/** Higher is more severe. */
export const SEVERITY_RANK: Record<Severity, number> = { error: 3, warning: 2, info: 1 };

import type { EntryType } from './inventory.js';
export type { Entry, EntryType } from './inventory.js';

export interface FilesystemInfo {
  device: string;
  type: string;
  label: string | null;
  mountpoint: string | null;
  /** btrfs: the subvolume mounted there, by its path from the top level (findmnt's `/dev/sda2[/root]`). */
  subvolume?: string;
}

export interface Finding {
  ruleId: string;
  severity: Severity;
  path: string;
  filesystem: string | null;
  message: string;
  evidence: string | null;
  remediation: string;
  /** For findings in a file's contents: where the (first) match is, 1-based; columns in Unicode code points. */
  line?: number;
  column?: number;
  endColumn?: number;
  /**
   * What identifies this leak across rebuilds (src/fingerprint.ts): set by the engine from the rule id, the
   * path with store hashes removed and the rule's key. Baselines and SARIF partialFingerprints use it.
   */
  fingerprint?: string;
  /**
   * Present only on findings that an ignore entry or a baseline suppressed and that `--show-suppressed` still lists.
   * Absent on every finding that counts; suppressed findings never affect the exit code.
   */
  suppressed?: Suppression;
}

export interface Suppression {
  kind: 'ignore' | 'baseline';
  /** The ignore entry's reason, or the baseline file. */
  reason: string;
}

export type TargetStatus = 'ok' | 'partial' | 'failed';

export interface TargetResult {
  target: string;
  status: TargetStatus;
  error: string | null;
  backend: string | null;
  durationMs: number;
  filesystems: FilesystemInfo[];
  findings: Finding[];
  /** A registry image (`docker://...`): the digest of the image manifest audited (for an index, the platform's). */
  digest?: string;
  /** When this result's audit started (ISO 8601, UTC): for a cached result, the earlier audit's time. */
  auditedAt?: string;
  /** True when the result came from the result cache (`--cache`): `durationMs` and `auditedAt` are the old audit's. */
  cached?: boolean;
  /** jsonl only: the run this line belongs to (a line stands alone; a JSON report says it once, at the top). */
  run?: RunInfo;
}

/** One shard of a store, as a report records it: enough for `merge` to tell a missing or doubled shard. */
export interface ShardInfo {
  /** 1-based. */
  index: number;
  count: number;
  /** The targets the run was given (the store's roots), as named on the command line. */
  store: string[];
  /** A hash of the rule set and its configuration: shards audited with other rules are not one audit. */
  configHash: string;
}

/** The run that produced a report. */
export interface RunInfo {
  /** When the run started (ISO 8601, UTC); for a merged report, the earliest of its shards. */
  startedAt: string;
  /** The shard this run audited, when it audited one. */
  shard?: ShardInfo;
  /** A merged report only: the shards it joined (1-based), and what was missing or doubled, if anything. */
  merged?: { count: number; shards: number[]; problem: string | null };
}

export interface Report {
  version: 1;
  tool: { name: string; version: string };
  run?: RunInfo;
  targets: TargetResult[];
}

/** The build host's identity, used by rules that look for it inside the image. */
export interface HostIdentity {
  user: string | null;
  home: string | null;
  name: string | null;
}

/** Rule metadata: what reporters, the registry and the docs know about a rule. */
export interface RuleMeta {
  /** kebab-case, equal to the rule's file name and doc page name. */
  id: string;
  severity: Severity;
  tags: string[];
  description: string;
  remediation: string;
  references?: string[];
  /** Documentation URL. Built-in rules leave it unset (derived from the id); custom rules set it or null. */
  helpUri?: string | null;
  /** Code scanning's 0.0-10.0 score; unset: derived from severity and tags (src/reporters/security.ts). */
  securitySeverity?: number;
  /** The options the rule takes (config `rules.<id>.options`), each typed and defaulted; none when unset. */
  options?: Record<string, RuleOptionSpec>;
}

/** One rule option: its type, its default, and what it does. Configured values are checked against it. */
export type RuleOptionSpec =
  | { type: 'boolean'; default: boolean; description: string }
  | { type: 'number'; default: number; min?: number; description: string }
  | { type: 'string'; default: string; description: string };

/** The rule id of the finding the engine reports when a rule throws. */
export const RULE_CRASHED = 'rule-crashed';

/** Result of reading one file: its first bytes (up to the limit asked for) and whether it was cut. */
export interface FileContent {
  data: Buffer;
  /** The file's full size in the image. */
  size: number;
  truncated: boolean;
}

/**
 * What the audit is expected to read of one file (src/engine/runtime/readplan.ts): its first `bytes`, and whether
 * it is read `scattered`, in a batch of its own in no particular order, rather than by the content pass (which reads
 * in the backend's order, ImageRoot.readOrder).
 */
export interface ExpectedRead {
  bytes: number;
  scattered: boolean;
}

/**
 * One rooted tree, what a backend hands the engine. For an assembled image there is one root with `prefix: null`;
 * when no root filesystem is found, every filesystem is its own root and findings are named `<prefix>:<path>`.
 */
export interface ImageRoot {
  prefix: string | null;
  inventory: Inventory;
  /**
   * Only rules with one of these tags run over this root (absent: every rule). Roots that are not a system but loose
   * files, like the files a container layer deleted (their bytes still ship) or an image's config, take `secret`.
   */
  ruleTags?: readonly string[];
  /**
   * Read regular files by their canonical path in this root (already resolved: no symlink in any component).
   * One call per batch: a backend that pays per round trip reads them all at once.
   * Missing or unreadable files map to an Error.
   */
  readFiles(paths: string[], maxBytes: number): Promise<Map<string, FileContent | Error>>;
  /**
   * What a finding at `path` must also say about where the file is (a file an archive ships but hides: "shipped but
   * hidden: member at byte N ..."); the runner appends it to the finding's message.
   */
  noteOf?(path: string): string | undefined;
  /**
   * Where a regular file (canonical path) sits in the order the backend reads fastest (a compressed archive: its
   * byte offset, so one forward pass serves a whole batch). The content pass reads its files in this order; absent,
   * in path order.
   */
  readOrder?(path: string): number;
  /**
   * True when the backend saw the file's first bytes on their way (a tar's one listing pass) and they are no
   * image's (src/resolve/nested.ts, nestedHead): looking for images inside need not read them again.
   */
  notAnImage?(path: string): boolean;
  /**
   * A regular file (canonical path) as a random-access byte source, when the backend can map files (native): how a
   * filesystem image stored inside the image is opened without copying it out (`--nested`, the NixOS ISO's store).
   */
  openFile?(path: string): RandomAccess;
}

/** Bytes readable at any offset (what the native readers open: an image file, or a file inside an image). */
export interface RandomAccess {
  readonly size: number;
  /** Exactly `length` bytes at `offset`; throws when the range is outside. */
  read(offset: number, length: number): Buffer;
  close?(): void;
}

/** How targets are read (`--backend`, config `backend.name`). */
export type BackendChoice = 'auto' | 'dir' | 'guestfs' | 'native';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'dir', 'guestfs', 'native'];

/** The libguestfs appliance's accelerator (`--accel`). */
export type Accel = 'auto' | 'kvm' | 'tcg';
export const ACCEL_CHOICES: readonly Accel[] = ['auto', 'kvm', 'tcg'];

/** Report formats (`--format`); src/reporters/index.ts renders them. */
export type FormatName = 'text' | 'json' | 'jsonl' | 'sarif' | 'junit' | 'github' | 'markdown' | 'html' | 'gitlab';
export const FORMATS: readonly FormatName[] = ['text', 'json', 'jsonl', 'sarif', 'junit', 'github', 'markdown', 'html', 'gitlab'];

/** `hostleak inventory --format`. */
export const INVENTORY_FORMATS = ['jsonl', 'csv'] as const;
export type InventoryFormat = (typeof INVENTORY_FORMATS)[number];

/** The entry type of a POSIX mode's file-type bits (S_IFMT): what every reader of a POSIX
 * filesystem (native or libguestfs) calls an entry. */
export function typeOfMode(mode: number): EntryType {
  switch (mode & 0xf000) {
    case 0x8000:
      return 'file';
    case 0x4000:
      return 'dir';
    case 0xa000:
      return 'symlink';
    case 0x2000:
      return 'chardev';
    case 0x6000:
      return 'blockdev';
    case 0x1000:
      return 'fifo';
    case 0xc000:
      return 'socket';
    default:
      return 'unknown';
  }
}
