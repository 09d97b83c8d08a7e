/** Shared types: the contract between backends, the engine and the reporters. */

export type Severity = 'error' | 'warning' | 'info';
export const SEVERITIES: readonly Severity[] = ['error', 'warning', 'info'];
/** Higher is more severe. */
export const SEVERITY_RANK: Record<Severity, number> = { error: 3, warning: 2, info: 1 };

export type EntryType = 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket' | 'unknown';

/** One entry of an image, as a backend listed it. `path` is absolute inside the assembled image. */
export interface Entry {
  path: string;
  type: EntryType;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Symlink target exactly as stored (never interpreted on the host). */
  target?: string;
  /** Device of the filesystem the entry lives on (`/dev/sda2`, or `dir` for the dir backend). */
  fs: string;
}

export interface FilesystemInfo {
  device: string;
  type: string;
  label: string | null;
  mountpoint: string | null;
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
   * What identifies this leak across rebuilds (src/engine/fingerprint.ts): set by the engine from the rule id, the
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
}

export interface Report {
  version: 1;
  tool: { name: string; version: string };
  targets: TargetResult[];
}

/** The build host's identity, used by rules that look for it inside the image. */
export interface HostIdentity {
  user: string | null;
  home: string | null;
  name: string | null;
}
