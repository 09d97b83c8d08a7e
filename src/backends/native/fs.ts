/** Bounds and shared pieces of the native filesystem readers (the walk itself is walk.ts). */
import { TargetError } from '../../errors.js';

/** Bounds for untrusted structures. */
export const LIMITS = {
  /** Entries listed per filesystem before giving up (defends against crafted directory explosions). */
  maxEntries: 20_000_000,
  /** Symlink target bytes read (Linux PATH_MAX). */
  maxSymlink: 4096,
  /** Directory bytes read per directory. */
  maxDirBytes: 256 * 1024 * 1024,
  /** Directory bytes read per target (the walk's budget; a real filesystem reads far less than its own size). */
  maxTotalDirBytes: 4 * 1024 * 1024 * 1024,
};

/** Problems kept per filesystem listing; the rest are counted in one closing line. */
export const MAX_PROBLEMS = 1000;

/**
 * A problem list for a walk over untrusted metadata: the same message is kept once, at most MAX_PROBLEMS are kept,
 * and `done()` returns them with one line saying how many more there were. Memory stays bounded whatever the image.
 */
export class ProblemList {
  private readonly seen = new Set<string>();
  private readonly kept: string[] = [];
  private dropped = 0;
  push(msg: string): void {
    if (this.seen.has(msg)) return;
    if (this.kept.length >= MAX_PROBLEMS) {
      this.dropped++;
      return;
    }
    this.seen.add(msg);
    this.kept.push(msg);
  }
  get length(): number {
    return this.kept.length + this.dropped;
  }
  done(): string[] {
    return this.dropped > 0 ? [...this.kept, `(and ${this.dropped} more problems)`] : [...this.kept];
  }
}

let strict = false;
/**
 * Strict mode (tests, fuzzing): an error that is not one of ours (a TargetError) is a reader bug, so it is rethrown
 * instead of being recorded as a problem. Off in production, where a partial audit beats none.
 */
export function setStrict(on: boolean): void {
  strict = on;
}
export function rethrowIfStrict(err: unknown): void {
  if (strict && !(err instanceof TargetError)) throw err;
}

