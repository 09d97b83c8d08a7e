/**
 * One deadline per target, from open to report: decompression, native reading, guestfs and the rules all stop when
 * it passes. Asynchronous work listens to `signal`; synchronous loops (native readers walking metadata) call
 * `check()`, which compares the clock itself, since a timer cannot fire while a loop holds the event loop.
 */
import { TargetError, TimeoutError } from '../errors.js';

export { TimeoutError };

/** Seconds one target may take from open to report when --timeout does not say (every backend). */
export const DEFAULT_TIMEOUT_S = 300;

export interface Deadline {
  /** Epoch milliseconds at which the target's time is up. */
  readonly at: number;
  readonly seconds: number;
  /** Aborted (with a TimeoutError as the reason) when the time is up. */
  readonly signal: AbortSignal;
  /** Throws the TimeoutError once the time is up (and aborts the signal). Cheap enough for every read. */
  check(): void;
  /** Milliseconds left (never negative). */
  remaining(): number;
  /** Stop the timer (the target finished). */
  dispose(): void;
  /**
   * Stop the clock while `waiting` is pending: time spent queued for a shared resource (an appliance slot in a
   * store audit) is not the target's own work, which is what the deadline bounds.
   */
  paused<T>(waiting: Promise<T>): Promise<T>;
}

export function createDeadline(seconds: number): Deadline {
  const controller = new AbortController();
  let at = Date.now() + seconds * 1000;
  const error = () => new TimeoutError(`timed out after ${seconds} s (see --timeout)`);
  const expire = () => {
    if (!controller.signal.aborted) controller.abort(error());
  };
  let timer = setTimeout(expire, Math.max(0, at - Date.now()));
  timer.unref?.();
  return {
    get at() {
      return at;
    },
    seconds,
    signal: controller.signal,
    check() {
      if (controller.signal.aborted || Date.now() >= at) {
        expire();
        throw controller.signal.reason as Error;
      }
    },
    remaining: () => Math.max(0, at - Date.now()),
    dispose: () => clearTimeout(timer),
    async paused<T>(waiting: Promise<T>): Promise<T> {
      if (controller.signal.aborted) return waiting;
      clearTimeout(timer);
      const from = Date.now();
      try {
        return await waiting;
      } finally {
        at += Date.now() - from;
        if (!controller.signal.aborted) {
          timer = setTimeout(expire, Math.max(0, at - Date.now()));
          timer.unref?.();
        }
      }
    },
  };
}

/** Throw the signal's reason when it was aborted (a TimeoutError for a deadline). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw signal.reason instanceof Error ? signal.reason : new TargetError('interrupted');
  }
}

/**
 * Settle with `work`, or with the signal's reason once it aborts and `work` has had `graceMs` to notice. Work that
 * keeps running past that (a child that ignores the kill) is left to the process-wide cleanup.
 */
export function raceDeadline<T>(work: Promise<T>, signal: AbortSignal, graceMs = 2000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let grace: NodeJS.Timeout | null = null;
    const onAbort = () => {
      grace = setTimeout(() => reject(signal.reason instanceof Error ? signal.reason : new TargetError('interrupted')), graceMs);
      grace.unref?.();
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        if (grace) clearTimeout(grace);
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        if (grace) clearTimeout(grace);
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
