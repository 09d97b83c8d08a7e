/**
 * The one chokepoint of redaction for reports: every string of a target result that can come from an image (its
 * name when it names a build product, the error and partial lines that quote member names and reader messages,
 * filesystem devices (archive members name them), types, labels and mountpoints, and each finding's path,
 * filesystem, message, evidence and suppression reason) passes redactTokens here, before any reporter, the stderr
 * status line or the gate sees the result. scan() applies it to every result it hands on (fresh or cached), and
 * saved reports read back by convert and merge go through it too. Reporters only escape; they never redact.
 */
import { redactTokens } from '../kit/secrets.js';
import { redactCredentials } from '../../remote/credentials.js';
import type { Finding, FilesystemInfo, TargetResult } from '../../types.js';

const redactAll = (s: string): string => redactTokens(redactCredentials(s));
const orNull = (s: string | null): string | null => (s === null ? null : redactAll(s));

function redactFilesystem(f: FilesystemInfo): FilesystemInfo {
  return { ...f, device: redactAll(f.device), type: redactAll(f.type), label: orNull(f.label), mountpoint: orNull(f.mountpoint), ...(f.subvolume !== undefined ? { subvolume: redactAll(f.subvolume) } : {}) };
}

function redactFinding(f: Finding): Finding {
  const out: Finding = {
    ...f,
    path: redactTokens(f.path),
    filesystem: orNull(f.filesystem),
    message: redactTokens(f.message),
    evidence: orNull(f.evidence),
    remediation: redactTokens(f.remediation),
  };
  if (f.suppressed) out.suppressed = { ...f.suppressed, reason: redactTokens(f.suppressed.reason) };
  return out;
}

/** A target result with every token of a known format in any of its strings redacted (keys and order kept). */
export function redactResult(t: TargetResult): TargetResult {
  return {
    ...t,
    target: redactAll(t.target),
    error: orNull(t.error),
    backend: orNull(t.backend),
    filesystems: t.filesystems.map(redactFilesystem),
    findings: t.findings.map(redactFinding),
  };
}
