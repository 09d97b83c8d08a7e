/**
 * One budget per target, shared by everything the target opens (archive members, layers, nested images, copy-outs,
 * decompression): its deadline (`--timeout`), one write cap on the temp directory (`--max-decompressed`, across every
 * member and copy-out, not per member) and one memory budget for what reading the target keeps (entries, names, link
 * targets, PAX global headers, long names). Spending any of them ends the target with a one-line reason (exit 3)
 * before the disk fills or V8 runs out of heap.
 *
 * The budget travels with the target's audit as an AsyncLocalStorage context (set by `withBudget` around one
 * target; src/image/budget.ts makes one), so every reader and resolver reaches it with `currentBudget()`, synchronous loops included: they call
 * `check()`, which compares the clock itself (a timer cannot fire while a loop holds the event loop).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { BudgetError } from './errors.js';

export { BudgetError };

/**
 * Default memory budget (bytes, as estimated by the callers that charge it; HOSTLEAK_MEMORY overrides): with the
 * content kept in memory during a listing (128 MiB, HOSTLEAK_TAR_MEMORY) it keeps a hostile target's peak RSS under
 * the 512 MiB the README states. An image of a million entries spends about a third of it.
 */
export const DEFAULT_MEMORY = 256 * 1024 * 1024;

export function memoryBudget(): number {
  const v = Number(process.env.HOSTLEAK_MEMORY);
  return Number.isSafeInteger(v) && v > 0 ? v : DEFAULT_MEMORY;
}

/** A byte count for people: GiB, MiB, or KiB below one MiB. */
export function mib(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  return n >= 1024 ** 2 || n === 0 ? `${Math.round(n / 1024 ** 2)} MiB` : `${Math.ceil(n / 1024)} KiB`;
}

export class TargetBudget {
  /** Real bytes written to the temp directory so far. */
  written = 0;
  /** Memory charged so far (estimated bytes). */
  memory = 0;
  private steps = 0;

  constructor(
    /** The target's deadline (src/image/deadline.ts). */
    readonly deadline: { check(): void } | undefined,
    /** Most real bytes every copy-out and decompression of the target may write, together. */
    readonly maxWrite: number,
    readonly maxMemory: number,
  ) {}

  /** Throws the TimeoutError once the deadline passed (by the clock). */
  check(): void {
    this.deadline?.check();
  }

  /** `check()` every `every` calls: for the innermost loops, where reading the clock each time would cost. */
  tick(every = 1024): void {
    if (++this.steps % every === 0) this.check();
  }

  remainingWrite(): number {
    return Math.max(0, this.maxWrite - this.written);
  }

  /** Charge `bytes` about to be written to the temp directory; throws when they pass the cap. */
  chargeWrite(bytes: number): void {
    if (this.written + bytes > this.maxWrite) {
      throw new BudgetError(
        `decompressed data passes the limit of ${mib(this.maxWrite)} written to the temp directory for this target (--max-decompressed; default 80% of its free space)`,
      );
    }
    this.written += bytes;
  }

  /** Charge `bytes` of memory kept for `what`; throws when the target's memory budget is spent. */
  chargeMemory(bytes: number, what: string): void {
    this.memory += bytes;
    if (this.memory > this.maxMemory) {
      throw new BudgetError(`the target's memory budget of ${mib(this.maxMemory)} is spent (${what}; set HOSTLEAK_MEMORY to allow more)`);
    }
  }

  releaseMemory(bytes: number): void {
    this.memory = Math.max(0, this.memory - bytes);
  }
}

const storage = new AsyncLocalStorage<TargetBudget>();

/** Run one target's work under its budget. */
export function withBudget<T>(budget: TargetBudget, work: () => Promise<T>): Promise<T> {
  return storage.run(budget, work);
}

/** The budget of the target being read here, if any. */
export function currentBudget(): TargetBudget | undefined {
  return storage.getStore();
}
