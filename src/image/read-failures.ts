/**
 * "Never ok after a failed read", enforced in one place: every read of an image's bytes that the host fails (EIO,
 * a vanished device) is recorded here for the target being audited, by the byte source that issued it, whatever
 * reader, probe or rule asked and whether or not it caught the error (a probe that falls back and reads again, a
 * rule that skips an unreadable file). scanTarget makes a target with any recorded failure `partial`, naming it.
 * The context is an AsyncLocalStorage set around one target's audit, so concurrent targets never mix.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const storage = new AsyncLocalStorage<string[]>();

/** Run one target's audit, recording its failed reads into `failures`. */
export function withReadFailures<T>(failures: string[], fn: () => Promise<T>): Promise<T> {
  return storage.run(failures, fn);
}

/** Record a failed read of the audited target's bytes (a one-line reason). */
export function recordReadFailure(what: string): void {
  const list = storage.getStore();
  // The first few name the problem; the count says the rest.
  if (list) list.push(what);
}

/** The reason a target with failed reads is partial. */
export function describeReadFailures(failures: string[]): string {
  const more = failures.length > 1 ? ` (and ${failures.length - 1} more failed read${failures.length > 2 ? 's' : ''})` : '';
  return `${failures[0]}${more}`;
}
