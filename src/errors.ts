/**
 * The one error model. Every error hostleak raises on purpose extends HostleakError and carries its exit kind:
 * - `usage`: the user's request or setup is wrong (flag, config, rule file, baseline, saved report, path inside an
 *   image): exit 2, one line, nothing audited;
 * - `target`: this target cannot be audited (unreadable, corrupt, unsupported, refused, timed out): exit 3, one line,
 *   the other targets are still audited.
 * Anything else is an internal error (a bug): exit 3 too, so a failed run is never taken for a clean one.
 * `exitCodeOf` is the only mapping from an error to an exit code. A new error class extends UsageError or TargetError
 * (or one of their subclasses) and needs no list updated anywhere.
 */
import { EXIT_INCOMPLETE, EXIT_USAGE } from './exit.js';

export type ErrorKind = 'usage' | 'target';

export abstract class HostleakError extends Error {
  abstract readonly kind: ErrorKind;
}

/** A bad command line, configuration or request: exit 2. */
export class UsageError extends HostleakError {
  override name = 'UsageError';
  readonly kind = 'usage';
}

/** A configuration file that cannot be read or is invalid. */
export class ConfigError extends UsageError {
  override name = 'ConfigError';
}

/** A declarative rule file (`--rules-dir`) that cannot be loaded. */
export class RuleLoadError extends UsageError {
  override name = 'RuleLoadError';
}

/** A baseline file that cannot be read, parsed or written. */
export class BaselineError extends UsageError {
  override name = 'BaselineError';
}

/** Two rules with one id. */
export class DuplicateRuleError extends UsageError {
  override name = 'DuplicateRuleError';
}

/** A saved report (convert, merge) that cannot be read or is not a hostleak report. */
export class ReportFileError extends UsageError {
  override name = 'ReportFileError';
}

/** An error in what the user asked for inside an image (a path that is not there, a directory given to cat). */
export class RequestError extends UsageError {
  override name = 'RequestError';
}

/** This target cannot be audited; the message is the one-line reason shown to the user. */
export class TargetError extends HostleakError {
  override name = 'TargetError';
  readonly kind = 'target';
}

export function isUsageError(err: unknown): err is UsageError {
  return err instanceof HostleakError && err.kind === 'usage';
}

/** The exit code an error means: 2 for usage errors, 3 for everything else (a target or an internal error). */
export function exitCodeOf(err: unknown): number {
  return isUsageError(err) ? EXIT_USAGE : EXIT_INCOMPLETE;
}

/** The first line of an error's message, for one-line output. */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.trim() || 'unknown error';
}
