/**
 * The one error model. Every error hostleak raises on purpose extends HostleakError and carries its exit kind:
 * - `usage`: the user's request or setup is wrong (flag, config, rule file, baseline, saved report, path inside an
 *   image): exit 2, one line, nothing audited;
 * - `target`: this target cannot be audited (unreadable, corrupt, unsupported, refused, timed out): exit 3, one line,
 *   the other targets are still audited.
 * Anything else is an internal error (a bug): exit 3 too, so a failed run is never taken for a clean one.
 * `exitCodeOf` (src/exit.ts, with the exit codes) is the only mapping from an error to an exit code. A new error class extends UsageError or TargetError
 * (or one of their subclasses) and needs no list updated anywhere.
 */

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

/** The image (or a part of it) is malformed; the message is a one-line reason. */
/**
 * A target the host would not open: one message for every opener. A name that is not UTF-8 is listed by the store's
 * walk under the name it reads as (U+FFFD for each bad byte), which no string path reaches: said as such.
 */
export function openFailure(target: string, err: unknown): TargetError {
  if (err instanceof TargetError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' && target.includes('\ufffd')) {
    return new TargetError('cannot be opened: its name is not UTF-8 (rename it to audit it)');
  }
  return new TargetError(code === 'ENOENT' ? 'no such file or directory' : `cannot open (${code ?? oneLine(err)})`);
}

export class CorruptImageError extends TargetError {
  override name = 'CorruptImageError';
}

/** The image uses something the native reader deliberately does not handle (backing file, encryption...). */
export class UnsupportedImageError extends TargetError {
  override name = 'UnsupportedImageError';
}

/**
 * The target ran past one of its budgets (entries listed, directory bytes read, time): the audit of this target
 * stops with the reason, whatever layer noticed it; nothing catches it as damage to one directory or file.
 */
export class BudgetError extends TargetError {
  override name = 'BudgetError';
}

/**
 * The target's bytes can no longer be had (a remote image that changed mid-audit, a server that keeps failing): the
 * audit stops with the reason, like a spent budget, whatever reader was reading.
 */
export class SourceLostError extends BudgetError {
  override name = 'SourceLostError';
}

/** The target ran out of time (`--timeout`): the time budget. */
export class TimeoutError extends BudgetError {
  override name = 'TimeoutError';
}

export function isUsageError(err: unknown): err is UsageError {
  return err instanceof HostleakError && err.kind === 'usage';
}


/** The first line of an error's message, for one-line output. */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.trim() || 'unknown error';
}

/**
 * Why `text` is not JSON, with the line and column of the first character that makes it so: V8 gives a position for
 * some errors, none for others ("Unexpected token 'x', ... is not valid JSON", with the whole text quoted). The
 * shortest prefix that fails for another reason than "Unexpected end" ends at that character (binary search: once
 * a prefix fails there, every longer one does). Null when the text parses.
 */
export function jsonSyntaxProblem(text: string): string | null {
  const failure = (s: string): string | null => {
    try {
      JSON.parse(s);
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  };
  const whole = failure(text);
  if (whole === null) return null;
  // A prefix that fails only because it stops: "Unexpected end", or an error at its very end ("Expected property name
  // or '}' in JSON at position 1" for `{`).
  const endOnly = (m: string | null, length: number) => {
    if (m === null || /^Unexpected end of JSON input/.test(m)) return true;
    const pos = / at position (\d+)/.exec(m);
    return pos !== null && Number(pos[1]) >= length;
  };
  let at = text.length;
  if (!endOnly(whole, text.length)) {
    let lo = 0;
    let hi = text.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (endOnly(failure(text.slice(0, mid + 1)), mid + 1)) lo = mid + 1;
      else hi = mid;
    }
    at = lo;
  }
  const before = text.slice(0, at).split('\n');
  const reason = whole.replace(/, (?:\.\.\.)?"[\s\S]*" is not valid JSON$/, '').replace(/ in JSON at position \d+.*$/s, '');
  return `line ${before.length}, column ${before[before.length - 1]!.length + 1}: ${reason.split('\n')[0]}`;
}
